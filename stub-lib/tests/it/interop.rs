//! Against a real NSD: answers, NXDOMAIN, AAAA, TCP, and a black-holed first
//! upstream in front of two NSD addresses.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use palanquin_stub::dns::{record_ip, Name, RecordType};
use palanquin_stub::{Resolver, ResolverConfig, Transport};

use palanquin_testkit::fake::{Behaviour, Fake};
use palanquin_testkit::nsd::Nsd;

const ZONE: &str = "\
$ORIGIN interop.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 900 604800 60
     IN NS  ns1
ns1  IN A   127.0.30.2
www  IN A   192.0.2.80
www  IN AAAA 2001:db8::80
";

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

#[tokio::test]
async fn nsd_behind_a_black_hole() {
    let nsd = Nsd::start(&[ip(30, 2), ip(30, 3)], 5353, "interop.test.", ZONE).expect("nsd starts");
    let hole = Fake::start(ip(30, 1), Behaviour::BlackHole).await;
    let mut upstreams = vec![hole.addr];
    upstreams.extend(nsd.addrs());
    let resolver = Resolver::new(ResolverConfig::new(upstreams)).expect("resolver");

    for _ in 0..300 {
        let a = resolver
            .query(&name("www.interop.test."), RecordType::A)
            .await
            .expect("answer");
        assert!(nsd.addrs().contains(&a.upstream), "answered by {}", a.upstream);
        let ips: Vec<_> = a.message.answers.iter().filter_map(record_ip).collect();
        assert_eq!(ips, vec!["192.0.2.80".parse::<IpAddr>().expect("ip")]);
    }
    // Default tuning: a hedge to the hole happens only when NSD is slower than
    // the 5 ms floor (a loaded machine); it stays off the hot path.
    assert!(
        hole.queries() <= 6,
        "black hole asked {} times in 300 lookups",
        hole.queries()
    );

    let six = resolver
        .query(&name("www.interop.test."), RecordType::AAAA)
        .await
        .expect("answer");
    let ips: Vec<_> = six.message.answers.iter().filter_map(record_ip).collect();
    assert_eq!(ips, vec!["2001:db8::80".parse::<IpAddr>().expect("ip")]);

    let nx = resolver
        .query(&name("nope.interop.test."), RecordType::A)
        .await
        .expect("answer");
    assert_eq!(nx.rcode(), ResponseCode::NXDomain);
    assert!(nsd.addrs().contains(&nx.upstream));
}

#[tokio::test]
async fn nsd_over_tcp() {
    let nsd = Nsd::start(&[ip(31, 2)], 5353, "interop.test.", ZONE).expect("nsd starts");
    let mut cfg = ResolverConfig::new(nsd.addrs());
    cfg.transport = Transport::Tcp;
    let resolver = Resolver::new(cfg).expect("resolver");
    let a = resolver
        .query(&name("www.interop.test."), RecordType::A)
        .await
        .expect("answer");
    assert!(a.over_tcp);
    assert_eq!(a.message.answers.len(), 1);
}
