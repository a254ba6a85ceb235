//! The bookkeeping of one lookup's sends, and the rules that turn what each
//! exchange did into what the health model is told. Pure: no clock, no I/O;
//! `engine.rs` drives it and applies what it returns.
//!
//! ```text
//!  send(u, at, hedge delay) ──▶ key
//!  close(key, outcome)      ──▶ Some((u, outcome to record)) | None (already closed)
//!  close_rest(now, by)      ──▶ every open send: overdue and not the answerer's → Silent,
//!                               else Cancelled
//! ```
//!
//! One lookup charges an upstream at most one failure, however many times it
//! was asked (retransmissions, new rounds): a single slow or broken name must
//! not take a healthy upstream down by itself. A second failure of the same
//! upstream within the lookup is recorded as `Cancelled` (its in-flight count
//! still drops, nothing else changes). An upstream that replied in the
//! lookup (an answer, or a reply that is no answer) is alive: its other
//! sends, still open when the lookup ends, are cancelled, not silent (a lost
//! first datagram and a REFUSED retransmission are no failure).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::scoring::Outcome;

/// One send of the lookup.
#[derive(Debug, Clone)]
struct Sent {
    upstream: usize,
    at: Instant,
    delay: Duration,
    done: bool,
}

/// What to tell the health model about one closed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The upstream (index into the configured ones).
    pub upstream: usize,
    /// The outcome to record.
    pub outcome: Outcome,
    /// The failure to count, when the outcome is one.
    pub failure: Option<Failure>,
}

/// The sends of one lookup.
#[derive(Debug, Clone)]
pub struct Ledger {
    sends: Vec<Sent>,
    /// Per upstream: already charged a failure in this lookup.
    charged: Vec<bool>,
    /// Per upstream: replied in this lookup (an answer, or REFUSED & co.).
    replied: Vec<bool>,
    /// Per upstream, its definite no in this lookup (REFUSED, SERVFAIL, ...).
    rejections: Vec<Failure>,
}

impl Ledger {
    /// A ledger over `upstreams` configured upstreams.
    pub fn new(upstreams: usize) -> Self {
        Ledger {
            sends: Vec::new(),
            charged: vec![false; upstreams],
            replied: vec![false; upstreams],
            rejections: Vec::new(),
        }
    }

    /// Records a send to `upstream` at `at`, due to be hedged after `delay`;
    /// returns its key.
    pub fn send(&mut self, upstream: usize, at: Instant, delay: Duration) -> usize {
        self.sends.push(Sent {
            upstream,
            at,
            delay,
            done: false,
        });
        self.sends.len() - 1
    }

    /// The upstream of send `key` and the time since it was sent.
    pub fn of(&self, key: usize, now: Instant) -> Option<(usize, Duration)> {
        self.sends
            .get(key)
            .map(|s| (s.upstream, now.saturating_duration_since(s.at)))
    }

    /// The upstream asked last, if any.
    pub fn last_upstream(&self) -> Option<usize> {
        self.sends.last().map(|s| s.upstream)
    }

    /// Sends so far.
    pub fn len(&self) -> usize {
        self.sends.len()
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Send `key` answered.
    pub fn answered(&mut self, key: usize, rtt: Duration) -> Option<Closed> {
        self.close(key, Outcome::Answer(rtt), None)
    }

    /// Send `key` failed fast with `failure` after `rtt`. A DNS reply
    /// (REFUSED, SERVFAIL, ...) proves the upstream alive (an RTT sample,
    /// never a failure towards down); a
    /// definite no is remembered for the lookup's error.
    pub fn failed(&mut self, key: usize, rtt: Duration, failure: Failure) -> Option<Closed> {
        if failure.is_definite() && !self.rejections.iter().any(|f| f.upstream() == failure.upstream()) {
            self.rejections.push(failure.clone());
        }
        let outcome = if failure.proves_alive() {
            Outcome::Declined(rtt)
        } else {
            Outcome::Failed
        };
        self.close(key, outcome, Some(failure))
    }

    /// The definite refusals seen, one per upstream, in the order they came.
    pub fn take_rejections(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.rejections)
    }

    fn close(&mut self, key: usize, outcome: Outcome, failure: Option<Failure>) -> Option<Closed> {
        let s = self.sends.get_mut(key)?;
        if s.done {
            return None;
        }
        s.done = true;
        let u = s.upstream;
        if matches!(outcome, Outcome::Answer(_) | Outcome::Declined(_)) {
            self.replied[u] = true;
        }
        let (outcome, failure) = match outcome {
            Outcome::Failed | Outcome::Silent(_) if self.charged[u] || self.replied[u] => {
                (Outcome::Cancelled, None)
            }
            Outcome::Failed | Outcome::Silent(_) => {
                self.charged[u] = true;
                (outcome, failure)
            }
            _ => (outcome, failure),
        };
        Some(Closed {
            upstream: u,
            outcome,
            failure,
        })
    }

    /// Closes every open send at `now`: one that was overdue (its hedge
    /// delay passed) to an upstream that did not reply in this lookup
    /// counts as silent; the others as cancelled. `addr` names an upstream for the
    /// timeout failure.
    pub fn close_rest(
        &mut self,
        now: Instant,
        answered_by: Option<usize>,
        addr: impl Fn(usize) -> SocketAddr,
    ) -> Vec<Closed> {
        let mut closed = Vec::new();
        for key in 0..self.sends.len() {
            let s = &self.sends[key];
            if s.done {
                continue;
            }
            let elapsed = now.saturating_duration_since(s.at);
            let replied = answered_by == Some(s.upstream) || self.replied[s.upstream];
            let (outcome, failure) = if elapsed >= s.delay && !replied {
                let upstream = addr(s.upstream);
                (Outcome::Silent(elapsed), Some(Failure::Timeout { upstream }))
            } else {
                (Outcome::Cancelled, None)
            };
            closed.extend(self.close(key, outcome, failure));
        }
        closed
    }

    /// Closes every open send as cancelled (the caller gave up on the lookup).
    pub fn cancel_all(&mut self) -> Vec<Closed> {
        (0..self.sends.len())
            .filter_map(|key| self.close(key, Outcome::Cancelled, None))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::ResponseCode;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn addr(u: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5300 + u as u16))
    }

    fn failures_of(closed: &[Closed], u: usize) -> usize {
        closed
            .iter()
            .filter(|c| c.upstream == u && matches!(c.outcome, Outcome::Failed | Outcome::Silent(_)))
            .count()
    }

    /// Asked three times (two rounds of retransmission) and silent every
    /// time: one failure, not three. Charging per send would count three.
    #[test]
    fn a_lookup_charges_an_upstream_at_most_one_failure() {
        let t0 = Instant::now();
        let mut l = Ledger::new(2);
        l.send(0, t0, ms(20));
        l.send(0, t0 + ms(400), ms(40));
        l.send(0, t0 + ms(1200), ms(80));
        let closed = l.close_rest(t0 + ms(4000), None, addr);
        assert_eq!(closed.len(), 3, "every send is closed");
        assert_eq!(failures_of(&closed, 0), 1);
        assert_eq!(closed[0].failure, Some(Failure::Timeout { upstream: addr(0) }));
        assert!(closed[1..]
            .iter()
            .all(|c| c.outcome == Outcome::Cancelled && c.failure.is_none()));
    }

    /// A fast failure, then the same upstream silent in the next round: still one.
    #[test]
    fn a_fast_failure_and_a_later_silence_are_one_failure() {
        let t0 = Instant::now();
        let mut l = Ledger::new(1);
        let a = l.send(0, t0, ms(20));
        let first = l.failed(
            a,
            ms(1),
            Failure::Transport {
                upstream: addr(0),
                detail: "reset".into(),
            },
        );
        assert_eq!(first.map(|c| c.outcome), Some(Outcome::Failed));
        l.send(0, t0 + ms(400), ms(40));
        let rest = l.close_rest(t0 + ms(4000), None, addr);
        assert_eq!(rest[0].outcome, Outcome::Cancelled);
    }

    /// The answer closes the lookup: a send to another upstream that was
    /// overdue counts as silent; one not yet due, and the answerer's own
    /// earlier send, count as nothing.
    #[test]
    fn after_an_answer_only_overdue_sends_to_others_are_silent() {
        let t0 = Instant::now();
        let mut l = Ledger::new(3);
        l.send(0, t0, ms(20)); // overdue at 30 ms
        let b = l.send(1, t0 + ms(20), ms(50));
        l.send(2, t0 + ms(25), ms(50)); // not yet due
        l.send(1, t0 + ms(26), ms(50)); // the answerer's other send
        assert_eq!(
            l.answered(b, ms(10)).map(|c| c.outcome),
            Some(Outcome::Answer(ms(10)))
        );
        let rest = l.close_rest(t0 + ms(30), Some(1), addr);
        let outcomes: Vec<(usize, Outcome)> = rest.iter().map(|c| (c.upstream, c.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                (0, Outcome::Silent(ms(30))),
                (2, Outcome::Cancelled),
                (1, Outcome::Cancelled)
            ]
        );
    }

    /// REFUSED is an RTT sample, never a charge; port unreachable is a
    /// failure; every definite no is kept
    /// once per upstream for the error.
    #[test]
    fn refusals_are_samples_and_definite_failures_are_remembered() {
        let t0 = Instant::now();
        let mut l = Ledger::new(2);
        let refused = Failure::Rcode {
            upstream: addr(0),
            rcode: ResponseCode::Refused,
        };
        let unreachable = Failure::Unreachable { upstream: addr(1) };
        let a = l.send(0, t0, ms(20));
        let b = l.send(1, t0, ms(20));
        let c = l.send(0, t0 + ms(400), ms(20));
        assert_eq!(
            l.failed(a, ms(2), refused.clone()).map(|c| c.outcome),
            Some(Outcome::Declined(ms(2)))
        );
        assert_eq!(
            l.failed(b, ms(3), unreachable.clone()).map(|c| c.outcome),
            Some(Outcome::Failed)
        );
        assert_eq!(
            l.failed(c, ms(2), refused.clone()).map(|c| c.outcome),
            Some(Outcome::Declined(ms(2)))
        );
        assert_eq!(l.take_rejections(), vec![refused, unreachable]);
        assert_eq!(l.failed(c, ms(2), Failure::NotSent), None, "closed once");
    }

    /// The first datagram was lost, the retransmission got REFUSED: the
    /// upstream is alive, and the open first send is no silence.
    #[test]
    fn an_upstream_that_replied_is_not_charged_for_an_earlier_send() {
        let t0 = Instant::now();
        let mut l = Ledger::new(1);
        l.send(0, t0, ms(20));
        let retry = l.send(0, t0 + ms(400), ms(40));
        let refused = Failure::Rcode {
            upstream: addr(0),
            rcode: ResponseCode::Refused,
        };
        l.failed(retry, ms(1), refused);
        let rest = l.close_rest(t0 + ms(500), None, addr);
        assert_eq!(failures_of(&rest, 0), 0);
        assert_eq!(rest[0].outcome, Outcome::Cancelled);
    }

    /// A reply first, then a transport error from another send to it: the
    /// upstream proved itself alive in this lookup, nothing is charged.
    #[test]
    fn a_failure_after_a_reply_is_no_charge() {
        let t0 = Instant::now();
        let mut l = Ledger::new(1);
        let (a, b) = (l.send(0, t0, ms(20)), l.send(0, t0, ms(20)));
        let servfail = Failure::Rcode {
            upstream: addr(0),
            rcode: ResponseCode::ServFail,
        };
        l.failed(a, ms(1), servfail);
        let reset = Failure::Transport {
            upstream: addr(0),
            detail: "reset".into(),
        };
        assert_eq!(
            l.failed(b, ms(2), reset).map(|c| c.outcome),
            Some(Outcome::Cancelled)
        );
    }

    #[test]
    fn a_dropped_lookup_cancels_what_is_open() {
        let t0 = Instant::now();
        let mut l = Ledger::new(2);
        let a = l.send(0, t0, ms(20));
        l.send(1, t0, ms(20));
        l.answered(a, ms(1));
        let cancelled = l.cancel_all();
        assert_eq!(cancelled.len(), 1);
        assert_eq!(
            (cancelled[0].upstream, cancelled[0].outcome),
            (1, Outcome::Cancelled)
        );
        assert!(l.cancel_all().is_empty());
    }
}
