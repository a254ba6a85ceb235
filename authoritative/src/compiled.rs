//! The fast path: answers compiled when a zone loads, so that a query for
//! a name that exists costs a hash lookup and a copy, as in NSD and Knot.
//!
//! A compiled answer is everything after the question, rendered for the
//! owner's own name. Its compression pointers into the question stay valid
//! for every spelling of that name (same labels, same lengths), and the
//! question itself is copied from the query, so the client's case is kept.
//! What changes per query is patched in: ID, RD, CD, RA, the OPT record.
//!
//! ```text
//!  Node ─ compiled: [(type, Compiled)]  the types it has, A/AAAA, DS at a cut
//!       └ other: Compiled               any other type (NODATA / referral),
//!                                       absent at a CNAME (the chain depends on the type)
//!  Compiled { aa, rcode, counts, body }
//! ```
//!
//! Left to the general path (lookup.rs + render.rs): names that do not exist
//! (NXDOMAIN, wildcards), ANY, answers that would not fit the client's UDP
//! limit, and chains that leave the zone (their answer depends on another
//! zone, which may be reloaded on its own). Pools (a later issue) will swap
//! a node's compiled answers while serving.

use crate::lookup::{self, Finder, Plan};
use crate::render::{self, Head, Opt};
use crate::zone::{types, Zone};
use palanquin_wire::HEADER;

/// One precompiled answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compiled {
    aa: bool,
    rcode: u8,
    counts: [u16; 3],
    body: Box<[u8]>,
}

impl Compiled {
    /// The reply to a query whose header and question are `raw[..question_end]`.
    pub(crate) fn reply(&self, raw: &[u8], question_end: usize, head: Head, opt: Option<Opt<'_>>) -> Vec<u8> {
        let mut out = Vec::with_capacity(question_end + self.body.len() + opt.map_or(0, |o| o.len()));
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&render::flags(head, self.aa, false, self.rcode));
        let ar = self.counts[2] + u16::from(opt.is_some());
        for n in [1, self.counts[0], self.counts[1], ar] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&raw[HEADER..question_end]);
        out.extend_from_slice(&self.body);
        if let Some(opt) = opt {
            opt.push(&mut out);
        }
        out
    }

    /// The RCODE it answers with.
    pub(crate) fn rcode(&self) -> u8 {
        self.rcode
    }
}

/// The zone itself, for chains that stay inside it.
struct Within<'a>(&'a Zone);

impl<'a> Finder<'a> for Within<'a> {
    fn zone_of(&self, name: &[u8]) -> Option<&'a Zone> {
        palanquin_wire::is_below_or_at(name, &self.0.apex).then_some(self.0)
    }
}

fn compile(zone: &Zone, name: &[u8], owner: &[u8], qtype: u16) -> Option<Compiled> {
    let plan: Plan<'_> = lookup::lookup(&Within(zone), zone, name, qtype);
    if plan.left_zone {
        return None;
    }
    let mut question = owner.to_vec();
    question.extend_from_slice(&qtype.to_be_bytes());
    question.extend_from_slice(&[0, 1]);
    let head = Head {
        id: 0,
        rd: false,
        cd: false,
        ra: false,
    };
    let out = render::render(&question, head, &plan, None, None);
    let counts = [6, 8, 10].map(|at| u16::from_be_bytes([out[at], out[at + 1]]));
    Some(Compiled {
        aa: plan.aa,
        rcode: plan.rcode,
        counts,
        body: out[HEADER + question.len()..].into(),
    })
}

/// Compiles the answers of every name of `zone` into its nodes.
pub(crate) fn compile_zone(zone: &mut Zone) {
    let mut built = Vec::with_capacity(zone.nodes.len());
    for (key, node) in &zone.nodes {
        let has_cname = node.get(types::CNAME).is_some();
        let probe = (1..=PRIVATE_TYPE).rev().find(|&t| node.get(t).is_none());
        let other = match probe {
            Some(t) if !has_cname => compile(zone, key, &node.owner, t),
            _ => None,
        };
        let mut answers = Vec::new();
        for set in &node.rrsets {
            if let Some(c) = compile(zone, key, &node.owner, set.rtype) {
                answers.push((set.rtype, c));
            }
        }
        // Types asked often that the name may not have: only where their
        // answer is not the `other` one (a CNAME's chain, DS at a cut).
        for qtype in [types::A, types::AAAA, types::DS] {
            if node.get(qtype).is_some() {
                continue;
            }
            if let Some(c) = compile(zone, key, &node.owner, qtype) {
                if other.as_ref() != Some(&c) {
                    answers.push((qtype, c));
                }
            }
        }
        built.push((
            key.clone(),
            answers.into_boxed_slice(),
            other,
            nx_below(zone, key),
        ));
    }
    for (key, answers, other, nx) in built {
        if let Some(node) = zone.nodes.get_mut(&key) {
            node.compiled = answers;
            node.other = other;
            node.nx_below = nx;
        }
    }
    zone.nxdomain = NxDomain::compile(zone);
}

/// Whether a missing name right below `key` is a plain NXDOMAIN: no cut
/// (NS below the apex) or DNAME from the apex down to `key`, and no
/// wildcard child of `key`.
fn nx_below(zone: &Zone, key: &[u8]) -> bool {
    let mut wild = b"\x01*".to_vec();
    wild.extend_from_slice(key);
    if zone.node(&wild).is_some() {
        return false;
    }
    let mut at: Option<&[u8]> = Some(key);
    while let Some(name) = at.filter(|n| n.len() >= zone.apex.len()) {
        let Some(node) = zone.node(name) else { return false };
        let cut = node.get(types::NS).is_some() && name != &*zone.apex;
        if cut || node.get(types::DNAME).is_some() {
            return false;
        }
        at = crate::zone::parent(name);
    }
    true
}

/// The zone's NXDOMAIN (the SOA in authority, compressed against the
/// question), compiled for a one-label name below the apex. For another
/// name below it, every compression pointer past that label moves by the
/// difference in length: the question, and so the apex, ends elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct NxDomain {
    /// Wire length of the name it was compiled for.
    qname_len: usize,
    counts: [u16; 3],
    body: Box<[u8]>,
    /// Where in `body` the compression pointers are.
    pointers: Box<[usize]>,
}

/// The label of the name NXDOMAIN is compiled for: bytes no zone holds
/// as a name, so nothing in the zone compresses into it.
const NX_LABEL: &[u8] = b"\x08\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8";

impl NxDomain {
    fn compile(zone: &Zone) -> Option<NxDomain> {
        let mut name = NX_LABEL.to_vec();
        name.extend_from_slice(&zone.apex);
        if zone.node(&name).is_some() || !zone.apex_node().is_some_and(|n| n.nx_below) {
            return None;
        }
        let plan = lookup::lookup(&Within(zone), zone, &name, 1);
        if plan.rcode != palanquin_wire::rcode::NXDOMAIN
            || !plan.answer.is_empty()
            || !plan.additional.is_empty()
        {
            return None;
        }
        let mut question = name.clone();
        question.extend_from_slice(&[0, 1, 0, 1]);
        let head = Head {
            id: 0,
            rd: false,
            cd: false,
            ra: false,
        };
        let out = render::render(&question, head, &plan, None, None);
        let start = HEADER + question.len();
        let counts = [6, 8, 10].map(|at| u16::from_be_bytes([out[at], out[at + 1]]));
        // The SOA: owner, fixed fields, then its two names.
        let mut pointers = Vec::new();
        let mut at = start;
        for _ in 0..counts[1] {
            at = name_pointers(&out, at, &mut pointers)?;
            let rtype = u16::from_be_bytes([*out.get(at)?, *out.get(at + 1)?]);
            let rdlen = usize::from(u16::from_be_bytes([*out.get(at + 8)?, *out.get(at + 9)?]));
            let rdata = at + 10;
            if rtype != types::SOA {
                return None;
            }
            let second = name_pointers(&out, rdata, &mut pointers)?;
            name_pointers(&out, second, &mut pointers)?;
            at = rdata + rdlen;
        }
        // A pointer into the compiled-for label could not be moved.
        let label_end = HEADER + NX_LABEL.len();
        if at != out.len() || pointers.iter().any(|&p| pointer_target(&out, p) < label_end) {
            return None;
        }
        Some(NxDomain {
            qname_len: name.len(),
            counts,
            body: out[start..].into(),
            pointers: pointers.into_iter().map(|p| p - start).collect(),
        })
    }

    /// The NXDOMAIN reply to a query for a missing name whose question is
    /// `raw[..question_end]`, `qname_len` its name's wire length.
    pub(crate) fn reply(
        &self,
        raw: &[u8],
        question_end: usize,
        qname_len: usize,
        head: Head,
        opt: Option<Opt<'_>>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(question_end + self.body.len() + opt.map_or(0, |o| o.len()));
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&render::flags(head, true, false, palanquin_wire::rcode::NXDOMAIN));
        let ar = self.counts[2] + u16::from(opt.is_some());
        for n in [1, self.counts[0], self.counts[1], ar] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&raw[HEADER..question_end]);
        let body = out.len();
        out.extend_from_slice(&self.body);
        let shift = qname_len as isize - self.qname_len as isize;
        for &p in self.pointers.iter() {
            let at = body + p;
            let target = (usize::from(out[at] & 0x3f) << 8 | usize::from(out[at + 1])) as isize + shift;
            out[at..at + 2].copy_from_slice(&(0xc000 | target as u16).to_be_bytes());
        }
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

/// The highest private-use type (RFC 6895): the probe for "any type the
/// name does not have" is the first type from here down the name lacks.
const PRIVATE_TYPE: u16 = 65_534;

/// The compiled answer for `qtype` at `node`, if there is one.
pub(crate) fn find(node: &crate::zone::Node, qtype: u16) -> Option<&Compiled> {
    if qtype == types::ANY {
        return None;
    }
    match node.compiled.iter().find(|(t, _)| *t == qtype) {
        Some((_, c)) => Some(c),
        None if node.get(qtype).is_none() => node.other.as_ref(),
        None => None,
    }
}
