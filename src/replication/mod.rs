//! Zone replication, the I/O half (the pure half is
//! `palanquin_authoritative::transfer`): a primary's AXFR/IXFR answers and
//! NOTIFYs, a secondary's refresh task, and the state both share.
//!
//! ```text
//!  Replication (in Shared, lives across reloads)
//!   ├ journals: apex → Arc<Journal>      reload/transfer: record(old, new)
//!   ├ status:   origin → ZoneStatus      /status, `palanquin status`, gauges
//!   ├ secondaries: apex → task handle    NOTIFY from a primary ─▶ wake
//!   └ publish lock: one writer of the served zone set at a time (reload, transfers)
//!  serve.rs:     AXFR/IXFR requests (ACL, TSIG) ─▶ Outgoing (streamed on TCP); NOTIFY in
//!  notify.rs:    NOTIFY out, retried with backoff until acknowledged
//!  secondary.rs: SOA timers ─▶ SOA query ─▶ IXFR/AXFR ─▶ checked zone ─▶ saved file ─▶ swapped in
//!  net.rs:       the client side of UDP and TCP exchanges
//! ```

mod net;
mod notify;
pub(crate) mod secondary;
pub(crate) mod serve;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palanquin_authoritative::transfer::journal::{Diff, Journal};
use palanquin_authoritative::{Zone, Zones};
use tokio_util::sync::CancellationToken;

use crate::config::ZoneConfig;
use crate::server::{Generation, Shared};

/// Transfers by `zone`, `direction` (in, out), `kind` (axfr, ixfr) and `result`.
pub(crate) const TRANSFERS: &str = "palanquin_zone_transfers_total";
/// NOTIFYs by `zone`, `direction` (in: received, out: sent) and `result`.
pub(crate) const NOTIFIES: &str = "palanquin_zone_notifies_total";
/// SOA checks of a secondary by `zone` and `result` (current, newer, failed).
pub(crate) const REFRESHES: &str = "palanquin_zone_refreshes_total";
/// Seconds since the Unix epoch of a zone's last successful transfer in.
pub(crate) const LAST_TRANSFER: &str = "palanquin_zone_last_transfer_timestamp_seconds";
/// Whether a secondary zone is past its SOA expire (1) or not (0).
pub(crate) const EXPIRED: &str = "palanquin_zone_expired";

/// Bytes of differences kept per zone for IXFR.
pub(crate) const JOURNAL_BUDGET: usize = 16 << 20;

/// What `/status` says about one zone's replication.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZoneStatus {
    /// Past its EXPIRE (a zone with no data that never had any is not).
    pub(crate) expired: bool,
    pub(crate) last_transfer: Option<SystemTime>,
    /// Records and bytes of the last transfer in.
    pub(crate) last_transfer_records: usize,
    pub(crate) last_transfer_bytes: usize,
    pub(crate) last_transfer_kind: &'static str,
    pub(crate) last_transfer_from: Option<String>,
    pub(crate) last_check: Option<SystemTime>,
    pub(crate) next_refresh: Option<SystemTime>,
    pub(crate) expires: Option<SystemTime>,
    pub(crate) last_error: Option<String>,
    /// IXFR differences kept (primary side).
    pub(crate) journal: usize,
}

struct NotifyRound {
    targets: Vec<std::net::SocketAddr>,
    key: Option<palanquin_authoritative::transfer::tsig::TsigKey>,
    cancel: CancellationToken,
}

struct SecondaryHandle {
    config: ZoneConfig,
    wake: Arc<tokio::sync::Notify>,
    cancel: CancellationToken,
}

/// Replication state kept across reloads.
pub(crate) struct Replication {
    publish: Mutex<()>,
    journals: Mutex<HashMap<Vec<u8>, Arc<Journal>>>,
    status: Mutex<BTreeMap<String, ZoneStatus>>,
    secondaries: Mutex<HashMap<Vec<u8>, SecondaryHandle>>,
    /// The NOTIFY round in progress per zone, with the targets and key it
    /// was started for: a newer change, or a reload that changes either,
    /// cancels it.
    notifying: Mutex<HashMap<Vec<u8>, NotifyRound>>,
    started: Instant,
    /// Daemon shutdown: every task ends.
    cancel: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seconds since the Unix epoch (TSIG signs with it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Replication {
    pub(crate) fn new(cancel: CancellationToken) -> Replication {
        Replication {
            publish: Mutex::new(()),
            journals: Mutex::new(HashMap::new()),
            status: Mutex::new(BTreeMap::new()),
            secondaries: Mutex::new(HashMap::new()),
            notifying: Mutex::new(HashMap::new()),
            started: Instant::now(),
            cancel,
        }
    }

    /// Time on the refresh timers' clock (since this started).
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The wall-clock time of timer time `t`.
    pub(crate) fn wall(&self, t: Duration) -> SystemTime {
        let now = self.elapsed();
        if t >= now {
            SystemTime::now() + (t - now)
        } else {
            SystemTime::now() - (now - t)
        }
    }

    /// Holds the right to change the served zone set.
    pub(crate) fn publishing(&self) -> MutexGuard<'_, ()> {
        lock(&self.publish)
    }

    /// The IXFR journal of `apex`.
    pub(crate) fn journal(&self, apex: &[u8]) -> Option<Arc<Journal>> {
        lock(&self.journals).get(apex).cloned()
    }

    /// Records the change `old` → `new` in the zone's journal. The
    /// difference is computed before the lock is taken: transfer requests
    /// read the journal from the async workers.
    pub(crate) fn record_change(&self, old: &Zone, new: &Zone) {
        let Some(diff) = Diff::change(old, new) else {
            return;
        };
        // Copied and extended outside the lock (a transfer in progress holds
        // the current one); only the swap happens under it. A zone's changes
        // come one at a time (a reload, or its one secondary task).
        let current = lock(&self.journals).get(new.apex()).cloned();
        let mut journal = current.map_or_else(|| Journal::new(JOURNAL_BUDGET), |j| (*j).clone());
        journal.push(diff);
        let kept = journal.len();
        lock(&self.journals).insert(new.apex().to_vec(), Arc::new(journal));
        self.update_status(new.name(), |s| s.journal = kept);
    }

    /// Forgets the differences of `apex` (its data changed under the same
    /// serial: they no longer lead to what is served).
    pub(crate) fn forget_journal(&self, origin: &str, apex: &[u8]) {
        lock(&self.journals).remove(apex);
        self.update_status(origin, |s| s.journal = 0);
    }

    /// Stops the secondary tasks whose configuration is not in `cfgs` (the
    /// caller holds the publish lock while it swaps `cfgs` in: a task it
    /// stops cannot publish after that).
    pub(crate) fn stop_stale(&self, cfgs: &[ZoneConfig]) {
        lock(&self.secondaries).retain(|_, h| {
            let keep = cfgs.contains(&h.config);
            if !keep {
                h.cancel.cancel();
            }
            keep
        });
    }

    /// Changes the status of zone `origin`.
    pub(crate) fn update_status(&self, origin: &str, f: impl FnOnce(&mut ZoneStatus)) {
        let mut status = lock(&self.status);
        f(status.entry(origin.to_owned()).or_default());
    }

    /// A copy of every zone's status.
    pub(crate) fn statuses(&self) -> BTreeMap<String, ZoneStatus> {
        lock(&self.status).clone()
    }

    /// Wakes the refresh task of secondary zone `apex` (a NOTIFY came).
    pub(crate) fn wake(&self, apex: &[u8]) -> bool {
        match lock(&self.secondaries).get(apex) {
            Some(h) => {
                h.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Brings the secondary tasks, statuses and journals in line with the
    /// configuration in force: tasks of zones gone or changed stop, new
    /// ones start; NOTIFYs go out for primary zones `changed` lists.
    pub(crate) fn configure(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        cfgs: &[ZoneConfig],
        changed: &[Arc<Zone>],
    ) {
        self.stop_stale(cfgs);
        let mut secondaries = lock(&self.secondaries);
        for cfg in cfgs.iter().filter(|c| c.is_secondary()) {
            if secondaries.contains_key(&cfg.apex) {
                continue;
            }
            let handle = SecondaryHandle {
                config: cfg.clone(),
                wake: Arc::new(tokio::sync::Notify::new()),
                cancel: self.cancel.child_token(),
            };
            secondary::start(
                shared,
                cfg.clone(),
                Arc::clone(&handle.wake),
                handle.cancel.clone(),
            );
            secondaries.insert(cfg.apex.clone(), handle);
        }
        drop(secondaries);
        {
            let mut status = lock(&self.status);
            status.retain(|origin, _| cfgs.iter().any(|c| c.origin == *origin));
            for c in cfgs {
                status.entry(c.origin.clone()).or_default();
            }
            lock(&self.journals).retain(|apex, _| cfgs.iter().any(|c| c.apex == *apex));
            lock(&self.notifying).retain(|apex, round| {
                let keep = cfgs
                    .iter()
                    .any(|c| c.apex == *apex && c.notify == round.targets && c.key == round.key);
                if !keep {
                    round.cancel.cancel();
                }
                keep
            });
        }
        for cfg in cfgs {
            register_metrics(cfg);
        }
        for zone in changed {
            if let Some(cfg) = cfgs.iter().find(|c| c.apex == zone.apex()) {
                self.notify(shared, cfg, zone);
            }
        }
    }

    /// Tells `cfg`'s `notify` list that `zone` changed.
    pub(crate) fn notify(&self, shared: &Arc<Shared>, cfg: &ZoneConfig, zone: &Arc<Zone>) {
        if cfg.notify.is_empty() || zone.is_unavailable() {
            return;
        }
        let round = self.cancel.child_token();
        let entry = NotifyRound {
            targets: cfg.notify.clone(),
            key: cfg.key.clone(),
            cancel: round.clone(),
        };
        if let Some(old) = lock(&self.notifying).insert(cfg.apex.clone(), entry) {
            old.cancel.cancel();
        }
        notify::start(shared, cfg, zone, round);
    }
}

/// Every counter of a zone, at 0, from the start (registering a series
/// creates it at 0 and leaves one that exists alone: a reload keeps counts).
fn register_metrics(cfg: &ZoneConfig) {
    let zone = cfg.origin.clone();
    for direction in ["in", "out"] {
        for kind in ["axfr", "ixfr"] {
            let _ = metrics::counter!(TRANSFERS, "zone" => zone.clone(), "direction" => direction, "kind" => kind, "result" => "ok");
        }
        let _ =
            metrics::counter!(NOTIFIES, "zone" => zone.clone(), "direction" => direction, "result" => "ok");
    }
    if cfg.is_secondary() {
        for result in ["current", "newer", "failed"] {
            let _ = metrics::counter!(REFRESHES, "zone" => zone.clone(), "result" => result);
        }
    }
}

/// Counts a transfer.
pub(crate) fn count_transfer(zone: &str, direction: &'static str, kind: &'static str, result: &'static str) {
    metrics::counter!(TRANSFERS, "zone" => zone.to_owned(), "direction" => direction, "kind" => kind, "result" => result)
        .increment(1);
}

/// Counts a NOTIFY.
pub(crate) fn count_notify(zone: &str, direction: &'static str, result: &'static str) {
    metrics::counter!(NOTIFIES, "zone" => zone.to_owned(), "direction" => direction, "result" => result)
        .increment(1);
}

/// Describes the replication metrics.
pub(crate) fn describe() {
    metrics::describe_counter!(
        TRANSFERS,
        "Zone transfers by zone, direction (in, out), kind (axfr, ixfr) and result"
    );
    metrics::describe_counter!(
        NOTIFIES,
        "NOTIFY messages by zone, direction (in, out) and result"
    );
    metrics::describe_counter!(REFRESHES, "SOA checks of secondary zones by result");
    metrics::describe_gauge!(
        LAST_TRANSFER,
        "Unix time of the last successful transfer into the zone"
    );
    metrics::describe_gauge!(
        EXPIRED,
        "1 while a secondary zone is past its SOA expire and answers SERVFAIL"
    );
}

/// Swaps `zone` in for the zone of the same apex in the generation in
/// force (a transfer landed, or the zone expired). The caller holds
/// [`Replication::publishing`]. Returns the zone it replaced.
pub(crate) fn publish(shared: &Shared, zone: Arc<Zone>) -> Option<Arc<Zone>> {
    let current = shared.generation.load_full();
    let old = current.zones.get(zone.apex()).cloned()?;
    let zones: Vec<Arc<Zone>> = current
        .zones
        .iter()
        .map(|z| {
            if z.apex() == zone.apex() {
                Arc::clone(&zone)
            } else {
                Arc::clone(z)
            }
        })
        .collect();
    // The pools in force stay, over the new data (which may now hide some).
    let pools: Vec<_> = current.zones.pools().cloned().collect();
    let zones = Zones::new(zones).with_pools(&pools);
    crate::pools::warn_conflicts(&zones);
    shared.generation.store(Arc::new(Generation {
        number: current.number,
        settings: current.settings.clone(),
        service: current.service.clone(),
        zones: Arc::new(zones),
        replication: Arc::clone(&current.replication),
        pools: Arc::clone(&current.pools),
    }));
    // (Zones::new sets the serial and record gauges.)
    Some(old)
}
