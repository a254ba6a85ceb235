//! The answer to one question, as RFC 1034 §4.3.2 and its updates define
//! it: a pure function of the zones, the name and the type. It returns a
//! [`Plan`] (which RRsets go in which section); render.rs turns that into
//! bytes.
//!
//! ```text
//!  walk down from the apex, one label at a time:
//!    a name that does not exist ── *.<closest encloser>? ── yes: synthesise (RFC 4592)
//!                                                        └─ no: NXDOMAIN + SOA
//!    NS below the apex (a cut)   ── referral: AA clear, NS + glue (DS: the parent answers)
//!    DNAME above the name        ── DNAME + synthesised CNAME, go on at the new name (RFC 6672)
//!    the name itself             ── the type's RRset; else its CNAME, go on at the target;
//!                                   else NODATA + SOA
//!  a chain goes on into any zone served here, at most MAX_CHAIN links;
//!  positive answers carry the zone's NS in authority and the addresses of
//!  NS/MX/SRV targets in additional, as NSD does.
//! ```

use std::borrow::Cow;

use crate::zone::{types, Found, Node, RRset, Zone};

/// How many CNAME/DNAME links a chain may have before the answer stops
/// with what it has (a loop, or a very long chain).
pub(crate) const MAX_CHAIN: usize = 12;
/// RCODE YXDOMAIN: a DNAME substitution made the name too long.
const YXDOMAIN: u8 = 6;

/// The records of one RRset in a section.
#[derive(Debug, Clone)]
pub(crate) enum Records<'a> {
    /// Straight from the zone.
    Stored(RRset<'a>),
    /// A CNAME synthesised from a DNAME: its TTL and target.
    Synth(u32, Vec<u8>),
    /// A pool's answer: one TTL, the chosen members' addresses.
    Many(u32, Vec<Vec<u8>>),
}

/// What a pool makes of a name (zones.rs decides, per query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolHit {
    /// The pool's members for this type: the records' type, TTL and data.
    Answer(u16, u32, Vec<Vec<u8>>),
    /// The name exists (a pool's, or above one) but has nothing of this type.
    NoData,
    /// The name is below a pool's name, where nothing exists.
    NxDomain,
}

/// One RRset to render.
#[derive(Debug, Clone)]
pub(crate) struct Set<'a> {
    /// Uncompressed owner name; one equal to the question's comes out as a
    /// pointer to it, so in the client's spelling.
    pub(crate) owner: Cow<'a, [u8]>,
    pub(crate) rtype: u16,
    pub(crate) records: Records<'a>,
}

impl<'a> Set<'a> {
    fn stored(owner: Cow<'a, [u8]>, set: RRset<'a>) -> Self {
        Set {
            owner,
            rtype: set.rtype,
            records: Records::Stored(set),
        }
    }

    fn same(&self, owner: &[u8], rtype: u16) -> bool {
        self.rtype == rtype && self.owner.eq_ignore_ascii_case(owner)
    }
}

/// What to answer, section by section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan<'a> {
    pub(crate) rcode: u8,
    pub(crate) aa: bool,
    pub(crate) answer: Vec<Set<'a>>,
    pub(crate) authority: Vec<Set<'a>>,
    pub(crate) additional: Vec<Set<'a>>,
    /// The authority section must fit, or the answer is truncated (a
    /// referral's NS, a negative answer's SOA).
    pub(crate) authority_required: bool,
    /// A chain left the zone it started in: the answer depends on other
    /// zones, so it is not compiled ahead (compiled.rs).
    pub(crate) left_zone: bool,
    /// A chain went on past its first name: a zone served here below this
    /// one may take over the rest (zones.rs then skips the compiled answer).
    pub(crate) chained: bool,
    /// How many RRsets at the start of `additional` must fit, or the answer
    /// is truncated: a referral's glue below the cut (RFC 9471).
    pub(crate) additional_required: usize,
}

/// Finds the zone serving a (lower-cased) name, for chains.
pub(crate) trait Finder<'a> {
    fn zone_of(&self, name: &[u8]) -> Option<&'a Zone>;

    /// What a pool says of `name` (lower-cased) for `qtype`, ahead of the
    /// zone's data; `None`: no pool has a say, the zone answers.
    fn pool(&self, _name: &[u8], _qtype: u16) -> Option<PoolHit> {
        None
    }
}

/// One step of the walk in one zone.
enum Step<'a> {
    /// These RRsets answer; `with_ns`: add the zone's NS in authority.
    Answer(Set<'a>, bool),
    /// A CNAME to follow (the set, its target).
    Cname(Set<'a>, &'a [u8]),
    /// A DNAME applies: its set, the synthesised CNAME's TTL and target.
    Dname(Set<'a>, u32, Option<Vec<u8>>),
    NoData,
    NxDomain,
    /// A zone cut above or at the name: its node.
    Referral(Found<'a>),
}

/// The answer to `qname` (lower-cased wire form) of `qtype` in `zone`.
pub(crate) fn lookup<'a>(finder: &dyn Finder<'a>, zone: &'a Zone, qname: &'a [u8], qtype: u16) -> Plan<'a> {
    let mut plan = Plan {
        aa: true,
        ..Plan::default()
    };
    let mut zone = zone;
    let mut name: Cow<'a, [u8]> = Cow::Borrowed(qname);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    loop {
        match finder.pool(&name, qtype) {
            Some(PoolHit::Answer(rtype, ttl, rdatas)) => {
                plan.answer.push(Set {
                    owner: name.clone(),
                    rtype,
                    records: Records::Many(ttl, rdatas),
                });
                add_zone_ns(&mut plan, zone);
                break;
            }
            Some(PoolHit::NoData) => {
                add_soa(&mut plan, zone);
                break;
            }
            Some(PoolHit::NxDomain) => {
                plan.rcode = palanquin_wire::rcode::NXDOMAIN;
                add_soa(&mut plan, zone);
                break;
            }
            None => {}
        }
        let next: Cow<'a, [u8]> = match step(zone, &name, qtype) {
            Step::Answer(set, with_ns) => {
                plan.answer.push(set);
                if with_ns {
                    add_zone_ns(&mut plan, zone);
                }
                break;
            }
            Step::NoData => {
                add_soa(&mut plan, zone);
                break;
            }
            Step::NxDomain => {
                plan.rcode = palanquin_wire::rcode::NXDOMAIN;
                add_soa(&mut plan, zone);
                break;
            }
            Step::Referral(cut) => {
                if plan.answer.is_empty() {
                    plan.aa = false;
                }
                if let Some(ns) = cut.node.get(types::NS) {
                    plan.authority.push(Set::stored(Cow::Borrowed(cut.owner()), ns));
                    plan.authority_required = true;
                    // In-domain glue first (required), then the rest.
                    add_addresses(&mut plan, zone, ns, Some(cut.key));
                    plan.additional_required = plan.additional.len();
                    add_addresses(&mut plan, zone, ns, None);
                }
                break;
            }
            Step::Cname(set, target) => {
                plan.answer.push(set);
                Cow::Owned(crate::zone::lower(target).into_vec())
            }
            Step::Dname(set, ttl, target) => {
                plan.answer.push(set);
                let Some(target) = target else {
                    plan.rcode = YXDOMAIN;
                    break;
                };
                plan.answer.push(Set {
                    owner: name.clone(),
                    rtype: types::CNAME,
                    records: Records::Synth(ttl, target.clone()),
                });
                if qtype == types::CNAME {
                    // The synthesised CNAME is what was asked for.
                    break;
                }
                Cow::Owned(crate::zone::lower(&target).into_vec())
            }
        };
        if seen.len() + 1 >= MAX_CHAIN || seen.iter().any(|s| *s == *next) || *next == *qname {
            break;
        }
        seen.push(next.to_vec());
        plan.chained = true;
        match finder.zone_of(&next) {
            Some(z) => {
                if !std::ptr::eq(z, zone) || !palanquin_wire::is_below_or_at(&next, &zone.apex) {
                    plan.left_zone = true;
                }
                zone = z;
            }
            None => {
                plan.left_zone = true;
                break;
            }
        }
        name = next;
    }
    add_answer_additionals(&mut plan, finder);
    plan
}

/// The walk from the apex down to `name`, in one zone.
fn step<'a>(zone: &'a Zone, name: &Cow<'a, [u8]>, qtype: u16) -> Step<'a> {
    // Offsets of the suffixes of `name` from the apex up to the full name.
    let mut starts = Vec::with_capacity(8);
    let mut at = 0;
    while name.len() - at > zone.apex.len() {
        starts.push(at);
        at += 1 + usize::from(name[at]);
    }
    let mut encloser = zone.apex_found();
    // The apex: its DNAME applies to every name below it.
    if let (Some(apex), false) = (encloser, starts.is_empty()) {
        if let Some(dname) = apex.node.get(types::DNAME) {
            return dname_step(name, apex, dname);
        }
    }
    for (i, &start) in starts.iter().enumerate().rev() {
        let suffix = &name[start..];
        let Some(found) = zone.found(suffix) else {
            break;
        };
        encloser = Some(found);
        let is_target = i == 0;
        if found.node.get(types::NS).is_some() && !(is_target && qtype == types::DS) {
            return Step::Referral(found);
        }
        if !is_target {
            if let Some(dname) = found.node.get(types::DNAME) {
                return dname_step(name, found, dname);
            }
        } else {
            return at_name(found.node, Cow::clone(name), qtype, true);
        }
    }
    if starts.is_empty() {
        return match encloser {
            Some(apex) => at_name(apex.node, Cow::clone(name), qtype, true),
            None => Step::NxDomain,
        };
    }
    // The name does not exist: the closest encloser's wildcard, if any.
    let Some(encloser) = encloser else {
        return Step::NxDomain;
    };
    let mut wild = Vec::with_capacity(2 + encloser.key.len());
    wild.extend_from_slice(b"\x01*");
    wild.extend_from_slice(encloser.key);
    match zone.node(&wild) {
        Some(source) => at_name(source, Cow::clone(name), qtype, false),
        None => Step::NxDomain,
    }
}

/// The answer at an existing node (or a wildcard standing in for the name).
fn at_name<'a>(node: &'a Node, owner: Cow<'a, [u8]>, qtype: u16, exact: bool) -> Step<'a> {
    // At a cut only DS gets here, answered by the parent without NS.
    let at_cut = exact && node.get(types::NS).is_some() && qtype == types::DS;
    if qtype == types::ANY {
        // RFC 8482: one RRset, not everything.
        return match node.rrsets().next() {
            Some(set) => Step::Answer(Set::stored(owner, set), false),
            None => Step::NoData,
        };
    }
    if let Some(set) = node.get(qtype) {
        // Key material goes without the zone's NS, as NSD sends it.
        let with_ns = !at_cut && !matches!(qtype, types::DS | types::DNSKEY);
        return Step::Answer(Set::stored(owner, set), with_ns);
    }
    if let Some(cname) = node.get(types::CNAME) {
        let target: &'a [u8] = cname.first().1;
        return Step::Cname(Set::stored(owner, cname), target);
    }
    Step::NoData
}

/// DNAME at `at` → target applies to `name` below it.
fn dname_step<'a>(name: &Cow<'a, [u8]>, at: Found<'a>, dname: RRset<'a>) -> Step<'a> {
    let (ttl, target) = dname.first();
    let prefix = &name[..name.len() - at.key.len()];
    let synth = (prefix.len() + target.len() <= palanquin_wire::MAX_NAME).then(|| {
        let mut n = prefix.to_vec();
        n.extend_from_slice(target);
        n
    });
    Step::Dname(Set::stored(Cow::Borrowed(at.owner()), dname), ttl, synth)
}

/// The SOA in authority of a negative answer, its TTL the negative TTL.
fn add_soa<'a>(plan: &mut Plan<'a>, zone: &'a Zone) {
    if let Some(soa) = zone.apex_node().and_then(|n| n.get(types::SOA)) {
        let (_, rdata) = soa.first();
        plan.authority.push(Set {
            owner: Cow::Borrowed(zone.apex_found().map_or(&[][..], |f| f.owner())),
            rtype: types::SOA,
            records: Records::Synth(zone.negative_ttl, rdata.to_vec()),
        });
        plan.authority_required = true;
    }
}

/// A plan of only what a positive answer adds after its answer section:
/// the zone's NS in authority and their addresses (compiled.rs shares it).
pub(crate) fn positive_tail(zone: &Zone) -> Plan<'_> {
    let mut plan = Plan {
        aa: true,
        ..Plan::default()
    };
    add_zone_ns(&mut plan, zone);
    plan
}

/// The zone's NS in authority of a positive answer, and their addresses.
fn add_zone_ns<'a>(plan: &mut Plan<'a>, zone: &'a Zone) {
    let Some(apex) = zone.apex_found() else { return };
    let Some(ns) = apex.node.get(types::NS) else {
        return;
    };
    if plan.answer.iter().any(|s| s.same(apex.owner(), types::NS)) {
        return;
    }
    plan.authority.push(Set::stored(Cow::Borrowed(apex.owner()), ns));
    add_addresses(plan, zone, ns, None);
}

/// Where the target name sits in the RDATA of a type that has additional
/// processing (NS, MX, SRV).
fn target_of(rtype: u16, rdata: &[u8]) -> Option<&[u8]> {
    match rtype {
        types::NS => Some(rdata),
        types::MX => rdata.get(2..),
        types::SRV => rdata.get(6..),
        _ => None,
    }
}

/// Addresses (A, then AAAA) of the targets of NS, MX or SRV `set`, from
/// `zone` only (glue included, wildcards not expanded, as NSD does), that
/// are not in the message yet; with `below`, only targets at or below it.
fn add_addresses<'a>(plan: &mut Plan<'a>, zone: &'a Zone, set: RRset<'a>, below: Option<&[u8]>) {
    let rtype = set.rtype;
    for (_, rdata) in set.iter() {
        let Some(target) = target_of(rtype, rdata) else {
            continue;
        };
        let key = crate::zone::lower(target);
        if !palanquin_wire::is_below_or_at(&key, &zone.apex) {
            continue;
        }
        if below.is_some_and(|cut| !palanquin_wire::is_below_or_at(&key, cut)) {
            continue;
        }
        let Some(found) = zone.found(&key) else { continue };
        let (node, owner) = (found.node, found.owner());
        for rtype in [types::A, types::AAAA] {
            let Some(addr) = node.get(rtype) else { continue };
            let dup = plan
                .answer
                .iter()
                .chain(&plan.additional)
                .any(|s| s.same(owner, rtype));
            if !dup {
                plan.additional.push(Set::stored(Cow::Borrowed(owner), addr));
            }
        }
    }
}

/// Additional addresses for NS, MX and SRV records in the answer.
fn add_answer_additionals<'a>(plan: &mut Plan<'a>, finder: &dyn Finder<'a>) {
    for i in 0..plan.answer.len() {
        let set = &plan.answer[i];
        let Records::Stored(stored) = set.records else {
            continue;
        };
        if !matches!(stored.rtype, types::NS | types::MX | types::SRV) {
            continue;
        }
        let Some(zone) = finder.zone_of(&crate::zone::lower(&set.owner)) else {
            continue;
        };
        add_addresses(plan, zone, stored, None);
    }
}
