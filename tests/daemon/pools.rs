//! Health-checked pools end to end: the real daemon, real members (TCP
//! listeners the test starts and kills), queries over UDP from chosen
//! source addresses. Addresses 127.0.131–135.x.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use palanquin_testkit::backend::{Backend, Mode};
use palanquin_testkit::daemon::Daemon;

use crate::{bin, ip};

pub(crate) const ZONE: &str = "$TTL 300
@        IN SOA ns1 hostmaster 1 7200 3600 1209600 60
         IN NS  ns1
ns1      A     127.0.0.1
static   A     192.0.2.2
";

/// One answer, as the tests look at it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) rcode: u8,
    pub(crate) addrs: Vec<Ipv4Addr>,
    pub(crate) ttl: Option<u32>,
    /// Record types of the authority section.
    pub(crate) authority: Vec<u16>,
}

/// Asks `server` for `name` A over UDP from `source`, with an EDNS Client
/// Subnet option for `subnet`/24 when given.
pub(crate) fn ask(server: SocketAddr, name: &str, source: IpAddr, subnet: Option<[u8; 3]>) -> Answer {
    let socket = UdpSocket::bind((source, 0)).expect("client socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut q = vec![0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
    match subnet {
        Some(net) => {
            q.extend_from_slice(&[0, 11, 0, 8, 0, 7, 0, 1, 24, 0]);
            q.extend_from_slice(&net);
        }
        None => q.extend_from_slice(&[0, 0]),
    }
    socket.send_to(&q, server).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer from {server} for {name}: {e}"));
    let r = &buf[..n];
    let l = palanquin_wire::layout(r).expect("a well-formed answer");
    let addrs: Vec<Ipv4Addr> = l
        .answers
        .iter()
        .filter(|a| a.rtype == 1)
        .map(|a| {
            Ipv4Addr::new(
                r[a.rdata_at],
                r[a.rdata_at + 1],
                r[a.rdata_at + 2],
                r[a.rdata_at + 3],
            )
        })
        .collect();
    Answer {
        rcode: r[3] & 0x0f,
        ttl: l.answers.first().map(|a| a.ttl),
        addrs,
        authority: l.authority.iter().map(|a| a.rtype).collect(),
    }
}

/// A daemon serving `pool.test.` (from [`ZONE`]) on `127.0.N.250:53`, with
/// `pools` (TOML `[[zone.pool]]` tables), metrics on port 9153 and a
/// control socket; returns it and where it answers.
pub(crate) fn start(octet: u8, pools: &str) -> (Daemon, SocketAddr) {
    let addr = SocketAddr::new(ip(octet, 250), 53);
    let dir = std::env::temp_dir().join(format!("palanquin-pools-{}-{octet}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let zone = dir.join("pool.zone");
    std::fs::write(&zone, ZONE).expect("zone");
    let d = Daemon::start(bin(), addr, &config(addr, &zone, &dir, pools));
    (d, addr)
}

/// The configuration [`start`] runs.
pub(crate) fn config(addr: SocketAddr, zone: &Path, dir: &Path, pools: &str) -> String {
    format!(
        "[server]\nlisten = [\"{addr}\"]\n[metrics]\nlisten = \"{}:9153\"\n[control]\nsocket = \"{}\"\n\n[[zone]]\norigin = \"pool.test.\"\nfile = \"{}\"\n{pools}",
        addr.ip(),
        dir.join("control.sock").display(),
        zone.display()
    )
}

/// `127.0.o.m:8080`.
pub(crate) fn member(o: u8, m: u8) -> SocketAddr {
    SocketAddr::new(ip(o, m), 8080)
}

fn v4(o: u8, m: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, o, m)
}

/// Polls until `f` holds (every 10 ms), returning how long that took, or
/// panics after `limit` with `what`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// A pool metric of `d`: `name{zone="pool.test.",pool,member,more}`.
fn metric(d: &Daemon, name: &str, pool: &str, member: Option<&str>, more: &str) -> f64 {
    let member = member.map_or(String::new(), |m| format!(",member=\"{m}\""));
    Daemon::metric(
        SocketAddr::new(d.addr.ip(), 9153),
        &format!("{name}{{zone=\"pool.test.\",pool=\"{pool}\"{member}{more}}}"),
    )
}

#[test]
fn a_killed_member_leaves_the_answers_within_fall_intervals_and_comes_back() {
    const O: u8 = 131;
    let mut members: Vec<Option<Backend>> = (1..=3)
        .map(|m| Some(Backend::start(member(O, m), Mode::Accept)))
        .collect();
    // 127.0.131.4 is dead from the start.
    let (d, addr) = start(
        O,
        r#"[[zone.pool]]
name = "www"
ttl = 30
members = ["127.0.131.1", "127.0.131.2", "127.0.131.3", "127.0.131.4"]
check = { kind = "tcp", port = 8080, interval = "500ms", timeout = "200ms", rise = 2, fall = 2 }
answer = { policy = "round-robin", down_ttl = 5 }
"#,
    );
    let client = ip(O, 100);
    // The very first answer already leaves out the member dead at start.
    let first = ask(addr, "www.pool.test", client, None);
    let live: HashSet<Ipv4Addr> = (1..=3).map(|m| v4(O, m)).collect();
    assert_eq!(
        first.addrs.iter().copied().collect::<HashSet<_>>(),
        live,
        "{first:?}"
    );
    assert_eq!(first.ttl, Some(5), "down_ttl while a member is down");

    // fall × interval (+10% jitter) + timeout, with room for polling.
    let bound = Duration::from_millis(2 * 550 + 200 + 400);
    members[0].take().expect("running").stop();
    let gone = wait_until(Duration::from_secs(5), "the killed member leaves", || {
        !ask(addr, "www.pool.test", client, None).addrs.contains(&v4(O, 1))
    });
    assert!(gone <= bound, "left after {gone:?}, more than {bound:?}");
    // One failure does not take it out: fall is 2, checks are 500 ms apart.
    assert!(
        gone >= Duration::from_millis(300),
        "left after {gone:?}: before its second failure"
    );
    let log = d.log();
    assert_eq!(
        log.matches("pool member down").count(),
        2,
        "one line for .4 at start, one for .1: {log}"
    );
    assert_eq!(
        metric(
            &d,
            "palanquin_pool_member_transitions_total",
            "www.pool.test.",
            Some("127.0.131.1"),
            ",to=\"down\""
        ),
        1.0
    );

    members[0] = Some(Backend::start(member(O, 1), Mode::Accept));
    let back = wait_until(Duration::from_secs(5), "the member returns", || {
        ask(addr, "www.pool.test", client, None).addrs.contains(&v4(O, 1))
    });
    assert!(back <= bound, "back after {back:?}, more than {bound:?}");
    assert!(
        back >= Duration::from_millis(300),
        "back after {back:?}: before its second success"
    );
    assert_eq!(
        metric(
            &d,
            "palanquin_pool_member_up",
            "www.pool.test.",
            Some("127.0.131.1"),
            ""
        ),
        1.0
    );
    assert_eq!(
        metric(
            &d,
            "palanquin_pool_member_up",
            "www.pool.test.",
            Some("127.0.131.4"),
            ""
        ),
        0.0
    );
}

#[test]
fn each_all_down_policy_answers_as_configured() {
    const O: u8 = 132;
    // .1 .2: dead primaries of `all` and `none`; .5 dead primary, .6 live
    // backup, .7 dead backup of `backup`.
    let backup = Backend::start(member(O, 6), Mode::Accept);
    let check =
        r#"check = { kind = "tcp", port = 8080, interval = "300ms", timeout = "100ms", rise = 1, fall = 1 }"#;
    let (d, addr) = start(
        O,
        &format!(
            r#"[[zone.pool]]
name = "all"
members = ["127.0.132.1", "127.0.132.2"]
{check}
answer = {{ all_down = "all" }}
[[zone.pool]]
name = "none"
members = ["127.0.132.1", "127.0.132.2"]
{check}
answer = {{ all_down = "none" }}
[[zone.pool]]
name = "backup"
members = ["127.0.132.5"]
backup = ["127.0.132.6", "127.0.132.7"]
{check}
answer = {{ all_down = "backup" }}
"#
        ),
    );
    let client = ip(O, 100);
    let all = ask(addr, "all.pool.test", client, None);
    assert_eq!(all.addrs.len(), 2, "every primary, as if up: {all:?}");
    let none = ask(addr, "none.pool.test", client, None);
    assert_eq!((none.rcode, none.addrs.len()), (0, 0), "NODATA: {none:?}");
    assert_eq!(none.authority, vec![6], "with the SOA, for negative caching");
    let b = ask(addr, "backup.pool.test", client, None);
    assert_eq!(b.addrs, vec![v4(O, 6)], "the live backup only: {b:?}");
    // A primary comes back: the backups are no longer handed out.
    let primary = Backend::start(member(O, 5), Mode::Accept);
    wait_until(Duration::from_secs(3), "the primary returns", || {
        ask(addr, "backup.pool.test", client, None).addrs == vec![v4(O, 5)]
    });
    assert!(
        metric(
            &d,
            "palanquin_pool_answers_total",
            "all.pool.test.",
            None,
            ",type=\"A\",result=\"all_down\""
        ) >= 1.0
    );
    drop((primary, backup));
}

#[test]
fn rotation_is_fair_and_weights_are_respected() {
    const O: u8 = 133;
    let _members: Vec<Backend> = (1..=6)
        .map(|m| Backend::start(member(O, m), Mode::Accept))
        .collect();
    let check = r#"check = { kind = "tcp", port = 8080, interval = "1s", timeout = "200ms" }"#;
    let (_d, addr) = start(
        O,
        &format!(
            r#"[[zone.pool]]
name = "rr"
members = ["127.0.133.1", "127.0.133.2", "127.0.133.3"]
{check}
[[zone.pool]]
name = "weighted"
members = [{{ addr = "127.0.133.4", weight = 1 }}, {{ addr = "127.0.133.5", weight = 2 }}, {{ addr = "127.0.133.6", weight = 3 }}]
{check}
answer = {{ policy = "weighted" }}
"#
        ),
    );
    let client = ip(O, 100);
    let firsts = |name: &str, n: usize| -> BTreeMap<Ipv4Addr, usize> {
        let mut count = BTreeMap::new();
        for _ in 0..n {
            let a = ask(addr, name, client, None);
            assert_eq!(a.addrs.len(), 3, "every live member in each answer");
            *count.entry(a.addrs[0]).or_insert(0) += 1;
        }
        count
    };
    let rr = firsts("rr.pool.test", 3000);
    assert_eq!(rr.len(), 3, "{rr:?}");
    for (m, n) in &rr {
        assert!(
            (950..=1050).contains(n),
            "{m} came first {n} times of 3000: {rr:?}"
        );
    }
    let w = firsts("weighted.pool.test", 30_000);
    for (m, weight) in [(v4(O, 4), 1.0), (v4(O, 5), 2.0), (v4(O, 6), 3.0)] {
        let share = w.get(&m).copied().unwrap_or(0) as f64 / 30_000.0;
        let want = weight / 6.0;
        assert!(
            (share - want).abs() <= want * 0.05,
            "{m} (weight {weight}) came first {share:.4} of the time, not {want:.4} ± 5%: {w:?}"
        );
    }
}

#[test]
fn hashed_keeps_each_client_on_its_member_and_moves_only_a_dead_members_clients() {
    const O: u8 = 134;
    let mut members: Vec<Option<Backend>> = (1..=4)
        .map(|m| Some(Backend::start(member(O, m), Mode::Accept)))
        .collect();
    let (_d, addr) = start(
        O,
        r#"[[zone.pool]]
name = "sticky"
members = ["127.0.134.1", "127.0.134.2", "127.0.134.3", "127.0.134.4"]
check = { kind = "tcp", port = 8080, interval = "300ms", timeout = "100ms", rise = 1, fall = 1 }
answer = { policy = "hashed", max = 1 }
"#,
    );
    // One client (by its address) over 100 queries: one member.
    let one: HashSet<Ipv4Addr> = (0..100)
        .map(|_| ask(addr, "sticky.pool.test", ip(O, 100), None).addrs[0])
        .collect();
    assert_eq!(one.len(), 1, "{one:?}");
    // Clients by address and by EDNS Client Subnet.
    let by_addr: Vec<IpAddr> = (101..=140).map(|b| ip(O, b)).collect();
    let subnets: Vec<[u8; 3]> = (0..=255).map(|i| [10, 1, i]).collect();
    let snapshot = || -> (HashMap<IpAddr, Ipv4Addr>, HashMap<[u8; 3], Ipv4Addr>) {
        (
            by_addr
                .iter()
                .map(|&c| (c, ask(addr, "sticky.pool.test", c, None).addrs[0]))
                .collect(),
            subnets
                .iter()
                .map(|&s| (s, ask(addr, "sticky.pool.test", ip(O, 100), Some(s)).addrs[0]))
                .collect(),
        )
    };
    let (before_addr, before_net) = snapshot();
    let used: HashSet<Ipv4Addr> = before_net.values().copied().collect();
    assert_eq!(used.len(), 4, "the subnets spread over every member");
    // The member with the most subnets dies.
    let victim = *used
        .iter()
        .max_by_key(|m| before_net.values().filter(|v| v == m).count())
        .expect("a member");
    let index = usize::from(victim.octets()[3]) - 1;
    members[index].take().expect("running").stop();
    wait_until(Duration::from_secs(3), "the dead member leaves", || {
        let probe = before_net.iter().find(|(_, m)| **m == victim).map(|(s, _)| *s);
        probe.is_some_and(|s| ask(addr, "sticky.pool.test", ip(O, 100), Some(s)).addrs[0] != victim)
    });
    let (after_addr, after_net) = snapshot();
    let mut moved = 0;
    for (s, was) in &before_net {
        let now = after_net[s];
        if *was == victim {
            assert_ne!(now, victim);
            moved += 1;
        } else {
            assert_eq!(now, *was, "subnet {s:?} moved though its member lives");
        }
    }
    for (c, was) in &before_addr {
        if *was != victim {
            assert_eq!(after_addr[c], *was, "client {c} moved though its member lives");
        }
    }
    assert!(moved > 0);
}

#[test]
fn drain_undrain_and_reload_keep_the_members_state() {
    const O: u8 = 135;
    let _members: Vec<Backend> = (1..=2)
        .map(|m| Backend::start(member(O, m), Mode::Accept))
        .collect();
    let pool = |members: &str| {
        format!(
            r#"[[zone.pool]]
name = "www"
members = [{members}]
check = {{ kind = "tcp", port = 8080, interval = "1s", timeout = "300ms", rise = 3, fall = 3 }}
"#
        )
    };
    let (d, addr) = start(O, &pool(r#""127.0.135.1", "127.0.135.2", "127.0.135.3""#));
    let client = ip(O, 100);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .arg("pool")
            .args(args)
            .arg("--config")
            .arg(d.config_path())
            .output()
            .expect("palanquin pool");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let set = |a: &Answer| a.addrs.iter().copied().collect::<HashSet<_>>();
    assert_eq!(
        set(&ask(addr, "www.pool.test", client, None)),
        HashSet::from([v4(O, 1), v4(O, 2)])
    );

    let (code, out) = cli(&["drain", "pool.test", "www", "127.0.135.1"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("drained"), "{out}");
    assert_eq!(ask(addr, "www.pool.test", client, None).addrs, vec![v4(O, 2)]);
    let (_, list) = cli(&["list"]);
    let line = list.lines().find(|l| l.contains("127.0.135.1")).expect("listed");
    assert!(line.contains("drained") && line.contains(" up "), "{list}");
    let down = list.lines().find(|l| l.contains("127.0.135.3")).expect("listed");
    assert!(
        down.contains("down") && down.contains("connection refused"),
        "{list}"
    );
    assert_eq!(
        metric(
            &d,
            "palanquin_pool_member_drained",
            "www.pool.test.",
            Some("127.0.135.1"),
            ""
        ),
        1.0
    );
    // Mistakes are refused with the reason.
    let (code, out) = cli(&["drain", "pool.test", "www", "127.0.135.9"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("has no member 127.0.135.9"), "{out}");
    let (code, out) = cli(&["drain", "pool.test", "nope", "127.0.135.1"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("no pool nope"), "{out}");

    // A reload that adds a dead member and changes every check (timeout):
    // the new member is checked before the swap, and the members that
    // remain keep their drain and their health. .3 comes alive just before:
    // with its health kept it needs rise (3) successes a second apart; had
    // the reload learned it again, its first check would bring it up at once.
    let _third = Backend::start(member(O, 3), Mode::Accept);
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    let text = text
        .replace(
            r#""127.0.135.1", "127.0.135.2", "127.0.135.3""#,
            r#""127.0.135.1", "127.0.135.2", "127.0.135.3", "127.0.135.4""#,
        )
        .replace(r#"timeout = "300ms""#, r#"timeout = "250ms""#);
    std::fs::write(d.config_path(), text).expect("config");
    d.signal("HUP");
    wait_until(Duration::from_secs(5), "the reload", || {
        d.log().contains("configuration reloaded")
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        ask(addr, "www.pool.test", client, None).addrs,
        vec![v4(O, 2)],
        "after the reload: .1 still drained, .3 still down, .4 dead"
    );
    wait_until(Duration::from_secs(6), ".3 rises", || {
        ask(addr, "www.pool.test", client, None).addrs.contains(&v4(O, 3))
    });
    assert!(
        d.log().contains("first round of pool checks done members=1"),
        "{}",
        d.log()
    );

    let (code, out) = cli(&["undrain", "pool.test", "www.pool.test.", "127.0.135.1"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        set(&ask(addr, "www.pool.test", client, None)),
        HashSet::from([v4(O, 1), v4(O, 2), v4(O, 3)])
    );
    // `palanquin status` lists the pools too.
    let out = std::process::Command::new(bin())
        .args(["status", "--config"])
        .arg(d.config_path())
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("www.pool.test. A") && text.contains("127.0.135.4"),
        "{text}"
    );
}
