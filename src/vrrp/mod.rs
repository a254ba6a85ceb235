//! VRRP in the daemon: one `palanquin_vrrp::instance` task per `[[vrrp]]`,
//! its self-check, its notify hooks, its metrics and status; a reload
//! reconciles the running routers with the new tables.
//!
//! ```text
//!  [[vrrp]] ─▶ instance::run (vrrp crate: socket, netlink, ARP/NA) ◀─ Control ─ self_check.rs
//!                   │ Observer (watch.rs): transitions ─▶ log line, metrics, notify hooks,
//!                   │                      adverts, drops ─▶ counters;  status ─▶ /status
//!  reload: removed ─▶ resign and stop; added ─▶ open and start; changed ─▶ Reconfigure in
//!          place (the state kept), or, for another version or peer mode, a new router
//!  SIGTERM: every router resigns (priority 0, addresses removed) before the listeners stop
//! ```
//!
//! The self-check asks the configured name through this process's own
//! listener, and, for a name outside the zones served here, the upstreams
//! afresh (no cache, no stale): a node whose upstreams died gives the
//! address up even while it still serves stale answers to whoever reaches it.

pub(crate) mod metrics;
mod reload;
mod self_check;
mod watch;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use palanquin_vrrp::fsm;
use palanquin_vrrp::instance::{self, Control, Observer, Settings as RouterSettings};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::vrrp::VrrpConfig;
use crate::server::Shared;
pub(crate) use watch::Watch;

/// How long a clean shutdown waits for every router to resign.
const RESIGN_WITHIN: Duration = Duration::from_secs(2);

/// Every virtual router of the process.
pub(crate) struct Routers {
    routers: Vec<Running>,
    /// Notify hooks.
    tasks: JoinSet<()>,
    /// The self-checks' parent token: they stop first at shutdown.
    checks: CancellationToken,
    shared: Arc<Shared>,
}

struct Running {
    controls: mpsc::Sender<Control>,
    watch: Arc<Watch>,
    /// Its self-check (its token and task), if it has one.
    check: Option<(CancellationToken, JoinHandle<()>)>,
    task: JoinHandle<()>,
}

/// A router opened (its interface, socket and netlink), not yet running.
struct Opened {
    watch: Arc<Watch>,
    router: instance::Opened,
}

impl Routers {
    /// Opens every router of `cfgs` (its interface, raw socket, netlink)
    /// and starts it and its self-check on the current runtime; `shared`
    /// is what the self-checks ask through. A router that cannot open
    /// stops the start, naming its interface and VRID.
    pub(crate) fn start(
        cfgs: &[VrrpConfig],
        shared: &Arc<Shared>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Routers> {
        // Every router opens first: one that cannot stops the start before
        // any of them runs (none has taken an address yet).
        let opened = cfgs.iter().map(open).collect::<anyhow::Result<Vec<_>>>()?;
        let mut routers = Routers {
            routers: Vec::new(),
            tasks: JoinSet::new(),
            checks: cancel.child_token(),
            shared: Arc::clone(shared),
        };
        for o in opened {
            routers.run(o);
        }
        routers.siblings();
        Ok(routers)
    }

    /// Starts an opened router and its self-check: a router with a
    /// self-check holds back (Fault, or its lowered priority) until the
    /// first check passes.
    fn run(&mut self, o: Opened) {
        let cfg = o.watch.cfg.load_full();
        metrics::register(o.watch.labels());
        let (controls, rx) = mpsc::channel(16);
        o.watch.start_hooks(&mut self.tasks);
        if cfg.self_check.is_some() {
            let _ = controls.try_send(Control::Check(true));
        }
        let check = cfg
            .self_check
            .is_some()
            .then(|| self.start_check(&o.watch, &controls));
        let w = Arc::clone(&o.watch);
        let task = tokio::spawn(async move {
            if let Err(e) = o.router.run(rx).await {
                tracing::error!(interface = w.interface, vrid = w.vrid, error = %e, "VRRP router stopped");
            }
            // The hook task ends once the last transition's hooks ran.
            w.stop_hooks();
        });
        self.routers.push(Running {
            controls,
            watch: o.watch,
            check,
            task,
        });
    }

    fn start_check(
        &self,
        watch: &Arc<Watch>,
        controls: &mpsc::Sender<Control>,
    ) -> (CancellationToken, JoinHandle<()>) {
        let token = self.checks.child_token();
        let task = tokio::spawn(self_check::run(
            Arc::clone(&self.shared),
            controls.clone(),
            Arc::clone(watch),
            token.clone(),
        ));
        (token, task)
    }

    /// Tells each router the VRIDs of its siblings (the same interface and
    /// family): their adverts are not "unknown VRID".
    fn siblings(&self) {
        for r in &self.routers {
            let (interface, vrid, v6) = r.watch.key();
            let others = self
                .routers
                .iter()
                .map(|o| o.watch.key())
                .filter(|(i, v, six)| *i == interface && *v != vrid && *six == v6)
                .map(|(_, v, _)| v)
                .collect();
            *r.watch
                .siblings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = others;
        }
    }

    /// Every router resigns (priority 0, addresses removed); waits for
    /// them, at most [`RESIGN_WITHIN`].
    pub(crate) async fn shutdown(mut self) {
        self.checks.cancel();
        let routers = std::mem::take(&mut self.routers);
        let all = async move {
            for r in &routers {
                let _ = r.controls.send(Control::Shutdown).await;
            }
            for r in routers {
                let _ = r.task.await;
                if let Some((_, check)) = r.check {
                    let _ = check.await;
                }
            }
            while self.tasks.join_next().await.is_some() {}
        };
        if tokio::time::timeout(RESIGN_WITHIN, all).await.is_err() {
            tracing::warn!("VRRP routers did not all resign in time");
        }
    }

    /// The routers' watches, for `/status`.
    pub(crate) fn watches(&self) -> Vec<Arc<Watch>> {
        self.routers.iter().map(|r| Arc::clone(&r.watch)).collect()
    }
}

/// Opens the router of `cfg`, or says which one cannot, and why.
fn open(cfg: &VrrpConfig) -> anyhow::Result<Opened> {
    let watch = Arc::new(Watch::new(cfg));
    let observer: Arc<dyn Observer> = Arc::clone(&watch) as Arc<dyn Observer>;
    let router = instance::open(settings(cfg), observer).map_err(|e| {
        anyhow::anyhow!(
            "VRRP router {} on {} cannot start: {e} (it needs root, or CAP_NET_RAW and CAP_NET_ADMIN)",
            cfg.vrid,
            cfg.interface
        )
    })?;
    Ok(Opened { watch, router })
}

/// The routers of `watches`, for `/status`.
pub(crate) fn status(watches: &[Arc<Watch>]) -> Value {
    Value::Array(watches.iter().map(|w| w.status()).collect())
}

/// The vrrp crate's settings of `cfg`.
fn settings(cfg: &VrrpConfig) -> RouterSettings {
    RouterSettings {
        fsm: fsm::Config {
            version: cfg.version,
            priority: cfg.priority,
            interval_cs: cfg.interval_cs,
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            // The interface's own address, found when the router starts.
            primary: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
        vrid: cfg.vrid,
        interface: cfg.interface.clone(),
        addresses: cfg.addresses.clone(),
        peers: cfg.peers.clone(),
        auth: cfg.auth,
        checksum: cfg.checksum,
        garp_repeat: cfg.garp_repeat,
        garp_interval: cfg.garp_interval,
        garp_refresh: cfg.garp_refresh,
        check_weight: cfg.self_check.as_ref().and_then(|c| c.weight),
    }
}
