//! The check kinds against real listeners (HTTP, HTTPS with a CA file,
//! DNS, a command), and members that misbehave: each is down with its
//! reason in `palanquin pool list`, and none stalls the answers.
//! Addresses 127.0.136–137.x.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use palanquin_testkit::backend::{tls_server, Backend, Mode};
use palanquin_testkit::fake::{Behaviour, Fake};
use serde_json::Value;

use crate::pools::{ask, member, start, wait_until};
use crate::{bin, ip};

/// The members of `pool` as `palanquin pool list --json` shows them.
fn listed(config: &std::path::Path, pool: &str) -> Vec<Value> {
    let out = std::process::Command::new(bin())
        .args(["pool", "list", "--json", "--config"])
        .arg(config)
        .output()
        .expect("pool list");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pools: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    pools
        .as_array()
        .expect("pools")
        .iter()
        .find(|p| p["pool"] == pool)
        .unwrap_or_else(|| panic!("no pool {pool}: {pools}"))["members"]
        .as_array()
        .expect("members")
        .clone()
}

/// Each member of `pool` by address: (state, last reason).
fn states(config: &std::path::Path, pool: &str) -> Vec<(String, String, String)> {
    listed(config, pool)
        .iter()
        .map(|m| {
            (
                m["addr"].as_str().unwrap_or("?").to_owned(),
                m["state"].as_str().unwrap_or("?").to_owned(),
                m["last_reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_https_dns_and_exec_checks_judge_their_members() {
    const O: u8 = 136;
    let dir = std::env::temp_dir().join(format!("palanquin-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (tls, pem) = tls_server(&["web.pool.test"]);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).expect("CA file");
    let (other, _) = tls_server(&["web.pool.test"]);
    let _http_ok = Backend::start(member(O, 1), Mode::Http(200, "all good"));
    let _http_sick = Backend::start(member(O, 2), Mode::Http(503, "all good"));
    let _http_wrong = Backend::start(member(O, 3), Mode::Http(200, "not the text"));
    let _https_ok = Backend::start(SocketAddr::new(ip(O, 4), 8443), Mode::Https(tls, 200, "ok"));
    // A certificate the CA file does not vouch for.
    let _https_bad = Backend::start(SocketAddr::new(ip(O, 5), 8443), Mode::Https(other, 200, "ok"));
    let dns_ok = Fake::start_on(SocketAddr::new(ip(O, 6), 53), Behaviour::Answer).await;
    let pools = format!(
        r#"[[zone.pool]]
name = "http"
members = ["127.0.136.1", "127.0.136.2", "127.0.136.3"]
check = {{ kind = "http", port = 8080, path = "/health", host = "web.pool.test", status = "200-299", body = "good", interval = "300ms", timeout = "200ms", rise = 1, fall = 1 }}
[[zone.pool]]
name = "https"
members = ["127.0.136.4", "127.0.136.5"]
check = {{ kind = "https", port = 8443, host = "web.pool.test", ca_file = "{}", interval = "300ms", timeout = "200ms", rise = 1, fall = 1 }}
[[zone.pool]]
name = "dns"
members = ["127.0.136.6", "127.0.136.7"]
check = {{ kind = "dns", name = "probe.example.", interval = "300ms", timeout = "200ms", rise = 1, fall = 1 }}
answer = {{ all_down = "none" }}
[[zone.pool]]
name = "exec"
members = ["127.0.136.8", "127.0.136.9"]
check = {{ kind = "exec", command = ["test", "{{addr}}", "=", "127.0.136.8"], interval = "300ms", timeout = "200ms", rise = 1, fall = 1 }}
"#,
        ca.display()
    );
    let (d, addr) = start(O, &pools);
    let config = d.config_path();
    let client = ip(O, 100);
    let only = |name: &str, m: u8| {
        let a = ask(addr, name, client, None);
        assert_eq!(
            a.addrs,
            vec![std::net::Ipv4Addr::new(127, 0, O, m)],
            "{name}: {a:?}"
        );
    };
    only("http.pool.test", 1);
    only("https.pool.test", 4);
    only("dns.pool.test", 6);
    only("exec.pool.test", 8);
    let http = states(&config, "http.pool.test.");
    assert!(http[0].1 == "up" && http[0].2.contains("HTTP 200"), "{http:?}");
    assert!(http[1].1 == "down" && http[1].2.contains("HTTP 503"), "{http:?}");
    assert!(
        http[2].1 == "down" && http[2].2.contains("expected text"),
        "{http:?}"
    );
    let https = states(&config, "https.pool.test.");
    assert!(https[1].1 == "down" && https[1].2.contains("TLS"), "{https:?}");
    let dns = states(&config, "dns.pool.test.");
    assert!(dns[1].1 == "down", "{dns:?}");
    let exec = states(&config, "exec.pool.test.");
    assert!(exec[1].1 == "down" && exec[1].2.contains("exit 1"), "{exec:?}");
    // The DNS member stops answering: down.
    drop(dns_ok);
    wait_until(Duration::from_secs(3), "the dns member leaves", || {
        ask(addr, "dns.pool.test", client, None).addrs.is_empty()
    });
    assert!(d.log().contains("pool member down"));
}

#[test]
fn members_that_hang_reset_or_send_garbage_are_down_with_their_reason() {
    const O: u8 = 137;
    let modes = [
        (1, Mode::Hang),
        (2, Mode::Reset),
        (3, Mode::Garbage),
        (4, Mode::EndlessBody),
        (5, Mode::HugeHeader),
        (6, Mode::Http(200, "ok")),
    ];
    let _members: Vec<Backend> = modes
        .iter()
        .map(|(m, mode)| Backend::start(member(O, *m), mode.clone()))
        .collect();
    // An https check of a member that accepts and never finishes the handshake.
    let _silent = Backend::start(SocketAddr::new(ip(O, 7), 8443), Mode::Hang);
    let (d, addr) = start(
        O,
        r#"[[zone.pool]]
name = "bad"
members = ["127.0.137.1", "127.0.137.2", "127.0.137.3", "127.0.137.4", "127.0.137.5", "127.0.137.6"]
check = { kind = "http", port = 8080, body = "ok", interval = "500ms", timeout = "300ms", rise = 1, fall = 1 }
[[zone.pool]]
name = "tls"
members = ["127.0.137.7"]
check = { kind = "https", port = 8443, tls_verify = false, interval = "500ms", timeout = "300ms", rise = 1, fall = 1 }
answer = { all_down = "none" }
"#,
    );
    let client = ip(O, 100);
    let a = ask(addr, "bad.pool.test", client, None);
    assert_eq!(
        a.addrs,
        vec![std::net::Ipv4Addr::new(127, 0, O, 6)],
        "only the sound member: {a:?}"
    );
    assert!(ask(addr, "tls.pool.test", client, None).addrs.is_empty());
    let config = d.config_path();
    let got = states(&config, "bad.pool.test.");
    let reason = |m: usize| got[m - 1].2.clone();
    assert!(got[..5].iter().all(|s| s.1 == "down"), "{got:?}");
    assert!(
        reason(1).contains("timed out after 300 ms waiting for the response"),
        "{got:?}"
    );
    assert!(
        reason(2).contains("reset") || reason(2).contains("broke"),
        "{got:?}"
    );
    assert!(reason(3).contains("not an HTTP response"), "{got:?}");
    assert!(reason(4).contains("64 KiB"), "{got:?}");
    assert!(reason(5).contains("16 KiB"), "{got:?}");
    let tls = states(&config, "tls.pool.test.");
    assert!(tls[0].2.contains("in the TLS handshake"), "{tls:?}");
    // While the checks keep failing, answers come at once.
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(ask(addr, "static.pool.test", client, None).addrs.len(), 1);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(d.log().matches("pool member down").count() >= 6, "{}", d.log());
}
