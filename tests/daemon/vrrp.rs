//! Embedded VRRP end to end: two `palanquin serve` peers and a client on a
//! bridge, in network namespaces the test builds (testkit/src/lan.rs). The
//! client asks the virtual address; each peer's zone says which node it is.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use palanquin_testkit::daemon::Daemon;
use palanquin_testkit::fake::{Behaviour, Fake};
use palanquin_testkit::lan::Lan;

use crate::bin;

/// The zone each peer serves: `whoami` names the node.
fn zone(node: &str) -> String {
    format!(
        "$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n  IN NS ns\nns A 10.53.10.53\nhealth A 10.53.10.53\nwhoami TXT \"{node}\"\n"
    )
}

/// A peer's configuration: the VIP 10.53.N.53 and loopback as listeners,
/// `extra` appended (its `[[vrrp]]`).
fn config(dir: &std::path::Path, node: &str, n: u8, extra: &str) -> String {
    config_on(dir, node, &[format!("10.53.{n}.53:53")], extra)
}

/// A peer's configuration with `listen` (and loopback) as listeners.
pub(crate) fn config_on(dir: &std::path::Path, node: &str, listen: &[String], extra: &str) -> String {
    let zone_file = dir.join(format!("{node}.zone"));
    std::fs::write(&zone_file, zone(node)).expect("zone");
    let listen: Vec<String> = listen
        .iter()
        .chain(&["127.0.0.1:53".to_owned()])
        .map(|l| format!("\"{l}\""))
        .collect();
    format!(
        "[server]\nlisten = [{}]\n[metrics]\nlisten = \"127.0.0.1:9153\"\n\n[[zone]]\norigin = \"vip.test.\"\nfile = \"{}\"\n\n{extra}",
        listen.join(", "),
        zone_file.display()
    )
}

/// A `[[vrrp]]` on eth0, VRID 53, for 10.53.N.53/24, adverts every 100 ms,
/// its self-check asking `check` every 200 ms; `more` keys added.
pub(crate) fn router(priority: u8, n: u8, check: &str, more: &str) -> String {
    format!(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 53\npriority = {priority}\nadvert_interval = \"100ms\"\nvirtual_ips = [\"10.53.{n}.53/24\"]\n{more}\n[vrrp.self_check]\nname = \"{check}\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n"
    )
}

/// Starts `palanquin serve` with `text` inside `node`'s namespace.
pub(crate) fn start(lan: &Lan, node: &str, text: String) -> Daemon {
    let bin = bin().to_owned();
    lan.run_in(node, move || {
        Daemon::start(&bin, "127.0.0.1:53".parse().expect("addr"), &text)
    })
}

/// Who answers at the VIP, as the client sees it ("" when nobody).
fn whoami(lan: &Lan, n: u8) -> String {
    who_at(lan, &format!("10.53.{n}.53"))
}

/// Who answers at `vip` (IPv4 or IPv6), as the client `c` sees it ("" when
/// nobody).
pub(crate) fn who_at(lan: &Lan, vip: &str) -> String {
    let out = lan.exec(
        "c",
        &[
            "dig",
            &format!("@{vip}"),
            "+short",
            "+time=1",
            "+tries=1",
            "whoami.vip.test",
            "TXT",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_matches('"')
        .to_owned()
}

pub(crate) fn wait(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palanquin-vrrp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn peers_elect_by_priority_and_the_vip_survives_sigkill_and_sigterm() {
    const N: u8 = 10;
    let lan = Lan::new("pqv", N, &["p1", "p2", "c"]);
    let dir = scratch("failover");
    let hook = dir.join("p1.transitions");
    let notify = format!(
        "notify = [\"/bin/sh\", \"-c\", \"echo $1 >> {}\", \"hook\"]",
        hook.display()
    );
    let p1_config = config(&dir, "p1", N, &router(200, N, "health.vip.test.", &notify));
    // Both start together: the election is by priority.
    let lan = std::sync::Arc::new(lan);
    let first = {
        let (lan, config) = (std::sync::Arc::clone(&lan), p1_config.clone());
        std::thread::spawn(move || start(&lan, "p1", config))
    };
    let p2 = start(
        &lan,
        "p2",
        config(&dir, "p2", N, &router(100, N, "health.vip.test.", "")),
    );
    let p1 = first.join().expect("p1 starts");
    wait(Duration::from_secs(5), "p1 becomes Master", || {
        whoami(&lan, N) == "p1"
    });
    assert!(lan.holds("p1", "10.53.10.53") && !lan.holds("p2", "10.53.10.53"));

    // The address is up a moment before the transition is logged and its
    // hook queued: wait for both, so that the kill does not land between.
    wait(Duration::from_secs(3), "p1's transition logged", || {
        p1.log().contains("to=\"master\"")
            && std::fs::read_to_string(&hook).is_ok_and(|h| h.contains("master"))
    });
    // SIGKILL: no resignation; p2 takes over after Master_Down (about 0.36 s).
    p1.signal("KILL");
    let took = wait(Duration::from_secs(5), "p2 answers at the VIP", || {
        whoami(&lan, N) == "p2"
    });
    assert!(lan.holds("p2", "10.53.10.53"));
    eprintln!("SIGKILL: the client got answers from p2 after {took:?}");

    // A killed process leaves its address on the interface; started again
    // (here below p2's priority), it clears it first and stays Backup.
    assert!(lan.holds("p1", "10.53.10.53"), "what SIGKILL leaves behind");
    drop(p1);
    let low = start(&lan, "p1", p1_config.replace("priority = 200", "priority = 50"));
    wait(Duration::from_secs(3), "the leftover address removed", || {
        !lan.holds("p1", "10.53.10.53")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(whoami(&lan, N), "p2");
    assert!(!lan.holds("p1", "10.53.10.53"), "p1 stays Backup");
    drop(low);
    // With its own priority it preempts.
    let mut p1 = start(&lan, "p1", p1_config);
    wait(Duration::from_secs(5), "p1 preempts", || {
        whoami(&lan, N) == "p1" && !lan.holds("p2", "10.53.10.53")
    });

    // SIGTERM: p1 resigns with priority 0 first and p2 takes over (within
    // its skew: vrrp/tests/it/routers.rs times that; here, the client's view).
    let stopped = Instant::now();
    assert_eq!(p1.stop(Duration::from_secs(5)), Some(0));
    let took = wait(Duration::from_secs(3), "p2 after SIGTERM", || {
        whoami(&lan, N) == "p2"
    });
    assert!(
        !lan.holds("p1", "10.53.10.53"),
        "the resigning node removed the VIP"
    );
    eprintln!(
        "SIGTERM: p2 answered {took:?} after p1 stopped ({:?} in all)",
        stopped.elapsed()
    );
    // The notify hook saw each transition of p1's two lives.
    let seen = std::fs::read_to_string(&hook).unwrap_or_default();
    assert!(seen.lines().filter(|l| *l == "master").count() >= 2, "{seen}");
    assert!(
        seen.lines().any(|l| l == "backup") || seen.lines().any(|l| l == "fault"),
        "{seen}"
    );
    assert!(p2.log().contains("VRRP state change"));
    // `palanquin status` shows the router.
    let config_path = p2.config_path();
    let bin = bin().to_owned();
    let out = lan.run_in("p2", move || {
        std::process::Command::new(bin)
            .args(["status", "--config"])
            .arg(config_path)
            .output()
            .expect("status")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("eth0") && text.contains("master") && text.contains("10.53.10.53/24"),
        "{text}"
    );
}

/// A fake upstream in `node`'s namespace on 127.0.0.1:5301, until the
/// returned sender is dropped.
fn upstream(lan: &Lan, node: &str) -> std::sync::mpsc::Sender<()> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let path = format!("/run/netns/{}", lan.ns(node));
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let _fake = Fake::start_on("127.0.0.1:5301".parse().expect("addr"), Behaviour::Answer).await;
            let _ = ready_tx.send(());
            let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
        });
    });
    ready.recv().expect("the fake upstream starts");
    stop
}

#[test]
fn a_master_whose_upstreams_die_hands_the_vip_over_while_serving_stale() {
    const N: u8 = 11;
    let lan = Lan::new("pqs", N, &["p1", "p2", "c"]);
    let dir = scratch("selfcheck");
    let up1 = upstream(&lan, "p1");
    let _up2 = upstream(&lan, "p2");
    let resolver =
        "[resolver]\nupstreams = [\"127.0.0.1:5301\"]\nallow = [\"0.0.0.0/0\"]\nserve_stale = \"1d\"\nmax_ttl = \"1s\"\n";
    let with = |priority| format!("{resolver}\n{}", router(priority, N, "probe.example.", ""));
    let p1 = start(&lan, "p1", config(&dir, "p1", N, &with(200)));
    let _p2 = start(&lan, "p2", config(&dir, "p2", N, &with(100)));
    wait(Duration::from_secs(5), "p1 becomes Master", || {
        whoami(&lan, N) == "p1"
    });
    // p1's upstream dies: its cache still answers, but the self-check asks
    // the upstreams afresh; after `fall` failures p1 goes to Fault.
    let died = Instant::now();
    drop(up1);
    let took = wait(Duration::from_secs(5), "the VIP moves to p2", || {
        lan.holds("p2", "10.53.11.53") && !lan.holds("p1", "10.53.11.53")
    });
    eprintln!("upstream dead: the VIP moved {took:?} later");
    assert!(died.elapsed() < Duration::from_secs(5));
    assert_eq!(whoami(&lan, N), "p2");
    assert!(p1.log().contains("the upstreams did not answer"), "{}", p1.log());
    // p1 still answers whoever reaches it, from what it has: the cached
    // answer's TTL (capped at 1 s) has run out, so it is served stale, with
    // RFC 8767's 30 s TTL.
    std::thread::sleep(Duration::from_millis(1200));
    let out = lan.exec(
        "p1",
        &[
            "dig",
            "@127.0.0.1",
            "+noall",
            "+answer",
            "+time=4",
            "+tries=1",
            "probe.example",
            "A",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ttl = text.split_whitespace().nth(1).unwrap_or_default().to_owned();
    assert_eq!(ttl, "30", "p1 serves the stale answer: {text:?} {out:?}");
}
