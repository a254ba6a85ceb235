//! A running daemon as its operator sees it: `palanquin status`, the
//! `/metrics` families from the first second, systemd readiness, the unit file.

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use palanquin_testkit::daemon::{dig_at, status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};
use serde_json::Value;

use crate::closed_stdout;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palanquin"))
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn config(listen: SocketAddr, upstreams: &[SocketAddr], metrics: SocketAddr) -> String {
    let ups: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[server]\nlisten = [\"{listen}\"]\nudp_workers = 1\n[resolver]\nupstreams = [{}]\n[metrics]\nlisten = \"{metrics}\"\n",
        ups.join(", ")
    )
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env("PALANQUIN_LOG", "warn")
        .output()
        .expect("run palanquin")
}

/// `status` exits 2, saying why, when there is no daemon to ask and when
/// the configuration names no status endpoint.
#[test]
fn status_exits_two_when_it_cannot_ask() {
    let dir = std::env::temp_dir().join(format!("palanquin-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let listen = sa("127.0.100.21:5300");
    let nobody = dir.join("nobody.toml");
    // Nothing listens on 127.0.100.22:9153.
    std::fs::write(
        &nobody,
        config(listen, &[sa("127.0.100.23:53")], sa("127.0.100.22:9153")),
    )
    .expect("write");
    let no_metrics = dir.join("no-metrics.toml");
    std::fs::write(&no_metrics, format!("[server]\nlisten = [\"{listen}\"]\n")).expect("write");
    for (file, says) in [
        (&nobody, "cannot reach"),
        (&no_metrics, "no [metrics] listen address"),
    ] {
        let out = run(&["status", "--config", file.to_str().expect("utf-8 path")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An upstream asked and hedged over, never answering, shows no RTT in
/// `status` (JSON null, `-` in the table); `status` into a closed pipe ends
/// quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_no_rtt_for_an_upstream_never_measured() {
    let hole = Fake::start(sa("127.0.46.2:0").ip(), Behaviour::BlackHole).await;
    let good = Fake::start(sa("127.0.46.3:0").ip(), Behaviour::Answer).await;
    let addr = sa("127.0.46.1:5300");
    let d = Daemon::start(
        bin(),
        addr,
        &config(addr, &[hole.addr, good.addr], sa("127.0.46.1:9153")),
    );
    let conf = d.config_path();
    let conf = conf.to_str().expect("utf-8");
    let ns = addr.to_string();
    let q = tokio::task::spawn_blocking(move || run(&["query", "--nameserver", &ns, "www.example.test."]))
        .await
        .expect("query");
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    assert!(hole.queries() >= 1, "the hole was asked first");

    let out = run(&["status", "--json", "--config", conf]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let all: Vec<&Value> = v["resolver"]["upstreams"]
        .as_object()
        .expect("upstream sets")
        .values()
        .flat_map(|l| l.as_array().expect("list"))
        .collect();
    let find = |a: SocketAddr| {
        all.iter()
            .find(|u| u["addr"] == a.to_string())
            .unwrap_or_else(|| panic!("{a} in {v}"))
    };
    assert!(find(hole.addr)["srtt_ms"].is_null(), "{v}");
    assert!(find(good.addr)["srtt_ms"].as_f64().is_some(), "{v}");

    let out = run(&["status", "--config", conf]);
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.contains(&hole.addr.to_string()))
        .unwrap_or_else(|| panic!("a row for the hole: {text}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[3], "-", "srtt column of {row:?}");

    let (code, stderr) = closed_stdout(&["status", "--config", conf]).await;
    assert_eq!(
        (code, stderr.as_str()),
        (Some(0), ""),
        "no panic on a closed pipe"
    );
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix).and_then(|rest| rest.trim().parse().ok()))
}

fn families(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Before the first query, every family the README names is there at 0 (the
/// labeled ones for each label of their fixed set), plus build info and
/// start time; families come in name order, scrape after scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_exists_from_the_start_in_a_stable_order() {
    let up = Fake::start(sa("127.0.46.12:0").ip(), Behaviour::Answer).await;
    let addr = sa("127.0.46.11:5300");
    let http = sa("127.0.46.11:9153");
    let _d = Daemon::start(bin(), addr, &config(addr, &[up.addr], http));
    let text = tokio::task::spawn_blocking(move || Daemon::http_get(http, "/metrics"))
        .await
        .expect("scrape");
    let u = up.addr;
    let mut zero: Vec<String> = Vec::new();
    for protocol in ["udp", "tcp"] {
        for rcode in ["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"] {
            zero.push(format!(
                "palanquin_queries_total{{protocol=\"{protocol}\",rcode=\"{rcode}\"}}"
            ));
        }
    }
    zero.extend(
        [
            "palanquin_cache_hits_total",
            "palanquin_cache_misses_total",
            "palanquin_cache_stale_answers_total{reason=\"upstream_failed\"}",
            "palanquin_cache_stale_answers_total{reason=\"client_timer\"}",
            "palanquin_cache_entries",
            "palanquin_coalesced_queries_total",
            "palanquin_config_reloads_total{result=\"ok\"}",
            "palanquin_config_reloads_total{result=\"error\"}",
            "palanquin_stub_queries_total{outcome=\"answer\"}",
            "palanquin_stub_hedges_total",
        ]
        .map(str::to_owned),
    );
    zero.push(format!("palanquin_upstream_queries_total{{upstream=\"{u}\"}}"));
    zero.push(format!(
        "palanquin_upstream_failures_total{{upstream=\"{u}\",kind=\"timeout\"}}"
    ));
    zero.push(format!(
        "palanquin_upstream_transitions_total{{upstream=\"{u}\",to=\"down\"}}"
    ));
    zero.push(format!(
        "palanquin_upstream_rtt_seconds_count{{upstream=\"{u}\"}}"
    ));
    for s in &zero {
        assert_eq!(sample(&text, s), Some(0.0), "{s} at 0 from the start:\n{text}");
    }
    assert_eq!(
        sample(&text, &format!("palanquin_upstream_up{{upstream=\"{u}\"}}")),
        Some(1.0)
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&text, &format!("palanquin_build_info{{version=\"{version}\"}}")),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "palanquin_start_time_seconds").is_some_and(|t| t > 1.0e9),
        "{text}"
    );

    let first = families(&text);
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted, "families in name order");
    let again = tokio::task::spawn_blocking(move || {
        let _ = dig_at(addr, "www.example.test", "A", &[]);
        Daemon::http_get(http, "/metrics")
    })
    .await
    .expect("scrape");
    assert_eq!(families(&again), first, "the same families in the same order");
}

/// Under systemd (`NOTIFY_SOCKET`), READY=1 comes once DNS is served, and
/// STOPPING=1 on SIGTERM.
#[test]
fn readiness_is_sent_to_systemd_when_everything_serves() {
    let dir = std::env::temp_dir().join(format!("palanquin-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let notify = UnixDatagram::bind(&socket_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let addr = sa("127.0.46.21:5300");
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!("[server]\nlisten = [\"{addr}\"]\nudp_workers = 1\n"),
    )
    .expect("write");
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&file)
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut buf = [0u8; 256];
    let got = notify
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let answered = status_of(&dig_at(addr, "www.example.test", "A", &[]));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stopping = notify
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.expect("a notification within 10 s"), "READY=1\n");
    assert_eq!(
        answered, "REFUSED",
        "DNS is served once READY=1 is sent (no recursion configured)"
    );
    assert_eq!(stopping.expect("STOPPING=1 on SIGTERM"), "STOPPING=1\n");
}

/// The unit waits for READY=1 and points at no documentation that does not ship.
#[test]
fn the_unit_file_waits_for_readiness_and_names_only_what_ships() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("conf/palanquin.service")).expect("unit");
    assert!(unit.lines().any(|l| l.trim() == "Type=notify"), "{unit}");
    for doc in unit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Documentation="))
    {
        for entry in doc.split_whitespace() {
            if let Some(page) = entry.strip_prefix("man:") {
                let (name, section) = page.trim_end_matches(')').split_once('(').expect("man:NAME(N)");
                let shipped = root.join(format!("man/{name}.{section}"));
                assert!(shipped.is_file(), "{entry}: no {}", shipped.display());
            } else if let Some(path) = entry.strip_prefix("file:") {
                assert!(Path::new(path).is_file(), "{entry}");
            }
        }
    }
}
