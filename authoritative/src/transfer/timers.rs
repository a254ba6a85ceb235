//! A secondary's SOA timers (RFC 1034 §4.3.5, RFC 1996): when to ask the
//! primaries again, and when the data is too old to serve. Pure: the
//! daemon passes the time, tests pass a virtual one.
//!
//! ```text
//!  no data ─▶ ask now; failures back off 1 s, 2 s, 4 s … 60 s
//!  refreshed (transfer or same serial) ─▶ next = now + REFRESH, expires = now + EXPIRE
//!  failed ─▶ next = now + RETRY (expires unchanged)     NOTIFY ─▶ next = now
//!  now ≥ expires ─▶ expired: SERVFAIL until a refresh succeeds
//! ```

use std::time::Duration;

/// The timers an SOA carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaTimers {
    /// How often to check the primary.
    pub refresh: Duration,
    /// How soon to check again after a failure.
    pub retry: Duration,
    /// How long data may be served without a successful check.
    pub expire: Duration,
}

/// The shortest refresh and retry honoured (a primary's SOA of 0 would
/// spin); EXPIRE is at least REFRESH + RETRY.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait between attempts while the zone has no data.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl SoaTimers {
    /// The timers in SOA RDATA.
    pub fn from_soa(rdata: &[u8]) -> Option<SoaTimers> {
        let fixed = crate::check::soa_fixed(rdata)?;
        let at = |i: usize| -> Option<Duration> {
            let b = fixed.get(i..i + 4)?;
            Some(Duration::from_secs(u64::from(u32::from_be_bytes([
                b[0], b[1], b[2], b[3],
            ]))))
        };
        let (refresh, retry) = (at(4)?.max(MIN_INTERVAL), at(8)?.max(MIN_INTERVAL));
        Some(SoaTimers {
            refresh,
            retry,
            // An EXPIRE shorter than a refresh and a retry would expire
            // between two checks that both succeed (RFC 1912 §2.2).
            expire: at(12)?.max(refresh + retry),
        })
    }
}

/// The refresh state of one secondary zone; times are offsets from any
/// fixed origin (the daemon's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    next: Duration,
    expires: Option<Duration>,
    timers: Option<SoaTimers>,
    failures: u32,
}

impl Refresh {
    /// A zone with no data yet: ask at once.
    pub fn new(now: Duration) -> Refresh {
        Refresh {
            next: now,
            expires: None,
            timers: None,
            failures: 0,
        }
    }

    /// Data read from the saved file, last refreshed `age` ago: it expires
    /// `expire` after that refresh; ask the primaries at once all the same.
    pub fn saved(now: Duration, timers: SoaTimers, age: Duration) -> Refresh {
        Refresh {
            next: now,
            expires: Some((now + timers.expire).saturating_sub(age)),
            timers: Some(timers),
            failures: 0,
        }
    }

    /// A check succeeded (a transfer, or the serial was current).
    pub fn succeeded(&mut self, now: Duration, timers: SoaTimers) {
        self.next = now + timers.refresh;
        self.expires = Some(now + timers.expire);
        self.timers = Some(timers);
        self.failures = 0;
    }

    /// A check failed: try again after RETRY (backing off while there is
    /// no data, whose SOA would say how long).
    pub fn failed(&mut self, now: Duration) {
        self.failures = self.failures.saturating_add(1);
        let wait = match self.timers {
            Some(t) if self.expires.is_some() => t.retry,
            _ => MIN_INTERVAL
                .saturating_mul(1 << self.failures.min(7).saturating_sub(1))
                .min(MAX_BACKOFF),
        };
        self.next = now + wait;
    }

    /// A NOTIFY came from a primary: ask at once.
    pub fn notified(&mut self, now: Duration) {
        self.next = self.next.min(now);
    }

    /// The data expired: it is dropped, and the zone asks as one without data.
    pub fn expire(&mut self) {
        self.expires = None;
    }

    /// When to ask next.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// When the data expires (`None`: no data).
    pub fn expires(&self) -> Option<Duration> {
        self.expires
    }

    /// Whether the data is past its expiry at `now`.
    pub fn is_expired(&self, now: Duration) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// When something is due: the next check or the expiry.
    pub fn wake(&self) -> Duration {
        self.expires.map_or(self.next, |e| e.min(self.next))
    }

    /// Failed checks since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    const T: SoaTimers = SoaTimers {
        refresh: Duration::from_secs(60),
        retry: Duration::from_secs(10),
        expire: Duration::from_secs(300),
    };

    #[test]
    fn refresh_retry_and_expire_follow_the_soa_on_a_virtual_clock() {
        let mut r = Refresh::new(s(0));
        assert_eq!(r.next(), s(0));
        assert_eq!(r.expires(), None);
        // No data yet: failures back off 1, 2, 4 … 60 s.
        r.failed(s(0));
        assert_eq!(r.next(), s(1));
        r.failed(s(1));
        assert_eq!(r.next(), s(3));
        r.failed(s(3));
        assert_eq!(r.next(), s(7));
        for _ in 0..10 {
            r.failed(s(100));
        }
        assert_eq!(r.next(), s(160));
        // A transfer: next at +refresh, expiry at +expire.
        r.succeeded(s(200), T);
        assert_eq!((r.next(), r.expires()), (s(260), Some(s(500))));
        assert_eq!(r.failures(), 0);
        // Failing checks retry every RETRY and do not move the expiry.
        r.failed(s(260));
        assert_eq!(r.next(), s(270));
        r.failed(s(270));
        assert_eq!((r.next(), r.expires()), (s(280), Some(s(500))));
        assert!(!r.is_expired(s(499)));
        assert!(r.is_expired(s(500)));
        assert_eq!(r.wake(), s(280));
        // A NOTIFY brings the check forward, never back.
        r.notified(s(275));
        assert_eq!(r.next(), s(275));
        r.expire();
        assert_eq!(r.expires(), None);
        assert!(!r.is_expired(s(1000)));
    }

    #[test]
    fn a_saved_zone_expires_counting_from_its_last_refresh() {
        let r = Refresh::saved(s(1000), T, s(100));
        assert_eq!(r.next(), s(1000));
        assert_eq!(r.expires(), Some(s(1200)));
        let old = Refresh::saved(s(1000), T, s(400));
        assert!(old.is_expired(s(1000)));
    }

    #[test]
    fn soa_timers_are_read_and_clamped() {
        let mut rdata = vec![0, 0];
        for n in [7u32, 0, 5, 3600, 60] {
            rdata.extend_from_slice(&n.to_be_bytes());
        }
        let t = SoaTimers::from_soa(&rdata).unwrap();
        assert_eq!(t.refresh, MIN_INTERVAL);
        assert_eq!(t.retry, s(5));
        assert_eq!(t.expire, s(3600));
        // EXPIRE 0 (or below REFRESH + RETRY) would expire after every refresh.
        let mut short = vec![0, 0];
        for n in [7u32, 60, 10, 0, 60] {
            short.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(SoaTimers::from_soa(&short).unwrap().expire, s(70));
    }
}
