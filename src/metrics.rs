//! Metric names of the daemon itself (the resolver and stub crates have
//! their own `metrics.rs`), the Prometheus recorder, and the per-query
//! counters registered once so the hot path only adds to atomics.

use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Queries answered, by `protocol` (udp, tcp) and `rcode`.
pub(crate) const QUERIES: &str = "palanquin_queries_total";
/// Datagrams and messages dropped unanswered, by `protocol` and `reason`.
pub(crate) const DROPPED: &str = "palanquin_dropped_total";
/// TCP connections accepted, refused (over the limit) or cut off, by `event`.
pub(crate) const TCP_CONNECTIONS: &str = "palanquin_tcp_connections_total";
/// Configuration reloads, by `result` (ok, error).
pub(crate) const RELOADS: &str = "palanquin_config_reloads_total";
/// The configuration generation serving now.
pub(crate) const GENERATION: &str = "palanquin_config_generation";

/// RTT buckets for upstream histograms, in seconds.
const RTT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the Prometheus recorder (once per process) and describes every metric.
pub(crate) fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), RTT_BUCKETS)?
        .install_recorder()?;
    palanquin_stub::metrics::describe();
    palanquin_resolver::metrics::describe();
    metrics::describe_counter!(QUERIES, "Queries answered, by protocol and response code");
    metrics::describe_counter!(DROPPED, "Messages dropped unanswered, by protocol and reason");
    metrics::describe_counter!(TCP_CONNECTIONS, "TCP connections by event");
    metrics::describe_counter!(RELOADS, "Configuration reloads by result");
    metrics::describe_gauge!(GENERATION, "Configuration generation in service");
    Ok(handle)
}

const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "OTHER",
];

/// Per-protocol answer counters by RCODE.
pub(crate) struct QueryCounters {
    by_rcode: [Counter; 7],
    /// Malformed input dropped (not even a header, or a response).
    pub(crate) dropped: Counter,
    /// Questions refused because too many resolutions were pending.
    pub(crate) overload: Counter,
}

impl QueryCounters {
    pub(crate) fn new(protocol: &'static str) -> Self {
        QueryCounters {
            by_rcode: RCODES.map(|rc| metrics::counter!(QUERIES, "protocol" => protocol, "rcode" => rc)),
            dropped: metrics::counter!(DROPPED, "protocol" => protocol, "reason" => "malformed"),
            overload: metrics::counter!(DROPPED, "protocol" => protocol, "reason" => "overload"),
        }
    }

    /// Counts a reply by its RCODE. An extended RCODE (BADVERS) lives in the
    /// OPT record, which our replies always carry last: those count as OTHER.
    pub(crate) fn answered(&self, reply: &[u8]) {
        let mut rc = reply.get(3).map_or(6, |b| usize::from(b & 0x0f).min(6));
        let n = reply.len();
        if n >= 23 && reply[n - 11..n - 8] == [0, 0, 41] && reply[n - 6] != 0 {
            rc = 6;
        }
        self.by_rcode[rc].increment(1);
    }
}
