//! One virtual router at run time: the state machine driven by its
//! socket, its timer and its owner's controls, its actions carried out.
//!
//! ```text
//!  controls (mpsc: Check → Fault or the priority less the weight,
//!      Reconfigure → Machine::reconfigure, Release, Shutdown) ───────┐
//!  raw socket (net::Advertiser::recv) ─ TTL 255? ─ peers? ─ decode ─ │
//!      VRID, version, password, v2 interval ─▶ Event::Advert ─────────┤
//!  sleep until Machine::deadline ─▶ Event::Timer ────────────────────┴▶ Machine::handle
//!      ─▶ Advertise: encode, send (group, or each unicast peer)
//!         AddAddresses / RemoveAddresses: netlink     Announce: gratuitous ARP / NA,
//!         repeated `garp_repeat` times, and every `garp_refresh` while Master
//!         Transition: the Observer (logs, metrics, notify hooks)
//!  every way out of `run` that the process survives removes the addresses.
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::fsm::{self, Action, Event, Machine, State};
use crate::net::{self, Addresses, Advertiser, Link};
use crate::packet::{self, Advert, Auth, Checksum, DecodeError, Version};

/// One virtual router's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The state machine's part.
    pub fsm: fsm::Config,
    /// The virtual router.
    pub vrid: u8,
    /// The interface.
    pub interface: String,
    /// The virtual addresses with their prefix lengths, all IPv4 or all
    /// IPv6: the router's family.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Unicast peers (of the same family): adverts go to each of them, and
    /// are taken only from them. Empty: the multicast group.
    pub peers: Vec<IpAddr>,
    /// v2's password.
    pub auth: Auth,
    /// The IPv4 v3 checksum sent.
    pub checksum: Checksum,
    /// Gratuitous ARPs (unsolicited neighbour advertisements) sent on
    /// becoming Master, `garp_interval` apart.
    pub garp_repeat: u32,
    /// Their spacing.
    pub garp_interval: Duration,
    /// Sent again this often while Master, if set.
    pub garp_refresh: Option<Duration>,
    /// While the owner's check fails ([`Control::Check`]), the priority is
    /// lowered by this instead of the router going to Fault (an owner, 255,
    /// is never lowered: it goes to Fault).
    pub check_weight: Option<u8>,
}

/// What the router tells its owner.
pub trait Observer: Send + Sync {
    /// The state changed; the router's priority is `priority`.
    fn transition(&self, from: State, to: State, priority: u8);
    /// The priority in force is now `priority` (a check's weight taken off
    /// or given back, a reconfiguration).
    fn priority(&self, _priority: u8) {}
    /// An advert went out.
    fn sent(&self) {}
    /// An advert for this router came in, from `from`.
    fn received(&self, _from: IpAddr, _priority: u8) {}
    /// A valid advert for another virtual router came in (the owner knows
    /// whether another of its routers has that VRID).
    fn foreign(&self, _vrid: u8) {}
    /// A packet was dropped, and why (`ttl`, `checksum`, `version`, `auth`,
    /// `peer`, `truncated`, `type`, `malformed`, `interval`; another VRID is
    /// [`Observer::foreign`]).
    fn dropped(&self, _reason: &'static str) {}
    /// Something failed (a send, a netlink request); the router goes on.
    fn error(&self, _what: &str) {}
}

/// What the owner tells the router.
#[derive(Debug)]
pub enum Control {
    /// The owner's check of its service fails (`true`) or passes again:
    /// failing means Fault (resign, stay silent), or, with a
    /// `check_weight`, the priority lowered by it.
    Check(bool),
    /// Resign (priority 0), drop the addresses, stop.
    Shutdown,
    /// New settings (a reload), taken in place, keeping the state and the
    /// check's verdict: they must pass [`in_place`] against the ones in
    /// force (the owner starts a new router otherwise). The sender is told
    /// when they are in force (addresses moved), so that an address can
    /// move between two routers in one reload.
    Reconfigure(Box<Settings>, Option<tokio::sync::oneshot::Sender<()>>),
    /// Take these addresses off the interface now and leave them alone
    /// until the next `Reconfigure` (which no longer lists them): another
    /// router is about to take them. The sender is told when they are off.
    Release(Vec<IpAddr>, Option<tokio::sync::oneshot::Sender<()>>),
}

/// Whether `new` can replace `old` in a running router: the same
/// interface, virtual router, version and family, and unicast peers (or
/// none) in both, as the socket was opened for them.
pub fn in_place(old: &Settings, new: &Settings) -> bool {
    let v6 = |s: &Settings| s.addresses.first().is_some_and(|(a, _)| a.is_ipv6());
    old.interface == new.interface
        && old.vrid == new.vrid
        && old.fsm.version == new.fsm.version
        && v6(old) == v6(new)
        && old.peers.is_empty() == new.peers.is_empty()
}

/// Runs the router until `Shutdown` (or the control channel closes):
/// [`open`], then [`Opened::run`].
pub async fn run(
    settings: Settings,
    controls: mpsc::Receiver<Control>,
    observer: Arc<dyn Observer>,
) -> std::io::Result<()> {
    open(settings, observer)?.run(controls).await
}

/// A router whose interface, sockets and netlink connection are open.
pub struct Opened(Router);

/// Opens what the router needs: its interface (with an address of its own
/// in the router's family: IPv4, or an IPv6 link-local one), the raw
/// socket, the netlink connection (on the current runtime).
/// Fails when it cannot have them: the caller decides whether to start.
pub fn open(settings: Settings, observer: Arc<dyn Observer>) -> std::io::Result<Opened> {
    let vips: Vec<IpAddr> = settings.addresses.iter().map(|(a, _)| *a).collect();
    let v6 = vips.first().is_some_and(IpAddr::is_ipv6);
    let link = net::link(&settings.interface, &vips).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no interface {}", settings.interface),
        )
    })?;
    let source = link.source(v6).ok_or_else(|| {
        let what = if v6 { "IPv6 link-local" } else { "IPv4" };
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!(
                "interface {} has no {what} address of its own",
                settings.interface
            ),
        )
    })?;
    let socket = Advertiser::open(&link, source, !settings.peers.is_empty())?;
    // Usable for this router: up, and its source not tentative.
    let link = Link {
        up: link.usable(source),
        ..link
    };
    let addresses = Addresses::open()?;
    Ok(Opened(Router {
        machine: Machine::new(fsm::Config {
            primary: source,
            ..settings.fsm.clone()
        }),
        settings,
        link,
        source,
        socket,
        addresses,
        observer,
        epoch: Instant::now(),
        check_failing: false,
        holding: false,
        released: Vec::new(),
        garps_left: 0,
        next_garp: None,
        last_error: std::sync::Mutex::new(None),
    }))
}

impl Opened {
    /// Runs the router until `Shutdown` (or the control channel closes).
    /// Controls already queued count before it starts: a failing `Check`
    /// sent first keeps it in Fault (or at its lowered priority) from the
    /// start, as for a self-check that has not passed yet.
    pub async fn run(self, mut controls: mpsc::Receiver<Control>) -> std::io::Result<()> {
        let mut router = self.0;
        while let Ok(c) = controls.try_recv() {
            match c {
                Control::Check(failing) => router.check_failing = failing,
                Control::Shutdown => {
                    router.remove_addresses().await;
                    return Ok(());
                }
                Control::Release(addrs, done) => {
                    router.released.extend(addrs);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Control::Reconfigure(new, done) => {
                    router.released.clear();
                    let primary = router.source;
                    router.machine = Machine::new(fsm::Config {
                        primary,
                        ..new.fsm.clone()
                    });
                    router.settings = *new;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
            }
        }
        let priority = router.priority_in_force();
        if priority != router.machine.priority() {
            let _ = router.machine.handle(Event::Priority(priority), Duration::ZERO);
            router.observer.priority(router.machine.priority());
        }
        // Leftovers of a previous run that died (SIGKILL keeps addresses on the
        // interface): only a Master holds them.
        router.remove_addresses().await;
        // A router whose interface is down, or whose check has not passed
        // yet, starts in Fault.
        let start = if router.link.up && !router.faulty_check() {
            Event::Startup
        } else {
            Event::Fault
        };
        let actions = router.machine.handle(start, router.now());
        router.apply(actions).await;
        let mut buf = vec![0u8; 2048];
        let mut link_check = tokio::time::interval(Duration::from_millis(200));
        loop {
            let deadline = router.machine.deadline().map(|d| router.epoch + d);
            let garp_at = router.next_garp;
            tokio::select! {
                biased;
                control = controls.recv() => match control {
                    Some(Control::Check(failing)) => {
                        router.check_failing = failing;
                        router.settle().await;
                    }
                    Some(Control::Reconfigure(new, done)) => {
                        router.reconfigure(*new).await;
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Some(Control::Release(addrs, done)) => {
                        router.release(addrs).await;
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Some(Control::Shutdown) | None => break,
                },
                () = sleep_until(deadline) => {
                    let actions = router.machine.handle(Event::Timer, router.now());
                    router.apply(actions).await;
                }
                () = sleep_until(garp_at) => router.garp().await,
                received = router.socket.recv(&mut buf) => match received {
                    Ok(received) => {
                        if let Some(event) = router.advert(received) {
                            let actions = router.machine.handle(event, router.now());
                            router.apply(actions).await;
                        }
                    }
                    Err(e) => router.error(&format!("receive: {e}")),
                },
                _ = link_check.tick() => router.check_link().await,
            }
        }
        let actions = router.machine.handle(Event::Shutdown, router.now());
        router.apply(actions).await;
        if router.holding {
            router.remove_addresses().await;
        }
        Ok(())
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

struct Router {
    machine: Machine,
    settings: Settings,
    link: Link,
    source: IpAddr,
    socket: Advertiser,
    addresses: Addresses,
    observer: Arc<dyn Observer>,
    epoch: Instant,
    /// The owner's check fails: Fault (with the link down, either one
    /// keeps it there), or, with a weight, a lowered priority.
    check_failing: bool,
    /// The addresses are on the interface.
    holding: bool,
    /// Addresses released to another router ([`Control::Release`]): not
    /// touched until the next reconfiguration.
    released: Vec<IpAddr>,
    garps_left: u32,
    next_garp: Option<Instant>,
    /// When an error was last reported, and how many since went unsaid: at
    /// most one report per ERROR_GAP (a dead peer refuses every advert).
    last_error: std::sync::Mutex<Option<(Instant, u32)>>,
}

/// The least time between two error reports of one router.
const ERROR_GAP: Duration = Duration::from_secs(10);

impl Router {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Reports `what`, at most once per [`ERROR_GAP`] (saying how many
    /// went unreported meanwhile).
    fn error(&self, what: &str) {
        let now = Instant::now();
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some((at, unsaid)) if now.duration_since(at) < ERROR_GAP => *last = Some((at, unsaid + 1)),
            Some((_, unsaid)) if unsaid > 0 => {
                self.observer
                    .error(&format!("{what} (and {unsaid} more since the last report)"));
                *last = Some((now, 0));
            }
            _ => {
                self.observer.error(what);
                *last = Some((now, 0));
            }
        }
    }

    /// The check fails, and that means Fault (no weight, or an owner).
    fn faulty_check(&self) -> bool {
        self.check_failing && (self.settings.check_weight.is_none() || self.settings.fsm.priority == 255)
    }

    /// The configured priority, less the weight while the check fails.
    fn priority_in_force(&self) -> u8 {
        let configured = self.settings.fsm.priority;
        match (self.check_failing, self.settings.check_weight) {
            (true, Some(w)) if configured != 255 => configured.saturating_sub(w).max(1),
            _ => configured,
        }
    }

    /// The addresses this router holds when Master: its own, less those
    /// released to another router.
    fn owned(&self) -> Vec<(IpAddr, u8)> {
        self.settings
            .addresses
            .iter()
            .filter(|(a, _)| !self.released.contains(a))
            .copied()
            .collect()
    }

    /// Takes `addrs` off the interface (if held) and leaves them alone
    /// from now on (see [`Control::Release`]).
    async fn release(&mut self, addrs: Vec<IpAddr>) {
        for addr in addrs {
            if self.released.contains(&addr) || !self.settings.addresses.iter().any(|(a, _)| *a == addr) {
                continue;
            }
            if self.holding {
                if let Err(e) = self.addresses.remove(self.link.index, addr).await {
                    self.error(&format!("cannot remove {addr}: {e}"));
                }
            }
            self.released.push(addr);
        }
    }

    /// The priority the check asks for, then into Fault while the link is
    /// down or the check fails (without a weight); out of it when neither.
    async fn settle(&mut self) {
        let priority = self.priority_in_force();
        if priority != self.machine.priority() {
            let actions = self.machine.handle(Event::Priority(priority), self.now());
            self.apply(actions).await;
            self.observer.priority(self.machine.priority());
        }
        let faulty = !self.link.up || self.faulty_check();
        let event = match (faulty, self.machine.state()) {
            (true, State::Fault) | (false, State::Initialize) => return,
            (true, _) => Event::Fault,
            (false, State::Fault) => Event::Recovered,
            (false, _) => return,
        };
        let actions = self.machine.handle(event, self.now());
        self.apply(actions).await;
    }

    /// Takes `new` in place of the settings in force (see
    /// [`Control::Reconfigure`]). A Master moves the addresses that
    /// changed, announces the new ones, and advertises the new list.
    async fn reconfigure(&mut self, new: Settings) {
        if !in_place(&self.settings, &new) {
            self.observer
                .error("a reconfiguration that needs a new router was sent to a running one; ignored");
            return;
        }
        // The check's verdict under the new settings may be Fault (a weight
        // taken away while it fails): go there first, with the addresses in
        // force now, so that no advert of the raised priority goes out.
        let faulty = self.check_failing && (new.check_weight.is_none() || new.fsm.priority == 255);
        let state = self.machine.state();
        if (!self.link.up || faulty) && !matches!(state, State::Fault | State::Initialize) {
            let actions = self.machine.handle(Event::Fault, self.now());
            self.apply(actions).await;
        }
        let old_owned = self.owned();
        self.settings = new;
        self.released.clear();
        if self.holding {
            let has = |list: &[(IpAddr, u8)], a: &(IpAddr, u8)| list.contains(a);
            for gone in old_owned.iter().filter(|a| !has(&self.settings.addresses, a)) {
                if let Err(e) = self.addresses.remove(self.link.index, gone.0).await {
                    self.error(&format!("cannot remove {}: {e}", gone.0));
                }
            }
            let added: Vec<(IpAddr, u8)> = self
                .settings
                .addresses
                .iter()
                .filter(|a| !has(&old_owned, a))
                .copied()
                .collect();
            for (addr, prefix) in &added {
                if let Err(e) = self.addresses.add(self.link.index, *addr, *prefix).await {
                    self.error(&format!("cannot add {addr}/{prefix}: {e}"));
                }
            }
            if !added.is_empty() {
                self.garps_left = self.settings.garp_repeat.max(1);
                self.garp().await;
            }
        }
        let config = fsm::Config {
            primary: self.source,
            ..self.settings.fsm.clone()
        };
        let actions = self
            .machine
            .reconfigure(config, self.priority_in_force(), self.now());
        self.apply(actions).await;
        self.observer.priority(self.machine.priority());
        // A weight added or taken away while the check fails: Fault or not.
        self.settle().await;
    }

    /// The event a received packet makes, or `None` (dropped, and counted).
    fn advert(&self, received: Option<net::Received<'_>>) -> Option<Event> {
        let drop = |reason| {
            self.observer.dropped(reason);
            None
        };
        let Some(p) = received else {
            return drop("truncated");
        };
        if p.src == self.source {
            return None; // our own, looped back
        }
        if p.ttl != packet::TTL {
            return drop("ttl");
        }
        if !self.settings.peers.is_empty() && !self.settings.peers.contains(&p.src) {
            return drop("peer");
        }
        let advert: Advert = match packet::decode(p.payload, p.src, p.dst) {
            Ok(a) => a,
            Err(e) => return drop(DecodeError::reason(&e)),
        };
        if advert.vrid != self.settings.vrid {
            self.observer.foreign(advert.vrid);
            return None;
        }
        if advert.version != self.settings.fsm.version {
            return drop("version");
        }
        if advert.version == Version::V2 && advert.auth != self.settings.auth {
            return drop("auth");
        }
        // RFC 3768 §7.1: a v2 router discards an advert of another interval.
        if advert.version == Version::V2 && advert.interval_cs != self.settings.fsm.interval_cs {
            return drop("interval");
        }
        self.observer.received(p.src, advert.priority);
        Some(Event::Advert {
            from: p.src,
            priority: advert.priority,
            interval_cs: advert.interval_cs,
        })
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Advertise(priority) => self.advertise(priority).await,
                Action::AddAddresses => {
                    for (addr, prefix) in self.owned() {
                        if let Err(e) = self.addresses.add(self.link.index, addr, prefix).await {
                            self.error(&format!("cannot add {addr}/{prefix}: {e}"));
                        }
                    }
                    self.holding = true;
                }
                Action::RemoveAddresses => {
                    self.remove_addresses().await;
                    self.holding = false;
                    self.next_garp = None;
                }
                Action::Announce => {
                    self.garps_left = self.settings.garp_repeat.max(1);
                    self.garp().await;
                }
                Action::Transition(from, to) => self.observer.transition(from, to, self.machine.priority()),
            }
        }
    }

    async fn advertise(&self, priority: u8) {
        let advert = Advert {
            version: self.settings.fsm.version,
            vrid: self.settings.vrid,
            priority,
            interval_cs: self.settings.fsm.interval_cs,
            addrs: self.settings.addresses.iter().map(|(a, _)| *a).collect(),
            auth: self.settings.auth,
        };
        let targets: Vec<IpAddr> = if !self.settings.peers.is_empty() {
            self.settings.peers.clone()
        } else if self.source.is_ipv6() {
            vec![IpAddr::V6(packet::GROUP_V6)]
        } else {
            vec![IpAddr::V4(packet::GROUP_V4)]
        };
        for dst in targets {
            let msg = packet::encode(&advert, self.source, dst, self.settings.checksum);
            match self.socket.send(&msg, dst).await {
                Ok(()) => self.observer.sent(),
                Err(e) => self.error(&format!("cannot send an advert to {dst}: {e}")),
            }
        }
    }

    /// One round of gratuitous ARP (or NA), and when the next one is due.
    async fn garp(&mut self) {
        if !self.holding {
            self.next_garp = None;
            return;
        }
        let addrs: Vec<IpAddr> = self.owned().iter().map(|(a, _)| *a).collect();
        if let Err(e) = net::announce(&self.link, &addrs) {
            self.error(&format!("announcing the addresses: {e}"));
        }
        self.garps_left = self.garps_left.saturating_sub(1);
        self.next_garp = if self.garps_left > 0 {
            Some(Instant::now() + self.settings.garp_interval)
        } else {
            self.settings.garp_refresh.map(|r| Instant::now() + r)
        };
    }

    async fn remove_addresses(&self) {
        for (addr, _) in &self.owned() {
            if let Err(e) = self.addresses.remove(self.link.index, *addr).await {
                self.error(&format!("cannot remove {addr}: {e}"));
            }
        }
    }

    /// The interface going down is a fault; coming back, a recovery.
    async fn check_link(&mut self) {
        let vips: Vec<IpAddr> = self.settings.addresses.iter().map(|(a, _)| *a).collect();
        // The same interface, still holding the address adverts leave
        // from. Without it this router's socket sends nothing that counts:
        // a Fault until the address is back (a recreated interface, with a
        // new index, needs a restart).
        let now = net::link(&self.settings.interface, &vips);
        let same = now
            .as_ref()
            .is_some_and(|l| l.index == self.link.index && l.addresses.contains(&self.source));
        if !same && self.link.up {
            self.observer.error(&format!(
                "interface {} is gone, was recreated, or lost {}: Fault until it is back",
                self.settings.interface, self.source
            ));
        }
        // An IPv6 source that is tentative again (the link went down and
        // up: duplicate address detection runs) is refused by the kernel:
        // Fault until it is usable, or adverts would fail while Master.
        let up = same && now.as_ref().is_some_and(|l| l.usable(self.source));
        if same && !up && self.link.up && now.as_ref().is_some_and(|l| l.up) {
            self.observer.error(&format!(
                "{} on {} is tentative (duplicate address detection): Fault until it is usable",
                self.source, self.settings.interface
            ));
        }
        if up != self.link.up {
            self.link.up = up;
            self.settle().await;
        }
    }
}
