//! TCP (RFC 7766): several queries per connection, answered as they are
//! ready (a slow miss does not hold up cached answers behind it), an idle
//! timeout that also cuts off slow senders, and a bound on connections.
//!
//! A client that may ask nothing (outside `allow`, and no zone to ask
//! about) takes one of a few separate slots and is closed after its first
//! answer, the refusal: four source addresses outside the ACL cannot hold
//! the slots that allowed clients need.
//!
//! ```text
//!  connection ─ reader: frame ─▶ route ─▶ Reply ──────────────┐
//!                                     └─▶ Resolve: task (≤ 16) ┴─▶ mpsc ─▶ writer ─▶ framed reply
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::metrics::TCP_CONNECTIONS;
use crate::router::{self, Routed};

/// Slots for clients that may ask nothing: an eighth of the limit, at least one.
pub(crate) fn outsider_slots(max_connections: usize) -> usize {
    (max_connections / 8).max(1)
}

/// Whether `client` may ask this server anything at all: anyone may ask
/// about the zones served; otherwise only clients that may recurse.
fn may_ask(shared: &Shared, client: std::net::IpAddr) -> bool {
    let generation = shared.generation.load();
    !generation.zones.is_empty() || generation.service.as_ref().is_some_and(|s| s.may_recurse(client))
}

/// Accepts on `listener` until cancelled.
pub(crate) async fn acceptor(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut connections = JoinSet::new();
    let refused = metrics::counter!(TCP_CONNECTIONS, "event" => "refused");
    let accepted = metrics::counter!(TCP_CONNECTIONS, "event" => "accepted");
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp accept error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        // Dropping the stream closes it.
        let Some(claim) = shared.tcp_per_client.claim(peer.ip()) else {
            refused.increment(1);
            continue;
        };
        let outsider = !may_ask(&shared, peer.ip());
        let slots = if outsider {
            &shared.tcp_outsider_slots
        } else {
            &shared.tcp_slots
        };
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            refused.increment(1);
            continue;
        };
        accepted.increment(1);
        let (shared, cancel) = (Arc::clone(&shared), cancel.clone());
        connections.spawn(async move {
            serve(stream, peer, shared, &cancel, outsider).await;
            drop((slot, claim));
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Why a connection ended early.
enum Cut {
    Idle,
    Closed,
}

/// Questions of one connection being resolved at once; the reader waits
/// for one to finish before it takes another message.
const PER_CONNECTION: usize = 16;

async fn read_message<R: AsyncRead + Unpin>(
    stream: &mut R,
    idle: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, Cut> {
    let len = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(Cut::Closed),
        r = tokio::time::timeout(idle, stream.read_u16()) => match r {
            Ok(Ok(len)) => usize::from(len),
            Ok(Err(_)) => return Err(Cut::Closed),
            Err(_) => return Err(Cut::Idle),
        },
    };
    let mut msg = vec![0u8; len];
    // The whole message must arrive within one idle period: a slow sender is cut off.
    match tokio::time::timeout(idle, stream.read_exact(&mut msg)).await {
        Ok(Ok(_)) => Ok(msg),
        Ok(Err(_)) => Err(Cut::Closed),
        Err(_) => Err(Cut::Idle),
    }
}

/// Serves one connection; `one_answer`: close after the first reply.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    cancel: &CancellationToken,
    one_answer: bool,
) {
    let _ = stream.set_nodelay(true);
    let idle = shared.generation.load().settings.tcp_idle_timeout;
    let (mut reader, writer) = stream.into_split();
    let (replies, outbox) = mpsc::channel::<Vec<u8>>(PER_CONNECTION);
    let write = write_replies(writer, outbox, idle, Arc::clone(&shared));
    let read = async move {
        let mut resolving = JoinSet::new();
        loop {
            let msg = match read_message(&mut reader, idle, cancel).await {
                Ok(msg) => msg,
                Err(Cut::Idle) => {
                    metrics::counter!(TCP_CONNECTIONS, "event" => "idle_timeout").increment(1);
                    break;
                }
                Err(Cut::Closed) => break,
            };
            let generation = shared.generation.load_full();
            match router::route(&generation, &msg, peer.ip(), false, None) {
                Routed::Reply(reply) => {
                    if replies.send(reply).await.is_err() || one_answer {
                        break;
                    }
                }
                Routed::Transfer(outgoing) => {
                    // Built on the blocking pool (a large zone takes a
                    // while), written as the client takes it.
                    let replies = replies.clone();
                    let streamed = tokio::task::spawn_blocking(move || {
                        outgoing.run(&mut |m| replies.blocking_send(m).is_ok());
                    });
                    if streamed.await.is_err() || one_answer {
                        break;
                    }
                }
                Routed::Drop => {
                    // Garbage on a stream leaves no way to find the next message.
                    shared.tcp_counters.dropped.increment(1);
                    break;
                }
                Routed::Resolve(pending) => {
                    let Ok(permit) = Arc::clone(&shared.pending).try_acquire_owned() else {
                        shared.tcp_counters.overload.increment(1);
                        break;
                    };
                    if resolving.len() >= PER_CONNECTION {
                        resolving.join_next().await;
                    }
                    let replies = replies.clone();
                    resolving.spawn(async move {
                        let reply = pending.resolve().await;
                        let _ = replies.send(reply).await;
                        drop(permit);
                    });
                    if one_answer {
                        break;
                    }
                }
            }
        }
        // Answer what was asked before the client stopped asking.
        while resolving.join_next().await.is_some() {}
        drop(replies);
    };
    tokio::join!(read, write);
}

/// Frames and writes replies until the reader is done; a client that does
/// not read its answers within the idle timeout is cut off.
async fn write_replies(
    mut writer: OwnedWriteHalf,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    idle: Duration,
    shared: Arc<Shared>,
) {
    while let Some(reply) = outbox.recv().await {
        shared.tcp_counters.answered(&reply);
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if !matches!(
            tokio::time::timeout(idle, writer.write_all(&out)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let _ = writer.shutdown().await;
}
