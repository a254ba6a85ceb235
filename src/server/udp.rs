//! A UDP worker: one OS thread per socket, blocked in `recvfrom`, answering
//! what the router can answer at once (cache hits, errors) on that thread,
//! and handing questions that need the upstreams to the async runtime.
//!
//! Why a thread and not a task: a cached answer costs two system calls this
//! way (`recvfrom`, `sendto`). An async task adds, every time the queue runs
//! dry, a `recvfrom` that fails with EAGAIN, an `epoll_wait`, and often a
//! futex wake of another runtime thread: under a dnsperf load that is most
//! packets, and the kernel side dominates the cost of a cache hit.
//!
//! A wildcard socket (`0.0.0.0`, `[::]`) receives and sends with packet
//! info instead (pktinfo.rs), so each reply leaves from the address queried.
//!
//! ```text
//!  thread: recvfrom ─▶ route ─▶ Reply ─▶ sendto (blocking: backpressure)
//!                            └─▶ Resolve ─▶ runtime task ─▶ sendto(MSG_DONTWAIT)
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::MsgFlags;
use socket2::SockRef;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::pktinfo::{self, Local};
use super::Shared;
use crate::router::{self, Routed};

/// The receive timeout of a worker's socket: only a backstop, since
/// shutdown wakes the workers at once with [`wake`]; an idle daemon wakes
/// up this rarely.
pub(crate) const CANCEL_POLL: Duration = Duration::from_secs(5);

/// Serves `socket` (blocking, with a receive timeout of [`CANCEL_POLL`]) on
/// the calling thread until cancelled. Resolutions go to `runtime`, tracked
/// by `shared.resolving` so shutdown can wait for them.
pub(crate) fn worker(socket: UdpSocket, shared: Arc<Shared>, cancel: CancellationToken, runtime: Handle) {
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 65_535];
    while !cancel.is_cancelled() {
        let received = if wildcard {
            pktinfo::recv(&socket, &mut buf)
        } else {
            socket.recv_from(&mut buf).map(|(n, peer)| (n, peer, None))
        };
        let (n, peer, local) = match received {
            Ok(v) => v,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let raw = &buf[..n];
        let generation = shared.generation.load();
        match router::route(generation.service.as_ref(), raw, peer.ip(), true) {
            Routed::Reply(reply) => {
                shared.udp_counters.answered(&reply);
                if let Err(e) = send(&socket, &reply, peer, local, MsgFlags::empty()) {
                    tracing::debug!(%peer, error = %e, "udp send failed");
                }
            }
            Routed::Drop => shared.udp_counters.dropped.increment(1),
            Routed::Resolve(service, q, limit) => {
                let Ok(permit) = Arc::clone(&shared.pending).try_acquire_owned() else {
                    shared.udp_counters.overload.increment(1);
                    continue;
                };
                let (raw, socket, shared_) = (raw.to_vec(), Arc::clone(&socket), Arc::clone(&shared));
                shared.resolving.spawn_on(
                    async move {
                        let reply = service.resolve(&raw, &q, limit).await;
                        shared_.udp_counters.answered(&reply);
                        // From a runtime task: never block it. A full send
                        // buffer loses this answer; the client retries.
                        if let Err(e) = send(&socket, &reply, peer, local, MsgFlags::MSG_DONTWAIT) {
                            tracing::debug!(%peer, error = %e, "udp send failed");
                        }
                        drop(permit);
                    },
                    &runtime,
                );
            }
        }
    }
}

/// Wakes the workers blocked on `socket` (another handle to the same socket)
/// after cancellation: shutting down the read side of a UDP socket wakes its
/// readers, whose `recvfrom` then returns at once. Linux reports ENOTCONN for
/// an unconnected socket but does wake them.
pub(crate) fn wake(socket: &UdpSocket) {
    let _ = SockRef::from(socket).shutdown(std::net::Shutdown::Read);
}

/// Sends `reply` to `peer`, from `local` when the query came to a wildcard socket.
fn send(
    socket: &UdpSocket,
    reply: &[u8],
    peer: SocketAddr,
    local: Option<Local>,
    flags: MsgFlags,
) -> io::Result<usize> {
    match local {
        Some(local) => pktinfo::send(socket, reply, peer, local, flags),
        None => SockRef::from(socket).send_to_with_flags(reply, &peer.into(), flags.bits()),
    }
}
