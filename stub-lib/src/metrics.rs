//! Metric names of the stub resolver. The library only records through the
//! `metrics` facade; the program that links it installs an exporter (or not).
//! Labels come from small fixed sets: the configured upstream address, an
//! outcome word. Never a query name.

/// Lookups finished, by `outcome` (`answer`, `exhausted`, `rejected`: [`QUERY_OUTCOMES`]).
pub const QUERIES: &str = "palanquin_stub_queries_total";
/// Extra upstreams asked because the first stayed silent past its hedge delay.
pub const HEDGES: &str = "palanquin_stub_hedges_total";
/// Queries sent to an upstream, by `upstream`.
pub const UPSTREAM_QUERIES: &str = "palanquin_upstream_queries_total";
/// Failed exchanges, by `upstream` and `kind` (timeout, unreachable, rcode, transport).
pub const UPSTREAM_FAILURES: &str = "palanquin_upstream_failures_total";
/// Round-trip time of answered exchanges, by `upstream`.
pub const UPSTREAM_RTT: &str = "palanquin_upstream_rtt_seconds";
/// 1 when the upstream is up, 0 when down, by `upstream`.
pub const UPSTREAM_UP: &str = "palanquin_upstream_up";
/// Up/down transitions, by `upstream` and `to`.
pub const UPSTREAM_TRANSITIONS: &str = "palanquin_upstream_transitions_total";
/// Datagrams ignored because they did not answer our query (RFC 5452), by
/// `upstream` and `reason` (id, question, not_response, malformed).
pub const UPSTREAM_MISMATCHED: &str = "palanquin_upstream_mismatched_responses_total";
/// Background probes of down upstreams, by `upstream` and `result`.
pub const UPSTREAM_PROBES: &str = "palanquin_upstream_probes_total";

/// The `outcome` labels of [`QUERIES`].
pub const QUERY_OUTCOMES: &[&str] = &["answer", "exhausted", "rejected"];
/// The `kind` labels of [`UPSTREAM_FAILURES`] (`Failure::kind`).
pub const FAILURE_KINDS: &[&str] = &["timeout", "unreachable", "rcode", "truncated", "transport"];
/// The `to` labels of [`UPSTREAM_TRANSITIONS`].
pub const TRANSITIONS_TO: &[&str] = &["up", "down"];
/// The `reason` labels of [`UPSTREAM_MISMATCHED`] (`Mismatch::label`).
pub const MISMATCH_REASONS: &[&str] = &["id", "question", "not_response", "malformed"];
/// The `result` labels of [`UPSTREAM_PROBES`].
pub const PROBE_RESULTS: &[&str] = &["answer", "failure"];

/// Registers descriptions with whatever recorder is installed. Call once.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(QUERIES, "Stub lookups finished, by outcome");
    describe_counter!(HEDGES, "Hedged queries sent to a further upstream");
    describe_counter!(UPSTREAM_QUERIES, "Queries sent to each upstream");
    describe_counter!(UPSTREAM_FAILURES, "Failed upstream exchanges by kind");
    describe_histogram!(UPSTREAM_RTT, Unit::Seconds, "Upstream round-trip time");
    describe_gauge!(UPSTREAM_UP, "Upstream health: 1 up, 0 down");
    describe_counter!(UPSTREAM_TRANSITIONS, "Upstream up/down transitions");
    describe_counter!(
        UPSTREAM_MISMATCHED,
        "Ignored responses that did not match the query"
    );
    describe_counter!(UPSTREAM_PROBES, "Background probes of down upstreams");
}
