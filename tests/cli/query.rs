//! `palanquin query`: the DESIGN.md contract — output, `--repeat`, `--json`,
//! exit status.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Output;

use palanquin_testkit::fake::{self, Behaviour, Fake};
use serde_json::Value;

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

async fn palanquin(args: &[String]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_palanquin"))
        .args(args)
        .env("PALANQUIN_LOG", "warn")
        .output()
        .await
        .expect("run palanquin")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn last_json(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_json_reports_percentiles_and_keeps_off_the_dead_upstream() {
    let hole = Fake::start(ip(40, 1), Behaviour::BlackHole).await;
    let good1 = Fake::start(ip(40, 2), Behaviour::Answer).await;
    let good2 = Fake::start(ip(40, 3), Behaviour::Answer).await;
    let mut a = args(&["query", "--repeat", "500", "--json"]);
    for ns in [hole.addr, good1.addr, good2.addr] {
        a.push("--nameserver".into());
        a.push(ns.to_string());
    }
    a.push("www.example.test".into());
    let out = palanquin(&a).await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json(&out);
    assert_eq!(v["queries"], 500);
    assert_eq!(v["failures"], 0);
    for key in ["p50", "p90", "p99", "max"] {
        assert!(
            v["latency_ms"][key].as_f64().is_some(),
            "latency_ms.{key} missing: {v}"
        );
    }
    let ups = &v["upstreams"];
    let hole_stats = &ups[hole.addr.to_string()];
    // Off the hot path: asked on the first lookup, and after that only if the
    // good ones are slower than the 5 ms hedge floor (a loaded machine).
    assert!(hole_stats["sent"].as_u64().expect("sent") <= 10, "{hole_stats}");
    assert_eq!(hole_stats["answered"], 0);
    let answered: u64 = [good1.addr, good2.addr]
        .iter()
        .map(|a| ups[a.to_string()]["answered"].as_u64().expect("answered"))
        .sum();
    assert!(answered >= 500);
    for a in [good1.addr, good2.addr] {
        assert_eq!(ups[a.to_string()]["state"], "up");
        assert!(ups[a.to_string()]["srtt_ms"].as_f64().is_some());
    }
    assert_eq!(hole.queries() as u64, hole_stats["sent"].as_u64().expect("sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_json_names_the_records_and_the_upstream() {
    let good = Fake::start(ip(41, 1), Behaviour::Answer).await;
    let out = palanquin(&args(&[
        "query",
        "--json",
        "--type",
        "AAAA",
        "--nameserver",
        &good.addr.to_string(),
        "www.example.test.",
    ]))
    .await;
    assert!(out.status.success());
    let v = last_json(&out);
    assert_eq!(v["upstream"], good.addr.to_string());
    assert_eq!(v["rcode"], "No Error");
    assert_eq!(v["answers"][0]["type"], "AAAA");
    assert_eq!(v["answers"][0]["data"], fake::IPV6.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_output_and_nxdomain_exit_zero() {
    let good = Fake::start(ip(42, 1), Behaviour::Answer).await;
    let out = palanquin(&args(&[
        "query",
        "--nameserver",
        &good.addr.to_string(),
        "www.example.test.",
    ]))
    .await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&fake::IPV4.to_string()), "{text}");
    assert!(text.contains(&format!("answered by {}", good.addr)), "{text}");

    let out = palanquin(&args(&[
        "query",
        "--tcp",
        "--nameserver",
        &good.addr.to_string(),
        "nx.example.test.",
    ]))
    .await;
    assert!(out.status.success(), "NXDOMAIN is an answer");
    assert!(String::from_utf8_lossy(&out.stdout).contains("over TCP"));
    assert_eq!(good.tcp_queries(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_exits_one() {
    let closed = fake::closed_port(ip(43, 1)).await;
    let out = palanquin(&args(&[
        "query",
        "--repeat",
        "3",
        "--json",
        "--nameserver",
        &closed.to_string(),
        "www.example.test.",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v = last_json(&out);
    assert_eq!(v["failures"], 3);
    assert_eq!(v["upstreams"][closed.to_string()]["state"], "down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolv_conf_options_apply_and_bad_lines_are_named() {
    let good = Fake::start(ip(44, 1), Behaviour::Answer).await;
    let dir = std::env::temp_dir().join(format!("palanquin-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let conf = dir.join("resolv.conf");
    std::fs::write(
        &conf,
        "search corp.test\nnameserver 1.2.3\noptions use-vc ndots:2\n",
    )
    .expect("write");
    let out = palanquin(&args(&[
        "query",
        "--resolv-conf",
        conf.to_str().expect("utf-8"),
        "--nameserver",
        &good.addr.to_string(),
        "www",
    ]))
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("www.corp.test."), "search list applied: {stdout}");
    assert!(stdout.contains("over TCP"), "use-vc applied: {stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "the malformed line is named: {stderr}");
}

#[tokio::test]
async fn bad_arguments_are_refused_clearly() {
    let out = palanquin(&args(&["query", "--nameserver", "not-an-address", "x."])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-address"));
    let out = palanquin(&args(&[
        "query",
        "--type",
        "BOGUS",
        "--nameserver",
        "127.0.0.1",
        "x.",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
}
