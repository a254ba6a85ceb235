//! Down upstreams are found out and brought back by background work, not by
//! lookups waiting on them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use palanquin_stub::dns::{Name, RecordType};
use palanquin_stub::scoring::State;
use palanquin_stub::{Resolver, ResolverConfig};

use palanquin_testkit::fake::{self, Behaviour, Fake};

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

fn www() -> Name {
    Name::from_ascii("www.example.test.").expect("name")
}

async fn wait_for(resolver: &Resolver, index: usize, state: State, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if resolver.upstreams()[index].state == state {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_down_upstream_is_probed_back_up_in_the_background() {
    let closed = fake::closed_port(ip(20, 1)).await;
    let mut cfg = ResolverConfig::new(vec![closed]);
    cfg.health.probe_backoff_min = Duration::from_millis(100);
    cfg.attempts = 1;
    let resolver = Resolver::new(cfg).expect("resolver");
    for _ in 0..3 {
        // Port unreachable: one failure charged per lookup, however many sends.
        assert!(resolver.query(&www(), RecordType::A).await.is_err());
    }
    assert_eq!(resolver.upstreams()[0].state, State::Down);

    // It comes back; no lookup is made, yet probes notice.
    let back = Fake::start_on(closed, Behaviour::Answer).await;
    assert!(
        wait_for(&resolver, 0, State::Up, Duration::from_secs(10)).await,
        "never probed back up: {:?}",
        resolver.upstreams()[0]
    );
    assert!(back.queries() >= 1);
}

#[tokio::test]
async fn a_black_hole_is_marked_down_by_exploration_not_by_lookups() {
    let good = Fake::start(ip(21, 1), Behaviour::Answer).await;
    let hole = Fake::start(ip(21, 2), Behaviour::BlackHole).await;
    let mut cfg = ResolverConfig::new(vec![good.addr, hole.addr]);
    cfg.explore_ratio = 1.0;
    cfg.explore_interval = Duration::ZERO;
    cfg.timeout = Duration::from_millis(150);
    // Far above loopback jitter: the good upstream is never hedged over.
    cfg.health.hedge_floor = Duration::from_millis(200);
    let resolver = Resolver::new(cfg).expect("resolver");
    let until = Instant::now() + Duration::from_secs(10);
    while resolver.upstreams()[1].state != State::Down && Instant::now() < until {
        let a = resolver.query(&www(), RecordType::A).await.expect("answer");
        assert_eq!(a.upstream, good.addr);
        assert_eq!(a.attempts, 1, "the hole is never on a lookup's path");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(resolver.upstreams()[1].state, State::Down);
    // Once down, only backed-off probes reach it.
    let before = hole.queries();
    for _ in 0..100 {
        resolver.query(&www(), RecordType::A).await.expect("answer");
    }
    assert!(
        hole.queries() - before <= 1,
        "down upstream asked {} times",
        hole.queries() - before
    );
}
