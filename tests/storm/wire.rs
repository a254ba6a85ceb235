//! DNS wire format by hand: headers, names, questions, compression
//! pointers, OPT records and TCP framing, so that the storm can build
//! messages no DNS library would let it build.

pub(crate) const HEADER: usize = 12;
pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_OPT: u16 = 41;
pub(crate) const CLASS_IN: u16 = 1;
pub(crate) const QR: u16 = 0x8000;
pub(crate) const RD: u16 = 0x0100;
pub(crate) const RA: u16 = 0x0080;

/// A header: ID, flags, then QD/AN/NS/AR counts.
pub(crate) fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    for count in counts {
        m.extend_from_slice(&count.to_be_bytes());
    }
    m
}

/// `www.example.` in wire form.
pub(crate) fn name(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

pub(crate) fn push_question(m: &mut Vec<u8>, qname: &[u8], qtype: u16, qclass: u16) {
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
}

/// A compression pointer to `offset`.
pub(crate) fn pointer(offset: usize) -> [u8; 2] {
    (0xC000 | offset as u16).to_be_bytes()
}

/// The fixed part of an A record after its owner name: 14 bytes.
pub(crate) fn push_a_rr_tail(m: &mut Vec<u8>) {
    m.extend_from_slice(&TYPE_A.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m.extend_from_slice(&60u32.to_be_bytes());
    m.extend_from_slice(&4u16.to_be_bytes());
    m.extend_from_slice(&[192, 0, 2, 99]);
}

/// An OPT record claiming `rdlength` with `rdata` actually present.
pub(crate) fn push_opt(m: &mut Vec<u8>, payload: u16, version: u8, rdlength: u16, rdata: &[u8]) {
    m.push(0);
    m.extend_from_slice(&TYPE_OPT.to_be_bytes());
    m.extend_from_slice(&payload.to_be_bytes());
    m.extend_from_slice(&[0, version, 0, 0]);
    m.extend_from_slice(&rdlength.to_be_bytes());
    m.extend_from_slice(rdata);
}

/// A well-formed recursive A query.
pub(crate) fn query(id: u16, qname: &str) -> Vec<u8> {
    let mut m = header(id, RD, [1, 0, 0, 0]);
    push_question(&mut m, &name(qname), TYPE_A, CLASS_IN);
    m
}

/// A TCP frame: two-byte length, then the message (always < 64 KiB here).
pub(crate) fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

pub(crate) fn id_of(msg: &[u8]) -> Option<u16> {
    msg.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// The first bytes of a message in hex, for failure reports.
pub(crate) fn hex(msg: &[u8]) -> String {
    let shown: String = msg.iter().take(48).map(|b| format!("{b:02x}")).collect();
    if msg.len() > 48 {
        format!("{shown}… ({} bytes)", msg.len())
    } else {
        format!("{shown} ({} bytes)", msg.len())
    }
}
