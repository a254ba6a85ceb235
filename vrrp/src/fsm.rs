//! The protocol state machine of one virtual router, RFC 5798 §6.4 (and
//! RFC 3768 §6.4 for v2), plus keepalived's Fault state and preempt delay.
//! A pure function of (state, event, now): it reads no clock and sends
//! nothing; it returns what to do, and [`Machine::deadline`] says when to
//! come back with [`Event::Timer`].
//!
//! ```text
//!            Startup (priority 255) ───────────────────────────┐
//!  Initialize ── Startup ──▶ Backup ── Master_Down timer ──▶ Master
//!                              ▲   ◀── higher priority advert ──┘ (or equal, higher address)
//!                              │                                 │
//!           Recovered ─── Fault ◀── Fault (from any state) ──────┘
//!  Shutdown: Master sends priority 0 and drops the addresses ─▶ Initialize
//! ```
//!
//! Timers are kept in centiseconds, as on the wire: Skew_Time =
//! ((256 − priority) × Master_Adver_Interval) / 256, Master_Down_Interval =
//! 3 × Master_Adver_Interval + Skew_Time. A v3 Backup adopts the interval
//! its Master advertises; a v2 one keeps its own (RFC 3768 has no such
//! rule, and all routers of a v2 group must agree).

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::Version;

/// What one virtual router is configured to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The protocol version.
    pub version: Version,
    /// Its priority, 1–255 (255: it owns the addresses).
    pub priority: u8,
    /// How often a Master advertises, in centiseconds.
    pub interval_cs: u16,
    /// A Backup of higher priority takes over from a Master of lower.
    pub preempt: bool,
    /// ... but not sooner than this after start-up (keepalived's
    /// `preempt_delay`): a router that just booted first gets its own
    /// services going.
    pub preempt_delay: Duration,
    /// Our address on the interface, the tie-breaker between equal
    /// priorities (the higher address wins).
    pub primary: IpAddr,
}

/// Where the router is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or shut down.
    Initialize,
    /// Listening to a Master.
    Backup,
    /// Holding the addresses and advertising.
    Master,
    /// Unable to serve (its interface is down, or its self-check fails):
    /// silent, without the addresses, until recovered.
    Fault,
}

impl State {
    /// Its name, for logs, metrics and status.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The router starts.
    Startup,
    /// The router stops (a clean shutdown).
    Shutdown,
    /// An advertisement for this router arrived (already checked: TTL,
    /// checksum, version, VRID, authentication, sender).
    Advert {
        /// Its sender.
        from: IpAddr,
        /// The sender's priority.
        priority: u8,
        /// The sender's interval, centiseconds.
        interval_cs: u16,
    },
    /// The time [`Machine::deadline`] gave has come.
    Timer,
    /// The router cannot serve (interface down, self-check failed).
    Fault,
    /// It can again.
    Recovered,
    /// Its priority is now this (a self-check's weight taken off or given
    /// back); 1–254, or the configured 255.
    Priority(u8),
}

/// What to do about it, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority.
    Advertise(u8),
    /// Add the virtual addresses to the interface.
    AddAddresses,
    /// Remove them.
    RemoveAddresses,
    /// Announce the addresses (gratuitous ARP, unsolicited NA).
    Announce,
    /// The state changed (for logs, metrics, notify hooks).
    Transition(State, State),
}

/// One virtual router's protocol state.
#[derive(Debug, Clone)]
pub struct Machine {
    config: Config,
    state: State,
    /// The priority in force (the configured one, less a self-check's weight).
    priority: u8,
    /// The Master's interval as learnt (v3), centiseconds.
    master_interval_cs: u16,
    /// When the Adver timer (Master) or the Master_Down timer (Backup) fires.
    deadline: Option<Duration>,
    /// When the router last started (for the preempt delay).
    started: Duration,
}

impl Machine {
    /// A router in Initialize.
    pub fn new(config: Config) -> Machine {
        Machine {
            priority: config.priority,
            master_interval_cs: config.interval_cs,
            config,
            state: State::Initialize,
            deadline: None,
            started: Duration::ZERO,
        }
    }

    /// Where it is.
    pub fn state(&self) -> State {
        self.state
    }

    /// The priority in force.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// When to deliver [`Event::Timer`], if a timer runs.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The Master_Down_Interval in force.
    pub fn master_down_interval(&self) -> Duration {
        cs(3 * u64::from(self.master_interval_cs)) + self.skew()
    }

    /// Skew_Time: a Backup of higher priority gives up waiting sooner.
    fn skew(&self) -> Duration {
        let p = 256 - u64::from(self.priority);
        match self.config.version {
            Version::V3 => cs(p * u64::from(self.master_interval_cs) / 256),
            Version::V2 => cs(p * 100 / 256),
        }
    }

    /// Takes `event` at `now`; returns what to do.
    pub fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.state, event) {
            (State::Initialize, Event::Startup) | (State::Fault, Event::Recovered) => {
                self.started = now;
                self.start(now, &mut out);
            }
            (State::Master, Event::Timer) => {
                out.push(Action::Advertise(self.priority));
                self.deadline = Some(now + cs(u64::from(self.config.interval_cs)));
            }
            (State::Backup, Event::Timer) => self.become_master(now, &mut out),
            (State::Backup, Event::Advert { priority: 0, .. }) => {
                // The Master resigned: take over after the skew alone.
                self.deadline = Some(now + self.skew());
            }
            (
                State::Backup,
                Event::Advert {
                    priority,
                    interval_cs,
                    ..
                },
            ) => {
                let preempt_now = self.config.preempt && now >= self.started + self.config.preempt_delay;
                if !preempt_now || priority >= self.priority {
                    if self.config.version == Version::V3 {
                        self.master_interval_cs = interval_cs.max(1);
                    }
                    self.deadline = Some(now + self.master_down_interval());
                }
                // A lower-priority Master with preemption on: ignored, so
                // Master_Down fires (at most Master_Down_Interval after its
                // last accepted advert) and this router takes over.
            }
            (State::Master, Event::Advert { priority: 0, .. }) => {
                // Another router resigned: show at once who is Master.
                out.push(Action::Advertise(self.priority));
                self.deadline = Some(now + cs(u64::from(self.config.interval_cs)));
            }
            (
                State::Master,
                Event::Advert {
                    from,
                    priority,
                    interval_cs,
                },
            ) if priority > self.priority || (priority == self.priority && from > self.config.primary) => {
                // A better Master: step down. A worse one is ignored.
                if self.config.version == Version::V3 {
                    self.master_interval_cs = interval_cs.max(1);
                }
                out.push(Action::RemoveAddresses);
                self.go(State::Backup, &mut out);
                self.deadline = Some(now + self.master_down_interval());
            }
            (State::Master, Event::Shutdown) => {
                out.push(Action::Advertise(0));
                out.push(Action::RemoveAddresses);
                self.go(State::Initialize, &mut out);
                self.deadline = None;
            }
            (State::Backup | State::Fault, Event::Shutdown) => {
                self.go(State::Initialize, &mut out);
                self.deadline = None;
            }
            (State::Master, Event::Fault) => {
                out.push(Action::Advertise(0));
                out.push(Action::RemoveAddresses);
                self.go(State::Fault, &mut out);
                self.deadline = None;
            }
            (State::Backup | State::Initialize, Event::Fault) => {
                self.go(State::Fault, &mut out);
                self.deadline = None;
            }
            (_, Event::Priority(p)) => {
                self.priority = if self.config.priority == 255 {
                    255
                } else {
                    p.clamp(1, 254)
                };
                // A Master whose priority fell says so at once: a Backup
                // with preemption then ignores its adverts and takes over when its Master_Down_Interval runs out.
                if self.state == State::Master {
                    out.push(Action::Advertise(self.priority));
                    self.deadline = Some(now + cs(u64::from(self.config.interval_cs)));
                }
            }
            // Anything else changes nothing (an advert in Fault or
            // Initialize, a timer that no longer runs, a second Startup).
            _ => {}
        }
        out
    }

    /// Takes a new configuration at `now` (a reload), keeping the state,
    /// with `priority` in force (the configured one, or less a failing
    /// check's weight; an owner's is 255 whatever it is given): the
    /// interval, preempt and its delay take effect. A Master says so
    /// at once (a lowered priority lets a preempting Backup take over
    /// when its Master_Down_Interval runs out); a Backup made the owner (255) takes over at once.
    /// The version and the primary address stay as they were: a change of
    /// either is a new router.
    pub fn reconfigure(&mut self, config: Config, priority: u8, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.config = Config {
            version: self.config.version,
            primary: self.config.primary,
            ..config
        };
        self.priority = if self.config.priority == 255 {
            255
        } else {
            priority.clamp(1, 254)
        };
        if self.config.version == Version::V2 {
            self.master_interval_cs = self.config.interval_cs;
        }
        match self.state {
            State::Master => {
                self.master_interval_cs = self.config.interval_cs;
                out.push(Action::Advertise(self.priority));
                self.deadline = Some(now + cs(u64::from(self.config.interval_cs)));
            }
            State::Backup if self.priority == 255 => self.become_master(now, &mut out),
            _ => {}
        }
        out
    }

    fn start(&mut self, now: Duration, out: &mut Vec<Action>) {
        self.master_interval_cs = self.config.interval_cs;
        if self.priority == 255 {
            self.become_master(now, out);
        } else {
            self.go(State::Backup, out);
            self.deadline = Some(now + self.master_down_interval());
        }
    }

    fn become_master(&mut self, now: Duration, out: &mut Vec<Action>) {
        out.push(Action::Advertise(self.priority));
        out.push(Action::AddAddresses);
        out.push(Action::Announce);
        self.go(State::Master, out);
        self.deadline = Some(now + cs(u64::from(self.config.interval_cs)));
    }

    fn go(&mut self, to: State, out: &mut Vec<Action>) {
        if to != self.state {
            out.push(Action::Transition(self.state, to));
            self.state = to;
        }
    }
}

fn cs(n: u64) -> Duration {
    Duration::from_millis(n * 10)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(priority: u8, primary: &str) -> Config {
        Config {
            version: Version::V3,
            priority,
            interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary: primary.parse().unwrap(),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn advert(from: &str, priority: u8) -> Event {
        Event::Advert {
            from: from.parse().unwrap(),
            priority,
            interval_cs: 100,
        }
    }

    /// Runs the timer of `m` until `until`, returning what it did.
    fn run_until(m: &mut Machine, until: Duration) -> Vec<(Duration, Action)> {
        let mut out = Vec::new();
        while let Some(at) = m.deadline().filter(|&d| d <= until) {
            out.extend(m.handle(Event::Timer, at).into_iter().map(|a| (at, a)));
        }
        out
    }

    #[test]
    fn timers_follow_rfc_5798() {
        let m = Machine::new(config(100, "192.0.2.1"));
        // Skew = (256 − 100) × 100 / 256 = 60 cs (integer); down = 300 + 60.
        assert_eq!(m.master_down_interval(), ms(3600));
        let owner = Machine::new(config(254, "192.0.2.1"));
        assert_eq!(owner.master_down_interval(), ms(3000));
    }

    #[test]
    fn a_lone_backup_becomes_master_after_master_down() {
        let mut m = Machine::new(config(100, "192.0.2.1"));
        let out = m.handle(Event::Startup, ms(0));
        assert_eq!(out, vec![Action::Transition(State::Initialize, State::Backup)]);
        assert_eq!(m.deadline(), Some(ms(3600)));
        let did = run_until(&mut m, ms(3600));
        assert_eq!(m.state(), State::Master);
        assert_eq!(
            did.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
            vec![
                Action::Advertise(100),
                Action::AddAddresses,
                Action::Announce,
                Action::Transition(State::Backup, State::Master)
            ]
        );
        // Then an advert every interval.
        let adverts = run_until(&mut m, ms(3600 + 5000));
        assert_eq!(adverts.len(), 5);
        assert!(adverts.iter().all(|(_, a)| *a == Action::Advertise(100)));
    }

    #[test]
    fn a_reload_keeps_the_state_and_applies_priority_and_interval() {
        // A Master whose priority is lowered says so at once, then keeps
        // the new interval.
        let mut m = Machine::new(config(200, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        run_until(&mut m, ms(3600));
        assert_eq!(m.state(), State::Master);
        let out = m.reconfigure(
            Config {
                interval_cs: 50,
                ..config(90, "192.0.2.1")
            },
            90,
            ms(4000),
        );
        assert_eq!(out, vec![Action::Advertise(90)]);
        assert_eq!(
            (m.state(), m.priority(), m.deadline()),
            (State::Master, 90, Some(ms(4500)))
        );
        // A Backup raised above the Master (preempt on) ignores its next
        // adverts and takes over at Master_Down.
        let mut b = Machine::new(config(100, "192.0.2.1"));
        b.handle(Event::Startup, ms(0));
        b.handle(advert("192.0.2.9", 150), ms(1000));
        assert!(b.reconfigure(config(200, "192.0.2.1"), 200, ms(1500)).is_empty());
        assert_eq!(b.state(), State::Backup);
        b.handle(advert("192.0.2.9", 150), ms(2000));
        run_until(&mut b, ms(2000 + 3300));
        assert_eq!(b.state(), State::Master, "preempted after the reload");
        // A Backup made the owner takes over at once.
        let mut o = Machine::new(config(100, "192.0.2.1"));
        o.handle(Event::Startup, ms(0));
        let out = o.reconfigure(config(255, "192.0.2.1"), 200, ms(100));
        assert!(out.contains(&Action::AddAddresses) && o.state() == State::Master);
        // Fault stays Fault; the version and the primary address stay.
        let mut f = Machine::new(config(100, "192.0.2.1"));
        f.handle(Event::Fault, ms(0));
        let v2 = Config {
            version: Version::V2,
            primary: "192.0.2.200".parse().unwrap(),
            ..config(150, "192.0.2.1")
        };
        assert!(f.reconfigure(v2, 120, ms(10)).is_empty());
        assert_eq!((f.state(), f.priority()), (State::Fault, 120), "a weight applies");
        assert_eq!(f.config.version, Version::V3);
        assert_eq!(f.config.primary, "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_owner_starts_as_master() {
        let mut m = Machine::new(config(255, "192.0.2.1"));
        let out = m.handle(Event::Startup, ms(0));
        assert!(out.contains(&Action::AddAddresses) && m.state() == State::Master);
        // A self-check weight never lowers an owner.
        m.handle(Event::Priority(200), ms(10));
        assert_eq!(m.priority(), 255);
    }

    #[test]
    fn adverts_keep_a_backup_waiting_and_silence_makes_it_master() {
        let mut m = Machine::new(config(100, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        for t in (1000..10_000).step_by(1000) {
            m.handle(advert("192.0.2.9", 200), ms(t));
            assert!(run_until(&mut m, ms(t + 999)).is_empty());
        }
        // The Master falls silent after its advert at 9 s: down at 12.6 s.
        let did = run_until(&mut m, ms(20_000));
        assert_eq!(did[0].0, ms(9000 + 3600));
        assert_eq!(m.state(), State::Master);
    }

    #[test]
    fn a_master_that_resigns_is_replaced_within_the_skew() {
        let mut m = Machine::new(config(200, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        m.handle(advert("192.0.2.9", 250), ms(1000));
        m.handle(advert("192.0.2.9", 0), ms(1500));
        // Skew of priority 200 at 100 cs: (56 × 100) / 256 = 21 cs.
        assert_eq!(m.deadline(), Some(ms(1500 + 210)));
        run_until(&mut m, ms(1710));
        assert_eq!(m.state(), State::Master);
    }

    #[test]
    fn a_master_yields_to_higher_priority_and_to_the_higher_address_on_a_tie() {
        let mut m = Machine::new(config(100, "192.0.2.5"));
        m.handle(Event::Startup, ms(0));
        run_until(&mut m, ms(3600));
        assert_eq!(m.state(), State::Master);
        // Lower priority, or equal with a lower address: ignored.
        assert!(m.handle(advert("192.0.2.9", 50), ms(4000)).is_empty());
        assert!(m.handle(advert("192.0.2.1", 100), ms(4100)).is_empty());
        assert_eq!(m.state(), State::Master);
        let out = m.handle(advert("192.0.2.9", 100), ms(4200));
        assert_eq!(
            out,
            vec![
                Action::RemoveAddresses,
                Action::Transition(State::Master, State::Backup)
            ]
        );
        // A resignation from another router: the Master answers at once.
        let mut m = Machine::new(config(100, "192.0.2.5"));
        m.handle(Event::Startup, ms(0));
        run_until(&mut m, ms(3600));
        assert_eq!(
            m.handle(advert("192.0.2.9", 0), ms(3700)),
            vec![Action::Advertise(100)]
        );
    }

    #[test]
    fn preemption_takes_over_from_a_lower_master_unless_off_or_delayed() {
        // preempt: adverts of a lower Master are ignored; Master_Down fires.
        let mut m = Machine::new(config(200, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        for t in (0..5000).step_by(1000) {
            m.handle(advert("192.0.2.9", 100), ms(t));
        }
        run_until(&mut m, ms(5000));
        assert_eq!(m.state(), State::Master, "preempted");
        // nopreempt: the lower Master keeps it.
        let mut quiet = Machine::new(Config {
            preempt: false,
            ..config(200, "192.0.2.1")
        });
        quiet.handle(Event::Startup, ms(0));
        for t in (0..10_000).step_by(1000) {
            quiet.handle(advert("192.0.2.9", 100), ms(t));
            run_until(&mut quiet, ms(t + 999));
        }
        assert_eq!(quiet.state(), State::Backup);
        // preempt_delay 5 s: not before 5 s after start-up.
        let mut late = Machine::new(Config {
            preempt_delay: Duration::from_secs(5),
            ..config(200, "192.0.2.1")
        });
        late.handle(Event::Startup, ms(0));
        let mut became = None;
        for t in (0..10_000).step_by(1000) {
            late.handle(advert("192.0.2.9", 100), ms(t));
            for (at, a) in run_until(&mut late, ms(t + 999)) {
                if a == Action::Transition(State::Backup, State::Master) {
                    became.get_or_insert(at);
                }
            }
        }
        let at = became.expect("it preempts in the end");
        assert!(at >= ms(5000), "not before the delay: {at:?}");
    }

    #[test]
    fn shutdown_and_fault_resign_with_priority_zero_and_drop_the_addresses() {
        let mut m = Machine::new(config(100, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        run_until(&mut m, ms(3600));
        let out = m.handle(Event::Shutdown, ms(4000));
        assert_eq!(
            out,
            vec![
                Action::Advertise(0),
                Action::RemoveAddresses,
                Action::Transition(State::Master, State::Initialize)
            ]
        );
        assert_eq!(m.deadline(), None);
        m.handle(Event::Startup, ms(5000));
        run_until(&mut m, ms(9000));
        let out = m.handle(Event::Fault, ms(9100));
        assert_eq!(out[..2], [Action::Advertise(0), Action::RemoveAddresses]);
        assert_eq!(m.state(), State::Fault);
        // Silent in Fault, whatever arrives.
        assert!(m.handle(advert("192.0.2.9", 50), ms(9200)).is_empty());
        assert_eq!(m.deadline(), None);
        let out = m.handle(Event::Recovered, ms(10_000));
        assert_eq!(out, vec![Action::Transition(State::Fault, State::Backup)]);
    }

    #[test]
    fn a_lowered_priority_is_advertised_at_once_and_a_backup_adopts_the_masters_interval() {
        let mut m = Machine::new(config(150, "192.0.2.1"));
        m.handle(Event::Startup, ms(0));
        run_until(&mut m, ms(4000));
        assert_eq!(
            m.handle(Event::Priority(90), ms(4100)),
            vec![Action::Advertise(90)]
        );
        // A backup hears a master advertising every 20 cs (v3): down after
        // 3 × 20 + skew, not 3 × 100.
        let mut b = Machine::new(config(100, "192.0.2.1"));
        b.handle(Event::Startup, ms(0));
        b.handle(
            Event::Advert {
                from: "192.0.2.9".parse().unwrap(),
                priority: 200,
                interval_cs: 20,
            },
            ms(100),
        );
        assert_eq!(b.master_down_interval(), ms(600 + 120));
    }
}
