//! `palanquin query`: resolve through `palanquin-stub`, show the answer, who
//! gave it and how long it took; `--repeat N` keeps one resolver for N
//! lookups and reports percentiles and per-upstream counts. `-x ADDR` asks
//! for the PTR of an address; the output shows rcodes and types as dig does
//! (`NOERROR`, `TYPE65280`, TXT strings quoted one by one), and the
//! authority section (the SOA) of a negative answer.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use palanquin_stub::dns::{self, Name, RData, Record, RecordType, ResponseCode};
use palanquin_stub::{Answer, Resolver, ResolverConfig, Transport, UpstreamStatus};
use serde_json::{json, Value};

use super::out::outln;
use super::stats::{ms, Percentiles};
use crate::config::addr;

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
    /// Record type: a mnemonic (A, MX, ...), TYPE65 or a number (default A;
    /// PTR with -x).
    #[arg(long = "type", short = 't')]
    rtype: Option<String>,
    /// Reverse lookup: the PTR of this address (in-addr.arpa / ip6.arpa).
    #[arg(short = 'x', value_name = "ADDR", conflicts_with = "name")]
    reverse: Option<IpAddr>,
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
    #[arg(required_unless_present = "reverse")]
    name: Option<String>,
}

/// What one run asks: the name (the reverse name with -x) and the type.
struct Question {
    name: String,
    rtype: RecordType,
}

impl Question {
    fn of(args: &QueryArgs) -> Result<Self> {
        let name = match (args.reverse, &args.name) {
            (Some(ip), _) => {
                let mut name = Name::from(ip);
                name.set_fqdn(true);
                name.to_string()
            }
            (None, Some(name)) => name.clone(),
            (None, None) => bail!("give a NAME, or -x ADDR"),
        };
        let rtype = match (&args.rtype, args.reverse) {
            (Some(text), _) => parse_type(text)?,
            (None, Some(_)) => RecordType::PTR,
            (None, None) => RecordType::A,
        };
        Ok(Question { name, rtype })
    }
}

/// `A`, `aaaa`, `TYPE65` or `65`.
pub(crate) fn parse_type(text: &str) -> Result<RecordType> {
    let upper = text.trim().to_ascii_uppercase();
    let number = upper.strip_prefix("TYPE").unwrap_or(&upper);
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        let code: u16 = number
            .parse()
            .with_context(|| format!("--type {text}: type numbers go up to 65535"))?;
        return Ok(RecordType::from(code));
    }
    dns::parse_type(&upper).map_err(|e| anyhow::anyhow!("--type {text}: {e}"))
}

/// A type as dig writes it: the mnemonic, or `TYPE` and its number.
fn type_name(rtype: RecordType) -> String {
    match rtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

/// An rcode as dig writes it: `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...
pub(crate) fn rcode_name(rcode: ResponseCode) -> String {
    let name = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_owned()
}

/// Record data as in a zone file; TXT strings each quoted (`"a" "b"`),
/// unknown types in RFC 3597 form (`\# 2 abcd`).
fn rdata_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(" "),
        RData::Unknown { rdata, .. } => {
            let hex: String = rdata.anything.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\# {} {hex}", rdata.anything.len())
                .trim_end()
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// One character-string in quotes, `"` and `\` escaped, bytes that are not
/// printable ASCII as `\DDD` (RFC 1035 §5.1).
fn quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Parses `ADDR`, `ADDR:PORT` or `[V6]:PORT`; the port defaults to 53.
pub(crate) fn parse_upstream(text: &str) -> Result<SocketAddr> {
    addr::parse(text, Some(53)).context("--nameserver")
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
    let question = Question::of(&args)?;
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
            None => single(&resolver, &args, &question).await,
            Some(n) => repeat(&resolver, &args, &question, n).await,
        }
    })
}

async fn single(resolver: &Resolver, args: &QueryArgs, q: &Question) -> Result<ExitCode> {
    let started = Instant::now();
    let result = resolver.lookup(&q.name, q.rtype).await;
    let elapsed = started.elapsed();
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => {
            if args.json {
                print_line(
                    &json!({ "name": q.name, "type": type_name(q.rtype), "error": e.to_string(),
                    "latency_ms": ms(elapsed) }),
                );
            } else {
                eprintln!("palanquin: {}: {e}", q.name);
            }
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        print_line(&answer_json(&answer, q));
    } else {
        print_answer(&answer);
    }
    Ok(ExitCode::SUCCESS)
}

async fn repeat(resolver: &Resolver, args: &QueryArgs, q: &Question, n: u32) -> Result<ExitCode> {
    let mut latencies = Vec::with_capacity(n as usize);
    let mut failures = 0u32;
    for _ in 0..n {
        let started = Instant::now();
        let ok = match resolver.lookup(&q.name, q.rtype).await {
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
        "name": q.name,
        "type": type_name(q.rtype),
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

fn records_json(records: &[Record]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            json!({ "name": r.name.to_string(), "type": type_name(r.record_type()),
                    "ttl": r.ttl, "data": rdata_text(&r.data) })
        })
        .collect()
}

fn answer_json(answer: &Answer, q: &Question) -> Value {
    json!({
        "name": q.name,
        "type": type_name(q.rtype),
        "rcode": rcode_name(answer.rcode()),
        "answers": records_json(&answer.message.answers),
        "authority": records_json(&answer.message.authorities),
        "upstream": answer.upstream.to_string(),
        "latency_ms": ms(answer.latency),
        "attempts": answer.attempts,
        "tcp": answer.over_tcp,
    })
}

fn print_line(v: &Value) {
    outln!("{v}");
}

fn print_record(r: &Record) {
    outln!(
        "{}\t{}\t{}\t{}\t{}",
        r.name,
        r.ttl,
        r.dns_class,
        type_name(r.record_type()),
        rdata_text(&r.data)
    );
}

fn print_answer(answer: &Answer) {
    let q = answer.message.queries.first();
    if let Some(q) = q {
        outln!(
            ";; {} {} {}",
            q.name(),
            q.query_class(),
            type_name(q.query_type())
        );
    }
    outln!(";; status: {}", rcode_name(answer.rcode()));
    for r in &answer.message.answers {
        print_record(r);
    }
    // NXDOMAIN or NODATA: the SOA says which zone, and how long to cache that.
    let authority = &answer.message.authorities;
    if answer.message.answers.is_empty() && !authority.is_empty() {
        outln!(";; AUTHORITY SECTION:");
        for r in authority {
            print_record(r);
        }
    }
    outln!(
        ";; answered by {} in {:.3} ms ({} quer{} sent{})",
        answer.upstream,
        ms(answer.latency),
        answer.attempts,
        if answer.attempts == 1 { "y" } else { "ies" },
        if answer.over_tcp { ", over TCP" } else { "" }
    );
}

fn print_summary(n: u32, failures: u32, p: &Percentiles, upstreams: &[UpstreamStatus], sent: u64) {
    outln!(
        "{n} lookups, {failures} failed, {sent} upstream queries ({:.3} per lookup)",
        sent as f64 / f64::from(n)
    );
    outln!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        ms(p.p50),
        ms(p.p90),
        ms(p.p99),
        ms(p.max)
    );
    outln!(
        "{:<28} {:>5} {:>8} {:>8} {:>8} {:>10}",
        "upstream",
        "state",
        "sent",
        "answered",
        "failed",
        "srtt ms"
    );
    for u in upstreams {
        let srtt = u.srtt.map_or_else(|| "-".to_owned(), |d| format!("{:.3}", ms(d)));
        outln!(
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
    fn types_by_mnemonic_number_or_type_n() {
        assert_eq!(parse_type("aaaa").expect("mnemonic"), RecordType::AAAA);
        assert_eq!(parse_type("TYPE65").expect("TYPE65"), RecordType::HTTPS);
        assert_eq!(parse_type("type28").expect("type28"), RecordType::AAAA);
        assert_eq!(parse_type("65280").expect("number"), RecordType::Unknown(65280));
        assert_eq!(type_name(RecordType::Unknown(65280)), "TYPE65280");
        assert!(parse_type("TYPE65536").is_err());
        assert!(parse_type("BOGUS").is_err());
    }

    #[test]
    fn rcodes_are_mnemonics() {
        assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(rcode_name(ResponseCode::Unknown(3000)), "RCODE3000");
    }

    #[test]
    fn txt_strings_are_quoted_one_by_one() {
        let txt = RData::TXT(hickory_proto::rr::rdata::TXT::from_bytes(vec![
            b"a b",
            b"say \"hi\"\\",
            b"\x01\xff",
        ]));
        assert_eq!(rdata_text(&txt), r#""a b" "say \"hi\"\\" "\001\255""#);
    }

    #[test]
    fn reverse_names() {
        let q = |ip: &str| {
            let mut name = Name::from(ip.parse::<IpAddr>().expect("ip"));
            name.set_fqdn(true);
            name.to_string()
        };
        assert_eq!(q("192.0.2.7"), "7.2.0.192.in-addr.arpa.");
        assert_eq!(
            q("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        );
    }

    #[test]
    fn durations_print_as_milliseconds() {
        assert_eq!(ms(Duration::from_micros(1234)), 1.234);
    }
}
