//! A per-thread front for the shared cache: direct-mapped slots holding the
//! entries a worker thread answered from recently, read without a lock or an
//! allocation. The shared cache's lookup (shard lock, LRU hash map, boxed
//! key, then the entry) is a chain of dependent memory reads, most of them
//! cache misses on a busy core; a front hit is one slot and the entry.
//!
//! ```text
//!  query ─hash(qname, type, class, DO, CD)─▶ slot ─▶ same question, fresh? ─▶ render
//!                                              └──▶ else: shared cache (then put here)
//! ```
//!
//! Only fresh entries are served from here; anything else (stale data, the
//! RFC 8767 timers, misses) goes through the shared cache as before. A slot
//! keeps its entry alive until overwritten or expired, so the memory held
//! is bounded by the slot count, whatever the shared cache evicts.

use std::sync::Arc;
use std::time::Instant;

use ahash::RandomState;

use crate::cache::Entry;
use crate::wire::Query;

/// Slots per front (a power of two): at 24 bytes each, 384 KiB.
pub const DEFAULT_SLOTS: usize = 16_384;

/// One worker thread's front cache.
pub struct Front {
    slots: Box<[Slot]>,
    hasher: RandomState,
}

#[derive(Default)]
struct Slot {
    hash: u64,
    /// DO and CD of the question stored: part of the key, not of the entry.
    flags: u8,
    entry: Option<Arc<Entry>>,
}

impl Front {
    /// A front of `slots` slots (rounded up to a power of two, at least 1).
    pub fn new(slots: usize) -> Self {
        let n = slots.max(1).next_power_of_two();
        Front {
            slots: (0..n).map(|_| Slot::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    fn key(&self, q: &Query) -> (u64, u8) {
        let flags = u8::from(q.edns.is_some_and(|e| e.dnssec_ok)) | (u8::from(q.cd) << 1);
        let hash = self.hasher.hash_one((&q.qname[..], q.qtype, q.qclass, flags));
        (hash, flags)
    }

    fn slot(&self, hash: u64) -> usize {
        // The slot count is a power of two; the truncation is the point.
        (hash as usize) & (self.slots.len() - 1)
    }

    /// The fresh entry for `q` at `now`, if this front holds it.
    pub fn get(&self, q: &Query, now: Instant) -> Option<&Arc<Entry>> {
        let (hash, flags) = self.key(q);
        let slot = &self.slots[self.slot(hash)];
        let entry = slot.entry.as_ref()?;
        (slot.hash == hash && slot.flags == flags && entry.is_fresh(now) && entry.answers(q)).then_some(entry)
    }

    /// Remembers `entry` as the answer to `q`, replacing the slot's occupant.
    pub fn put(&mut self, q: &Query, entry: Arc<Entry>) {
        let (hash, flags) = self.key(q);
        let i = self.slot(hash);
        self.slots[i] = Slot {
            hash,
            flags,
            entry: Some(entry),
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::Policy;
    use crate::wire::parse_query;

    /// `www.example.test. A` query (ID 0x4242, RD), optionally with OPT (DO when `dnssec_ok`).
    fn query(name_case: &[u8], edns: Option<bool>) -> Vec<u8> {
        let mut q = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        q.extend_from_slice(name_case);
        q.extend_from_slice(b"\x00\x01\x00\x01");
        if let Some(dnssec_ok) = edns {
            q[11] = 1;
            q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        q
    }

    const NAME: &[u8] = b"\x03www\x07example\x04test\x00";

    fn entry(ttl: u8, now: Instant) -> Arc<Entry> {
        let mut r = b"\x42\x42\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00".to_vec();
        r.extend_from_slice(NAME);
        r.extend_from_slice(b"\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x00");
        r.extend_from_slice(&[ttl, 0, 4, 192, 0, 2, 1]);
        Arc::new(Entry::from_response(&r, now, &Policy::default()).expect("cacheable"))
    }

    #[test]
    fn serves_the_same_question_while_fresh_whatever_its_case() {
        let now = Instant::now();
        let mut front = Front::new(16);
        let raw = query(NAME, None);
        let q = parse_query(&raw).expect("query");
        assert!(front.get(&q, now).is_none());
        front.put(&q, entry(60, now));
        let upper = query(b"\x03WWW\x07Example\x04TEST\x00", None);
        let q_upper = parse_query(&upper).expect("query");
        assert!(front.get(&q_upper, now).is_some(), "names are case-insensitive");
        assert!(front.get(&q, now + Duration::from_secs(59)).is_some());
        assert!(
            front.get(&q, now + Duration::from_secs(60)).is_none(),
            "expired: not from here"
        );
    }

    #[test]
    fn do_and_cd_are_part_of_the_key() {
        let now = Instant::now();
        let mut front = Front::new(16);
        let plain = query(NAME, Some(false));
        let q = parse_query(&plain).expect("query");
        front.put(&q, entry(60, now));
        let with_do = query(NAME, Some(true));
        assert!(front.get(&parse_query(&with_do).expect("query"), now).is_none());
        let mut with_cd = plain.clone();
        with_cd[3] |= 0x10;
        assert!(front.get(&parse_query(&with_cd).expect("query"), now).is_none());
        assert!(front.get(&q, now).is_some());
    }

    #[test]
    fn a_slot_never_answers_another_question() {
        let now = Instant::now();
        // One slot: every question lands on it.
        let mut front = Front::new(1);
        let www = query(NAME, None);
        front.put(&parse_query(&www).expect("query"), entry(60, now));
        let other = query(b"\x04mail\x07example\x04test\x00", None);
        let q_other = parse_query(&other).expect("query");
        assert!(front.get(&q_other, now).is_none(), "hash differs");
        // Even an entry put under the wrong question is refused by the check
        // against the entry's own question section.
        front.put(&q_other, entry(60, now));
        assert!(
            front.get(&q_other, now).is_none(),
            "the entry answers www, not mail"
        );
        let mut aaaa = www.clone();
        let at = aaaa.len() - 3;
        aaaa[at] = 28;
        assert!(
            front.get(&parse_query(&aaaa).expect("query"), now).is_none(),
            "another type"
        );
    }
}
