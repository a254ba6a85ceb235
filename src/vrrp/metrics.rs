//! Metric names of VRRP, labelled by `vrid`, `interface` and `family`
//! (`ipv4`, `ipv6`: one VRID can serve each); every series exists (at 0)
//! from the moment its router is configured.

use std::net::IpAddr;

use palanquin_vrrp::fsm::State;

/// 1 for the state the router is in, 0 for the others, by `state`.
pub(crate) const STATE: &str = "palanquin_vrrp_state";
/// The priority in force (the configured one, less a self-check's weight).
pub(crate) const PRIORITY: &str = "palanquin_vrrp_priority";
/// 1 for the address last heard advertising as Master, by `master`.
pub(crate) const MASTER: &str = "palanquin_vrrp_master";
/// State changes by `to`.
pub(crate) const TRANSITIONS: &str = "palanquin_vrrp_transitions_total";
/// Adverts sent.
pub(crate) const SENT: &str = "palanquin_vrrp_adverts_sent_total";
/// Adverts received for this router.
pub(crate) const RECEIVED: &str = "palanquin_vrrp_adverts_received_total";
/// Packets dropped, by `reason`.
pub(crate) const BAD: &str = "palanquin_vrrp_bad_packets_total";
/// Self-checks by `result` (`ok`, `fail`).
pub(crate) const SELF_CHECKS: &str = "palanquin_vrrp_self_checks_total";

const STATES: [State; 4] = [State::Initialize, State::Backup, State::Master, State::Fault];
/// The `reason` labels of [`BAD`].
const REASONS: [&str; 10] = [
    "ttl",
    "checksum",
    "version",
    "type",
    "truncated",
    "malformed",
    "auth",
    "peer",
    "interval",
    "vrid",
];

/// A router's labels.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    base: [metrics::Label; 3],
}

impl Labels {
    pub(crate) fn new(vrid: u8, interface: &str, v6: bool) -> Labels {
        Labels {
            base: [
                metrics::Label::new("vrid", vrid.to_string()),
                metrics::Label::new("interface", interface.to_owned()),
                metrics::Label::new("family", if v6 { "ipv6" } else { "ipv4" }),
            ],
        }
    }

    /// The router's labels alone.
    fn only(&self) -> Vec<metrics::Label> {
        self.base.to_vec()
    }

    /// The router's labels and `key = value`.
    fn and(&self, key: &'static str, value: impl Into<metrics::SharedString>) -> Vec<metrics::Label> {
        let mut v = self.base.to_vec();
        v.push(metrics::Label::new(key, value));
        v
    }
}

/// Describes the VRRP metrics.
pub(crate) fn describe() {
    metrics::describe_gauge!(STATE, "1 for the VRRP state a router is in");
    metrics::describe_gauge!(PRIORITY, "The VRRP priority in force");
    metrics::describe_gauge!(MASTER, "1 for the address last heard advertising as Master");
    metrics::describe_counter!(TRANSITIONS, "VRRP state changes, by the state entered");
    metrics::describe_counter!(SENT, "VRRP adverts sent");
    metrics::describe_counter!(RECEIVED, "VRRP adverts received for the router");
    metrics::describe_counter!(BAD, "VRRP packets dropped, by reason");
    metrics::describe_counter!(SELF_CHECKS, "VRRP self-checks, by result");
}

/// Registers a router's series at 0.
pub(crate) fn register(l: &Labels) {
    for s in STATES {
        metrics::gauge!(STATE, l.and("state", s.name())).set(f64::from(u8::from(s == State::Initialize)));
        let _ = metrics::counter!(TRANSITIONS, l.and("to", s.name()));
    }
    for r in REASONS {
        let _ = metrics::counter!(BAD, l.and("reason", r));
    }
    for r in ["ok", "fail"] {
        let _ = metrics::counter!(SELF_CHECKS, l.and("result", r));
    }
    let _ = metrics::counter!(SENT, l.only());
    let _ = metrics::counter!(RECEIVED, l.only());
}

/// A transition into `to`.
pub(crate) fn transition(l: &Labels, to: State, priority: u8) {
    for s in STATES {
        metrics::gauge!(STATE, l.and("state", s.name())).set(f64::from(u8::from(s == to)));
    }
    metrics::counter!(TRANSITIONS, l.and("to", to.name())).increment(1);
    priority_is(l, priority);
}

/// The priority in force.
pub(crate) fn priority_is(l: &Labels, priority: u8) {
    metrics::gauge!(PRIORITY, l.only()).set(f64::from(priority));
}

pub(crate) fn sent(l: &Labels) {
    metrics::counter!(SENT, l.only()).increment(1);
}

pub(crate) fn received(l: &Labels) {
    metrics::counter!(RECEIVED, l.only()).increment(1);
}

pub(crate) fn dropped(l: &Labels, reason: &'static str) {
    metrics::counter!(BAD, l.and("reason", reason)).increment(1);
}

/// The Master heard is now `now` (was `before`).
pub(crate) fn master(l: &Labels, before: Option<IpAddr>, now: IpAddr) {
    if let Some(b) = before {
        metrics::gauge!(MASTER, l.and("master", b.to_string())).set(0.0);
    }
    metrics::gauge!(MASTER, l.and("master", now.to_string())).set(1.0);
}

/// The Master heard, `was`, resigned.
pub(crate) fn resigned(l: &Labels, was: IpAddr) {
    metrics::gauge!(MASTER, l.and("master", was.to_string())).set(0.0);
}

pub(crate) fn self_check(l: &Labels, ok: bool) {
    let result = if ok { "ok" } else { "fail" };
    metrics::counter!(SELF_CHECKS, l.and("result", result)).increment(1);
}

/// A router no longer configured: its gauges are NaN, the Master last
/// heard (`master`) included; its counters stay.
pub(crate) fn retire(l: &Labels, master: Option<IpAddr>) {
    for s in STATES {
        metrics::gauge!(STATE, l.and("state", s.name())).set(f64::NAN);
    }
    metrics::gauge!(PRIORITY, l.only()).set(f64::NAN);
    if let Some(m) = master {
        metrics::gauge!(MASTER, l.and("master", m.to_string())).set(f64::NAN);
    }
}
