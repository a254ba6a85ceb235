//! Differential fuzzing of the hand-written wire layer against hickory on
//! the same bytes: neither may panic; where both read a message, they agree
//! on the header, the question and every section's record count and types;
//! a scrubbed message is well formed and never holds more records.
#![no_main]

use hickory_proto::op::Message;
use hickory_proto::serialize::binary::BinEncodable;
use libfuzzer_sys::fuzz_target;
use palanquin_wire as wire;

fuzz_target!(|data: &[u8]| {
    let layout = wire::layout(data);
    let query = wire::parse_query(data);
    let Ok(msg) = Message::from_vec(data) else { return };
    if let Ok(l) = &layout {
        assert_eq!(l.answers.len(), msg.answers.len());
        assert_eq!(l.authority.len(), msg.authorities.len());
        let types: Vec<u16> = l.answers.iter().map(|r| r.rtype).collect();
        let theirs: Vec<u16> = msg.answers.iter().map(|r| u16::from(r.record_type())).collect();
        assert_eq!(types, theirs);
        if let [q] = msg.queries.as_slice() {
            let qname = q.name().to_lowercase().to_bytes().unwrap_or_default();
            let qtype = u16::from(q.query_type());
            if let Ok(s) = wire::scrub(data, &qname, qtype) {
                let again = wire::layout(&s.wire).expect("a scrubbed message is well formed");
                assert_eq!(again.answers.len() + s.dropped[0], l.answers.len());
                assert_eq!(again.authority.len() + s.dropped[1], l.authority.len());
            }
        }
    }
    if let (Ok(q), [hq]) = (&query, msg.queries.as_slice()) {
        assert_eq!(q.id, msg.metadata.id);
        assert_eq!(q.qtype, u16::from(hq.query_type()));
        assert_eq!(q.qclass, u16::from(hq.query_class()));
        let theirs = hq.name().to_lowercase().to_bytes().unwrap_or_default();
        assert_eq!(q.qname, theirs);
    }
});
