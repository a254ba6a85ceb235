//! Zone replication with real peers: NSD as the secondary of a Palanquin
//! primary, Palanquin as the secondary of a Knot primary, and two
//! Palanquin peers; TSIG (hmac-sha256) on every transfer and NOTIFY, and
//! wrong keys and addresses refused. Addresses 127.0.121.x–127.0.123.x.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use palanquin_testkit::daemon::{dig, dig_from, status_of, Daemon};
use palanquin_testkit::peer::{peer_dir, quoted, Peer};

use crate::{bin, sa};

/// The key both sides hold, and one that is not it.
const SECRET: &str = "cGFsYW5xdWluLXJlcGxpY2F0aW9uLXRlc3Qta2V5LTE=";
const WRONG: &str = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3I=";

/// A zone of `origin` at `serial` with SOA timers `timers` (refresh retry
/// expire), and `extra` records.
fn zone_text(serial: u32, timers: &str, extra: &str) -> String {
    format!(
        "$TTL 300\n@ IN SOA ns1 hostmaster {serial} {timers} 60\n  IN NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n\
         Mixed A 192.0.2.3\nmail MX 10 www\ntxt TXT \"one two\" \"three\"\nsrv SRV 0 5 80 www\n\
         alias CNAME www\n*.wild A 192.0.2.9\nsub NS ns.sub\nns.sub A 192.0.2.7\n{extra}"
    )
}

/// The names [`zone_text`] holds, and a few it does not, for comparing two servers.
const NAMES: &[&str] = &[
    "", "ns1", "www", "mixed", "mail", "txt", "srv", "alias", "x.wild", "sub", "ns.sub", "changed", "nope",
];
const TYPES: &[&str] = &["SOA", "NS", "A", "MX", "TXT", "SRV", "CNAME", "AAAA"];

/// The serial `server` serves for `zone`, if it answers.
fn serial_at(server: SocketAddr, zone: &str) -> Option<u32> {
    let out = dig_from(None, server, zone, "SOA", &["+short", "+time=1"]);
    out.split_whitespace().nth(2)?.parse().ok()
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

/// An answer as dig prints it, without the parts that differ between two
/// servers answering the same (ID, timing, server line, NSID).
fn answer_of(server: SocketAddr, name: &str, rtype: &str) -> String {
    let out = dig_from(None, server, name, rtype, &["+norec", "+nocookie", "+noedns"]);
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with(";;") || l.contains("status:") || l.contains("flags:"))
        .filter(|l| !l.trim().is_empty() && !l.starts_with("; <<>>"))
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .map(|l| l.split(", id: ").next().unwrap_or(&l).to_owned())
        .collect();
    // Record order within a section is not meaningful.
    lines.sort();
    lines.join("\n")
}

fn palanquin_key(dir: &Path, name: &str, secret: &str) -> String {
    let file = dir.join(format!("{name}key"));
    std::fs::write(
        &file,
        format!("key \"{name}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{secret}\";\n}};\n"),
    )
    .expect("key file");
    format!(
        "[[key]]\nname = \"{name}\"\nsecret_file = \"{}\"\n",
        file.display()
    )
}

/// Serves `config` (which names files in `dir`) on `addr`.
fn palanquin(addr: SocketAddr, config: &str) -> Daemon {
    Daemon::start(bin(), addr, config)
}

/// `palanquin_zone_transfers_total` of `zone` with these labels.
fn transfers(http: SocketAddr, zone: &str, direction: &str, kind: &str, result: &str) -> f64 {
    Daemon::metric(
        http,
        &format!("palanquin_zone_transfers_total{{zone=\"{zone}\",direction=\"{direction}\",kind=\"{kind}\",result=\"{result}\"}}"),
    )
}

/// `palanquin_zone_notifies_total` of `zone` with these labels.
fn notifies(http: SocketAddr, zone: &str, direction: &str, result: &str) -> f64 {
    Daemon::metric(
        http,
        &format!(
            "palanquin_zone_notifies_total{{zone=\"{zone}\",direction=\"{direction}\",result=\"{result}\"}}"
        ),
    )
}

/// `palanquin_zone_refreshes_total` of `zone` with this result.
fn refreshes(http: SocketAddr, zone: &str, result: &str) -> f64 {
    Daemon::metric(
        http,
        &format!("palanquin_zone_refreshes_total{{zone=\"{zone}\",result=\"{result}\"}}"),
    )
}

/// `dig AXFR` from `source`, signed with `key` when given: its output.
fn axfr(server: SocketAddr, source: &str, zone: &str, key: Option<&str>) -> String {
    let port = server.port().to_string();
    let at = format!("@{}", server.ip());
    let tsig = key.map(|s| format!("hmac-sha256:xfr.:{s}"));
    let mut args = vec![
        at.as_str(),
        "-p",
        port.as_str(),
        "-b",
        source,
        zone,
        "AXFR",
        "+time=3",
        "+tries=1",
    ];
    if let Some(t) = &tsig {
        args.extend_from_slice(&["-y", t]);
    }
    String::from_utf8_lossy(&dig(&args).stdout).into_owned()
}

#[test]
fn nsd_replicates_a_palanquin_primary_by_axfr_then_notify_and_ixfr_with_tsig() {
    let (ours, nsd_at) = (sa("127.0.121.1:5300"), sa("127.0.121.2:5300"));
    let http = sa("127.0.121.1:9153");
    let dir = peer_dir("pal-primary");
    let zone_file = dir.join("rep.zone");
    std::fs::write(&zone_file, zone_text(1, "3600 600 86400", "")).expect("zone");
    let config = format!(
        "[server]\nlisten = [\"{ours}\"]\n[metrics]\nlisten = \"{http}\"\n{}\n[[zone]]\norigin = \"rep.test.\"\nfile = \"{}\"\nallow_transfer = [\"127.0.121.2\"]\nnotify = [\"{nsd_at}\"]\ntransfer_key = \"xfr.\"\n",
        palanquin_key(&dir, "xfr.", SECRET),
        zone_file.display()
    );
    let primary = palanquin(ours, &config);

    let nsd_dir = peer_dir("nsd-secondary");
    std::fs::create_dir_all(nsd_dir.join("xfr")).expect("xfr dir");
    let q = |n: &str| quoted(&nsd_dir.join(n));
    let nsd_conf = format!(
        "server:\n    server-count: 1\n    ip-address: 127.0.121.2@5300\n    username: \"\"\n    chroot: \"\"\n    database: \"\"\n    \
         zonesdir: {}\n    zonelistfile: {}\n    xfrdfile: {}\n    xfrdir: {}\n    pidfile: {}\n    logfile: {}\n    verbosity: 2\n\
         remote-control:\n    control-enable: no\n\
         key:\n    name: \"xfr.\"\n    algorithm: hmac-sha256\n    secret: \"{SECRET}\"\n\
         zone:\n    name: \"rep.test.\"\n    zonefile: {}\n    request-xfr: 127.0.121.1@5300 xfr.\n    allow-notify: 127.0.121.1 xfr.\n    outgoing-interface: 127.0.121.2\n",
        quoted(&nsd_dir),
        q("zone.list"),
        q("xfrd.state"),
        q("xfr"),
        q("nsd.pid"),
        q("log"),
        q("rep.test.zone"),
    );
    std::fs::write(nsd_dir.join("nsd.conf"), nsd_conf).expect("nsd.conf");
    let nsd = Peer::start(nsd_dir, "/usr/sbin/nsd", &["-d", "-c", "nsd.conf"]);

    // The initial transfer (AXFR: NSD has nothing yet).
    assert!(
        wait_until(Duration::from_secs(15), || serial_at(nsd_at, "rep.test")
            == Some(1))
        .is_some(),
        "NSD never served serial 1\n{}\n{}",
        nsd.output(),
        primary.log()
    );
    let sample = |kind: &str| transfers(http, "rep.test.", "out", kind, "ok");
    assert!(sample("axfr") >= 1.0, "{}", primary.log());

    // One record changes: reload → NOTIFY → NSD asks IXFR → serves it within 2 s.
    std::fs::write(
        &zone_file,
        zone_text(2, "3600 600 86400", "changed A 192.0.2.99\n"),
    )
    .expect("zone");
    primary.signal("HUP");
    let took = wait_until(Duration::from_secs(5), || {
        serial_at(nsd_at, "rep.test") == Some(2)
    })
    .unwrap_or_else(|| {
        panic!(
            "NSD did not pick up serial 2\n{}\n{}",
            nsd.output(),
            primary.log()
        )
    });
    assert!(
        took < Duration::from_secs(2),
        "NSD served serial 2 after {took:?}"
    );
    assert!(sample("axfr") >= 1.0, "a reload keeps the counts");
    assert!(
        sample("ixfr") >= 1.0,
        "NSD asked IXFR and got the differences\n{}",
        primary.log()
    );
    assert!(
        primary.log().contains("what=\"differences\""),
        "{}",
        primary.log()
    );
    let notified = notifies(http, "rep.test.", "out", "ok");
    // (The one at start may have gone before NSD listened.)
    assert!(
        notified >= 1.0,
        "NOTIFY after the reload acknowledged: {notified}"
    );

    // Same answers from both, for every name and type.
    for name in NAMES {
        let fqdn = if name.is_empty() {
            "rep.test".to_owned()
        } else {
            format!("{name}.rep.test")
        };
        for t in TYPES {
            assert_eq!(
                answer_of(ours, &fqdn, t),
                answer_of(nsd_at, &fqdn, t),
                "{fqdn} {t}"
            );
        }
    }

    // Who may transfer: the key and the address both.
    let ok = axfr(ours, "127.0.121.2", "rep.test", Some(SECRET));
    assert!(
        ok.contains("changed.rep.test.") && !ok.contains("Transfer failed"),
        "{ok}"
    );
    let wrong = axfr(ours, "127.0.121.2", "rep.test", Some(WRONG));
    assert!(
        !wrong.contains("www.rep.test."),
        "a wrong key gets no data: {wrong}"
    );
    let unsigned = axfr(ours, "127.0.121.2", "rep.test", None);
    assert!(
        unsigned.contains("Transfer failed"),
        "unsigned is refused: {unsigned}"
    );
    let elsewhere = axfr(ours, "127.0.121.3", "rep.test", Some(SECRET));
    assert!(
        elsewhere.contains("Transfer failed"),
        "outside allow_transfer: {elsewhere}"
    );
    let refused = transfers(http, "rep.test.", "out", "axfr", "refused");
    let tsig = transfers(http, "rep.test.", "out", "axfr", "tsig");
    let unsigned_count = transfers(http, "rep.test.", "out", "axfr", "unsigned");
    assert!(
        refused >= 1.0 && tsig >= 1.0 && unsigned_count >= 1.0,
        "refused {refused}, tsig {tsig}, unsigned {unsigned_count}"
    );
    assert!(!primary.log().contains(SECRET), "the secret is never logged");
}

fn knot_conf(dir: &Path, zones: &[(&str, &str, bool)]) -> String {
    let mut conf = format!(
        "server:\n    listen: 127.0.122.1@5300\n    rundir: {d}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {d}\nlog:\n  - target: stderr\n    any: info\n\
         key:\n  - id: xfr.\n    algorithm: hmac-sha256\n    secret: {SECRET}\n  - id: other.\n    algorithm: hmac-sha256\n    secret: {WRONG}\n\
         remote:\n  - id: pal\n    address: 127.0.122.2@5300\n    key: xfr.\n    via: 127.0.122.1\n\
         acl:\n  - id: pal\n    address: 127.0.122.2\n    key: [xfr., other.]\n    action: transfer\n\
         template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    zonefile-load: difference\n    journal-content: changes\n\
         zone:\n",
        d = quoted(dir)
    );
    for (domain, file, notify) in zones {
        conf.push_str(&format!(
            "  - domain: {domain}\n    file: {}\n    acl: pal\n",
            quoted(&dir.join(file))
        ));
        if *notify {
            conf.push_str("    notify: pal\n");
        }
    }
    conf
}

fn knotc(dir: &Path, args: &[&str]) {
    let out = Command::new("/usr/sbin/knotc")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .args(args)
        .output()
        .expect("knotc");
    assert!(
        out.status.success(),
        "knotc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn palanquin_replicates_a_knot_primary_on_notify_on_its_timer_and_expires_without_it() {
    let (knot_at, ours) = (sa("127.0.122.1:5300"), sa("127.0.122.2:5300"));
    let http = sa("127.0.122.2:9153");
    let kdir = peer_dir("knot-primary");
    // notify.test: told of changes; timer.test: only the 1 s refresh finds
    // them, expires 6 s after the primary is gone; badkey.test: our key
    // for it is not the primary's.
    std::fs::write(kdir.join("notify.zone"), zone_text(1, "3600 600 86400", "")).expect("zone");
    std::fs::write(kdir.join("timer.zone"), zone_text(1, "1 1 6", "")).expect("zone");
    std::fs::write(kdir.join("badkey.zone"), zone_text(1, "1 1 600", "")).expect("zone");
    let zones = [
        ("notify.test", "notify.zone", true),
        ("timer.test", "timer.zone", false),
        ("badkey.test", "badkey.zone", false),
    ];
    std::fs::write(kdir.join("knot.conf"), knot_conf(&kdir, &zones)).expect("knot.conf");
    let conf_path = kdir.join("knot.conf").display().to_string();
    let mut knot = Peer::start(kdir.clone(), "/usr/sbin/knotd", &["-c", &conf_path]);
    assert!(
        wait_until(Duration::from_secs(10), || serial_at(knot_at, "timer.test")
            == Some(1))
        .is_some(),
        "knot did not start\n{}",
        knot.output()
    );

    let dir = peer_dir("pal-secondary");
    let secondary = |origin: &str, key: &str| {
        format!(
            "[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\nprimaries = [\"{knot_at}\"]\ntransfer_key = \"{key}\"\n",
            dir.join(format!("{origin}saved")).display()
        )
    };
    let config = format!(
        "[server]\nlisten = [\"{ours}\"]\n[metrics]\nlisten = \"{http}\"\n{}{}{}{}{}",
        palanquin_key(&dir, "xfr.", SECRET),
        palanquin_key(&dir, "other.", SECRET),
        secondary("notify.test.", "xfr."),
        secondary("timer.test.", "xfr."),
        secondary("badkey.test.", "other."),
    );
    let mut pal = palanquin(ours, &config);
    // The initial transfers.
    for z in ["notify.test", "timer.test"] {
        assert!(
            wait_until(Duration::from_secs(5), || serial_at(ours, z) == Some(1)).is_some(),
            "{z} never arrived\n{}",
            pal.log()
        );
    }
    // Saved after it is served (a large zone's text takes a while to write).
    assert!(
        wait_until(Duration::from_secs(5), || dir.join("notify.test.saved").exists()).is_some(),
        "the transferred zone was never saved\n{}",
        pal.log()
    );
    // A key the primary does not accept: no data, SERVFAIL, the failure counted.
    assert_eq!(
        status_of(&dig_from(None, ours, "www.badkey.test", "A", &[])),
        "SERVFAIL"
    );
    assert!(
        wait_until(Duration::from_secs(5), || refreshes(
            http,
            "badkey.test.",
            "failed"
        ) >= 1.0)
        .is_some(),
        "{}",
        pal.log()
    );

    // NOTIFY-driven: a refresh an hour away, yet the change lands at once.
    std::fs::write(
        kdir.join("notify.zone"),
        zone_text(2, "3600 600 86400", "changed A 192.0.2.99\n"),
    )
    .expect("zone");
    knotc(&kdir, &["zone-reload", "notify.test"]);
    let took = wait_until(Duration::from_secs(5), || {
        serial_at(ours, "notify.test") == Some(2)
    })
    .unwrap_or_else(|| panic!("NOTIFY did not bring serial 2\n{}\n{}", pal.log(), knot.output()));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(notifies(http, "notify.test.", "in", "ok") >= 1.0);
    let answer = dig_from(None, ours, "changed.notify.test", "A", &["+short"]);
    assert_eq!(answer.trim(), "192.0.2.99");
    // Knot keeps the difference (zonefile-load: difference), so this was an IXFR.
    assert!(
        transfers(http, "notify.test.", "in", "ixfr", "ok") >= 1.0,
        "{}",
        pal.log()
    );

    // Timer-driven: no NOTIFY for timer.test; the 1 s refresh finds serial 2.
    std::fs::write(
        kdir.join("timer.zone"),
        zone_text(2, "1 1 6", "changed A 192.0.2.98\n"),
    )
    .expect("zone");
    knotc(&kdir, &["zone-reload", "timer.test"]);
    assert!(
        wait_until(Duration::from_secs(5), || serial_at(ours, "timer.test")
            == Some(2))
        .is_some(),
        "{}",
        pal.log()
    );
    assert_eq!(notifies(http, "timer.test.", "in", "ok"), 0.0);

    // The primary goes away: timer.test expires (6 s), notify.test does not.
    knot.stop();
    let expired = wait_until(Duration::from_secs(12), || {
        status_of(&dig_from(None, ours, "www.timer.test", "A", &["+time=1"])) == "SERVFAIL"
    });
    assert!(expired.is_some(), "timer.test never expired\n{}", pal.log());
    assert_eq!(serial_at(ours, "notify.test"), Some(2));
    assert_eq!(
        Daemon::metric(http, "palanquin_zone_expired{zone=\"timer.test.\"}"),
        1.0
    );

    // A restart with the primary still gone: the saved copy serves at once.
    assert_eq!(pal.stop(Duration::from_secs(5)), Some(0));
    let pal = palanquin(ours, &config);
    assert_eq!(serial_at(ours, "notify.test"), Some(2), "{}", pal.log());
    assert_eq!(
        dig_from(None, ours, "changed.notify.test", "A", &["+short"]).trim(),
        "192.0.2.99"
    );
    // timer.test's copy is older than its expire: not served.
    assert_eq!(
        status_of(&dig_from(None, ours, "www.timer.test", "A", &[])),
        "SERVFAIL"
    );
}

#[test]
fn two_palanquin_peers_serve_the_same_answers_and_a_change_reaches_both_within_2s() {
    let (p_at, s_at) = (sa("127.0.123.1:5300"), sa("127.0.123.2:5300"));
    let dir = peer_dir("pal-pair");
    let zone_file = dir.join("pair.zone");
    std::fs::write(&zone_file, zone_text(10, "3600 600 86400", "")).expect("zone");
    let key = palanquin_key(&dir, "xfr.", SECRET);
    let primary_conf = format!(
        "[server]\nlisten = [\"{p_at}\"]\n{key}\n[[zone]]\norigin = \"pair.test.\"\nfile = \"{}\"\nallow_transfer = [\"127.0.123.2\"]\nnotify = [\"{s_at}\"]\ntransfer_key = \"xfr.\"\n",
        zone_file.display()
    );
    let secondary_conf = format!(
        "[server]\nlisten = [\"{s_at}\"]\n[metrics]\nlisten = \"127.0.123.2:9153\"\n{key}\n[[zone]]\norigin = \"pair.test.\"\nfile = \"{}\"\nprimaries = [\"{p_at}\"]\ntransfer_key = \"xfr.\"\n",
        dir.join("pair.saved").display()
    );
    let primary = palanquin(p_at, &primary_conf);
    let secondary = palanquin(s_at, &secondary_conf);
    assert!(
        wait_until(Duration::from_secs(5), || serial_at(s_at, "pair.test")
            == Some(10))
        .is_some(),
        "{}\n{}",
        primary.log(),
        secondary.log()
    );
    std::fs::write(
        &zone_file,
        zone_text(11, "3600 600 86400", "changed A 192.0.2.77\nnew TXT \"added\"\n")
            .replace("www A 192.0.2.2", "www A 192.0.2.20"),
    )
    .expect("zone");
    primary.signal("HUP");
    let took = wait_until(Duration::from_secs(5), || {
        serial_at(p_at, "pair.test") == Some(11) && serial_at(s_at, "pair.test") == Some(11)
    })
    .unwrap_or_else(|| {
        panic!(
            "the change did not reach both\n{}\n{}",
            primary.log(),
            secondary.log()
        )
    });
    assert!(took < Duration::from_secs(2), "{took:?}");
    for name in NAMES.iter().chain(&["new"]) {
        let fqdn = if name.is_empty() {
            "pair.test".to_owned()
        } else {
            format!("{name}.pair.test")
        };
        for t in TYPES {
            assert_eq!(answer_of(p_at, &fqdn, t), answer_of(s_at, &fqdn, t), "{fqdn} {t}");
        }
    }
    assert!(secondary.log().contains("kind=\"ixfr\""), "{}", secondary.log());
    // `palanquin status` says where the zone comes from and how it stands.
    let status = Command::new(bin())
        .args(["status", "--config"])
        .arg(secondary.config_path())
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    for want in [
        "pair.test.",
        "secondary",
        "primaries 127.0.123.1:5300",
        "last transfer",
        "ixfr from 127.0.123.1:5300",
        "next refresh in",
        "TSIG key xfr.",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }

    // A serial that goes backwards on the primary never replaces the newer copy.
    std::fs::write(&zone_file, zone_text(5, "3600 600 86400", "")).expect("zone");
    primary.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(5), || secondary
            .log()
            .contains("older than ours"))
        .is_some(),
        "{}",
        secondary.log()
    );
    assert_eq!(serial_at(s_at, "pair.test"), Some(11));
    assert_eq!(
        dig_from(None, s_at, "changed.pair.test", "A", &["+short"]).trim(),
        "192.0.2.77"
    );
}

/// What a hostile primary sends for the zone after announcing serial 99.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// The first message of an AXFR, then the connection closes.
    BreaksOff,
    /// A complete AXFR of a zone without NS records (not a valid zone).
    Invalid,
    /// A complete AXFR whose records lie outside the zone.
    Outside,
    /// A valid zone, but at serial 0: older than the copy in service,
    /// although the SOA query said 99.
    Older,
}

/// A fake primary on `at` (UDP and TCP) for `hostile.test.`: SOA serial 99,
/// and `mode` for every transfer.
fn hostile_primary(at: SocketAddr, mode: Hostile) -> std::thread::JoinHandle<()> {
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record};
    use std::io::{Read, Write};
    use std::str::FromStr;
    let n = |s: &str| Name::from_str(s).expect("name");
    let soa_at = move |serial: u32| {
        let soa = SOA::new(
            n("ns1.hostile.test."),
            n("h.hostile.test."),
            serial,
            1,
            1,
            600,
            60,
        );
        Record::from_rdata(n("hostile.test."), 300, RData::SOA(soa))
    };
    let soa = move || soa_at(99);
    let a = |name: &str| {
        Record::from_rdata(
            Name::from_str(name).expect("name"),
            300,
            RData::A(A::new(192, 0, 2, 66)),
        )
    };
    let reply = move |query: &Message| {
        let mut r = Message::response(query.metadata.id, OpCode::Query);
        r.metadata.authoritative = true;
        r.add_queries(query.queries.iter().cloned());
        r
    };
    let udp = std::net::UdpSocket::bind(at).expect("bind udp");
    let tcp = std::net::TcpListener::bind(at).expect("bind tcp");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            if let Ok(q) = Message::from_vec(&buf[..n]) {
                let mut r = reply(&q);
                r.add_answer(soa());
                let _ = udp.send_to(&r.to_vec().expect("encode"), from);
            }
        }
    });
    std::thread::spawn(move || {
        for conn in tcp.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if conn.read_exact(&mut msg).is_err() {
                continue;
            }
            let Ok(q) = Message::from_vec(&msg) else { continue };
            let mut r = reply(&q);
            match mode {
                Hostile::BreaksOff => {
                    r.add_answer(soa());
                    r.add_answer(a("www.hostile.test."));
                }
                Hostile::Invalid => {
                    r.add_answers([soa(), a("www.hostile.test."), soa()]);
                }
                Hostile::Outside => {
                    r.add_answers([soa(), a("www.elsewhere.test."), soa()]);
                }
                Hostile::Older => {
                    let ns = Record::from_rdata(
                        n("hostile.test."),
                        300,
                        RData::NS(hickory_proto::rr::rdata::NS(n("ns1.hostile.test."))),
                    );
                    r.add_answers([
                        soa_at(0),
                        ns,
                        a("ns1.hostile.test."),
                        a("www.hostile.test."),
                        soa_at(0),
                    ]);
                }
            }
            let bytes = r.to_vec().expect("encode");
            let _ = conn.write_all(&(bytes.len() as u16).to_be_bytes());
            let _ = conn.write_all(&bytes);
            // Then the connection closes (dropped here).
        }
    })
}

#[test]
fn a_hostile_primary_never_replaces_the_zone_in_service() {
    let modes = [
        (Hostile::BreaksOff, "broke off"),
        (Hostile::Invalid, "not valid"),
        (Hostile::Outside, "outside the zone"),
        (Hostile::Older, "not newer than ours"),
    ];
    for (i, (mode, reason)) in modes.into_iter().enumerate() {
        let last = 10 + u8::try_from(i).expect("few");
        let primary_at = sa(&format!("127.0.124.{last}:5300"));
        let ours = sa(&format!("127.0.124.{}:5300", last + 10));
        let http = SocketAddr::new(ours.ip(), 9153);
        let _primary = hostile_primary(primary_at, mode);
        let dir = peer_dir("pal-victim");
        let saved = dir.join("hostile.saved");
        // The copy saved by an earlier, honest transfer: serial 1.
        std::fs::write(
            &saved,
            zone_text(1, "1 1 600", "").replace("$TTL 300\n", "$TTL 300\n$ORIGIN hostile.test.\n"),
        )
        .expect("saved");
        let config = format!(
            "[server]\nlisten = [\"{ours}\"]\n[metrics]\nlisten = \"{http}\"\n[[zone]]\norigin = \"hostile.test.\"\nfile = \"{}\"\nprimaries = [\"{primary_at}\"]\n",
            saved.display()
        );
        let pal = palanquin(ours, &config);
        assert!(
            wait_until(Duration::from_secs(5), || refreshes(
                http,
                "hostile.test.",
                "failed"
            ) >= 2.0)
            .is_some(),
            "{mode:?}: {}",
            pal.log()
        );
        assert_eq!(
            serial_at(ours, "hostile.test"),
            Some(1),
            "{mode:?}: {}",
            pal.log()
        );
        assert_eq!(
            dig_from(None, ours, "www.hostile.test", "A", &["+short"]).trim(),
            "192.0.2.2"
        );
        assert!(
            pal.log().contains(reason),
            "{mode:?}: the reason is logged\n{}",
            pal.log()
        );
        let saved_now = std::fs::read_to_string(&saved).expect("saved");
        assert!(
            saved_now.contains("192.0.2.2"),
            "{mode:?}: the saved copy is untouched"
        );
    }
}
