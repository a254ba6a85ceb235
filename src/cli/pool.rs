//! `palanquin pool list|drain|undrain [--config FILE] [ZONE POOL MEMBER]`:
//! asks the running daemon through its control socket (`[control].socket`)
//! and prints the pools, or what a drain changed. Exit status 0 on
//! success, 2 on any failure (no socket configured, daemon not running,
//! no such zone, pool or member).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::out::outln;
use crate::config;

/// Arguments of `palanquin pool`.
#[derive(Args, Debug)]
pub(crate) struct PoolArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Every pool and its members: state, drain, last check and its reason.
    List(Common),
    /// Hand a member out to nobody until undrained (kept across reloads).
    Drain(Target),
    /// Hand a drained member out again (when its checks say up).
    Undrain(Target),
}

#[derive(Args, Debug)]
struct Common {
    /// The daemon's configuration file (its `[control].socket` is used).
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

#[derive(Args, Debug)]
struct Target {
    #[command(flatten)]
    common: Common,
    /// The zone, as in the configuration (`example.com`).
    zone: String,
    /// The pool's name, relative to the zone (`www`) or absolute.
    pool: String,
    /// The member's address.
    member: String,
}

/// Sends `request` to the daemon of `config` and returns its answer.
fn ask(config: &std::path::Path, request: &str) -> Result<Value> {
    let Some(path) = config::control_socket(config)? else {
        bail!(
            "{}: no [control] socket, so there is no running daemon to ask",
            config.display()
        );
    };
    let mut stream = UnixStream::connect(&path).with_context(|| {
        format!(
            "cannot reach the daemon's control socket {}: is it running?",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let answer: Value = serde_json::from_str(&line).context("the daemon's answer is not JSON")?;
    if answer["ok"] != Value::Bool(true) {
        bail!("{}", answer["error"].as_str().unwrap_or("the daemon refused"));
    }
    Ok(answer)
}

/// Runs `palanquin pool ...`.
pub(crate) fn run(args: PoolArgs) -> Result<()> {
    let (verb, t) = match args.action {
        Action::List(c) => {
            let answer = ask(&c.config, "pool list")?;
            if c.json {
                outln!("{}", answer["pools"]);
            } else {
                print_pools(&answer["pools"]);
            }
            return Ok(());
        }
        Action::Drain(t) => ("drain", t),
        Action::Undrain(t) => ("undrain", t),
    };
    if [&t.zone, &t.pool, &t.member]
        .iter()
        .any(|w| w.is_empty() || w.contains(char::is_whitespace))
    {
        bail!("zone, pool and member are single words");
    }
    let answer = ask(
        &t.common.config,
        &format!("pool {verb} {} {} {}", t.zone, t.pool, t.member),
    )?;
    if t.common.json {
        outln!("{answer}");
        return Ok(());
    }
    let changed = answer["changed"] == Value::Bool(true);
    outln!(
        "{} {} {}: {}",
        t.zone,
        t.pool,
        t.member,
        match (verb, changed) {
            ("drain", true) => "drained",
            ("drain", false) => "was already drained",
            (_, true) => "undrained",
            (_, false) => "was not drained",
        }
    );
    Ok(())
}

/// The pools as a table, one line per member (also `palanquin status`).
pub(crate) fn print_pools(pools: &Value) {
    let Some(list) = pools.as_array().filter(|l| !l.is_empty()) else {
        outln!("pools: none");
        return;
    };
    outln!(
        "{:<28} {:<40} {:<7} {:<8} {:>9}  last check",
        "pool",
        "member",
        "state",
        "drained",
        "ms"
    );
    for p in list {
        let name = format!(
            "{} {}",
            p["pool"].as_str().unwrap_or("?"),
            p["type"].as_str().unwrap_or("?")
        );
        for m in p["members"].as_array().into_iter().flatten() {
            let mut member = m["addr"].as_str().unwrap_or("?").to_owned();
            if m["backup"] == Value::Bool(true) {
                member.push_str(" (backup)");
            }
            if m["weight"].as_u64().is_some_and(|w| w != 1) {
                member.push_str(&format!(" w{}", m["weight"]));
            }
            outln!(
                "{:<28} {:<40} {:<7} {:<8} {:>9}  {}",
                name,
                member,
                m["state"].as_str().unwrap_or("?"),
                if m["drained"] == Value::Bool(true) {
                    "drained"
                } else {
                    "-"
                },
                m["last_latency_ms"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
                m["last_reason"].as_str().unwrap_or("-")
            );
        }
    }
}
