//! A reload's part for the virtual routers: each router is known by its
//! interface, VRID and family; the running ones are brought to the new
//! tables, keeping the state of those that only change.

use std::sync::Arc;
use std::time::Duration;

use palanquin_vrrp::instance::{self, Control};

use super::{open, settings, Routers, Running, RESIGN_WITHIN};
use crate::config::vrrp::VrrpConfig;

/// How long a reload waits for one router to take a control.
const CONTROL_WITHIN: Duration = Duration::from_secs(2);

impl Routers {
    /// Brings the running routers to `cfgs` (a reload): a router no
    /// longer configured resigns and stops; a new one opens and starts; a
    /// changed one takes its settings in place, keeping its state, or, when
    /// its version or peer mode changed, is replaced by a new router (which
    /// hands the address to a peer for a moment). Every address given up
    /// is off the interface before any router takes one, so addresses can
    /// move, or swap, between routers in one reload. A router that cannot
    /// open is logged and left out; the others go on. Each step waits at
    /// most [`CONTROL_WITHIN`] (or [`RESIGN_WITHIN`]) for a router.
    pub(crate) async fn reload(&mut self, cfgs: &[VrrpConfig]) {
        while self.tasks.try_join_next().is_some() {}
        let key = |c: &VrrpConfig| (c.interface.clone(), c.vrid, c.v6());
        let mut keep = Vec::new();
        let mut stopping = Vec::new();
        for r in std::mem::take(&mut self.routers) {
            let (interface, vrid, v6) = r.watch.key();
            let now = cfgs.iter().find(|c| key(c) == (interface.to_owned(), vrid, v6));
            let old = r.watch.cfg.load_full();
            match now {
                Some(c) if instance::in_place(&settings(&old), &settings(c)) => keep.push((r, c.clone())),
                Some(_) => {
                    tracing::warn!(interface, vrid, "VRRP: the version or the unicast peers changed; this router starts anew (its address goes to a peer meanwhile)");
                    stopping.push(r);
                }
                None => {
                    tracing::info!(
                        interface,
                        vrid,
                        "VRRP: the router is no longer configured; it resigns"
                    );
                    stopping.push(r);
                }
            }
        }
        for r in stopping {
            stop(r).await;
        }
        // First every address given up leaves the interface (a router
        // taking it next would find it there, and its owner would remove it
        // after); then each router takes its new settings.
        let mut ready = Vec::new();
        for (r, cfg) in keep {
            let old = r.watch.cfg.load_full();
            let gone: Vec<std::net::IpAddr> = old
                .addresses
                .iter()
                .filter(|a| !cfg.addresses.contains(a))
                .map(|(a, _)| *a)
                .collect();
            if !gone.is_empty() && !ask(&r, |done| Control::Release(gone, Some(done))).await {
                // Still busy, it could take them off later, after another
                // router took them: it is stopped, and starts anew below.
                tracing::warn!(
                    interface = r.watch.interface,
                    vrid = r.watch.vrid,
                    "VRRP: the router did not give its addresses up in time; it starts anew"
                );
                stop(r).await;
                continue;
            }
            ready.push((r, cfg));
        }
        for (mut r, cfg) in ready {
            self.change(&mut r, cfg).await;
            self.routers.push(r);
        }
        for cfg in cfgs {
            let running = self.routers.iter().any(|r| {
                let (interface, vrid, v6) = r.watch.key();
                (interface.to_owned(), vrid, v6) == key(cfg)
            });
            if running {
                continue;
            }
            match open(cfg) {
                Ok(o) => {
                    tracing::info!(
                        interface = cfg.interface,
                        vrid = cfg.vrid,
                        "VRRP: a new router starts"
                    );
                    self.run(o);
                }
                Err(e) => tracing::error!(error = %e, "VRRP: a router of the reload is left out"),
            }
        }
        self.siblings();
    }

    /// Takes `cfg` into the running router `r` in place, and waits until
    /// it is in force.
    async fn change(&self, r: &mut Running, cfg: VrrpConfig) {
        let old = r.watch.cfg.load_full();
        if *old == cfg {
            return;
        }
        let (interface, vrid) = (r.watch.interface.clone(), r.watch.vrid);
        tracing::info!(
            interface,
            vrid,
            "VRRP: the router takes its new settings in place"
        );
        r.watch.cfg.store(Arc::new(cfg.clone()));
        // A check taken away stops before its verdict is cleared: a round
        // ending meanwhile cannot land after.
        if cfg.self_check.is_none() {
            if let Some((token, task)) = r.check.take() {
                end_check(token, task).await;
                *r.watch
                    .check
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                send(r, Control::Check(false)).await;
            }
        }
        ask(r, |done| {
            Control::Reconfigure(Box::new(settings(&cfg)), Some(done))
        })
        .await;
        // A check added: its first result decides (the router goes on as
        // it is until then).
        if cfg.self_check.is_some() && r.check.is_none() {
            r.check = Some(self.start_check(&r.watch, &r.controls));
        }
    }
}

/// Sends `control` to `r`, waiting at most [`CONTROL_WITHIN`] for room.
async fn send(r: &Running, control: Control) {
    if r.controls.send_timeout(control, CONTROL_WITHIN).await.is_err() {
        tracing::warn!(
            interface = r.watch.interface,
            vrid = r.watch.vrid,
            "VRRP: the router did not take a control in time"
        );
    }
}

/// Sends `r` the control `make` builds around a reply channel, and waits
/// at most [`CONTROL_WITHIN`] for the reply: whether it came.
async fn ask(r: &Running, make: impl FnOnce(tokio::sync::oneshot::Sender<()>) -> Control) -> bool {
    let (done, applied) = tokio::sync::oneshot::channel();
    send(r, make(done)).await;
    let confirmed = matches!(tokio::time::timeout(CONTROL_WITHIN, applied).await, Ok(Ok(())));
    if !confirmed {
        tracing::warn!(
            interface = r.watch.interface,
            vrid = r.watch.vrid,
            "VRRP: the router did not confirm a change in time"
        );
    }
    confirmed
}

/// Cancels a self-check and waits for its task to end (aborted if it
/// does not within [`CONTROL_WITHIN`]): no verdict of it lands after.
async fn end_check(token: tokio_util::sync::CancellationToken, mut task: tokio::task::JoinHandle<()>) {
    token.cancel();
    if tokio::time::timeout(CONTROL_WITHIN, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}

/// Stops `r`: its check first, then the router resigns (priority 0, its
/// addresses removed); one that does not within [`RESIGN_WITHIN`] is
/// aborted (a router started after on the same interface removes what it
/// left), and its hooks end with it. Its gauges are retired last, after
/// its final transition.
async fn stop(mut r: Running) {
    if let Some((token, task)) = r.check.take() {
        end_check(token, task).await;
    }
    send(&r, Control::Shutdown).await;
    let mut task = r.task;
    if tokio::time::timeout(RESIGN_WITHIN, &mut task).await.is_err() {
        tracing::warn!(
            interface = r.watch.interface,
            vrid = r.watch.vrid,
            "VRRP: the router did not resign in time; stopped"
        );
        task.abort();
        let _ = task.await;
        r.watch.stop_hooks();
    }
    r.watch.retire();
}
