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
use crate::source::{Place, Record, Sink};
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

/// The records of one name and type, packed in one allocation: for each,
/// in load order and without duplicates, TTL (4 bytes), RDATA length (2)
/// and RDATA. A zone of a million records holds a million of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RRset {
    pub(crate) rtype: u16,
    /// Its answer is the records as they are plus the zone's tail: the
    /// fast path writes it straight from here (compiled.rs).
    pub(crate) simple: bool,
    data: Vec<u8>,
}

impl RRset {
    pub(crate) fn new(rtype: u16) -> Self {
        RRset {
            rtype,
            simple: false,
            data: Vec::new(),
        }
    }

    /// Adds a record unless the same RDATA is there already; whether it did.
    pub(crate) fn push(&mut self, ttl: u32, rdata: &[u8]) -> bool {
        if self.iter().any(|(_, d)| d == rdata) {
            return false;
        }
        self.data.extend_from_slice(&ttl.to_be_bytes());
        self.data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.data.extend_from_slice(rdata);
        true
    }

    /// TTL and RDATA of each record.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = self.data.get(at..at + 6)?;
            let ttl = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
            let rdata = self.data.get(at + 6..at + 6 + len)?;
            at += 6 + len;
            Some((ttl, rdata))
        })
    }

    /// The first record (every RRset has one).
    pub(crate) fn first(&self) -> (u32, &[u8]) {
        self.iter().next().unwrap_or((0, &[]))
    }

    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }

    /// Bytes of its records in an answer whose owners are pointers.
    pub(crate) fn answer_len(&self) -> usize {
        self.data.len() + 6 * self.len()
    }

    fn shrink(&mut self) {
        self.data.shrink_to_fit();
    }
}

/// One name of the zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The owner as first written, when that is not its lower-cased key
    /// (empty otherwise: most names are written in lower case).
    owner: Box<[u8]>,
    /// In order of each type's first record.
    pub(crate) rrsets: Vec<RRset>,
    /// The fast path's answers by type (compiled.rs).
    pub(crate) compiled: Box<[(u16, Compiled)]>,
    /// The fast path's answer for any other type, where one answer fits all.
    pub(crate) other: Option<Box<Compiled>>,
    /// That answer is the zone's plain NODATA (`Zone::negative`), kept once
    /// for the whole zone rather than in every node.
    pub(crate) other_is_nodata: bool,
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
    /// Boxed: the table is sized in powers of two, so it holds pointers.
    pub(crate) nodes: AHashMap<Box<[u8]>, Box<Node>>,
    pub(crate) serial: u32,
    /// TTL of negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
    pub(crate) negative_ttl: u32,
    pub(crate) records: usize,
    /// The file it was loaded from.
    pub(crate) file: PathBuf,
    /// The fast path's negative answer, NXDOMAIN and NODATA (compiled.rs).
    pub(crate) negative: Option<compiled::Template>,
    /// What follows a positive answer: the zone's NS and their addresses.
    pub(crate) tail: Option<compiled::Template>,
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

/// A zone being loaded: records go in one at a time (as the file is read,
/// so the whole record list never sits in memory), checks run as they
/// arrive and once at the end.
pub struct ZoneBuilder {
    apex: Box<[u8]>,
    origin: String,
    file: PathBuf,
    nodes: AHashMap<Box<[u8]>, Box<Node>>,
    /// Where each SOA and NS RRset was written, for the zone-wide checks.
    places: AHashMap<(Box<[u8]>, u16), Place>,
    count: usize,
}

impl ZoneBuilder {
    /// Starts zone `origin` (text, trailing dot) loaded from `file`.
    pub fn new(origin: &str, file: &Path) -> Result<ZoneBuilder, LoadError> {
        let apex = lower(&text_to_wire(origin).ok_or_else(|| LoadError {
            file: file.to_owned(),
            line: 0,
            message: format!("bad origin {origin}"),
        })?);
        Ok(ZoneBuilder {
            apex,
            origin: origin.to_owned(),
            file: file.to_owned(),
            // Not sized ahead: names are fewer than records, and the table
            // doubles past a power of two.
            nodes: AHashMap::new(),
            places: AHashMap::new(),
            count: 0,
        })
    }

    /// Checks the records and compiles the answers.
    pub fn finish(self) -> Result<Zone, LoadError> {
        let ZoneBuilder {
            apex,
            origin,
            file,
            mut nodes,
            places,
            count,
        } = self;
        // Empty non-terminals: every name between an owner and the apex exists.
        let mut missing: ahash::AHashSet<Box<[u8]>> = ahash::AHashSet::new();
        for owner in nodes.keys() {
            let mut up = parent(owner);
            while let Some(name) = up {
                if name.len() < apex.len() || nodes.contains_key(name) || missing.contains(name) {
                    break;
                }
                missing.insert(name.into());
                up = parent(name);
            }
        }
        for name in missing {
            nodes.insert(name, Box::default());
        }
        let soa = check::zone(&apex, &nodes, &places, &file)?;
        drop(places);
        nodes.shrink_to_fit();
        for node in nodes.values_mut() {
            node.rrsets.shrink_to_fit();
            node.rrsets.iter_mut().for_each(RRset::shrink);
        }
        let mut zone = Zone {
            apex,
            name: origin,
            nodes,
            serial: soa.serial,
            negative_ttl: soa.negative_ttl,
            records: count,
            file,
            negative: None,
            tail: None,
        };
        compiled::compile_zone(&mut zone);
        Ok(zone)
    }
}

impl Sink for ZoneBuilder {
    fn record(&mut self, r: Record) -> Result<(), LoadError> {
        let key = lower(&r.owner);
        if !palanquin_wire::is_below_or_at(&key, &self.apex) {
            return Err(r.place.error(format!(
                "{} is outside the zone {}",
                palanquin_wire::name_to_string(&key),
                self.origin
            )));
        }
        let node = self.nodes.entry(key.clone()).or_insert_with(|| {
            let spelt = if *r.owner == *key {
                Box::default()
            } else {
                r.owner.clone().into_boxed_slice()
            };
            Box::new(Node {
                owner: spelt,
                ..Node::default()
            })
        });
        match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
            Some(set) => {
                if !set.push(r.ttl, &r.rdata) {
                    return Ok(());
                }
            }
            None => {
                let mut set = RRset::new(r.rtype);
                set.push(r.ttl, &r.rdata);
                node.rrsets.push(set);
                if matches!(r.rtype, types::SOA | types::NS | types::DNAME) {
                    self.places.insert((key.clone(), r.rtype), r.place.clone());
                }
            }
        }
        self.count += 1;
        check::record(&key, &self.apex, r.rtype, node, &r.place)
    }
}

impl Zone {
    /// Builds and checks zone `origin` (text, trailing dot) from its records.
    pub fn build(origin: &str, file: &Path, records: Vec<Record>) -> Result<Zone, LoadError> {
        let mut builder = ZoneBuilder::new(origin, file)?;
        for r in records {
            builder.record(r)?;
        }
        builder.finish()
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
                                let mut a: Vec<_> = s.iter().collect();
                                let mut b: Vec<_> = t.iter().collect();
                                a.sort();
                                b.sort();
                                a == b
                            })
                        })
                })
            })
    }

    /// The node at `name` (lower-cased), with its key.
    pub(crate) fn found(&self, name: &[u8]) -> Option<Found<'_>> {
        self.nodes
            .get_key_value(name)
            .map(|(key, node)| Found { key, node })
    }

    /// The apex node, with its key.
    pub(crate) fn apex_found(&self) -> Option<Found<'_>> {
        self.found(&self.apex)
    }

    /// The node at `name` (lower-cased).
    pub(crate) fn node(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.get(name).map(|n| &**n)
    }

    /// The apex node (always there: the checks require its SOA).
    pub(crate) fn apex_node(&self) -> Option<&Node> {
        self.nodes.get(&self.apex).map(|n| &**n)
    }
}

/// A node and its key, which together give its owner's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) node: &'a Node,
}

impl<'a> Found<'a> {
    /// The owner as written in the file.
    pub(crate) fn owner(&self) -> &'a [u8] {
        if self.node.owner.is_empty() {
            self.key
        } else {
            &self.node.owner
        }
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
