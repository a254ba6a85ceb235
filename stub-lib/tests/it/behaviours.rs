//! One fake upstream per failure mode. Each test asserts the answer, which
//! upstream gave it, and that dead upstreams left the hot path.
//!
//! Where "at once" must be shown, the hedge delays are raised to seconds, so
//! that moving on after a hedge delay (instead of at once) would blow a
//! generous bound; no test depends on a tight timing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use palanquin_stub::dns::{Name, RecordType};
use palanquin_stub::scoring::State;
use palanquin_stub::{BlockingResolver, Error, Failure, Mode, Resolver, ResolverConfig, Transport};

use palanquin_testkit::fake::{self, Behaviour, Fake};

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

/// A config whose hedge delays are long: anything answered quickly was not
/// waiting for a hedge timer. No background exploration, so query counts are exact.
fn patient(upstreams: Vec<SocketAddr>) -> ResolverConfig {
    let mut cfg = ResolverConfig::new(upstreams);
    cfg.explore_ratio = 0.0;
    cfg.health.initial_rtt = Duration::from_secs(3);
    cfg.health.hedge_floor = Duration::from_secs(3);
    cfg.health.hedge_ceiling = Duration::from_secs(3);
    cfg.timeout = Duration::from_secs(5);
    cfg
}

/// The addresses in an answer's answer section.
fn ips_of(a: &palanquin_stub::Answer) -> Vec<IpAddr> {
    a.message
        .answers
        .iter()
        .filter_map(palanquin_stub::dns::record_ip)
        .collect()
}

/// `www.example.test. A` through `resolver`; the answer is expected.
async fn ask_www(resolver: &Resolver) -> palanquin_stub::Answer {
    resolver
        .query(&name("www.example.test."), RecordType::A)
        .await
        .expect("answer")
}

fn state_of(resolver: &Resolver, addr: SocketAddr) -> State {
    resolver
        .upstreams()
        .into_iter()
        .find(|u| u.addr == addr)
        .expect("configured")
        .state
}

#[tokio::test]
async fn black_hole_first_costs_one_hedge_then_leaves_the_hot_path() {
    let hole = Fake::start(ip(1, 1), Behaviour::BlackHole).await;
    let good = Fake::start(ip(1, 2), Behaviour::Answer).await;
    let mut cfg = ResolverConfig::new(vec![hole.addr, good.addr]);
    // A floor well above loopback jitter on a loaded 2-core machine: the good
    // upstream is never hedged over, so every count below is exact.
    cfg.health.hedge_floor = Duration::from_millis(200);
    let resolver = Resolver::new(cfg).expect("resolver");

    let first = ask_www(&resolver).await;
    assert_eq!(first.upstream, good.addr);
    assert_eq!(first.attempts, 2, "asked the hole, then hedged to the good one");
    for _ in 0..200 {
        let a = ask_www(&resolver).await;
        assert_eq!(a.upstream, good.addr);
        assert_eq!(a.attempts, 1, "no hedge once the hole is known");
    }
    // The first query, plus at most one background exploration.
    assert!(hole.queries() <= 2, "black hole asked {} times", hole.queries());
    assert!(good.queries() >= 201);
}

#[tokio::test]
async fn refused_servfail_and_closed_port_move_on_at_once() {
    let refused = Fake::start(ip(2, 1), Behaviour::Rcode(ResponseCode::Refused)).await;
    let servfail = Fake::start(ip(2, 2), Behaviour::Rcode(ResponseCode::ServFail)).await;
    let closed = fake::closed_port(ip(2, 3)).await;
    let notimp = Fake::start(ip(2, 4), Behaviour::Rcode(ResponseCode::NotImp)).await;
    let good = Fake::start(ip(2, 5), Behaviour::Answer).await;
    let upstreams = vec![refused.addr, servfail.addr, closed, notimp.addr, good.addr];
    let resolver = Resolver::new(patient(upstreams)).expect("resolver");

    let a = ask_www(&resolver).await;
    assert_eq!(a.upstream, good.addr);
    assert_eq!(a.attempts, 5);
    // Four failures in a row without a single 3 s hedge delay.
    assert!(a.latency < Duration::from_secs(2), "took {:?}", a.latency);

    for _ in 0..5 {
        let a = ask_www(&resolver).await;
        assert_eq!(a.upstream, good.addr);
        assert_eq!(a.attempts, 1, "failed upstreams rank behind the good one");
    }
    assert_eq!(refused.queries(), 1);
    assert_eq!(servfail.queries(), 1);
    assert_eq!(notimp.queries(), 1);
}

/// SERVFAIL and REFUSED, however often, never take an upstream down: a
/// healthy server refuses names it does not serve and fails names whose
/// own servers are broken, and a client looping on such a name must not
/// take every upstream down. Each lookup ends as soon as both have said
/// no: no retransmission round.
#[tokio::test]
async fn servfail_and_refused_never_mark_an_upstream_down() {
    let servfail = Fake::start(ip(3, 1), Behaviour::Rcode(ResponseCode::ServFail)).await;
    let refused = Fake::start(ip(3, 2), Behaviour::Rcode(ResponseCode::Refused)).await;
    let mut cfg = patient(vec![servfail.addr, refused.addr]);
    cfg.attempts = 1;
    cfg.health.probe_backoff_min = Duration::from_secs(60);
    let resolver = Resolver::new(cfg).expect("resolver");
    for round in 1..=5 {
        match resolver.query(&name("www.example.test."), RecordType::A).await {
            Err(e @ Error::Rejected { .. }) => {
                assert_eq!(e.rcode(), None, "two different rcodes");
                let Error::Rejected { failures } = &e else {
                    unreachable!()
                };
                assert_eq!(failures.len(), 2, "{e}");
            }
            other => panic!("lookup {round}: expected both upstreams to say no, got {other:?}"),
        }
    }
    assert_eq!(
        servfail.queries() + refused.queries(),
        10,
        "each asked once per lookup"
    );
    assert_eq!(state_of(&resolver, servfail.addr), State::Up);
    assert_eq!(state_of(&resolver, refused.addr), State::Up);
}

/// Every upstream REFUSED: the lookup ends at once with that rcode and says
/// so, instead of re-asking for seconds and blaming a timeout.
#[tokio::test]
async fn every_upstream_refusing_ends_the_lookup_at_once() {
    let a = Fake::start(ip(3, 11), Behaviour::Rcode(ResponseCode::Refused)).await;
    let b = Fake::start(ip(3, 12), Behaviour::Rcode(ResponseCode::Refused)).await;
    let resolver = Resolver::new(patient(vec![a.addr, b.addr])).expect("resolver");
    let started = std::time::Instant::now();
    let err = resolver
        .query(&name("www.example.test."), RecordType::A)
        .await
        .expect_err("refused");
    // Far below the 400 ms retransmission floor and the 3 s hedge delays.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.rcode(), Some(ResponseCode::Refused));
    let text = err.to_string();
    assert!(text.starts_with("every upstream refused"), "{text}");
    assert!(!text.contains("within"), "{text}");
    assert_eq!((a.queries(), b.queries()), (1, 1), "no retransmission");
}

/// An answer longer than the UDP buffer is read as truncated: the same
/// upstream is asked over TCP, and the whole answer comes back.
#[tokio::test]
async fn an_oversized_udp_answer_is_retried_over_tcp() {
    let big = Fake::start(ip(3, 21), Behaviour::Oversized).await;
    let resolver = Resolver::new(patient(vec![big.addr])).expect("resolver");
    let a = ask_www(&resolver).await;
    assert!(a.over_tcp, "asked again over TCP");
    assert_eq!(big.tcp_queries(), 1);
    assert_eq!(ips_of(&a).len(), usize::from(fake::OVERSIZED_RECORDS));
    assert_eq!(resolver.upstreams()[0].mismatched, 0, "not taken for a forgery");
}

#[tokio::test]
async fn slow_upstream_is_hedged_over_and_then_ranked_last() {
    let slow = Fake::start(ip(4, 1), Behaviour::Slow(Duration::from_millis(300))).await;
    let fast = Fake::start(ip(4, 2), Behaviour::Answer).await;
    let resolver = Resolver::new(ResolverConfig::new(vec![slow.addr, fast.addr])).expect("resolver");
    let first = ask_www(&resolver).await;
    assert_eq!(first.upstream, fast.addr, "hedged after the initial estimate");
    for _ in 0..50 {
        let a = ask_www(&resolver).await;
        assert_eq!(a.upstream, fast.addr);
    }
    assert!(
        slow.queries() <= 2,
        "slow upstream asked {} times",
        slow.queries()
    );
}

#[tokio::test]
async fn a_slow_only_upstream_still_answers() {
    let slow = Fake::start(ip(4, 3), Behaviour::Slow(Duration::from_millis(200))).await;
    let resolver = Resolver::new(ResolverConfig::new(vec![slow.addr])).expect("resolver");
    let a = ask_www(&resolver).await;
    assert_eq!(a.upstream, slow.addr);
    assert!(a.latency >= Duration::from_millis(200));
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp_to_the_same_upstream() {
    let trunc = Fake::start(ip(5, 1), Behaviour::Truncating).await;
    let other = Fake::start(ip(5, 2), Behaviour::Answer).await;
    let resolver = Resolver::new(patient(vec![trunc.addr, other.addr])).expect("resolver");
    let a = ask_www(&resolver).await;
    assert_eq!(a.upstream, trunc.addr);
    assert!(a.over_tcp);
    assert_eq!(trunc.tcp_queries(), 1);
    assert_eq!(other.queries(), 0);
    assert_eq!(ips_of(&a), vec![IpAddr::V4(fake::IPV4)]);
}

/// TC over UDP, then TCP fails (filtered TCP/53): the upstream answered,
/// so it is never marked down for it; the lookup says what happened.
#[tokio::test]
async fn a_truncated_answer_whose_tcp_fails_is_no_mark_against_the_upstream() {
    let up = Fake::start(ip(5, 11), Behaviour::TruncatingNoTcp).await;
    let mut cfg = patient(vec![up.addr]);
    cfg.attempts = 1;
    let resolver = Resolver::new(cfg).expect("resolver");
    for _ in 0..4 {
        match resolver.query(&name("www.example.test."), RecordType::A).await {
            Err(Error::Rejected { failures }) => {
                assert!(
                    matches!(failures[..], [Failure::Truncated { .. }]),
                    "{failures:?}"
                );
            }
            other => panic!("expected a truncated answer and a failed TCP, got {other:?}"),
        }
    }
    assert_eq!(state_of(&resolver, up.addr), State::Up);
    assert_eq!(up.tcp_queries(), 4, "each lookup tried TCP once");
}

#[tokio::test]
async fn forged_replies_are_ignored_and_the_real_answer_taken() {
    let forger = Fake::start(ip(6, 1), Behaviour::Forger).await;
    let resolver = Resolver::new(patient(vec![forger.addr])).expect("resolver");
    for _ in 0..5 {
        let a = ask_www(&resolver).await;
        assert_eq!(a.upstream, forger.addr);
        assert_eq!(
            ips_of(&a),
            vec![IpAddr::V4(fake::IPV4)],
            "a forged record was accepted"
        );
    }
    let status = &resolver.upstreams()[0];
    // Wrong ID and wrong question are seen and counted; the wrong source port
    // never reaches the connected socket.
    assert!(status.mismatched >= 10, "mismatched = {}", status.mismatched);
    assert_eq!(status.state, State::Up);
}

#[tokio::test]
async fn nothing_listening_anywhere_ends_at_once_and_is_asked_again_later() {
    let a = fake::closed_port(ip(7, 1)).await;
    let b = fake::closed_port(ip(7, 2)).await;
    let cfg = patient(vec![a, b]);
    let resolver = Resolver::new(cfg).expect("resolver");
    for _ in 0..4 {
        match resolver.query(&name("www.example.test."), RecordType::A).await {
            Err(e @ Error::Rejected { .. }) => {
                assert!(
                    e.to_string().starts_with("nothing listens at any upstream"),
                    "{e}"
                );
            }
            other => panic!("expected port unreachable everywhere, got {other:?}"),
        }
    }
    assert_eq!(state_of(&resolver, a), State::Down);
    // All down: still asked, so the first one back answers at once.
    let back = Fake::start_on(a, Behaviour::Answer).await;
    let answer = ask_www(&resolver).await;
    assert_eq!(answer.upstream, back.addr);
    assert_eq!(state_of(&resolver, a), State::Up);
}

#[tokio::test]
async fn silent_upstreams_end_at_the_overall_deadline() {
    let hole = Fake::start(ip(8, 1), Behaviour::BlackHole).await;
    let mut cfg = ResolverConfig::new(vec![hole.addr]);
    cfg.timeout = Duration::from_millis(200);
    cfg.attempts = 2;
    let resolver = Resolver::new(cfg).expect("resolver");
    let started = std::time::Instant::now();
    let err = resolver
        .query(&name("www.example.test."), RecordType::A)
        .await
        .expect_err("no answer");
    let took = started.elapsed();
    assert!(matches!(err, Error::Exhausted { .. }), "{err}");
    assert!(took >= Duration::from_millis(400), "gave up early: {took:?}");
    assert!(took < Duration::from_secs(3), "deadline ignored: {took:?}");
    let sent = hole.queries();
    assert!(
        (2..=4).contains(&sent),
        "retransmitted, at most twice per attempt: {sent}"
    );
}

#[tokio::test]
async fn fan_out_asks_everyone_at_once() {
    let slow = Fake::start(ip(9, 1), Behaviour::Slow(Duration::from_millis(500))).await;
    let fast = Fake::start(ip(9, 2), Behaviour::Answer).await;
    let mut cfg = patient(vec![slow.addr, fast.addr]);
    cfg.mode = Mode::FanOut;
    let resolver = Resolver::new(cfg).expect("resolver");
    let a = ask_www(&resolver).await;
    assert_eq!(a.upstream, fast.addr);
    assert_eq!(a.attempts, 2);
    assert!(
        a.latency < Duration::from_millis(450),
        "waited for the slow one: {:?}",
        a.latency
    );
}

#[tokio::test]
async fn use_vc_sends_everything_over_tcp() {
    let up = Fake::start(ip(10, 1), Behaviour::Answer).await;
    let mut cfg = ResolverConfig::new(vec![up.addr]);
    cfg.transport = Transport::Tcp;
    let resolver = Resolver::new(cfg).expect("resolver");
    let a = resolver
        .query(&name("www.example.test."), RecordType::AAAA)
        .await
        .expect("answer");
    assert!(a.over_tcp);
    assert_eq!(up.tcp_queries(), 1);
    assert_eq!(up.queries(), 1);
}

#[tokio::test]
async fn lookup_ip_uses_the_search_list_and_asks_a_and_aaaa() {
    let up = Fake::start(ip(11, 1), Behaviour::Answer).await;
    let mut cfg = ResolverConfig::new(vec![up.addr]);
    cfg.search = vec![name("nxcorp.test."), name("corp.test.")];
    let resolver = Resolver::new(cfg).expect("resolver");
    // The fake says NXDOMAIN for any name with a label starting with "nx".
    let found = resolver.lookup_ip("www").await.expect("addresses");
    assert_eq!(found.name.to_string(), "www.corp.test.");
    assert_eq!(found.addrs.len(), 2);
    assert!(found.addrs.contains(&IpAddr::V4(fake::IPV4)));
    assert!(found.addrs.contains(&IpAddr::V6(fake::IPV6)));
    match resolver.lookup_ip("nxhost").await {
        Err(Error::NxDomain { .. }) => {}
        other => panic!("expected NXDOMAIN, got {other:?}"),
    }
    // NXDOMAIN is an answer, not an upstream failure.
    assert_eq!(resolver.upstreams()[0].failed, 0);
}

#[test]
fn blocking_wrapper_resolves_without_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let up = runtime.block_on(Fake::start(ip(12, 1), Behaviour::Answer));
    let resolver = BlockingResolver::new(ResolverConfig::new(vec![up.addr])).expect("resolver");
    let found = resolver.lookup_ip("www.example.test").expect("addresses");
    assert_eq!(found.addrs.len(), 2);
    let nx = resolver
        .lookup("nx.example.test.", RecordType::A)
        .expect("answer");
    assert_eq!(nx.rcode(), ResponseCode::NXDomain);
    drop(resolver);
    drop(up);
}
