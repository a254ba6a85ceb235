//! Latency percentiles for `query --repeat`.

use std::time::Duration;

/// Nearest-rank percentiles of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

impl Percentiles {
    /// `None` for an empty set.
    pub(crate) fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| -> Option<Duration> {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted.get(rank - 1).copied()
        };
        Some(Percentiles {
            p50: at(0.50)?,
            p90: at(0.90)?,
            p99: at(0.99)?,
            max: *sorted.last()?,
        })
    }
}

/// Milliseconds with microsecond precision, for printing.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples).expect("non-empty");
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p90, Duration::from_millis(90));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
        assert_eq!(Percentiles::of(&[]), None);
        let one = Percentiles::of(&[Duration::from_millis(7)]).expect("one");
        assert_eq!(one.p50, one.max);
    }
}
