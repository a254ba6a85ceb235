//! What the daemon answers when upstreams say no, lie, or are asked what a
//! resolver should not forward: SERVFAIL with the reason at once, scrubbed
//! answers, RFC 8482 ANY, meta-types and opcodes answered locally, and
//! RFC 2308 TTLs on a negative answer with a CNAME chain (NSD as upstream).

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use palanquin_testkit::daemon::{answers_of, status_of, Daemon};
use palanquin_testkit::fake::{self, Behaviour, Fake};
use palanquin_testkit::nsd::Nsd;

use crate::{bin, config, dig_async, ip, metrics_of, sa};

/// Every upstream REFUSED: SERVFAIL at once (not after 2.8 s of
/// retransmissions), carrying an Extended DNS Error that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_refusing_is_servfail_at_once_with_the_reason() {
    let a = Fake::start(ip(92, 2), Behaviour::Rcode(ResponseCode::Refused)).await;
    let b = Fake::start(ip(92, 3), Behaviour::Rcode(ResponseCode::Refused)).await;
    let addr = sa("127.0.92.1:5392");
    let cfg = config(addr, a.addr, "").replace(
        &format!("upstreams = [\"{}\"]", a.addr),
        &format!("upstreams = [\"{}\", \"{}\"]", a.addr, b.addr),
    );
    let _d = Daemon::start(bin(), addr, &cfg);
    let started = Instant::now();
    let out = dig_async(addr, "www.example.test", "A", &[]).await;
    let took = started.elapsed();
    assert_eq!(status_of(&out), "SERVFAIL", "{out}");
    assert!(out.contains("EDE: 22 (No Reachable Authority)"), "{out}");
    assert!(out.contains("every upstream refused"), "{out}");
    assert!(
        !out.contains("127.0.92.2"),
        "the upstreams' addresses stay inside: {out}"
    );
    // The evidence of "at once": each asked once (no retransmission round),
    // and the stub ended the lookup as rejected, not exhausted by the deadline.
    assert_eq!((a.queries(), b.queries()), (1, 1), "each asked once");
    let outcome = |o: &str| {
        Daemon::metric(
            metrics_of(addr),
            &format!("palanquin_stub_queries_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!((outcome("rejected"), outcome("exhausted")), (1.0, 0.0));
    // Generous: below the 4 s deadline a silence would take.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // RFC 9520: asked again at once, it is not sent upstream again.
    let again = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(status_of(&again), "SERVFAIL", "{again}");
    assert!(again.contains("EDE: 13 (Cached Error)"), "{again}");
    assert!(again.contains("cached: every upstream refused"), "{again}");
    assert_eq!((a.queries(), b.queries()), (1, 1), "the failure was remembered");
    let cached = Daemon::metric(metrics_of(addr), "palanquin_resolver_failure_cache_hits_total");
    assert_eq!(cached, 1.0);
}

/// Nothing listens at the upstream: EDE 23 (Network Error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_upstream_port_is_a_network_error() {
    let closed = fake::closed_port(ip(92, 12)).await;
    let addr = sa("127.0.92.11:5392");
    let _d = Daemon::start(bin(), addr, &config(addr, closed, ""));
    let out = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(status_of(&out), "SERVFAIL", "{out}");
    assert!(out.contains("EDE: 23 (Network Error)"), "{out}");
    assert!(out.contains("nothing listens at any upstream"), "{out}");
}

/// An upstream that slips `www.bank.test A 6.6.6.6` into every section:
/// the client never sees it, the cache does not keep it, and the metric
/// counts each record dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_unrelated_to_the_question_are_scrubbed_and_counted() {
    let up = Fake::start(ip(92, 22), Behaviour::Poisoner).await;
    let addr = sa("127.0.92.21:5392");
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    for _ in 0..2 {
        let out = dig_async(addr, "a.example.test", "A", &[]).await;
        assert_eq!(status_of(&out), "NOERROR", "{out}");
        assert_eq!(answers_of(&out).len(), 1, "{out}");
        assert!(!out.contains("6.6.6.6") && !out.contains("bank"), "{out}");
    }
    let m = |section: &str| {
        Daemon::metric(
            metrics_of(addr),
            &format!("palanquin_scrubbed_records_total{{section=\"{section}\"}}"),
        )
    };
    assert_eq!((m("answer"), m("authority"), m("additional")), (1.0, 1.0, 1.0));
    assert_eq!(up.queries(), 1, "the scrubbed answer was cached");
    // Asking for the planted name goes upstream: it was not cached.
    let _ = dig_async(addr, "www.bank.test", "A", &[]).await;
    assert_eq!(up.queries(), 2);
}

/// ANY gets RFC 8482's one HINFO; QTYPE 0 and OPT are FORMERR, MAILA
/// NOTIMP; none of them reaches the upstream. An unknown opcode is NOTIMP
/// without RA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_meta_types_and_opcodes_are_answered_without_forwarding() {
    let up = Fake::start(ip(92, 32), Behaviour::Answer).await;
    let addr = sa("127.0.92.31:5392");
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let any = dig_async(addr, "www.example.test", "ANY", &[]).await;
    assert_eq!(status_of(&any), "NOERROR", "{any}");
    let records = answers_of(&any);
    assert_eq!(records.len(), 1, "{any}");
    assert_eq!(
        (records[0].2.as_str(), records[0].3.as_str()),
        ("HINFO", "\"RFC8482\" \"\"")
    );
    for (qtype, want) in [("TYPE0", "FORMERR"), ("TYPE41", "FORMERR"), ("MAILA", "NOTIMP")] {
        let out = dig_async(addr, "www.example.test", qtype, &[]).await;
        assert_eq!(status_of(&out), want, "{qtype}: {out}");
    }
    let out = dig_async(addr, "www.example.test", "A", &["+opcode=9"]).await;
    assert_eq!(status_of(&out), "NOTIMP", "{out}");
    let flags = out
        .lines()
        .find(|l| l.contains("flags:"))
        .unwrap_or_default()
        .to_owned();
    assert!(!flags.contains(" ra"), "no RA on NOTIMP: {flags}");
    assert_eq!(up.queries(), 0, "nothing was forwarded");
}

const ZONE: &str = "\
$ORIGIN chain.test.
$TTL 300
@        IN SOA ns1 hostmaster 1 3600 900 604800 120
         IN NS  ns1
ns1      IN A   127.0.92.42
dangling IN CNAME nothere
";

/// NXDOMAIN at the end of a CNAME chain: the CNAME keeps its own TTL (300,
/// as NSD gives it); only the negative part takes the negative TTL (120),
/// RFC 2308 §5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_answer_keeps_the_ttl_of_its_cname() {
    let nsd = Nsd::start(&[ip(92, 42)], 5353, "chain.test.", ZONE).expect("nsd");
    let addr = sa("127.0.92.41:5392");
    let _d = Daemon::start(bin(), addr, &config(addr, nsd.addrs()[0], ""));
    let direct = dig_async(nsd.addrs()[0], "dangling.chain.test", "A", &["+norecurse"]).await;
    let nsd_cname = answers_of(&direct);
    assert_eq!(nsd_cname[0].1, 300, "NSD's own answer: {direct}");
    for round in 0..2 {
        let out = dig_async(addr, "dangling.chain.test", "A", &[]).await;
        assert_eq!(status_of(&out), "NXDOMAIN", "{out}");
        let answers = answers_of(&out);
        assert_eq!(answers.len(), 1, "{out}");
        assert_eq!(answers[0].2, "CNAME");
        assert!(
            answers[0].1 > 120 && answers[0].1 <= 300,
            "round {round}: the CNAME's TTL is its own, not the negative TTL: {out}"
        );
        let soa = out
            .lines()
            .find(|l| l.contains("\tSOA\t"))
            .expect("SOA in authority");
        let ttl: u32 = soa
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .expect("ttl");
        assert!(ttl <= 120, "the SOA carries the negative TTL: {soa}");
    }
}
