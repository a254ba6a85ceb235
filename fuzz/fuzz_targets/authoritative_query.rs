//! Fuzzes the authoritative query path: arbitrary bytes as a client query
//! to a fixed zone with every case (wildcards, delegation, DNAME, CNAME
//! chains, a big RRset), over UDP limits and TCP. Nothing may panic; every
//! reply is well formed, carries the client's ID and question, and fits
//! the UDP limit.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use palanquin_authoritative::{Context, Zones};
use palanquin_wire as wire;

const ZONE: &[u8] = b"$TTL 300
@ SOA ns1 hm 1 7200 3600 1209600 60
@ NS ns1
@ NS ns.out.test.
ns1 A 192.0.2.1
www A 192.0.2.2
c CNAME www
loop CNAME loop2
loop2 CNAME loop
*.w A 192.0.2.3
*.cw CNAME c
a.b.ent TXT \"x\" \"y\"
sub NS ns.sub
ns.sub A 192.0.2.4
dn DNAME www.fuzz.test.
long DNAME aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.
mx MX 10 www
big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

fn zones() -> &'static Zones {
    static ZONES: OnceLock<Zones> = OnceLock::new();
    ZONES.get_or_init(|| {
        let zone = palanquin_authoritative::parse("fuzz.test.", Path::new("fuzz.zone"), ZONE).expect("fixed zone");
        Zones::new(vec![Arc::new(zone)])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = wire::parse_query(data) else { return };
    let zones = zones();
    let Some(i) = zones.find(&q.qname) else { return };
    for limit in [None, Some(512), Some(1232)] {
        for nsid in [None, Some(&b"node"[..])] {
            let ctx = Context { recursion_available: nsid.is_some(), nsid, limit, client: None };
            let reply = zones.answer(i, data, &q, &ctx);
            assert!(wire::layout(&reply).is_ok(), "well formed");
            assert_eq!(&reply[..2], &data[..2], "the client's ID");
            assert_eq!(&reply[12..q.question_end], &data[12..q.question_end], "the question as asked");
            assert!(limit.is_none_or(|l| reply.len() <= l), "fits the UDP limit");
        }
    }
});
