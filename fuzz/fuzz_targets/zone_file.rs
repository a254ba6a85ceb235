//! Fuzzes the zone file path: arbitrary bytes as a master file for
//! `fuzz.test.`. Loading must never panic; a refusal names a line within
//! the file; a zone that loads answers a question for each of its names
//! with a well-formed message.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use palanquin_authoritative::{Context, Zones};
use palanquin_wire as wire;

fuzz_target!(|data: &[u8]| {
    let zone = match palanquin_authoritative::parse("fuzz.test.", Path::new("fuzz.zone"), data) {
        Ok(zone) => zone,
        Err(e) => {
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!((e.line as usize) <= lines + 1, "line {} of a {lines}-line file: {e}", e.line);
            return;
        }
    };
    let zones = Zones::new(vec![Arc::new(zone)]);
    // A few questions under the zone, of a few types.
    for name in [&b"\x04fuzz\x04test\x00"[..], b"\x03www\x04fuzz\x04test\x00", b"\x01x\x01*\x04fuzz\x04test\x00"] {
        for qtype in [1u16, 2, 5, 6, 15, 16, 28, 39, 43, 255] {
            let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            q.extend_from_slice(name);
            q.extend_from_slice(&qtype.to_be_bytes());
            q.extend_from_slice(&[0, 1]);
            let parsed = wire::parse_query(&q).expect("fixed query");
            let Some(i) = zones.find(&parsed.qname) else { continue };
            for limit in [None, Some(512)] {
                let ctx = Context { limit, ..Context::default() };
                let reply = zones.answer(i, &q, &parsed, &ctx);
                assert!(wire::layout(&reply).is_ok(), "well formed");
                assert!(limit.is_none_or(|l| reply.len() <= l), "fits");
            }
        }
    }
});
