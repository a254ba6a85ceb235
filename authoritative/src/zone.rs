//! One zone in memory: its names (every owner, and every empty non-terminal
//! between an owner and the apex), each with its RRsets in load order, and
//! the checks a zone must pass before it is served.
//!
//! ```text
//!  Record ─ZoneBuilder (one at a time, as read)─▶ checks (check.rs)
//!         ─finish─▶ Zone { apex, nodes: lower-cased name → Box<Node> }
//!                   Node { owner (if not spelt in lower case), sets: packed bytes,
//!                          compiled answers and flags (compiled.rs) }
//!                   sets: [type, flags, length, records: [TTL, RDLENGTH, RDATA]…]…
//!                   RRset<'_>: a view of one of them
//! ```
//!
//! Names are keyed lower-cased (RFC 4343) and keep the file's spelling for
//! rendering. A name's RRsets are one allocation and its node another: a
//! zone of a million records holds about a million of each, so every
//! byte per name counts (see benches/authoritative.sh for the figures).

use std::path::{Path, PathBuf};

use ahash::AHashMap;

use crate::compiled::{self, Compiled};
use crate::source::{Place, Record, Sink};
use crate::{check, LoadError};

/// The type numbers the lookup rules and checks name.
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

/// One RRset of a name: a view into the node's packed bytes. For each
/// record, in load order and without duplicates: TTL (4 bytes), RDATA
/// length (2) and RDATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RRset<'a> {
    pub(crate) rtype: u16,
    /// Its answer is the records as they are plus the zone's tail: the
    /// fast path writes it straight from here (compiled.rs).
    pub(crate) simple: bool,
    data: &'a [u8],
}

impl<'a> RRset<'a> {
    /// TTL and RDATA of each record.
    pub(crate) fn iter(self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let mut at = 0;
        let data = self.data;
        std::iter::from_fn(move || {
            let head = data.get(at..at + 6)?;
            let ttl = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
            let rdata = data.get(at + 6..at + 6 + len)?;
            at += 6 + len;
            Some((ttl, rdata))
        })
    }

    /// The first record (every RRset has one).
    pub(crate) fn first(self) -> (u32, &'a [u8]) {
        self.iter().next().unwrap_or((0, &[]))
    }

    pub(crate) fn len(self) -> usize {
        self.iter().count()
    }

    /// Bytes of its records in an answer whose owners are pointers.
    pub(crate) fn answer_len(self) -> usize {
        self.data.len() + 6 * self.len()
    }
}

/// Bytes before each RRset's records in a node's packed bytes: type (2),
/// flags (1: bit 0 simple), length of the records (4).
const SET_HEAD: usize = 7;

/// One name of the zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The owner as first written, when that is not its lower-cased key
    /// (empty otherwise: most names are written in lower case).
    owner: Box<[u8]>,
    /// Its RRsets, in order of each type's first record, packed in one
    /// allocation: a zone of a million records has a million of these.
    sets: Box<[u8]>,
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
    /// Its RRsets, and where each starts in the packed bytes.
    fn sets_at(&self) -> impl Iterator<Item = (usize, RRset<'_>)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = self.sets.get(at..at + SET_HEAD)?;
            let len = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
            let data = self.sets.get(at + SET_HEAD..at + SET_HEAD + len)?;
            let set = RRset {
                rtype: u16::from_be_bytes([head[0], head[1]]),
                simple: head[2] & 1 == 1,
                data,
            };
            let start = at;
            at += SET_HEAD + len;
            Some((start, set))
        })
    }

    /// Its RRsets, in load order.
    pub(crate) fn rrsets(&self) -> impl Iterator<Item = RRset<'_>> + '_ {
        self.sets_at().map(|(_, s)| s)
    }

    /// Whether `other` holds byte for byte the same RRsets (a quick
    /// "unchanged" for zone differences; false does not mean changed).
    pub(crate) fn same_sets(&self, other: &Node) -> bool {
        self.sets == other.sets
    }

    pub(crate) fn get(&self, rtype: u16) -> Option<RRset<'_>> {
        self.rrsets().find(|s| s.rtype == rtype)
    }

    /// No records at all: an empty non-terminal.
    pub(crate) fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Adds a record unless its RRset has the same RDATA already; whether it did.
    pub(crate) fn push(&mut self, rtype: u16, ttl: u32, rdata: &[u8]) -> bool {
        let found = self.sets_at().find(|(_, s)| s.rtype == rtype);
        if found.is_some_and(|(_, set)| set.iter().any(|(_, d)| d == rdata)) {
            return false;
        }
        let found = found.map(|(at, set)| (at, set.data.len()));
        let grow = 6 + rdata.len() + if found.is_some() { 0 } else { SET_HEAD };
        // Grown one record at a time: the allocator's size classes make it
        // amortised, and a box is 8 bytes less than a Vec.
        let mut sets = std::mem::take(&mut self.sets).into_vec();
        sets.reserve_exact(grow);
        let end = match found {
            Some((at, len)) => {
                sets[at + 3..at + 7].copy_from_slice(&((len + 6 + rdata.len()) as u32).to_be_bytes());
                at + SET_HEAD + len
            }
            None => {
                sets.extend_from_slice(&rtype.to_be_bytes());
                sets.push(0);
                sets.extend_from_slice(&((6 + rdata.len()) as u32).to_be_bytes());
                sets.len()
            }
        };
        let mut record = [0u8; 6];
        record[..4].copy_from_slice(&ttl.to_be_bytes());
        record[4..].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        sets.splice(end..end, record.iter().chain(rdata).copied());
        self.sets = sets.into_boxed_slice();
        true
    }

    /// Marks its RRsets simple or not: bit i for the i-th (past 64, not).
    pub(crate) fn set_simple(&mut self, bits: u64) {
        let (mut at, mut i) = (0, 0);
        while let Some(head) = self.sets.get(at..at + SET_HEAD) {
            let len = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
            let simple = i < 64 && bits >> i & 1 == 1;
            self.sets[at + 2] = self.sets[at + 2] & !1 | u8::from(simple);
            at += SET_HEAD + len;
            i += 1;
        }
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
    pub(crate) negative: Option<crate::template::Template>,
    /// What follows a positive answer: the zone's NS and their addresses.
    pub(crate) tail: Option<crate::template::Template>,
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
#[derive(Debug)]
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
        let apex = palanquin_wire::name_from_text(origin)
            .map_err(|e| LoadError {
                file: file.to_owned(),
                line: 0,
                message: format!("bad origin: {e}"),
            })?
            .into_boxed_slice();
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
    fn record(&mut self, r: &Record) -> Result<(), LoadError> {
        // Lower-cased on the stack: a key is allocated only for a new name.
        let mut lowered = [0u8; 256];
        let key = &mut lowered[..r.owner.len().min(256)];
        for (k, b) in key.iter_mut().zip(&r.owner) {
            *k = b.to_ascii_lowercase();
        }
        let key: &[u8] = key;
        if !palanquin_wire::is_below_or_at(key, &self.apex) {
            return Err(r.place.error(format!(
                "{} is outside the zone {}",
                palanquin_wire::name_to_string(key),
                self.origin
            )));
        }
        if self.nodes.get(key).is_none() {
            let spelt = if *r.owner == *key {
                Box::default()
            } else {
                r.owner.clone().into_boxed_slice()
            };
            let node = Node {
                owner: spelt,
                ..Node::default()
            };
            self.nodes.insert(key.into(), Box::new(node));
        }
        let Some(node) = self.nodes.get_mut(key) else {
            return Err(r.place.error("internal error: the name just added is missing"));
        };
        // The packed layout's length fields: RDATA up to 65,535 bytes, an
        // RRset's records up to 4 GiB (the reader refuses longer RDATA too).
        let set_len = node.get(r.rtype).map_or(0, |s| s.answer_len());
        if r.rdata.len() > usize::from(u16::MAX) || set_len + r.rdata.len() + 6 > u32::MAX as usize {
            return Err(r.place.error("record too long"));
        }
        let new_set = node.get(r.rtype).is_none();
        if !node.push(r.rtype, r.ttl, &r.rdata) {
            return Ok(());
        }
        if new_set && matches!(r.rtype, types::SOA | types::NS | types::DNAME) {
            self.places.insert((key.into(), r.rtype), r.place.clone());
        }
        self.count += 1;
        check::record(key, &self.apex, r.rtype, node, &r.place)
    }
}

impl Zone {
    /// Builds and checks zone `origin` (text, trailing dot) from its records.
    pub fn build(origin: &str, file: &Path, records: Vec<Record>) -> Result<Zone, LoadError> {
        let mut builder = ZoneBuilder::new(origin, file)?;
        for r in &records {
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
                    o.rrsets().count() == n.rrsets().count()
                        && n.rrsets().all(|s| {
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

    /// The apex, lower-cased wire form.
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// The apex SOA record (every served zone has exactly one).
    pub fn soa(&self) -> Option<RecordRef<'_>> {
        let apex = self.apex_found()?;
        let (ttl, rdata) = apex.node.get(types::SOA)?.first();
        Some(RecordRef {
            owner: apex.owner(),
            rtype: types::SOA,
            ttl,
            rdata,
        })
    }

    /// Every record, the apex SOA first and only once, owners as written
    /// (for zone transfers and for saving a transferred zone).
    pub fn each_record(&self) -> Records<'_> {
        Records {
            soa: self.soa(),
            apex: &self.apex,
            nodes: self.nodes.iter(),
            owner: &[],
            sets: &[],
            set_at: 0,
            rtype: 0,
            skip_soa: false,
            rec_at: 0,
            set_end: 0,
        }
    }

    /// A stand-in for a zone that has no data to serve (a secondary before
    /// its first transfer, or past its SOA expire): every query for a name
    /// in it is answered SERVFAIL (RFC 1035 §4.3.5).
    /// `origin` is the text form, `apex` the wire form of the same name.
    pub fn unavailable(origin: &str, apex: &[u8]) -> Zone {
        Zone {
            apex: lower(apex),
            name: origin.to_owned(),
            nodes: AHashMap::new(),
            serial: 0,
            negative_ttl: 0,
            records: 0,
            file: PathBuf::new(),
            negative: None,
            tail: None,
        }
    }

    /// Whether this is a stand-in with no data ([`Zone::unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.nodes.is_empty()
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

/// One record of a zone, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The owner name, uncompressed wire form, as first written.
    pub owner: &'a [u8],
    /// The record type.
    pub rtype: u16,
    /// The TTL in seconds.
    pub ttl: u32,
    /// The RDATA in wire form, names uncompressed.
    pub rdata: &'a [u8],
}

/// The records of a zone ([`Zone::each_record`]): a walk over the packed
/// RRsets by offset (a chain of nested iterators took 40% of an AXFR).
#[derive(Debug)]
pub struct Records<'a> {
    soa: Option<RecordRef<'a>>,
    apex: &'a [u8],
    nodes: std::collections::hash_map::Iter<'a, Box<[u8]>, Box<Node>>,
    /// The current name's owner and packed RRsets.
    owner: &'a [u8],
    sets: &'a [u8],
    /// Where the next RRset's head is.
    set_at: usize,
    /// The current RRset's type, whether it is the apex SOA (sent first,
    /// so skipped here), where its next record is and where it ends.
    rtype: u16,
    skip_soa: bool,
    rec_at: usize,
    set_end: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<RecordRef<'a>> {
        if let Some(soa) = self.soa.take() {
            return Some(soa);
        }
        loop {
            if self.rec_at < self.set_end && !self.skip_soa {
                let head = self.sets.get(self.rec_at..self.rec_at + 6)?;
                let ttl = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
                let rdata = self.sets.get(self.rec_at + 6..self.rec_at + 6 + len)?;
                self.rec_at += 6 + len;
                return Some(RecordRef {
                    owner: self.owner,
                    rtype: self.rtype,
                    ttl,
                    rdata,
                });
            }
            if let Some(head) = self.sets.get(self.set_at..self.set_at + SET_HEAD) {
                self.rtype = u16::from_be_bytes([head[0], head[1]]);
                let len = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
                self.rec_at = self.set_at + SET_HEAD;
                self.set_end = self.rec_at + len;
                self.set_at = self.set_end;
                self.skip_soa = self.rtype == types::SOA
                    && self.owner.len() == self.apex.len()
                    && self.owner.eq_ignore_ascii_case(self.apex);
                continue;
            }
            let (key, node) = self.nodes.next()?;
            self.owner = Found { key, node }.owner();
            self.sets = &node.sets;
            (self.set_at, self.rec_at, self.set_end) = (0, 0, 0);
        }
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
