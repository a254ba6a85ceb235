//! `palanquin status [--config FILE] [--json]`: asks a running daemon's
//! status endpoint (on `[metrics].listen`) and prints the zones served,
//! upstream health and cache figures. Exit status 0 when it printed the status (or its stdout
//! was closed), 2 on any failure (see [`run`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

use super::out::outln;
use crate::config;

/// Arguments of `palanquin status`.
#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// The daemon's configuration file (its `[metrics].listen` is asked).
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        default_value = "/etc/palanquin/palanquin.toml"
    )]
    config: PathBuf,
    /// Print the raw JSON document.
    #[arg(long)]
    json: bool,
}

fn fetch(addr: SocketAddr) -> Result<Value> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .with_context(|| format!("cannot reach the daemon's status endpoint at {addr}: is it running?"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: palanquin\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "status endpoint answered: {}",
            head.lines().next().unwrap_or_default()
        );
    }
    serde_json::from_str(body).context("status is not JSON")
}

/// Prints the daemon's state. Every failure is an error that `main` prints
/// and turns into exit status 2: the configuration cannot be read or has no
/// `[metrics]` listener, the daemon cannot be reached, or what it answers is
/// not a status. A closed stdout (`status | head -1`) ends it with 0.
pub(crate) fn run(args: StatusArgs) -> Result<()> {
    let settings = config::read(&args.config)?;
    let Some(addr) = settings.metrics else {
        bail!(
            "{}: no [metrics] listen address, so there is no status endpoint to ask",
            args.config.display()
        );
    };
    let status = fetch(addr)?;
    if args.json {
        outln!("{status}");
        return Ok(());
    }
    outln!(
        "palanquin {}  up {} s  config generation {}  ({})",
        status["version"].as_str().unwrap_or("?"),
        status["uptime_s"],
        status["generation"],
        status["config"].as_str().unwrap_or("?")
    );
    match status["zones"].as_array() {
        Some(zones) if !zones.is_empty() => {
            outln!(
                "{:<32} {:<9} {:<8} {:>12} {:>10}  file",
                "zone",
                "role",
                "state",
                "serial",
                "records"
            );
            for z in zones {
                outln!(
                    "{:<32} {:<9} {:<8} {:>12} {:>10}  {}",
                    z["zone"].as_str().unwrap_or("?"),
                    z["role"].as_str().unwrap_or("?"),
                    z["state"].as_str().unwrap_or("?"),
                    z["serial"].as_u64().map_or("-".to_owned(), |s| s.to_string()),
                    z["records"].as_u64().unwrap_or(0),
                    z["file"].as_str().unwrap_or("?")
                );
                replication_lines(z);
            }
        }
        _ => outln!("zones: none"),
    }
    if status["pools"].as_array().is_some_and(|p| !p.is_empty()) {
        super::pool::print_pools(&status["pools"]);
    }
    if let Some(routers) = status["vrrp"].as_array().filter(|r| !r.is_empty()) {
        outln!(
            "{:<12} {:>4} {:<8} {:>8} {:<16} {:<24} self-check",
            "vrrp",
            "vrid",
            "state",
            "priority",
            "master",
            "addresses"
        );
        for r in routers {
            let ips: Vec<&str> = r["virtual_ips"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let check = match (&r["self_check"]["ok"], r["self_check"]["reason"].as_str()) {
                (Value::Bool(true), Some(why)) => format!("ok: {why}"),
                (Value::Bool(false), Some(why)) => format!("failing: {why}"),
                _ if r["self_check"].is_null() => "-".to_owned(),
                _ => "not run yet".to_owned(),
            };
            outln!(
                "{:<12} {:>4} {:<8} {:>8} {:<16} {:<24} {}",
                r["interface"].as_str().unwrap_or("?"),
                r["vrid"].as_u64().unwrap_or(0),
                r["state"].as_str().unwrap_or("?"),
                format!("{}/{}", r["priority"], r["configured_priority"]),
                r["master"].as_str().unwrap_or("-"),
                ips.join(","),
                check
            );
        }
    }
    let Some(resolver) = status["resolver"].as_object() else {
        outln!("recursion: off");
        return Ok(());
    };
    outln!(
        "cache: {} / {} entries, {} questions upstream now",
        resolver["cache"]["entries"],
        resolver["cache"]["capacity"],
        resolver["inflight"]
    );
    outln!(
        "{:<22} {:<28} {:>5} {:>9} {:>8} {:>8} {:>8}",
        "upstream set",
        "upstream",
        "state",
        "srtt ms",
        "sent",
        "answered",
        "failed"
    );
    if let Some(sets) = resolver["upstreams"].as_object() {
        for (set, list) in sets {
            for u in list.as_array().into_iter().flatten() {
                let srtt = u["srtt_ms"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
                outln!(
                    "{:<22} {:<28} {:>5} {:>9} {:>8} {:>8} {:>8}",
                    set,
                    u["addr"].as_str().unwrap_or("?"),
                    u["state"].as_str().unwrap_or("?"),
                    srtt,
                    u["sent"].as_u64().unwrap_or(0),
                    u["answered"].as_u64().unwrap_or(0),
                    u["failed"].as_u64().unwrap_or(0)
                );
            }
        }
    }
    Ok(())
}

/// A zone's replication, under its line: where it comes from, when it was
/// last transferred and how big, when it is checked next, who is told.
fn replication_lines(z: &Value) {
    let ago = |key: &str| -> Option<String> {
        let t = z[key].as_u64()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(if t >= now {
            format!("in {} s", t - now)
        } else {
            format!("{} s ago", now - t)
        })
    };
    let list = |key: &str| -> Option<String> {
        let items: Vec<&str> = z[key].as_array()?.iter().filter_map(Value::as_str).collect();
        (!items.is_empty()).then(|| items.join(", "))
    };
    if let Some(p) = list("primaries") {
        outln!("    primaries {p}");
    }
    if let Some(when) = ago("last_transfer") {
        outln!(
            "    last transfer {when}: {} from {}, {} records, {} bytes",
            z["last_transfer_kind"].as_str().unwrap_or("?"),
            z["last_transfer_from"].as_str().unwrap_or("?"),
            z["last_transfer_records"],
            z["last_transfer_bytes"]
        );
    }
    if let Some(next) = ago("next_refresh") {
        let expires = ago("expires").unwrap_or_else(|| "-".into());
        outln!("    next refresh {next}, expires {expires}");
    }
    if let Some(e) = z["last_error"].as_str() {
        outln!("    last error: {e}");
    }
    if let Some(n) = list("notify") {
        outln!("    notify {n}");
    }
    if let Some(k) = z["tsig_key"].as_str() {
        outln!("    TSIG key {k}");
    }
}
