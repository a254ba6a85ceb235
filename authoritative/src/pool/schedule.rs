//! When a member is checked. The first round runs at once for every
//! member (the first answers wait for it); after that, each member keeps
//! its own phase in the interval (a fixed hash of its key), and each
//! interval is stretched or shrunk by up to ±10% at random, so thousands of
//! checks neither start together nor fall back into step.

use std::time::Duration;

/// How far one interval may stray from the configured one.
pub const JITTER: f64 = 0.10;

/// The delay, after the first round, of the second check of member `key`:
/// its phase in the interval.
pub fn phase(key: &[u8], interval: Duration) -> Duration {
    interval.mul_f64(super::policy::unit_of(key))
}

/// A fixed number in [0, 1) from `key`: where in a spread a member's
/// first check falls.
pub fn unit(key: &[u8]) -> f64 {
    super::policy::unit_of(key)
}

/// The next interval, with `random` (64 random bits) as its jitter.
pub fn next_interval(interval: Duration, random: u64) -> Duration {
    let u = (random >> 11) as f64 / (1u64 << 53) as f64;
    interval.mul_f64(1.0 + JITTER * (2.0 * u - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_members_spread_over_the_interval() {
        let interval = Duration::from_secs(1);
        let mut buckets = [0u32; 10];
        for i in 0..10_000u32 {
            let p = phase(&i.to_be_bytes(), interval);
            assert!(p < interval);
            buckets[(p.as_secs_f64() * 10.0) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| (900..=1100).contains(&b)), "{buckets:?}");
        // The same key always has the same phase (a reload keeps it).
        assert_eq!(phase(b"192.0.2.1", interval), phase(b"192.0.2.1", interval));
    }

    #[test]
    fn intervals_stray_by_at_most_the_jitter() {
        let interval = Duration::from_secs(2);
        let (mut low, mut high) = (interval, interval);
        for r in 0..10_000u64 {
            let d = next_interval(interval, r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            low = low.min(d);
            high = high.max(d);
        }
        assert!(
            low >= interval.mul_f64(0.9) && low < interval.mul_f64(0.92),
            "{low:?}"
        );
        assert!(
            high <= interval.mul_f64(1.1) && high > interval.mul_f64(1.08),
            "{high:?}"
        );
    }
}
