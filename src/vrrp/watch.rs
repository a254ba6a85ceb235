//! What the daemon keeps of one virtual router, as its observer: state,
//! priority and the Master heard (for `/status` and metrics), the
//! configuration in force (a reload swaps it), the self-check's last
//! result, and the notify hooks, run one transition after another.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use palanquin_vrrp::fsm::State;
use palanquin_vrrp::instance::Observer;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::metrics;
use crate::config::vrrp::VrrpConfig;

/// One router's observer and record.
pub(crate) struct Watch {
    /// What names the router (a reload never changes these).
    pub(super) interface: String,
    pub(super) vrid: u8,
    pub(super) v6: bool,
    labels: metrics::Labels,
    /// Its configuration in force.
    pub(super) cfg: ArcSwap<VrrpConfig>,
    state: AtomicU8,
    /// The priority in force.
    pub(super) priority: AtomicU8,
    master: Mutex<Option<IpAddr>>,
    /// The VRIDs of this process's other routers of the family on the same
    /// interface: their adverts are not "unknown VRID".
    pub(super) siblings: Mutex<Vec<u8>>,
    /// The self-check's last result, for status.
    pub(crate) check: Mutex<Option<(bool, String)>>,
    /// Transitions whose notify hooks are to run, in order, one at a time.
    hooks: Mutex<Option<mpsc::UnboundedSender<(State, u8)>>>,
}

impl Watch {
    pub(super) fn new(cfg: &VrrpConfig) -> Watch {
        Watch {
            interface: cfg.interface.clone(),
            vrid: cfg.vrid,
            v6: cfg.v6(),
            labels: metrics::Labels::new(cfg.vrid, &cfg.interface, cfg.v6()),
            cfg: ArcSwap::from_pointee(cfg.clone()),
            state: AtomicU8::new(0),
            priority: AtomicU8::new(cfg.priority),
            master: Mutex::new(None),
            siblings: Mutex::new(Vec::new()),
            check: Mutex::new(None),
            hooks: Mutex::new(None),
        }
    }

    /// The key a reload matches routers by.
    pub(super) fn key(&self) -> (&str, u8, bool) {
        (&self.interface, self.vrid, self.v6)
    }

    /// The router is gone (a reload removed it): its gauges become NaN,
    /// the Master it heard included.
    pub(super) fn retire(&self) {
        let master = *self
            .master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics::retire(&self.labels, master);
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
    pub(super) fn labels(&self) -> &metrics::Labels {
        &self.labels
    }

    pub(super) fn status(&self) -> Value {
        let cfg = self.cfg.load();
        let state = state_of(self.state.load(Ordering::Acquire));
        let check = self
            .check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        json!({
            "interface": self.interface,
            "vrid": self.vrid,
            "family": if self.v6 { "ipv6" } else { "ipv4" },
            "state": state.name(),
            "priority": self.priority.load(Ordering::Acquire),
            "configured_priority": cfg.priority,
            "master": if state == State::Master {
                Some("this node".to_owned())
            } else {
                self.master.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|m| m.to_string())
            },
            "virtual_ips": cfg.addresses.iter().map(|(a, p)| format!("{a}/{p}")).collect::<Vec<_>>(),
            "self_check": cfg.self_check.as_ref().map(|c| json!({
                "name": c.name_text,
                "ok": check.as_ref().map(|(ok, _)| *ok),
                "reason": check.as_ref().map(|(_, r)| r.clone()),
            })),
        })
    }

    /// Starts the task that runs this router's notify hooks, one
    /// transition after another, so that their effects land in order.
    /// (It runs whether or not hooks are configured: a reload may add them.)
    pub(super) fn start_hooks(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
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
    pub(super) fn stop_hooks(&self) {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Runs the notify hooks of a transition into `to` (those in force
    /// now), each to its end (at most 30 s).
    async fn notify(&self, to: State, priority: u8) {
        let cfg = self.cfg.load_full();
        let n = &cfg.notify;
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
                self.vrid.to_string(),
                self.interface.clone(),
                priority.to_string(),
            ]);
            commands.push(c);
        }
        for command in commands {
            let (interface, vrid, state) = (self.interface.clone(), self.vrid.to_string(), to.name());
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
        let (interface, vrid) = (&self.interface, self.vrid);
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

    fn priority(&self, priority: u8) {
        self.priority.store(priority, Ordering::Release);
        metrics::priority_is(self.labels(), priority);
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
        if *master != Some(from) {
            metrics::master(self.labels(), *master, from);
            *master = Some(from);
        }
    }

    fn foreign(&self, vrid: u8) {
        let sibling = self
            .siblings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&vrid);
        if !sibling {
            metrics::dropped(self.labels(), "vrid");
        }
    }

    fn dropped(&self, reason: &'static str) {
        metrics::dropped(self.labels(), reason);
    }

    fn error(&self, what: &str) {
        tracing::warn!(interface = self.interface, vrid = self.vrid, "VRRP: {what}");
    }
}
