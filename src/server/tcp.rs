//! TCP (RFC 7766): several queries per connection, an idle timeout that also
//! cuts off slow senders, and a bound on concurrent connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::metrics::TCP_CONNECTIONS;
use crate::router::{self, Routed};

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
        let Ok(slot) = Arc::clone(&shared.tcp_slots).try_acquire_owned() else {
            refused.increment(1);
            continue; // dropping the stream closes it
        };
        accepted.increment(1);
        let (shared, cancel) = (Arc::clone(&shared), cancel.clone());
        connections.spawn(async move {
            serve(stream, peer, &shared, &cancel).await;
            drop(slot);
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Why a connection ended early.
enum Cut {
    Idle,
    Closed,
}

async fn read_message(
    stream: &mut TcpStream,
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

async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: &Shared, cancel: &CancellationToken) {
    let _ = stream.set_nodelay(true);
    let idle = shared.generation.load().settings.tcp_idle_timeout;
    loop {
        let msg = match read_message(&mut stream, idle, cancel).await {
            Ok(msg) => msg,
            Err(Cut::Idle) => {
                metrics::counter!(TCP_CONNECTIONS, "event" => "idle_timeout").increment(1);
                return;
            }
            Err(Cut::Closed) => return,
        };
        let generation = shared.generation.load_full();
        let reply = match router::route(generation.service.as_ref(), &msg, peer.ip(), false) {
            Routed::Reply(reply) => reply,
            Routed::Drop => {
                // Garbage on a stream leaves no way to find the next message.
                shared.tcp_counters.dropped.increment(1);
                return;
            }
            Routed::Resolve(service, q, _) => {
                let Ok(_permit) = shared.pending.try_acquire() else {
                    shared.tcp_counters.overload.increment(1);
                    return;
                };
                service.resolve(&msg, &q, None).await
            }
        };
        shared.tcp_counters.answered(&reply);
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if !matches!(
            tokio::time::timeout(idle, stream.write_all(&out)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}
