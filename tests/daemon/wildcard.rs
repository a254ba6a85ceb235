//! Wildcard listeners and the default ACL, in a private network namespace
//! (testkit::netns) so the test can own 192.0.2.0/24 and two IPv6
//! addresses: a reply must leave from the address the query was sent to,
//! or dig discards it ("reply from unexpected source") and times out.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::Duration;

use palanquin_testkit::daemon::{answers_of, dig_from, status_of, Daemon};
use palanquin_testkit::netns;
use palanquin_testkit::nsd::Nsd;

use crate::{bin, sa};

const ZONE: &str = "\
$ORIGIN wild.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 900 604800 120
     IN NS  ns1
ns1  IN A   127.0.0.5
www  IN A   192.0.2.80
";

/// `dig -b source @server -p 53 www.wild.test A` plus `extra`; returns stdout.
fn ask(source: &str, server: &str, extra: &[&str]) -> String {
    let server = SocketAddr::new(server.parse().expect("ip"), 53);
    dig_from(Some(source), server, "www.wild.test", "A", extra)
}

#[test]
fn wildcard_replies_leave_from_the_address_queried_and_outsiders_are_refused() {
    netns::isolated(
        &["192.0.2.53/32", "192.0.2.1/32", "fd00::53/128", "fd00::1/128"],
        || {
            let ip = |s: &str| s.parse().expect("ip");
            let _nsd = Nsd::start(&[ip("127.0.0.5")], 5353, "wild.test.", ZONE).expect("nsd");
            // No `allow`: the default, loopback clients only.
            let config = "[server]\nlisten = [\"0.0.0.0:53\", \"[::]:53\"]\nudp_workers = 2\n\
                      [resolver]\nupstreams = [\"127.0.0.5:5353\"]\n";
            let addr: SocketAddr = sa("127.0.0.2:53");
            let d = Daemon::start(bin(), addr, config);

            // Routing would answer 127.0.0.1 from 127.0.0.1; the queries went to .2 and .3.
            for server in ["127.0.0.2", "127.0.0.3"] {
                let out = ask("127.0.0.1", server, &[]);
                assert_eq!(status_of(&out), "NOERROR", "udp to {server}: {out}\n{}", d.log());
                assert_eq!(answers_of(&out)[0].3, "192.0.2.80", "{out}");
            }
            let tcp = ask("127.0.0.1", "127.0.0.3", &["+tcp"]);
            assert_eq!(answers_of(&tcp)[0].3, "192.0.2.80", "tcp: {tcp}");
            let v6 = ask("::1", "::1", &[]);
            assert_eq!(answers_of(&v6)[0].3, "192.0.2.80", "ipv6 loopback: {v6}");

            // Clients outside loopback get REFUSED by the default ACL, and the
            // refusal too comes from the address they asked (else no status at all).
            let outside = ask("192.0.2.1", "192.0.2.53", &[]);
            assert_eq!(status_of(&outside), "REFUSED", "ipv4 outsider: {outside}");
            let outside6 = ask("fd00::1", "fd00::53", &[]);
            assert_eq!(status_of(&outside6), "REFUSED", "ipv6 outsider: {outside6}");

            // Link-local addresses mean something only with their interface:
            // the reply must leave from fe80::53 on the interface asked.
            netns::ip(&["link", "add", "ll0", "type", "veth", "peer", "name", "ll1"]);
            for dev in ["ll0", "ll1"] {
                netns::ip(&["link", "set", dev, "up"]);
            }
            for a in ["fe80::53/64", "fe80::1/64"] {
                netns::ip(&["-6", "addr", "add", a, "dev", "ll0", "nodad"]);
            }
            let scope = nix::net::if_::if_nametoindex("ll0").expect("ll0 index");
            let client =
                UdpSocket::bind(SocketAddrV6::new(ip6("fe80::1"), 0, 0, scope)).expect("bind fe80::1");
            client
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let server = SocketAddrV6::new(ip6("fe80::53"), 53, 0, scope);
            // ID 0xabcd, RD, one question: www.wild.test A IN.
            let query = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x04wild\x04test\x00\x00\x01\x00\x01";
            client.send_to(query, server).expect("send");
            let mut buf = [0u8; 512];
            let (n, from) = client.recv_from(&mut buf).expect("a reply over link-local");
            assert_eq!(
                from,
                SocketAddr::V6(server),
                "from the link-local address asked, on its interface"
            );
            assert!(n >= 12 && buf[..2] == [0xab, 0xcd], "our reply");
            assert_eq!(buf[3] & 0x0f, 5, "REFUSED: fe80::1 is not loopback");
        },
    );
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().expect("ipv6")
}
