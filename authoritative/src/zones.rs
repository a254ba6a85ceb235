//! Every zone served, and the entry point of the authoritative side:
//! which zone a name falls in, and the reply to a query for it.
//!
//! ```text
//!  Zones::find(qname) ── the deepest zone whose apex is qname or above it
//!  Zones::answer ── a pool's name and type ─▶ pool/live.rs (members chosen per query)
//!                ├─ node exists and has a compiled answer that fits ─▶ copy + patch
//!                └─ otherwise ─▶ lookup.rs (plan) ─▶ render.rs (bytes, TC within the limit)
//! ```
//!
//! A pool's name exists in its zone even with no records in the file:
//! other types there get NODATA, and so do the empty non-terminals above
//! it. For its own type (and ANY) the pool answers, ahead of any records
//! of that type the file has there (the daemon warns of those).

use std::net::IpAddr;
use std::sync::Arc;

use ahash::AHashMap;
use metrics::Counter;
use palanquin_wire::{rcode, Query};

use crate::compiled::{self, Fast};
use crate::lookup::{self, Finder, PoolHit};
use crate::metrics as m;
use crate::pool::live::LivePool;
use crate::render::{self, Head, Opt};
use crate::zone::Zone;

const DS: u16 = 43;
const IXFR: u16 = 251;
const AXFR: u16 = 252;

/// How the server answers, beyond what the query says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Set RA: this client may recurse here (names outside the zones).
    pub recursion_available: bool,
    /// The NSID to send when asked (RFC 5001).
    pub nsid: Option<&'a [u8]>,
    /// The UDP size limit; `None` over TCP.
    pub limit: Option<usize>,
    /// The address the query came from (a hashed pool's client key).
    pub client: Option<IpAddr>,
}

/// A zone as served: the data and its counters.
struct Served {
    zone: Arc<Zone>,
    /// Answers by RCODE (index = RCODE, 0–5; 6 = any other).
    queries: [Counter; 7],
    /// Another zone served here lies below this one: a chain from this
    /// zone may end in it, so chained compiled answers are not used.
    has_children: bool,
    /// The zone's pools (most zones: none).
    pools: Box<[Arc<LivePool>]>,
    /// The pools by name (an A and an AAAA pool may share one).
    pool_names: AHashMap<Box<[u8]>, Vec<usize>>,
    /// Which name lengths some pool has: other names skip the pool lookup.
    pool_lengths: Box<[bool; 256]>,
    /// Names above a pool with no node of their own (empty non-terminals).
    pool_parents: ahash::AHashSet<Box<[u8]>>,
}

/// The zones in service, read-only: a reload builds a new set and swaps it.
pub struct Zones {
    served: Vec<Served>,
    by_apex: AHashMap<Box<[u8]>, usize>,
    /// Which wire lengths some apex has: a suffix of another length needs
    /// no hash lookup (with one zone, a query costs one lookup here).
    apex_lengths: [bool; 256],
    /// Some zone has a pool: chains are followed, not compiled answers.
    has_pools: bool,
    /// Pools their zone's data puts out of reach (see [`Zones::with_pools`]).
    left_out: Vec<Arc<LivePool>>,
}

impl Default for Zones {
    fn default() -> Self {
        Zones::new(Vec::new())
    }
}

impl std::fmt::Debug for Zones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.served.iter().map(|s| s.zone.name()))
            .finish()
    }
}

impl Zones {
    /// Serves `zones` (origins distinct: the configuration checks that),
    /// registering their metrics.
    pub fn new(zones: Vec<Arc<Zone>>) -> Zones {
        let mut by_apex = AHashMap::with_capacity(zones.len());
        let served: Vec<Served> = zones
            .into_iter()
            .enumerate()
            .map(|(i, zone)| {
                by_apex.insert(zone.apex.clone(), i);
                let name = zone.name().to_owned();
                metrics::gauge!(m::ZONE_SERIAL, "zone" => name.clone()).set(f64::from(zone.serial()));
                metrics::gauge!(m::ZONE_RECORDS, "zone" => name.clone()).set(zone.records() as f64);
                let queries = m::RCODES
                    .map(|rc| metrics::counter!(m::ZONE_QUERIES, "zone" => name.clone(), "rcode" => rc));
                Served {
                    zone,
                    queries,
                    has_children: false,
                    pools: Box::default(),
                    pool_names: AHashMap::new(),
                    pool_lengths: Box::new([false; 256]),
                    pool_parents: ahash::AHashSet::new(),
                }
            })
            .collect();
        let mut served = served;
        for i in 0..served.len() {
            let apex = &served[i].zone.apex;
            served[i].has_children = served
                .iter()
                .any(|o| o.zone.apex != *apex && palanquin_wire::is_below_or_at(&o.zone.apex, apex));
        }
        let mut apex_lengths = [false; 256];
        for s in &served {
            apex_lengths[s.zone.apex.len().min(255)] = true;
        }
        Zones {
            served,
            by_apex,
            apex_lengths,
            has_pools: false,
            left_out: Vec::new(),
        }
    }

    /// Serves `pools` too, each in the zone of its apex (a pool whose zone
    /// is not here is left out).
    /// A pool that its zone's data puts out of reach (below a delegation or
    /// a DNAME, or under a zone served below its own) is kept but not
    /// served: answering there would override the referral or the zone.
    pub fn with_pools(mut self, pools: &[Arc<LivePool>]) -> Zones {
        let (serve, left_out): (Vec<Arc<LivePool>>, Vec<Arc<LivePool>>) = pools
            .iter()
            .cloned()
            .partition(|p| self.pool_conflict(p).is_none_or(|(_, served)| served));
        self.left_out = left_out;
        for served in &mut self.served {
            let zone = Arc::clone(&served.zone);
            let mine: Vec<Arc<LivePool>> = serve
                .iter()
                .filter(|p| *p.spec().apex == *zone.apex)
                .cloned()
                .collect();
            let mut lengths = [false; 256];
            let mut parents: ahash::AHashSet<Box<[u8]>> = ahash::AHashSet::new();
            let mut names: AHashMap<Box<[u8]>, Vec<usize>> = AHashMap::new();
            for (i, p) in mine.iter().enumerate() {
                let name = &p.spec().name;
                names.entry(name.clone()).or_default().push(i);
                lengths[name.len().min(255)] = true;
                let mut at = crate::zone::parent(name);
                while let Some(up) = at.filter(|n| n.len() > zone.apex.len()) {
                    if zone.node(up).is_none() {
                        parents.insert(up.into());
                    }
                    at = crate::zone::parent(up);
                }
            }
            served.pools = mine.into();
            served.pool_names = names;
            *served.pool_lengths = lengths;
            served.pool_parents = parents;
        }
        self.has_pools = self.served.iter().any(|s| !s.pools.is_empty());
        self
    }

    /// Every pool configured, zone by zone, those left out last.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<LivePool>> {
        self.served
            .iter()
            .flat_map(|s| s.pools.iter())
            .chain(&self.left_out)
    }

    /// What in its zone's data a pool hides or is hidden by, for a warning,
    /// and whether the pool is served all the same: records of its type or
    /// a CNAME at its name (served, ahead of them), or a delegation or DNAME
    /// above it, or a zone served below its own (left out).
    pub fn pool_conflict(&self, pool: &LivePool) -> Option<(&'static str, bool)> {
        let spec = pool.spec();
        let zone = self.get(&spec.apex)?;
        if self.find(&spec.name).map(|i| &*self.served[i].zone.apex) != Some(&*spec.apex) {
            return Some((
                "a zone served here below the pool's zone answers its name: the pool is not served",
                false,
            ));
        }
        if let Some(node) = zone.node(&spec.name) {
            if node.get(spec.rtype).is_some() {
                return Some((
                    "the zone has records of the pool's type at its name; the pool answers instead of them",
                    true,
                ));
            }
            if node.get(crate::zone::types::CNAME).is_some() {
                return Some((
                    "the zone has a CNAME at the pool's name; the pool answers its type instead",
                    true,
                ));
            }
        }
        let mut at = Some(&spec.name[..]);
        while let Some(up) = at.filter(|n| n.len() >= zone.apex.len()) {
            if let Some(node) = zone.node(up) {
                if node.get(crate::zone::types::DNAME).is_some() && *up != *spec.name {
                    return Some((
                        "the pool's name is below a DNAME of the zone: the pool is not served",
                        false,
                    ));
                }
                if up.len() > zone.apex.len() && node.get(crate::zone::types::NS).is_some() {
                    return Some((
                        "the pool's name is at or below a delegation of the zone: the pool is not served",
                        false,
                    ));
                }
            }
            at = crate::zone::parent(up);
        }
        None
    }

    /// No zones at all.
    pub fn is_empty(&self) -> bool {
        self.served.is_empty()
    }

    /// The zones, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.served.iter().map(|s| &s.zone)
    }

    /// The zone named `origin` (lower-cased wire form), to keep it across a reload.
    pub fn get(&self, apex: &[u8]) -> Option<&Arc<Zone>> {
        self.by_apex.get(apex).map(|&i| &self.served[i].zone)
    }

    /// The index of the deepest zone at or above `qname` (lower-cased).
    pub fn find(&self, qname: &[u8]) -> Option<usize> {
        if self.served.is_empty() {
            return None;
        }
        let mut at = 0;
        while at < qname.len() {
            if self.apex_lengths[(qname.len() - at).min(255)] {
                if let Some(&i) = self.by_apex.get(&qname[at..]) {
                    return Some(i);
                }
            }
            match qname.get(at) {
                Some(&0) | None => return None,
                Some(&len) => at += 1 + usize::from(len),
            }
        }
        None
    }

    /// The reply to query `q` (parsed from `raw`) for a name in zone `index`
    /// (from [`Zones::find`]).
    pub fn answer(&self, index: usize, raw: &[u8], q: &Query, ctx: &Context<'_>) -> Vec<u8> {
        let Some(served) = self.served.get(index) else {
            return palanquin_wire::error_response(raw, Some(q), rcode::SERVFAIL);
        };
        // DS at a zone's apex is the parent's to answer, when the parent
        // is served here too (RFC 4035 §3.1.4.1).
        let served = match crate::zone::parent(&q.qname) {
            Some(up) if q.qtype == DS && *q.qname == *served.zone.apex => self
                .find(up)
                .and_then(|i| self.served.get(i))
                .filter(|p| p.zone.node(&q.qname).is_some_and(|n| n.get(2).is_some()))
                .unwrap_or(served),
            _ => served,
        };
        let (reply, rc) = self.reply(served, raw, q, ctx);
        served.queries[usize::from(rc.min(6))].increment(1);
        reply
    }

    fn reply(&self, served: &Served, raw: &[u8], q: &Query, ctx: &Context<'_>) -> (Vec<u8>, u8) {
        let zone = &*served.zone;
        // Zones are IN only; CH and others are not ours to answer. Zone
        // transfers (AXFR, IXFR) come here only when the daemon did not
        // let them through (transfer.rs streams them).
        if q.qclass != 1 || matches!(q.qtype, AXFR | IXFR) {
            return (
                palanquin_wire::error_response(raw, Some(q), rcode::REFUSED),
                rcode::REFUSED,
            );
        }
        // A secondary with no data (never transferred, or expired).
        if zone.is_unavailable() {
            return (
                palanquin_wire::error_response(raw, Some(q), rcode::SERVFAIL),
                rcode::SERVFAIL,
            );
        }
        let head = Head {
            id: q.id,
            rd: q.rd,
            cd: q.cd,
            ra: ctx.recursion_available,
        };
        let opt = q.edns.map(|e| Opt {
            dnssec_ok: e.dnssec_ok,
            nsid: ctx.nsid.filter(|_| e.nsid),
            ecs: None,
        });
        if served.pool_lengths[q.qname.len().min(255)] {
            if let Some(reply) = pool_reply(served, raw, q, head, opt, ctx) {
                return reply;
            }
        }
        let fast = match zone.node(&q.qname) {
            Some(node) => match compiled::find(node, q.qtype) {
                Some(Fast::Simple(set)) => {
                    compiled::simple_reply(zone, set, raw, q.question_end, q.qname.len(), head, opt)
                        .map(|reply| (reply, rcode::NOERROR))
                }
                // A chain may end at a pool's name, which the compiled
                // answer knows nothing of.
                Some(Fast::Compiled(c)) if !(c.chained() && (served.has_children || self.has_pools)) => {
                    let reply = c.reply(zone, raw, q.question_end, q.qname.len(), head, opt);
                    Some((reply, c.rcode()))
                }
                Some(Fast::NoData) => zone.negative.as_ref().map(|n| {
                    let reply =
                        n.negative_reply(raw, q.question_end, q.qname.len(), rcode::NOERROR, head, opt);
                    (reply, rcode::NOERROR)
                }),
                Some(Fast::Compiled(_)) | None => None,
            },
            None if served.pool_parents.contains(q.qname.as_slice()) => zone.negative.as_ref().map(|n| {
                let reply = n.negative_reply(raw, q.question_end, q.qname.len(), rcode::NOERROR, head, opt);
                (reply, rcode::NOERROR)
            }),
            None => zone
                .negative
                .as_ref()
                .filter(|_| plain_nxdomain(zone, &q.qname))
                .map(|n| {
                    let reply =
                        n.negative_reply(raw, q.question_end, q.qname.len(), rcode::NXDOMAIN, head, opt);
                    (reply, rcode::NXDOMAIN)
                }),
        };
        if let Some((reply, rc)) = fast {
            if ctx.limit.is_none_or(|l| reply.len() <= l) {
                return (reply, rc);
            }
        }
        let all = All {
            zones: self,
            raw,
            question_end: q.question_end,
            has_opt: opt.is_some(),
            client: ctx.client,
            subnet: std::cell::Cell::new(None),
        };
        let plan = lookup::lookup(&all, zone, &q.qname, q.qtype);
        let question = &raw[palanquin_wire::HEADER..q.question_end];
        // A hashed pool's answer holds for the client's subnet only.
        let opt = opt.map(|o| Opt {
            ecs: all.subnet.get(),
            ..o
        });
        (render::render(question, head, &plan, opt, ctx.limit), plan.rcode)
    }
}

/// The reply when `q` names one of the zone's pools: the pool's answer
/// for its type (or ANY), NODATA for another type the zone has no node
/// for; `None` leaves the query to the zone's own data.
fn pool_reply(
    served: &Served,
    raw: &[u8],
    q: &Query,
    head: Head,
    opt: Option<Opt<'_>>,
    ctx: &Context<'_>,
) -> Option<(Vec<u8>, u8)> {
    let zone = &*served.zone;
    let named = served.pool_names.get(q.qname.as_slice())?;
    let qname_len = q.qname.len();
    let pool = named
        .iter()
        .map(|&i| &served.pools[i])
        .find(|p| p.spec().rtype == q.qtype || q.qtype == crate::zone::types::ANY);
    match pool {
        Some(pool) => pool
            .reply(
                zone,
                raw,
                q.question_end,
                qname_len,
                head,
                opt,
                ctx.client,
                ctx.limit,
            )
            .map(|reply| (reply, rcode::NOERROR)),
        None if zone.node(&q.qname).is_none() => zone.negative.as_ref().map(|n| {
            let reply = n.negative_reply(raw, q.question_end, qname_len, rcode::NOERROR, head, opt);
            (reply, rcode::NOERROR)
        }),
        None => None,
    }
}

/// Whether missing `qname` is a plain NXDOMAIN: its closest existing
/// ancestor says so (no cut, DNAME or wildcard in the way).
pub(crate) fn plain_nxdomain(zone: &Zone, qname: &[u8]) -> bool {
    let mut at = crate::zone::parent(qname);
    while let Some(name) = at.filter(|n| n.len() >= zone.apex.len()) {
        if let Some(node) = zone.node(name) {
            return node.nx_below;
        }
        at = crate::zone::parent(name);
    }
    false
}

/// Chains may go on into any zone served here.
/// Pools are asked first: a chain may end at a pool's name.
struct All<'a> {
    zones: &'a Zones,
    /// The query, for a hashed pool's client key.
    raw: &'a [u8],
    question_end: usize,
    has_opt: bool,
    client: Option<IpAddr>,
    /// The subnet a hashed pool's answer was made for, to echo.
    subnet: std::cell::Cell<Option<palanquin_wire::ClientSubnet>>,
}

impl<'a> Finder<'a> for All<'a> {
    fn zone_of(&self, name: &[u8]) -> Option<&'a Zone> {
        // A chain into a zone with no data ends there, without its answer.
        self.zones
            .find(name)
            .map(|i| &*self.zones.served[i].zone)
            .filter(|z| !z.is_unavailable())
    }

    fn pool(&self, name: &[u8], qtype: u16) -> Option<PoolHit> {
        if !self.zones.has_pools {
            return None;
        }
        let served = &self.zones.served[self.zones.find(name)?];
        if served.pools.is_empty() {
            return None;
        }
        let zone = &*served.zone;
        if let Some(named) = served.pool_names.get(name) {
            let pool = named
                .iter()
                .map(|&i| &served.pools[i])
                .find(|p| p.spec().rtype == qtype || qtype == crate::zone::types::ANY);
            return match pool {
                Some(p) => {
                    let (key, subnet) = p.client_key(self.raw, self.question_end, self.has_opt, self.client);
                    if subnet.is_some() {
                        self.subnet.set(subnet);
                    }
                    let chosen = p.pick(&key);
                    if chosen.addrs.is_empty() {
                        return Some(PoolHit::NoData);
                    }
                    let rdatas = chosen
                        .addrs
                        .iter()
                        .map(|a| match a {
                            IpAddr::V4(v4) => v4.octets().to_vec(),
                            IpAddr::V6(v6) => v6.octets().to_vec(),
                        })
                        .collect();
                    Some(PoolHit::Answer(p.spec().rtype, chosen.ttl, rdatas))
                }
                None if zone.node(name).is_none() => Some(PoolHit::NoData),
                None => None,
            };
        }
        if zone.node(name).is_some() {
            return None;
        }
        if served.pool_parents.contains(name) {
            return Some(PoolHit::NoData);
        }
        // Below a pool's name (or a name above one), with nothing in
        // between: that name is the closest encloser, and it has no
        // wildcard (RFC 4592).
        let mut at = crate::zone::parent(name);
        while let Some(up) = at.filter(|n| n.len() > zone.apex.len()) {
            if zone.node(up).is_some() {
                return None;
            }
            if served.pool_names.contains_key(up) || served.pool_parents.contains(up) {
                return Some(PoolHit::NxDomain);
            }
            at = crate::zone::parent(up);
        }
        None
    }
}
