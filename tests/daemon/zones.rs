//! Authoritative zones served by `palanquin serve`, asked with dig: AA
//! answers, referrals, negative answers, TC then TCP, NSID, names outside
//! the zones (to the resolver for who may recurse, REFUSED for the rest),
//! reload (a bad zone keeps the old one, a same-serial change warns),
//! `check-config`, metrics and status. Addresses 127.0.110.x.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palanquin_testkit::daemon::{answers_of, status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};

use crate::{bin, dig_async, ip, sa};

/// The zone most of these tests serve.
pub(crate) const ZONE: &str = r#"$TTL 300
@        IN SOA ns1 hostmaster 2026120101 7200 3600 1209600 60
         IN NS  ns1
ns1      A     192.0.2.1
www      A     192.0.2.2
big      TXT   "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      TXT   "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      TXT   "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      TXT   "3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      TXT   "4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
sub      NS    ns.sub
ns.sub   A     192.0.2.7
"#;

/// Whether dig's output has a record line reading `line` (fields
/// separated by single spaces).
fn has(out: &str, line: &str) -> bool {
    // Case-insensitively: names compressed against the question take its spelling.
    out.lines().any(|l| {
        l.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .eq_ignore_ascii_case(line)
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palanquin-zones-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A config serving `zone_file` as `example.test.` on `addr`, with
/// `extra` appended (a `[resolver]`, say) and metrics on port 9153.
fn config(addr: std::net::SocketAddr, zone_file: &Path, extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"{addr}\"]\nnsid = \"node-a\"\n{extra}\n[metrics]\nlisten = \"{}:9153\"\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        addr.ip(),
        zone_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_answer_with_aa_referrals_negatives_tc_and_nsid() {
    let dir = scratch("answers");
    let file = dir.join("example.test.zone");
    std::fs::write(&file, ZONE).expect("zone");
    let addr = sa("127.0.110.1:5300");
    let _d = Daemon::start(bin(), addr, &config(addr, &file, ""));

    let r = dig_async(addr, "WwW.Example.Test", "A", &["+norec"]).await;
    assert_eq!(status_of(&r), "NOERROR", "{r}");
    assert!(r.contains("flags: qr aa;"), "AA, no RA without a resolver: {r}");
    assert!(r.contains(";WwW.Example.Test.\t"), "question as asked: {r}");
    assert_eq!(answers_of(&r)[0].3, "192.0.2.2");
    assert!(
        has(&r, "ns1.example.test. 300 IN A 192.0.2.1"),
        "NS address in additional: {r}"
    );

    let r = dig_async(addr, "host.sub.example.test", "A", &[]).await;
    assert!(r.contains("flags: qr rd;"), "a referral: AA clear: {r}");
    assert!(r.contains("AUTHORITY: 1, ADDITIONAL: 2"), "{r}");
    assert!(has(&r, "ns.sub.example.test. 300 IN A 192.0.2.7"), "glue: {r}");

    let r = dig_async(addr, "nope.example.test", "A", &[]).await;
    assert_eq!(status_of(&r), "NXDOMAIN", "{r}");
    assert!(has(&r, "example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. 2026120101 7200 3600 1209600 60"), "SOA with the negative TTL: {r}");
    let r = dig_async(addr, "www.example.test", "MX", &[]).await;
    assert_eq!(
        (status_of(&r), answers_of(&r).len()),
        ("NOERROR".to_owned(), 0),
        "NODATA: {r}"
    );

    // 5 × 113 bytes: TC over UDP at 512, the whole answer over TCP.
    let r = dig_async(addr, "big.example.test", "TXT", &["+noedns", "+ignore"]).await;
    assert!(r.contains("flags: qr aa tc rd;"), "{r}");
    let r = dig_async(addr, "big.example.test", "TXT", &["+noedns"]).await;
    assert_eq!(answers_of(&r).len(), 5, "dig retried over TCP: {r}");
    let r = dig_async(addr, "big.example.test", "TXT", &["+tcp"]).await;
    assert_eq!(answers_of(&r).len(), 5, "{r}");

    let r = dig_async(addr, "www.example.test", "A", &["+nsid"]).await;
    assert!(r.contains("NSID: 6e 6f 64 65 2d 61 (\"node-a\")"), "{r}");
    let r = dig_async(addr, "www.example.test", "A", &[]).await;
    assert!(!r.contains("NSID"), "only when asked: {r}");

    // Outside the zones, with no resolver: REFUSED.
    let r = dig_async(addr, "www.example.org", "A", &[]).await;
    assert_eq!(status_of(&r), "REFUSED", "{r}");
    // EDNS version 1: BADVERS, as for any query.
    let r = dig_async(addr, "www.example.test", "A", &["+edns=1", "+noednsnegotiation"]).await;
    assert_eq!(status_of(&r), "BADVERS", "{r}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_zones_go_to_the_resolver_for_who_may_recurse() {
    let dir = scratch("mixed");
    let file = dir.join("example.test.zone");
    std::fs::write(&file, ZONE).expect("zone");
    let up = Fake::start(ip(110, 12), Behaviour::Answer).await;
    let addr = sa("127.0.110.11:5300");
    let resolver = format!(
        "[resolver]\nupstreams = [\"{}\"]\nallow = [\"127.0.110.0/28\"]\n",
        up.addr
    );
    let _d = Daemon::start(bin(), addr, &config(addr, &file, &resolver));
    let ask = |source: &'static str, name: &'static str| {
        tokio::task::spawn_blocking(move || {
            palanquin_testkit::daemon::dig_from(Some(source), addr, name, "A", &["+nsid"])
        })
    };
    let r = ask("127.0.110.5", "www.example.org").await.expect("dig");
    assert_eq!(status_of(&r), "NOERROR", "forwarded: {r}");
    assert!(
        r.contains("NSID: 6e 6f 64 65 2d 61"),
        "the resolver's answer has the NSID too: {r}"
    );
    assert_eq!(up.queries(), 1);
    let r = ask("127.0.110.100", "www.example.org").await.expect("dig");
    assert_eq!(status_of(&r), "REFUSED", "outside allow: {r}");
    // The zone answers everyone; RA only for who may recurse.
    let r = ask("127.0.110.100", "www.example.test").await.expect("dig");
    assert!(r.contains("flags: qr aa rd;"), "{r}");
    let r = ask("127.0.110.5", "www.example.test").await.expect("dig");
    assert!(r.contains("flags: qr aa rd ra;"), "{r}");
    assert_eq!(up.queries(), 1, "zone names never go upstream");
    // Over TCP an outsider may ask about the zone as often as it likes.
    let r = tokio::task::spawn_blocking(move || {
        palanquin_testkit::daemon::dig_from(
            Some("127.0.110.100"),
            addr,
            "www.example.test",
            "A",
            &["+tcp", "+keepopen"],
        )
    })
    .await
    .expect("dig");
    assert_eq!(status_of(&r), "NOERROR", "{r}");
    let _ = std::fs::remove_dir_all(dir);
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_good_zones_keeps_the_old_on_a_bad_one_and_warns_on_the_serial() {
    let dir = scratch("reload");
    let file = dir.join("example.test.zone");
    std::fs::write(&file, ZONE).expect("zone");
    let addr = sa("127.0.110.21:5300");
    let d = Daemon::start(bin(), addr, &config(addr, &file, ""));
    let http = sa("127.0.110.21:9153");
    let a_of = |name: &'static str| {
        let r = palanquin_testkit::daemon::dig_at(addr, name, "A", &[]);
        answers_of(&r).first().map(|a| a.3.clone()).unwrap_or_default()
    };
    assert_eq!(a_of("www.example.test"), "192.0.2.2");
    assert_eq!(
        Daemon::metric(http, "palanquin_zone_serial{zone=\"example.test.\"}"),
        2026120101.0
    );

    // The same file again: reloaded, and no warning about the serial.
    d.signal("HUP");
    wait_for("the first reload", || {
        d.log().contains("configuration reloaded generation=2")
    });
    assert!(
        !d.log().contains("SOA serial"),
        "an unchanged zone warns of nothing: {}",
        d.log()
    );

    // A bad record: the old zone keeps serving, the log names file and line.
    std::fs::write(&file, format!("{ZONE}www CNAME ns1\n")).expect("zone");
    d.signal("HUP");
    wait_for("the zone error", || d.log().contains("zone not reloaded"));
    let log = d.log();
    assert!(
        log.contains(&format!("{}:13: CNAME and other data", file.display())),
        "{log}"
    );
    assert_eq!(a_of("www.example.test"), "192.0.2.2");
    assert_eq!(
        Daemon::metric(http, "palanquin_zone_loads_total{result=\"error\"}"),
        1.0
    );

    // A new zone whose file is bad is left out; the others serve on.
    let conf = std::fs::read_to_string(d.config_path()).expect("config");
    let missing = dir.join("missing.zone");
    std::fs::write(
        d.config_path(),
        format!(
            "{conf}\n[[zone]]\norigin = \"new.test.\"\nfile = \"{}\"\n",
            missing.display()
        ),
    )
    .expect("config");
    d.signal("HUP");
    wait_for("the new zone's error", || d.log().contains("zone new.test."));
    assert!(
        d.log().contains(&format!("{}: cannot read", missing.display())),
        "{}",
        d.log()
    );
    let r = palanquin_testkit::daemon::dig_at(addr, "www.new.test", "A", &[]);
    assert_eq!(status_of(&r), "REFUSED", "not served, no resolver: {r}");
    assert_eq!(a_of("www.example.test"), "192.0.2.2");

    // New data, same serial: served, with a warning.
    std::fs::write(&file, ZONE.replace("192.0.2.2", "192.0.2.22")).expect("zone");
    d.signal("HUP");
    wait_for("the new data", || a_of("www.example.test") == "192.0.2.22");
    assert!(
        d.log().contains("zone data changed but its SOA serial did not"),
        "{}",
        d.log()
    );

    // A new serial: served, the gauge follows.
    std::fs::write(
        &file,
        ZONE.replace("2026120101", "2026120102")
            .replace("192.0.2.2", "192.0.2.23"),
    )
    .expect("zone");
    d.signal("HUP");
    wait_for("the new serial", || a_of("www.example.test") == "192.0.2.23");
    assert_eq!(
        Daemon::metric(http, "palanquin_zone_serial{zone=\"example.test.\"}"),
        2026120102.0
    );
    let answered = Daemon::metric(
        http,
        "palanquin_zone_queries_total{zone=\"example.test.\",rcode=\"NOERROR\"}",
    );
    assert!(answered >= 4.0, "answers counted per zone: {answered}");
    let status = palanquin_testkit::daemon::Daemon::http_get(http, "/status");
    assert!(
        status.contains("\"zone\":\"example.test.\"") && status.contains("\"serial\":2026120102"),
        "{status}"
    );
    let out = std::process::Command::new(bin())
        .args(["status", "--config"])
        .arg(d.config_path())
        .output()
        .expect("status");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("example.test.") && shown.contains("2026120102"),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_config_and_serve_refuse_a_bad_zone_naming_its_file_and_line() {
    let dir = scratch("check");
    let file = dir.join("bad.zone");
    std::fs::write(
        &file,
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nsub NS ns.sub\n",
    )
    .expect("zone");
    let conf = dir.join("p.toml");
    std::fs::write(
        &conf,
        "[server]\nlisten = [\"127.0.110.31:5300\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"bad.zone\"\n",
    )
    .expect("conf");
    for args in [&["check-config"][..], &["serve", "--config"][..]] {
        let out = std::process::Command::new(bin())
            .args(args)
            .arg(&conf)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted it");
        assert!(
            err.contains(&format!("{}:5: delegation sub.example.test.", file.display())),
            "{err}"
        );
        assert!(
            err.contains("p.toml:4: zone.file"),
            "names the config entry: {err}"
        );
    }
    std::fs::write(&file, ZONE).expect("zone");
    let out = std::process::Command::new(bin())
        .arg("check-config")
        .arg(&conf)
        .output()
        .expect("run");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("1 zone with 11 records"), "{shown}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The RFC behaviours through dig and kdig: CNAME chains in the zone and
/// across zones served here, DNAME, wildcards and the empty non-terminal
/// that blocks one, MX additionals, one RRset for ANY, a CH question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_dname_wildcards_additionals_and_any_with_dig_and_kdig() {
    let dir = scratch("rfc");
    let main = dir.join("example.test.zone");
    std::fs::write(
        &main,
        format!(
            "{ZONE}alias CNAME www\nalias2 CNAME alias\nother CNAME host.other.test.\n\
             dn DNAME www.example.test.\n*.wild A 192.0.2.99\nx.y.wild TXT \"deep\"\nmx MX 10 www\n"
        ),
    )
    .expect("zone");
    let other = dir.join("other.test.zone");
    std::fs::write(
        &other,
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.50\nhost A 192.0.2.51\n",
    )
    .expect("zone");
    let addr = sa("127.0.110.41:5300");
    let config = format!(
        "{}\n[[zone]]\norigin = \"other.test.\"\nfile = \"{}\"\n",
        config(addr, &main, ""),
        other.display()
    );
    let _d = Daemon::start(bin(), addr, &config);

    let r = dig_async(addr, "alias2.example.test", "A", &[]).await;
    let chain: Vec<(String, String)> = answers_of(&r).into_iter().map(|a| (a.0, a.3)).collect();
    assert_eq!(
        chain,
        [
            (
                "alias2.example.test.".to_owned(),
                "alias.example.test.".to_owned()
            ),
            ("alias.example.test.".to_owned(), "www.example.test.".to_owned()),
            ("www.example.test.".to_owned(), "192.0.2.2".to_owned()),
        ],
        "{r}"
    );
    let r = dig_async(addr, "other.example.test", "A", &[]).await;
    assert_eq!(
        answers_of(&r).last().map(|a| a.3.clone()).as_deref(),
        Some("192.0.2.51"),
        "across zones: {r}"
    );

    let r = dig_async(addr, "a.dn.example.test", "A", &[]).await;
    assert_eq!(
        status_of(&r),
        "NXDOMAIN",
        "a.www.example.test. does not exist: {r}"
    );
    assert!(has(&r, "dn.example.test. 300 IN DNAME www.example.test."), "{r}");
    assert!(
        has(&r, "a.dn.example.test. 300 IN CNAME a.www.example.test."),
        "synthesised: {r}"
    );

    let r = dig_async(addr, "anything.wild.example.test", "A", &[]).await;
    assert!(has(&r, "anything.wild.example.test. 300 IN A 192.0.2.99"), "{r}");
    let r = dig_async(addr, "y.wild.example.test", "A", &[]).await;
    assert_eq!(
        (status_of(&r), answers_of(&r).len()),
        ("NOERROR".to_owned(), 0),
        "an empty non-terminal: {r}"
    );
    let r = dig_async(addr, "z.y.wild.example.test", "A", &[]).await;
    assert_eq!(
        status_of(&r),
        "NXDOMAIN",
        "its closest encloser y.wild has no wildcard: {r}"
    );

    let r = dig_async(addr, "mx.example.test", "MX", &[]).await;
    assert!(
        has(&r, "www.example.test. 300 IN A 192.0.2.2"),
        "the exchange's address: {r}"
    );
    let r = dig_async(addr, "example.test", "ANY", &[]).await;
    assert_eq!(answers_of(&r).len(), 1, "one RRset for ANY: {r}");

    let r = dig_async(addr, "www.example.test", "TXT", &["-c", "CH"]).await;
    assert_eq!(status_of(&r), "REFUSED", "the zones are class IN: {r}");

    // kdig agrees, over TCP, with the NSID.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kdig")
            .args([
                &format!("@{}", addr.ip()),
                "-p",
                "5300",
                "+tcp",
                "+nsid",
                "www.example.test",
                "A",
            ])
            .output()
    })
    .await
    .expect("thread")
    .expect("kdig: knot-dnsutils is installed by scripts/test");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("NOERROR") && shown.contains("192.0.2.2"),
        "{shown}"
    );
    assert!(shown.contains("node-a"), "NSID over TCP: {shown}");
    let _ = std::fs::remove_dir_all(dir);
}
