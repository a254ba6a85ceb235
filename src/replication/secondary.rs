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
//!                             ─▶ older serial? refused ─▶ save file (tmp + rename) ─▶ publish ─▶ journal, NOTIFY on
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
    let state = if current.is_some() { "ok" } else { "no data" };
    rep.update_status(&cfg.origin, |s| s.state = state);
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(0.0);
    loop {
        let now = rep.elapsed();
        if refresh.is_expired(now) {
            expire(&shared, &cfg);
            current = None;
            refresh.expire();
        }
        if now >= refresh.next() {
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                o = check(&shared, &cfg, current.clone()) => o,
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
                    land(&shared, &cfg, &zone, landed.from, landed.kind, landed.bytes).await;
                    if let Some(t) = timers_of(&zone) {
                        refresh.succeeded(now, t);
                    }
                    current = Some(zone);
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

/// The zone is past EXPIRE: it answers SERVFAIL until a refresh succeeds.
fn expire(shared: &Shared, cfg: &ZoneConfig) {
    let stand_in = Zone::unavailable(&cfg.origin, &cfg.apex);
    let rep = shared.replication();
    {
        let _publishing = rep.publishing();
        publish(shared, Arc::new(stand_in));
    }
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(1.0);
    rep.update_status(&cfg.origin, |s| s.state = "expired");
    tracing::error!(
        zone = cfg.origin,
        "zone expired: no primary answered within the SOA expire; answering SERVFAIL"
    );
}

/// Swaps in, journals, passes on and saves a new version (served first:
/// writing a large zone's text takes a while, and a crash before it is
/// written only costs a transfer after the restart).
async fn land(
    shared: &Arc<Shared>,
    cfg: &ZoneConfig,
    zone: &Arc<Zone>,
    from: SocketAddr,
    kind: &'static str,
    bytes: usize,
) {
    let rep = &shared.replication();
    let old = {
        let _publishing = rep.publishing();
        publish(shared, Arc::clone(zone))
    };
    // Journaled before the NOTIFY goes out, so a secondary of ours can IXFR.
    if let Some(old) = old.filter(|o| !o.is_unavailable()) {
        let (rep2, new) = (shared.replication(), Arc::clone(zone));
        let _ = tokio::task::spawn_blocking(move || rep2.record_change(&old, &new)).await;
    }
    count_transfer(&cfg.origin, "in", kind, "ok");
    metrics::gauge!(LAST_TRANSFER, "zone" => cfg.origin.clone()).set(unix_now() as f64);
    metrics::gauge!(EXPIRED, "zone" => cfg.origin.clone()).set(0.0);
    rep.update_status(&cfg.origin, |s| {
        s.state = "ok";
        s.last_transfer = Some(SystemTime::now());
        s.last_transfer_records = zone.records();
        s.last_transfer_bytes = bytes;
        s.last_transfer_kind = kind;
        s.last_transfer_from = Some(from.to_string());
        s.last_error = None;
    });
    tracing::info!(zone = cfg.origin, serial = zone.serial(), records = zone.records(), bytes, kind, %from, "zone transferred");
    rep.notify(shared, cfg, zone);
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
}

/// Writes the zone's text next to `path`, then renames it into place: a
/// crash leaves the old file or the new one, never half of one.
fn save(path: &Path, zone: &Zone, header: &str) -> std::io::Result<()> {
    let text = zone_text(zone, header);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
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
    if let Some(cur) = current {
        match transfer(cfg, from, primary, Some(cur)).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                count_transfer(&cfg.origin, "in", "ixfr", "error");
                tracing::info!(zone = cfg.origin, %primary, error = %e, "IXFR failed; trying AXFR");
            }
        }
    }
    transfer(cfg, from, primary, None).await.inspect_err(|_| {
        count_transfer(&cfg.origin, "in", "axfr", "error");
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

/// Transfers the zone: IXFR from `current`, or AXFR.
async fn transfer(
    cfg: &ZoneConfig,
    from: IpAddr,
    primary: SocketAddr,
    current: Option<&Arc<Zone>>,
) -> Result<Checked, String> {
    let kind = if current.is_some() { "ixfr" } else { "axfr" };
    let id: u16 = rand::random();
    let request = message::transfer_request(
        &cfg.apex,
        id,
        current.and_then(|z| z.soa()),
        cfg.key.as_ref(),
        unix_now(),
    )?;
    let mut stream = tcp_connect(from, primary, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp_send(&mut stream, &request.bytes)
        .await
        .map_err(|e| format!("send: {e}"))?;
    // A whole zone goes straight into the zone being built, never into a list.
    let mut reader = Incoming::new(&cfg.apex, id, current.map(|z| z.serial()), request.sequence)
        .build_into(&cfg.origin, &cfg.file)
        .map_err(|e| e.to_string())?;
    let received = loop {
        let msg = tcp_read(&mut stream, MESSAGE_TIMEOUT)
            .await
            .map_err(|e| format!("{kind} broke off after {} messages: {e}", reader.messages()))?;
        match reader.feed(msg, unix_now()).map_err(|e| {
            count_transfer(&cfg.origin, "in", kind, e.reason());
            format!("{kind}: {e}")
        })? {
            Step::More => {}
            Step::Done(r) => break r,
        }
    };
    drop(stream);
    let bytes = reader.bytes();
    let (origin, file) = (cfg.origin.clone(), cfg.file.clone());
    let base = current.map(|z| z.serial());
    let zone = match received {
        Received::UpToDate { serial } => return Ok(Checked::Current(serial)),
        // (build_into above: a whole zone comes back as Built.)
        Received::Full { .. } => {
            return Err(format!("{kind}: internal error: the zone was read into a list"))
        }
        Received::Built { serial, builder } => {
            if base.is_some_and(|b| !newer(serial, b)) {
                return Err(format!("{kind}: serial {serial} is not newer than ours"));
            }
            // The checks and the compiled answers, on the blocking pool.
            tokio::task::spawn_blocking(move || builder.finish().map_err(|e| e.message))
                .await
                .map_err(|e| e.to_string())?
        }
        Received::Incremental { diffs, .. } => {
            let Some(cur) = current else {
                return Err("differences, but we hold no zone".into());
            };
            let cur = Arc::clone(cur);
            // Applied on the blocking pool: the new version is built from
            // every record of the old one.
            tokio::task::spawn_blocking(move || {
                let applied = incoming::apply(&cur, &diffs).map_err(|e| e.to_string())?;
                incoming::build(&origin, &file, applied.records(&cur)).map_err(|e| e.message)
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }
    .map_err(|e| format!("{kind}: the transferred zone is not valid: {e}"))?;
    Ok(Checked::New(Box::new(Landed {
        zone,
        kind,
        from: primary,
        bytes,
    })))
}
