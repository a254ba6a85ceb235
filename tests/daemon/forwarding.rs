//! Forwarding, caching, coalescing, negative caching, TCP, IPv6, split DNS,
//! malformed queries, clean shutdown.

use std::time::{Duration, Instant};

use palanquin_testkit::daemon::{answers_of, status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};
use palanquin_testkit::nsd::Nsd;

use crate::{bin, config, dig_async, ip, metrics_of, sa};

const ZONE: &str = "\
$ORIGIN corp.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 900 604800 120
     IN NS  ns1
ns1  IN A   127.0.61.2
www  IN A   192.0.2.80
www  IN AAAA 2001:db8::80
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_answers_and_asks_upstream_once() {
    let up = Fake::start(ip(60, 2), Behaviour::Answer).await;
    let addr = sa("127.0.60.1:5300");
    let d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let first = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(status_of(&first), "NOERROR", "{first}");
    assert_eq!(answers_of(&first)[0].3, "192.0.2.1");
    assert!(first.contains(" ra"), "recursion available is set: {first}");
    for _ in 0..5 {
        let again = dig_async(addr, "WWW.Example.TEST", "A", &[]).await;
        assert_eq!(status_of(&again), "NOERROR");
        assert!(
            again.contains("WWW.Example.TEST."),
            "the question's case is echoed"
        );
        assert!(
            answers_of(&again)[0].1 <= 60,
            "never above the upstream's 60 (the countdown itself is a cache unit test)"
        );
    }
    assert_eq!(
        up.queries(),
        1,
        "one upstream query for six lookups (case-insensitive cache)"
    );
    let hits = Daemon::metric(metrics_of(addr), "palanquin_cache_hits_total");
    assert!(hits >= 5.0, "hits = {hits}");
    // `palanquin status` reads the same config and asks the status endpoint.
    let status = std::process::Command::new(bin())
        .args(["status", "--config"])
        .arg(d.config_path())
        .output()
        .expect("run status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(text.contains("cache: 1 / 100000 entries"), "{text}");
    assert!(
        text.contains(&up.addr.to_string()) && text.contains(" up "),
        "{text}"
    );
    drop(d);
}

/// Coalescing, shown by its own counter: 20 identical questions sent
/// back to back (microseconds apart, well inside the upstream's 250 ms and
/// the stub's 400 ms retransmission floor) make one miss that leads and 19
/// that join it, one upstream query, and no cache hit that could stand in
/// for coalescing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesces_identical_questions() {
    let up = Fake::start(ip(60, 12), Behaviour::Slow(Duration::from_millis(250))).await;
    let addr = sa("127.0.60.11:5300");
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let client = tokio::net::UdpSocket::bind("127.0.100.13:0").await.expect("bind");
    // same.example.test. A IN, RD; the ID is the index.
    let question = b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04same\x07example\x04test\x00\x00\x01\x00\x01";
    for id in 0..20u16 {
        let query = [&id.to_be_bytes()[..], &question[..]].concat();
        client.send_to(&query, addr).await.expect("send");
    }
    let mut answered = std::collections::BTreeSet::new();
    let mut buf = [0u8; 512];
    while answered.len() < 20 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), client.recv_from(&mut buf))
            .await
            .expect("every question answered")
            .expect("recv");
        let reply = &buf[..n];
        assert_eq!(
            (reply[3] & 0x0f, &reply[6..8]),
            (0, &[0u8, 1][..]),
            "NOERROR, one answer: {reply:?}"
        );
        answered.insert(u16::from_be_bytes([reply[0], reply[1]]));
    }
    let http = metrics_of(addr);
    let metric = |name: &'static str| tokio::task::spawn_blocking(move || Daemon::metric(http, name));
    let coalesced = metric("palanquin_coalesced_queries_total").await.expect("metric");
    let misses = metric("palanquin_cache_misses_total").await.expect("metric");
    let hits = metric("palanquin_cache_hits_total").await.expect("metric");
    assert_eq!(
        (coalesced, misses, hits),
        (19.0, 20.0, 0.0),
        "one leader, 19 followers, nothing from the cache"
    );
    assert_eq!(
        up.queries(),
        1,
        "20 concurrent identical questions, one upstream query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_tcp_ipv6_and_split_dns_with_nsd() {
    let nsd = Nsd::start(&[ip(61, 2)], 5353, "corp.test.", ZONE).expect("nsd");
    let default = Fake::start(ip(61, 3), Behaviour::Answer).await;
    let addr = sa("127.0.61.1:5300");
    let config = format!(
        "[server]\nlisten = [\"{addr}\", \"[::1]:5361\"]\n\
         [resolver]\nupstreams = [\"{}\"]\nallow = [\"127.0.0.0/8\", \"::1/128\"]\n\
         [[resolver.forward]]\nzone = \"corp.test.\"\nupstreams = [\"{}\"]\n\
         [metrics]\nlisten = \"127.0.61.1:9153\"\n",
        default.addr,
        nsd.addrs()[0]
    );
    let _d = Daemon::start(bin(), addr, &config);
    // Split DNS: corp.test. from NSD, the rest from the default upstream.
    let corp = dig_async(addr, "www.corp.test", "A", &[]).await;
    assert_eq!(answers_of(&corp)[0].3, "192.0.2.80", "{corp}");
    let other = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(answers_of(&other)[0].3, "192.0.2.1");
    // Negative caching from NSD's SOA: NXDOMAIN twice, the second from the cache.
    let hits_before = Daemon::metric(metrics_of(addr), "palanquin_cache_hits_total");
    for _ in 0..2 {
        let nx = dig_async(addr, "nope.corp.test", "A", &[]).await;
        assert_eq!(status_of(&nx), "NXDOMAIN", "{nx}");
        assert!(nx.contains("SOA"), "the SOA is in the authority section: {nx}");
    }
    let nodata = dig_async(addr, "www.corp.test", "MX", &[]).await;
    assert_eq!(status_of(&nodata), "NOERROR");
    assert!(answers_of(&nodata).is_empty());
    let hits_after = Daemon::metric(metrics_of(addr), "palanquin_cache_hits_total");
    assert!(
        hits_after >= hits_before + 1.0,
        "the second NXDOMAIN was a cache hit"
    );
    // TCP, and IPv6 transport.
    let tcp = dig_async(addr, "www.corp.test", "AAAA", &["+tcp"]).await;
    assert_eq!(answers_of(&tcp)[0].3, "2001:db8::80", "{tcp}");
    let v6 = dig_async(sa("[::1]:5361"), "www.corp.test", "A", &[]).await;
    assert_eq!(answers_of(&v6)[0].3, "192.0.2.80", "{v6}");
    let v6tcp = dig_async(sa("[::1]:5361"), "www.corp.test", "A", &["+tcp"]).await;
    assert_eq!(status_of(&v6tcp), "NOERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_upstreams_give_servfail_within_the_deadline() {
    let hole = Fake::start(ip(62, 2), Behaviour::BlackHole).await;
    let addr = sa("127.0.62.1:5300");
    let _d = Daemon::start(
        bin(),
        addr,
        &config(
            addr,
            hole.addr,
            "timeout = \"300ms\"\nattempts = 2\nserve_stale = \"0\"\n",
        ),
    );
    let started = Instant::now();
    let out = dig_async(addr, "www.example.test", "A", &[]).await;
    let took = started.elapsed();
    assert_eq!(status_of(&out), "SERVFAIL", "{out}");
    assert!(took < Duration::from_secs(4), "no hang: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_get_formerr_and_the_daemon_stops_cleanly() {
    let up = Fake::start(ip(63, 2), Behaviour::Answer).await;
    let addr = sa("127.0.63.1:5300");
    let mut d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let sock = tokio::net::UdpSocket::bind("127.0.63.9:0").await.expect("bind");
    // Two questions: FORMERR.
    let two =
        b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01\x01b\x00\x00\x01\x00\x01";
    sock.send_to(two, addr).await.expect("send");
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
        .await
        .expect("answered")
        .expect("recv");
    assert!(n >= 12);
    assert_eq!(&buf[..2], b"\x12\x34");
    assert_eq!(buf[3] & 0x0f, 1, "FORMERR");
    // A NOTIFY (opcode 4) to a resolver: NOTIMP.
    let notify = b"\x00\x07\x20\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x06\x00\x01";
    sock.send_to(notify, addr).await.expect("send");
    let (_, _) = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
        .await
        .expect("answered")
        .expect("recv");
    assert_eq!(buf[3] & 0x0f, 4, "NOTIMP");
    // A response sent to us is dropped (no reflection loops); a real query still works.
    sock.send_to(b"\x00\x08\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00", addr)
        .await
        .expect("send");
    let ok = dig_async(addr, "www.example.test", "A", &[]).await;
    assert_eq!(status_of(&ok), "NOERROR");
    // Nothing is pending: the UDP threads are woken at once, not at their
    // 5 s receive-timeout backstop.
    assert_eq!(
        d.stop(Duration::from_secs(2)),
        Some(0),
        "SIGTERM exits 0 promptly"
    );
}

/// SIGTERM while a question waits on a slow upstream: the daemon stops
/// taking queries but still answers the one in flight, then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_what_is_in_flight_before_exiting() {
    let up = Fake::start(ip(61, 22), Behaviour::Slow(Duration::from_millis(800))).await;
    let addr = sa("127.0.61.21:5300");
    let mut d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let pending = tokio::spawn(dig_async(addr, "www.example.test", "A", &[]));
    let until = Instant::now() + Duration::from_secs(3);
    while up.queries() == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(up.queries(), 1, "the question reached the upstream");
    let stopped = tokio::task::spawn_blocking(move || d.stop(Duration::from_secs(4)));
    let answer = pending.await.expect("dig task");
    assert_eq!(
        status_of(&answer),
        "NOERROR",
        "answered during the drain: {answer}"
    );
    assert_eq!(answers_of(&answer)[0].3, "192.0.2.1");
    assert_eq!(stopped.await.expect("stop"), Some(0), "then exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdig_pipelines_several_queries_on_one_tcp_connection() {
    let up = Fake::start(ip(67, 2), Behaviour::Answer).await;
    let addr = sa("127.0.67.1:5300");
    let metrics = metrics_of(addr);
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kdig")
            .args(["@127.0.67.1", "-p", "5300", "+tcp", "+keepopen", "+timeout=5"])
            .args([
                "www.example.test",
                "A",
                "nx.example.test",
                "A",
                "www.example.test",
                "AAAA",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run kdig ({e}): knot-dnsutils is not installed; run scripts/test")
            })
    })
    .await
    .expect("kdig");
    let text = String::from_utf8_lossy(&out.stdout);
    let statuses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(';').next().unwrap_or("").trim())
        .collect();
    assert_eq!(statuses, vec!["NOERROR", "NXDOMAIN", "NOERROR"], "{text}");
    assert!(
        text.contains("192.0.2.1") && text.contains("2001:db8::1"),
        "{text}"
    );
    assert_eq!(
        Daemon::metric(metrics, "palanquin_tcp_connections_total{event=\"accepted\"}"),
        1.0,
        "three queries, one connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_and_cd_bits_are_separate_cache_keys() {
    let up = Fake::start(ip(68, 2), Behaviour::Answer).await;
    let addr = sa("127.0.68.1:5300");
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    for (extra, expected) in [
        (&[][..], 1),
        (&["+dnssec"][..], 2),
        (&["+cdflag"][..], 3),
        (&[][..], 3),
        (&["+dnssec"][..], 3),
    ] {
        let out = dig_async(addr, "www.example.test", "A", extra).await;
        assert_eq!(status_of(&out), "NOERROR", "{out}");
        assert_eq!(up.queries(), expected, "after dig {extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_bounds_are_closed() {
    let up = Fake::start(ip(69, 2), Behaviour::Answer).await;
    let addr = sa("127.0.69.1:5300");
    let _d = Daemon::start(
        bin(),
        addr,
        &format!(
            "[server]\nlisten = [\"{addr}\"]\ntcp_max_connections = 8\n[resolver]\nupstreams = [\"{}\"]\n",
            up.addr
        ),
    );
    // Per client: a quarter of the slots (2 of 8).
    let mut held = hold_connections(addr, 10, 2).await;
    assert!(
        is_closed(addr, 10).await,
        "a third connection from one address is closed"
    );
    // In all: 8 slots.
    for client in 11..14 {
        held.extend(hold_connections(addr, client, 2).await);
    }
    assert!(is_closed(addr, 14).await, "a ninth connection is closed");
    drop(held);
    // Slots come back: a new connection is served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = dig_async(addr, "www.example.test", "A", &["+tcp"]).await;
    assert_eq!(status_of(&out), "NOERROR", "{out}");
}

async fn connect_from(addr: std::net::SocketAddr, client: u8) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(sa(&format!("127.0.69.{client}:0"))).expect("bind");
    socket.connect(addr).await.expect("the kernel accepts")
}

/// Whether a new connection from `127.0.69.{client}` is closed by the daemon at once.
async fn is_closed(addr: std::net::SocketAddr, client: u8) -> bool {
    use tokio::io::AsyncReadExt;
    let mut stream = connect_from(addr, client).await;
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Opens `n` TCP connections from `127.0.69.{client}` and keeps them idle.
async fn hold_connections(addr: std::net::SocketAddr, client: u8, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(connect_from(addr, client).await);
    }
    // Let the daemon accept them and take their slots.
    tokio::time::sleep(Duration::from_millis(200)).await;
    held
}

/// A framed A query for `name` with `id`.
fn framed_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut framed = (m.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&m);
    framed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_pipelined_queries_as_they_are_ready() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Fake::start(ip(71, 2), Behaviour::Slow(Duration::from_millis(600))).await;
    let addr = sa("127.0.71.1:5300");
    let _d = Daemon::start(bin(), addr, &config(addr, up.addr, ""));
    let primed = dig_async(addr, "cached.example.test", "A", &[]).await;
    assert_eq!(status_of(&primed), "NOERROR");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut both = framed_query(0x5110, "slow.example.test");
    both.extend_from_slice(&framed_query(0xCA5E, "cached.example.test"));
    tcp.write_all(&both).await.expect("write");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let len = tokio::time::timeout(Duration::from_secs(5), tcp.read_u16())
            .await
            .expect("in time")
            .expect("len");
        let mut msg = vec![0u8; usize::from(len)];
        tcp.read_exact(&mut msg).await.expect("reply");
        ids.push(u16::from_be_bytes([msg[0], msg[1]]));
    }
    assert_eq!(
        ids,
        vec![0xCA5E, 0x5110],
        "the cached answer does not wait behind the slow miss"
    );
}
