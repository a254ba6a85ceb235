//! `palanquin query`: resolve through `palanquin-stub`, show the answer, who
//! gave it and how long it took; `--repeat N` keeps one resolver for N
//! lookups and reports percentiles and per-upstream counts.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use palanquin_stub::dns::{self, RecordType, ResponseCode};
use palanquin_stub::{Answer, Resolver, ResolverConfig, Transport, UpstreamStatus};
use serde_json::{json, Value};

use super::stats::{ms, Percentiles};

/// Arguments of `palanquin query`.
#[derive(Args, Debug)]
pub(crate) struct QueryArgs {
    /// Read upstreams and options from this resolv.conf (default /etc/resolv.conf).
    #[arg(long, value_name = "FILE")]
    resolv_conf: Option<PathBuf>,
    /// Upstream to ask, ADDR or ADDR:PORT ([V6]:PORT); repeatable. Replaces the
    /// resolv.conf nameservers but keeps its options.
    #[arg(long = "nameserver", value_name = "ADDR[:PORT]")]
    nameservers: Vec<String>,
    /// Record type.
    #[arg(long = "type", short = 't', default_value = "A")]
    rtype: String,
    /// TCP only.
    #[arg(long)]
    tcp: bool,
    /// Resolve N times with one resolver and print latency percentiles.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Print JSON (the last line is one JSON object).
    #[arg(long)]
    json: bool,
    /// The name to resolve (the search list applies to relative names).
    name: String,
}

/// Parses `ADDR`, `ADDR:PORT` or `[V6]:PORT`; the port defaults to 53.
pub(crate) fn parse_upstream(text: &str) -> Result<SocketAddr> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let ip: IpAddr = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("--nameserver {text:?}: not ADDR, ADDR:PORT or [V6]:PORT"))?;
    Ok(SocketAddr::new(ip, 53))
}

fn config(args: &QueryArgs) -> Result<ResolverConfig> {
    let mut cfg = match (&args.resolv_conf, args.nameservers.is_empty()) {
        (Some(path), _) => ResolverConfig::from_resolv_conf_file(path)?,
        (None, true) => ResolverConfig::system()?,
        (None, false) => ResolverConfig::new(Vec::new()),
    };
    if !args.nameservers.is_empty() {
        cfg.upstreams = args
            .nameservers
            .iter()
            .map(|s| parse_upstream(s))
            .collect::<Result<_>>()?;
    }
    if args.tcp {
        cfg.transport = Transport::Tcp;
    }
    Ok(cfg)
}

/// Runs the subcommand; exit 0 when every lookup got NOERROR or NXDOMAIN.
pub(crate) fn run(args: QueryArgs) -> Result<ExitCode> {
    let rtype = dns::parse_type(&args.rtype).map_err(|e| anyhow::anyhow!("--type {}: {e}", args.rtype))?;
    if args.repeat == Some(0) {
        bail!("--repeat must be at least 1");
    }
    let cfg = config(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let resolver = Resolver::new(cfg)?;
        match args.repeat {
            None => single(&resolver, &args, rtype).await,
            Some(n) => repeat(&resolver, &args, rtype, n).await,
        }
    })
}

async fn single(resolver: &Resolver, args: &QueryArgs, rtype: RecordType) -> Result<ExitCode> {
    let started = Instant::now();
    let result = resolver.lookup(&args.name, rtype).await;
    let elapsed = started.elapsed();
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => {
            if args.json {
                print_line(
                    &json!({ "name": args.name, "type": rtype.to_string(), "error": e.to_string(),
                    "latency_ms": ms(elapsed) }),
                );
            } else {
                eprintln!("palanquin: {}: {e}", args.name);
            }
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        print_line(&answer_json(&answer, args, rtype));
    } else {
        print_answer(&answer);
    }
    Ok(ExitCode::SUCCESS)
}

async fn repeat(resolver: &Resolver, args: &QueryArgs, rtype: RecordType, n: u32) -> Result<ExitCode> {
    let mut latencies = Vec::with_capacity(n as usize);
    let mut failures = 0u32;
    for _ in 0..n {
        let started = Instant::now();
        let ok = match resolver.lookup(&args.name, rtype).await {
            Ok(a) => matches!(a.rcode(), ResponseCode::NoError | ResponseCode::NXDomain),
            Err(e) => {
                tracing::debug!(error = %e, "lookup failed");
                false
            }
        };
        latencies.push(started.elapsed());
        failures += u32::from(!ok);
    }
    let p = Percentiles::of(&latencies).context("no samples")?;
    let upstreams = resolver.upstreams();
    let sent: u64 = upstreams.iter().map(|u| u.sent).sum();
    if !args.json {
        print_summary(n, failures, &p, &upstreams, sent);
    }
    let per_upstream: serde_json::Map<String, Value> = upstreams
        .iter()
        .map(|u| (u.addr.to_string(), upstream_json(u)))
        .collect();
    let summary = json!({
        "name": args.name,
        "type": rtype.to_string(),
        "queries": n,
        "failures": failures,
        "latency_ms": { "p50": ms(p.p50), "p90": ms(p.p90), "p99": ms(p.p99), "max": ms(p.max) },
        "upstream_queries": sent,
        "upstreams": per_upstream,
    });
    print_line(&summary);
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn upstream_json(u: &UpstreamStatus) -> Value {
    json!({
        "answered": u.answered,
        "failed": u.failed,
        "sent": u.sent,
        "mismatched": u.mismatched,
        "srtt_ms": u.srtt.map(ms),
        "state": u.state.as_str(),
    })
}

fn answer_json(answer: &Answer, args: &QueryArgs, rtype: RecordType) -> Value {
    let records: Vec<Value> = answer
        .message
        .answers
        .iter()
        .map(|r| {
            json!({ "name": r.name.to_string(), "type": r.record_type().to_string(),
                    "ttl": r.ttl, "data": r.data.to_string() })
        })
        .collect();
    json!({
        "name": args.name,
        "type": rtype.to_string(),
        "rcode": answer.rcode().to_string(),
        "answers": records,
        "upstream": answer.upstream.to_string(),
        "latency_ms": ms(answer.latency),
        "attempts": answer.attempts,
        "tcp": answer.over_tcp,
    })
}

#[allow(clippy::print_stdout)] // the command's own output
fn print_line(v: &Value) {
    println!("{v}");
}

#[allow(clippy::print_stdout)] // the command's own output
fn print_answer(answer: &Answer) {
    let q = answer.message.queries.first();
    if let Some(q) = q {
        println!(";; {} {} {}", q.name(), q.query_class(), q.query_type());
    }
    println!(";; status: {}", answer.rcode());
    for r in &answer.message.answers {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            r.name,
            r.ttl,
            r.dns_class,
            r.record_type(),
            r.data
        );
    }
    println!(
        ";; answered by {} in {:.3} ms ({} quer{} sent{})",
        answer.upstream,
        ms(answer.latency),
        answer.attempts,
        if answer.attempts == 1 { "y" } else { "ies" },
        if answer.over_tcp { ", over TCP" } else { "" }
    );
}

#[allow(clippy::print_stdout)] // the command's own output
fn print_summary(n: u32, failures: u32, p: &Percentiles, upstreams: &[UpstreamStatus], sent: u64) {
    println!(
        "{n} lookups, {failures} failed, {sent} upstream queries ({:.3} per lookup)",
        sent as f64 / f64::from(n)
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        ms(p.p50),
        ms(p.p90),
        ms(p.p99),
        ms(p.max)
    );
    println!(
        "{:<28} {:>5} {:>8} {:>8} {:>8} {:>10}",
        "upstream", "state", "sent", "answered", "failed", "srtt ms"
    );
    for u in upstreams {
        let srtt = u.srtt.map_or_else(|| "-".to_owned(), |d| format!("{:.3}", ms(d)));
        println!(
            "{:<28} {:>5} {:>8} {:>8} {:>8} {:>10}",
            u.addr.to_string(),
            u.state.as_str(),
            u.sent,
            u.answered,
            u.failed,
            srtt
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn upstream_addresses() {
        assert_eq!(
            parse_upstream("127.0.0.2").expect("v4"),
            "127.0.0.2:53".parse().expect("sa")
        );
        assert_eq!(
            parse_upstream("127.0.0.2:5353").expect("v4 port"),
            "127.0.0.2:5353".parse().expect("sa")
        );
        assert_eq!(
            parse_upstream("::1").expect("v6"),
            "[::1]:53".parse().expect("sa")
        );
        assert_eq!(
            parse_upstream("[::1]:5353").expect("v6 port"),
            "[::1]:5353".parse().expect("sa")
        );
        assert!(parse_upstream("nonsense").is_err());
    }

    #[test]
    fn durations_print_as_milliseconds() {
        assert_eq!(ms(Duration::from_micros(1234)), 1.234);
    }
}
