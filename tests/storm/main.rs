//! The storm test: the real `palanquin serve` process, fed with well over
//! 100,000 malformed or random datagrams over UDP and tens of thousands of
//! malformed messages over TCP (framed garbage pipelined between good
//! queries, unframed garbage, slow-loris senders), while legitimate clients
//! keep resolving. It proves that the daemon:
//!
//! - stays up and never panics (no `panicked` in its log, no listener task lost);
//! - answers every legitimate query correctly: UDP clients with a 2 s timeout
//!   lose nothing after one retry (retries are counted and reported), every
//!   well-formed query pipelined between garbage on TCP is answered in order,
//!   and `dig +tcp` works throughout and after;
//! - answers each kind of garbage as RFC 1035/6891 say (checked message by
//!   message on TCP): FORMERR, NOTIMP, BADVERS, REFUSED, or silence for
//!   responses and datagrams without a header; on TCP it closes connections
//!   it cannot frame and cuts slow senders off after `tcp_idle_timeout`;
//! - keeps its resident memory bounded (sampled throughout the storm), and
//!   gives its TCP connection slots back (200 clients at once afterwards);
//! - counts the storm in `/metrics`.
//!
//! ```text
//!   fake upstream 127.0.70.2 ◀── palanquin 127.0.70.1:5300 (metrics :9153)
//!                                  ▲ UDP storm: 4 sockets 127.0.70.10-13, 120,000 datagrams,
//!                                  │   each keeping ≤ 128 replies outstanding (closed loop)
//!                                  ▲ TCP storm: 127.0.70.30, 32 connections at a time + slow loris
//!                                  ▲ legitimate UDP clients 127.0.70.20-22 (2 s timeout, 1 retry)
//!                                  ▲ dig +tcp every 300 ms
//! ```
//!
//! Everything is deterministic (xorshift from fixed seeds) and only loopback
//! is used.
//!
//! The files, one concern each:
//!
//! ```text
//!   main.rs        addresses, counts and bounds; the daemon's config; the test
//!   rng.rs         xorshift from fixed seeds
//!   wire.rs        DNS messages and TCP frames built by hand
//!   generators.rs  the kinds of garbage, their weights and expected replies
//!   replies.rs     Expect, and the checks that hold a reply to it
//!   udp.rs         the UDP storm (closed loop, replies counted by RCODE)
//!   tcp.rs         the TCP storm: pipelined, unframed, slow loris; slots after
//!   legit.rs       legitimate UDP clients and dig +tcp
//!   observe.rs     /metrics scrapes, kernel UDP drops, CPU time
//!   verdict.rs     the outcome, its summary and its problems
//! ```

mod generators;
mod legit;
mod observe;
mod replies;
mod rng;
mod tcp;
mod udp;
mod verdict;
mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palanquin_testkit::daemon::Daemon;
use palanquin_testkit::fake::{Behaviour, Fake};

use crate::legit::{dig, legit_udp_client, tcp_digs, LegitReport};
use crate::observe::{cpu_time, kernel_udp_drops, Scrape};
use crate::tcp::{concurrent_tcp_queries, tcp_storm};
use crate::udp::udp_storm;
use crate::verdict::{first_few, tail, Outcome};

const fn lo(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 70, last)
}

const DAEMON: SocketAddr = SocketAddr::new(IpAddr::V4(lo(1)), 5300);
const METRICS: SocketAddr = SocketAddr::new(IpAddr::V4(lo(1)), 9153);
const FAKE_IP: IpAddr = IpAddr::V4(lo(2));
const UDP_STORM_IPS: [Ipv4Addr; 4] = [lo(10), lo(11), lo(12), lo(13)];
const LEGIT_IPS: [Ipv4Addr; 3] = [lo(20), lo(21), lo(22)];
const TCP_CLIENT_IP: Ipv4Addr = lo(30);

/// Datagrams in the UDP storm (over all storm sockets).
const UDP_PACKETS: u64 = 120_000;
/// Datagrams owed a reply that a storm socket leaves unanswered at most
/// (`u64::MAX` makes the UDP storm open-loop; see [`udp::udp_storm_socket`]).
const UDP_WINDOW: u64 = 128;
/// TCP connections pipelining garbage and good queries.
const TCP_MIXED: usize = 1_200;
/// TCP connections sending unframed random bytes.
const TCP_UNFRAMED: usize = 300;
/// Slow-loris connections of each kind (see [`tcp::Stall`]).
const TCP_STALLED_PER_KIND: usize = 6;
/// Storm connections open at once (the daemon allows 256).
const TCP_PARALLEL: usize = 32;
/// The daemon's `tcp_idle_timeout`.
const IDLE: Duration = Duration::from_secs(2);
/// How long a legitimate UDP client waits before its one retry.
const LEGIT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP reply may take.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer than this, the storm counts as a hang.
const STORM_LIMIT: Duration = Duration::from_secs(50);
/// The RSS bound, during and after the storm.
const RSS_LIMIT_KIB: u64 = 150 * 1024;

fn config(upstream: SocketAddr) -> String {
    format!(
        r#"[server]
listen = ["{DAEMON}"]
udp_workers = 2
tcp_idle_timeout = "2s"
tcp_max_connections = 256

[resolver]
upstreams = ["{upstream}"]
allow = ["127.0.0.0/8"]
cache_size = 10000

[metrics]
listen = "{METRICS}"
"#
    )
}

// ───────────────────────────── the test ─────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_malformed_packets_leaves_the_daemon_up_bounded_and_answering() {
    let upstream = Fake::start(FAKE_IP, Behaviour::Answer).await;
    let mut daemon = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_palanquin")),
        DAEMON,
        &config(upstream.addr),
    );
    dig("www0.example.test.", false)
        .await
        .expect("the daemon answers before the storm");

    let rss_before = daemon.rss_kib();
    let before = Scrape::take().await;
    let kernel_drops_before = kernel_udp_drops(DAEMON);
    let cpu_before = cpu_time(daemon.pid());
    let started = Instant::now();

    // The storm, with legitimate clients throughout; RSS sampled meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let legit: Vec<_> = LEGIT_IPS
        .iter()
        .enumerate()
        .map(|(i, ip)| tokio::spawn(legit_udp_client(*ip, 7 + i as u64, Arc::clone(&stop))))
        .collect();
    let digs = tokio::spawn(tcp_digs(Arc::clone(&stop)));
    let storms = tokio::spawn(async { tokio::join!(udp_storm(UDP_PACKETS, 1), tcp_storm(2)) });
    let mut rss_peak = rss_before;
    while !storms.is_finished() && started.elapsed() < STORM_LIMIT {
        rss_peak = rss_peak.max(daemon.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !storms.is_finished() {
        storms.abort();
        panic!(
            "the storm did not finish within {STORM_LIMIT:?} (a hang?); daemon running: {}\n\
             --- daemon log ---\n{}",
            daemon.is_running(),
            tail(&daemon.log(), 60)
        );
    }
    let (udp, tcp) = storms.await.expect("storm tasks");
    let elapsed = started.elapsed();
    let daemon_cpu = cpu_time(daemon.pid()).saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    let mut legit_total = LegitReport::default();
    for client in legit {
        let r = client.await.expect("legitimate client task");
        legit_total.queries += r.queries;
        legit_total.retried += r.retried;
        legit_total.lost += r.lost;
        legit_total.failures.extend(r.failures);
        legit_total.slowest = legit_total.slowest.max(r.slowest);
    }
    let (digs, dig_failures) = digs.await.expect("dig task");

    // After it: still up, answering over UDP and TCP, connection slots free.
    let mut final_failures = Vec::new();
    if !daemon.is_running() {
        final_failures.push("the daemon is not running any more".to_owned());
    }
    for tcp in [false, true] {
        if let Err(e) = dig("after.example.test.", tcp).await {
            final_failures.push(format!("final dig (tcp: {tcp}): {e}"));
        }
    }
    let slot_failures = concurrent_tcp_queries(200).await;
    if !slot_failures.is_empty() {
        final_failures.push(format!(
            "after the storm, {} of 200 concurrent TCP clients failed:\n    {}",
            slot_failures.len(),
            first_few(&slot_failures)
        ));
    }
    let rss_after = daemon.rss_kib();

    let outcome = Outcome {
        udp,
        tcp,
        legit: legit_total,
        digs,
        dig_failures,
        final_failures,
        upstream_queries: upstream.queries(),
        before,
        after: Scrape::take().await,
        kernel_drops: kernel_udp_drops(DAEMON).saturating_sub(kernel_drops_before),
        rss_before,
        rss_peak: rss_peak.max(rss_after),
        rss_after,
        elapsed,
        daemon_cpu,
        log: daemon.log(),
    };
    eprintln!("{}", outcome.summary());
    let problems = outcome.problems();
    assert!(
        problems.is_empty(),
        "the daemon did not weather the storm:\n  {}\n--- daemon log (tail) ---\n{}",
        problems.join("\n  "),
        tail(&outcome.log, 60)
    );
}
