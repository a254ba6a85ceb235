//! The answer cache: positive and negative entries (RFC 2308), TTLs counted
//! down in answers, min/max clamps, a bound in entries with LRU eviction, and
//! serve-stale (RFC 8767). Pure: every call takes `now`.
//!
//! ```text
//!  upstream wire ──Entry::from_response──▶ stored: ID 0, no OPT, TTLs clamped,
//!                                          offsets of every TTL field
//!  client query ──get(key, now)──▶ Fresh{age} | Stale | Miss
//!  Fresh/Stale ──render(query)──▶ client's ID, RD, CD, question case,
//!                                 TTL − age (or the stale TTL), OPT if asked, TC if too big
//! ```
//!
//! Keys are (lower-cased QNAME, QTYPE, QCLASS, DO, CD): answers that differ
//! with DNSSEC records or with validation disabled are kept apart.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ahash::RandomState;
use lru::LruCache;

use palanquin_wire::{self as wire, rcode, Query, HEADER, TYPE_OPT, TYPE_SOA};

/// What identifies a cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Lower-cased QNAME, wire form.
    pub qname: Box<[u8]>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// DO bit of the query.
    pub dnssec_ok: bool,
    /// CD bit of the query.
    pub cd: bool,
}

impl Key {
    /// The key of a parsed query.
    pub fn of(q: &Query) -> Self {
        Key {
            qname: q.qname.clone().into_boxed_slice(),
            qtype: q.qtype,
            qclass: q.qclass,
            dnssec_ok: q.edns.is_some_and(|e| e.dnssec_ok),
            cd: q.cd,
        }
    }
}

/// TTL policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// TTLs below this are raised to it.
    pub min_ttl: u32,
    /// TTLs above this are lowered to it.
    pub max_ttl: u32,
    /// Cap of negative (NXDOMAIN/NODATA) TTLs.
    pub negative_max_ttl: u32,
    /// How long past expiry an entry may still be served stale (0: never).
    pub serve_stale: Duration,
    /// TTL given to records of a stale answer (RFC 8767 suggests 30 s).
    pub stale_answer_ttl: u32,
    /// After a failed refresh, serve stale data at once for this long
    /// before asking the upstreams again (RFC 8767 suggests 30 s).
    pub failure_recheck: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_ttl: 0,
            max_ttl: 86_400,
            negative_max_ttl: 3_600,
            serve_stale: Duration::from_secs(86_400),
            stale_answer_ttl: 30,
            failure_recheck: Duration::from_secs(30),
        }
    }
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    wire: Box<[u8]>,
    question_end: usize,
    ttls: Box<[(u16, u32)]>,
    stored: Instant,
    expires: Instant,
    stale_until: Instant,
    negative: bool,
    /// Upper 8 bits of a 12-bit RCODE, from the upstream's OPT (passthrough only).
    ext_rcode: u8,
    /// RFC 8767 failure-recheck timer: a refresh failed, so until then the
    /// stale data is served at once, without asking the upstreams again.
    recheck_after: Option<Instant>,
}

/// Why a response is not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncacheable {
    /// It does not parse.
    Malformed,
    /// TC set: only the full answer is cached.
    Truncated,
    /// An RCODE other than NOERROR/NXDOMAIN.
    Rcode,
    /// Negative without an SOA (RFC 2308 §5: do not cache).
    NoSoa,
    /// A TTL of zero.
    ZeroTtl,
    /// OPT is not the last record (stripping it would break compression).
    OptNotLast,
    /// Larger than [`MAX_CACHED`]: the entry bound is in entries, so the
    /// bytes per entry are bounded here.
    TooLarge,
    /// An extended RCODE (in OPT) other than 0.
    ExtendedRcode,
}

/// Largest response kept in the cache (a 100,000-entry cache of these
/// stays under 1.6 GB even in the worst case; typical answers are ~100 bytes).
/// The UDP workers' front caches (front.rs) may keep a further 16,384
/// entries of at most 1.2 KiB each alive per thread after the cache has
/// evicted them, until they expire.
pub const MAX_CACHED: usize = 16 * 1024;

impl Entry {
    /// Prepares an upstream response for the cache.
    pub fn from_response(wire: &[u8], now: Instant, policy: &Policy) -> Result<Entry, Uncacheable> {
        Self::prepare(wire, now, policy, true)
    }

    /// Prepares a response that is answered once and not cached (an RCODE
    /// the cache does not keep, a TTL of zero, a negative answer without SOA):
    /// the same rendering, TTLs as received.
    pub fn passthrough(wire: &[u8], now: Instant) -> Result<Entry, Uncacheable> {
        let policy = Policy {
            min_ttl: 0,
            max_ttl: u32::MAX,
            negative_max_ttl: u32::MAX,
            ..Policy::default()
        };
        Self::prepare(wire, now, &policy, false)
    }

    fn prepare(wire: &[u8], now: Instant, policy: &Policy, for_cache: bool) -> Result<Entry, Uncacheable> {
        let layout = wire::layout(wire).map_err(|_| Uncacheable::Malformed)?;
        if wire[2] & 0x02 != 0 {
            return Err(Uncacheable::Truncated);
        }
        let rc = wire[3] & 0x0f;
        if for_cache && rc != rcode::NOERROR && rc != rcode::NXDOMAIN {
            return Err(Uncacheable::Rcode);
        }
        // Keep every record up to OPT (OPT must be the last one), and nothing
        // after the last record: trailing bytes would corrupt what we append.
        let last = layout
            .additional
            .last()
            .or(layout.authority.last())
            .or(layout.answers.last());
        let mut end = last.map_or(layout.question_end, |r| r.end);
        let mut additional = layout.additional.len() as u16;
        let mut ext_rcode = 0u8;
        if let Some(pos) = layout.additional.iter().position(|r| r.rtype == TYPE_OPT) {
            if pos + 1 != layout.additional.len() {
                return Err(Uncacheable::OptNotLast);
            }
            ext_rcode = (layout.additional[pos].ttl >> 24) as u8;
            end = layout.additional[pos].start;
            additional -= 1;
        }
        if for_cache && ext_rcode != 0 {
            return Err(Uncacheable::ExtendedRcode);
        }
        if for_cache && end > MAX_CACHED {
            return Err(Uncacheable::TooLarge);
        }
        let records = layout
            .answers
            .iter()
            .chain(&layout.authority)
            .chain(&layout.additional);
        // RFC 2181 §8: a TTL with the top bit set is read as zero.
        let ttl_of = |r: &wire::RrPos| if r.ttl >= 1 << 31 { 0 } else { r.ttl };
        let records: Vec<_> = records.filter(|r| r.rtype != TYPE_OPT).collect();
        // NODATA: no record of the type asked, even after a CNAME chain
        // (`www CNAME cdn.example.net`, no AAAA there): negative, RFC 2308 §5.
        let qtype = u16::from_be_bytes([wire[layout.question_end - 4], wire[layout.question_end - 3]]);
        let negative = rc == rcode::NXDOMAIN || !layout.answers.iter().any(|r| r.rtype == qtype);
        let mut stored = wire[..end].to_vec();
        stored[0] = 0;
        stored[1] = 0;
        // We answer as a recursive service: never authoritative, recursion available.
        stored[2] &= !0x04;
        stored[3] |= 0x80;
        stored[10..12].copy_from_slice(&additional.to_be_bytes());

        let soa = layout.authority.iter().find(|r| r.rtype == TYPE_SOA);
        let clamp = |ttl: u32| ttl.clamp(policy.min_ttl, policy.max_ttl.max(policy.min_ttl));
        // RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM) of the
        // authority SOA, and it is for the negative part only: a CNAME or
        // DNAME chain in the answer section keeps its own TTLs.
        let negative_ttl = if negative && (for_cache || soa.is_some()) {
            let soa = soa.ok_or(Uncacheable::NoSoa)?;
            if soa.end < soa.rdata_at + 22 {
                return Err(Uncacheable::Malformed); // two names and five 32-bit fields at least
            }
            let b = &wire[soa.end - 4..soa.end];
            let minimum = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let minimum = if minimum >= 1 << 31 { 0 } else { minimum };
            Some(
                ttl_of(soa)
                    .min(minimum)
                    .min(policy.negative_max_ttl)
                    .max(policy.min_ttl),
            )
        } else {
            None
        };
        // `records` lists the answer section first.
        let in_answer = layout.answers.len();
        let mut ttls = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let ttl = match negative_ttl {
                Some(neg) if i >= in_answer => neg,
                _ => clamp(ttl_of(r)),
            };
            let at = u16::try_from(r.ttl_at).map_err(|_| Uncacheable::Malformed)?;
            stored[r.ttl_at..r.ttl_at + 4].copy_from_slice(&ttl.to_be_bytes());
            ttls.push((at, ttl));
        }
        let entry_ttl = match negative_ttl {
            Some(neg) => ttls.iter().map(|&(_, t)| t).chain([neg]).min().unwrap_or(neg),
            None => ttls.iter().map(|&(_, t)| t).min().unwrap_or(0),
        };
        if entry_ttl == 0 && for_cache {
            return Err(Uncacheable::ZeroTtl);
        }
        let expires = now + Duration::from_secs(u64::from(entry_ttl));
        Ok(Entry {
            wire: stored.into_boxed_slice(),
            question_end: layout.question_end,
            ttls: ttls.into_boxed_slice(),
            stored: now,
            expires,
            stale_until: expires + policy.serve_stale,
            negative,
            ext_rcode,
            recheck_after: None,
        })
    }

    /// A copy that defers refreshes until `until` (a refresh just failed).
    pub fn failed_refresh(&self, until: Instant) -> Entry {
        Entry {
            recheck_after: Some(until),
            ..self.clone()
        }
    }

    /// Whether a refresh failed recently enough that stale data should be
    /// served without asking the upstreams.
    pub fn refresh_deferred(&self, now: Instant) -> bool {
        self.recheck_after.is_some_and(|t| now < t)
    }

    /// Whether it is within its TTL at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires
    }

    /// Whether the question this entry answers is `q`'s (name compared
    /// case-insensitively, then type and class).
    pub fn answers(&self, q: &Query) -> bool {
        let name_end = HEADER + q.qname.len();
        let (Some(name), Some(rest)) = (
            self.wire.get(HEADER..name_end),
            self.wire.get(name_end..name_end + 4),
        ) else {
            return false;
        };
        // Label lengths are below 64, so folding ASCII case leaves them alone.
        name.eq_ignore_ascii_case(&q.qname)
            && rest[..2] == q.qtype.to_be_bytes()
            && rest[2..] == q.qclass.to_be_bytes()
    }

    /// Whether this is an NXDOMAIN/NODATA entry.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The response code stored.
    pub fn rcode(&self) -> u8 {
        self.wire[3] & 0x0f
    }

    /// Bytes of the stored message.
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// Approximate heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.wire.len() + self.ttls.len() * 8
    }

    /// The answer for `query` (whose raw bytes are `raw`): fresh with TTLs
    /// reduced by the entry's age, or stale with `stale_ttl` everywhere.
    /// Larger than `udp_limit` (when given): a TC response instead.
    pub fn render(
        &self,
        raw: &[u8],
        query: &Query,
        now: Instant,
        stale_ttl: Option<u32>,
        udp_limit: Option<usize>,
    ) -> Vec<u8> {
        let age = now.saturating_duration_since(self.stored).as_secs() as u32;
        let mut out = Vec::with_capacity(self.wire.len() + 11);
        out.extend_from_slice(&self.wire);
        out[0..2].copy_from_slice(&query.id.to_be_bytes());
        out[2] = (out[2] & !0x01) | u8::from(query.rd);
        let want_ad = query.ad || query.edns.is_some_and(|e| e.dnssec_ok);
        out[3] = (out[3] & !0x10) | if query.cd { 0x10 } else { 0 };
        if !want_ad {
            out[3] &= !0x20; // RFC 6840 §5.8
        }
        // Echo the client's spelling of the question (0x20 case randomisation)
        // when it is the question stored, as it is for every keyed entry.
        if self.question_end == query.question_end {
            if let (Some(dst), Some(src)) = (
                out.get_mut(HEADER..self.question_end),
                raw.get(HEADER..query.question_end),
            ) {
                dst.copy_from_slice(src);
            }
        }
        for &(at, ttl) in self.ttls.iter() {
            let at = usize::from(at);
            let value = stale_ttl.unwrap_or_else(|| ttl.saturating_sub(age));
            out[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        if let Some(e) = query.edns {
            wire::push_opt(&mut out, e.dnssec_ok, self.ext_rcode);
            let ar = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
            out[10..12].copy_from_slice(&ar.to_be_bytes());
        } else if self.ext_rcode != 0 {
            // An extended RCODE cannot be told to a client without EDNS.
            out[3] = (out[3] & 0xf0) | rcode::SERVFAIL;
        }
        match udp_limit {
            Some(limit) if out.len() > limit => truncated(&out, self.question_end, query),
            _ => out,
        }
    }
}

/// Header + question (+ OPT) with TC set: "ask again over TCP".
fn truncated(full: &[u8], question_end: usize, query: &Query) -> Vec<u8> {
    let mut out = full[..question_end.min(full.len())].to_vec();
    out[2] |= 0x02;
    out[6..12].fill(0);
    if let Some(e) = query.edns {
        wire::push_opt(&mut out, e.dnssec_ok, 0);
        out[11] = 1;
    }
    out
}

/// The result of a lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Within its TTL.
    Fresh(Arc<Entry>),
    /// Expired, but inside the serve-stale window.
    Stale(Arc<Entry>),
    /// Not there (or past the stale window).
    Miss,
}

/// A bounded, sharded LRU of entries. Each shard's lock is held for a map
/// operation only, never across I/O.
pub struct Cache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

const SHARDS: usize = 64;

/// aHash with a random key: fast, and an attacker choosing query names
/// cannot aim them at one bucket.
type Shard = LruCache<Key, Arc<Entry>, RandomState>;

impl Cache {
    /// A cache of at most `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        Cache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::with_hasher(per_shard, RandomState::new())))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks `key` up at `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Lookup {
        let mut shard = self.shard(key);
        let Some(entry) = shard.get(key) else {
            return Lookup::Miss;
        };
        if now < entry.expires {
            return Lookup::Fresh(Arc::clone(entry));
        }
        if now < entry.stale_until {
            return Lookup::Stale(Arc::clone(entry));
        }
        shard.pop(key);
        Lookup::Miss
    }

    /// Marks `key` as just used (moves it up the LRU), if it is held.
    pub fn touch(&self, key: &Key) {
        let _ = self.shard(key).get(key);
    }

    /// Stores `entry` under `key`, evicting the least recently used entry of
    /// its shard when full.
    pub fn insert(&self, key: Key, entry: Entry) {
        self.shard(&key).put(key, Arc::new(entry));
    }

    /// Stores an entry that is also being answered from.
    pub fn insert_shared(&self, key: Key, entry: Arc<Entry>) {
        self.shard(&key).put(key, entry);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palanquin_wire::parse_query;

    const Q: &[u8] =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03WWW\x07example\x04test\x00\x00\x01\x00\x01";

    fn response(rc: u8, answer_ttl: Option<u32>, soa: Option<(u32, u32)>, opt: bool) -> Vec<u8> {
        let mut m = vec![0xaa, 0xbb, 0x81, 0x80 | rc, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
        if let Some(ttl) = answer_ttl {
            m[7] = 1;
            m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(b"\x00\x04\xc0\x00\x02\x01");
        }
        if let Some((ttl, minimum)) = soa {
            m[9] = 1;
            m.extend_from_slice(b"\xc0\x10\x00\x06\x00\x01");
            m.extend_from_slice(&ttl.to_be_bytes());
            let mut rdata = b"\x00\x00".to_vec(); // mname ., rname .
            for v in [1u32, 3600, 900, 604_800, minimum] {
                rdata.extend_from_slice(&v.to_be_bytes());
            }
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
        }
        if opt {
            m[11] = 1;
            wire::push_opt(&mut m, false, 0);
        }
        m
    }

    fn ttls_of(wire: &[u8]) -> Vec<u32> {
        let l = wire::layout(wire).expect("valid");
        l.answers.iter().chain(&l.authority).map(|r| r.ttl).collect()
    }

    #[test]
    fn positive_entry_counts_down_and_expires() {
        let t0 = Instant::now();
        let p = Policy::default();
        let e = Entry::from_response(&response(0, Some(300), None, true), t0, &p).expect("cacheable");
        let q = parse_query(Q).expect("query");
        let out = e.render(Q, &q, t0 + Duration::from_secs(100), None, None);
        assert_eq!(&out[..2], &[0x12, 0x34]);
        assert_eq!(ttls_of(&out), vec![200]);
        assert_eq!(&out[12..16], b"\x03WWW", "the client's case is echoed");
        assert_eq!(
            wire::layout(&out).expect("valid").additional.len(),
            0,
            "no OPT for a non-EDNS client"
        );

        let cache = Cache::new(10);
        let key = Key::of(&q);
        cache.insert(key.clone(), e);
        assert!(matches!(
            cache.get(&key, t0 + Duration::from_secs(299)),
            Lookup::Fresh(_)
        ));
        assert!(matches!(
            cache.get(&key, t0 + Duration::from_secs(301)),
            Lookup::Stale(_)
        ));
        assert!(matches!(
            cache.get(&key, t0 + Duration::from_secs(301 + 86_400)),
            Lookup::Miss
        ));
    }

    #[test]
    fn negative_entries_use_the_soa_minimum() {
        let t0 = Instant::now();
        let p = Policy::default();
        let nx =
            Entry::from_response(&response(3, None, Some((3600, 60)), false), t0, &p).expect("cacheable");
        assert!(nx.is_negative());
        assert_eq!(nx.rcode(), 3);
        let q = parse_query(Q).expect("query");
        assert_eq!(
            ttls_of(&nx.render(Q, &q, t0 + Duration::from_secs(10), None, None)),
            vec![50]
        );
        let nodata =
            Entry::from_response(&response(0, None, Some((30, 600)), false), t0, &p).expect("cacheable");
        assert!(nodata.is_negative());
        assert_eq!(ttls_of(&nodata.render(Q, &q, t0, None, None)), vec![30]);
        assert_eq!(
            Entry::from_response(&response(3, None, None, false), t0, &p),
            Err(Uncacheable::NoSoa)
        );
    }

    /// RFC 2181 §8: a TTL with the top bit set is 0, for the SOA of a
    /// negative answer as for any other record; such an answer is not cached.
    #[test]
    fn a_negative_ttl_with_the_top_bit_set_is_zero() {
        let t0 = Instant::now();
        let p = Policy::default();
        let huge = response(3, None, Some((0xffff_ffff, 300)), false);
        assert_eq!(Entry::from_response(&huge, t0, &p), Err(Uncacheable::ZeroTtl));
        let minimum = response(3, None, Some((300, 0x8000_0000)), false);
        assert_eq!(Entry::from_response(&minimum, t0, &p), Err(Uncacheable::ZeroTtl));
        let once = Entry::passthrough(&huge, t0).expect("answered once");
        let q = parse_query(Q).expect("query");
        assert_eq!(ttls_of(&once.render(Q, &q, t0, None, None)), vec![0]);
    }

    /// RFC 2308 §5: an NXDOMAIN that carries a chain keeps the chain's TTL;
    /// the negative TTL is for the SOA, and the entry lasts the shorter.
    #[test]
    fn a_negative_answer_with_a_chain_keeps_the_chain_ttls() {
        let t0 = Instant::now();
        let p = Policy::default();
        let nx = Entry::from_response(&response(3, Some(300), Some((3600, 120)), false), t0, &p)
            .expect("cacheable");
        let q = parse_query(Q).expect("query");
        assert_eq!(ttls_of(&nx.render(Q, &q, t0, None, None)), vec![300, 120]);
        assert!(nx.is_fresh(t0 + Duration::from_secs(119)));
        assert!(
            !nx.is_fresh(t0 + Duration::from_secs(120)),
            "expires with the negative part"
        );
    }

    /// NOERROR with only a CNAME for an A question: NODATA at the end of
    /// the chain, cached for the negative TTL, not the SOA's own.
    #[test]
    fn a_nodata_after_a_cname_is_negative() {
        let t0 = Instant::now();
        let p = Policy::default();
        let mut m = response(0, None, Some((3600, 60)), false);
        // An answer record of another type (CNAME, type 5) before the SOA.
        let cname = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x02\xc0\x10";
        let at = 12 + 22;
        m.splice(at..at, cname.iter().copied());
        m[7] = 1;
        let e = Entry::from_response(&m, t0, &p).expect("cacheable");
        assert!(e.is_negative());
        let q = parse_query(Q).expect("query");
        assert_eq!(
            ttls_of(&e.render(Q, &q, t0, None, None)),
            vec![300, 60],
            "the CNAME keeps its TTL"
        );
        assert!(!e.is_fresh(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn clamps_and_refusals() {
        let t0 = Instant::now();
        let p = Policy {
            min_ttl: 60,
            max_ttl: 3600,
            ..Policy::default()
        };
        let q = parse_query(Q).expect("query");
        let low = Entry::from_response(&response(0, Some(5), None, false), t0, &p).expect("cacheable");
        assert_eq!(ttls_of(&low.render(Q, &q, t0, None, None)), vec![60]);
        let high = Entry::from_response(&response(0, Some(999_999), None, false), t0, &p).expect("cacheable");
        assert_eq!(ttls_of(&high.render(Q, &q, t0, None, None)), vec![3600]);
        assert_eq!(
            Entry::from_response(&response(2, None, None, false), t0, &Policy::default()),
            Err(Uncacheable::Rcode)
        );
        assert_eq!(
            Entry::from_response(&response(0, Some(0), None, false), t0, &Policy::default()),
            Err(Uncacheable::ZeroTtl)
        );
        let mut tc = response(0, Some(60), None, false);
        tc[2] |= 0x02;
        assert_eq!(
            Entry::from_response(&tc, t0, &Policy::default()),
            Err(Uncacheable::Truncated)
        );
        assert_eq!(
            Entry::from_response(&tc[..20], t0, &Policy::default()),
            Err(Uncacheable::Malformed)
        );
    }

    #[test]
    fn stale_answers_get_the_stale_ttl_and_big_answers_truncate() {
        let t0 = Instant::now();
        let e =
            Entry::from_response(&response(0, Some(300), None, false), t0, &Policy::default()).expect("ok");
        let mut edns_q = Q.to_vec();
        edns_q[11] = 1;
        wire::push_opt(&mut edns_q, true, 0);
        let q = parse_query(&edns_q).expect("query");
        let stale = e.render(&edns_q, &q, t0 + Duration::from_secs(9999), Some(30), None);
        assert_eq!(ttls_of(&stale), vec![30]);
        assert_eq!(wire::layout(&stale).expect("valid").additional[0].rtype, TYPE_OPT);
        let tc = e.render(&edns_q, &q, t0, None, Some(40));
        assert_eq!(tc[2] & 0x02, 0x02);
        let l = wire::layout(&tc).expect("valid");
        assert!(l.answers.is_empty());
        assert_eq!(l.additional.len(), 1);
    }

    #[test]
    fn extended_rcodes_big_answers_and_huge_ttls() {
        let t0 = Instant::now();
        let p = Policy::default();
        let mut badcookie = response(0, None, Some((60, 60)), true);
        let opt_ttl = badcookie.len() - 6;
        badcookie[opt_ttl] = 1; // extended RCODE 1 << 4 | 7 = 23 (BADCOOKIE)
        badcookie[3] = (badcookie[3] & 0xf0) | 7;
        assert_eq!(Entry::from_response(&badcookie, t0, &p), Err(Uncacheable::Rcode));
        let mut badvers = badcookie.clone();
        badvers[3] &= 0xf0; // 1 << 4 | 0 = 16 (BADVERS): header says NOERROR
        assert_eq!(
            Entry::from_response(&badvers, t0, &p),
            Err(Uncacheable::ExtendedRcode)
        );
        let e = Entry::passthrough(&badcookie, t0).expect("answered once");
        let q = parse_query(Q).expect("query");
        assert_eq!(
            e.render(Q, &q, t0, None, None)[3] & 0x0f,
            rcode::SERVFAIL,
            "no EDNS: SERVFAIL"
        );
        let mut m = response(0, None, None, false);
        m[7] = 1;
        m.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c");
        let rdata = vec![5u8; MAX_CACHED];
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        assert_eq!(Entry::from_response(&m, t0, &p), Err(Uncacheable::TooLarge));
        let huge = Entry::from_response(&response(0, Some(0x8000_0000), None, false), t0, &p);
        assert_eq!(
            huge,
            Err(Uncacheable::ZeroTtl),
            "RFC 2181: a TTL with the top bit set is zero"
        );
    }

    #[test]
    fn a_failed_refresh_defers_the_next_one() {
        let t0 = Instant::now();
        let e = Entry::from_response(&response(0, Some(1), None, false), t0, &Policy::default()).expect("ok");
        assert!(!e.refresh_deferred(t0));
        let deferred = e.failed_refresh(t0 + Duration::from_secs(30));
        assert!(deferred.refresh_deferred(t0 + Duration::from_secs(29)));
        assert!(!deferred.refresh_deferred(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn trailing_bytes_after_the_last_record_are_not_kept() {
        let t0 = Instant::now();
        let mut junk = response(0, Some(300), None, false);
        junk.extend_from_slice(b"\x0a\x3c");
        let e = Entry::from_response(&junk, t0, &Policy::default()).expect("cacheable");
        let mut edns_q = Q.to_vec();
        edns_q[11] = 1;
        wire::push_opt(&mut edns_q, false, 0);
        let q = parse_query(&edns_q).expect("query");
        let out = e.render(&edns_q, &q, t0, None, None);
        let l = wire::layout(&out).expect("well formed");
        assert_eq!(l.additional.last().map(|r| r.end), Some(out.len()));
    }

    #[test]
    fn touch_keeps_an_entry_from_being_the_one_evicted() {
        let t0 = Instant::now();
        let cache = Cache::new(2 * SHARDS); // two entries per shard
        let e =
            Entry::from_response(&response(0, Some(300), None, false), t0, &Policy::default()).expect("ok");
        let key = |i: u32| Key {
            qname: i.to_be_bytes().to_vec().into(),
            qtype: 1,
            qclass: 1,
            dnssec_ok: false,
            cd: false,
        };
        // Three keys of one shard.
        let shard_of = |k: &Key| (cache.hasher.hash_one(k) as usize) % SHARDS;
        let first = shard_of(&key(0));
        let same: Vec<Key> = (1..).map(key).filter(|k| shard_of(k) == first).take(2).collect();
        let (a, b, c) = (key(0), same[0].clone(), same[1].clone());
        cache.insert(a.clone(), e.clone());
        cache.insert(b.clone(), e.clone());
        cache.touch(&a); // a is now the most recently used: b goes
        cache.insert(c, e.clone());
        assert!(matches!(cache.get(&a, t0), Lookup::Fresh(_)), "touched: kept");
        assert!(matches!(cache.get(&b, t0), Lookup::Miss), "untouched: evicted");
    }

    #[test]
    fn bounded_with_lru_eviction_and_case_insensitive_keys() {
        let t0 = Instant::now();
        let cache = Cache::new(SHARDS); // one entry per shard
        let e =
            Entry::from_response(&response(0, Some(300), None, false), t0, &Policy::default()).expect("ok");
        for i in 0..1000u32 {
            let key = Key {
                qname: i.to_be_bytes().to_vec().into(),
                qtype: 1,
                qclass: 1,
                dnssec_ok: false,
                cd: false,
            };
            cache.insert(key, e.clone());
        }
        assert!(cache.len() <= SHARDS);
        let upper = parse_query(Q).expect("query");
        let mut lower_raw = Q.to_vec();
        lower_raw[13..16].copy_from_slice(b"www");
        let lower = parse_query(&lower_raw).expect("query");
        assert_eq!(Key::of(&upper), Key::of(&lower));
    }
}
