//! One zone in memory: its names (every owner, and every empty non-terminal
//! between an owner and the apex), each with its RRsets in load order, and
//! the checks a zone must pass before it is served.
//!
//! ```text
//!  [Record] ─Zone::build─▶ checks (check.rs) ─▶ Zone { apex, nodes: name → Node }
//!                                                  Node { owner, rrsets, cut, dname }
//!                                                  RRset { type, [(TTL, rdata)] }
//! ```
//!
//! Names are keyed lower-cased (RFC 4343) and keep the file's spelling for
//! rendering. The compiled answers of the fast path (compiled.rs) are built
//! from a finished zone and live beside it.

use std::path::{Path, PathBuf};

use ahash::AHashMap;

use crate::compiled::{self, Compiled};
use crate::source::{Place, Record};
use crate::{check, LoadError};

/// SOA, NS, CNAME, DNAME and DS type numbers, used by the lookup rules.
pub(crate) mod types {
    pub(crate) const A: u16 = 1;
    pub(crate) const NS: u16 = 2;
    pub(crate) const CNAME: u16 = 5;
    pub(crate) const SOA: u16 = 6;
    pub(crate) const PTR: u16 = 12;
    pub(crate) const MX: u16 = 15;
    pub(crate) const AAAA: u16 = 28;
    pub(crate) const SRV: u16 = 33;
    pub(crate) const DNAME: u16 = 39;
    pub(crate) const DS: u16 = 43;
    pub(crate) const DNSKEY: u16 = 48;
    pub(crate) const RRSIG: u16 = 46;
    pub(crate) const NSEC: u16 = 47;
    pub(crate) const ANY: u16 = 255;
}

/// The records of one name and type.
#[derive(Debug, Clone)]
pub(crate) struct RRset {
    pub(crate) rtype: u16,
    /// TTL and RDATA of each record, in load order, no duplicates.
    pub(crate) records: Vec<(u32, Box<[u8]>)>,
}

/// One name of the zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The owner as first written (an empty non-terminal: its lower-cased key).
    pub(crate) owner: Box<[u8]>,
    /// In order of each type's first record.
    pub(crate) rrsets: Vec<RRset>,
    /// The fast path's answers by type (compiled.rs).
    pub(crate) compiled: Box<[(u16, Compiled)]>,
    /// The fast path's answer for any other type, where one answer fits all.
    pub(crate) other: Option<Compiled>,
    /// A name below this one that does not exist is plainly NXDOMAIN: no
    /// cut or DNAME at or above it, no wildcard child (compiled.rs).
    pub(crate) nx_below: bool,
}

impl Node {
    pub(crate) fn get(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// A loaded, checked zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex, lower-cased wire form.
    pub(crate) apex: Box<[u8]>,
    /// The origin as text, with the trailing dot (for logs and metrics).
    pub(crate) name: String,
    pub(crate) nodes: AHashMap<Box<[u8]>, Node>,
    pub(crate) serial: u32,
    /// TTL of negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
    pub(crate) negative_ttl: u32,
    pub(crate) records: usize,
    /// The file it was loaded from.
    pub(crate) file: PathBuf,
    /// The fast path's NXDOMAIN (compiled.rs).
    pub(crate) nxdomain: Option<compiled::NxDomain>,
}

/// Lower-cases a wire name.
pub(crate) fn lower(name: &[u8]) -> Box<[u8]> {
    name.iter().map(u8::to_ascii_lowercase).collect()
}

/// The name one label up (`None` at the root).
pub(crate) fn parent(name: &[u8]) -> Option<&[u8]> {
    match name.first() {
        Some(&0) | None => None,
        Some(&len) => name.get(1 + usize::from(len)..),
    }
}

impl Zone {
    /// Builds and checks zone `origin` (text, trailing dot) from its records.
    pub fn build(origin: &str, file: &Path, records: Vec<Record>) -> Result<Zone, LoadError> {
        let apex = lower(&text_to_wire(origin).ok_or_else(|| LoadError {
            file: file.to_owned(),
            line: 0,
            message: format!("bad origin {origin}"),
        })?);
        let mut nodes: AHashMap<Box<[u8]>, Node> = AHashMap::with_capacity(records.len());
        let mut places: AHashMap<(Box<[u8]>, u16), Place> = AHashMap::new();
        let mut count = 0;
        for r in records {
            let key = lower(&r.owner);
            if !palanquin_wire::is_below_or_at(&key, &apex) {
                return Err(r.place.error(format!(
                    "{} is outside the zone {origin}",
                    palanquin_wire::name_to_string(&key)
                )));
            }
            let node = nodes.entry(key.clone()).or_insert_with(|| Node {
                owner: r.owner.clone().into_boxed_slice(),
                ..Node::default()
            });
            let rdata = r.rdata.into_boxed_slice();
            match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
                Some(set) if set.records.iter().any(|(_, d)| *d == rdata) => continue,
                Some(set) => set.records.push((r.ttl, rdata)),
                None => {
                    node.rrsets.push(RRset {
                        rtype: r.rtype,
                        records: vec![(r.ttl, rdata)],
                    });
                    places.insert((key.clone(), r.rtype), r.place.clone());
                }
            }
            count += 1;
            check::record(&key, &apex, r.rtype, node, &r.place)?;
        }
        // Empty non-terminals: every name between an owner and the apex exists.
        let owners: Vec<Box<[u8]>> = nodes.keys().cloned().collect();
        for owner in owners {
            let mut up = parent(&owner);
            while let Some(name) = up {
                if name.len() < apex.len() || nodes.contains_key(name) {
                    break;
                }
                nodes.insert(
                    name.into(),
                    Node {
                        owner: name.into(),
                        ..Node::default()
                    },
                );
                up = parent(name);
            }
        }
        let soa = check::zone(&apex, &nodes, &places, file)?;
        let mut zone = Zone {
            apex,
            name: origin.to_owned(),
            nodes,
            serial: soa.serial,
            negative_ttl: soa.negative_ttl,
            records: count,
            file: file.to_owned(),
            nxdomain: None,
        };
        compiled::compile_zone(&mut zone);
        Ok(zone)
    }

    /// The zone's origin, as text with the trailing dot.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// How many records it holds.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether `other` holds exactly the same data (to warn about a change
    /// without a new serial).
    pub fn same_data(&self, other: &Zone) -> bool {
        self.nodes.len() == other.nodes.len()
            && self.nodes.iter().all(|(k, n)| {
                other.nodes.get(k).is_some_and(|o| {
                    o.rrsets.len() == n.rrsets.len()
                        && n.rrsets.iter().all(|s| {
                            o.get(s.rtype).is_some_and(|t| {
                                let mut a = s.records.clone();
                                let mut b = t.records.clone();
                                a.sort();
                                b.sort();
                                a == b
                            })
                        })
                })
            })
    }

    /// The node at `name` (lower-cased).
    pub(crate) fn node(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// The apex node (always there: the checks require its SOA).
    pub(crate) fn apex_node(&self) -> Option<&Node> {
        self.nodes.get(&self.apex)
    }
}

/// `example.test.` → wire form (no escapes: origins come from the config,
/// checked there).
pub fn text_to_wire(name: &str) -> Option<Vec<u8>> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 2);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    (out.len() <= palanquin_wire::MAX_NAME).then_some(out)
}
