//! One exchange with one upstream over UDP or TCP. I/O only: the decision of
//! whom to ask lives in `hedge.rs`, what an answer means in `engine.rs`.
//!
//! UDP (RFC 5452): every query gets its own socket, so its own source port
//! (Linux picks ephemeral UDP ports at random), and a fresh random ID. The
//! socket is connected, so the kernel drops datagrams from any other address
//! or port, and ICMP port unreachable surfaces as `ECONNREFUSED` at once.
//! Datagrams that get through but carry the wrong ID or question are counted
//! and ignored; the exchange keeps waiting for the real answer.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use palanquin_wire::{self as wire, Mismatch, Question};

use crate::dns::{self, ResponseCode};
use crate::metrics as m;

/// Largest UDP answer read as it is. We advertise at most 1232 bytes (EDNS)
/// or 512, yet some upstreams send more; a datagram longer than this is
/// read cut short, and a cut answer is handled as a truncated one: if its
/// header is ours, the same upstream is asked over TCP. The buffer is one
/// byte longer, so that a cut datagram can be told from one that fits.
/// Kept small on purpose, and each answer is copied out at its own length:
/// a 64 KiB buffer per query fragments the heap of a long-running daemon.
const UDP_MAX: usize = 4096;

/// A validated answer, as bytes.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) wire: Vec<u8>,
    /// Its response code, extended bits included.
    pub(crate) rcode: ResponseCode,
    pub(crate) over_tcp: bool,
}

/// Why an exchange produced no answer.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// ECONNREFUSED: nothing listens there (ICMP port unreachable, TCP RST).
    Unreachable,
    /// Any other I/O error.
    Io(io::Error),
    /// A TCP answer that was malformed or did not match.
    BadTcpAnswer(Mismatch),
    /// The UDP answer was truncated and the TCP exchange that followed
    /// failed: the upstream answered (it is alive), but not in full.
    TcpAfterTruncation(Box<ExchangeError>),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Unreachable => f.write_str("connection refused"),
            ExchangeError::Io(e) => write!(f, "{e}"),
            ExchangeError::BadTcpAnswer(m) => write!(f, "bad TCP answer ({})", m.label()),
            ExchangeError::TcpAfterTruncation(e) => write!(f, "truncated over UDP, then over TCP: {e}"),
        }
    }
}

fn classify(e: io::Error) -> ExchangeError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ExchangeError::Unreachable,
        _ => ExchangeError::Io(e),
    }
}

/// The upstream's address and its forgery counter, as the transport needs them.
pub(crate) struct Target<'a> {
    pub(crate) addr: SocketAddr,
    pub(crate) label: &'a str,
    pub(crate) mismatched: &'a AtomicU64,
}

/// Sends `query` (ID already set to `id`) over UDP and waits for the matching
/// answer; on TC, asks the same upstream over TCP. Runs until it has an
/// answer or an error: the caller bounds it in time.
pub(crate) async fn udp_then_tcp(
    target: &Target<'_>,
    query: &[u8],
    id: u16,
    q: &Question,
) -> Result<Received, ExchangeError> {
    let local: SocketAddr = match target.addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(classify)?;
    socket.connect(target.addr).await.map_err(classify)?;
    socket.send(query).await.map_err(classify)?;
    let mut buf = vec![0u8; UDP_MAX + 1];
    loop {
        let n = socket.recv(&mut buf).await.map_err(classify)?;
        let datagram = &buf[..n];
        let cut = n > UDP_MAX;
        if (cut || wire::is_truncated(datagram)) && wire::check_header(datagram, id).is_ok() {
            // The body of a truncated answer may not decode; the TCP answer is
            // checked in full, so a forged TC can only cost a TCP exchange.
            tracing::debug!(upstream = %target.addr, bytes = n, "truncated over UDP, retrying over TCP");
            drop(socket);
            return tcp(target, query, id, q)
                .await
                .map_err(|e| ExchangeError::TcpAfterTruncation(Box::new(e)));
        }
        match wire::check_answer(datagram, id, q) {
            Ok(rcode) => {
                return Ok(Received {
                    wire: datagram.to_vec(),
                    rcode: dns::response_code(rcode),
                    over_tcp: false,
                })
            }
            Err(mismatch) => {
                target.mismatched.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::UPSTREAM_MISMATCHED, "upstream" => target.label.to_owned(), "reason" => mismatch.label())
                    .increment(1);
                tracing::debug!(upstream = %target.addr, reason = mismatch.label(), "ignored a datagram that does not answer our query");
            }
        }
    }
}

/// One query over a fresh TCP connection (RFC 1035 §4.2.2 length prefix).
pub(crate) async fn tcp(
    target: &Target<'_>,
    query: &[u8],
    id: u16,
    q: &Question,
) -> Result<Received, ExchangeError> {
    let mut stream = TcpStream::connect(target.addr).await.map_err(classify)?;
    stream.set_nodelay(true).map_err(classify)?;
    let len = u16::try_from(query.len()).map_err(|_| {
        ExchangeError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "query longer than 65535 bytes",
        ))
    })?;
    let mut out = Vec::with_capacity(query.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(query);
    stream.write_all(&out).await.map_err(classify)?;
    let len = stream.read_u16().await.map_err(classify)?;
    let mut wire = vec![0; usize::from(len)];
    stream.read_exact(&mut wire).await.map_err(classify)?;
    match wire::check_answer(&wire, id, q) {
        Ok(rcode) => Ok(Received {
            wire,
            rcode: dns::response_code(rcode),
            over_tcp: true,
        }),
        Err(mismatch) => {
            target.mismatched.fetch_add(1, Ordering::Relaxed);
            Err(ExchangeError::BadTcpAnswer(mismatch))
        }
    }
}
