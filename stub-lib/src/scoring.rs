//! Passive health of one upstream, and the ranking of upstreams.
//!
//! Pure: no clock, no I/O. Every event carries `now`, so the tests drive it
//! on a virtual clock.
//!
//! ```text
//!            answer (any)                    fall consecutive failures
//!   ┌────┐ ◀──────────────────────── ┌──────┐ ◀───────────────────────── ┌────┐
//!   │ Up │                           │ Down │                            │ Up │
//!   └────┘ ────────────────────────▶ └──────┘ ──probe fails: backoff ×2──┐└────┘
//!      down_after failures in a row      ▲ next_probe = now + backoff     │
//!                                         └────────────────────────────────┘
//! ```
//!
//! The RTT estimate is RFC 6298's: `srtt ← 7/8·srtt + 1/8·r`,
//! `rttvar ← 3/4·rttvar + 1/4·|srtt − r|`, and the hedge delay is the
//! retransmission timeout `srtt + 4·rttvar`, clamped between a floor and a
//! ceiling. An upstream with no sample yet is assumed to answer in
//! `initial_rtt`, so a silent newcomer is hedged over quickly.

use std::time::{Duration, Instant};

/// Tuning of the health model. The defaults suit loopback through WAN upstreams.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthParams {
    /// Assumed RTT of an upstream that has not answered yet; it is also the
    /// hedge delay before the first sample.
    pub initial_rtt: Duration,
    /// Never hedge sooner than this after asking an upstream.
    pub hedge_floor: Duration,
    /// Never wait longer than this before asking the next upstream.
    pub hedge_ceiling: Duration,
    /// Consecutive failures that mark an upstream down.
    pub down_after: u32,
    /// Least wait before a new round re-asks upstreams already asked (doubling
    /// per round; capped at half the per-attempt timeout).
    pub retransmit_floor: Duration,
    /// First delay before probing a down upstream.
    pub probe_backoff_min: Duration,
    /// Longest delay between probes of a down upstream.
    pub probe_backoff_max: Duration,
}

impl Default for HealthParams {
    fn default() -> Self {
        HealthParams {
            initial_rtt: Duration::from_millis(20),
            hedge_floor: Duration::from_millis(5),
            hedge_ceiling: Duration::from_secs(1),
            down_after: 3,
            retransmit_floor: Duration::from_millis(400),
            probe_backoff_min: Duration::from_millis(500),
            probe_backoff_max: Duration::from_secs(30),
        }
    }
}

/// Whether an upstream is used on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Answering: ranked by expected response time.
    Up,
    /// Failed `down_after` times in a row: asked only when nothing up is left,
    /// and probed in the background until it answers.
    Down,
}

impl State {
    /// `"up"` or `"down"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
        }
    }
}

/// How an exchange with an upstream ended, from the health model's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A valid answer after `rtt`.
    Answer(Duration),
    /// Silent for `elapsed` until given up on or overtaken by another upstream;
    /// `elapsed` is a lower bound of its RTT.
    Silent(Duration),
    /// An immediate failure (port unreachable, a transport error).
    Failed,
    /// A DNS reply that is no answer (REFUSED, SERVFAIL, NOTIMP, FORMERR)
    /// after `rtt`: the upstream is alive (a healthy server refuses names it
    /// does not serve, and fails names whose own servers are broken), so
    /// this never counts towards marking it down; it only ranks behind
    /// upstreams that answered, until it answers again.
    Declined(Duration),
    /// Cancelled before it could tell us anything (another upstream answered
    /// before this one was due): no information.
    Cancelled,
}

/// A change of [`State`], returned so the caller can log and count it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The new state.
    pub to: State,
    /// Consecutive failures at the time of the change.
    pub failures: u32,
}

/// Everything known about one upstream's health.
#[derive(Debug, Clone)]
pub struct Health {
    srtt: Option<Duration>,
    rttvar: Duration,
    inflight: u32,
    failures: u32,
    state: State,
    backoff: Duration,
    next_probe: Option<Instant>,
    probing: bool,
    last_sample: Option<Instant>,
    /// Its last word was a reply that is no answer (REFUSED, SERVFAIL, ...).
    declining: bool,
    /// Whether a reply (not only a silence) ever gave an RTT sample.
    measured: bool,
    sent: u64,
    answered: u64,
    failed: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            srtt: None,
            rttvar: Duration::ZERO,
            inflight: 0,
            failures: 0,
            state: State::Up,
            backoff: Duration::ZERO,
            next_probe: None,
            probing: false,
            last_sample: None,
            declining: false,
            measured: false,
            sent: 0,
            answered: 0,
            failed: 0,
        }
    }
}

impl Health {
    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Smoothed RTT, if any answer was seen.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Smoothed RTT once a reply was measured; `None` while the estimate
    /// is a guess (the initial RTT, or only silences given up on).
    pub fn measured_srtt(&self) -> Option<Duration> {
        self.srtt.filter(|_| self.measured)
    }

    /// Consecutive failures since the last answer.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether its last word was a reply that is no answer (alive, ranked behind).
    pub fn declining(&self) -> bool {
        self.declining
    }

    /// Queries sent to this upstream, answered by it, and failed by it.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.sent, self.answered, self.failed)
    }

    /// Exchanges currently waiting on this upstream.
    pub fn inflight(&self) -> u32 {
        self.inflight
    }

    /// When the last RTT sample was taken.
    pub fn last_sample(&self) -> Option<Instant> {
        self.last_sample
    }

    /// How long to wait on this upstream before also asking the next one.
    pub fn hedge_delay(&self, p: &HealthParams) -> Duration {
        let rto = match self.srtt {
            Some(srtt) => srtt + 4 * self.rttvar,
            None => p.initial_rtt,
        };
        rto.clamp(p.hedge_floor, p.hedge_ceiling.max(p.hedge_floor))
    }

    /// The ranking key: expected response time, inflated by work already
    /// queued on this upstream (each in-flight exchange adds an eighth).
    pub fn score(&self, p: &HealthParams) -> Duration {
        let base = self.srtt.map_or(p.initial_rtt, |s| s + self.rttvar);
        base + base * self.inflight / 8
    }

    /// A query was sent to this upstream.
    pub fn on_sent(&mut self) {
        self.inflight += 1;
        self.sent += 1;
    }

    /// An exchange ended; updates the estimate, the failure streak and the state.
    pub fn on_outcome(&mut self, now: Instant, outcome: Outcome, p: &HealthParams) -> Option<Transition> {
        self.inflight = self.inflight.saturating_sub(1);
        match outcome {
            Outcome::Cancelled => None,
            Outcome::Answer(rtt) => {
                self.sample(now, rtt);
                self.measured = true;
                self.answered += 1;
                self.failures = 0;
                self.declining = false;
                self.bring_up()
            }
            Outcome::Declined(rtt) => {
                self.sample(now, rtt);
                self.measured = true;
                self.failed += 1;
                self.failures = 0;
                self.declining = true;
                self.bring_up()
            }
            Outcome::Silent(elapsed) => {
                // A censored sample: the true RTT is at least `elapsed`.
                if self.srtt.is_none_or(|s| elapsed > s) {
                    self.sample(now, elapsed);
                }
                self.fail(now, p)
            }
            Outcome::Failed => self.fail(now, p),
        }
    }

    /// Whether a background probe of this (down) upstream is due.
    pub fn probe_due(&self, now: Instant) -> bool {
        self.state == State::Down && !self.probing && self.next_probe.is_some_and(|t| t <= now)
    }

    /// When the next probe is due, if the upstream is down.
    pub fn next_probe(&self) -> Option<Instant> {
        match self.state {
            State::Down if !self.probing => self.next_probe,
            _ => None,
        }
    }

    /// A background exchange (probe or exploration) has started; at most one
    /// runs per upstream.
    pub fn begin_background(&mut self) -> bool {
        if self.probing {
            return false;
        }
        self.probing = true;
        true
    }

    /// The background exchange ended with `outcome`.
    pub fn end_background(&mut self, now: Instant, outcome: Outcome, p: &HealthParams) -> Option<Transition> {
        self.probing = false;
        let was_down = self.state == State::Down;
        let transition = self.on_outcome(now, outcome, p);
        if was_down && self.state == State::Down {
            // Still down: wait twice as long before the next probe.
            self.backoff = (self.backoff * 2).clamp(p.probe_backoff_min, p.probe_backoff_max);
            self.next_probe = Some(now + self.backoff);
        }
        transition
    }

    fn sample(&mut self, now: Instant, rtt: Duration) {
        self.last_sample = Some(now);
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    fn fail(&mut self, now: Instant, p: &HealthParams) -> Option<Transition> {
        self.failures = self.failures.saturating_add(1);
        self.failed += 1;
        if self.state == State::Up && self.failures >= p.down_after {
            self.state = State::Down;
            self.backoff = p.probe_backoff_min;
            self.next_probe = Some(now + self.backoff);
            return Some(Transition {
                to: State::Down,
                failures: self.failures,
            });
        }
        None
    }

    fn bring_up(&mut self) -> Option<Transition> {
        if self.state == State::Down {
            self.state = State::Up;
            self.next_probe = None;
            self.backoff = Duration::ZERO;
            return Some(Transition {
                to: State::Up,
                failures: 0,
            });
        }
        None
    }
}

/// Orders upstreams for one query: up ones without recent failures by score,
/// then up ones with failures (or whose last word was a refusal) by score, then down ones by the probe they
/// are closest to. Ties keep configuration order.
///
/// With `rotate` (glibc's `options rotate`), the first place rotates by
/// `rotation` among the clean up upstreams whose score is within twice the best,
/// spreading load without giving up health-weighting.
pub fn rank(health: &[Health], p: &HealthParams, rotate: bool, rotation: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..health.len()).collect();
    order.sort_by_key(|&i| {
        let h = &health[i];
        match h.state {
            State::Up => (0u8, u8::from(h.failures > 0 || h.declining), h.score(p), None),
            State::Down => (1u8, 0, Duration::ZERO, h.next_probe),
        }
    });
    if rotate {
        if let Some(&best) = order.first() {
            let limit = health[best].score(p) * 2;
            let peers = order
                .iter()
                .take_while(|&&i| {
                    let h = &health[i];
                    h.state == State::Up && h.failures == 0 && !h.declining && h.score(p) <= limit
                })
                .count();
            if peers > 1 {
                order[..peers].rotate_left(rotation % peers);
            }
        }
    }
    order
}

/// How often one upstream's state changes are logged: an upstream that
/// flaps (a broken path, an upstream that fails some names) changes state
/// many times a minute, and one log line per change buries everything else.
/// The first change is logged at once; later ones within `quiet` of the last
/// logged one are only counted, and the next logged line says how many.
#[derive(Debug, Clone, Default)]
pub struct LogGate {
    last: Option<Instant>,
    suppressed: u32,
}

impl LogGate {
    /// Least time between two logged changes of one upstream.
    pub const QUIET: Duration = Duration::from_secs(30);

    /// A state change at `now`: `Some(n)` to log it (with `n` changes left
    /// unlogged since the last line), `None` to count it quietly.
    pub fn admit(&mut self, now: Instant) -> Option<u32> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < Self::QUIET => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_silence_is_no_measured_rtt() {
        let (p, t0) = (HealthParams::default(), Instant::now());
        let mut h = Health::default();
        h.on_sent();
        h.on_outcome(t0, Outcome::Silent(p.initial_rtt), &p);
        assert_eq!(h.srtt(), Some(p.initial_rtt), "the censored sample ranks it");
        assert_eq!(h.measured_srtt(), None, "but nothing was measured");
        h.on_sent();
        h.on_outcome(t0, Outcome::Declined(Duration::from_millis(3)), &p);
        assert!(h.measured_srtt().is_some(), "a REFUSED is a reply with an RTT");
    }

    #[test]
    fn unknown_upstream_uses_initial_estimate() {
        let p = HealthParams::default();
        let h = Health::default();
        assert_eq!(h.hedge_delay(&p), p.initial_rtt);
        assert_eq!(h.state(), State::Up);
    }

    #[test]
    fn rtt_estimate_follows_rfc6298_and_clamps() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let mut h = Health::default();
        h.on_sent();
        h.on_outcome(t0, Outcome::Answer(ms(40)), &p);
        assert_eq!(h.srtt(), Some(ms(40)));
        // rto = 40 + 4 * 20 = 120 ms
        assert_eq!(h.hedge_delay(&p), ms(120));
        for _ in 0..50 {
            h.on_sent();
            h.on_outcome(t0, Outcome::Answer(Duration::from_micros(100)), &p);
        }
        // Converged to a fast upstream: the floor applies.
        assert_eq!(h.hedge_delay(&p), p.hedge_floor);
        assert!(h.srtt().expect("srtt") < ms(1));
    }

    #[test]
    fn a_flapping_upstream_is_logged_once_per_quiet_period() {
        let t0 = Instant::now();
        let mut gate = LogGate::default();
        assert_eq!(gate.admit(t0), Some(0), "the first change is logged");
        let quiet: Vec<_> = (1..=168).map(|i| gate.admit(t0 + ms(i * 150))).collect();
        assert!(quiet.iter().all(Option::is_none), "169 changes in 25 s: one line");
        assert_eq!(
            gate.admit(t0 + LogGate::QUIET),
            Some(168),
            "then one line that counts them"
        );
        assert_eq!(gate.admit(t0 + LogGate::QUIET * 3), Some(0));
    }

    /// A server that refuses names outside its zones is healthy: refusals
    /// never take it down, however many, but rank it behind one that answers.
    #[test]
    fn refusals_never_take_an_upstream_down_but_rank_it_last() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let (mut declining, mut answering) = (Health::default(), Health::default());
        for i in 0..10 {
            declining.on_sent();
            assert_eq!(
                declining.on_outcome(t0, Outcome::Declined(ms(1)), &p),
                None,
                "refusal {i}"
            );
        }
        assert_eq!(declining.state(), State::Up);
        assert_eq!(declining.failures(), 0);
        answering.on_outcome(t0, Outcome::Answer(ms(30)), &p);
        assert_eq!(
            rank(&[declining.clone(), answering], &p, false, 0),
            vec![1, 0],
            "the slower one that answers first"
        );
        declining.on_outcome(t0, Outcome::Answer(ms(1)), &p);
        assert!(!declining.declining());
    }

    #[test]
    fn consecutive_failures_take_it_down_and_an_answer_brings_it_up() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let mut h = Health::default();
        for i in 1..p.down_after {
            h.on_sent();
            assert_eq!(h.on_outcome(t0, Outcome::Failed, &p), None, "failure {i}");
        }
        h.on_sent();
        let t = h.on_outcome(t0, Outcome::Silent(ms(25)), &p);
        assert_eq!(
            t,
            Some(Transition {
                to: State::Down,
                failures: p.down_after
            })
        );
        assert_eq!(h.state(), State::Down);
        assert!(!h.probe_due(t0));
        assert!(h.probe_due(t0 + p.probe_backoff_min));
        h.on_sent();
        let t = h.on_outcome(t0 + ms(1), Outcome::Answer(ms(1)), &p);
        assert_eq!(
            t,
            Some(Transition {
                to: State::Up,
                failures: 0
            })
        );
        assert_eq!(h.failures(), 0);
    }

    #[test]
    fn probes_back_off_exponentially_up_to_the_cap() {
        let p = HealthParams::default();
        let mut now = Instant::now();
        let mut h = Health::default();
        for _ in 0..p.down_after {
            h.on_sent();
            h.on_outcome(now, Outcome::Failed, &p);
        }
        let mut gaps = Vec::new();
        for _ in 0..10 {
            let due = h.next_probe().expect("down");
            gaps.push(due - now);
            now = due;
            assert!(h.probe_due(now));
            assert!(h.begin_background());
            assert!(!h.begin_background(), "one background exchange at a time");
            h.on_sent();
            h.end_background(now, Outcome::Silent(ms(5000)), &p);
        }
        assert_eq!(gaps[0], p.probe_backoff_min);
        assert_eq!(gaps[1], p.probe_backoff_min * 2);
        assert_eq!(gaps[2], p.probe_backoff_min * 4);
        assert_eq!(*gaps.last().expect("gaps"), p.probe_backoff_max);
    }

    #[test]
    fn silence_is_a_lower_bound_on_rtt() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let mut h = Health::default();
        h.on_sent();
        h.on_outcome(t0, Outcome::Answer(ms(1)), &p);
        h.on_sent();
        h.on_outcome(t0, Outcome::Silent(ms(25)), &p);
        assert!(h.srtt().expect("srtt") > ms(1));
        assert_eq!(h.failures(), 1);
        // Cancelled exchanges change nothing but the in-flight count.
        h.on_sent();
        let before = h.srtt();
        h.on_outcome(t0, Outcome::Cancelled, &p);
        assert_eq!(h.srtt(), before);
        assert_eq!(h.inflight(), 0);
    }

    fn answered(rtt_ms: u64) -> Health {
        let mut h = Health::default();
        h.on_sent();
        h.on_outcome(
            Instant::now(),
            Outcome::Answer(ms(rtt_ms)),
            &HealthParams::default(),
        );
        h
    }

    #[test]
    fn ranking_prefers_fast_clean_up_upstreams() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let mut down = answered(1);
        for _ in 0..p.down_after {
            down.on_sent();
            down.on_outcome(t0, Outcome::Failed, &p);
        }
        let mut flaky = answered(2);
        flaky.on_sent();
        flaky.on_outcome(t0, Outcome::Failed, &p);
        let fast = answered(3);
        let slow = answered(80);
        let unknown = Health::default(); // 20 ms assumed
        let all = [down, flaky, slow, unknown, fast];
        assert_eq!(rank(&all, &p, false, 0), vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn inflight_work_lowers_rank() {
        let p = HealthParams::default();
        let mut busy = answered(10);
        for _ in 0..16 {
            busy.on_sent();
        }
        let idle = answered(15);
        assert_eq!(rank(&[busy, idle], &p, false, 0), vec![1, 0]);
    }

    #[test]
    fn rotate_spreads_among_comparable_upstreams_only() {
        let p = HealthParams::default();
        let all = [answered(10), answered(12), answered(100)];
        let firsts: Vec<usize> = (0..4).map(|r| rank(&all, &p, true, r)[0]).collect();
        assert_eq!(firsts, vec![0, 1, 0, 1]);
        assert_eq!(rank(&all, &p, true, 1)[2], 2);
    }

    #[test]
    fn all_down_are_still_ranked_soonest_probe_first() {
        let p = HealthParams::default();
        let t0 = Instant::now();
        let mut a = Health::default();
        let mut b = Health::default();
        for _ in 0..p.down_after {
            a.on_sent();
            a.on_outcome(t0 + ms(10), Outcome::Failed, &p);
            b.on_sent();
            b.on_outcome(t0, Outcome::Failed, &p);
        }
        assert_eq!(rank(&[a, b], &p, false, 0), vec![1, 0]);
    }
}
