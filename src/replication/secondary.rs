//! One task per secondary zone: it asks the primaries for the SOA when the
//! timers say so (or at once, on a NOTIFY from one of them), transfers a
//! newer version (IXFR from ours, AXFR when that fails or we have none),
//! checks it like a zone file, saves it, and swaps it in. Past EXPIRE
//! without a successful check the zone answers SERVFAIL.
//!
//! ```text
//!  wake (timer │ NOTIFY) ─▶ for each primary, in order:
//!     SOA over UDP ─ not newer ─▶ current: timers restart
//!                  └ newer ─▶ IXFR over TCP ─ fails ─▶ AXFR
//!                             ─▶ Incoming (checks every message) ─▶ apply / build (blocking pool)
//!                             ─▶ older serial? refused ─▶ publish ─▶ journal, NOTIFY on ─▶ save file (tmp + rename)
//!  every primary failed ─▶ retry timer; expired ─▶ SERVFAIL (Zone::unavailable)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use palanquin_authoritative::transfer::incoming::{self, newer, Incoming, Received, Step};
use palanquin_authoritative::transfer::message;
use palanquin_authoritative::transfer::text::zone_text;
use palanquin_authoritative::transfer::timers::{Refresh, SoaTimers};
use palanquin_authoritative::Zone;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::net::{source_for, tcp_connect, tcp_read, tcp_send, udp_exchange};
use super::{count_transfer, publish, unix_now, EXPIRED, LAST_TRANSFER, REFRESHES};
use crate::config::ZoneConfig;
use crate::server::Shared;

/// How long to wait for an SOA answer, per try (two tries over UDP).
const SOA_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a primary may pause between the messages of a transfer.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(15);
/// The most one refresh (SOA queries and transfers, every primary) may
/// take (BIND's default for a transfer in); EXPIRE is enforced meanwhile.
const CHECK_DEADLINE: Duration = Duration::from_secs(2 * 3600);

/// What one refresh found.
enum Checked {
    /// The primary has our serial (or an older one).
    Current(u32),
    /// A newer version, checked.
    New(Box<Landed>),
}

struct Landed {
    zone: Zone,
    kind: &'static str,
    from: SocketAddr,
    bytes: usize,
}

/// Starts the refresh task of secondary zone `cfg`.
pub(crate) fn start(shared: &Arc<Shared>, cfg: ZoneConfig, wake: Arc<Notify>, cancel: CancellationToken) {
    tokio::spawn(run(Arc::clone(shared), cfg, wake, cancel));
}

fn timers_of(zone: &Zone) -> Option<SoaTimers> {
    zone.soa().and_then(|s| SoaTimers::from_soa(s.rdata))
}

/// How long ago the saved file was last written or confirmed current.
fn file_age(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

async fn run(shared: Arc<Shared>, cfg: ZoneConfig, wake: Arc<Notify>, cancel: CancellationToken) {
    let rep = &shared.replication();
    let mut current = shared
        .generation
        .load()
        .zones
        .get(&cfg.apex)
        .filter(|z| !z.is_unavailable())
        .cloned();
    let now = rep.elapsed();
    let mut refresh = match current.as_deref().and_then(timers_of) {
        Some(t) => Refresh::saved(now, t, file_age(&cfg.file)),
        None => Refresh::new(now),
    };
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(0.0);
    loop {
        let now = rep.elapsed();
        if refresh.is_expired(now) {
            match expire(&shared, &cfg, &cancel).await {
                Ok(()) => {
                    current = None;
                    refresh.expire();
                }
                Err(NotPublished::NotOurs) => return,
                // Tried again in a second (not at once: no spin).
                Err(NotPublished::Failed) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if now >= refresh.next() {
            // EXPIRE holds during a slow transfer too.
            let until_expiry = refresh.expires().map(|e| e.saturating_sub(now));
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                () = sleep_for(until_expiry) => Err("EXPIRE passed during the refresh".to_owned()),
                o = tokio::time::timeout(CHECK_DEADLINE, check(&shared, &cfg, current.clone())) => {
                    o.unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_DEADLINE.as_secs())))
                }
            };
            let now = rep.elapsed();
            rep.update_status(&cfg.origin, |s| s.last_check = Some(SystemTime::now()));
            match outcome {
                Ok(Checked::Current(serial)) => {
                    metrics::counter!(REFRESHES, "zone" => cfg.origin.clone(), "result" => "current")
                        .increment(1);
                    if let Some(t) = current.as_deref().and_then(timers_of) {
                        refresh.succeeded(now, t);
                        touch(&cfg.file);
                    }
                    tracing::debug!(zone = cfg.origin, serial, "zone is current");
                    rep.update_status(&cfg.origin, |s| s.last_error = None);
                }
                Ok(Checked::New(landed)) => {
                    metrics::counter!(REFRESHES, "zone" => cfg.origin.clone(), "result" => "newer")
                        .increment(1);
                    let zone = Arc::new(landed.zone);
                    match land(
                        &shared,
                        &cfg,
                        &cancel,
                        &zone,
                        landed.from,
                        landed.kind,
                        landed.bytes,
                    )
                    .await
                    {
                        Ok(()) => {
                            if let Some(t) = timers_of(&zone) {
                                refresh.succeeded(now, t);
                            }
                            current = Some(zone);
                        }
                        Err(NotPublished::NotOurs) => return,
                        Err(NotPublished::Failed) => refresh.failed(now),
                    }
                }
                Err(e) => {
                    metrics::counter!(REFRESHES, "zone" => cfg.origin.clone(), "result" => "failed")
                        .increment(1);
                    refresh.failed(now);
                    tracing::warn!(zone = cfg.origin, error = %e, failures = refresh.failures(), retry_in_s = refresh.next().saturating_sub(now).as_secs(), "refresh failed; the zone in service stays");
                    rep.update_status(&cfg.origin, |s| s.last_error = Some(e));
                }
            }
            let (next, expires) = (rep.wall(refresh.next()), refresh.expires().map(|e| rep.wall(e)));
            rep.update_status(&cfg.origin, |s| {
                s.next_refresh = Some(next);
                s.expires = expires;
            });
        }
        let wait = refresh.wake().saturating_sub(rep.elapsed());
        tokio::select! {
            () = cancel.cancelled() => return,
            () = wake.notified() => refresh.notified(rep.elapsed()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sleeps for `d`, or for ever.
async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Why a version was not swapped in.
enum NotPublished {
    /// The zone is no longer this task's: it ends.
    NotOurs,
    /// Swapping failed (logged); tried again later.
    Failed,
}

/// Whether this task still owns its zone: not cancelled, and the
/// configuration in force still names this secondary (a reload may have
/// made it a primary, or changed it, while a transfer ran).
fn ours(shared: &Shared, cfg: &ZoneConfig, cancel: &CancellationToken) -> bool {
    !cancel.is_cancelled() && shared.generation.load().settings.zones.contains(cfg)
}

/// Swaps `zone` in if this task still owns the zone, under the publish
/// lock and off the async workers (the zone set is rebuilt); returns the
/// zone it replaced.
async fn publish_if_ours(
    shared: &Arc<Shared>,
    cfg: &ZoneConfig,
    cancel: &CancellationToken,
    zone: Arc<Zone>,
) -> Result<Option<Arc<Zone>>, NotPublished> {
    let (shared, cfg2, cancel) = (Arc::clone(shared), cfg.clone(), cancel.clone());
    let done = tokio::task::spawn_blocking(move || {
        let rep = shared.replication();
        let _publishing = rep.publishing();
        ours(&shared, &cfg2, &cancel).then(|| publish(&shared, zone))
    })
    .await;
    match done {
        Ok(Some(replaced)) => Ok(replaced),
        Ok(None) => Err(NotPublished::NotOurs),
        Err(e) => {
            tracing::error!(zone = cfg.origin, error = %e, "swapping the zone in failed");
            Err(NotPublished::Failed)
        }
    }
}

/// The zone is past EXPIRE: it answers SERVFAIL until a refresh succeeds.
async fn expire(
    shared: &Arc<Shared>,
    cfg: &ZoneConfig,
    cancel: &CancellationToken,
) -> Result<(), NotPublished> {
    let stand_in = Arc::new(Zone::unavailable(&cfg.origin, &cfg.apex));
    publish_if_ours(shared, cfg, cancel, stand_in).await?;
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(1.0);
    shared
        .replication()
        .update_status(&cfg.origin, |s| s.expired = true);
    tracing::error!(
        zone = cfg.origin,
        "zone expired: no primary answered within the SOA expire; answering SERVFAIL"
    );
    Ok(())
}

/// Swaps in, journals, passes on and saves a new version (served first:
/// writing a large zone's text takes a while, and a crash before it is
/// written only costs a transfer after the restart). Nothing is published
/// or saved when the zone is no longer this task's.
async fn land(
    shared: &Arc<Shared>,
    cfg: &ZoneConfig,
    cancel: &CancellationToken,
    zone: &Arc<Zone>,
    from: SocketAddr,
    kind: &'static str,
    bytes: usize,
) -> Result<(), NotPublished> {
    let rep = &shared.replication();
    let old = publish_if_ours(shared, cfg, cancel, Arc::clone(zone))
        .await
        .inspect_err(|e| {
            if matches!(e, NotPublished::NotOurs) {
                tracing::info!(
                    zone = cfg.origin,
                    "transfer discarded: the zone's configuration changed meanwhile"
                );
            }
        })?;
    // Journaled before the NOTIFY goes out, so a secondary of ours can IXFR.
    if let Some(old) = old.filter(|o| !o.is_unavailable()) {
        let (rep2, new) = (shared.replication(), Arc::clone(zone));
        let _ = tokio::task::spawn_blocking(move || rep2.record_change(&old, &new)).await;
    }
    count_transfer(&cfg.origin, "in", kind, "ok");
    metrics::gauge!(LAST_TRANSFER, "zone" => cfg.origin.clone()).set(unix_now() as f64);
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(0.0);
    rep.update_status(&cfg.origin, |s| {
        s.expired = false;
        s.last_transfer = Some(SystemTime::now());
        s.last_transfer_records = zone.records();
        s.last_transfer_bytes = bytes;
        s.last_transfer_kind = kind;
        s.last_transfer_from = Some(from.to_string());
        s.last_error = None;
    });
    tracing::info!(zone = cfg.origin, serial = zone.serial(), records = zone.records(), bytes, kind, %from, "zone transferred");
    rep.notify(shared, cfg, zone);
    // A reload may have taken the zone over since; its new task saves then.
    if !ours(shared, cfg, cancel) {
        return Ok(());
    }
    let (path, saved_zone) = (cfg.file.clone(), Arc::clone(zone));
    let header = format!(
        "zone {} serial {} transferred from {from} by palanquin {}; rewritten on every transfer",
        zone.name(),
        zone.serial(),
        env!("CARGO_PKG_VERSION")
    );
    match tokio::task::spawn_blocking(move || save(&path, &saved_zone, &header)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(zone = cfg.origin, file = %cfg.file.display(), error = %e, "cannot save the transferred zone; it is served from memory, a restart would need the primary")
        }
        Err(e) => tracing::error!(zone = cfg.origin, error = %e, "saving the zone failed"),
    }
    Ok(())
}

/// Writes the zone's text next to `path`, then renames it into place: a
/// crash leaves the old file or the new one, never half of one.
fn save(path: &Path, zone: &Zone, header: &str) -> std::io::Result<()> {
    let text = zone_text(zone, header);
    // A name of its own: two saves of one file (an old task and the one
    // that replaced it) never write into each other's.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp.{}.{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        // On disk before it takes the old copy's name, and the name after.
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Marks the saved file as confirmed now (its age is the expiry's start
/// after a restart).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// One refresh: each primary in turn until one answers.
async fn check(shared: &Shared, cfg: &ZoneConfig, current: Option<Arc<Zone>>) -> Result<Checked, String> {
    let listen = shared.generation.load().settings.listen.clone();
    let mut errors = Vec::new();
    for &primary in &cfg.primaries {
        let from = source_for(&listen, primary);
        match from_primary(cfg, from, primary, current.as_ref()).await {
            Ok(c) => return Ok(c),
            Err(e) => errors.push(format!("{primary}: {e}")),
        }
    }
    Err(errors.join("; "))
}

async fn from_primary(
    cfg: &ZoneConfig,
    from: IpAddr,
    primary: SocketAddr,
    current: Option<&Arc<Zone>>,
) -> Result<Checked, String> {
    let serial = soa_serial(cfg, from, primary).await?;
    if let Some(cur) = current {
        if !newer(serial, cur.serial()) {
            if serial != cur.serial() {
                tracing::warn!(zone = cfg.origin, ours = cur.serial(), primary = %primary, theirs = serial, "the primary's serial is older than ours; keeping ours");
            }
            return Ok(Checked::Current(cur.serial()));
        }
    }
    // Whatever comes back, it must be newer than what we hold (the
    // primary's SOA said so, its transfer may say otherwise).
    let held = current.map(|z| z.serial());
    if let Some(cur) = current {
        match transfer(cfg, from, primary, Some(cur), held).await {
            Ok(c) => return Ok(c),
            Err((reason, e)) => {
                count_transfer(&cfg.origin, "in", "ixfr", reason);
                tracing::info!(zone = cfg.origin, %primary, error = %e, "IXFR failed; trying AXFR");
            }
        }
    }
    transfer(cfg, from, primary, None, held)
        .await
        .map_err(|(reason, e)| {
            count_transfer(&cfg.origin, "in", "axfr", reason);
            e
        })
}

async fn soa_serial(cfg: &ZoneConfig, from: IpAddr, primary: SocketAddr) -> Result<u32, String> {
    let mut last = String::new();
    for _ in 0..2 {
        let id: u16 = rand::random();
        let request = message::soa_query(&cfg.apex, id, cfg.key.as_ref(), unix_now())?;
        let raw = match udp_exchange(from, primary, &request.bytes, SOA_TIMEOUT, |raw| {
            raw.len() >= 12 && raw[..2] == id.to_be_bytes() && raw[2] & 0x80 != 0
        })
        .await
        {
            Ok(raw) => raw,
            Err(e) => {
                last = format!("SOA query: {e}");
                continue;
            }
        };
        let msg = message::check_answer(&request, &raw, unix_now()).map_err(|e| format!("SOA query: {e}"))?;
        return message::answer_serial(&msg, &cfg.apex).map_err(|e| format!("SOA query: {e}"));
    }
    Err(last)
}

/// A failed transfer: the `result` it is counted under, and why.
type Failed = (&'static str, String);

/// Transfers the zone: IXFR from `current`, or AXFR; what arrives must be
/// newer than `held` (the serial in service).
async fn transfer(
    cfg: &ZoneConfig,
    from: IpAddr,
    primary: SocketAddr,
    current: Option<&Arc<Zone>>,
    held: Option<u32>,
) -> Result<Checked, Failed> {
    let err = |e: String| ("error", e);
    let kind = if current.is_some() { "ixfr" } else { "axfr" };
    let id: u16 = rand::random();
    let request = message::transfer_request(
        &cfg.apex,
        id,
        current.and_then(|z| z.soa()),
        cfg.key.as_ref(),
        unix_now(),
    )
    .map_err(err)?;
    let mut stream = tcp_connect(from, primary, CONNECT_TIMEOUT)
        .await
        .map_err(|e| ("unreachable", format!("connect: {e}")))?;
    tcp_send(&mut stream, &request.bytes)
        .await
        .map_err(|e| ("broken", format!("send: {e}")))?;
    // A whole zone goes straight into the zone being built, never into a list.
    let mut reader = Incoming::new(&cfg.apex, id, current.map(|z| z.serial()), request.sequence)
        .build_into(&cfg.origin, &cfg.file)
        .map_err(|e| err(e.to_string()))?;
    let received = loop {
        let msg = tcp_read(&mut stream, MESSAGE_TIMEOUT).await.map_err(|e| {
            (
                "broken",
                format!("{kind} broke off after {} messages: {e}", reader.messages()),
            )
        })?;
        match reader
            .feed(msg, unix_now())
            .map_err(|e| (e.reason(), format!("{kind}: {e}")))?
        {
            Step::More => {}
            Step::Done(r) => break r,
        }
    };
    drop(stream);
    let bytes = reader.bytes();
    let (origin, file) = (cfg.origin.clone(), cfg.file.clone());
    let older = |serial: u32| -> Result<(), Failed> {
        match held {
            Some(h) if !newer(serial, h) => Err((
                "older",
                format!("{kind}: serial {serial} is not newer than ours ({h})"),
            )),
            _ => Ok(()),
        }
    };
    let zone = match received {
        Received::UpToDate { serial } => return Ok(Checked::Current(serial)),
        // (build_into above: a whole zone comes back as Built.)
        Received::Full { .. } => {
            return Err(err(format!(
                "{kind}: internal error: the zone was read into a list"
            )))
        }
        Received::Built { serial, builder } => {
            older(serial)?;
            // The checks and the compiled answers, on the blocking pool.
            tokio::task::spawn_blocking(move || builder.finish().map_err(|e| e.message))
                .await
                .map_err(|e| err(e.to_string()))?
        }
        Received::Incremental { serial, diffs } => {
            older(serial)?;
            let Some(cur) = current else {
                return Err(("malformed", "differences, but we hold no zone".into()));
            };
            let cur = Arc::clone(cur);
            // Applied on the blocking pool: the new version is built from
            // every record of the old one.
            tokio::task::spawn_blocking(move || {
                let applied = incoming::apply(&cur, &diffs).map_err(|e| e.to_string())?;
                incoming::build(&origin, &file, applied.records(&cur)).map_err(|e| e.message)
            })
            .await
            .map_err(|e| err(e.to_string()))?
        }
    }
    .map_err(|e| {
        (
            "invalid",
            format!("{kind}: the transferred zone is not valid: {e}"),
        )
    })?;
    Ok(Checked::New(Box::new(Landed {
        zone,
        kind,
        from: primary,
        bytes,
    })))
}
