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
//!  Node ─ RRset.simple                   its answer is the RRset as it is + the zone's tail
//!       ├ compiled: [(type, Compiled)]  other types it has; A/AAAA/DS at a CNAME or cut
//!       ├ other: Compiled               any other type (a referral, say), when one fits all
//!       └ other_is_nodata               ... or that answer is the zone's NODATA
//!  Compiled { aa, rcode, counts, bytes, tail_at: where the zone's tail goes in them }
//!  Zone ─ tail: Template       the zone's NS + their addresses, after a positive answer
//!       └ negative: Template   the SOA of NXDOMAIN / NODATA
//! ```
//!
//! The two templates are the same for every name of the zone but for the
//! compression pointers, which move with the length of the name asked (the
//! apex in the question ends elsewhere) and, for the tail, with the answer
//! before it; each template knows where its pointers are (template.rs).
//! Keeping them once per zone, not once per name, is most of the memory a
//! compiled zone saves. Most names' answers are decided without rendering
//! them (shortcuts.rs); a debug build checks each such decision here.
//!
//! Left to the general path (lookup.rs + render.rs): names that do not exist
//! below a wildcard, cut or DNAME, ANY, answers that would not fit the
//! client's UDP limit, and chains that leave the zone (their answer depends
//! on another zone, which may be reloaded on its own). Pools (a later issue)
//! will swap a node's compiled answers while serving.

use crate::lookup::{self, Finder, Plan};
use crate::render::{self, Head, Opt};
use crate::shortcuts::{nx_below, Shortcuts};
use crate::template::{counts_of, question, Template, HEAD, MAX_POINTER, SAMPLE_LABEL};
use crate::zone::{types, Node, RRset, Zone};
use palanquin_wire::HEADER;

/// One precompiled answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compiled {
    aa: bool,
    rcode: u8,
    /// The answer follows a chain (zones.rs serves it only where no zone
    /// below this one is served too).
    chained: bool,
    /// Answer, authority and additional counts, the tail's included.
    counts: [u16; 3],
    /// The bytes after the question, but for the zone's tail.
    body: Box<[u8]>,
    /// Where in `body` the zone's positive tail goes (after the answer;
    /// what follows it, addresses of MX or SRV targets say, stays in `body`).
    tail_at: Option<u16>,
}

impl Compiled {
    /// The reply to a query whose header and question are
    /// `raw[..question_end]`, for a name of `qname_len` bytes in `zone`.
    pub(crate) fn reply(
        &self,
        zone: &Zone,
        raw: &[u8],
        question_end: usize,
        qname_len: usize,
        head: Head,
        opt: Option<Opt<'_>>,
    ) -> Vec<u8> {
        let tail = zone.tail.as_ref().zip(self.tail_at.map(usize::from));
        let size = question_end
            + self.body.len()
            + tail.map_or(0, |(t, _)| t.bytes.len())
            + opt.map_or(0, |o| o.len());
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&render::flags(head, self.aa, false, self.rcode));
        let ar = self.counts[2] + u16::from(opt.is_some());
        for n in [1, self.counts[0], self.counts[1], ar] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&raw[HEADER..question_end]);
        match tail {
            Some((tail, at)) => {
                out.extend_from_slice(&self.body[..at]);
                tail.write(&mut out, qname_len, at);
                out.extend_from_slice(&self.body[at..]);
            }
            None => out.extend_from_slice(&self.body),
        }
        if let Some(opt) = opt {
            opt.push(&mut out);
        }
        out
    }

    /// The RCODE it answers with.
    pub(crate) fn rcode(&self) -> u8 {
        self.rcode
    }

    /// Whether it follows a chain past its own name.
    pub(crate) fn chained(&self) -> bool {
        self.chained
    }

    #[cfg(test)]
    pub(crate) fn with_tail(&self) -> bool {
        self.tail_at.is_some()
    }
}

/// What the fast path has for a question at an existing name.
pub(crate) enum Fast<'a> {
    /// The RRset as it is, and the zone's tail.
    Simple(RRset<'a>),
    /// This name's own compiled answer.
    Compiled(&'a Compiled),
    /// The zone's NODATA.
    NoData,
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
    let question = question(owner, qtype);
    let out = render::render(&question, HEAD, &plan, None, None);
    let counts = counts_of(&out);
    let start = HEADER + question.len();
    let body = &out[start..];
    // Ends with the zone's tail? Then keep only what comes before it.
    if let Some(tail) = &zone.tail {
        let answer_len = palanquin_wire::layout(&out)
            .ok()
            .and_then(|l| l.authority.first().map(|r| r.start - start));
        let same_tail = counts[1] == tail.counts[1] && counts[2] >= tail.counts[2];
        if let Some(answer_len) = answer_len.filter(|&a| same_tail && a <= usize::from(u16::MAX)) {
            let tail_end = start + answer_len + tail.bytes.len();
            let mut expect = out[..start + answer_len].to_vec();
            tail.write(&mut expect, name.len(), answer_len);
            if out.len() >= tail_end && expect[..] == out[..tail_end] {
                let mut kept = body[..answer_len].to_vec();
                kept.extend_from_slice(&out[tail_end..]);
                return Some(Compiled {
                    aa: plan.aa,
                    rcode: plan.rcode,
                    chained: plan.chained,
                    counts,
                    body: kept.into_boxed_slice(),
                    tail_at: Some(answer_len as u16),
                });
            }
        }
    }
    Some(Compiled {
        aa: plan.aa,
        rcode: plan.rcode,
        chained: plan.chained,
        counts,
        body: body.into(),
        tail_at: None,
    })
}

/// Compiles the answers of every name of `zone` into its nodes, on every
/// core: each name's answers depend only on the zone. The nodes are split
/// in table order, each part compiled on its own thread, and the results
/// stored back in the same order (the table does not change in between).
pub(crate) fn compile_zone(zone: &mut Zone) {
    compile_templates(zone);
    let near = Shortcuts::of(zone);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = zone.nodes.len().div_ceil(threads).max(1);
    let zone_ref: &Zone = zone;
    let parts: Vec<Vec<Built>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let near = &near;
                let part = move || {
                    zone_ref
                        .nodes
                        .iter()
                        .skip(t * chunk)
                        .take(chunk)
                        .map(|(key, node)| compile_node(zone_ref, near, key, node))
                        .collect::<Vec<_>>()
                };
                // No thread to be had (a process limit): this part inline.
                std::thread::Builder::new()
                    .spawn_scoped(scope, part)
                    .map_err(|_| part())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(done) => done,
            })
            .collect()
    });
    debug_assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), zone.nodes.len());
    for (node, built) in zone.nodes.values_mut().zip(parts.into_iter().flatten()) {
        let simple = match built {
            Built::Plain { simple, nodata, nx } => {
                node.other_is_nodata = nodata;
                node.nx_below = nx;
                simple
            }
            Built::Full(full) => {
                let FullBuilt {
                    answers,
                    other,
                    nodata,
                    simple,
                    nx,
                } = *full;
                node.nx_below = nx;
                node.compiled = answers;
                node.other = other;
                node.other_is_nodata = nodata;
                simple
            }
        };
        node.set_simple(simple);
    }
}

/// A node's compiled answers, before they are stored in it: most names
/// need only their flags (16 bytes here for each of a million names).
enum Built {
    Plain { simple: u64, nodata: bool, nx: bool },
    Full(Box<FullBuilt>),
}

/// A node's answers, `other`, and flags (nodata, simple bits, nx_below).
struct FullBuilt {
    answers: Box<[(u16, Compiled)]>,
    other: Option<Box<Compiled>>,
    nodata: bool,
    simple: u64,
    nx: bool,
}

/// Compiles the answers of the name `key`.
fn compile_node(zone: &Zone, near: &Shortcuts, key: &[u8], node: &Node) -> Built {
    let owner = crate::zone::Found { key, node }.owner();
    let has_cname = node.get(types::CNAME).is_some();
    let plain_path = near.plain_path(zone, key, node);
    // NODATA for the types it lacks, kept once for the zone: known
    // without rendering for a plain name (checked in debug builds).
    let probe = (1..=PRIVATE_TYPE).rev().find(|&t| node.get(t).is_none());
    let nodata_known = plain_path && !has_cname && zone.negative.is_some() && probe.is_some();
    let (other, other_is_nodata) = match probe {
        _ if nodata_known => {
            debug_assert!(probe
                .and_then(|t| compile(zone, key, owner, t))
                .is_some_and(|c| is_nodata(zone, &c, key.len())));
            (None, true)
        }
        Some(t) if !has_cname => {
            let c = compile(zone, key, owner, t);
            match c {
                Some(c) if is_nodata(zone, &c, key.len()) => (None, true),
                c => (c, false),
            }
        }
        _ => (None, false),
    };
    let mut answers = Vec::new();
    // Bit i: RRset i is simple, its answer the RRset as it is and the
    // tail, written from the RRset itself (past 64 RRsets, none is).
    let mut simple = 0u64;
    for (i, set) in node.rrsets().enumerate() {
        // Its answer and the tail within a pointer's reach.
        let fits = zone.tail.as_ref().is_some_and(|t| {
            HEADER + palanquin_wire::MAX_NAME + 4 + set.answer_len() + t.bytes.len() <= MAX_POINTER
        });
        if i < 64 && plain_path && !has_cname && fits && near.simple_type(zone, key, set.rtype) {
            debug_assert!(compile(zone, key, owner, set.rtype).is_some_and(|c| is_simple(&c, set)));
            simple |= 1 << i;
            continue;
        }
        let c = compile(zone, key, owner, set.rtype);
        let plain = i < 64 && c.as_ref().is_some_and(|c| is_simple(c, set));
        simple |= u64::from(plain) << i.min(63);
        if let Some(c) = c.filter(|_| !plain) {
            answers.push((set.rtype, c));
        }
    }
    // Types asked often that the name may not have, where their answer
    // is not the `other` one: a CNAME's chain, DS at a cut.
    let special = has_cname || node.get(types::NS).is_some();
    for qtype in [types::A, types::AAAA, types::DS] {
        if !special || node.get(qtype).is_some() {
            continue;
        }
        if let Some(c) = compile(zone, key, owner, qtype) {
            if other.as_ref() != Some(&c) {
                answers.push((qtype, c));
            }
        }
    }
    let nx = nx_below(zone, key, node);
    if answers.is_empty() && other.is_none() {
        return Built::Plain {
            simple,
            nodata: other_is_nodata,
            nx,
        };
    }
    Built::Full(Box::new(FullBuilt {
        answers: answers.into_boxed_slice(),
        other: other.map(Box::new),
        nodata: other_is_nodata,
        simple,
        nx,
    }))
}

/// Whether `c`, the answer to `set`'s own type at its own name, is `set`
/// as it is (owner the question, no names to compress) and the zone's tail.
fn is_simple(c: &Compiled, set: RRset<'_>) -> bool {
    let tail_last = c.tail_at.is_some_and(|at| usize::from(at) == c.body.len());
    if !c.aa || c.rcode != 0 || !tail_last || usize::from(c.counts[0]) != set.len() {
        return false;
    }
    let mut plain = Vec::with_capacity(c.body.len());
    write_rrset(&mut plain, set);
    *c.body == *plain
}

/// `set`'s records, owned by the question's name (a pointer to offset 12).
fn write_rrset(out: &mut Vec<u8>, set: RRset<'_>) {
    for (ttl, rdata) in set.iter() {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&set.rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
}

/// The reply to a query for `set`'s type at its name, when it is simple:
/// the records and the zone's tail.
pub(crate) fn simple_reply(
    zone: &Zone,
    set: RRset<'_>,
    raw: &[u8],
    question_end: usize,
    qname_len: usize,
    head: Head,
    opt: Option<Opt<'_>>,
) -> Option<Vec<u8>> {
    let tail = zone.tail.as_ref()?;
    let mut out = Vec::with_capacity(question_end + 128 + tail.bytes.len());
    out.extend_from_slice(&head.id.to_be_bytes());
    out.extend_from_slice(&render::flags(head, true, false, 0));
    let ar = tail.counts[2] + u16::from(opt.is_some());
    for n in [1, set.len() as u16, tail.counts[1], ar] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&raw[HEADER..question_end]);
    let answer = out.len();
    write_rrset(&mut out, set);
    if out.len() + tail.bytes.len() > MAX_POINTER {
        // The tail's pointers could not reach that far: the general path.
        return None;
    }
    let before = out.len() - answer;
    tail.write(&mut out, qname_len, before);
    if let Some(opt) = opt {
        opt.push(&mut out);
    }
    Some(out)
}

/// Whether `c` (for a name of `qname_len` bytes) is the zone's NODATA:
/// AA, NOERROR, the SOA alone in authority.
fn is_nodata(zone: &Zone, c: &Compiled, qname_len: usize) -> bool {
    let Some(n) = &zone.negative else { return false };
    let mut expect = Vec::new();
    n.write(&mut expect, qname_len, 0);
    c.aa && c.rcode == 0 && c.tail_at.is_none() && c.counts == n.counts && *c.body == *expect
}

/// Compiles the zone's templates, before the nodes' own answers, which
/// lean on them.
fn compile_templates(zone: &mut Zone) {
    let mut sample = SAMPLE_LABEL.to_vec();
    sample.extend_from_slice(&zone.apex);
    zone.negative = None;
    zone.tail = None;
    let apex_plain = zone.apex_found().is_some_and(|f| nx_below(zone, f.key, f.node));
    if zone.node(&sample).is_some() || !apex_plain {
        return;
    }
    let negative = lookup::lookup(&Within(zone), zone, &sample, 1);
    let plain = negative.rcode == palanquin_wire::rcode::NXDOMAIN
        && negative.answer.is_empty()
        && negative.additional.is_empty();
    let negative = plain.then(|| Template::compile(&sample, &negative)).flatten();
    let tail = lookup::positive_tail(zone);
    let tail = (!tail.authority.is_empty())
        .then(|| Template::compile(&sample, &tail))
        .flatten();
    zone.negative = negative;
    zone.tail = tail;
}

/// The highest private-use type (RFC 6895): the probe for "any type the
/// name does not have" is the first type from here down the name lacks.
const PRIVATE_TYPE: u16 = 65_534;

/// The fast path's answer for `qtype` at `node`, if there is one.
pub(crate) fn find(node: &crate::zone::Node, qtype: u16) -> Option<Fast<'_>> {
    if qtype == types::ANY {
        return None;
    }
    if let Some(set) = node.get(qtype).filter(|s| s.simple) {
        return Some(Fast::Simple(set));
    }
    match node.compiled.iter().find(|(t, _)| *t == qtype) {
        Some((_, c)) => Some(Fast::Compiled(c)),
        None if node.get(qtype).is_some() => None,
        None if node.other_is_nodata => Some(Fast::NoData),
        None => node.other.as_deref().map(Fast::Compiled),
    }
}
