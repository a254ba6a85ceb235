//! The authoritative side of Palanquin: zones from RFC 1035 master files,
//! answered as RFC 1034 §4.3.2 and its updates say (CNAME chains, DNAME
//! synthesis, wildcards with empty non-terminals, referrals with glue,
//! additional addresses, minimal ANY), from answers compiled at load time.
//!
//! ```text
//!  master file ─source.rs (domain's scanner)─▶ [Record]
//!       ─zone.rs + check.rs─▶ Zone (names → RRsets) ─compiled.rs─▶ answers per name and type
//!                                   (template.rs: per-zone tail and negative answer;
//!                                    shortcuts.rs: what needs no rendering)
//!  Zones (zones.rs): find the zone of a name; answer a query:
//!       compiled answer that fits ─▶ copy, patch ID/flags/OPT
//!       otherwise ─▶ lookup.rs (Plan: what goes where) ─▶ render.rs (bytes, compression, TC)
//! ```
//!
//! Apart from the pool checks (`pool/probe.rs`, which connect, ask and run
//! commands within their timeouts), the crate reads no clock and opens no
//! socket; it opens files only to load a zone. The daemon's router decides which queries come here, and
//! swaps in a new [`Zones`] on reload. DNSSEC signing and validation are
//! out of scope: signed zones' records are served as data.

mod check;
mod compiled;
mod lookup;
pub mod metrics;
pub mod pool;
mod render;
mod shortcuts;
pub mod source;
mod template;
pub mod transfer;
mod zone;
mod zones;

use std::path::{Path, PathBuf};

pub use zone::{RecordRef, Records, Zone, ZoneBuilder};
pub use zones::{Context, Zones};

/// Why a zone could not be loaded: the file, the line (0: the file as a
/// whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct LoadError {
    /// The zone file, or the file it includes, at fault.
    pub file: PathBuf,
    /// The line (1-based), or 0 when the whole file is at fault.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// Loads zone `origin` (text, trailing dot) from master file `file`.
pub fn load(origin: &str, file: &Path) -> Result<Zone, LoadError> {
    let mut zone = ZoneBuilder::new(origin, file)?;
    source::read(file, origin, &mut zone)?;
    zone.finish()
}

/// Builds zone `origin` from master-file `text` (no `$INCLUDE`), naming
/// `file` in errors: for tests and fuzzing.
pub fn parse(origin: &str, file: &Path, text: &[u8]) -> Result<Zone, LoadError> {
    let mut zone = ZoneBuilder::new(origin, file)?;
    source::parse(text, file, origin, &mut zone)?;
    zone.finish()
}

#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;
