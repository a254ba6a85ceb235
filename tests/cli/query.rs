//! `palanquin query`: the DESIGN.md contract — output, `--repeat`, `--json`,
//! exit status — and the output as dig users read it: rcode and type
//! mnemonics, TXT strings, `-x`, the SOA of a negative answer.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Output;

use palanquin_testkit::fake::{self, Behaviour, Fake};
use palanquin_testkit::nsd::Nsd;
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
    assert_eq!(v["rcode"], "NOERROR");
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

/// `palanquin query ARGS` on this thread (for tests around a blocking NSD).
fn palanquin_sync(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_palanquin"))
        .args(args)
        .env("PALANQUIN_LOG", "warn")
        .output()
        .expect("run palanquin")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const TYPES_ZONE: &str = "\
$ORIGIN types.test.
$TTL 300
@     IN SOA ns1 hostmaster 7 3600 900 604800 120
      IN NS  ns1
ns1   IN A   127.0.45.2
txt   IN TXT \"a b\" \"c\"
odd   IN TYPE65280 \\# 2 abcd
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcodes_are_mnemonics_in_json() {
    let good = Fake::start(ip(45, 9), Behaviour::Answer).await;
    let ns = good.addr.to_string();
    let out = palanquin(&args(&[
        "query",
        "--json",
        "--nameserver",
        &ns,
        "nx.example.test.",
    ]))
    .await;
    assert!(out.status.success());
    assert_eq!(last_json(&out)["rcode"], "NXDOMAIN");
    let out = palanquin(&args(&["query", "--nameserver", &ns, "www.example.test."])).await;
    assert!(stdout(&out).contains(";; status: NOERROR"), "{}", stdout(&out));
}

#[test]
fn txt_strings_numeric_types_and_the_soa_of_negative_answers_with_nsd() {
    let nsd = Nsd::start(&[ip(45, 2)], 5353, "types.test.", TYPES_ZONE).expect("nsd");
    let ns = nsd.addrs()[0].to_string();
    let out = palanquin_sync(&["query", "--nameserver", &ns, "--type", "TXT", "txt.types.test."]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("\tTXT\t\"a b\" \"c\""),
        "each string quoted: {}",
        stdout(&out)
    );

    for t in ["TYPE65280", "65280", "type65280"] {
        let out = palanquin_sync(&["query", "--nameserver", &ns, "--type", t, "odd.types.test."]);
        assert!(
            out.status.success(),
            "--type {t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(text.contains("\tTYPE65280\t\\# 2 abcd"), "--type {t}: {text}");
    }

    // NXDOMAIN and NODATA: the authority section's SOA is shown.
    for (name, status) in [
        ("nothere.types.test.", "NXDOMAIN"),
        ("txt.types.test.", "NOERROR"),
    ] {
        let out = palanquin_sync(&["query", "--nameserver", &ns, "--type", "MX", name]);
        let text = stdout(&out);
        assert!(text.contains(&format!(";; status: {status}")), "{text}");
        assert!(text.contains(";; AUTHORITY SECTION:"), "{text}");
        assert!(
            text.contains("\tIN\tSOA\tns1.types.test. hostmaster.types.test. 7 "),
            "{text}"
        );
        let out = palanquin_sync(&["query", "--json", "--nameserver", &ns, "--type", "MX", name]);
        let v = last_json(&out);
        assert_eq!(v["rcode"], status);
        assert_eq!(v["authority"][0]["type"], "SOA", "{v}");
    }
}

#[test]
fn reverse_lookup_asks_for_the_ptr() {
    let zone =
        "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 300\n@ IN SOA ns1.rev.test. h.rev.test. 1 3600 900 604800 120\n\
                @ IN NS ns1.rev.test.\n7 IN PTR host.rev.test.\n";
    let nsd = Nsd::start(&[ip(45, 3)], 5353, "2.0.192.in-addr.arpa.", zone).expect("nsd");
    let ns = nsd.addrs()[0].to_string();
    let out = palanquin_sync(&["query", "--nameserver", &ns, "-x", "192.0.2.7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(
        text.contains("7.2.0.192.in-addr.arpa.\t300\tIN\tPTR\thost.rev.test."),
        "{text}"
    );
    let out = palanquin_sync(&["query", "--nameserver", &ns, "-x", "not-an-ip"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_port_out_of_range_is_named() {
    let out = palanquin_sync(&["query", "--nameserver", "127.0.0.1:99999", "x."]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port out of range"), "{stderr}");
}

/// A black hole asked once and hedged over after the initial 20 ms guess has
/// no RTT: nothing was measured, so `srtt_ms` is null (and `-` in the table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answered_shows_no_rtt() {
    let hole = Fake::start(ip(45, 4), Behaviour::BlackHole).await;
    let good = Fake::start(ip(45, 5), Behaviour::Answer).await;
    let mut a = args(&["query", "--repeat", "2", "--json"]);
    for ns in [hole.addr, good.addr] {
        a.push("--nameserver".into());
        a.push(ns.to_string());
    }
    a.push("www.example.test.".into());
    let out = palanquin(&a).await;
    assert!(out.status.success());
    let v = last_json(&out);
    let h = &v["upstreams"][hole.addr.to_string()];
    assert!(h["sent"].as_u64().expect("sent") >= 1, "the hole was asked: {h}");
    assert_eq!(h["answered"], 0);
    assert!(h["srtt_ms"].is_null(), "never measured: {h}");
    assert!(
        v["upstreams"][good.addr.to_string()]["srtt_ms"]
            .as_f64()
            .is_some(),
        "{v}"
    );
}

/// stdout closed before anything is written: every command ends quietly
/// (status 0, nothing on stderr) instead of panicking on EPIPE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_a_quiet_exit() {
    let good = Fake::start(ip(45, 6), Behaviour::Answer).await;
    let ns = good.addr.to_string();
    let out =
        crate::closed_stdout(&["query", "--repeat", "3", "--nameserver", &ns, "www.example.test."]).await;
    assert_eq!(out.0, Some(0), "stderr: {}", out.1);
    assert!(!out.1.contains("panicked"), "{}", out.1);
    assert_eq!(out.1, "", "nothing on stderr");
}
