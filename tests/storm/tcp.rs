//! The TCP storm: pipelined framed garbage between well-formed queries
//! (every reply checked, matched by ID), unframed garbage, and slow-loris
//! clients the daemon must cut off after `tcp_idle_timeout`; then 200
//! clients at once to show the connection slots were given back.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::generators::{
    pick, random_bytes, response, truncated_header, valid_question, Generator, GENERATORS,
};
use crate::replies::{check_answer, check_reply, Expect};
use crate::rng::Rng;
use crate::wire;
use crate::{
    DAEMON, FRAME_TIMEOUT, IDLE, TCP_CLIENT_IP, TCP_MIXED, TCP_PARALLEL, TCP_STALLED_PER_KIND, TCP_UNFRAMED,
};

#[derive(Default)]
pub(crate) struct TcpStormReport {
    pub(crate) connections: u64,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Replies checked against their message.
    pub(crate) replies_checked: u64,
    /// Well-formed queries among them, answered with 192.0.2.1.
    pub(crate) queries_answered: u64,
    /// Slow-loris connections the daemon cut off, and how long that took.
    pub(crate) stalled_cut: u64,
    pub(crate) cut_after: Vec<Duration>,
    pub(crate) failures: Vec<String>,
    pub(crate) elapsed: Duration,
}

/// What one scripted connection did.
#[derive(Default)]
struct ConnStats {
    messages: u64,
    bytes: u64,
    replies_checked: u64,
    queries_answered: u64,
}

async fn connect() -> std::io::Result<TcpStream> {
    connect_from(TCP_CLIENT_IP).await
}

async fn connect_from(ip: std::net::Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    socket.connect(DAEMON).await
}

/// One framed reply, `None` when the daemon closed (or reset) the connection.
async fn read_frame(rd: &mut (impl AsyncRead + Unpin)) -> Result<Option<Vec<u8>>, String> {
    let closed = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        )
    };
    let mut len = [0u8; 2];
    match tokio::time::timeout(FRAME_TIMEOUT, rd.read_exact(&mut len)).await {
        Err(_) => {
            return Err(format!(
                "nothing within {FRAME_TIMEOUT:?} (neither a reply nor a close)"
            ))
        }
        Ok(Err(e)) if closed(&e) => return Ok(None),
        Ok(Err(e)) => return Err(format!("read: {e}")),
        Ok(Ok(_)) => {}
    }
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    match tokio::time::timeout(FRAME_TIMEOUT, rd.read_exact(&mut reply)).await {
        Ok(Ok(_)) => Ok(Some(reply)),
        Ok(Err(e)) => Err(format!("reply cut short: {e}")),
        Err(_) => Err("reply cut short: timed out".into()),
    }
}

/// How a mixed connection ends.
enum Closer {
    /// We shut down our side: the daemon reads EOF and closes.
    Shutdown,
    /// A last framed message (silence or unknown), then our shutdown.
    Frame(&'static str, Vec<u8>, Expect),
    /// A length of 0xFFFF, part of the body, then our shutdown.
    PartialThenEof(Vec<u8>),
}

/// 10-59 framed messages, a quarter of them well-formed queries, the rest
/// garbage that deserves FORMERR/NOTIMP/BADVERS/REFUSED, all pipelined; every
/// message must get its reply (in any order, RFC 7766), then the connection
/// must close.
async fn mixed_connection(seed: u64) -> Result<ConnStats, String> {
    let mut rng = Rng::new(seed);
    let answerable: Vec<&Generator> = GENERATORS
        .iter()
        .filter(|g| {
            matches!(
                g.expect,
                Expect::FormErr | Expect::NotImp | Expect::BadVers | Expect::Refused
            )
        })
        .collect();
    let n = rng.range(10, 60);
    let plan: Vec<(&'static str, Vec<u8>, Expect)> = (0..n)
        .map(|_| {
            if rng.chance(25) {
                ("valid question", valid_question(&mut rng), Expect::Answer)
            } else {
                let g = pick(&mut rng, &answerable);
                (g.name, (g.make)(&mut rng), g.expect)
            }
        })
        .collect();
    let closer = match rng.range(0, 5) {
        0 => Closer::Shutdown,
        1 => Closer::Frame("truncated header", truncated_header(&mut rng), Expect::Silence),
        2 => Closer::Frame("response (QR)", response(&mut rng), Expect::Silence),
        3 => Closer::Frame("random bytes", random_bytes(&mut rng), Expect::Unknown),
        _ => {
            let mut partial = vec![0xFF, 0xFF];
            let body = rng.range(1, 4000);
            partial.extend(rng.bytes(body));
            Closer::PartialThenEof(partial)
        }
    };
    let mut out = Vec::new();
    for (_, m, _) in &plan {
        out.extend(wire::framed(m));
    }
    match &closer {
        Closer::Shutdown => {}
        Closer::Frame(_, m, _) => out.extend(wire::framed(m)),
        Closer::PartialThenEof(bytes) => out.extend_from_slice(bytes),
    }
    let stats = ConnStats {
        messages: plan.len() as u64 + u64::from(matches!(closer, Closer::Frame(..))),
        bytes: out.len() as u64,
        ..ConnStats::default()
    };

    let stream = connect().await.map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        wr.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
        let _ = wr.shutdown().await;
        Ok::<(), String>(())
    };
    let reader = async {
        let mut stats = stats;
        // RFC 7766 lets a server answer pipelined queries in any order: each
        // reply is matched to an unanswered message with its ID whose
        // expectation it meets (IDs are random, so they may repeat).
        let mut open: Vec<usize> = (0..plan.len()).collect();
        let (allowed, what) = match &closer {
            Closer::Shutdown => (0, "our shutdown".to_owned()),
            Closer::Frame(kind, m, expect) => (
                u64::from(*expect == Expect::Unknown),
                format!("{kind} {}", wire::hex(m)),
            ),
            Closer::PartialThenEof(b) => (0, format!("a partial frame of {} bytes then EOF", b.len())),
        };
        let mut extra = 0;
        loop {
            let reply = match read_frame(&mut rd).await {
                Ok(Some(reply)) => reply,
                Ok(None) => break,
                Err(e) if open.is_empty() => return Err(format!("after {what}: not closed: {e}")),
                Err(e) => return Err(format!("{e} with {} messages unanswered", open.len())),
            };
            let matched = open
                .iter()
                .position(|&i| check_reply(&plan[i].1, &reply, plan[i].2).is_ok());
            match matched {
                Some(at) => {
                    let i = open.remove(at);
                    stats.replies_checked += 1;
                    stats.queries_answered += u64::from(plan[i].2 == Expect::Answer);
                }
                None if extra < allowed => extra += 1,
                None => {
                    let same_id: Vec<String> = open
                        .iter()
                        .filter(|&&i| wire::id_of(&plan[i].1) == wire::id_of(&reply))
                        .map(|&i| {
                            format!(
                                "message {i}/{n} ({}, {}): {}",
                                plan[i].0,
                                wire::hex(&plan[i].1),
                                check_reply(&plan[i].1, &reply, plan[i].2)
                                    .err()
                                    .unwrap_or_default()
                            )
                        })
                        .collect();
                    return Err(format!(
                        "reply {} matches no unanswered message; same ID: {same_id:?}",
                        wire::hex(&reply)
                    ));
                }
            }
        }
        if let Some(&i) = open.first() {
            return Err(format!(
                "closed with {} messages unanswered, first: message {i}/{n} ({}, {})",
                open.len(),
                plan[i].0,
                wire::hex(&plan[i].1)
            ));
        }
        Ok(stats)
    };
    let (written, read) = tokio::join!(writer, reader);
    let stats = read?;
    written?;
    Ok(stats)
}

/// Random unframed bytes, then our shutdown: whatever the daemon makes of
/// them, every reply is a DNS response and the connection ends.
async fn unframed_connection(seed: u64) -> Result<ConnStats, String> {
    let mut rng = Rng::new(seed);
    let len = rng.range(1, 3000);
    let garbage = rng.bytes(len);
    let stream = connect().await.map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        // The daemon may close before reading everything: write errors are fine.
        let _ = wr.write_all(&garbage).await;
        let _ = wr.shutdown().await;
    };
    let reader = async {
        let mut stats = ConnStats {
            bytes: len as u64,
            ..ConnStats::default()
        };
        loop {
            match read_frame(&mut rd).await {
                Ok(None) => return Ok(stats),
                Ok(Some(reply)) => {
                    if reply.get(2).is_none_or(|flags| flags & 0x80 == 0) {
                        return Err(format!(
                            "unframed garbage: a reply that is no response: {}",
                            wire::hex(&reply)
                        ));
                    }
                    stats.replies_checked += 1;
                }
                Err(e) => return Err(format!("unframed garbage ({len} bytes): {e}")),
            }
        }
    };
    let ((), stats) = tokio::join!(writer, reader);
    stats
}

/// Slow-loris variants.
#[derive(Clone, Copy, Debug)]
enum Stall {
    /// One byte of the length, then nothing.
    OneByte,
    /// A length of 300, then nothing.
    LengthOnly,
    /// A length of 0xFFFF and part of the body, then nothing.
    OversizePartial,
    /// A well-formed query, one byte every 250 ms.
    Trickle,
}

/// A slow client: the daemon must close the connection after the idle
/// timeout, without a reply. Returns how long that took.
async fn stalled_connection(kind: Stall, seed: u64) -> Result<Duration, String> {
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let stream = connect().await.map_err(|e| format!("{kind:?}: connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let sending = async {
        let _ = match kind {
            Stall::OneByte => wr.write_all(&[0]).await,
            Stall::LengthOnly => wr.write_all(&300u16.to_be_bytes()).await,
            Stall::OversizePartial => {
                let mut b = vec![0xFF, 0xFF];
                let body = rng.range(1, 8000);
                b.extend(rng.bytes(body));
                wr.write_all(&b).await
            }
            Stall::Trickle => {
                for byte in wire::framed(&wire::query(rng.u16(), "trickle.example.test.")) {
                    if wr.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(())
            }
        };
        // Stall with our side open.
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut buf = [0u8; 512];
        let mut received = 0usize;
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received += n,
            }
        }
    };
    let limit = IDLE + Duration::from_secs(4);
    tokio::select! {
        () = sending => Err(format!("{kind:?}: unreachable")),
        r = tokio::time::timeout(limit, closed) => match r {
            Err(_) => Err(format!("{kind:?}: slow client still connected after {limit:?}")),
            Ok(0) => Ok(started.elapsed()),
            Ok(n) => Err(format!("{kind:?}: {n} bytes sent back to an incomplete message")),
        },
    }
}

pub(crate) async fn tcp_storm(seed: u64) -> TcpStormReport {
    let started = Instant::now();
    let mut report = TcpStormReport::default();
    let mut stalled = JoinSet::new();
    let kinds = [
        Stall::OneByte,
        Stall::LengthOnly,
        Stall::OversizePartial,
        Stall::Trickle,
    ];
    for (i, kind) in kinds
        .iter()
        .cycle()
        .take(kinds.len() * TCP_STALLED_PER_KIND)
        .enumerate()
    {
        stalled.spawn(stalled_connection(*kind, seed * 1_000_000 + i as u64));
    }
    let mut scripted = JoinSet::new();
    let merge = |r: Result<Result<ConnStats, String>, tokio::task::JoinError>,
                 report: &mut TcpStormReport| {
        report.connections += 1;
        match r {
            Ok(Ok(s)) => {
                report.messages += s.messages;
                report.bytes += s.bytes;
                report.replies_checked += s.replies_checked;
                report.queries_answered += s.queries_answered;
            }
            Ok(Err(e)) => report.failures.push(e),
            Err(e) => report.failures.push(format!("connection task: {e}")),
        }
    };
    for i in 0..TCP_MIXED + TCP_UNFRAMED {
        while scripted.len() >= TCP_PARALLEL {
            if let Some(r) = scripted.join_next().await {
                merge(r, &mut report);
            }
        }
        let conn_seed = seed * 1_000_000 + 1_000 + i as u64;
        if i % 5 == 4 {
            scripted.spawn(unframed_connection(conn_seed));
        } else {
            scripted.spawn(mixed_connection(conn_seed));
        }
    }
    while let Some(r) = scripted.join_next().await {
        merge(r, &mut report);
    }
    while let Some(r) = stalled.join_next().await {
        report.connections += 1;
        match r {
            Ok(Ok(after)) if after + Duration::from_millis(100) < IDLE => report.failures.push(format!(
                "slow client cut after {after:?}, before the idle timeout {IDLE:?}"
            )),
            Ok(Ok(after)) => {
                report.stalled_cut += 1;
                report.cut_after.push(after);
            }
            Ok(Err(e)) => report.failures.push(e),
            Err(e) => report.failures.push(format!("slow client task: {e}")),
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// `n` TCP clients at once, one query each: the connection slots the storm
/// used were given back.
pub(crate) async fn concurrent_tcp_queries(n: usize) -> Vec<String> {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            let id = i as u16;
            // Four client addresses: the daemon lets one address hold at
            // most a quarter of the connection slots.
            let from = std::net::Ipv4Addr::new(127, 0, 70, 31 + (i % 4) as u8);
            let stream = connect_from(from).await.map_err(|e| format!("connect: {e}"))?;
            let (mut rd, mut wr) = stream.into_split();
            let query = wire::query(id, &format!("www{}.example.test.", i % 50));
            wr.write_all(&wire::framed(&query))
                .await
                .map_err(|e| format!("write: {e}"))?;
            match read_frame(&mut rd).await? {
                Some(reply) => check_answer(&reply, id),
                None => Err("closed without an answer (no free connection slot?)".to_owned()),
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("post-storm TCP client: {e}")),
            Err(e) => failures.push(format!("post-storm TCP task: {e}")),
        }
    }
    failures
}
