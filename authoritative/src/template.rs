//! The per-zone templates of the fast path: the sections after the answer
//! that every name of a zone shares but for their compression pointers
//! (the zone's NS and glue after a positive answer; the SOA of NXDOMAIN and
//! NODATA). A template is rendered once for a sample name one label below
//! the apex and knows where its pointers are: for another name they move by
//! the difference in the name's length (the apex in the question ends
//! elsewhere) and, for pointers into the template itself, by the answer
//! written before it.

use crate::lookup::Plan;
use crate::render::{self, Head, Opt};
use crate::zone::types;
use palanquin_wire::HEADER;

/// The farthest a compression pointer reaches (14 bits).
pub(crate) const MAX_POINTER: usize = 0x3fff;

/// A question for `owner` (uncompressed) of `qtype`, class IN.
pub(crate) fn question(owner: &[u8], qtype: u16) -> Vec<u8> {
    let mut q = owner.to_vec();
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

pub(crate) const HEAD: Head = Head {
    id: 0,
    rd: false,
    cd: false,
    ra: false,
};

pub(crate) fn counts_of(out: &[u8]) -> [u16; 3] {
    [6, 8, 10].map(|at| u16::from_be_bytes([out[at], out[at + 1]]))
}

/// The label of the name the templates are compiled for: bytes no zone
/// holds as a name, so nothing in the zone compresses into it.
pub(crate) const SAMPLE_LABEL: &[u8] = b"\x08\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8";

/// Sections after the answer that are the same for every name of a zone
/// but for their compression pointers.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// Wire length of the name it was compiled for.
    qname_len: usize,
    /// Its records' counts (answer, authority, additional).
    pub(crate) counts: [u16; 3],
    pub(crate) bytes: Box<[u8]>,
    /// Where in `bytes` the compression pointers are, and whether each
    /// points into the template itself (else into the question).
    pointers: Box<[(usize, bool)]>,
}

impl Template {
    /// From `plan` (authority and additional only), rendered for `sample`.
    pub(crate) fn compile(sample: &[u8], plan: &Plan<'_>) -> Option<Template> {
        if !plan.answer.is_empty() {
            return None;
        }
        let question = question(sample, 1);
        let out = render::render(&question, HEAD, plan, None, None);
        let start = HEADER + question.len();
        let counts = counts_of(&out);
        let mut pointers = Vec::new();
        let mut at = start;
        for _ in 0..counts[1] + counts[2] {
            at = name_pointers(&out, at, &mut pointers)?;
            let rtype = u16::from_be_bytes([*out.get(at)?, *out.get(at + 1)?]);
            let rdlen = usize::from(u16::from_be_bytes([*out.get(at + 8)?, *out.get(at + 9)?]));
            let rdata = at + 10;
            match rtype {
                types::SOA => {
                    let second = name_pointers(&out, rdata, &mut pointers)?;
                    name_pointers(&out, second, &mut pointers)?;
                }
                types::NS => {
                    name_pointers(&out, rdata, &mut pointers)?;
                }
                types::A | types::AAAA => {}
                _ => return None,
            }
            at = rdata + rdlen;
        }
        // A pointer into the sample label could not be moved.
        let label_end = HEADER + SAMPLE_LABEL.len();
        if at != out.len() || pointers.iter().any(|&p| pointer_target(&out, p) < label_end) {
            return None;
        }
        Some(Template {
            qname_len: sample.len(),
            counts,
            bytes: out[start..].into(),
            pointers: pointers
                .into_iter()
                .map(|p| (p - start, pointer_target(&out, p) >= start))
                .collect(),
        })
    }

    /// Appends the template to `out` for a question name of `qname_len`
    /// bytes, after `before` bytes of answer.
    pub(crate) fn write(&self, out: &mut Vec<u8>, qname_len: usize, before: usize) {
        let at = out.len();
        out.extend_from_slice(&self.bytes);
        let question_shift = qname_len as isize - self.qname_len as isize;
        for &(p, own) in self.pointers.iter() {
            let shift = if own {
                question_shift + before as isize
            } else {
                question_shift
            };
            let target = (pointer_target(out, at + p) as isize + shift) as u16;
            out[at + p..at + p + 2].copy_from_slice(&(0xc000 | target).to_be_bytes());
        }
    }

    /// The reply with `rcode` (NXDOMAIN, or NOERROR for NODATA) to a query
    /// whose question is `raw[..question_end]`, `qname_len` its name's length.
    pub(crate) fn negative_reply(
        &self,
        raw: &[u8],
        question_end: usize,
        qname_len: usize,
        rcode: u8,
        head: Head,
        opt: Option<Opt<'_>>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(question_end + self.bytes.len() + opt.map_or(0, |o| o.len()));
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&render::flags(head, true, false, rcode));
        let ar = self.counts[2] + u16::from(opt.is_some());
        for n in [1, self.counts[0], self.counts[1], ar] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&raw[HEADER..question_end]);
        self.write(&mut out, qname_len, 0);
        if let Some(opt) = opt {
            opt.push(&mut out);
        }
        out
    }
}

fn pointer_target(buf: &[u8], at: usize) -> usize {
    usize::from(buf[at] & 0x3f) << 8 | usize::from(buf[at + 1])
}

/// Walks the name at `at`, noting where its compression pointer is (if any);
/// returns the offset after it.
fn name_pointers(buf: &[u8], mut at: usize, pointers: &mut Vec<usize>) -> Option<usize> {
    loop {
        let len = *buf.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => {
                pointers.push(at);
                return Some(at + 2);
            }
            l => at += 1 + usize::from(l),
        }
    }
}
