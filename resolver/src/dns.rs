//! The resolver crate's adapter to hickory (through `palanquin-stub`'s
//! vocabulary): turning a parsed wire question into a stub request.

use palanquin_stub::dns::{DNSClass, Name, ProtoError, RecordType, Request};

use palanquin_wire::Query;

/// Why a question cannot become a stub request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RequestError {
    /// A label runs past the end of the name.
    #[error("a label runs past the end of the name")]
    Truncated,
    /// hickory refuses the labels as a name.
    #[error("not a name hickory accepts: {0}")]
    Name(#[from] ProtoError),
}

/// The stub request that forwards `q` upstream, with the client's DO, CD
/// and AD bits.
pub(crate) fn request(q: &Query) -> Result<Request, RequestError> {
    let mut labels = Vec::new();
    let mut at = 0;
    while let Some(&len) = q.qname.get(at) {
        if len == 0 {
            break;
        }
        labels.push(
            q.qname
                .get(at + 1..at + 1 + len as usize)
                .ok_or(RequestError::Truncated)?,
        );
        at += 1 + len as usize;
    }
    let name = Name::from_labels(labels)?;
    Ok(Request {
        name,
        rtype: RecordType::from(q.qtype),
        class: DNSClass::from(q.qclass),
        dnssec_ok: q.edns.is_some_and(|e| e.dnssec_ok),
        checking_disabled: q.cd,
        authentic_data: q.ad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palanquin_wire::parse_query;

    #[test]
    fn wire_question_becomes_a_request() {
        let raw = b"\x00\x01\x01\x10\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x00\x00\x1c\x00\x01";
        let q = parse_query(raw).expect("query");
        let r = request(&q).expect("request");
        assert_eq!(r.name.to_string(), "www.example.");
        assert!(r.name.is_fqdn());
        assert_eq!(r.rtype, RecordType::AAAA);
        assert!(r.checking_disabled);
        assert!(!r.dnssec_ok);
    }

    #[test]
    fn a_name_that_runs_past_its_end_is_a_typed_error() {
        let raw = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x00\x00\x01\x00\x01";
        let mut q = parse_query(raw).expect("query");
        q.qname = b"\x05ab\x00".to_vec();
        assert!(matches!(request(&q), Err(RequestError::Truncated)));
    }
}
