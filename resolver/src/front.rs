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
//! RFC 8767 timers, misses) goes through the shared cache as before. Hits
//! here still count as uses there: at most once a second per slot the
//! entry is touched in the shared LRU, so hot names are not the ones it
//! evicts. Memory: a front holds at most `slots` entries of at most
//! [`MAX_ENTRY`] bytes each beyond the shared cache's own (entries are
//! shared, so usually nothing), and drops an entry once it has expired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::RandomState;

use crate::cache::{Cache, Entry, Key};
use palanquin_wire::Query;

/// Slots per front at most (a power of two): 32 bytes each, 512 KiB per
/// worker thread. A front is never larger than the shared cache.
pub const DEFAULT_SLOTS: usize = 16_384;

/// Larger entries stay in the shared cache only: a UDP answer is at most
/// 1232 bytes anyway (larger ones become TC stubs), and this bounds what a
/// front can keep alive to `slots` × 1.2 KiB.
pub const MAX_ENTRY: usize = 1232;

/// How often a hit here is passed on to the shared cache's LRU.
const TOUCH_EVERY: Duration = Duration::from_secs(1);

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
    /// When the shared cache last heard of a hit on this entry.
    touched: Option<Instant>,
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

    /// The front for a worker in front of a cache of `cache_size` entries.
    pub fn for_cache(cache_size: usize) -> Self {
        Self::new(cache_size.min(DEFAULT_SLOTS))
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

    /// The fresh entry for `q` at `now`, if this front holds it; a hit is
    /// passed on to `cache`'s LRU at most once a second. An expired entry
    /// found on the way is dropped.
    pub fn get(&mut self, q: &Query, now: Instant, cache: &Cache) -> Option<Arc<Entry>> {
        let (hash, flags) = self.key(q);
        let i = self.slot(hash);
        let slot = &mut self.slots[i];
        let entry = slot.entry.as_ref()?;
        if !entry.is_fresh(now) {
            *slot = Slot::default();
            return None;
        }
        if slot.hash != hash || slot.flags != flags || !entry.answers(q) {
            return None;
        }
        if slot
            .touched
            .is_none_or(|t| now.saturating_duration_since(t) >= TOUCH_EVERY)
        {
            slot.touched = Some(now);
            cache.touch(&Key::of(q));
        }
        Some(Arc::clone(entry))
    }

    /// Remembers `entry` as the answer to `q`, replacing the slot's
    /// occupant; entries over [`MAX_ENTRY`] bytes are not kept.
    pub fn put(&mut self, q: &Query, entry: Arc<Entry>, now: Instant) {
        if entry.wire_len() > MAX_ENTRY {
            return;
        }
        let (hash, flags) = self.key(q);
        let i = self.slot(hash);
        self.slots[i] = Slot {
            hash,
            flags,
            entry: Some(entry),
            touched: Some(now),
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::Policy;
    use palanquin_wire::parse_query;

    /// A `NAME A` query (ID 0x4242, RD) with `name` spelled as given,
    /// optionally with OPT (DO when `dnssec_ok`).
    fn query(name: &[u8], qtype: u8, edns: Option<bool>) -> Vec<u8> {
        let mut q = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        q.extend_from_slice(name);
        q.extend_from_slice(&[0, qtype, 0, 1]);
        if let Some(dnssec_ok) = edns {
            q[11] = 1;
            q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        q
    }

    const NAME: &[u8] = b"\x03www\x07example\x04test\x00";
    const MIXED: &[u8] = b"\x03WwW\x07ExAmple\x04TEST\x00";

    /// An answer to `NAME A` whose question is spelled `name`, TTL `ttl`.
    fn entry(name: &[u8], ttl: u8, now: Instant) -> Arc<Entry> {
        let mut r = b"\x42\x42\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00".to_vec();
        r.extend_from_slice(name);
        r.extend_from_slice(b"\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x00");
        r.extend_from_slice(&[ttl, 0, 4, 192, 0, 2, 1]);
        Arc::new(Entry::from_response(&r, now, &Policy::default()).expect("cacheable"))
    }

    fn parsed(raw: &[u8]) -> Query {
        parse_query(raw).expect("query")
    }

    #[test]
    fn serves_the_same_question_while_fresh_whatever_its_case() {
        let (now, cache) = (Instant::now(), Cache::new(16));
        let mut front = Front::new(16);
        let q = parsed(&query(NAME, 1, None));
        assert!(front.get(&q, now, &cache).is_none());
        // Stored as the first asker spelled it; asked in lower case.
        front.put(&q, entry(MIXED, 60, now), now);
        assert!(
            front.get(&q, now, &cache).is_some(),
            "names compare case-insensitively"
        );
        assert!(front.get(&parsed(&query(MIXED, 1, None)), now, &cache).is_some());
        assert!(front.get(&q, now + Duration::from_secs(59), &cache).is_some());
        assert!(
            front.get(&q, now + Duration::from_secs(60), &cache).is_none(),
            "expired"
        );
        assert!(
            front.slots.iter().all(|s| s.entry.is_none()),
            "and dropped once seen expired"
        );
    }

    #[test]
    fn do_and_cd_are_part_of_the_key() {
        let (now, cache) = (Instant::now(), Cache::new(16));
        let mut front = Front::new(16);
        let plain = query(NAME, 1, Some(false));
        let q = parsed(&plain);
        front.put(&q, entry(NAME, 60, now), now);
        assert!(
            front
                .get(&parsed(&query(NAME, 1, Some(true))), now, &cache)
                .is_none(),
            "DO"
        );
        let mut with_cd = plain.clone();
        with_cd[3] |= 0x10;
        assert!(front.get(&parsed(&with_cd), now, &cache).is_none(), "CD");
        assert!(front.get(&q, now, &cache).is_some());
    }

    #[test]
    fn a_slot_never_answers_another_question() {
        let (now, cache) = (Instant::now(), Cache::new(16));
        // One slot: every question lands on it.
        let mut front = Front::new(1);
        let q_mail = parsed(&query(b"\x04mail\x07example\x04test\x00", 1, None));
        front.put(&parsed(&query(NAME, 1, None)), entry(NAME, 60, now), now);
        assert!(front.get(&q_mail, now, &cache).is_none(), "another name");
        // Even put under the wrong question, the entry's own question
        // section decides: name, then type.
        front.put(&q_mail, entry(NAME, 60, now), now);
        assert!(
            front.get(&q_mail, now, &cache).is_none(),
            "the entry answers www, not mail"
        );
        let q_aaaa = parsed(&query(NAME, 28, None));
        front.put(&q_aaaa, entry(NAME, 60, now), now);
        assert!(
            front.get(&q_aaaa, now, &cache).is_none(),
            "the entry answers A, not AAAA"
        );
    }

    #[test]
    fn large_entries_stay_in_the_shared_cache_only() {
        let now = Instant::now();
        let mut front = Front::new(4);
        let q = parsed(&query(NAME, 16, None));
        let mut r = b"\x42\x42\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00".to_vec();
        r.extend_from_slice(NAME);
        // One TXT record of five 255-byte strings: 1,280 bytes of RDATA.
        r.extend_from_slice(b"\x00\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x05\x00");
        for _ in 0..5 {
            r.push(255);
            r.extend(std::iter::repeat_n(b'x', 255));
        }
        let big = Arc::new(Entry::from_response(&r, now, &Policy::default()).expect("cacheable"));
        assert!(big.wire_len() > MAX_ENTRY);
        front.put(&q, big, now);
        assert!(front.slots.iter().all(|s| s.entry.is_none()));
    }

    #[test]
    fn for_cache_is_never_larger_than_the_cache() {
        assert_eq!(Front::for_cache(100).slots.len(), 128);
        assert_eq!(Front::for_cache(10_000_000).slots.len(), DEFAULT_SLOTS);
    }
}
