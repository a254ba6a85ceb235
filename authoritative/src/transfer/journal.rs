//! The differences between versions of a zone, kept so a secondary can be
//! sent only what changed (IXFR, RFC 1995). A reload or a transfer that
//! changes the serial adds one [`Diff`]; the journal keeps the newest ones
//! within a byte budget and forgets older ones (a secondary that far behind
//! gets the whole zone, AXFR-style).
//!
//! ```text
//!  Zone v1 ──reload──▶ Zone v2 ─▶ Diff { from 1, to 2, removed, added } ─▶ Journal (≤ budget)
//!  IXFR from 1 ─▶ since(1, 3) = [1→2, 2→3]     IXFR from 0 (forgotten) ─▶ None: AXFR-style
//! ```

use std::collections::VecDeque;

use crate::zone::{types, Found, Node, RecordRef, Zone};

/// A record owned by the journal or a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnedRecord {
    /// The owner name, uncompressed wire form.
    pub owner: Box<[u8]>,
    /// The record type.
    pub rtype: u16,
    /// The TTL in seconds.
    pub ttl: u32,
    /// The RDATA in wire form, names uncompressed.
    pub rdata: Box<[u8]>,
}

impl OwnedRecord {
    /// A copy of `r`.
    pub fn of(r: RecordRef<'_>) -> OwnedRecord {
        OwnedRecord {
            owner: r.owner.into(),
            rtype: r.rtype,
            ttl: r.ttl,
            rdata: r.rdata.into(),
        }
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            owner: &self.owner,
            rtype: self.rtype,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }

    fn size(&self) -> usize {
        self.owner.len() + self.rdata.len() + 10
    }
}

/// What changed from one serial to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The SOA before.
    pub old_soa: OwnedRecord,
    /// The SOA after.
    pub new_soa: OwnedRecord,
    /// Records taken out (the SOA aside).
    pub removed: Vec<OwnedRecord>,
    /// Records put in (the SOA aside).
    pub added: Vec<OwnedRecord>,
}

impl Diff {
    /// The differences from `old` to `new`; `None` when either has no SOA.
    /// Names whose packed RRsets are byte for byte the same are skipped
    /// unread: a reload that changes one record of a million compares
    /// little more than memory.
    pub fn between(old: &Zone, new: &Zone) -> Option<Diff> {
        let mut diff = Diff {
            old_soa: OwnedRecord::of(old.soa()?),
            new_soa: OwnedRecord::of(new.soa()?),
            removed: Vec::new(),
            added: Vec::new(),
        };
        for (key, node) in &new.nodes {
            let before = old.nodes.get(key);
            if before.is_some_and(|b| b.same_sets(node)) {
                continue;
            }
            let apex = **key == *new.apex;
            only_in(Found { key, node }, before.map(|b| &**b), apex, &mut diff.added);
            if let Some(b) = before {
                only_in(Found { key, node: b }, Some(node), apex, &mut diff.removed);
            }
        }
        for (key, node) in &old.nodes {
            if !new.nodes.contains_key(key) {
                only_in(Found { key, node }, None, **key == *old.apex, &mut diff.removed);
            }
        }
        Some(diff)
    }

    /// A difference being read from an IXFR: opened by the SOA it starts
    /// from (its closing SOA replaces the copy in `new_soa`).
    pub(crate) fn opening(soa: OwnedRecord) -> Diff {
        Diff {
            old_soa: soa.clone(),
            new_soa: soa,
            removed: Vec::new(),
            added: Vec::new(),
        }
    }

    /// The difference a journal keeps for `old` → `new`: none when the
    /// serial did not change, or `old` had no data.
    pub fn change(old: &Zone, new: &Zone) -> Option<Diff> {
        if old.serial() == new.serial() || old.is_unavailable() {
            return None;
        }
        Diff::between(old, new)
    }

    /// The serial it starts from.
    pub fn from(&self) -> u32 {
        soa_serial(&self.old_soa.rdata).unwrap_or(0)
    }

    /// The serial it ends at.
    pub fn to(&self) -> u32 {
        soa_serial(&self.new_soa.rdata).unwrap_or(0)
    }

    fn size(&self) -> usize {
        self.old_soa.size()
            + self.new_soa.size()
            + self
                .removed
                .iter()
                .chain(&self.added)
                .map(OwnedRecord::size)
                .sum::<usize>()
    }
}

/// The records of name `a` that `b` (the same name in the other version)
/// does not hold (same type, TTL and RDATA), the apex SOA aside, into `out`.
fn only_in(a: Found<'_>, b: Option<&Node>, apex: bool, out: &mut Vec<OwnedRecord>) {
    for set in a.node.rrsets() {
        if apex && set.rtype == types::SOA {
            continue;
        }
        let theirs = b.and_then(|o| o.get(set.rtype));
        for (ttl, rdata) in set.iter() {
            if !theirs.is_some_and(|t| t.iter().any(|r| r == (ttl, rdata))) {
                out.push(OwnedRecord::of(RecordRef {
                    owner: a.owner(),
                    rtype: set.rtype,
                    ttl,
                    rdata,
                }));
            }
        }
    }
}

/// The serial in SOA RDATA (two names, then five 32-bit numbers).
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let fixed = crate::check::soa_fixed(rdata)?;
    Some(u32::from_be_bytes(fixed.get(..4)?.try_into().ok()?))
}

/// The newest differences of one zone, within a byte budget.
#[derive(Debug, Clone)]
pub struct Journal {
    diffs: VecDeque<Diff>,
    bytes: usize,
    budget: usize,
}

impl Journal {
    /// An empty journal keeping at most `budget` bytes of differences.
    pub fn new(budget: usize) -> Journal {
        Journal {
            diffs: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Records the change from `old` to `new` (nothing when the serial is
    /// the same). A difference that does not follow on from the last one
    /// starts the journal again; the oldest are forgotten past the budget.
    pub fn record(&mut self, old: &Zone, new: &Zone) {
        if let Some(diff) = Diff::change(old, new) {
            self.push(diff);
        }
    }

    /// Adds `diff` (see [`Journal::record`]).
    pub fn push(&mut self, diff: Diff) {
        if self.diffs.back().is_some_and(|last| last.to() != diff.from()) {
            self.clear();
        }
        let size = diff.size();
        if size > self.budget {
            // Bigger than the whole budget: nobody gets an IXFR across it.
            self.clear();
            return;
        }
        self.bytes += size;
        self.diffs.push_back(diff);
        while self.bytes > self.budget {
            let Some(old) = self.diffs.pop_front() else { break };
            self.bytes -= old.size();
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.diffs.clear();
        self.bytes = 0;
    }

    /// The differences from serial `from` to serial `to`, in order, when
    /// the journal holds all of them.
    pub fn since(&self, from: u32, to: u32) -> Option<Vec<&Diff>> {
        let start = self.diffs.iter().position(|d| d.from() == from)?;
        let chain: Vec<&Diff> = self.diffs.iter().skip(start).collect();
        (chain.last()?.to() == to).then_some(chain)
    }

    /// How many differences it holds.
    pub fn len(&self) -> usize {
        self.diffs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.diffs.is_empty()
    }
}
