//! Fuzzes a secondary reading a hostile primary's answer: arbitrary bytes
//! cut into messages (each a 2-byte length then that many bytes, as on
//! TCP) fed to the AXFR and the IXFR reader, with and without a TSIG key;
//! whatever completes is applied and built like a received zone. Nothing
//! may panic, and a zone that builds holds the SOA the reader announced.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palanquin_authoritative::transfer::incoming::{apply, build, Incoming, Received, Step};
use palanquin_authoritative::transfer::journal::OwnedRecord;
use palanquin_authoritative::transfer::message::transfer_request;
use palanquin_authoritative::transfer::tsig::TsigKey;
use palanquin_authoritative::Zone;

const APEX: &[u8] = b"\x04fuzz\x04test\x00";

fn current() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        palanquin_authoritative::parse(
            "fuzz.test.",
            Path::new("fuzz.zone"),
            b"@ SOA ns1 hm 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n",
        )
        .expect("fixed zone")
    })
}

fn messages(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let end = (2 + len).min(data.len());
        out.push(data[2..end].to_vec());
        data = &data[end..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let key = TsigKey::new("k.", "hmac-sha256", b"fuzzing-secret").expect("key");
    for (ixfr, signed) in [(false, false), (true, false), (false, true)] {
        let zone = current();
        let ours = ixfr.then(|| zone.serial());
        let request = transfer_request(APEX, 0x1234, ixfr.then(|| zone.soa()).flatten(), signed.then_some(&key), 1_800_000_000)
            .expect("request");
        let mut reader = Incoming::new(APEX, 0x1234, ours, request.sequence);
        if signed {
            // Straight into a zone being built, as the daemon reads.
            reader = reader.build_into("fuzz.test.", Path::new("fuzz.saved")).expect("origin");
        }
        for m in messages(data) {
            // The ID of the request, so that the reader goes past the first check.
            let mut m = m;
            if m.len() >= 2 {
                m[..2].copy_from_slice(&0x1234u16.to_be_bytes());
            }
            match reader.feed(m, 1_800_000_000) {
                Err(_) => break,
                Ok(Step::More) => {}
                Ok(Step::Done(received)) => {
                    let records = match received {
                        Received::UpToDate { .. } => break,
                        Received::Built { builder, .. } => {
                            if let Ok(z) = builder.finish() {
                                assert!(z.soa().is_some());
                            }
                            break;
                        }
                        Received::Full { records, .. } => records,
                        Received::Incremental { diffs, .. } => match apply(zone, &diffs) {
                            Ok(r) => r.to_records(zone),
                            Err(_) => break,
                        },
                    };
                    if let Ok(z) = build("fuzz.test.", Path::new("fuzz.saved"), records.iter().map(OwnedRecord::as_ref)) {
                        assert!(z.soa().is_some());
                    }
                    break;
                }
            }
        }
    }
});
