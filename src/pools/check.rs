//! One member's checks: a task that runs its probe at once, then at its
//! own phase in the interval and every jittered interval after, and turns
//! each result into the member's health (rise and fall), its metrics and,
//! when the state changes, one log line.
//!
//! ```text
//!  probe::run (ends within the timeout) ─▶ Health::observe ─▶ MemberCell (answers)
//!        ▲                                      │              Status (status, pool list)
//!        └── sleep: phase, then interval ±10% ──┘              metrics; a change: one log line
//! ```

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use palanquin_authoritative::pool::health::{Health, Outcome, State, Thresholds};
use palanquin_authoritative::pool::live::MemberCell;
use palanquin_authoritative::pool::probe::{self, Probe};
use palanquin_authoritative::pool::schedule;
use tokio_util::sync::CancellationToken;

use super::metrics as m;

/// What the operator sees of a member beyond its cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct Status {
    /// Rise and fall, and the last result.
    pub(crate) health: Health,
    /// When the last check ended.
    pub(crate) checked_at: Option<SystemTime>,
    /// When the state last changed.
    pub(crate) since: Option<SystemTime>,
}

/// The names a member's log lines and metrics carry.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub(crate) zone: String,
    pub(crate) pool: String,
    /// A or AAAA: an A and an AAAA pool may share a name.
    pub(crate) rtype: &'static str,
    pub(crate) member: String,
}

/// Locks `status`; a panic elsewhere cannot leave it half-written.
pub(crate) fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The checks of one member, until `cancel`.
pub(crate) struct Checker {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) probe: Arc<Probe>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) thresholds: Thresholds,
    pub(crate) labels: Labels,
    pub(crate) cell: Arc<MemberCell>,
    pub(crate) status: Arc<Mutex<Status>>,
    /// When the first check starts, after the task does: a new member's
    /// place in the spread of the first round (zero for one whose
    /// standing is kept).
    pub(crate) first_after: Duration,
    /// The member was checked before (its check changed at a reload):
    /// after the first check, the next comes an interval later, not at
    /// the phase of a first round.
    pub(crate) resumed: bool,
    pub(crate) meters: m::Meters,
    /// Set once the member is no longer in the configuration: its gauges
    /// are the registry's to retire, not this task's to write.
    pub(crate) retired: Arc<AtomicBool>,
}

impl Checker {
    /// Runs the checks until `cancel`.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let key = super::labels_key(&self.labels);
        let phase = schedule::phase(key.as_bytes(), self.interval);
        let born = Instant::now();
        let mut first = !self.resumed;
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(self.first_after) => {}
        }
        let mut due = Instant::now();
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                o = probe::run(&self.probe, self.addr, self.port, self.timeout) => o,
            };
            self.record(outcome, started - born);
            due = if std::mem::take(&mut first) {
                started + phase
            } else {
                due + schedule::next_interval(self.interval, rand::random())
            };
            // Behind (the process was stopped, or starved): not a burst of
            // catch-ups, and not every late member at the same moment from
            // then on, but each back at its own phase, within an interval.
            let now = Instant::now();
            if due < now {
                due = now + until_phase(now - born, phase, self.interval);
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(due.into()) => {}
            }
        }
    }

    /// Takes one result: health, cell, metrics, and the log line of a change.
    fn record(&self, outcome: Outcome, at: Duration) {
        let Labels {
            zone, pool, member, ..
        } = &self.labels;
        let meters = &self.meters;
        if outcome.ok { &meters.ok } else { &meters.fail }.increment(1);
        meters.duration.record(outcome.latency.as_secs_f64());
        let mut status = lock(&self.status);
        let change = status.health.observe(outcome, at, self.thresholds);
        let now = SystemTime::now();
        status.checked_at = Some(now);
        let state = status.health.state();
        let Some((from, to)) = change else {
            drop(status);
            self.cell.set_health(state);
            return;
        };
        status.since = Some(now);
        let reason = status.health.last().map(|o| o.reason.clone()).unwrap_or_default();
        // The evidence first, then the answers: whoever sees a member leave
        // the answers finds its log line and counters already there. The
        // gauge is written under the status lock, which retiring takes too.
        if !self.retired.load(Ordering::Acquire) {
            m::set_up(&self.labels, to == State::Up);
        }
        drop(status);
        if to == State::Up {
            &meters.to_up
        } else {
            &meters.to_down
        }
        .increment(1);
        match to {
            State::Down => tracing::warn!(
                zone,
                pool,
                member,
                from = state_name(from),
                reason,
                "pool member down"
            ),
            _ => tracing::info!(
                zone,
                pool,
                member,
                from = state_name(from),
                reason,
                "pool member up"
            ),
        }
        self.cell.set_health(state);
    }
}

/// How long from `since` (time since the task began) until the next moment
/// at `phase` into an interval.
fn until_phase(since: Duration, phase: Duration, interval: Duration) -> Duration {
    let interval_ns = interval.as_nanos().max(1);
    let into = since.as_nanos() % interval_ns;
    let wait = (phase.as_nanos() % interval_ns + interval_ns - into) % interval_ns;
    Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
}

/// A state's name in logs, metrics and status.
pub(crate) fn state_name(s: State) -> &'static str {
    match s {
        State::Unknown => "unknown",
        State::Up => "up",
        State::Down => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_check_goes_back_to_its_phase() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // 3.3 s in, phase 0.7 s of a 1 s interval: next at 3.7 s.
        assert_eq!(until_phase(ms(3300), ms(700), s(1)), ms(400));
        // Past its phase in this interval: the next one's.
        assert_eq!(until_phase(ms(3800), ms(700), s(1)), ms(900));
        assert_eq!(until_phase(ms(3700), ms(700), s(1)), Duration::ZERO);
        // Members stopped together spread out again by their phases.
        let mut slots = [0u32; 10];
        for i in 0..1000u32 {
            let phase = schedule::phase(&i.to_be_bytes(), s(1));
            let at = ms(5000) + until_phase(ms(5000), phase, s(1));
            slots[((at.as_millis() % 1000) / 100) as usize] += 1;
        }
        assert!(slots.iter().all(|&n| (70..=130).contains(&n)), "{slots:?}");
    }
}
