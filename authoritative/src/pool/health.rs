//! One member's health from the results of its checks: `fall` failures in
//! a row take an up member down, `rise` successes in a row bring a down
//! one back (as keepalived and HAProxy count). Before any result a member
//! is unknown; its first result decides at once, so the first answers
//! after a start already leave out a member that was dead at start.

use std::time::Duration;

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No result yet.
    Unknown,
    /// Handed out.
    Up,
    /// Not handed out.
    Down,
}

/// The thresholds of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Successes in a row that bring a down member up.
    pub rise: u32,
    /// Failures in a row that take an up member down.
    pub fall: u32,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The member passed.
    pub ok: bool,
    /// What happened, for the operator ("connected", "timed out after 1 s", "HTTP 503").
    pub reason: String,
    /// How long the check took.
    pub latency: Duration,
}

/// A member's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    state: State,
    /// Results in a row that disagree with the state.
    streak: u32,
    last: Option<Outcome>,
    changed_at: Option<Duration>,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// A member not checked yet.
    pub fn new() -> Health {
        Health {
            state: State::Unknown,
            streak: 0,
            last: None,
            changed_at: None,
        }
    }

    /// Takes the result of a check finished at `now`; returns the change
    /// of state it made (from, to), if any: the one thing to log.
    pub fn observe(&mut self, outcome: Outcome, now: Duration, t: Thresholds) -> Option<(State, State)> {
        let before = self.state;
        let after = match (before, outcome.ok) {
            (State::Unknown, true) => State::Up,
            (State::Unknown, false) => State::Down,
            (State::Up, true) | (State::Down, false) => {
                self.streak = 0;
                before
            }
            (State::Up, false) | (State::Down, true) => {
                self.streak += 1;
                let needed = if before == State::Up { t.fall } else { t.rise };
                if self.streak >= needed.max(1) {
                    if before == State::Up {
                        State::Down
                    } else {
                        State::Up
                    }
                } else {
                    before
                }
            }
        };
        self.last = Some(outcome);
        if after == before {
            return None;
        }
        self.state = after;
        self.streak = 0;
        self.changed_at = Some(now);
        Some((before, after))
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The last result, with its reason.
    pub fn last(&self) -> Option<&Outcome> {
        self.last.as_ref()
    }

    /// When the state last changed.
    pub fn changed_at(&self) -> Option<Duration> {
        self.changed_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ok: bool) -> Outcome {
        Outcome {
            ok,
            reason: if ok { "connected".into() } else { "refused".into() },
            latency: Duration::from_millis(1),
        }
    }

    const T: Thresholds = Thresholds { rise: 2, fall: 3 };

    #[test]
    fn the_first_result_decides_then_rise_and_fall_count_in_a_row() {
        let s = Duration::from_secs;
        let mut h = Health::new();
        assert_eq!(h.state(), State::Unknown);
        assert_eq!(
            h.observe(result(false), s(0), T),
            Some((State::Unknown, State::Down))
        );
        // Down: one success is not enough, a failure between restarts the count.
        assert_eq!(h.observe(result(true), s(1), T), None);
        assert_eq!(h.observe(result(false), s(2), T), None);
        assert_eq!(h.observe(result(true), s(3), T), None);
        assert_eq!(h.observe(result(true), s(4), T), Some((State::Down, State::Up)));
        assert_eq!(h.changed_at(), Some(s(4)));
        // Up: three failures in a row, not two.
        assert_eq!(h.observe(result(false), s(5), T), None);
        assert_eq!(h.observe(result(false), s(6), T), None);
        assert_eq!(h.observe(result(true), s(7), T), None);
        assert_eq!(h.observe(result(false), s(8), T), None);
        assert_eq!(h.observe(result(false), s(9), T), None);
        assert_eq!(h.observe(result(false), s(10), T), Some((State::Up, State::Down)));
        assert_eq!(h.last().map(|o| o.reason.as_str()), Some("refused"));
        let mut up = Health::new();
        assert_eq!(
            up.observe(result(true), s(0), T),
            Some((State::Unknown, State::Up))
        );
    }
}
