//! RFC 9520: a question whose resolution just failed is answered SERVFAIL
//! again, at once, for a few seconds, instead of going upstream once per
//! client retry. A client looping on a broken name (a monitoring agent, a
//! mail queue) then costs the upstreams one exchange per [`FAILURE_TTL`],
//! not one per query. Pure: every call takes `now`.
//!
//! Only questions with nothing stale to serve are kept here; a stale entry
//! has RFC 8767's own failure-recheck timer (cache.rs).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ahash::RandomState;
use lru::LruCache;

use crate::cache::Key;
use crate::inflight::Failed;

/// How long a failure is remembered: RFC 9520 §3.2 asks for at least 1 s
/// and at most 5 min; short, so a repaired upstream is used again soon.
pub const FAILURE_TTL: Duration = Duration::from_secs(5);

/// Failures remembered at most (least recently failed first out).
const CAPACITY: usize = 10_000;

/// Recently failed questions and why they failed.
pub struct Failures {
    recent: Mutex<LruCache<Key, (Instant, Failed), RandomState>>,
}

impl Default for Failures {
    fn default() -> Self {
        // Unbounded in lru's terms, bounded in `put`: a bounded LruCache
        // allocates its whole table up front, for a map that is nearly
        // always empty.
        Failures {
            recent: Mutex::new(LruCache::unbounded_with_hasher(RandomState::new())),
        }
    }
}

impl Failures {
    /// Why `key` failed, if it did less than [`FAILURE_TTL`] before `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Failed> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        match recent.get(key) {
            Some((until, why)) if now < *until => Some(why.clone()),
            Some(_) => {
                recent.pop(key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `key` failed at `now`, with `why`.
    pub fn put(&self, key: Key, why: Failed, now: Instant) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.put(key, (now + FAILURE_TTL, why));
        while recent.len() > CAPACITY {
            recent.pop_lru();
        }
    }

    /// Forgets `key` (it was answered).
    pub fn forget(&self, key: &Key) {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).pop(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &[u8]) -> Key {
        Key {
            qname: name.to_vec().into(),
            qtype: 1,
            qclass: 1,
            dnssec_ok: false,
            cd: false,
        }
    }

    #[test]
    fn a_failure_is_remembered_for_its_ttl_only() {
        let t0 = Instant::now();
        let f = Failures::default();
        let why = Failed {
            ede: 22,
            text: "every upstream refused".into(),
        };
        assert_eq!(f.get(&key(b"\x01a\x00"), t0), None);
        f.put(key(b"\x01a\x00"), why.clone(), t0);
        assert_eq!(f.get(&key(b"\x01a\x00"), t0 + Duration::from_secs(4)), Some(why));
        assert_eq!(f.get(&key(b"\x01b\x00"), t0), None, "per question");
        assert_eq!(
            f.get(&key(b"\x01a\x00"), t0 + FAILURE_TTL),
            None,
            "then asked again"
        );
    }

    #[test]
    fn at_most_capacity_failures_are_kept_the_oldest_go_first() {
        let t0 = Instant::now();
        let f = Failures::default();
        let why = Failed {
            ede: 0,
            text: "x".into(),
        };
        for i in 0..CAPACITY as u32 + 5 {
            let mut name = vec![4];
            name.extend_from_slice(&i.to_be_bytes());
            name.push(0);
            f.put(key(&name), why.clone(), t0);
        }
        assert_eq!(f.recent.lock().expect("lock").len(), CAPACITY);
        assert_eq!(f.get(&key(&[4, 0, 0, 0, 0, 0]), t0), None, "the oldest went");
    }

    #[test]
    fn an_answer_forgets_the_failure() {
        let t0 = Instant::now();
        let f = Failures::default();
        f.put(
            key(b"\x01a\x00"),
            Failed {
                ede: 0,
                text: "x".into(),
            },
            t0,
        );
        f.forget(&key(b"\x01a\x00"));
        assert_eq!(f.get(&key(b"\x01a\x00"), t0), None);
    }
}
