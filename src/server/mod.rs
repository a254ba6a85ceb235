//! Listeners: UDP worker threads (one SO_REUSEPORT socket each) and TCP
//! acceptors, all feeding the router with the configuration generation in force.
//!
//! ```text
//!   Shared { generation: ArcSwap<Generation>, pending, tcp_slots, resolving: TaskTracker, .. }
//!      ▲ swapped by reload (daemon.rs)          │ load() per message, no lock
//!   udp.rs: N threads per address ── recv ── route (+ own front cache) ── reply | resolve task
//!           wildcard addresses: recvmsg/sendmsg with packet info (pktinfo.rs)
//!   tcp.rs: acceptor per address ── connection tasks (JoinSet), idle timeout, limit
//! ```

pub(crate) mod per_client;
pub(crate) mod pktinfo;
pub(crate) mod socket;
pub(crate) mod tcp;
pub(crate) mod udp;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use palanquin_authoritative::Zones;
use palanquin_resolver::Service;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::metrics::QueryCounters;

/// Resolutions waiting on upstreams, over all listeners; beyond this, new
/// misses are dropped (the client retries) rather than piling up memory.
pub(crate) const MAX_PENDING: usize = 10_000;

/// One configuration generation: what a reload replaces as a whole.
pub(crate) struct Generation {
    pub(crate) number: u64,
    pub(crate) settings: Settings,
    pub(crate) service: Option<Arc<Service>>,
    /// The authoritative zones (maybe none).
    pub(crate) zones: Arc<Zones>,
    /// Replication state (journals, secondaries, statuses): one for the
    /// life of the process, handed from generation to generation.
    pub(crate) replication: Arc<crate::replication::Replication>,
    /// Pool members and their checks: one for the life of the process.
    pub(crate) pools: Arc<crate::pools::Pools>,
}

/// State shared by every listener (UDP threads, TCP and HTTP tasks).
pub(crate) struct Shared {
    pub(crate) generation: ArcSwap<Generation>,
    pub(crate) pending: Arc<Semaphore>,
    pub(crate) tcp_slots: Arc<Semaphore>,
    /// TCP slots for clients that may ask nothing (outside `allow`, and no
    /// zones served): a few, apart from the slots the others need. Such a
    /// connection is closed after its first answer (the refusal).
    pub(crate) tcp_outsider_slots: Arc<Semaphore>,
    /// TCP connections per client address, so one client cannot hold every slot.
    pub(crate) tcp_per_client: per_client::PerClient,
    /// The UDP workers' resolutions (runtime tasks), waited for on shutdown.
    pub(crate) resolving: TaskTracker,
    pub(crate) udp_counters: QueryCounters,
    pub(crate) tcp_counters: QueryCounters,
    pub(crate) started: Instant,
    /// The virtual routers, for status (set once they start, and after a
    /// reload that changed them).
    pub(crate) vrrp: arc_swap::ArcSwap<Vec<Arc<crate::vrrp::Watch>>>,
}

impl Shared {
    /// The replication state (the same in every generation).
    pub(crate) fn replication(&self) -> Arc<crate::replication::Replication> {
        Arc::clone(&self.generation.load().replication)
    }
}
