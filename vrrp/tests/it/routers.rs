//! Routers of this crate (instance::run) in network namespaces the test
//! builds, joined by a veth pair or a bridge: election by priority, a clean
//! shutdown handing over within the skew, preemption back, split brain,
//! nopreempt, active/active, IPv6 (with the neighbour advertisement a
//! client's cache takes), and keepalived peers (VRRPv3 over IPv4 and IPv6,
//! VRRPv2 with a password) on the other end, in both roles.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use palanquin_testkit::netns::ip;
use palanquin_vrrp::fsm::{self, State};
use palanquin_vrrp::instance::{self, Control, Observer, Settings};
use palanquin_vrrp::packet::{Auth, Checksum, Version};
use tokio::sync::mpsc;

use crate::keepalived::Namespace;
use palanquin_testkit::keepalived::keepalived;

/// Two namespaces, `<tag>a` and `<tag>b`, with `pqa0` (10.53.N.1/24) in the
/// first and `pqb0` (10.53.N.2/24) in the second, joined.
fn pair(tag: &str, n: u8) -> (Namespace, Namespace) {
    let a = Namespace(format!("{tag}a"));
    let b = Namespace(format!("{tag}b"));
    for ns in [&a, &b] {
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    }
    ip(&[
        "-n", &a.0, "link", "add", "pqa0", "type", "veth", "peer", "name", "pqb0", "netns", &b.0,
    ]);
    ip(&[
        "-n",
        &a.0,
        "addr",
        "add",
        &format!("10.53.{n}.1/24"),
        "dev",
        "pqa0",
    ]);
    ip(&[
        "-n",
        &b.0,
        "addr",
        "add",
        &format!("10.53.{n}.2/24"),
        "dev",
        "pqb0",
    ]);
    ip(&["-n", &a.0, "link", "set", "pqa0", "up"]);
    ip(&["-n", &b.0, "link", "set", "pqb0", "up"]);
    (a, b)
}

/// Whether `addr` is on an interface of namespace `ns`.
fn holds(ns: &str, addr: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-4", "-o", "addr", "show"])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {addr}/"))
}

#[derive(Default)]
struct Log {
    transitions: Mutex<Vec<(State, State)>>,
    dropped: Mutex<Vec<&'static str>>,
    foreign: Mutex<Vec<u8>>,
    priorities: Mutex<Vec<u8>>,
}

impl Observer for Log {
    fn transition(&self, from: State, to: State, _priority: u8) {
        self.transitions.lock().expect("log").push((from, to));
    }

    fn dropped(&self, reason: &'static str) {
        self.dropped.lock().expect("log").push(reason);
    }

    fn foreign(&self, vrid: u8) {
        self.foreign.lock().expect("log").push(vrid);
    }

    fn priority(&self, priority: u8) {
        self.priorities.lock().expect("log").push(priority);
    }
}

impl Log {
    fn state(&self) -> Option<State> {
        self.transitions.lock().expect("log").last().map(|t| t.1)
    }
}

/// The settings of one of our routers.
fn settings(interface: &str, vrid: u8, priority: u8, vip: impl Into<IpAddr>, interval_cs: u16) -> Settings {
    let vip = vip.into();
    Settings {
        fsm: fsm::Config {
            version: Version::V3,
            priority,
            interval_cs,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary: Ipv4Addr::UNSPECIFIED.into(),
        },
        vrid,
        interface: interface.to_owned(),
        addresses: vec![(vip, if vip.is_ipv6() { 64 } else { 24 })],
        peers: Vec::new(),
        auth: Auth::None,
        checksum: Checksum::PseudoHeader,
        garp_repeat: 2,
        garp_interval: Duration::from_millis(50),
        garp_refresh: None,
        check_weight: None,
    }
}

/// A router of ours in namespace `ns` on `interface`, on a thread of its own.
struct Ours {
    controls: mpsc::Sender<Control>,
    log: Arc<Log>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Ours {
    fn start(ns: &str, interface: &str, priority: u8, vip: impl Into<IpAddr>, interval_cs: u16) -> Ours {
        Ours::run(ns, settings(interface, 53, priority, vip, interval_cs))
    }

    fn run(ns: &str, settings: Settings) -> Ours {
        let (controls, rx) = mpsc::channel(8);
        let log = Arc::new(Log::default());
        let observer: Arc<dyn Observer> = Arc::clone(&log) as Arc<dyn Observer>;
        let path = format!("/run/netns/{ns}");
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace");
            setns(file, CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(instance::run(settings, rx, observer))
        });
        Ours {
            controls,
            log,
            thread: Some(thread),
        }
    }

    /// A clean stop: priority 0, addresses removed.
    fn stop(mut self) {
        let _ = self.controls.blocking_send(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            t.join().expect("router thread").expect("router ran");
        }
    }
}

fn wait(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn two_routers_elect_by_priority_hand_over_on_shutdown_and_preempt_back() {
    let (a, b) = pair(&format!("pqr{}", std::process::id()), 2);
    let vip = Ipv4Addr::new(10, 53, 2, 100);
    // Adverts every second: Master_Down is 3.6 s for priority 100, its
    // skew 0.6 s, so a takeover well under 3 s is the resignation's doing.
    let high = Ours::start(&a.0, "pqa0", 200, vip, 100);
    let low = Ours::start(&b.0, "pqb0", 100, vip, 100);
    wait(Duration::from_secs(8), "an election", || {
        high.log.state() == Some(State::Master) && low.log.state() == Some(State::Backup)
    });
    assert!(holds(&a.0, "10.53.2.100") && !holds(&b.0, "10.53.2.100"));
    // A clean stop resigns: the backup takes over within its skew.
    high.stop();
    let took = wait(Duration::from_secs(5), "the takeover", || {
        holds(&b.0, "10.53.2.100")
    });
    assert!(
        !holds(&a.0, "10.53.2.100"),
        "the resigning router dropped the address"
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: not the resignation"
    );
    // The higher priority comes back and preempts.
    let high = Ours::start(&a.0, "pqa0", 200, vip, 100);
    wait(Duration::from_secs(8), "the preemption", || {
        holds(&a.0, "10.53.2.100") && !holds(&b.0, "10.53.2.100")
    });
    assert_eq!(low.log.state(), Some(State::Backup));
    high.stop();
    low.stop();
}

#[test]
fn a_keepalived_peer_and_ours_fail_over_both_ways() {
    let (a, b) = pair(&format!("pqk{}", std::process::id()), 3);
    let vip = Ipv4Addr::new(10, 53, 3, 100);
    let instance = |priority: u8| {
        format!(
            "  state BACKUP\n  interface pqb0\n  virtual_router_id 53\n  priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    10.53.3.100/24\n  }}"
        )
    };
    // Ours higher: keepalived stays Backup; ours stops cleanly: keepalived
    // takes over; ours returns: it preempts keepalived.
    let k = keepalived(&b.0, "pqkalow", "vrrp_version 3", &instance(100));
    let ours = Ours::start(&a.0, "pqa0", 200, vip, 10);
    wait(Duration::from_secs(5), "ours Master", || {
        ours.log.state() == Some(State::Master)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        holds(&a.0, "10.53.3.100") && !holds(&b.0, "10.53.3.100"),
        "{}",
        k.log()
    );
    ours.stop();
    wait(Duration::from_secs(3), "keepalived takes over", || {
        holds(&b.0, "10.53.3.100")
    });
    let ours = Ours::start(&a.0, "pqa0", 200, vip, 10);
    wait(Duration::from_secs(5), "ours preempts", || {
        holds(&a.0, "10.53.3.100") && !holds(&b.0, "10.53.3.100")
    });
    ours.stop();
    drop(k);
    // keepalived higher: ours stays Backup; keepalived killed outright:
    // ours takes over after Master_Down.
    let k = keepalived(&b.0, "pqkahigh", "vrrp_version 3", &instance(250));
    let ours = Ours::start(&a.0, "pqa0", 100, vip, 10);
    wait(Duration::from_secs(5), "keepalived Master", || {
        holds(&b.0, "10.53.3.100")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ours.log.state(), Some(State::Backup), "{}", k.log());
    assert!(!holds(&a.0, "10.53.3.100"));
    k.kill();
    wait(Duration::from_secs(3), "ours takes over", || {
        holds(&a.0, "10.53.3.100")
    });
    ours.stop();
}

#[test]
fn a_split_brain_heals_to_exactly_one_master() {
    let lan = palanquin_testkit::lan::Lan::new("pqsb", 20, &["a", "b"]);
    let vip = Ipv4Addr::new(10, 53, 20, 100);
    let a = Ours::start(&lan.ns("a"), "eth0", 150, vip, 30);
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 30);
    wait(Duration::from_secs(5), "a Master", || {
        a.log.state() == Some(State::Master) && b.log.state() == Some(State::Backup)
    });
    // The link between them cut, each link still up: both become Master.
    lan.isolate("a", true);
    wait(Duration::from_secs(5), "both Master", || {
        b.log.state() == Some(State::Master)
    });
    assert!(lan.holds("a", "10.53.20.100") && lan.holds("b", "10.53.20.100"));
    // Healed: the lower priority steps down at the first advert it hears.
    lan.isolate("a", false);
    wait(Duration::from_secs(5), "one Master again", || {
        b.log.state() == Some(State::Backup)
    });
    assert!(lan.holds("a", "10.53.20.100") && !lan.holds("b", "10.53.20.100"));
    assert_eq!(a.log.state(), Some(State::Master));
    a.stop();
    b.stop();
}

#[test]
fn nopreempt_keeps_the_master_that_is_there() {
    let lan = palanquin_testkit::lan::Lan::new("pqnp", 21, &["a", "b"]);
    let vip = Ipv4Addr::new(10, 53, 21, 100);
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 30);
    wait(Duration::from_secs(5), "b Master alone", || {
        b.log.state() == Some(State::Master)
    });
    let mut quiet = settings("eth0", 53, 200, vip, 30);
    quiet.fsm.preempt = false;
    let a = Ours::run(&lan.ns("a"), quiet);
    wait(Duration::from_secs(5), "a Backup", || {
        a.log.state() == Some(State::Backup)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        a.log.state(),
        Some(State::Backup),
        "a higher priority without preemption waits"
    );
    assert!(lan.holds("b", "10.53.21.100") && !lan.holds("a", "10.53.21.100"));
    // When the Master goes, it takes over.
    b.stop();
    wait(Duration::from_secs(5), "a takes over", || {
        lan.holds("a", "10.53.21.100")
    });
    a.stop();
}

#[test]
fn two_vrids_run_active_active() {
    let lan = palanquin_testkit::lan::Lan::new("pqaa", 22, &["a", "b"]);
    let (one, two) = (Ipv4Addr::new(10, 53, 22, 51), Ipv4Addr::new(10, 53, 22, 52));
    let a1 = Ours::run(&lan.ns("a"), settings("eth0", 51, 200, one, 30));
    let a2 = Ours::run(&lan.ns("a"), settings("eth0", 52, 100, two, 30));
    let b1 = Ours::run(&lan.ns("b"), settings("eth0", 51, 100, one, 30));
    let b2 = Ours::run(&lan.ns("b"), settings("eth0", 52, 200, two, 30));
    wait(Duration::from_secs(5), "each Master of one", || {
        lan.holds("a", "10.53.22.51")
            && lan.holds("b", "10.53.22.52")
            && !lan.holds("a", "10.53.22.52")
            && !lan.holds("b", "10.53.22.51")
    });
    assert_eq!(
        (a2.log.state(), b1.log.state()),
        (Some(State::Backup), Some(State::Backup))
    );
    // One node goes: the other holds both.
    a1.stop();
    a2.stop();
    wait(Duration::from_secs(5), "b holds both", || {
        lan.holds("b", "10.53.22.51") && lan.holds("b", "10.53.22.52")
    });
    b1.stop();
    b2.stop();
}

#[test]
fn a_keepalived_v2_peer_with_a_password_fails_over_both_ways() {
    let (a, b) = pair(&format!("pqk2{}", std::process::id()), 4);
    let vip = Ipv4Addr::new(10, 53, 4, 100);
    let v2 = |priority| {
        let mut s = settings("pqa0", 53, priority, vip, 100);
        s.fsm.version = Version::V2;
        s.auth = Auth::Password(*b"secret\0\0");
        s
    };
    let instance = "  state BACKUP\n  interface pqb0\n  virtual_router_id 53\n  priority 100\n  advert_int 1\n  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n  virtual_ipaddress {\n    10.53.4.100/24\n  }";
    let k = keepalived(&b.0, "pqk2", "vrrp_version 2", instance);
    let ours = Ours::run(&a.0, v2(200));
    wait(Duration::from_secs(8), "ours Master", || {
        ours.log.state() == Some(State::Master)
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        holds(&a.0, "10.53.4.100") && !holds(&b.0, "10.53.4.100"),
        "{}",
        k.log()
    );
    ours.stop();
    wait(Duration::from_secs(6), "keepalived takes over", || {
        holds(&b.0, "10.53.4.100")
    });
    // Ours returns, higher: it preempts keepalived.
    let ours = Ours::run(&a.0, v2(200));
    wait(Duration::from_secs(8), "ours preempts keepalived", || {
        holds(&a.0, "10.53.4.100") && !holds(&b.0, "10.53.4.100")
    });
    ours.stop();
    drop(k);
    // A keepalived with another password is no peer: its adverts are
    // dropped (counted as "auth"), and ours, lower, becomes Master anyway.
    let other = instance
        .replace("auth_pass secret", "auth_pass other")
        .replace("priority 100", "priority 250");
    let k = keepalived(&b.0, "pqk2o", "vrrp_version 2", &other);
    wait(Duration::from_secs(5), "keepalived Master", || {
        holds(&b.0, "10.53.4.100")
    });
    let ours = Ours::run(&a.0, v2(100));
    wait(Duration::from_secs(8), "ours Master too", || {
        ours.log.state() == Some(State::Master)
    });
    assert!(
        ours.log.dropped.lock().expect("log").contains(&"auth"),
        "{}",
        k.log()
    );
    ours.stop();
}

/// The link-layer address `node`'s neighbour cache holds for `addr`.
fn neighbour(lan: &palanquin_testkit::lan::Lan, node: &str, addr: &str) -> Option<String> {
    let out = lan.exec(node, &["ip", "-6", "neigh", "show", addr, "dev", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

/// A UDP datagram from `node` to `[addr]:9`: the kernel resolves the
/// neighbour first.
fn poke(lan: &palanquin_testkit::lan::Lan, node: &str, addr: &str) {
    let to: std::net::SocketAddr = format!("[{addr}]:9").parse().expect("address");
    lan.run_in(node, move || {
        let s = std::net::UdpSocket::bind("[::]:0").expect("socket");
        let _ = s.send_to(b"x", to);
    });
}

#[test]
fn ipv6_routers_elect_hand_over_and_announce_the_move_to_neighbours() {
    let lan = palanquin_testkit::lan::Lan::new("pq6", 23, &["a", "b", "client"]);
    let vip: IpAddr = "fd53:0:0:23::100".parse().expect("v6");
    let text = vip.to_string();
    let a = Ours::start(&lan.ns("a"), "eth0", 200, vip, 30);
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 30);
    wait(Duration::from_secs(5), "an IPv6 election", || {
        a.log.state() == Some(State::Master) && b.log.state() == Some(State::Backup)
    });
    assert!(lan.holds("a", &text) && !lan.holds("b", &text));
    // The client reaches the address, and learns a's hardware address for it.
    wait(Duration::from_secs(3), "the client resolves the VIP", || {
        poke(&lan, "client", &text);
        neighbour(&lan, "client", &text).as_deref() == Some(lan.mac("a").as_str())
    });
    // a resigns: b takes over within the skew, and its unsolicited neighbour
    // advertisement (Override) rewrites the client's cache with nothing
    // sent by the client.
    a.stop();
    wait(Duration::from_secs(2), "b takes over", || lan.holds("b", &text));
    wait(Duration::from_secs(2), "the client's cache follows", || {
        neighbour(&lan, "client", &text).as_deref() == Some(lan.mac("b").as_str())
    });
    assert!(!lan.holds("a", &text), "the resigning router dropped it");
    assert!(
        !b.log.dropped.lock().expect("log").contains(&"ttl"),
        "adverts arrive with hop limit 255"
    );
    b.stop();
    assert!(!lan.holds("b", &text));
}

#[test]
fn a_keepalived_ipv6_peer_and_ours_fail_over_both_ways() {
    let lan = palanquin_testkit::lan::Lan::new("pqk6", 24, &["ours", "keepalived"]);
    let vip: IpAddr = "fd53:0:0:24::100".parse().expect("v6");
    let text = vip.to_string();
    let instance = |priority: u8| {
        format!(
            "  state BACKUP\n  interface eth0\n  virtual_router_id 53\n  priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {text}/64\n  }}"
        )
    };
    // Ours higher: keepalived stays Backup; ours stops: keepalived takes over.
    let k = keepalived(&lan.ns("keepalived"), "pqk6low", "vrrp_version 3", &instance(100));
    let ours = Ours::start(&lan.ns("ours"), "eth0", 200, vip, 10);
    wait(Duration::from_secs(5), "ours Master", || {
        ours.log.state() == Some(State::Master)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        lan.holds("ours", &text) && !lan.holds("keepalived", &text),
        "{}",
        k.log()
    );
    ours.stop();
    wait(Duration::from_secs(3), "keepalived takes over", || {
        lan.holds("keepalived", &text)
    });
    drop(k);
    // keepalived higher: ours stays Backup; keepalived killed: ours takes over.
    let k = keepalived(
        &lan.ns("keepalived"),
        "pqk6high",
        "vrrp_version 3",
        &instance(250),
    );
    let ours = Ours::start(&lan.ns("ours"), "eth0", 100, vip, 10);
    wait(Duration::from_secs(5), "keepalived Master", || {
        lan.holds("keepalived", &text)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ours.log.state(), Some(State::Backup), "{}", k.log());
    assert!(!lan.holds("ours", &text));
    k.kill();
    wait(Duration::from_secs(3), "ours takes over", || {
        lan.holds("ours", &text)
    });
    ours.stop();
}

/// Sends each of `packets` (VRRP messages, with the hop limit / TTL given)
/// from `node` to the VRRP group, or to `to`, through a raw socket of the
/// test's own.
fn inject(
    lan: &palanquin_testkit::lan::Lan,
    node: &str,
    v6: bool,
    to: Option<IpAddr>,
    packets: Vec<(u32, Vec<u8>)>,
) {
    lan.run_in(node, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let link = palanquin_vrrp::net::link("eth0", &[]).expect("eth0");
        let proto = Some(Protocol::from(i32::from(palanquin_vrrp::packet::PROTOCOL)));
        let (socket, dst) = if v6 {
            let s = Socket::new(Domain::IPV6, Type::RAW, proto).expect("raw socket");
            s.set_multicast_if_v6(link.index).expect("interface");
            let group = to.unwrap_or(IpAddr::V6(palanquin_vrrp::packet::GROUP_V6));
            (s, std::net::SocketAddr::new(group, 0))
        } else {
            let s = Socket::new(Domain::IPV4, Type::RAW, proto).expect("raw socket");
            let IpAddr::V4(own) = link.source(false).expect("an address") else {
                unreachable!()
            };
            s.set_multicast_if_v4(&own).expect("interface");
            let group = to.unwrap_or(IpAddr::V4(palanquin_vrrp::packet::GROUP_V4));
            (s, std::net::SocketAddr::new(group, 0))
        };
        for (ttl, msg) in packets {
            if v6 {
                socket.set_multicast_hops_v6(ttl).expect("hops");
                socket.set_unicast_hops_v6(ttl).expect("hops");
            } else {
                socket.set_multicast_ttl_v4(ttl).expect("ttl");
                socket.set_ttl_v4(ttl).expect("ttl");
            }
            socket.send_to(&msg, &dst.into()).expect("send");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

/// The address `node`'s eth0 sends IPv6 (or IPv4) adverts from.
fn source_of(lan: &palanquin_testkit::lan::Lan, node: &str, v6: bool) -> IpAddr {
    lan.run_in(node, move || {
        palanquin_vrrp::net::link("eth0", &[])
            .and_then(|l| l.source(v6))
            .expect("an address")
    })
}

/// Every kind of bad advert, from a node that is no router: each dropped
/// under its reason, none taken (they all claim priority 254, which would
/// make the Master step down), the router unharmed.
fn bad_adverts_for(v6: bool, subnet: u8) {
    use palanquin_vrrp::packet::{self, Advert};
    let lan = palanquin_testkit::lan::Lan::new(if v6 { "pqbad6" } else { "pqbad4" }, subnet, &["a", "x"]);
    let vip: IpAddr = if v6 {
        format!("fd53:0:0:{subnet}::100").parse().expect("v6")
    } else {
        format!("10.53.{subnet}.100").parse().expect("v4")
    };
    let a = Ours::start(&lan.ns("a"), "eth0", 100, vip, 30);
    // A router with unicast peers on the same node: adverts from others go.
    let peered = if v6 {
        None
    } else {
        let mut s = settings("eth0", 54, 100, IpAddr::from([10, 53, subnet, 101]), 30);
        s.peers = vec![IpAddr::from([10, 53, subnet, 9])];
        Some(Ours::run(&lan.ns("a"), s))
    };
    wait(Duration::from_secs(5), "a Master", || {
        a.log.state() == Some(State::Master)
    });
    let src = source_of(&lan, "x", v6);
    let group = if v6 {
        IpAddr::V6(packet::GROUP_V6)
    } else {
        IpAddr::V4(packet::GROUP_V4)
    };
    let advert = |vrid: u8, version: Version| Advert {
        version,
        vrid,
        priority: 254,
        interval_cs: 30,
        addrs: vec![vip],
        auth: Auth::None,
    };
    let good =
        |vrid: u8, to: IpAddr| packet::encode(&advert(vrid, Version::V3), src, to, Checksum::PseudoHeader);
    let mut bad_sum = good(53, group);
    bad_sum[6] ^= 0xff;
    let mut version4 = good(53, group);
    version4[0] = 0x41;
    let mut type2 = good(53, group);
    type2[0] = 0x32;
    let mut packets = vec![
        (64, good(53, group)),                // forwarded: TTL 64
        (255, bad_sum),                       // checksum
        (255, version4),                      // version 4
        (255, type2),                         // not an advertisement
        (255, good(53, group)[..6].to_vec()), // truncated
        (255, good(99, group)),               // another VRID
    ];
    if !v6 {
        // VRRPv2 to a v3 router.
        let mut v2 = advert(53, Version::V2);
        v2.interval_cs = 100;
        packets.push((255, packet::encode(&v2, src, group, Checksum::Plain)));
    }
    inject(&lan, "x", v6, None, packets);
    if let Some(p) = &peered {
        // From 10.53.N.2, which is not the configured peer.
        let to = source_of(&lan, "a", false);
        inject(&lan, "x", false, Some(to), vec![(255, good(54, to))]);
        wait(Duration::from_secs(2), "the stranger dropped", || {
            p.log.dropped.lock().expect("log").contains(&"peer")
        });
    }
    wait(Duration::from_secs(2), "every bad advert counted", || {
        let d = a.log.dropped.lock().expect("log");
        ["ttl", "checksum", "version", "type", "truncated"]
            .iter()
            .all(|r| d.contains(r))
    });
    assert!(
        a.log.foreign.lock().expect("log").contains(&99),
        "another VRID seen as such"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.log.state(), Some(State::Master), "no bad advert was taken");
    assert!(lan.holds("a", &vip.to_string()));
    // The router is unharmed: it stops cleanly.
    a.stop();
    if let Some(p) = peered {
        p.stop();
    }
}

#[test]
fn bad_adverts_are_dropped_counted_and_change_nothing() {
    bad_adverts_for(false, 26);
    bad_adverts_for(true, 27);
}

#[test]
fn ipv6_routers_with_unicast_peers_elect_and_hand_over() {
    let lan = palanquin_testkit::lan::Lan::new("pqu6", 28, &["a", "b"]);
    let vip: IpAddr = "fd53:0:0:28::100".parse().expect("v6");
    let text = vip.to_string();
    // Each names the other by its link-local address, where its adverts
    // come from.
    let (la, lb) = (source_of(&lan, "a", true), source_of(&lan, "b", true));
    let mut sa = settings("eth0", 53, 200, vip, 30);
    sa.peers = vec![lb];
    let mut sb = settings("eth0", 53, 100, vip, 30);
    sb.peers = vec![la];
    let a = Ours::run(&lan.ns("a"), sa);
    let b = Ours::run(&lan.ns("b"), sb);
    wait(Duration::from_secs(5), "a unicast IPv6 election", || {
        a.log.state() == Some(State::Master) && b.log.state() == Some(State::Backup)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(lan.holds("a", &text) && !lan.holds("b", &text), "one Master");
    assert!(!b.log.dropped.lock().expect("log").contains(&"peer"));
    a.stop();
    wait(Duration::from_secs(2), "b takes over", || lan.holds("b", &text));
    b.stop();
}

#[test]
fn an_ipv6_router_waits_in_fault_while_its_link_local_address_is_tentative() {
    let lan = palanquin_testkit::lan::Lan::new("pqdad", 29, &["a", "b"]);
    let vip: IpAddr = "fd53:0:0:29::100".parse().expect("v6");
    let text = vip.to_string();
    let a = Ours::start(&lan.ns("a"), "eth0", 200, vip, 10);
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 10);
    wait(Duration::from_secs(5), "a Master", || {
        a.log.state() == Some(State::Master) && b.log.state() == Some(State::Backup)
    });
    // a's link goes down and up with duplicate address detection on: its
    // link-local address comes back tentative for a second or so, and the
    // kernel refuses it as a source meanwhile.
    let sh = |cmd: &str| {
        let out = lan.exec("a", &["sh", "-c", cmd]);
        assert!(out.status.success(), "{cmd}: {out:?}");
    };
    sh("sysctl -qw net.ipv6.conf.eth0.accept_dad=1 && ip link set eth0 down");
    wait(Duration::from_secs(2), "b takes over", || lan.holds("b", &text));
    sh("ip link set eth0 up");
    // Were a to come back as a Backup at once, it would take over after
    // Master_Down (about 0.3 s) with adverts that cannot leave: two
    // Masters until the address is usable. It waits in Fault instead.
    let mut both = Duration::ZERO;
    let mut longest = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let t = Instant::now();
        if lan.holds("a", &text) && lan.holds("b", &text) {
            both += t.elapsed() + Duration::from_millis(10);
            longest = longest.max(both);
        } else {
            both = Duration::ZERO;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        longest < Duration::from_millis(200),
        "two Masters for {longest:?} while a's address was tentative"
    );
    wait(
        Duration::from_secs(5),
        "a preempts once its address is usable",
        || lan.holds("a", &text) && !lan.holds("b", &text),
    );
    a.stop();
    b.stop();
}

#[test]
fn a_failing_check_lowers_the_priority_by_its_weight_or_faults_without_one() {
    let lan = palanquin_testkit::lan::Lan::new("pqwt", 31, &["a", "b"]);
    let vip = Ipv4Addr::new(10, 53, 31, 100);
    let text = vip.to_string();
    let mut weighted = settings("eth0", 53, 200, vip, 30);
    weighted.check_weight = Some(150);
    let a = Ours::run(&lan.ns("a"), weighted.clone());
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 30);
    wait(Duration::from_secs(5), "a Master", || {
        lan.holds("a", &text) && !lan.holds("b", &text)
    });
    let send = |c: Control| a.controls.blocking_send(c).expect("router runs");
    // Failing with a weight: 200 - 150 = 50, below b, which preempts.
    send(Control::Check(true));
    wait(Duration::from_secs(3), "b preempts the lowered a", || {
        lan.holds("b", &text) && !lan.holds("a", &text)
    });
    assert_eq!(a.log.state(), Some(State::Backup), "lowered, not Fault");
    assert_eq!(a.log.priorities.lock().expect("log").last(), Some(&50));
    // Passing again: back to 200, and a preempts.
    send(Control::Check(false));
    wait(Duration::from_secs(3), "a preempts back", || {
        lan.holds("a", &text) && !lan.holds("b", &text)
    });
    assert_eq!(a.log.priorities.lock().expect("log").last(), Some(&200));
    // A reload takes the weight away while the check fails: Fault.
    send(Control::Check(true));
    wait(Duration::from_secs(3), "b Master again", || lan.holds("b", &text));
    let mut unweighted = weighted.clone();
    unweighted.check_weight = None;
    send(Control::Reconfigure(Box::new(unweighted), None));
    wait(Duration::from_secs(2), "a in Fault", || {
        a.log.state() == Some(State::Fault)
    });
    // And gives it back: out of Fault, at the lowered priority.
    send(Control::Reconfigure(Box::new(weighted), None));
    wait(Duration::from_secs(2), "a Backup at 50", || {
        a.log.state() == Some(State::Backup)
    });
    assert_eq!(a.log.priorities.lock().expect("log").last(), Some(&50));
    std::thread::sleep(Duration::from_millis(300));
    assert!(lan.holds("b", &text) && !lan.holds("a", &text));
    // A lighter weight keeps a failing Master a Master (200 - 50 = 150,
    // above b's 100): a preempts b while its check still fails...
    let mut light = settings("eth0", 53, 200, vip, 30);
    light.check_weight = Some(50);
    send(Control::Reconfigure(Box::new(light.clone()), None));
    wait(Duration::from_secs(3), "a Master at 150, failing", || {
        lan.holds("a", &text) && !lan.holds("b", &text)
    });
    assert_eq!(a.log.priorities.lock().expect("log").last(), Some(&150));
    // ...and a reload taking the weight away sends that Master to Fault.
    light.check_weight = None;
    send(Control::Reconfigure(Box::new(light), None));
    wait(
        Duration::from_secs(3),
        "the Master in Fault, b takes over",
        || a.log.state() == Some(State::Fault) && lan.holds("b", &text) && !lan.holds("a", &text),
    );
    assert!(a
        .log
        .transitions
        .lock()
        .expect("log")
        .contains(&(State::Master, State::Fault)));
    a.stop();
    b.stop();
}

#[test]
fn a_cut_cable_is_a_fault_and_its_return_a_recovery() {
    let lan = palanquin_testkit::lan::Lan::new("pqcut", 32, &["a", "b"]);
    let vip = Ipv4Addr::new(10, 53, 32, 100);
    let text = vip.to_string();
    let a = Ours::start(&lan.ns("a"), "eth0", 200, vip, 30);
    let b = Ours::start(&lan.ns("b"), "eth0", 100, vip, 30);
    wait(Duration::from_secs(5), "a Master", || {
        lan.holds("a", &text) && !lan.holds("b", &text)
    });
    // The bridge side of a's cable goes down: a loses its carrier.
    lan.link("a", false);
    wait(Duration::from_secs(2), "a in Fault, its address dropped", || {
        a.log.state() == Some(State::Fault) && !lan.holds("a", &text)
    });
    wait(Duration::from_secs(3), "b takes over", || lan.holds("b", &text));
    // Back: a recovers to Backup, hears b's lower priority, and preempts.
    lan.link("a", true);
    wait(Duration::from_secs(5), "a Master again", || {
        lan.holds("a", &text) && !lan.holds("b", &text)
    });
    let seen = a.log.transitions.lock().expect("log").clone();
    assert!(
        seen.contains(&(State::Master, State::Fault)) && seen.contains(&(State::Fault, State::Backup)),
        "{seen:?}"
    );
    a.stop();
    b.stop();
}
