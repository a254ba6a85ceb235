//! A UDP worker: receives on its own socket, answers what the router can
//! answer at once, and spawns a task per question that needs the upstreams.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::router::{self, Routed};

/// Serves `socket` until cancelled; then lets pending resolutions finish
/// (the caller bounds that in time by dropping this future).
pub(crate) async fn worker(socket: Arc<UdpSocket>, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut buf = vec![0u8; 65_535];
    let mut resolving = JoinSet::new();
    loop {
        // Under load a datagram is nearly always waiting: take it with a plain
        // non-blocking receive, and only build futures when the queue is empty.
        let (n, peer) = match socket.try_recv_from(&mut buf) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    r = socket.readable() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "udp readiness error");
                        }
                        continue;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        if cancel.is_cancelled() {
            break;
        }
        // try_recv_from and try_send_to never return to the scheduler: spend
        // the task's budget so a flood cannot starve timers, TCP, signals and
        // the resolutions this worker spawned.
        tokio::task::coop::consume_budget().await;
        while resolving.try_join_next().is_some() {}
        let raw = &buf[..n];
        let generation = shared.generation.load();
        match router::route(generation.service.as_ref(), raw, peer.ip(), true) {
            Routed::Reply(reply) => send(&socket, &reply, peer, &shared).await,
            Routed::Drop => shared.udp_counters.dropped.increment(1),
            Routed::Resolve(service, q, limit) => {
                let Ok(permit) = Arc::clone(&shared.pending).try_acquire_owned() else {
                    shared.udp_counters.overload.increment(1);
                    continue;
                };
                let (raw, socket, shared) = (raw.to_vec(), Arc::clone(&socket), Arc::clone(&shared));
                resolving.spawn(async move {
                    let reply = service.resolve(&raw, &q, limit).await;
                    send(&socket, &reply, peer, &shared).await;
                    drop(permit);
                });
            }
        }
    }
    while resolving.join_next().await.is_some() {}
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr, shared: &Shared) {
    shared.udp_counters.answered(reply);
    // The socket is nearly always writable: skip the future when it is.
    match socket.try_send_to(reply, peer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            if let Err(e) = socket.send_to(reply, peer).await {
                tracing::debug!(%peer, error = %e, "udp send failed");
            }
        }
        Err(e) => tracing::debug!(%peer, error = %e, "udp send failed"),
    }
}
