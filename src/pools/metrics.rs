//! Metric names of the pools (the answers' counter is the authoritative
//! crate's `palanquin_pool_answers_total`). Every member's series exist, at
//! 0, from the moment its pool is configured.

use palanquin_authoritative::pool::live::MemberCell;

use metrics::{Counter, Histogram};

use super::check::Labels;

/// 1 while the member's checks say up, 0 while down or not checked yet; by
/// `zone`, `pool`, `member`.
pub(crate) const MEMBER_UP: &str = "palanquin_pool_member_up";
/// 1 while the operator has the member drained.
pub(crate) const MEMBER_DRAINED: &str = "palanquin_pool_member_drained";
/// Checks by `zone`, `pool`, `member` and `result` (`ok`, `fail`).
pub(crate) const CHECKS: &str = "palanquin_pool_checks_total";
/// How long checks took, by `zone`, `pool` and `type` (A, AAAA).
pub(crate) const CHECK_DURATION: &str = "palanquin_pool_check_duration_seconds";
/// State changes by `zone`, `pool`, `member` and `to` (`up`, `down`).
pub(crate) const TRANSITIONS: &str = "palanquin_pool_member_transitions_total";

/// Describes the pools' metrics.
pub(crate) fn describe() {
    metrics::describe_gauge!(MEMBER_UP, "1 while a pool member's checks say it is up");
    metrics::describe_gauge!(MEMBER_DRAINED, "1 while a pool member is drained by the operator");
    metrics::describe_counter!(CHECKS, "Pool member checks by result");
    metrics::describe_histogram!(CHECK_DURATION, "How long pool member checks took, in seconds");
    metrics::describe_counter!(TRANSITIONS, "Pool member state changes, by the state entered");
}

/// A member's counters, looked up once (a check then costs an atomic add,
/// not a registry lookup of its labels).
#[derive(Clone)]
pub(crate) struct Meters {
    /// Checks passed and failed.
    pub(crate) ok: Counter,
    pub(crate) fail: Counter,
    /// Check latency.
    pub(crate) duration: Histogram,
    /// State changes to up and to down.
    pub(crate) to_up: Counter,
    pub(crate) to_down: Counter,
}

/// A member's series, registered at 0 for a new member.
pub(crate) fn meters(l: &Labels) -> Meters {
    let counter = |name: &'static str, key: &'static str, value: &'static str| metrics::counter!(name, "zone" => l.zone.clone(), "pool" => l.pool.clone(), "member" => l.member.clone(), key => value);
    Meters {
        ok: counter(CHECKS, "result", "ok"),
        fail: counter(CHECKS, "result", "fail"),
        duration: metrics::histogram!(CHECK_DURATION, "zone" => l.zone.clone(), "pool" => l.pool.clone(), "type" => l.rtype),
        to_up: counter(TRANSITIONS, "to", "up"),
        to_down: counter(TRANSITIONS, "to", "down"),
    }
}

/// Sets whether a member's checks say up.
pub(crate) fn set_up(l: &Labels, up: bool) {
    metrics::gauge!(MEMBER_UP, "zone" => l.zone.clone(), "pool" => l.pool.clone(), "member" => l.member.clone())
        .set(f64::from(u8::from(up)));
}

/// Marks a member that a reload removed: its gauges become NaN (the
/// exporter cannot drop a series; NaN matches no alert on 0 or 1).
pub(crate) fn forget_member(l: &Labels) {
    for name in [MEMBER_UP, MEMBER_DRAINED] {
        metrics::gauge!(name, "zone" => l.zone.clone(), "pool" => l.pool.clone(), "member" => l.member.clone()).set(f64::NAN);
    }
}

/// Sets a member's gauges from its cell.
pub(crate) fn set_member(l: &Labels, cell: &MemberCell) {
    set_up(
        l,
        cell.health() == palanquin_authoritative::pool::health::State::Up,
    );
    metrics::gauge!(MEMBER_DRAINED, "zone" => l.zone.clone(), "pool" => l.pool.clone(), "member" => l.member.clone())
        .set(f64::from(u8::from(cell.drained())));
}
