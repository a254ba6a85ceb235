//! The one adapter in front of hickory-proto.
//!
//! Everything in this crate that builds or reads DNS messages goes through
//! here, so a hickory release that moves its API touches this file only. The
//! public vocabulary (`Name`, `RecordType`, `Record`, `Message`, ...) is
//! re-exported from hickory because callers need real record types.
//!
//! ```text
//!  Request ──build_query──▶ wire bytes (ID patched per send) ──▶ upstream
//!  upstream ──▶ bytes ──check_response──▶ Ok(Message) | Err(Mismatch)
//! ```

use hickory_proto::op::{Edns, Message as HMessage, MessageType, OpCode, Query};

pub use hickory_proto::op::{Message, ResponseCode};
pub use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// A question plus the header bits a stub sets on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// Fully qualified name to ask for.
    pub name: Name,
    /// Record type.
    pub rtype: RecordType,
    /// Class, nearly always IN.
    pub class: DNSClass,
    /// Set the EDNS DO bit (ask for DNSSEC records).
    pub dnssec_ok: bool,
    /// Set the CD bit (the upstream should not validate).
    pub checking_disabled: bool,
    /// Set the AD bit in the query (RFC 6840 §5.7; glibc `trust-ad`).
    pub authentic_data: bool,
}

impl Request {
    /// An IN-class question with no special bits.
    pub fn new(name: Name, rtype: RecordType) -> Self {
        Request {
            name,
            rtype,
            class: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
            authentic_data: false,
        }
    }
}

/// Why a received datagram is not the answer to our question (RFC 5452 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Shorter than a header, or not decodable.
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

/// Encodes `req` as a recursive query with ID 0; callers patch the ID per send
/// with [`set_id`]. `edns_payload` adds an OPT record advertising that size.
pub(crate) fn build_query(req: &Request, edns_payload: Option<u16>) -> Result<Vec<u8>, String> {
    let mut msg = HMessage::new(0, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = req.checking_disabled;
    msg.metadata.authentic_data = req.authentic_data;
    let mut q = Query::query(req.name.clone(), req.rtype);
    q.set_query_class(req.class);
    msg.add_query(q);
    if let Some(size) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(size.max(512));
        edns.set_dnssec_ok(req.dnssec_ok);
        msg.set_edns(edns);
    }
    msg.to_vec().map_err(|e| e.to_string())
}

/// Writes `id` into the first two bytes of an encoded message.
pub(crate) fn set_id(wire: &mut [u8], id: u16) {
    if let Some(head) = wire.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}

/// The TC bit of an encoded message (false when too short to tell).
pub fn is_truncated(wire: &[u8]) -> bool {
    wire.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// Checks the header alone: our ID, QR set, OPCODE QUERY. Enough to act on a
/// truncated answer, whose body may not even decode.
pub fn check_header(wire: &[u8], id: u16) -> Result<(), Mismatch> {
    let header = wire.get(..12).ok_or(Mismatch::Malformed)?;
    if u16::from_be_bytes([header[0], header[1]]) != id {
        return Err(Mismatch::Id);
    }
    if header[2] & 0x80 == 0 || (header[2] >> 3) & 0x0f != 0 {
        return Err(Mismatch::NotResponse);
    }
    Ok(())
}

/// Checks that `wire` answers `req` under `id` and decodes it.
///
/// The cheap header checks come first so that a flood of forged datagrams
/// costs little; the full decode only runs on a plausible answer.
pub fn check_response(wire: &[u8], id: u16, req: &Request) -> Result<Message, Mismatch> {
    check_header(wire, id)?;
    let msg = HMessage::from_vec(wire).map_err(|_| Mismatch::Malformed)?;
    match msg.queries.as_slice() {
        [q] if q.query_type() == req.rtype && q.query_class() == req.class && *q.name() == req.name => {
            Ok(msg)
        }
        // A FORMERR may come without a question section (RFC 1035 leaves it open).
        [] if msg.metadata.response_code == ResponseCode::FormErr => Ok(msg),
        _ => Err(Mismatch::Question),
    }
}

/// The response code of a decoded message (extended RCODE included).
pub fn rcode(msg: &Message) -> ResponseCode {
    msg.metadata.response_code
}

/// Parses a name given by a user; a trailing dot makes it absolute.
pub fn parse_name(text: &str) -> Result<Name, String> {
    Name::from_utf8(text).map_err(|e| e.to_string())
}

/// Parses a record type mnemonic such as `A`, `aaaa` or `TYPE65`.
pub fn parse_type(text: &str) -> Result<RecordType, String> {
    text.to_ascii_uppercase()
        .parse::<RecordType>()
        .map_err(|e| e.to_string())
}

/// The IP address carried by an A or AAAA record, if it is one.
pub fn record_ip(record: &Record) -> Option<std::net::IpAddr> {
    match &record.data {
        RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request::new(
            Name::from_ascii("www.example.test.").expect("name"),
            RecordType::A,
        )
    }

    fn answer_to(query: &[u8]) -> Vec<u8> {
        let mut resp = query.to_vec();
        resp[2] |= 0x80; // QR
        resp
    }

    #[test]
    fn query_wire_format_is_stable() {
        let mut wire = build_query(&req(), Some(1232)).expect("encode");
        set_id(&mut wire, 0xbeef);
        // Header: ID beef, RD set, QDCOUNT 1, ARCOUNT 1 (OPT).
        assert_eq!(&wire[..12], &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        // Question: www.example.test. A IN
        let qname = b"\x03www\x07example\x04test\x00";
        assert_eq!(&wire[12..12 + qname.len()], qname);
        let rest = &wire[12 + qname.len()..];
        assert_eq!(&rest[..4], &[0, 1, 0, 1]);
        // OPT: root name, type 41, class = payload 1232 (0x04d0), ttl 0, rdlen 0.
        assert_eq!(&rest[4..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn accepts_matching_answer_case_insensitively() {
        let mut wire = build_query(&req(), None).expect("encode");
        set_id(&mut wire, 7);
        let mut resp = answer_to(&wire);
        resp[13] = b'W'; // 0x20-style case change in the echoed question
        let msg = check_response(&resp, 7, &req()).expect("valid");
        assert_eq!(msg.metadata.id, 7);
    }

    #[test]
    fn rejects_forgeries() {
        let mut wire = build_query(&req(), None).expect("encode");
        set_id(&mut wire, 7);
        let resp = answer_to(&wire);
        assert_eq!(check_response(&resp, 8, &req()), Err(Mismatch::Id));
        assert_eq!(check_response(&wire, 7, &req()), Err(Mismatch::NotResponse));
        assert_eq!(check_response(&resp[..5], 7, &req()), Err(Mismatch::Malformed));
        let mut other = req();
        other.rtype = RecordType::AAAA;
        assert_eq!(check_response(&resp, 7, &other), Err(Mismatch::Question));
        let mut other = req();
        other.name = Name::from_ascii("www.example.org.").expect("name");
        assert_eq!(check_response(&resp, 7, &other), Err(Mismatch::Question));
    }

    #[test]
    fn truncation_bit() {
        assert!(is_truncated(&[0, 0, 0x82, 0]));
        assert!(!is_truncated(&[0, 0, 0x80, 0]));
        assert!(!is_truncated(&[0]));
    }
}
