//! Embedded VRRP between `palanquin serve` peers in the topologies an
//! operator runs (tests/daemon/vrrp.rs has election, SIGKILL, SIGTERM and
//! the self-check): a split brain healed, nopreempt, two VIPs active/active,
//! a dual-stack pair (an IPv4 and an IPv6 router per node), a real
//! keepalived as the other peer, and routers changed, added and removed by
//! a reload. The client `c` asks `whoami.vip.test` at
//! the VIP; each node's zone names the node.

use std::time::Duration;

use palanquin_testkit::keepalived::keepalived;
use palanquin_testkit::lan::Lan;

use crate::vrrp::{config_on, router, scratch, start, wait, who_at};

const HEALTH: &str = "health.vip.test.";

#[test]
fn a_split_brain_heals_to_one_master_and_the_client_follows() {
    const N: u8 = 12;
    let lan = Lan::new("pqsp", N, &["p1", "p2", "c"]);
    let dir = scratch("split");
    let vip = format!("10.53.{N}.53");
    let on = [format!("{vip}:53")];
    let _p1 = start(
        &lan,
        "p1",
        config_on(&dir, "p1", &on, &router(200, N, HEALTH, "")),
    );
    let _p2 = start(
        &lan,
        "p2",
        config_on(&dir, "p2", &on, &router(100, N, HEALTH, "")),
    );
    wait(Duration::from_secs(5), "p1 Master", || who_at(&lan, &vip) == "p1");
    // p1 cut off from the bridge, its link still up: p2 hears nothing and
    // takes over, so each holds the VIP (the client reaches only p2).
    lan.isolate("p1", true);
    wait(Duration::from_secs(5), "p2 takes over", || {
        who_at(&lan, &vip) == "p2"
    });
    assert!(lan.holds("p1", &vip) && lan.holds("p2", &vip), "both Master");
    // Healed: p2 hears p1's higher priority and steps down; p1's
    // gratuitous ARPs are old news to the client, but p2 no longer
    // answers for the address, so the client's next ARP finds p1.
    lan.isolate("p1", false);
    wait(Duration::from_secs(5), "exactly one Master again", || {
        lan.holds("p1", &vip) && !lan.holds("p2", &vip)
    });
    wait(Duration::from_secs(10), "the client reaches p1", || {
        who_at(&lan, &vip) == "p1"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lan.holds("p2", &vip), "no flapping after the heal");
}

#[test]
fn nopreempt_keeps_the_serving_master_until_it_leaves() {
    const N: u8 = 13;
    let lan = Lan::new("pqnp", N, &["p1", "p2", "c"]);
    let dir = scratch("nopreempt");
    let vip = format!("10.53.{N}.53");
    let on = [format!("{vip}:53")];
    let mut p2 = start(
        &lan,
        "p2",
        config_on(&dir, "p2", &on, &router(100, N, HEALTH, "")),
    );
    wait(Duration::from_secs(5), "p2 Master alone", || {
        who_at(&lan, &vip) == "p2"
    });
    // A higher priority that does not preempt joins, and waits. Its
    // state-specific hooks run as their states are entered.
    let hook = |state: &str| dir.join(format!("p1.{state}"));
    let hooks = format!(
        "preempt = false\nnotify_master = [\"/bin/sh\", \"-c\", \"echo $PALANQUIN_VRRP_STATE >> {}\"]\nnotify_backup = [\"/bin/sh\", \"-c\", \"echo $PALANQUIN_VRRP_STATE >> {}\"]",
        hook("master").display(),
        hook("backup").display()
    );
    let quiet = router(200, N, HEALTH, &hooks);
    let _p1 = start(&lan, "p1", config_on(&dir, "p1", &on, &quiet));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        who_at(&lan, &vip),
        "p2",
        "p1 does not take the VIP from a live Master"
    );
    assert!(!lan.holds("p1", &vip));
    let read = |state: &str| std::fs::read_to_string(hook(state)).unwrap_or_default();
    assert_eq!(read("backup").trim(), "backup", "notify_backup ran once");
    assert!(read("master").is_empty(), "notify_master has not run");
    // p2 leaves (SIGTERM, priority 0): p1 takes over at once.
    assert_eq!(p2.stop(Duration::from_secs(5)), Some(0));
    wait(Duration::from_secs(3), "p1 takes over", || {
        who_at(&lan, &vip) == "p1"
    });
    wait(Duration::from_secs(2), "notify_master ran", || {
        read("master").trim() == "master"
    });
    assert_eq!(read("backup").trim(), "backup", "and notify_backup not again");
}

#[test]
fn two_vips_run_active_active_and_one_node_takes_both_when_the_other_stops() {
    const N: u8 = 14;
    let lan = Lan::new("pqaa", N, &["p1", "p2", "c"]);
    let dir = scratch("active");
    let (one, two) = (format!("10.53.{N}.51"), format!("10.53.{N}.52"));
    let on = [format!("{one}:53"), format!("{two}:53")];
    // Each node is Master of one VRID and Backup of the other.
    let tables = |p51: u8, p52: u8| {
        format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 51\npriority = {p51}\nadvert_interval = \"100ms\"\nvirtual_ips = [\"{one}/24\"]\n[vrrp.self_check]\nname = \"{HEALTH}\"\ninterval = \"200ms\"\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 52\npriority = {p52}\nadvert_interval = \"100ms\"\nvirtual_ips = [\"{two}/24\"]\n[vrrp.self_check]\nname = \"{HEALTH}\"\ninterval = \"200ms\"\n"
        )
    };
    let mut p1 = start(&lan, "p1", config_on(&dir, "p1", &on, &tables(200, 100)));
    let _p2 = start(&lan, "p2", config_on(&dir, "p2", &on, &tables(100, 200)));
    wait(Duration::from_secs(5), "each node Master of one", || {
        who_at(&lan, &one) == "p1" && who_at(&lan, &two) == "p2"
    });
    assert!(!lan.holds("p1", &two) && !lan.holds("p2", &one));
    assert_eq!(p1.stop(Duration::from_secs(5)), Some(0));
    wait(Duration::from_secs(3), "p2 serves both", || {
        who_at(&lan, &one) == "p2" && who_at(&lan, &two) == "p2"
    });
}

#[test]
fn a_dual_stack_pair_moves_the_ipv4_and_the_ipv6_vip_together() {
    const N: u8 = 16;
    let lan = Lan::new("pqds", N, &["p1", "p2", "c"]);
    let dir = scratch("dualstack");
    let (v4, v6) = (format!("10.53.{N}.53"), format!("fd53:0:0:{N}::53"));
    let on = [format!("{v4}:53"), format!("[{v6}]:53")];
    // The same VRID for both families: IPv4 and IPv6 routers are apart.
    let tables = |priority: u8| {
        format!(
            "{}\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 53\npriority = {priority}\nadvert_interval = \"100ms\"\nvirtual_ips = [\"{v6}/64\"]\n[vrrp.self_check]\nname = \"{HEALTH}\"\ninterval = \"200ms\"\n",
            router(priority, N, HEALTH, "")
        )
    };
    let p1 = start(&lan, "p1", config_on(&dir, "p1", &on, &tables(200)));
    let _p2 = start(&lan, "p2", config_on(&dir, "p2", &on, &tables(100)));
    wait(Duration::from_secs(5), "p1 Master of both", || {
        who_at(&lan, &v4) == "p1" && who_at(&lan, &v6) == "p1"
    });
    assert!(!lan.holds("p2", &v6));
    // SIGKILL: p2 takes both over after Master_Down; the client's IPv6
    // neighbour entry follows p2's unsolicited neighbour advertisement.
    p1.signal("KILL");
    wait(Duration::from_secs(5), "p2 answers at both VIPs", || {
        who_at(&lan, &v4) == "p2" && who_at(&lan, &v6) == "p2"
    });
    assert!(lan.holds("p2", &v4) && lan.holds("p2", &v6));
    // The two routers of one VRID are two series: `family` tells them apart.
    let text = lan.run_in("p2", || {
        palanquin_testkit::daemon::Daemon::http_get("127.0.0.1:9153".parse().expect("addr"), "/metrics")
    });
    for family in ["ipv4", "ipv6"] {
        let master = text.lines().any(|l| {
            l.starts_with("palanquin_vrrp_state{")
                && l.contains(&format!("family=\"{family}\""))
                && l.contains("state=\"master\"")
                && l.ends_with(" 1")
        });
        assert!(master, "{family} Master in the metrics:\n{text}");
    }
}

#[test]
fn a_keepalived_peer_and_palanquin_hand_the_vip_to_each_other() {
    const N: u8 = 15;
    let lan = Lan::new("pqkp", N, &["p1", "k", "c"]);
    let dir = scratch("keepalived");
    let vip = format!("10.53.{N}.53");
    let on = [format!("{vip}:53")];
    // The keepalived node is the seeds' setup: keepalived for the VIP and a
    // DNS server of its own (here Palanquin without [[vrrp]]) on it.
    let _dns = start(&lan, "k", config_on(&dir, "k", &on, ""));
    let k = keepalived(
        &lan.ns("k"),
        "pqkp",
        "vrrp_version 3",
        &format!("  state BACKUP\n  interface eth0\n  virtual_router_id 53\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24\n  }}"),
    );
    wait(Duration::from_secs(5), "keepalived Master alone", || {
        who_at(&lan, &vip) == "k"
    });
    // Palanquin, higher, preempts keepalived...
    let p1_config = config_on(&dir, "p1", &on, &router(200, N, HEALTH, ""));
    let mut p1 = start(&lan, "p1", p1_config.clone());
    wait(
        Duration::from_secs(5),
        "Palanquin takes over from keepalived",
        || who_at(&lan, &vip) == "p1" && !lan.holds("k", &vip),
    );
    // ...and hands it back when it stops (priority 0).
    assert_eq!(p1.stop(Duration::from_secs(5)), Some(0));
    wait(
        Duration::from_secs(3),
        "keepalived takes over from Palanquin",
        || who_at(&lan, &vip) == "k",
    );
    // Palanquin, lower this time, stays Backup behind keepalived; keepalived
    // killed: Palanquin takes over after Master_Down.
    let _p1 = start(&lan, "p1", p1_config.replace("priority = 200", "priority = 50"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(who_at(&lan, &vip), "k", "{}", k.log());
    assert!(!lan.holds("p1", &vip));
    k.kill();
    wait(
        Duration::from_secs(5),
        "Palanquin takes over from a dead keepalived",
        || who_at(&lan, &vip) == "p1",
    );
}

#[test]
fn a_reload_changes_routers_in_place_and_adds_and_removes_them() {
    const N: u8 = 17;
    let lan = Lan::new("pqrl", N, &["p1", "p2", "c"]);
    let dir = scratch("reload");
    let (vip, second, third) = (
        format!("10.53.{N}.53"),
        format!("10.53.{N}.54"),
        format!("10.53.{N}.55"),
    );
    let on = [format!("{vip}:53"), format!("{second}:53"), format!("{third}:53")];
    let p1_with = |tables: &str| config_on(&dir, "p1", &on, tables);
    let p1 = start(&lan, "p1", p1_with(&router(200, N, HEALTH, "")));
    let _p2 = start(
        &lan,
        "p2",
        config_on(&dir, "p2", &on, &router(100, N, HEALTH, "")),
    );
    wait(Duration::from_secs(5), "p1 Master", || who_at(&lan, &vip) == "p1");
    let reload = |tables: &str| {
        std::fs::write(p1.config_path(), p1_with(tables)).expect("config");
        p1.signal("HUP");
    };
    // The priority lowered in place: p1 says so at once and p2 preempts.
    // The router is not started anew (it goes from Master to Backup, never
    // through Initialize or Fault).
    reload(&router(50, N, HEALTH, ""));
    wait(Duration::from_secs(3), "p2 preempts the lowered p1", || {
        who_at(&lan, &vip) == "p2" && !lan.holds("p1", &vip)
    });
    let log = p1.log();
    let after = log.split("generation=2").nth(1).unwrap_or_default();
    assert!(after.contains("takes its new settings in place"), "{log}");
    assert!(
        after.contains("from=\"master\" to=\"backup\"")
            && !after.contains("from=\"fault\"")
            && !after.contains("from=\"initialize\""),
        "{log}"
    );
    // The priority in force is what /status and the metrics show.
    let (status, metrics) = scrape(&lan, "p1");
    assert!(status.contains("\"priority\":50"), "{status}");
    assert!(
        metrics.lines().any(|l| l.starts_with("palanquin_vrrp_priority{")
            && l.contains("vrid=\"53\"")
            && l.ends_with(" 50")),
        "{metrics}"
    );
    // A second router added by a reload starts; the first keeps its state.
    let added = format!(
        "{}\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 54\npriority = 200\nadvert_interval = \"100ms\"\nvirtual_ips = [\"{second}/24\"]\n",
        router(50, N, HEALTH, "")
    );
    reload(&added);
    wait(
        Duration::from_secs(5),
        "the new router is Master of its VIP",
        || who_at(&lan, &second) == "p1",
    );
    assert_eq!(who_at(&lan, &vip), "p2");
    // Removed again: it resigns and the address goes.
    reload(&router(50, N, HEALTH, ""));
    wait(
        Duration::from_secs(3),
        "the removed router gave its VIP up",
        || !lan.holds("p1", &second),
    );
    // Its gauges are retired (NaN), after its last transition.
    wait(
        Duration::from_secs(2),
        "the removed router's gauges retired",
        || {
            let (status, metrics) = scrape(&lan, "p1");
            !status.contains("\"vrid\":54")
                && metrics
                    .lines()
                    .filter(|l| l.starts_with("palanquin_vrrp_state{") && l.contains("vrid=\"54\""))
                    .all(|l| l.ends_with(" NaN"))
        },
    );
    // The priority raised and an address added, in place: p1 preempts and
    // holds both.
    reload(&router(200, N, HEALTH, "").replace(
        &format!("virtual_ips = [\"{vip}/24\"]"),
        &format!("virtual_ips = [\"{vip}/24\", \"{third}/24\"]"),
    ));
    wait(Duration::from_secs(5), "p1 Master of both addresses", || {
        who_at(&lan, &vip) == "p1" && who_at(&lan, &third) == "p1"
    });
    // A bad table is refused with its key named; the routers stay as they are.
    reload(&router(200, N, HEALTH, "").replace("vrid = 53", "vrid = 0"));
    wait(Duration::from_secs(3), "the bad reload refused", || {
        p1.log().contains("reload refused")
    });
    assert!(p1.log().contains("vrrp.vrid"), "{}", p1.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(who_at(&lan, &vip), "p1");
    assert!(lan.holds("p1", &third));
    // An address taken out in place goes; the Master keeps the other.
    reload(&router(200, N, HEALTH, ""));
    wait(Duration::from_secs(3), "the address taken out", || {
        !lan.holds("p1", &third)
    });
    assert!(lan.holds("p1", &vip) && !lan.holds("p2", &vip));
    assert_eq!(who_at(&lan, &vip), "p1");
}

/// `/status` and `/metrics` of the daemon in `node` (on its loopback).
fn scrape(lan: &Lan, node: &str) -> (String, String) {
    lan.run_in(node, || {
        let at = "127.0.0.1:9153".parse().expect("addr");
        (
            palanquin_testkit::daemon::Daemon::http_get(at, "/status"),
            palanquin_testkit::daemon::Daemon::http_get(at, "/metrics"),
        )
    })
}

#[test]
fn a_reload_swaps_addresses_between_two_routers() {
    const N: u8 = 18;
    let lan = Lan::new("pqmv", N, &["p1", "c"]);
    let dir = scratch("move");
    let ip = |i: u8| format!("10.53.{N}.{i}");
    let on: Vec<String> = [53, 54, 55].iter().map(|i| format!("{}:53", ip(*i))).collect();
    let table = |vrid: u8, vips: &[u8]| {
        let list: Vec<String> = vips.iter().map(|i| format!("\"{}/24\"", ip(*i))).collect();
        format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = {vrid}\npriority = 200\nadvert_interval = \"100ms\"\nvirtual_ips = [{}]\n",
            list.join(", ")
        )
    };
    let p1 = start(
        &lan,
        "p1",
        config_on(&dir, "p1", &on, &(table(53, &[53, 55]) + &table(54, &[54]))),
    );
    wait(Duration::from_secs(5), "both routers Master alone", || {
        [53, 54, 55].iter().all(|i| lan.holds("p1", &ip(*i)))
    });
    // .54 and .55 swap routers in one reload: each gives one up and takes
    // the other's, so every address must be off before any is taken (or a
    // router's add would be undone by the other's removal).
    std::fs::write(
        p1.config_path(),
        config_on(&dir, "p1", &on, &(table(53, &[53, 54]) + &table(54, &[55]))),
    )
    .expect("config");
    p1.signal("HUP");
    wait(Duration::from_secs(3), "the addresses swapped routers", || {
        let status = scrape(&lan, "p1").0;
        status.contains(&format!("\"virtual_ips\":[\"{}/24\",\"{}/24\"]", ip(53), ip(54)))
            && status.contains(&format!("\"virtual_ips\":[\"{}/24\"]", ip(55)))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        [53, 54, 55].iter().all(|i| lan.holds("p1", &ip(*i))),
        "{}",
        p1.log()
    );
    assert_eq!(who_at(&lan, &ip(55)), "p1");
    // Each router holds what it now owns: VRID 54 taken away takes .55 with
    // it, and VRID 53 keeps .53 and .54.
    std::fs::write(
        p1.config_path(),
        config_on(&dir, "p1", &on, &table(53, &[53, 54])),
    )
    .expect("config");
    p1.signal("HUP");
    wait(Duration::from_secs(3), "VRID 54 resigned with .55", || {
        !lan.holds("p1", &ip(55))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        lan.holds("p1", &ip(53)) && lan.holds("p1", &ip(54)),
        "{}",
        p1.log()
    );
}
