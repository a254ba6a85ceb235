//! Fuzzes response validation: whatever an upstream (or a forger) sends, the
//! checks must not panic, a truncated header must be recognised without a
//! decode, and an accepted answer must re-encode and decode to the same
//! question.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palanquin_stub::dns::{self, Name, RecordType, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(name) = Name::from_ascii("www.example.test.") else { return };
    let req = Request::new(name, RecordType::A);
    // Use the datagram's own ID half the time so the deep checks run too.
    let id = match data {
        [a, b, rest @ ..] if rest.first().is_some_and(|c| c & 1 == 0) => u16::from_be_bytes([*a, *b]),
        _ => 0x1234,
    };
    let _ = dns::is_truncated(data);
    let header_ok = dns::check_header(data, id).is_ok();
    if let Ok(msg) = dns::check_response(data, id, &req) {
        assert!(header_ok, "a full accept implies a header accept");
        if let Ok(wire) = msg.to_vec() {
            if let Ok(again) = dns::check_response(&wire, id, &req) {
                assert_eq!(again.queries, msg.queries);
            }
        }
    }
});
