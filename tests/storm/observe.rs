//! Watching the daemon from outside: its `/metrics`, the kernel's drop
//! counters for its UDP sockets, and its CPU time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use palanquin_testkit::daemon::Daemon;

use crate::METRICS;

/// One scrape of `/metrics`: sample line (`name{labels}`) to value.
pub(crate) struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub(crate) async fn take() -> Scrape {
        let body = tokio::task::spawn_blocking(|| Daemon::http_get(METRICS, "/metrics"))
            .await
            .expect("metrics scrape");
        Scrape(
            body.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit_once(' '))
                .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
                .collect(),
        )
    }

    fn get(&self, sample: &str) -> f64 {
        self.0.get(sample).copied().unwrap_or(0.0)
    }

    pub(crate) fn since(&self, before: &Scrape, sample: &str) -> u64 {
        (self.get(sample) - before.get(sample)).max(0.0) as u64
    }
}

pub(crate) fn queries(protocol: &str, rcode: &str) -> String {
    format!("palanquin_queries_total{{protocol=\"{protocol}\",rcode=\"{rcode}\"}}")
}

pub(crate) fn dropped(protocol: &str, reason: &str) -> String {
    format!("palanquin_dropped_total{{protocol=\"{protocol}\",reason=\"{reason}\"}}")
}

pub(crate) const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "OTHER",
];

/// Datagrams the kernel dropped on the daemon's UDP sockets (receive
/// buffers full), from /proc/net/udp.
pub(crate) fn kernel_udp_drops(addr: SocketAddr) -> u64 {
    let SocketAddr::V4(v4) = addr else { return 0 };
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.ip().octets()), v4.port());
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// CPU time (user + system) a process has used, at 100 clock ticks a second.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
