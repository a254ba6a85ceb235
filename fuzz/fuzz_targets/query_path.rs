//! Fuzzes the daemon's query path on arbitrary bytes: a client query is
//! parsed and answered (error responses, cached answers rendered for it),
//! and the same bytes taken as an upstream response go through the cache.
//! Nothing may panic, and everything we emit must be a well-formed message.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use palanquin_resolver::cache::{Entry, Policy};
use palanquin_resolver::wire::{self, rcode};

/// `www.example.test. A` with EDNS, as a client would ask.
const CLIENT: &[u8] = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\
\x03www\x07example\x04test\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    // As a client query.
    match wire::parse_query(data) {
        Ok(q) => {
            for rc in [rcode::FORMERR, rcode::SERVFAIL, rcode::REFUSED, 16] {
                let reply = wire::error_response(data, Some(&q), rc);
                assert!(wire::layout(&reply).is_ok(), "error response must be well formed");
                assert_eq!(&reply[..2], &data[..2]);
            }
        }
        Err(_) => {
            let reply = wire::error_response(data, None, rcode::FORMERR);
            assert_eq!(reply.len(), 12);
        }
    }
    // As an upstream response entering the cache, then rendered for a client.
    let client = wire::parse_query(CLIENT).expect("fixed query parses");
    for entry in [Entry::from_response(data, now, &Policy::default()), Entry::passthrough(data, now)] {
        if let Ok(entry) = entry {
            for (stale, limit) in [(None, None), (Some(30), Some(512)), (None, Some(40))] {
                let out = entry.render(CLIENT, &client, now + Duration::from_secs(5), stale, limit);
                assert!(wire::layout(&out).is_ok(), "rendered answer must be well formed");
                assert_eq!(&out[..2], &CLIENT[..2]);
                if let Some(limit) = limit {
                    let truncated = out[2] & 0x02 != 0;
                    assert!(out.len() <= limit || (truncated && out.len() <= 512), "fits the UDP limit or is a TC stub");
                }
            }
        }
    }
});
