//! TCP slots: clients that may ask nothing (outside `allow`) cannot hold
//! the connections that allowed clients need, and are closed after their
//! first refusal.

use std::net::SocketAddr;
use std::time::Duration;

use palanquin_testkit::daemon::{dig_from, status_of, Daemon};
use palanquin_testkit::fake::{Behaviour, Fake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::{bin, ip, sa};

async fn connect_from(source: &str, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source.parse().expect("ip"), 0))
        .expect("bind");
    socket.connect(to).await.ok()
}

/// `www.example.test. A`, framed for TCP.
const QUERY: &[u8] =
    b"\x00\x22\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_cannot_hold_the_slots_and_are_closed_after_one_refusal() {
    let up = Fake::start(ip(93, 2), Behaviour::Answer).await;
    let addr = sa("127.0.93.1:5393");
    let cfg = format!(
        "[server]\nlisten = [\"{addr}\"]\ntcp_max_connections = 8\ntcp_idle_timeout = \"30s\"\n\
         [resolver]\nupstreams = [\"{}\"]\nallow = [\"127.0.93.1/32\"]\n",
        up.addr
    );
    let _d = Daemon::start(bin(), addr, &cfg);

    // One refusal, then the server closes the connection.
    let mut probe = connect_from("127.0.93.20", addr).await.expect("connect");
    probe.write_all(QUERY).await.expect("send");
    let len = probe.read_u16().await.expect("an answer");
    let mut reply = vec![0; usize::from(len)];
    probe.read_exact(&mut reply).await.expect("answer");
    assert_eq!(reply[3] & 0x0f, 5, "REFUSED");
    let mut rest = [0u8; 1];
    let eof = tokio::time::timeout(Duration::from_secs(5), probe.read(&mut rest)).await;
    assert!(matches!(eof, Ok(Ok(0))), "closed after the refusal: {eof:?}");

    // Four addresses outside `allow` open every connection they can and say nothing.
    let mut held = Vec::new();
    for i in 10..14 {
        for _ in 0..4 {
            if let Some(s) = connect_from(&format!("127.0.93.{i}"), addr).await {
                held.push(s);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // An allowed client still gets in.
    let out = tokio::task::spawn_blocking(move || {
        dig_from(Some("127.0.93.1"), addr, "www.example.test", "A", &["+tcp"])
    })
    .await
    .expect("dig");
    assert_eq!(status_of(&out), "NOERROR", "{out}");
    drop(held);
}
