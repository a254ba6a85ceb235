//! The one adapter in front of hickory-proto, over the workspace's wire
//! layer (`palanquin-wire`).
//!
//! An exchange never decodes with hickory: the query is built and the answer
//! checked by `palanquin-wire` (header, question, every record walked), and
//! the daemon caches those bytes. Only an API caller that wants records
//! (`Resolver::query` and friends) has the bytes decoded into a hickory
//! [`Message`], once, here. The public vocabulary (`Name`, `RecordType`,
//! `Record`, `Message`, ...) is re-exported from hickory because callers
//! need real record types.
//!
//! ```text
//!  Request ──question──▶ wire::Question ──wire::build_query──▶ bytes (ID patched per send)
//!  upstream ──▶ bytes ──wire::check_answer──▶ rcode | Mismatch      (the daemon stops here)
//!                     ──decode──▶ Message                          (API callers)
//! ```

use hickory_proto::serialize::binary::BinEncodable;
pub use hickory_proto::serialize::binary::DecodeError;
use palanquin_wire as wire;

pub use hickory_proto::op::{Message, ResponseCode};
pub use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
pub use hickory_proto::ProtoError;
pub use palanquin_wire::{check_header, is_truncated, Mismatch};

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

/// The wire form of `req`'s question and header bits.
pub fn question(req: &Request) -> Result<wire::Question, ProtoError> {
    Ok(wire::Question {
        qname: req.name.to_bytes()?,
        qtype: u16::from(req.rtype),
        qclass: u16::from(req.class),
        checking_disabled: req.checking_disabled,
        authentic_data: req.authentic_data,
        dnssec_ok: req.dnssec_ok,
    })
}

/// Checks that `wire` answers `req` under `id` (see `palanquin_wire::check_answer`)
/// and decodes it: for callers that want records.
pub fn check_response(wire: &[u8], id: u16, req: &Request) -> Result<Message, Mismatch> {
    let q = question(req).map_err(|_| Mismatch::Question)?;
    wire::check_answer(wire, id, &q)?;
    decode(wire).map_err(|_| Mismatch::Malformed)
}

/// Decodes a checked answer into hickory's types.
pub fn decode(wire: &[u8]) -> Result<Message, DecodeError> {
    Message::from_vec(wire)
}

/// A response code from its 12-bit value.
pub fn response_code(code: u16) -> ResponseCode {
    <ResponseCode as From<u16>>::from(code)
}

/// The response code of a decoded message (extended RCODE included).
pub fn rcode(msg: &Message) -> ResponseCode {
    msg.metadata.response_code
}

/// Parses a name given by a user; a trailing dot makes it absolute.
pub fn parse_name(text: &str) -> Result<Name, ProtoError> {
    Name::from_utf8(text)
}

/// Parses a record type mnemonic such as `A` or `aaaa` (hickory's names;
/// RFC 3597's `TYPE65` is read by the CLI).
pub fn parse_type(text: &str) -> Result<RecordType, DecodeError> {
    text.to_ascii_uppercase().parse::<RecordType>()
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

    /// The question hickory's Name gives the wire layer, and the answer
    /// decoded for API callers once checked.
    #[test]
    fn questions_and_checked_answers() {
        let q = question(&req()).expect("question");
        assert_eq!(q.qname, b"\x03www\x07example\x04test\x00");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        let mut wire = palanquin_wire::build_query(&q, None);
        palanquin_wire::set_id(&mut wire, 7);
        wire[2] |= 0x80;
        let msg = check_response(&wire, 7, &req()).expect("valid");
        assert_eq!(msg.metadata.id, 7);
        assert_eq!(check_response(&wire, 8, &req()).map(|_| ()), Err(Mismatch::Id));
        assert_eq!(u16::from(response_code(16)), 16, "BADVERS keeps its code");
    }
}
