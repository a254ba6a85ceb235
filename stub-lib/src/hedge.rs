//! When to ask which upstream, for one query. Pure: the driver in
//! `engine.rs` feeds it `now` and exchange results and does what it says.
//!
//! ```text
//!  t=0        send #1 ──(hedge delay of #1)──▶ send #2 ──(delay of #2)──▶ send #3
//!   │   fast failure of any in-flight upstream: the next send is due at once
//!   │   definite failure (an error RCODE, ICMP unreachable): that upstream is
//!   │   not asked again; once every upstream has given one, give up at once
//!   │   every upstream asked, still nothing: a new round, delays doubled and
//!   │   at least the retransmission floor (doubling too) after the last send
//!   └── deadline (timeout × attempts): give up; all in-flight count as silent
//! ```
//!
//! The first valid answer ends the plan; the driver cancels what is still
//! in flight. Fan-out mode is the same plan with zero delays in the first
//! round.

use std::time::{Duration, Instant};

/// What the driver should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the query to this upstream (an index into the order given).
    Send(usize),
    /// Nothing to do before this instant unless an exchange ends first.
    Wait(Instant),
    /// The deadline passed, or every send was made and every one failed.
    GiveUp,
}

/// The schedule of sends for one query.
#[derive(Debug, Clone)]
pub struct HedgePlan {
    /// Upstream index and the delay after sending to it before the next send.
    order: Vec<(usize, Duration)>,
    rounds: u32,
    sent: usize,
    next_at: Instant,
    deadline: Instant,
    in_flight: usize,
    retransmit_floor: Duration,
    /// Upstreams that gave a definite answer that is not an answer (REFUSED,
    /// SERVFAIL, NOTIMP, port unreachable): asking again would only repeat it.
    definite: Vec<usize>,
    /// Places of the schedule passed over because of `definite`.
    skipped: usize,
}

impl HedgePlan {
    /// A plan over `order` (best first, each with its hedge delay), `rounds`
    /// passes at most, ending at `deadline`. The first send is due at `now`.
    pub fn new(order: Vec<(usize, Duration)>, rounds: u32, now: Instant, deadline: Instant) -> Self {
        HedgePlan {
            order,
            rounds: rounds.max(1),
            sent: 0,
            next_at: now,
            deadline,
            in_flight: 0,
            retransmit_floor: Duration::ZERO,
            definite: Vec::new(),
            skipped: 0,
        }
    }

    /// Waits at least `floor × 2^round` before a new round re-asks the same
    /// upstreams: hedging to another upstream may be quick, repeating a
    /// question to one that is merely slow should not be.
    pub fn with_retransmit_floor(mut self, floor: Duration) -> Self {
        self.retransmit_floor = floor;
        self
    }

    /// A fan-out plan: every upstream at once, then later rounds as usual.
    pub fn fan_out(mut order: Vec<(usize, Duration)>, rounds: u32, now: Instant, deadline: Instant) -> Self {
        let longest = order.iter().map(|&(_, d)| d).max().unwrap_or_default();
        let last = order.len().saturating_sub(1);
        for (i, entry) in order.iter_mut().enumerate() {
            entry.1 = if i == last { longest } else { Duration::ZERO };
        }
        Self::new(order, rounds, now, deadline)
    }

    fn total(&self) -> usize {
        self.order.len() * self.rounds as usize
    }

    /// The next step at `now`. Call again after acting on a `Send`.
    pub fn poll(&mut self, now: Instant) -> Step {
        if now >= self.deadline || self.all_definite() {
            return Step::GiveUp;
        }
        // Later rounds skip the upstreams that already said no.
        while self.sent < self.total()
            && self
                .definite
                .contains(&self.order[self.sent % self.order.len()].0)
        {
            self.sent += 1;
            self.skipped += 1;
        }
        if self.sent < self.total() {
            if now >= self.next_at {
                let len = self.order.len();
                let (upstream, delay) = self.order[self.sent % len];
                let round = (self.sent / len) as u32;
                self.sent += 1;
                self.in_flight += 1;
                let factor = 2u32.saturating_pow(round);
                let mut wait = delay * factor;
                if self.sent % len == 0 {
                    wait = wait.max(self.retransmit_floor * factor);
                }
                self.next_at = now + wait;
                return Step::Send(upstream);
            }
            return Step::Wait(self.next_at.min(self.deadline));
        }
        if self.in_flight == 0 {
            return Step::GiveUp;
        }
        Step::Wait(self.deadline)
    }

    /// Whether every upstream of the plan gave a definite failure.
    pub fn all_definite(&self) -> bool {
        !self.order.is_empty() && self.order.iter().all(|(u, _)| self.definite.contains(u))
    }

    /// An in-flight exchange with `upstream` failed fast: move on to the
    /// next send at once. `definite`: it answered with an error RCODE or
    /// ICMP said nothing listens, so it is not asked again in this plan.
    pub fn on_failed(&mut self, now: Instant, upstream: usize, definite: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if definite && !self.definite.contains(&upstream) {
            self.definite.push(upstream);
        }
        // Within a round only: a new round (re-asking upstreams that already
        // failed) still waits for the retransmission floor, so a name that
        // fails everywhere does not turn into a burst of upstream queries.
        let len = self.order.len().max(1);
        if self.sent % len != 0 {
            self.next_at = self.next_at.min(now);
        } else if self.in_flight == 0 {
            // The whole round failed fast: its hedge delays mean nothing now,
            // only the retransmission floor does.
            let round = (self.sent / len).saturating_sub(1) as u32;
            self.next_at = self
                .next_at
                .min(now + self.retransmit_floor * 2u32.saturating_pow(round));
        }
    }

    /// Queries sent so far.
    pub fn sent(&self) -> usize {
        self.sent - self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn hedges_after_each_upstreams_own_delay() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(2, ms(5)), (0, ms(30)), (1, ms(7))], 1, t0, t0 + ms(10_000));
        assert_eq!(plan.poll(t0), Step::Send(2));
        assert_eq!(plan.poll(t0), Step::Wait(t0 + ms(5)));
        assert_eq!(plan.poll(t0 + ms(4)), Step::Wait(t0 + ms(5)));
        assert_eq!(plan.poll(t0 + ms(5)), Step::Send(0));
        assert_eq!(plan.poll(t0 + ms(5)), Step::Wait(t0 + ms(35)));
        assert_eq!(plan.poll(t0 + ms(35)), Step::Send(1));
        // Everything sent: wait for answers until the deadline.
        assert_eq!(plan.poll(t0 + ms(36)), Step::Wait(t0 + ms(10_000)));
        assert_eq!(plan.poll(t0 + ms(10_000)), Step::GiveUp);
    }

    #[test]
    fn fast_failure_moves_on_at_once() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(0, ms(25)), (1, ms(25))], 1, t0, t0 + ms(1000));
        assert_eq!(plan.poll(t0), Step::Send(0));
        plan.on_failed(t0 + ms(1), 0, false); // a transport error
        assert_eq!(plan.poll(t0 + ms(1)), Step::Send(1));
        plan.on_failed(t0 + ms(2), 1, false);
        assert_eq!(plan.poll(t0 + ms(2)), Step::GiveUp, "all asked, all failed");
    }

    #[test]
    fn a_new_round_after_fast_failures_still_waits_for_the_floor() {
        let t0 = Instant::now();
        let mut plan =
            HedgePlan::new(vec![(0, ms(5)), (1, ms(5))], 2, t0, t0 + ms(5000)).with_retransmit_floor(ms(400));
        assert_eq!(plan.poll(t0), Step::Send(0));
        plan.on_failed(t0 + ms(1), 0, false);
        assert_eq!(
            plan.poll(t0 + ms(1)),
            Step::Send(1),
            "moves on at once within the round"
        );
        plan.on_failed(t0 + ms(2), 1, false);
        assert_eq!(
            plan.poll(t0 + ms(2)),
            Step::Wait(t0 + ms(401)),
            "re-asking waits for the floor"
        );
        assert_eq!(plan.poll(t0 + ms(401)), Step::Send(0));
    }

    /// REFUSED/SERVFAIL/NOTIMP or port unreachable from every upstream:
    /// the plan ends at once instead of re-asking after the floor.
    #[test]
    fn definite_failures_from_every_upstream_give_up_at_once() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(3, ms(5)), (1, ms(5))], 4, t0, t0 + ms(10_000))
            .with_retransmit_floor(ms(400));
        assert_eq!(plan.poll(t0), Step::Send(3));
        plan.on_failed(t0 + ms(1), 3, true);
        assert_eq!(plan.poll(t0 + ms(1)), Step::Send(1), "the next one at once");
        assert!(!plan.all_definite());
        plan.on_failed(t0 + ms(2), 1, true);
        assert!(plan.all_definite());
        assert_eq!(plan.poll(t0 + ms(2)), Step::GiveUp, "no new round");
        assert_eq!(plan.sent(), 2);
    }

    /// One upstream refuses, the other is silent: only the silent one is
    /// asked again in later rounds.
    #[test]
    fn later_rounds_skip_an_upstream_that_said_no() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(0, ms(5)), (1, ms(5))], 3, t0, t0 + ms(10_000))
            .with_retransmit_floor(ms(400));
        assert_eq!(plan.poll(t0), Step::Send(0));
        plan.on_failed(t0 + ms(1), 0, true);
        assert_eq!(plan.poll(t0 + ms(1)), Step::Send(1));
        // 1 stays silent: round two asks 1 only, after the floor.
        assert_eq!(plan.poll(t0 + ms(2)), Step::Wait(t0 + ms(401)));
        assert_eq!(plan.poll(t0 + ms(401)), Step::Send(1), "0 is skipped");
        assert_eq!(plan.poll(t0 + ms(402)), Step::Wait(t0 + ms(1201)));
        assert_eq!(plan.poll(t0 + ms(1201)), Step::Send(1));
        assert_eq!(plan.poll(t0 + ms(1202)), Step::Wait(t0 + ms(10_000)));
        assert_eq!(plan.sent(), 4, "skipped places are not sends");
    }

    #[test]
    fn later_rounds_retry_with_doubled_delays() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(0, ms(10)), (1, ms(20))], 2, t0, t0 + ms(1000));
        assert_eq!(plan.poll(t0), Step::Send(0));
        assert_eq!(plan.poll(t0 + ms(10)), Step::Send(1));
        assert_eq!(plan.poll(t0 + ms(30)), Step::Send(0));
        assert_eq!(plan.poll(t0 + ms(30)), Step::Wait(t0 + ms(50)));
        assert_eq!(plan.poll(t0 + ms(50)), Step::Send(1));
        assert_eq!(plan.sent(), 4);
        assert_eq!(plan.poll(t0 + ms(51)), Step::Wait(t0 + ms(1000)));
    }

    #[test]
    fn retransmissions_wait_for_the_floor() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(0, ms(5)), (1, ms(5))], 3, t0, t0 + ms(10_000))
            .with_retransmit_floor(ms(400));
        assert_eq!(plan.poll(t0), Step::Send(0));
        assert_eq!(
            plan.poll(t0 + ms(5)),
            Step::Send(1),
            "hedging to another upstream stays quick"
        );
        assert_eq!(plan.poll(t0 + ms(6)), Step::Wait(t0 + ms(405)));
        assert_eq!(plan.poll(t0 + ms(405)), Step::Send(0));
        assert_eq!(plan.poll(t0 + ms(415)), Step::Send(1));
        assert_eq!(plan.poll(t0 + ms(416)), Step::Wait(t0 + ms(1215)), "then 800 ms");
    }

    #[test]
    fn waits_never_pass_the_deadline() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![(0, ms(900)), (1, ms(10))], 1, t0, t0 + ms(100));
        assert_eq!(plan.poll(t0), Step::Send(0));
        assert_eq!(plan.poll(t0), Step::Wait(t0 + ms(100)));
        assert_eq!(plan.poll(t0 + ms(100)), Step::GiveUp);
    }

    #[test]
    fn fan_out_sends_to_all_at_once() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::fan_out(vec![(0, ms(10)), (1, ms(20)), (2, ms(5))], 1, t0, t0 + ms(1000));
        assert_eq!(plan.poll(t0), Step::Send(0));
        assert_eq!(plan.poll(t0), Step::Send(1));
        assert_eq!(plan.poll(t0), Step::Send(2));
        assert_eq!(plan.poll(t0), Step::Wait(t0 + ms(1000)));
    }

    #[test]
    fn empty_order_gives_up() {
        let t0 = Instant::now();
        let mut plan = HedgePlan::new(vec![], 2, t0, t0 + ms(1000));
        assert_eq!(plan.poll(t0), Step::GiveUp);
    }
}
