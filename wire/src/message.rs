//! DNS messages as bytes: just enough wire format for the query path, without allocation-heavy
//! decoding: a query's header, question and OPT record; the TTL positions of
//! a stored response; error responses. Never panics on any input.
//!
//! ```text
//!   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! |QR|  Opcode   |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
//! |                    QDCOUNT                    |
//! |                    ANCOUNT                    |
//! |                    NSCOUNT                    |
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! question: QNAME (labels) QTYPE QCLASS; then RRs:
//!   NAME TYPE CLASS TTL(32) RDLENGTH RDATA — OPT (type 41) carries the
//!   payload size in CLASS and the DO bit in TTL (RFC 6891).
//! ```

/// Header length.
pub const HEADER: usize = 12;
/// Type code of the EDNS OPT pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// The TSIG record type (RFC 8945).
pub const TYPE_TSIG: u16 = 250;
/// Type code of SOA.
pub const TYPE_SOA: u16 = 6;
/// Type code of CNAME.
pub const TYPE_CNAME: u16 = 5;

/// Response codes used by the server.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error.
    pub const FORMERR: u8 = 1;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
    /// Refused.
    pub const REFUSED: u8 = 5;
    /// Not authoritative; with TSIG, a signature not accepted (RFC 8945).
    pub const NOTAUTH: u8 = 9;
}

/// RFC 8914 Extended DNS Error codes the server gives.
pub mod ede {
    /// Other: none of the codes fits; the text says what happened.
    pub const OTHER: u16 = 0;
    /// Cached Error: a failure remembered (RFC 9520), not a new one.
    pub const CACHED_ERROR: u16 = 13;
    /// Prohibited: the client may not ask this.
    pub const PROHIBITED: u16 = 18;
    /// No Reachable Authority: no upstream gave an answer (silent, or every
    /// one refused or failed).
    pub const NO_REACHABLE_AUTHORITY: u16 = 22;
    /// Network Error: the upstreams cannot be reached (port unreachable).
    pub const NETWORK_ERROR: u16 = 23;
}

/// EDNS option code of an Extended DNS Error (RFC 8914).
pub const OPTION_EDE: u16 = 15;
/// EDNS option code of the Name Server Identifier (RFC 5001).
pub const OPTION_NSID: u16 = 3;

/// Type code of HINFO (RFC 8482's minimal ANY answer).
pub const TYPE_HINFO: u16 = 13;
/// QTYPE ANY.
pub const QTYPE_ANY: u16 = 255;

/// How a query for a meta-type or reserved QTYPE is answered, if it is one:
/// 0 (reserved), OPT and TSIG are no questions at all (FORMERR: RFC 6891
/// §6.1.1, RFC 8945 §5.2); TKEY (RFC 2930 key negotiation, not offered),
/// MAILA, MAILB and the unassigned meta-types 128-248 are NOTIMP (RFC 6895
/// §3.1). AXFR, IXFR and ANY are meta-types too, handled by their callers.
pub fn meta_qtype_rcode(qtype: u16) -> Option<u8> {
    match qtype {
        0 | TYPE_OPT | 250 => Some(rcode::FORMERR),
        128..=249 | 253 | 254 => Some(rcode::NOTIMP),
        _ => None,
    }
}

/// The opcode of a message too broken to parse, if it has a header and is
/// not a response: an unknown opcode is NOTIMP even with no question.
pub fn peek_opcode(buf: &[u8]) -> Option<u8> {
    match buf.get(2) {
        Some(&b) if buf.len() >= HEADER && b & 0x80 == 0 => Some((b >> 3) & 0x0f),
        _ => None,
    }
}

/// Why a message cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Shorter than a header, or a section runs past the end.
    #[error("message truncated")]
    Short,
    /// A name is badly formed (label too long, name too long, bad pointer).
    #[error("bad name")]
    BadName,
    /// Not exactly one question.
    #[error("not exactly one question")]
    QuestionCount,
    /// The QR bit is set on something sent to us as a query.
    #[error("a response, not a query")]
    NotQuery,
    /// More than one OPT record.
    #[error("more than one OPT record")]
    DuplicateOpt,
    /// A CNAME chain longer than any resolver follows (scrub.rs).
    #[error("a CNAME chain of more than 16 names")]
    ChainTooLong,
    /// A message that would not fit in 65,535 bytes.
    #[error("longer than 65535 bytes")]
    TooLong,
}

/// The parts of a client query the server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Message ID.
    pub id: u16,
    /// Opcode (0 = QUERY).
    pub opcode: u8,
    /// RD bit.
    pub rd: bool,
    /// CD bit.
    pub cd: bool,
    /// AD bit.
    pub ad: bool,
    /// QNAME in wire form, lower-cased (the cache key; RFC 4343).
    pub qname: Vec<u8>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// End of the question section in the original message.
    pub question_end: usize,
    /// EDNS: the client's UDP payload size and DO bit, when it sent OPT.
    pub edns: Option<Edns>,
    /// The additional section carries a TSIG record (RFC 8945): the answer
    /// must be signed, or refused.
    pub tsig: bool,
}

/// What a client's OPT record said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Advertised UDP payload size (at least 512).
    pub payload: u16,
    /// DNSSEC OK.
    pub dnssec_ok: bool,
    /// EDNS version (only 0 is understood; others get BADVERS).
    pub version: u8,
    /// The client asked for the server's NSID (RFC 5001: an empty option 3).
    pub nsid: bool,
}

pub(crate) fn u16_at(buf: &[u8], at: usize) -> Result<u16, Malformed> {
    match buf.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(Malformed::Short),
    }
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, Malformed> {
    match buf.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(Malformed::Short),
    }
}

/// Reads a name at `at` that must not use compression (a question name).
/// Returns it lower-cased in wire form and the offset after it.
fn read_plain_name(buf: &[u8], mut at: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut name = Vec::with_capacity(32);
    loop {
        let len = *buf.get(at).ok_or(Malformed::Short)? as usize;
        if len == 0 {
            name.push(0);
            return Ok((name, at + 1));
        }
        if len > 63 {
            return Err(Malformed::BadName);
        }
        let label = buf.get(at + 1..at + 1 + len).ok_or(Malformed::Short)?;
        if name.len() + 1 + len + 1 > 255 {
            return Err(Malformed::BadName);
        }
        name.push(len as u8);
        name.extend(label.iter().map(u8::to_ascii_lowercase));
        at += 1 + len;
    }
}

/// Skips a possibly compressed name at `at`; returns the offset after it.
/// Pointers must point backwards, so loops are impossible.
pub fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, Malformed> {
    let mut total = 0usize;
    loop {
        let len = *buf.get(at).ok_or(Malformed::Short)?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => {
                let target = (u16_at(buf, at)? & 0x3fff) as usize;
                if target >= at {
                    return Err(Malformed::BadName);
                }
                return Ok(at + 2);
            }
            l if l > 63 => return Err(Malformed::BadName),
            l => {
                total += l as usize + 1;
                if total > 255 {
                    return Err(Malformed::BadName);
                }
                at += 1 + l as usize;
                if at > buf.len() {
                    return Err(Malformed::Short);
                }
            }
        }
    }
}

/// One resource record's position in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrPos {
    /// Offset of the record's first byte (its owner name).
    pub start: usize,
    /// Record type.
    pub rtype: u16,
    /// Offset of the 32-bit TTL field.
    pub ttl_at: usize,
    /// The TTL as stored.
    pub ttl: u32,
    /// Offset of RDATA.
    pub rdata_at: usize,
    /// Offset after the record.
    pub end: usize,
}

/// Section counts and the record positions of every RR after the question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// End of the question section.
    pub question_end: usize,
    /// Records of the answer section.
    pub answers: Vec<RrPos>,
    /// Records of the authority section.
    pub authority: Vec<RrPos>,
    /// Records of the additional section (OPT included).
    pub additional: Vec<RrPos>,
}

/// Walks a whole message (one question) and locates every record.
pub fn layout(buf: &[u8]) -> Result<Layout, Malformed> {
    if buf.len() < HEADER {
        return Err(Malformed::Short);
    }
    if u16_at(buf, 4)? != 1 {
        return Err(Malformed::QuestionCount);
    }
    let mut at = skip_name(buf, HEADER)? + 4;
    if at > buf.len() {
        return Err(Malformed::Short);
    }
    let question_end = at;
    let mut sections = [Vec::new(), Vec::new(), Vec::new()];
    for (i, section) in sections.iter_mut().enumerate() {
        let count = u16_at(buf, 6 + 2 * i)?;
        for _ in 0..count {
            let start = at;
            let after_name = skip_name(buf, at)?;
            let rtype = u16_at(buf, after_name)?;
            let ttl_at = after_name + 4;
            let ttl = u32_at(buf, ttl_at)?;
            let rdlen = u16_at(buf, ttl_at + 4)? as usize;
            let rdata_at = ttl_at + 6;
            let end = rdata_at + rdlen;
            if end > buf.len() {
                return Err(Malformed::Short);
            }
            section.push(RrPos {
                start,
                rtype,
                ttl_at,
                ttl,
                rdata_at,
                end,
            });
            at = end;
        }
    }
    let [answers, authority, additional] = sections;
    Ok(Layout {
        question_end,
        answers,
        authority,
        additional,
    })
}

/// Parses a client query: header, exactly one question, and the OPT record.
pub fn parse_query(buf: &[u8]) -> Result<Query, Malformed> {
    if buf.len() < HEADER {
        return Err(Malformed::Short);
    }
    if buf[2] & 0x80 != 0 {
        return Err(Malformed::NotQuery);
    }
    if u16_at(buf, 4)? != 1 {
        return Err(Malformed::QuestionCount);
    }
    let (qname, after) = read_plain_name(buf, HEADER)?;
    let qtype = u16_at(buf, after)?;
    let qclass = u16_at(buf, after + 2)?;
    let question_end = after + 4;
    let mut edns = None;
    let mut tsig = false;
    let counts = u16_at(buf, 6)? as usize + u16_at(buf, 8)? as usize;
    let additional = u16_at(buf, 10)? as usize;
    let mut at = question_end;
    for i in 0..counts + additional {
        let after_name = skip_name(buf, at)?;
        let rtype = u16_at(buf, after_name)?;
        let class = u16_at(buf, after_name + 2)?;
        let ttl = u32_at(buf, after_name + 4)?;
        let rdlen = u16_at(buf, after_name + 8)? as usize;
        let end = after_name + 10 + rdlen;
        if end > buf.len() {
            return Err(Malformed::Short);
        }
        tsig |= i >= counts && rtype == TYPE_TSIG;
        if i >= counts && rtype == TYPE_OPT {
            if edns.is_some() {
                return Err(Malformed::DuplicateOpt);
            }
            edns = Some(Edns {
                payload: class.max(512),
                dnssec_ok: ttl & 0x8000 != 0,
                version: ((ttl >> 16) & 0xff) as u8,
                nsid: has_option(&buf[after_name + 10..end], OPTION_NSID),
            });
        }
        at = end;
    }
    Ok(Query {
        id: u16_at(buf, 0)?,
        opcode: (buf[2] >> 3) & 0x0f,
        rd: buf[2] & 0x01 != 0,
        cd: buf[3] & 0x10 != 0,
        ad: buf[3] & 0x20 != 0,
        qname,
        qtype,
        qclass,
        question_end,
        edns,
        tsig,
    })
}

/// Whether OPT rdata `options` carries option `code` (a malformed tail is
/// ignored: unknown and broken options never fail a query, RFC 6891 §6.1.2).
fn has_option(mut options: &[u8], code: u16) -> bool {
    while options.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        if u16::from_be_bytes([options[0], options[1]]) == code {
            return true;
        }
        options = options.get(4 + len..).unwrap_or_default();
    }
    false
}

/// Adds an NSID option (RFC 5001) carrying `nsid` to `reply`'s OPT record,
/// when it has one as its last record and the result stays within `limit`.
pub fn add_nsid(reply: &mut Vec<u8>, nsid: &[u8], limit: Option<usize>) {
    let Ok(l) = layout(reply) else { return };
    let Some(opt) = l
        .additional
        .last()
        .filter(|r| r.rtype == TYPE_OPT && r.end == reply.len())
    else {
        return;
    };
    let grown = reply.len() + 4 + nsid.len();
    let rdlen_at = opt.rdata_at - 2;
    let rdlen = usize::from(u16::from_be_bytes([reply[rdlen_at], reply[rdlen_at + 1]])) + 4 + nsid.len();
    if limit.is_some_and(|l| grown > l) || grown > usize::from(u16::MAX) || rdlen > usize::from(u16::MAX) {
        return;
    }
    reply[rdlen_at..rdlen_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
    reply.extend_from_slice(&OPTION_NSID.to_be_bytes());
    reply.extend_from_slice(&(nsid.len() as u16).to_be_bytes());
    reply.extend_from_slice(nsid);
}

/// The ID of whatever arrived, if it has one (to answer FORMERR).
pub fn peek_id(buf: &[u8]) -> Option<u16> {
    u16_at(buf, 0).ok()
}

/// Appends our OPT record: payload 1232, DO as given, no options.
pub fn push_opt(out: &mut Vec<u8>, dnssec_ok: bool, ext_rcode: u8) {
    push_opt_ede(out, dnssec_ok, ext_rcode, None);
}

/// Appends our OPT record with an Extended DNS Error option (RFC 8914):
/// INFO-CODE and EXTRA-TEXT (UTF-8, cut to 200 bytes at a char boundary).
pub fn push_opt_ede(out: &mut Vec<u8>, dnssec_ok: bool, ext_rcode: u8, ede: Option<(u16, &str)>) {
    let Some((code, text)) = ede else {
        push_opt_option(out, dnssec_ok, ext_rcode, None);
        return;
    };
    let mut cut = text.len().min(200);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut data = code.to_be_bytes().to_vec();
    data.extend_from_slice(&text.as_bytes()[..cut]);
    push_opt_option(out, dnssec_ok, ext_rcode, Some((OPTION_EDE, &data)));
}

/// Appends our OPT record (payload 1232, DO as given) with at most one
/// option: its code and data (an EDE, or an NSID, RFC 5001).
pub fn push_opt_option(out: &mut Vec<u8>, dnssec_ok: bool, ext_rcode: u8, option: Option<(u16, &[u8])>) {
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&1232u16.to_be_bytes());
    out.extend_from_slice(&[ext_rcode, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    match option {
        None => out.extend_from_slice(&[0, 0]),
        Some((code, data)) => {
            out.extend_from_slice(&(4 + data.len() as u16).to_be_bytes());
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
    }
}

/// An error response to `query`: its ID, opcode, RD and CD; the question
/// echoed when it could be parsed; OPT when the client sent one. RA only
/// for a standard query: other opcodes have nothing to do with recursion.
pub fn error_response(raw: &[u8], query: Option<&Query>, rcode: u8) -> Vec<u8> {
    error_response_ede(raw, query, rcode, None)
}

/// [`error_response`] with an Extended DNS Error, when the client sent OPT.
pub fn error_response_ede(raw: &[u8], query: Option<&Query>, rcode: u8, ede: Option<(u16, &str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let id = query.map(|q| q.id).or_else(|| peek_id(raw)).unwrap_or(0);
    out.extend_from_slice(&id.to_be_bytes());
    let opcode = query.map_or_else(|| raw.get(2).map_or(0, |b| (b >> 3) & 0x0f), |q| q.opcode);
    let ra = if opcode == 0 { 0x80 } else { 0 };
    let (flags1, flags2) = match query {
        Some(q) => (
            0x80 | (q.opcode << 3) | u8::from(q.rd),
            ra | if q.cd { 0x10 } else { 0 } | (rcode & 0x0f),
        ),
        None => (0x80 | raw.get(2).map_or(0, |b| b & 0x79), ra | (rcode & 0x0f)),
    };
    out.push(flags1);
    out.push(flags2);
    let (qd, ar) = match query {
        Some(q) => (1u16, u16::from(q.edns.is_some())),
        None => (0, 0),
    };
    for count in [qd, 0, 0, ar] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    if let Some(q) = query {
        if let Some(question) = raw.get(HEADER..q.question_end) {
            out.extend_from_slice(question);
        }
        if let Some(e) = q.edns {
            push_opt_ede(&mut out, e.dnssec_ok, rcode >> 4, ede);
        }
    }
    out
}

/// RFC 8482's answer to ANY: one synthesised `HINFO "RFC8482" ""` for the
/// name, instead of everything known about it (an amplification tool).
pub fn minimal_any(raw: &[u8], q: &Query) -> Vec<u8> {
    let mut out = error_response(raw, Some(q), rcode::NOERROR);
    let opt = q.edns.is_some().then(|| out.split_off(out.len() - 11));
    out[7] = 1; // ANCOUNT
    out.extend_from_slice(&[0xc0, 0x0c]);
    out.extend_from_slice(&TYPE_HINFO.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    out.extend_from_slice(&3600u32.to_be_bytes());
    out.extend_from_slice(&[0, 9, 7, b'R', b'F', b'C', b'8', b'4', b'8', b'2', 0]);
    if let Some(opt) = opt {
        out.extend_from_slice(&opt);
    }
    out
}

/// The bytes of a query that its answer needs once `q` is parsed: the
/// header and the question (for the ID and the client's spelling of the
/// name). A pending resolution keeps these, not a query padded to 64 KB.
pub fn retained(raw: &[u8], q: &Query) -> Vec<u8> {
    raw.get(..q.question_end).unwrap_or(raw).to_vec()
}

/// Renders a lower-cased wire name as text (`www.example.` / `.`), for logs.
pub fn name_to_string(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        let label = wire.get(at + 1..at + 1 + len as usize).unwrap_or_default();
        out.extend(label.iter().map(|&b| {
            if b.is_ascii_graphic() && b != b'.' {
                b as char
            } else {
                '?'
            }
        }));
        out.push('.');
        at += 1 + len as usize;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `www.Example.test. A IN`, ID 0xabcd, RD, with OPT (payload 4096, DO).
    const QUERY: &[u8] = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\
\x03www\x07Example\x04test\x00\x00\x01\x00\x01\
\x00\x00\x29\x10\x00\x00\x00\x80\x00\x00\x00";

    #[test]
    fn parses_a_query_with_edns() {
        let q = parse_query(QUERY).expect("valid");
        assert_eq!(q.id, 0xabcd);
        assert!(q.rd && !q.cd);
        assert_eq!(q.qname, b"\x03www\x07example\x04test\x00");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 4096,
                dnssec_ok: true,
                version: 0,
                nsid: false,
            })
        );
        assert_eq!(name_to_string(&q.qname), "www.example.test.");
    }

    #[test]
    fn adds_an_nsid_to_the_opt_record_within_the_limit() {
        let mut reply = error_response(QUERY, parse_query(QUERY).ok().as_ref(), rcode::REFUSED);
        let before = reply.len();
        add_nsid(&mut reply, b"node-a", Some(before + 9));
        assert_eq!(reply.len(), before, "would not fit");
        add_nsid(&mut reply, b"node-a", None);
        assert_eq!(&reply[before - 2..], b"\x00\x0a\x00\x03\x00\x06node-a");
        assert!(layout(&reply).is_ok());
        // No OPT: nothing to add to.
        let mut plain = error_response(&QUERY[..QUERY.len() - 11], None, rcode::REFUSED);
        let n = plain.len();
        add_nsid(&mut plain, b"x", None);
        assert_eq!(plain.len(), n);
    }

    #[test]
    fn sees_an_nsid_request_among_other_options() {
        let mut q = QUERY[..QUERY.len() - 2].to_vec();
        // A cookie (option 10, 8 bytes), then an empty NSID option.
        q.extend_from_slice(&[0, 16, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0]);
        assert!(parse_query(&q).expect("valid").edns.expect("OPT").nsid);
        assert!(!parse_query(QUERY).expect("valid").edns.expect("OPT").nsid);
        // An option whose length runs past the record ends the scan, no panic.
        let mut broken = QUERY[..QUERY.len() - 2].to_vec();
        broken.extend_from_slice(&[0, 8, 0, 10, 0, 9, 0, 3, 0, 0]);
        assert!(!parse_query(&broken).expect("valid").edns.expect("OPT").nsid);
    }

    #[test]
    fn rejects_bad_queries_without_panicking() {
        assert_eq!(parse_query(&QUERY[..5]), Err(Malformed::Short));
        let mut two = QUERY.to_vec();
        two[5] = 2;
        assert_eq!(parse_query(&two), Err(Malformed::QuestionCount));
        let mut resp = QUERY.to_vec();
        resp[2] |= 0x80;
        assert_eq!(parse_query(&resp), Err(Malformed::NotQuery));
        let mut long = QUERY.to_vec();
        long[12] = 64;
        assert_eq!(parse_query(&long), Err(Malformed::BadName));
        // A compression pointer in the question (to itself): refused.
        let looped = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01";
        assert!(parse_query(looped).is_err());
        assert!(layout(looped).is_err(), "forward/self pointers are refused");
        // Every prefix of a valid query: an error or a success, never a panic.
        for n in 0..QUERY.len() {
            let _ = parse_query(&QUERY[..n]);
            let _ = layout(&QUERY[..n]);
        }
    }

    #[test]
    fn error_response_echoes_question_and_opt() {
        let q = parse_query(QUERY).expect("valid");
        let r = error_response(QUERY, Some(&q), rcode::REFUSED);
        assert_eq!(&r[..4], &[0xab, 0xcd, 0x81, 0x85]);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&r[12..q.question_end], &QUERY[12..q.question_end]);
        let l = layout(&r).expect("well formed");
        assert_eq!(l.additional.len(), 1);
        assert_eq!(l.additional[0].rtype, TYPE_OPT);
        let bare = error_response(b"\x12\x34", None, rcode::FORMERR);
        assert_eq!(bare, vec![0x12, 0x34, 0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn ede_rides_in_the_opt_record() {
        let q = parse_query(QUERY).expect("valid");
        let r = error_response_ede(
            QUERY,
            Some(&q),
            rcode::SERVFAIL,
            Some((ede::NETWORK_ERROR, "every upstream refused")),
        );
        let l = layout(&r).expect("well formed");
        let opt = l.additional[0];
        let rdata = &r[opt.rdata_at..opt.end];
        assert_eq!(&rdata[..6], &[0, 15, 0, 24, 0, 23]);
        assert_eq!(&rdata[6..], b"every upstream refused");
        // Without EDNS from the client there is nowhere to put it.
        let plain = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01";
        let q = parse_query(plain).expect("valid");
        assert_eq!(
            error_response_ede(plain, Some(&q), 2, Some((0, "x"))),
            error_response(plain, Some(&q), 2)
        );
    }

    #[test]
    fn an_unknown_opcode_gets_no_ra() {
        let mut notify = QUERY.to_vec();
        notify[2] = 0x20 | 0x01; // opcode 4 (NOTIFY), RD
        let q = parse_query(&notify).expect("valid");
        let r = error_response(&notify, Some(&q), rcode::NOTIMP);
        assert_eq!(r[3] & 0x80, 0, "no RA");
        assert_eq!(
            peek_opcode(b"\x00\x01\x78\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            Some(15)
        );
        let r = error_response(
            b"\x00\x01\x78\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            None,
            rcode::NOTIMP,
        );
        assert_eq!(&r[2..4], &[0xf8, 0x04]);
    }

    #[test]
    fn minimal_any_is_one_hinfo() {
        let mut any = QUERY.to_vec();
        any[31] = 255; // QTYPE low byte
        let q = parse_query(&any).expect("valid");
        assert_eq!(q.qtype, 255);
        let r = minimal_any(&any, &q);
        let l = layout(&r).expect("well formed");
        assert_eq!((l.answers.len(), l.additional.len()), (1, 1));
        assert_eq!(l.answers[0].rtype, TYPE_HINFO);
        assert_eq!(&r[l.answers[0].rdata_at..l.answers[0].end], b"\x07RFC8482\x00");
        assert_eq!(meta_qtype_rcode(0), Some(rcode::FORMERR));
        assert_eq!(meta_qtype_rcode(TYPE_OPT), Some(rcode::FORMERR));
        assert_eq!(meta_qtype_rcode(254), Some(rcode::NOTIMP));
        assert_eq!(meta_qtype_rcode(1), None);
        assert_eq!(meta_qtype_rcode(255), None);
    }

    #[test]
    fn layout_finds_ttls_through_compression() {
        // Response: www.example.test A, answer with a pointer to the qname, TTL 300.
        let mut m = b"\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x01");
        let l = layout(&m).expect("valid");
        assert_eq!(l.answers.len(), 1);
        assert_eq!(l.answers[0].ttl, 300);
        assert_eq!(l.answers[0].rtype, 1);
        assert_eq!(l.answers[0].end, m.len());
    }
}
