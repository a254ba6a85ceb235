//! Loading the configured zones: at start (any bad zone stops the start,
//! as `check-config` would), and on reload, where a zone that fails to
//! load keeps its old version in service.
//!
//! ```text
//!  [[zone]] (config) ─palanquin_authoritative::load─▶ Zone ─▶ Zones (router)
//!  reload: bad file ─▶ log file:line, the old Zone stays; same serial,
//!          other data ─▶ warning (secondaries would not see the change)
//!  secondary: the saved copy at start (none: a SERVFAIL stand-in); on
//!          reload, what it holds (replication/secondary.rs refreshes it)
//! ```

use std::sync::Arc;

use palanquin_authoritative::{LoadError, Zone, Zones};

use crate::config::ZoneConfig;

/// A zone that could not be loaded, with the configuration entry naming it.
#[derive(Debug, thiserror::Error)]
#[error("{error} (zone {origin}, {}:{line}: zone.file)", config.display())]
pub(crate) struct ZoneError {
    pub(crate) error: LoadError,
    pub(crate) origin: String,
    pub(crate) config: std::path::PathBuf,
    pub(crate) line: usize,
}

fn load(cfg: &ZoneConfig) -> Result<Zone, ZoneError> {
    if cfg.is_secondary() {
        return Ok(load_saved(cfg));
    }
    palanquin_authoritative::load(&cfg.origin, &cfg.file).map_err(|error| ZoneError {
        error,
        origin: cfg.origin.clone(),
        config: cfg.config.clone(),
        line: cfg.line,
    })
}

/// A secondary's saved copy, so a restart serves at once even while the
/// primaries are down; with none (or one that does not load), a stand-in
/// that answers SERVFAIL until the first transfer.
fn load_saved(cfg: &ZoneConfig) -> Zone {
    if cfg.file.exists() {
        match palanquin_authoritative::load(&cfg.origin, &cfg.file) {
            // A copy older than its EXPIRE is not served, not even until
            // the refresh task's first look (RFC 1035 §4.3.5).
            Ok(zone) if saved_copy_expired(cfg, &zone) => {
                tracing::warn!(zone = cfg.origin, file = %cfg.file.display(), "the saved copy is older than its SOA expire; waiting for a transfer");
            }
            Ok(zone) => return zone,
            Err(e) => {
                tracing::warn!(zone = cfg.origin, error = %e, "the saved copy of this secondary zone does not load; waiting for a transfer")
            }
        }
    }
    Zone::unavailable(&cfg.origin, &cfg.apex)
}

/// Whether the saved copy of `zone` was last confirmed (its file's time)
/// longer ago than its SOA EXPIRE.
fn saved_copy_expired(cfg: &ZoneConfig, zone: &Zone) -> bool {
    let expire = zone
        .soa()
        .and_then(|s| palanquin_authoritative::transfer::timers::SoaTimers::from_soa(s.rdata))
        .map(|t| t.expire);
    let age = std::fs::metadata(&cfg.file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok());
    matches!((expire, age), (Some(e), Some(a)) if a >= e)
}

/// Loads every zone; the first that fails stops it.
pub(crate) fn load_all(cfgs: &[ZoneConfig]) -> Result<Vec<Arc<Zone>>, ZoneError> {
    cfgs.iter().map(|c| load(c).map(Arc::new)).collect()
}

/// Loads the zones of a new configuration. A zone that fails keeps the
/// version `old` serves (or is left out if it is new); each failure is
/// returned to be logged and counted.
/// Also the apexes whose data changed under the same serial (their IXFR
/// journal no longer leads to what is served).
pub(crate) fn reload(cfgs: &[ZoneConfig], old: &Zones) -> (Vec<Arc<Zone>>, Vec<ZoneError>, Vec<Vec<u8>>) {
    let mut zones = Vec::with_capacity(cfgs.len());
    let mut errors = Vec::new();
    let mut stale = Vec::new();
    for cfg in cfgs {
        let before = old.get(&cfg.apex);
        // A secondary keeps what it transferred; its task refreshes it.
        if let (true, Some(before)) = (cfg.is_secondary(), before) {
            zones.push(Arc::clone(before));
            continue;
        }
        match load(cfg) {
            Ok(zone) => {
                if before.is_some_and(|b| !warn_on_serial(b, &zone)) {
                    stale.push(cfg.apex.clone());
                }
                zones.push(Arc::new(zone));
            }
            Err(e) => {
                if let Some(before) = before {
                    zones.push(Arc::clone(before));
                }
                errors.push(e);
            }
        }
    }
    (zones, errors, stale)
}

/// Secondaries fetch a zone only when its serial grows (RFC 1982 order).
/// False when the data changed under the same serial.
fn warn_on_serial(before: &Zone, after: &Zone) -> bool {
    let (old, new) = (before.serial(), after.serial());
    if old == new && !before.same_data(after) {
        tracing::warn!(
            zone = after.name(),
            serial = new,
            "zone data changed but its SOA serial did not: secondaries will not pick up the change"
        );
        return false;
    } else if old != new && new.wrapping_sub(old) > 1 << 31 {
        tracing::warn!(
            zone = after.name(),
            old,
            new,
            "zone SOA serial went backwards: secondaries will not pick up the change"
        );
    }
    true
}
