//! The stub's side of an exchange: a query built from a question, and an
//! answer checked against it (RFC 5452 §9: ID, QR, opcode, the question
//! echoed) and walked whole before anything trusts it. No decode into
//! owned records: the daemon caches the bytes, and only an API caller that
//! wants records decodes them (the stub's `dns.rs`, with hickory).
//!
//! ```text
//!  Question ──build_query──▶ bytes, ID 0 ──set_id per send──▶ upstream
//!  upstream ──▶ bytes ──check_header──▶ (TC? retry over TCP)
//!                      ──check_answer──▶ Ok(rcode, extended bits included) | Err(Mismatch)
//! ```

use crate::message::{layout, rcode, HEADER, TYPE_OPT};
use crate::name::{read_name, same_name};

/// Why a received message is not the answer to our question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Shorter than a header, or its records do not walk.
    Malformed,
    /// The message ID differs.
    Id,
    /// Not a response (QR clear) or not a standard query opcode.
    NotResponse,
    /// The question section differs from ours.
    Question,
}

impl Mismatch {
    /// A fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Mismatch::Malformed => "malformed",
            Mismatch::Id => "id",
            Mismatch::NotResponse => "not_response",
            Mismatch::Question => "question",
        }
    }
}

/// A question as it goes on the wire, and the header bits a stub sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// QNAME, uncompressed wire form (any case: compared case-insensitively).
    pub qname: Vec<u8>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// CD bit.
    pub checking_disabled: bool,
    /// AD bit in the query (RFC 6840 §5.7).
    pub authentic_data: bool,
    /// DO bit, when an OPT record is sent.
    pub dnssec_ok: bool,
}

/// Encodes `q` as a recursive query with ID 0 (callers [`set_id`] per send);
/// `edns_payload` adds an OPT record advertising that size (at least 512).
pub fn build_query(q: &Question, edns_payload: Option<u16>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + q.qname.len() + 4 + 11);
    let flags2 = if q.authentic_data { 0x20 } else { 0 } | if q.checking_disabled { 0x10 } else { 0 };
    out.extend_from_slice(&[
        0,
        0,
        0x01,
        flags2,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns_payload.is_some()),
    ]);
    out.extend_from_slice(&q.qname);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    if let Some(size) = edns_payload {
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&size.max(512).to_be_bytes());
        out.extend_from_slice(&[0, 0, if q.dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    out
}

/// Writes `id` into the first two bytes of an encoded message.
pub fn set_id(wire: &mut [u8], id: u16) {
    if let Some(head) = wire.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}

/// The TC bit of an encoded message (false when too short to tell).
pub fn is_truncated(wire: &[u8]) -> bool {
    wire.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// Checks the header alone: our ID, QR set, OPCODE QUERY. Enough to act on a
/// truncated answer, whose body may not even walk.
pub fn check_header(wire: &[u8], id: u16) -> Result<(), Mismatch> {
    let header = wire.get(..HEADER).ok_or(Mismatch::Malformed)?;
    if u16::from_be_bytes([header[0], header[1]]) != id {
        return Err(Mismatch::Id);
    }
    if header[2] & 0x80 == 0 || (header[2] >> 3) & 0x0f != 0 {
        return Err(Mismatch::NotResponse);
    }
    Ok(())
}

/// Checks that `wire` answers `q` under `id` and that every record walks;
/// returns the response code, with the extended bits of an OPT record
/// (RFC 6891 §6.1.3). The cheap header checks come first, so a flood of
/// forged datagrams costs little.
pub fn check_answer(wire: &[u8], id: u16, q: &Question) -> Result<u16, Mismatch> {
    check_header(wire, id)?;
    let low = u16::from(wire[3] & 0x0f);
    // An error may come without a question (RFC 1035 leaves it open; some
    // servers answer FORMERR, SERVFAIL, NOTIMP or REFUSED that way). An
    // answer never does.
    let no_question = wire[4..6] == [0, 0];
    if no_question && low != u16::from(rcode::NOERROR) && low != u16::from(rcode::NXDOMAIN) {
        return Ok(low);
    }
    let l = layout(wire).map_err(|_| Mismatch::Malformed)?;
    let (name, after) = read_name(wire, HEADER).map_err(|_| Mismatch::Malformed)?;
    let tail = wire.get(after..after + 4).ok_or(Mismatch::Malformed)?;
    if !same_name(&name, &q.qname)
        || tail[..2] != q.qtype.to_be_bytes()
        || tail[2..] != q.qclass.to_be_bytes()
    {
        return Err(Mismatch::Question);
    }
    let mut opts = l.additional.iter().filter(|r| r.rtype == TYPE_OPT);
    let high = match (opts.next(), opts.next()) {
        (Some(opt), None) => opt.ttl >> 24,
        (None, _) => 0,
        (Some(_), Some(_)) => return Err(Mismatch::Malformed), // RFC 6891 §6.1.1
    };
    Ok(((high as u16) << 4) | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Question {
        Question {
            qname: b"\x03www\x07example\x04test\x00".to_vec(),
            qtype: 1,
            qclass: 1,
            checking_disabled: false,
            authentic_data: false,
            dnssec_ok: false,
        }
    }

    fn answer_to(query: &[u8]) -> Vec<u8> {
        let mut resp = query.to_vec();
        resp[2] |= 0x80; // QR
        resp
    }

    #[test]
    fn query_wire_format_is_stable() {
        let mut wire = build_query(&question(), Some(1232));
        set_id(&mut wire, 0xbeef);
        assert_eq!(&wire[..12], &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        let qname = b"\x03www\x07example\x04test\x00";
        assert_eq!(&wire[12..12 + qname.len()], qname);
        let rest = &wire[12 + qname.len()..];
        assert_eq!(&rest[..4], &[0, 1, 0, 1]);
        assert_eq!(&rest[4..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        let mut q = question();
        (q.checking_disabled, q.authentic_data, q.dnssec_ok) = (true, true, true);
        let wire = build_query(&q, Some(100));
        assert_eq!(wire[3], 0x30);
        assert_eq!(
            &wire[wire.len() - 8..],
            &[0x02, 0x00, 0, 0, 0x80, 0, 0, 0],
            "payload at least 512, DO"
        );
    }

    #[test]
    fn accepts_a_matching_answer_case_insensitively() {
        let mut wire = build_query(&question(), None);
        set_id(&mut wire, 7);
        let mut resp = answer_to(&wire);
        resp[13] = b'W'; // 0x20-style case change in the echoed question
        assert_eq!(check_answer(&resp, 7, &question()), Ok(0));
        resp[3] = 3;
        assert_eq!(check_answer(&resp, 7, &question()), Ok(3));
    }

    #[test]
    fn an_error_without_a_question_is_taken_an_answer_is_not() {
        let mut bare = vec![0, 7, 0x81, 0x85, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            check_answer(&bare, 7, &question()),
            Ok(5),
            "REFUSED without a question"
        );
        bare[3] = 0x80;
        assert_eq!(
            check_answer(&bare, 7, &question()),
            Err(Mismatch::Malformed),
            "NOERROR needs one"
        );
    }

    #[test]
    fn the_extended_rcode_comes_from_opt() {
        let mut wire = build_query(&question(), Some(1232));
        set_id(&mut wire, 7);
        let mut resp = answer_to(&wire);
        let n = resp.len();
        resp[n - 6] = 1; // EXTENDED-RCODE 1, low bits 0: BADVERS (16)
        assert_eq!(check_answer(&resp, 7, &question()), Ok(16));
    }

    #[test]
    fn rejects_forgeries() {
        let mut wire = build_query(&question(), None);
        set_id(&mut wire, 7);
        let resp = answer_to(&wire);
        assert_eq!(check_answer(&resp, 8, &question()), Err(Mismatch::Id));
        assert_eq!(check_answer(&wire, 7, &question()), Err(Mismatch::NotResponse));
        assert_eq!(check_answer(&resp[..5], 7, &question()), Err(Mismatch::Malformed));
        assert_eq!(
            check_answer(&resp[..20], 7, &question()),
            Err(Mismatch::Malformed)
        );
        let mut other = question();
        other.qtype = 28;
        assert_eq!(check_answer(&resp, 7, &other), Err(Mismatch::Question));
        let mut other = question();
        other.qname = b"\x03www\x07example\x03org\x00".to_vec();
        assert_eq!(check_answer(&resp, 7, &other), Err(Mismatch::Question));
        // A record that runs past the end: the whole message must walk.
        let mut long = resp.clone();
        long[7] = 1;
        long.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0");
        assert_eq!(check_answer(&long, 7, &question()), Err(Mismatch::Malformed));
        for n in 0..resp.len() {
            let _ = check_answer(&resp[..n], 7, &question());
        }
    }

    #[test]
    fn truncation_bit() {
        assert!(is_truncated(&[0, 0, 0x82, 0]));
        assert!(!is_truncated(&[0, 0, 0x80, 0]));
        assert!(!is_truncated(&[0]));
    }
}
