//! Pools at run time: one checker task per member, the members' standing
//! kept across reloads, the operator's drains, and the snapshot that
//! `palanquin status` and `palanquin pool list` show.
//!
//! ```text
//!  config (every [[zone.pool]]) ─prepare─▶ Plan: a LivePool per pool (for the new Zones),
//!      members kept (same zone, pool, type, address: cell, status, drain; the task too
//!      when the check is unchanged), new members' tasks started
//!  start / reload: wait for the new members' first round (≤ their timeout + slack)
//!      ─▶ swap the generation ─▶ commit (members gone, or re-checked, lose their old task)
//!  check.rs: the task of one member      control.rs (crate root): drain / undrain / list
//! ```
//!
//! A member whose first check has not ended is not handed out; the start
//! and every reload wait for the first round, so in practice no answer is
//! made before it: the first answers already leave out a dead member.

pub(crate) mod check;
pub(crate) mod metrics;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use palanquin_authoritative::pool::http;
use palanquin_authoritative::pool::live::{LivePool, MemberCell};
use palanquin_authoritative::pool::probe::Probe;
use palanquin_authoritative::pool::schedule;
use palanquin_authoritative::pool::tls::{self, Trust};
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::config::pool::{CheckConfig, CheckKind, PoolConfig};
use crate::config::ZoneConfig;
use check::{Checker, Labels, Status};

/// How much longer than the longest check timeout the first round may take
/// (tasks starting, an exec check's process group being killed).
const FIRST_ROUND_SLACK: Duration = Duration::from_millis(250);
/// The first round's checks start this far apart on average (20,000 a
/// second), and over at most half the shortest timeout: thousands of new
/// members are not a burst of thousands of connections at once.
const FIRST_ROUND_PACE: Duration = Duration::from_micros(50);

/// Which member: zone apex, pool name, type, address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    apex: Vec<u8>,
    pool: Vec<u8>,
    rtype: u16,
    addr: IpAddr,
}

impl Key {
    fn of(apex: &[u8], pool: &PoolConfig, addr: IpAddr) -> Key {
        Key {
            apex: apex.to_vec(),
            pool: pool.name.clone(),
            rtype: pool.rtype,
            addr,
        }
    }
}

/// A member being checked.
struct Running {
    cell: Arc<MemberCell>,
    status: Arc<Mutex<Status>>,
    check: CheckConfig,
    labels: Labels,
    /// Its checks (aborted when the last holder lets go); set at once for
    /// a new member, at commit for one whose check changed.
    task: OnceLock<AbortOnDropHandle<()>>,
    /// Shared with its checker: set when the member leaves the configuration.
    retired: Arc<AtomicBool>,
}

impl Running {
    /// The member is gone (removed by a reload, or its reload refused): its
    /// gauges become NaN, and its checker, until its abort lands, writes
    /// them no more.
    fn retire(&self) {
        self.retired.store(true, std::sync::atomic::Ordering::Release);
        let _status = check::lock(&self.status);
        metrics::forget_member(&self.labels);
    }
}

/// Every member being checked; one for the life of the process.
pub(crate) struct Pools {
    members: Mutex<HashMap<Key, Arc<Running>>>,
    cancel: CancellationToken,
}

/// A configuration's pools, ready to serve once committed.
pub(crate) struct Plan {
    members: HashMap<Key, Arc<Running>>,
    /// Members whose check changed: their new checks start at commit, so
    /// that until then (and if the reload is refused) the old check alone
    /// feeds their health.
    deferred: Vec<(Arc<Running>, Checker)>,
    /// The members checked for the first time: the swap waits for them.
    fresh: Vec<Arc<MemberCell>>,
    /// The longest timeout of the new members, and the first round's spread.
    wait: Duration,
    spread: Duration,
    /// The pools, for `Zones::with_pools`.
    pub(crate) live: Vec<Arc<LivePool>>,
    /// The new members' keys: a plan dropped uncommitted retires them.
    fresh_keys: Vec<Key>,
    committed: bool,
}

impl Drop for Plan {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for key in &self.fresh_keys {
            if let Some(r) = self.members.get(key) {
                r.retire();
            }
        }
    }
}

impl Plan {
    /// Whether every new member has a first result.
    fn first_round_done(&self) -> bool {
        self.fresh
            .iter()
            .all(|c| c.health() != palanquin_authoritative::pool::health::State::Unknown)
    }

    /// How many new members are still unchecked.
    fn unchecked(&self) -> usize {
        self.fresh
            .iter()
            .filter(|c| c.health() == palanquin_authoritative::pool::health::State::Unknown)
            .count()
    }

    /// The longest the first round may take.
    fn deadline(&self, from: Instant) -> Instant {
        from + self.spread + self.wait + FIRST_ROUND_SLACK
    }

    /// Waits (on a blocking thread) for the new members' first round.
    pub(crate) fn wait_blocking(&self) {
        let started = Instant::now();
        while !self.first_round_done() && Instant::now() < self.deadline(started) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.log_first_round(started);
    }

    /// Waits (in the runtime) for the new members' first round.
    pub(crate) async fn wait(&self) {
        let started = Instant::now();
        while !self.first_round_done() && Instant::now() < self.deadline(started) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.log_first_round(started);
    }

    fn log_first_round(&self, started: Instant) {
        if self.fresh.is_empty() {
            return;
        }
        let ms = started.elapsed().as_millis() as u64;
        match self.unchecked() {
            0 => tracing::info!(members = self.fresh.len(), ms, "first round of pool checks done"),
            n => tracing::warn!(
                members = self.fresh.len(),
                unchecked = n,
                ms,
                "first round of pool checks unfinished; members not checked yet are not handed out"
            ),
        }
    }
}

/// Locks the member map.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pools {
    /// No pools yet; checks run until `cancel`.
    pub(crate) fn new(cancel: CancellationToken) -> Pools {
        Pools {
            members: Mutex::new(HashMap::new()),
            cancel,
        }
    }

    /// The pools of `zones`: members that remain keep their standing (and
    /// their task, when the check is the same); new ones start checking now,
    /// on the runtime of the calling thread (a worker or a blocking thread).
    pub(crate) fn prepare(&self, zones: &[ZoneConfig]) -> Plan {
        let current = lock(&self.members).clone();
        let mut plan = Plan {
            members: HashMap::new(),
            deferred: Vec::new(),
            fresh: Vec::new(),
            wait: Duration::ZERO,
            spread: first_round_spread(zones, &current),
            live: Vec::new(),
            fresh_keys: Vec::new(),
            committed: false,
        };
        for zone in zones {
            for pool in &zone.pools {
                let tls = tls_config(&pool.check);
                let mut cells = Vec::with_capacity(pool.members.len());
                for member in &pool.members {
                    let key = Key::of(&zone.apex, pool, member.addr);
                    let running = match current.get(&key) {
                        Some(r) if r.check == pool.check => Arc::clone(r),
                        kept => {
                            let (cell, status) = match kept {
                                Some(r) => (Arc::clone(&r.cell), Arc::clone(&r.status)),
                                None => {
                                    plan.wait = plan.wait.max(pool.check.timeout);
                                    let cell = Arc::new(MemberCell::new());
                                    plan.fresh.push(Arc::clone(&cell));
                                    (cell, Arc::default())
                                }
                            };
                            let labels = Labels {
                                zone: zone.origin.clone(),
                                pool: pool.name_text.clone(),
                                rtype: if pool.rtype == 1 { "A" } else { "AAAA" },
                                member: member.addr.to_string(),
                            };
                            let meters = metrics::meters(&labels);
                            if kept.is_none() {
                                metrics::set_member(&labels, &cell);
                            }
                            // A new member's first check falls in the first
                            // round's spread; a re-checked one keeps to its
                            // phase in the interval.
                            let unit = schedule::unit(labels_key(&labels).as_bytes());
                            let first_after = if kept.is_none() {
                                plan.spread.mul_f64(unit)
                            } else {
                                pool.check.interval.mul_f64(unit)
                            };
                            let (running, checker) = self.start(
                                pool,
                                member.addr,
                                labels,
                                (cell, status, meters),
                                tls.clone(),
                                (first_after, kept.is_some()),
                            );
                            let running = Arc::new(running);
                            if kept.is_some() {
                                plan.deferred.push((Arc::clone(&running), checker));
                            } else {
                                let _ = running.task.set(self.spawn(checker));
                                plan.fresh_keys.push(key.clone());
                            }
                            running
                        }
                    };
                    cells.push(Arc::clone(&running.cell));
                    plan.members.insert(key, running);
                }
                plan.live
                    .push(Arc::new(LivePool::new(pool.spec(&zone.apex), cells)));
            }
        }
        plan
    }

    /// Puts `plan` in force: members it does not hold stop being checked
    /// (their gauges become NaN: no longer a member), members whose check
    /// changed switch to the new one.
    pub(crate) fn commit(&self, mut plan: Plan) {
        plan.committed = true;
        for (running, checker) in std::mem::take(&mut plan.deferred) {
            let _ = running.task.set(self.spawn(checker));
        }
        let old = std::mem::replace(&mut *lock(&self.members), std::mem::take(&mut plan.members));
        let members = lock(&self.members);
        for (_, gone) in old.iter().filter(|(k, _)| !members.contains_key(*k)) {
            gone.retire();
        }
        drop(members);
        drop(old);
    }

    fn spawn(&self, checker: Checker) -> AbortOnDropHandle<()> {
        AbortOnDropHandle::new(Handle::current().spawn(checker.run(self.cancel.child_token())))
    }

    fn start(
        &self,
        pool: &PoolConfig,
        addr: IpAddr,
        labels: Labels,
        (cell, status, meters): (Arc<MemberCell>, Arc<Mutex<Status>>, metrics::Meters),
        tls: Option<Result<Arc<tls::ClientConfig>, String>>,
        (first_after, resumed): (Duration, bool),
    ) -> (Running, Checker) {
        let check = &pool.check;
        let retired = Arc::new(AtomicBool::new(false));
        let checker = Checker {
            addr,
            port: check.port.unwrap_or(0),
            probe: Arc::new(probe(check, addr, tls)),
            interval: check.interval,
            timeout: check.timeout,
            thresholds: check.thresholds,
            labels: labels.clone(),
            cell: Arc::clone(&cell),
            status: Arc::clone(&status),
            first_after,
            resumed,
            meters,
            retired: Arc::clone(&retired),
        };
        let running = Running {
            cell,
            status,
            check: check.clone(),
            labels,
            task: OnceLock::new(),
            retired,
        };
        (running, checker)
    }

    /// Drains (or undrains) `member` of pool `pool` in zone `zone`, as an
    /// operator names them; returns whether that changed anything.
    pub(crate) fn drain(&self, zone: &str, pool: &str, member: &str, drained: bool) -> Result<bool, String> {
        let addr: IpAddr = member
            .parse()
            .map_err(|_| format!("{member:?} is not an IP address"))?;
        let apex = zone_name(zone).ok_or_else(|| format!("{zone:?} is not a zone name"))?;
        let members = lock(&self.members);
        if !members.keys().any(|k| k.apex == apex) {
            return Err(format!("no pools in zone {zone}"));
        }
        let name = pool_name(pool, &apex).ok_or_else(|| format!("{pool:?} is not a pool name"))?;
        if !members.keys().any(|k| k.apex == apex && k.pool == name) {
            return Err(format!("zone {zone} has no pool {pool}"));
        }
        let found: Vec<&Arc<Running>> = members
            .iter()
            .filter(|(k, _)| k.apex == apex && k.pool == name && k.addr == addr)
            .map(|(_, r)| r)
            .collect();
        if found.is_empty() {
            return Err(format!("pool {pool} of zone {zone} has no member {addr}"));
        }
        let mut changed = false;
        for r in found {
            changed |= r.cell.set_drained(drained) != drained;
            metrics::set_member(&r.labels, &r.cell);
            if changed {
                let (zone, pool, member) = (&r.labels.zone, &r.labels.pool, &r.labels.member);
                tracing::info!(zone, pool, member, drained, "pool member drained by the operator");
            }
        }
        Ok(changed)
    }

    /// Every pool of `live` with its members' state, for status and `pool list`.
    pub(crate) fn snapshot<'a>(&self, live: impl Iterator<Item = &'a Arc<LivePool>>) -> Value {
        let members = lock(&self.members);
        let secs = |t: Option<std::time::SystemTime>| {
            t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        let pools: Vec<Value> = live
            .map(|p| {
                let spec = p.spec();
                let list: Vec<Value> = spec
                    .members
                    .iter()
                    .zip(p.cells())
                    .map(|(m, cell)| {
                        let key = Key {
                            apex: spec.apex.to_vec(),
                            pool: spec.name.to_vec(),
                            rtype: spec.rtype,
                            addr: m.addr,
                        };
                        let status = members.get(&key).map(|r| check::lock(&r.status).clone());
                        let last = status.as_ref().and_then(|s| s.health.last().cloned());
                        json!({
                            "addr": m.addr.to_string(),
                            "weight": m.weight,
                            "backup": m.backup,
                            "state": check::state_name(cell.health()),
                            "drained": cell.drained(),
                            "handed_out": cell.usable() == palanquin_authoritative::pool::policy::Usable::Up,
                            "last_ok": last.as_ref().map(|o| o.ok),
                            "last_reason": last.as_ref().map(|o| o.reason.clone()),
                            "last_latency_ms": last.as_ref().map(|o| o.latency.as_secs_f64() * 1e3),
                            "last_check": secs(status.as_ref().and_then(|s| s.checked_at)),
                            "since": secs(status.as_ref().and_then(|s| s.since)),
                        })
                    })
                    .collect();
                json!({
                    "zone": palanquin_wire::name_to_string(&spec.apex),
                    "pool": palanquin_wire::name_to_string(&spec.name),
                    "type": if spec.rtype == 1 { "A" } else { "AAAA" },
                    "members": list,
                })
            })
            .collect();
        Value::Array(pools)
    }
}

/// How long the first round of the members new in `zones` (not in
/// `current`) is spread over: [`FIRST_ROUND_PACE`] per member, at most half
/// the shortest of their timeouts.
fn first_round_spread(zones: &[ZoneConfig], current: &HashMap<Key, Arc<Running>>) -> Duration {
    let mut fresh = 0u32;
    let mut shortest = Duration::MAX;
    for zone in zones {
        for pool in &zone.pools {
            for m in &pool.members {
                let key = Key::of(&zone.apex, pool, m.addr);
                if !current.contains_key(&key) {
                    fresh += 1;
                    shortest = shortest.min(pool.check.timeout);
                }
            }
        }
    }
    if fresh < 2 {
        return Duration::ZERO;
    }
    (FIRST_ROUND_PACE * fresh).min(shortest / 2)
}

/// A member's key for its phases: the same in every process and release.
pub(crate) fn labels_key(l: &Labels) -> String {
    format!("{}/{}/{}", l.zone, l.pool, l.member)
}

/// Warns of each pool of `zones` that hides some of its zone's data.
pub(crate) fn warn_conflicts(zones: &palanquin_authoritative::Zones) {
    for p in zones.pools() {
        if let Some((what, _)) = zones.pool_conflict(p) {
            let (zone, pool) = (
                palanquin_wire::name_to_string(&p.spec().apex),
                palanquin_wire::name_to_string(&p.spec().name),
            );
            tracing::warn!(zone, pool, "{what}");
        }
    }
}

/// The TLS client of an https check, once per pool (reading the system's
/// roots is not cheap). The configuration already read the CA file; should
/// it have gone since, the check fails with the reason instead.
fn tls_config(check: &CheckConfig) -> Option<Result<Arc<tls::ClientConfig>, String>> {
    let CheckKind::Http { tls: Some(t), .. } = &check.kind else {
        return None;
    };
    let trust = match (&t.ca_pem, &t.ca_file, t.verify) {
        (_, _, false) => Trust::Nothing,
        (Some(pem), _, true) => Trust::CaPem(pem),
        (None, Some(f), true) => Trust::CaFile(f),
        (None, None, true) => Trust::System,
    };
    let client = tls::client(trust);
    if let Err(e) = &client {
        tracing::error!(error = %e, "cannot set up TLS for an https pool check; it fails until a reload fixes it");
    }
    Some(client)
}

/// The probe of `check` for member `addr`.
fn probe(check: &CheckConfig, addr: IpAddr, tls: Option<Result<Arc<tls::ClientConfig>, String>>) -> Probe {
    match &check.kind {
        CheckKind::Tcp => Probe::Tcp,
        CheckKind::Http {
            path,
            host,
            status,
            body,
            tls: https,
        } => {
            let port = check.port.unwrap_or(80);
            let default_port = if https.is_some() { 443 } else { 80 };
            let host_header = host.clone().unwrap_or_else(|| {
                let a = match addr {
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                };
                if port == default_port {
                    a
                } else {
                    format!("{a}:{port}")
                }
            });
            let tls = match (https, tls) {
                (None, _) => None,
                (Some(_), Some(Ok(c))) => Some(c),
                (Some(_), Some(Err(e))) => return Probe::Broken(e),
                (Some(_), None) => return Probe::Broken("no TLS client".into()),
            };
            Probe::Http {
                request: http::request(path, &host_header),
                expect: http::Expect {
                    status: status.clone(),
                    body: body.as_ref().map(|b| b.as_bytes().to_vec()),
                },
                tls,
                host: host
                    .as_ref()
                    .map(|h| {
                        h.rsplit_once(':')
                            .filter(|(_, p)| p.parse::<u16>().is_ok())
                            .map_or(h.as_str(), |(n, _)| n)
                    })
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned()),
            }
        }
        CheckKind::Dns { name, address } => Probe::Dns {
            name: name.clone(),
            address: *address,
        },
        CheckKind::Exec { command, shell } => Probe::Exec {
            command: command.clone(),
            shell: *shell,
        },
    }
}

/// A zone's name as an operator types it, in wire form.
fn zone_name(text: &str) -> Option<Vec<u8>> {
    let full = if text.ends_with('.') {
        text.to_owned()
    } else {
        format!("{text}.")
    };
    palanquin_wire::name_from_text(&full.to_ascii_lowercase()).ok()
}

/// A pool's name as an operator types it: absolute (trailing dot, or
/// ending in the zone's name) or relative to the zone.
fn pool_name(text: &str, apex: &[u8]) -> Option<Vec<u8>> {
    let lower = text.to_ascii_lowercase();
    if lower == "@" {
        return Some(apex.to_vec());
    }
    let absolute = zone_name(&lower)?;
    if lower.ends_with('.') || (absolute != apex && palanquin_wire::is_below_or_at(&absolute, apex)) {
        return Some(absolute);
    }
    let origin = palanquin_wire::name_to_string(apex);
    zone_name(&format!("{lower}.{origin}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn operators_name_pools_relative_or_absolute() {
        let apex = zone_name("example.test").unwrap();
        let www = zone_name("www.example.test.").unwrap();
        assert_eq!(pool_name("www", &apex).unwrap(), www);
        assert_eq!(pool_name("WWW.example.test", &apex).unwrap(), www);
        assert_eq!(pool_name("www.example.test.", &apex).unwrap(), www);
        assert_eq!(pool_name("@", &apex).unwrap(), apex);
        assert_eq!(zone_name("Example.Test").unwrap(), apex);
    }
}
