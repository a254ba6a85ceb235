//! Serve-stale (RFC 8767): the upstream dies, the TTL runs out, the answer
//! is still served, with a short TTL, and counted as stale.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use palanquin_testkit::daemon::{answers_of, status_of, Daemon};
use palanquin_testkit::nsd::Nsd;

use crate::{bin, config, dig_async, metrics_of, sa};

const ZONE: &str = "\
$ORIGIN stale.test.
$TTL 1
@    IN SOA ns1 hostmaster 1 3600 900 604800 1
     IN NS  ns1
ns1  IN A   127.0.64.2
www  IN A   192.0.2.64
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_answers_are_served_while_the_upstream_is_down() {
    let nsd = Nsd::start(
        &[IpAddr::V4(Ipv4Addr::new(127, 0, 64, 2))],
        5353,
        "stale.test.",
        ZONE,
    )
    .expect("nsd");
    let addr = sa("127.0.64.1:5300");
    let metrics = metrics_of(addr);
    let _d = Daemon::start(
        bin(),
        addr,
        &config(
            addr,
            nsd.addrs()[0],
            "serve_stale = \"1h\"\ntimeout = \"500ms\"\n",
        ),
    );
    let fresh = dig_async(addr, "www.stale.test", "A", &[]).await;
    assert_eq!(answers_of(&fresh)[0].3, "192.0.2.64", "{fresh}");
    drop(nsd); // the upstream is gone
    tokio::time::sleep(Duration::from_millis(2100)).await; // the 1 s TTL has run out
    let stale = dig_async(addr, "www.stale.test", "A", &[]).await;
    assert_eq!(status_of(&stale), "NOERROR", "{stale}");
    let records = answers_of(&stale);
    assert_eq!(records[0].3, "192.0.2.64");
    assert_eq!(records[0].1, 30, "stale answers carry the RFC 8767 TTL of 30 s");
    let counted = Daemon::metric(
        metrics,
        "palanquin_cache_stale_answers_total{reason=\"upstream_failed\"}",
    ) + Daemon::metric(
        metrics,
        "palanquin_cache_stale_answers_total{reason=\"client_timer\"}",
    );
    assert!(counted >= 1.0, "stale answers are counted in metrics");
    // A name never seen has nothing stale: SERVFAIL, not a hang.
    let unknown = dig_async(addr, "new.stale.test", "A", &[]).await;
    assert_eq!(status_of(&unknown), "SERVFAIL", "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_refresh_stale_data_is_served_at_once() {
    use palanquin_testkit::fake::{Behaviour, Fake};
    let nsd = Nsd::start(
        &[IpAddr::V4(Ipv4Addr::new(127, 0, 64, 12))],
        5353,
        "stale.test.",
        ZONE,
    )
    .expect("nsd");
    let upstream = nsd.addrs()[0];
    let addr = sa("127.0.64.11:5300");
    let metrics = metrics_of(addr);
    let _d = Daemon::start(
        bin(),
        addr,
        &config(addr, upstream, "serve_stale = \"1h\"\nstale_recheck = \"30s\"\n"),
    );
    let fresh = dig_async(addr, "www.stale.test", "A", &[]).await;
    assert_eq!(answers_of(&fresh)[0].3, "192.0.2.64", "{fresh}");
    // The upstream now swallows queries: refreshes time out instead of failing fast.
    drop(nsd);
    let hole = Fake::start_on(upstream, Behaviour::BlackHole).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // TTL 1 s: stale now
    let first = dig_async(addr, "www.stale.test", "A", &[]).await;
    assert_eq!(
        answers_of(&first)[0].1,
        30,
        "stale after the 1.8 s client timer: {first}"
    );
    // Let the refresh run into its deadline (2 s × 2), then ask again.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let asked = hole.queries();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let again = dig_async(addr, "www.stale.test", "A", &[]).await;
        assert_eq!(answers_of(&again)[0].3, "192.0.2.64", "{again}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no client timer while the recheck timer runs"
    );
    assert_eq!(
        hole.queries(),
        asked,
        "the upstreams are not asked again within stale_recheck"
    );
    let counted = Daemon::metric(
        metrics,
        "palanquin_cache_stale_answers_total{reason=\"recheck_timer\"}",
    );
    assert_eq!(counted, 3.0);
}
