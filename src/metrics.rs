//! Metric names of the daemon itself (the resolver and stub crates have
//! their own `metrics.rs`), the Prometheus recorder, and the per-query
//! counters registered once so the hot path only adds to atomics.
//!
//! Every family of a fixed label set is registered at start ([`register`]),
//! at 0, and `/metrics` lists the families in name order ([`render`]): a
//! counter that appears only when it first counts breaks `rate()` and
//! absence alerts, and the exporter's own order changes from scrape to scrape.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Queries answered, by `protocol` (udp, tcp) and `rcode`.
pub(crate) const QUERIES: &str = "palanquin_queries_total";
/// Datagrams and messages dropped unanswered, by `protocol` and `reason`.
pub(crate) const DROPPED: &str = "palanquin_dropped_total";
/// TCP connections accepted, refused (over the limit) or cut off, by `event`.
pub(crate) const TCP_CONNECTIONS: &str = "palanquin_tcp_connections_total";
/// Zone files loaded on reload, by `result` (ok, error: the old version stays).
pub(crate) const ZONE_LOADS: &str = "palanquin_zone_loads_total";
/// Configuration reloads, by `result` (ok, error).
pub(crate) const RELOADS: &str = "palanquin_config_reloads_total";
/// The configuration generation serving now.
pub(crate) const GENERATION: &str = "palanquin_config_generation";
/// Always 1, with the `version` of this build as a label.
pub(crate) const BUILD_INFO: &str = "palanquin_build_info";
/// When this process started, in seconds since the Unix epoch.
pub(crate) const START_TIME: &str = "palanquin_start_time_seconds";

/// The `result` labels of [`RELOADS`].
const RELOAD_RESULTS: [&str; 2] = ["ok", "error"];
/// The `event` labels of [`TCP_CONNECTIONS`] (server/tcp.rs).
const TCP_EVENTS: [&str; 3] = ["accepted", "refused", "idle_timeout"];

/// RTT buckets for upstream histograms, in seconds.
const RTT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often the exporter's upkeep runs: histogram samples wait in
/// per-metric buckets until a scrape or an upkeep folds them in, so without
/// it a daemon nobody scrapes grows by every sample (about 19 bytes a miss).
pub(crate) const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the exporter's upkeep every [`UPKEEP_INTERVAL`] until cancelled.
pub(crate) async fn upkeep(handle: PrometheusHandle, cancel: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

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
    metrics::describe_counter!(ZONE_LOADS, "Zone files loaded on reload, by result");
    palanquin_authoritative::metrics::describe();
    crate::replication::describe();
    crate::pools::metrics::describe();
    crate::vrrp::metrics::describe();
    metrics::describe_gauge!(GENERATION, "Configuration generation in service");
    metrics::describe_gauge!(BUILD_INFO, "Always 1; the version of this build as a label");
    metrics::describe_gauge!(
        START_TIME,
        "Start time of the process since the Unix epoch, in seconds"
    );
    Ok(handle)
}

/// Registers, at 0, every metric whose labels come from a fixed set (for the
/// upstreams: the configured ones), and sets the build and start-time gauges.
/// Call once, after [`install`].
pub(crate) fn register<'a>(upstreams: impl IntoIterator<Item = &'a SocketAddr>) {
    use palanquin_resolver::metrics as r;
    use palanquin_stub::metrics as s;
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(START_TIME).set(started);
    metrics::gauge!(GENERATION).set(1.0);
    for protocol in ["udp", "tcp"] {
        for rcode in RCODES {
            let _ = metrics::counter!(QUERIES, "protocol" => protocol, "rcode" => rcode);
        }
        for reason in ["malformed", "overload"] {
            let _ = metrics::counter!(DROPPED, "protocol" => protocol, "reason" => reason);
        }
    }
    for event in TCP_EVENTS {
        let _ = metrics::counter!(TCP_CONNECTIONS, "event" => event);
    }
    for result in RELOAD_RESULTS {
        let _ = metrics::counter!(RELOADS, "result" => result);
        let _ = metrics::counter!(ZONE_LOADS, "result" => result);
    }
    for name in [
        r::CACHE_HITS,
        r::CACHE_MISSES,
        r::COALESCED,
        r::ACL_REFUSED,
        r::NO_RD_REFUSED,
        r::SERVFAIL,
        r::FAILURE_CACHED,
        s::HEDGES,
    ] {
        let _ = metrics::counter!(name);
    }
    for reason in r::STALE_REASONS {
        let _ = metrics::counter!(r::CACHE_STALE, "reason" => *reason);
    }
    for section in r::SCRUB_SECTIONS {
        let _ = metrics::counter!(r::SCRUBBED, "section" => section);
    }
    metrics::gauge!(r::CACHE_ENTRIES).set(0.0);
    for outcome in s::QUERY_OUTCOMES {
        let _ = metrics::counter!(s::QUERIES, "outcome" => *outcome);
    }
    let mut seen = std::collections::BTreeSet::new();
    for addr in upstreams.into_iter().filter(|a| seen.insert(**a)) {
        let upstream = addr.to_string();
        let _ = metrics::counter!(s::UPSTREAM_QUERIES, "upstream" => upstream.clone());
        let _ = metrics::histogram!(s::UPSTREAM_RTT, "upstream" => upstream.clone());
        metrics::gauge!(s::UPSTREAM_UP, "upstream" => upstream.clone()).set(1.0);
        for kind in s::FAILURE_KINDS {
            let _ = metrics::counter!(s::UPSTREAM_FAILURES, "upstream" => upstream.clone(), "kind" => *kind);
        }
        for to in s::TRANSITIONS_TO {
            let _ = metrics::counter!(s::UPSTREAM_TRANSITIONS, "upstream" => upstream.clone(), "to" => *to);
        }
        for reason in s::MISMATCH_REASONS {
            let _ = metrics::counter!(s::UPSTREAM_MISMATCHED, "upstream" => upstream.clone(), "reason" => *reason);
        }
        for result in s::PROBE_RESULTS {
            let _ =
                metrics::counter!(s::UPSTREAM_PROBES, "upstream" => upstream.clone(), "result" => *result);
        }
    }
}

/// The Prometheus text with its families in name order. The exporter keeps
/// them in a hash map, so its own order changes between scrapes. Within a
/// counter or gauge family the samples are sorted too; histogram lines stay
/// as written (bucket order matters).
pub(crate) fn render(handle: &PrometheusHandle) -> String {
    sorted_families(&handle.render())
}

fn sorted_families(text: &str) -> String {
    let mut families: Vec<(&str, Vec<&str>)> = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let lines: Vec<&str> = block.lines().filter(|l| !l.is_empty()).collect();
        let (name, kind) = lines
            .iter()
            .find_map(|l| {
                let mut w = l.strip_prefix("# TYPE ")?.split_whitespace();
                Some((w.next()?, w.next()?))
            })
            .unwrap_or(("", ""));
        let mut lines = lines;
        if matches!(kind, "counter" | "gauge") {
            let (comments, mut samples): (Vec<&str>, Vec<&str>) =
                lines.into_iter().partition(|l| l.starts_with('#'));
            samples.sort_unstable();
            lines = comments.into_iter().chain(samples).collect();
        }
        families.push((name, lines));
    }
    families.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(text.len());
    for (_, lines) in families {
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The `rcode` labels of [`QUERIES`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_in_name_order_whatever_the_exporter_did() {
        let text = "# TYPE b_total counter\nb_total{x=\"2\"} 0\nb_total{x=\"1\"} 3\n\n\
                    # HELP a_seconds RTT\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"0.5\"} 1\n\
                    a_seconds_bucket{le=\"+Inf\"} 1\na_seconds_sum 0.1\na_seconds_count 1\n\n";
        assert_eq!(
            sorted_families(text),
            "# HELP a_seconds RTT\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"0.5\"} 1\n\
             a_seconds_bucket{le=\"+Inf\"} 1\na_seconds_sum 0.1\na_seconds_count 1\n\n\
             # TYPE b_total counter\nb_total{x=\"1\"} 3\nb_total{x=\"2\"} 0\n\n"
        );
    }

    /// Histogram samples wait in the exporter until a scrape or an upkeep
    /// folds them in: without [`upkeep`] a daemon nobody scrapes keeps every
    /// one (issue 7, defect 5). A million samples hold about 16 MB; after one
    /// upkeep tick they are given back. The exporter frees drained blocks
    /// through epoch-based reclamation, so the test drives the epoch with a
    /// second, unrelated recorder (which drains nothing of the first) until
    /// the memory is back, within a bound. Other tests of this binary run
    /// alongside and allocate a little; the margins are megabytes.
    #[tokio::test(start_paused = true)]
    async fn upkeep_gives_back_the_samples_nobody_scraped() {
        const SAMPLES: usize = 1_000_000;
        let build = || {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), RTT_BUCKETS)
                .expect("buckets")
                .build_recorder()
        };
        let (recorder, other) = (build(), build());
        let rtt = metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("palanquin_upstream_rtt_seconds")
        });
        let drive = metrics::with_local_recorder(&other, || metrics::histogram!("palanquin_other_seconds"));
        let cancel = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(upkeep(recorder.handle(), cancel.clone()));
        tokio::task::yield_now().await; // the interval's first tick, at once
        let before = crate::allocated();
        for _ in 0..SAMPLES {
            rtt.record(0.001);
        }
        let held = crate::allocated().saturating_sub(before);
        assert!(
            held > 8_000_000,
            "the samples are held until upkeep: {held} bytes"
        );
        tokio::time::sleep(UPKEEP_INTERVAL).await; // the next tick
        tokio::task::yield_now().await;
        let mut left = held;
        for _ in 0..10_000 {
            left = crate::allocated().saturating_sub(before);
            if left < held / 4 {
                break;
            }
            drive.record(0.0);
            other.handle().run_upkeep();
            std::thread::yield_now();
        }
        assert!(
            left < held / 4,
            "upkeep gave back the samples: {left} of {held} bytes still held"
        );
        cancel.cancel();
        task.await.expect("upkeep ends when cancelled");
    }
}
