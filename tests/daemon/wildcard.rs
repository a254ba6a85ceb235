//! Wildcard listeners and the default ACL, in a private network namespace
//! (testkit::netns) so the test can own 192.0.2.0/24 and two IPv6
//! addresses: a reply must leave from the address the query was sent to,
//! or dig discards it ("reply from unexpected source") and times out.

use std::net::SocketAddr;

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
        },
    );
}
