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
        built.push((key.clone(), answers.into_boxed_slice(), other));
    }
    for (key, answers, other) in built {
        if let Some(node) = zone.nodes.get_mut(&key) {
            node.compiled = answers;
            node.other = other;
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
