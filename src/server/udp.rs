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
//!  thread: recvfrom ─▶ route (+ the thread's front cache) ─▶ Reply ─▶ sendto (blocking, ≤ 1 s)
//!                            └─▶ Resolve ─▶ runtime task (Shared.resolving) ─▶ sendto(MSG_DONTWAIT)
//!  stop: cancel ─▶ shutdown(SHUT_RD) wakes every recvfrom ─▶ threads exit ─▶ done channel closes
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Weak};

use nix::sys::socket::MsgFlags;
use palanquin_resolver::Front;
use socket2::SockRef;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pktinfo::{self, Local};
use super::Shared;
use crate::router::{self, Routed};

/// The running worker threads. Dropping this stops them (cancel, then wake),
/// so no exit path of the daemon leaves a thread blocked in `recvfrom`.
pub(crate) struct Workers {
    /// Weak: a thread that dies (a panic) drops the last strong handle and
    /// closes its socket, so SO_REUSEPORT stops sending it a share of the
    /// clients instead of feeding a socket nobody reads.
    sockets: Vec<Weak<UdpSocket>>,
    cancel: CancellationToken,
    /// Closes when the last thread has exited.
    done: mpsc::Receiver<()>,
}

impl Workers {
    /// Starts one thread per socket (blocking sockets from socket::udp).
    pub(crate) fn spawn(
        sockets: Vec<UdpSocket>,
        shared: &Arc<Shared>,
        cancel: &CancellationToken,
        runtime: &Handle,
    ) -> io::Result<Workers> {
        let (done_tx, done) = mpsc::channel(1);
        let mut workers = Workers {
            sockets: Vec::with_capacity(sockets.len()),
            cancel: cancel.clone(),
            done,
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let socket = Arc::new(socket);
            workers.sockets.push(Arc::downgrade(&socket));
            let (shared, cancel, runtime) = (Arc::clone(shared), cancel.clone(), runtime.clone());
            let exit = Exit {
                _done: done_tx.clone(),
            };
            std::thread::Builder::new()
                .name(format!("palanquin-udp{i}"))
                .spawn(move || {
                    worker(&socket, &shared, &cancel, &runtime);
                    drop(exit);
                })?;
        }
        Ok(workers)
    }

    /// Cancels and wakes every thread.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
        for socket in self.sockets.iter().filter_map(Weak::upgrade) {
            // Shutting down the read side of a UDP socket wakes its readers,
            // whose recvfrom returns at once (Linux reports ENOTCONN for an
            // unconnected socket, but wakes them).
            let _ = SockRef::from(&*socket).shutdown(std::net::Shutdown::Read);
        }
    }

    /// Waits until every thread has exited.
    pub(crate) async fn joined(&mut self) {
        while self.done.recv().await.is_some() {}
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Held by a worker thread; its drop (normal exit or unwinding) tells
/// [`Workers::joined`], and a panic is logged.
struct Exit {
    _done: mpsc::Sender<()>,
}

impl Drop for Exit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("a UDP worker thread panicked; its socket is closed, the others serve on");
        }
    }
}

/// Serves `socket` on the calling thread until cancelled. Resolutions go to
/// `runtime`, tracked by `shared.resolving` so shutdown can wait for them.
fn worker(socket: &Arc<UdpSocket>, shared: &Arc<Shared>, cancel: &CancellationToken, runtime: &Handle) {
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let mut buf = vec![0u8; 65_535];
    let mut control = pktinfo::control_buffer();
    let mut front = Front::for_cache(shared.generation.load().settings.cache_size);
    while !cancel.is_cancelled() {
        let received = if wildcard {
            pktinfo::recv(socket, &mut buf, &mut control)
        } else {
            pktinfo::recv_plain(socket, &mut buf)
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
        match router::route(&generation, raw, peer.ip(), true, Some(&mut front)) {
            Routed::Reply(reply) => answer(socket, shared, &reply, peer, local, MsgFlags::empty()),
            // (Transfers are answered in one datagram over UDP: never streamed.)
            Routed::Drop | Routed::Transfer(_) => shared.udp_counters.dropped.increment(1),
            Routed::Resolve(pending) => {
                let Ok(permit) = Arc::clone(&shared.pending).try_acquire_owned() else {
                    shared.udp_counters.overload.increment(1);
                    continue;
                };
                let (socket, shared_) = (Arc::clone(socket), Arc::clone(shared));
                shared.resolving.spawn_on(
                    async move {
                        let reply = pending.resolve().await;
                        // From a runtime task: never block it. A full send
                        // buffer loses this answer; the client retries.
                        answer(&socket, &shared_, &reply, peer, local, MsgFlags::MSG_DONTWAIT);
                        drop(permit);
                    },
                    runtime,
                );
            }
        }
    }
}

/// Counts `reply` and sends it to `peer`, from `local` when the query came
/// to a wildcard socket.
fn answer(
    socket: &UdpSocket,
    shared: &Shared,
    reply: &[u8],
    peer: SocketAddr,
    local: Option<Local>,
    flags: MsgFlags,
) {
    shared.udp_counters.answered(reply);
    let sent = match local {
        Some(local) => pktinfo::send(socket, reply, peer, local, flags),
        None => SockRef::from(socket).send_to_with_flags(reply, &peer.into(), flags.bits()),
    };
    if let Err(e) = sent {
        tracing::debug!(%peer, error = %e, "udp send failed");
    }
}
