//! A running daemon as its operator sees it: `palanquin status`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use palanquin_testkit::daemon::Daemon;
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
