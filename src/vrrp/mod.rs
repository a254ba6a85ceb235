//! VRRP in the daemon: one `palanquin_vrrp::instance` task per `[[vrrp]]`,
//! its self-check, its notify hooks, its metrics and status.
//!
//! ```text
//!  [[vrrp]] ─▶ instance::run (vrrp crate: socket, netlink, ARP) ◀─ Control ─ self_check.rs
//!                   │ Observer (Watch): transitions ─▶ log line, metrics, notify hooks,
//!                   │                   adverts, drops ─▶ counters;  status ─▶ /status
//!  SIGTERM: every router resigns (priority 0, addresses removed) before the listeners stop
//! ```
//!
//! The self-check asks the configured name through this process's own
//! listener, and, for a name outside the zones served here, the upstreams
//! afresh (no cache, no stale): a node whose upstreams died gives the
//! address up even while it still serves stale answers to whoever reaches it.

pub(crate) mod metrics;
mod self_check;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palanquin_vrrp::fsm::{self, State};
use palanquin_vrrp::instance::{self, Control, Observer, Settings as RouterSettings};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::vrrp::VrrpConfig;
use crate::server::Shared;

/// How long a clean shutdown waits for every router to resign.
const RESIGN_WITHIN: Duration = Duration::from_secs(2);

/// Every virtual router of the process.
pub(crate) struct Routers {
    routers: Vec<Running>,
    tasks: JoinSet<()>,
    /// The self-checks' token: they stop first at shutdown.
    checks: CancellationToken,
}

struct Running {
    controls: mpsc::Sender<Control>,
    watch: Arc<Watch>,
}

/// What a router's observer keeps for status and metrics.
pub(crate) struct Watch {
    cfg: VrrpConfig,
    vrid: String,
    labels: metrics::Labels,
    state: AtomicU8,
    priority: AtomicU8,
    master: Mutex<Option<IpAddr>>,
    /// The VRIDs of this process's other routers on the same interface:
    /// their adverts are not "unknown VRID".
    siblings: Vec<u8>,
    /// The self-check's last result, for status.
    pub(crate) check: Mutex<Option<(bool, String)>>,
    /// Transitions whose notify hooks are to run, in order, one at a time.
    hooks: Mutex<Option<mpsc::UnboundedSender<(State, u8)>>>,
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
        let mut opened = Vec::with_capacity(cfgs.len());
        for cfg in cfgs {
            let siblings = cfgs
                .iter()
                .filter(|o| o.interface == cfg.interface && o.vrid != cfg.vrid && o.v6() == cfg.v6())
                .map(|o| o.vrid)
                .collect();
            let watch = Arc::new(Watch {
                cfg: cfg.clone(),
                vrid: cfg.vrid.to_string(),
                labels: metrics::Labels::new(cfg.vrid, &cfg.interface, cfg.v6()),
                state: AtomicU8::new(0),
                priority: AtomicU8::new(cfg.priority),
                master: Mutex::new(None),
                siblings,
                check: Mutex::new(None),
                hooks: Mutex::new(None),
            });
            let observer: Arc<dyn Observer> = Arc::clone(&watch) as Arc<dyn Observer>;
            let router = instance::open(settings(cfg), observer).map_err(|e| {
                anyhow::anyhow!(
                    "VRRP router {} on {} cannot start: {e} (it needs root, or CAP_NET_RAW and CAP_NET_ADMIN)",
                    cfg.vrid,
                    cfg.interface
                )
            })?;
            opened.push((cfg, watch, router));
        }
        let mut tasks = JoinSet::new();
        let mut routers = Vec::new();
        let checks = cancel.child_token();
        for (cfg, watch, router) in opened {
            metrics::register(watch.labels());
            let (controls, rx) = mpsc::channel(16);
            watch.start_hooks(&mut tasks);
            // With a self-check, the address waits for the first passing check.
            if let Some(check) = &cfg.self_check {
                let first = match check.weight {
                    None => Control::Fault,
                    Some(w) => Control::Priority(cfg.priority.saturating_sub(w).max(1)),
                };
                let _ = controls.try_send(first);
                tasks.spawn(self_check::run(
                    check.clone(),
                    cfg.priority,
                    Arc::clone(shared),
                    controls.clone(),
                    Arc::clone(&watch),
                    checks.clone(),
                ));
            }
            let w = Arc::clone(&watch);
            tasks.spawn(async move {
                if let Err(e) = router.run(rx).await {
                    tracing::error!(interface = w.cfg.interface, vrid = w.cfg.vrid, error = %e, "VRRP router stopped");
                }
                // The hook task ends once the last transition's hooks ran.
                w.stop_hooks();
            });
            routers.push(Running { controls, watch });
        }
        Ok(Routers {
            routers,
            tasks,
            checks,
        })
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
            drop(routers);
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
    }
}

fn state_code(s: State) -> u8 {
    match s {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

fn state_of(code: u8) -> State {
    match code {
        1 => State::Backup,
        2 => State::Master,
        3 => State::Fault,
        _ => State::Initialize,
    }
}

impl Watch {
    fn labels(&self) -> &metrics::Labels {
        &self.labels
    }

    fn status(&self) -> Value {
        let state = state_of(self.state.load(Ordering::Acquire));
        let check = self
            .check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        json!({
            "interface": self.cfg.interface,
            "vrid": self.cfg.vrid,
            "family": if self.cfg.v6() { "ipv6" } else { "ipv4" },
            "state": state.name(),
            "priority": self.priority.load(Ordering::Acquire),
            "configured_priority": self.cfg.priority,
            "master": if state == State::Master {
                Some("this node".to_owned())
            } else {
                self.master.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|m| m.to_string())
            },
            "virtual_ips": self.cfg.addresses.iter().map(|(a, p)| format!("{a}/{p}")).collect::<Vec<_>>(),
            "self_check": self.cfg.self_check.as_ref().map(|c| json!({
                "name": c.name_text,
                "ok": check.as_ref().map(|(ok, _)| *ok),
                "reason": check.as_ref().map(|(_, r)| r.clone()),
            })),
        })
    }

    /// Starts the task that runs this router's notify hooks, one
    /// transition after another, so that their effects land in order.
    fn start_hooks(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let n = &self.cfg.notify;
        if n.any.is_none() && n.master.is_none() && n.backup.is_none() && n.fault.is_none() {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<(State, u8)>();
        *self
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
        let watch = Arc::clone(self);
        tasks.spawn(async move {
            while let Some((to, priority)) = rx.recv().await {
                watch.notify(to, priority).await;
            }
        });
    }

    /// No more transitions: the hook task ends after the queued ones.
    fn stop_hooks(&self) {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Runs the notify hooks of a transition into `to`, each to its end
    /// (at most 30 s).
    async fn notify(&self, to: State, priority: u8) {
        let n = &self.cfg.notify;
        let specific = match to {
            State::Master => n.master.as_ref(),
            State::Backup => n.backup.as_ref(),
            State::Fault => n.fault.as_ref(),
            State::Initialize => None,
        };
        let mut commands: Vec<Vec<String>> = specific.into_iter().cloned().collect();
        if let Some(any) = &n.any {
            let mut c = any.clone();
            c.extend([
                to.name().to_owned(),
                self.vrid.clone(),
                self.cfg.interface.clone(),
                priority.to_string(),
            ]);
            commands.push(c);
        }
        for command in commands {
            let (interface, vrid, state) = (self.cfg.interface.clone(), self.vrid.clone(), to.name());
            let mut cmd = tokio::process::Command::new(&command[0]);
            cmd.args(&command[1..])
                .env("PALANQUIN_VRRP_STATE", state)
                .env("PALANQUIN_VRRP_VRID", &vrid)
                .env("PALANQUIN_VRRP_INTERFACE", &interface)
                .env("PALANQUIN_VRRP_PRIORITY", priority.to_string())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            let program = command[0].clone();
            match cmd.spawn() {
                Err(e) => {
                    tracing::warn!(interface, vrid, program, error = %e, "cannot run the VRRP notify command")
                }
                Ok(mut child) => match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                    Ok(Ok(s)) if s.success() => {}
                    Ok(Ok(s)) => {
                        tracing::warn!(interface, vrid, program, status = %s, "the VRRP notify command failed")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(interface, vrid, program, error = %e, "the VRRP notify command failed")
                    }
                    Err(_) => tracing::warn!(
                        interface,
                        vrid,
                        program,
                        "the VRRP notify command ran over 30 s and was killed"
                    ),
                },
            }
        }
    }
}

impl Observer for Watch {
    fn transition(&self, from: State, to: State, priority: u8) {
        self.state.store(state_code(to), Ordering::Release);
        self.priority.store(priority, Ordering::Release);
        let (interface, vrid) = (&self.cfg.interface, self.cfg.vrid);
        match to {
            State::Fault => tracing::warn!(
                interface,
                vrid,
                from = from.name(),
                "VRRP: fault, the virtual addresses are given up"
            ),
            _ => tracing::info!(
                interface,
                vrid,
                from = from.name(),
                to = to.name(),
                priority,
                "VRRP state change"
            ),
        }
        metrics::transition(self.labels(), to, priority);
        if let Some(hooks) = self
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            let _ = hooks.send((to, priority));
        }
    }

    fn sent(&self) {
        metrics::sent(self.labels());
    }

    fn received(&self, from: IpAddr, priority: u8) {
        metrics::received(self.labels());
        let mut master = self
            .master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if priority == 0 {
            // It resigns: not the Master any more.
            if *master == Some(from) {
                metrics::resigned(self.labels(), from);
                *master = None;
            }
            return;
        }
        drop(master);
        let mut master = self
            .master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *master != Some(from) {
            metrics::master(self.labels(), *master, from);
            *master = Some(from);
        }
    }

    fn foreign(&self, vrid: u8) {
        if !self.siblings.contains(&vrid) {
            metrics::dropped(self.labels(), "vrid");
        }
    }

    fn dropped(&self, reason: &'static str) {
        metrics::dropped(self.labels(), reason);
    }

    fn error(&self, what: &str) {
        tracing::warn!(
            interface = self.cfg.interface,
            vrid = self.cfg.vrid,
            "VRRP: {what}"
        );
    }
}
