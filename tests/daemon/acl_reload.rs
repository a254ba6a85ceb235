//! The recursion ACL, and reload without a restart: a good file is swapped
//! in (the cache survives), a bad one is refused and the old one keeps serving.

use std::time::{Duration, Instant};

use palanquin_testkit::daemon::{answers_of, status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};

use crate::{bin, config, dig_async, ip, metrics_of, sa};

fn dig_from(source: &'static str, server: &str, name: &str) -> String {
    palanquin_testkit::daemon::dig_from(Some(source), sa(&format!("{server}:5300")), name, "A", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_allow_are_refused() {
    let up = Fake::start(ip(65, 2), Behaviour::Answer).await;
    let addr = sa("127.0.65.1:5300");
    let _d = Daemon::start(
        bin(),
        addr,
        &config(addr, up.addr, "allow = [\"127.0.65.0/28\"]\n"),
    );
    let inside = tokio::task::spawn_blocking(|| dig_from("127.0.65.5", "127.0.65.1", "www.example.test"))
        .await
        .expect("dig");
    assert_eq!(status_of(&inside), "NOERROR", "{inside}");
    let outside = tokio::task::spawn_blocking(|| dig_from("127.0.65.100", "127.0.65.1", "www.example.test"))
        .await
        .expect("dig");
    assert_eq!(status_of(&outside), "REFUSED", "{outside}");
    assert_eq!(up.queries(), 1, "a refused client causes no upstream query");
}

/// RD clear (dig +norec) asks for no recursion: REFUSED unless the client
/// may snoop (`allow_no_rd`), and then only what the cache already holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_without_rd_get_only_the_cache_and_only_for_allow_no_rd() {
    let up = Fake::start(ip(65, 12), Behaviour::Answer).await;
    let addr = sa("127.0.65.11:5300");
    let d = Daemon::start(
        bin(),
        addr,
        &config(addr, up.addr, "allow_no_rd = [\"127.0.65.16/28\"]\n"),
    );
    let ask = |source: &'static str, name: &'static str| {
        tokio::task::spawn_blocking(move || {
            palanquin_testkit::daemon::dig_from(Some(source), addr, name, "A", &["+norec"])
        })
    };
    let uncached = ask("127.0.65.20", "www.example.test").await.expect("dig");
    assert_eq!(status_of(&uncached), "REFUSED", "not cached: {uncached}");
    assert_eq!(up.queries(), 0, "RD clear never goes upstream");
    let recursed = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(status_of(&recursed), "NOERROR", "{recursed}");
    let snooped = ask("127.0.65.20", "www.example.test").await.expect("dig");
    assert_eq!(status_of(&snooped), "NOERROR", "cached, snooper: {snooped}");
    assert_eq!(answers_of(&snooped)[0].3, "192.0.2.1", "{snooped}");
    assert!(!snooped.contains(" rd"), "RD stays clear in the reply: {snooped}");
    let other = ask("127.0.65.5", "www.example.test").await.expect("dig");
    assert_eq!(status_of(&other), "REFUSED", "cached, but not a snooper: {other}");
    assert_eq!(up.queries(), 1, "only the recursive query went upstream");
    let refused = Daemon::metric(metrics_of(addr), "palanquin_no_rd_refused_total");
    assert_eq!(refused, 2.0, "both refusals counted\n{}", d.log());
}

fn wait_for_log(d: &Daemon, needle: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if d.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_good_and_bad() {
    let first = Fake::start(ip(66, 2), Behaviour::Answer).await;
    let second = Fake::start(ip(66, 3), Behaviour::Answer).await;
    let addr = sa("127.0.66.1:5300");
    let metrics = metrics_of(addr);
    let config = |up: std::net::SocketAddr| config(addr, up, "");
    let d = Daemon::start(bin(), addr, &config(first.addr));
    let out = dig_async(addr, "cached.example.test", "A", &[]).await;
    assert_eq!(status_of(&out), "NOERROR");
    assert_eq!(first.queries(), 1);

    // Good reload: the new upstream serves new names, the cache survives.
    std::fs::write(d.config_path(), config(second.addr)).expect("write");
    d.signal("HUP");
    assert!(wait_for_log(&d, "configuration reloaded"), "{}", d.log());
    let new = dig_async(addr, "new.example.test", "A", &[]).await;
    assert_eq!(answers_of(&new)[0].3, "192.0.2.1");
    assert_eq!(second.queries(), 1, "the new upstream set is in use");
    let cached = dig_async(addr, "cached.example.test", "A", &[]).await;
    assert_eq!(status_of(&cached), "NOERROR");
    assert_eq!(
        second.queries() + first.queries(),
        2,
        "served from the cache kept across the reload"
    );

    // Bad reload: refused with file, line and key; the running config stays.
    std::fs::write(
        d.config_path(),
        config(first.addr).replace("upstreams", "upstream"),
    )
    .expect("write");
    d.signal("HUP");
    assert!(wait_for_log(&d, "reload refused"), "{}", d.log());
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap_or_default();
    assert!(line.contains("palanquin.toml:4:"), "names file and line: {line}");
    assert!(line.contains("resolver.upstream"), "names the key: {line}");
    let still = dig_async(addr, "after.example.test", "A", &[]).await;
    assert_eq!(status_of(&still), "NOERROR");
    assert_eq!(
        second.queries(),
        2,
        "the previous good configuration keeps serving"
    );
    assert_eq!(
        Daemon::metric(metrics, "palanquin_config_reloads_total{result=\"error\"}"),
        1.0
    );
    assert_eq!(
        Daemon::metric(metrics, "palanquin_config_reloads_total{result=\"ok\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_what_was_learned_about_unchanged_upstreams() {
    let up = Fake::start(ip(72, 2), Behaviour::Answer).await;
    let addr = sa("127.0.72.1:5300");
    let metrics = metrics_of(addr);
    let config = |allow: &str| config(addr, up.addr, &format!("allow = [\"{allow}\"]\n"));
    let d = Daemon::start(bin(), addr, &config("127.0.0.0/8"));
    for name in ["a.example.test", "b.example.test", "c.example.test"] {
        assert_eq!(status_of(&dig_async(addr, name, "A", &[]).await), "NOERROR");
    }
    let sent = |status: &str| -> u64 {
        let v: serde_json::Value = serde_json::from_str(status).expect("status JSON");
        v["resolver"]["upstreams"]["default"][0]["sent"]
            .as_u64()
            .expect("sent")
    };
    assert_eq!(sent(&Daemon::http_get(metrics, "/status")), 3);
    // Only the ACL changes: the upstream set, and its health, carry over.
    std::fs::write(d.config_path(), config("127.0.72.0/24")).expect("write");
    d.signal("HUP");
    assert!(wait_for_log(&d, "configuration reloaded"), "{}", d.log());
    let status = Daemon::http_get(metrics, "/status");
    assert!(status.contains("\"generation\":2"), "{status}");
    assert_eq!(sent(&status), 3, "the stub resolver was kept, not rebuilt");
}
