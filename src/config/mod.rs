//! The TOML configuration: the file format (`file.rs`), its checks and the
//! typed settings the daemon runs on (`settings.rs`; `[resolver]` in
//! `resolver.rs`), errors that name the
//! file, line and key (`error.rs`), durations (`duration.rs`), and what the
//! checks need to know about the host (`host.rs`).
//!
//! Validation is pure: [`parse`] takes the file's text and a [`Host`], and
//! [`read`] (for `check-config`, `serve`, a reload, `status`) does the I/O:
//! the configuration file, the files it names, the host's addresses.
//!
//! ```text
//!  text ──toml + serde(deny_unknown_fields)──▶ file::Config (spans kept)
//!       ──settings::Settings::from_file(.., &Host)──▶ typed, validated, paths resolved
//!  any failure ──▶ ConfigError { file, line, column, key, message }
//!  accepted but doubtful ──▶ Settings.warnings: ConfigWarning { file, line, message }
//! ```

pub(crate) mod addr;
mod duration;
mod error;
mod file;
mod host;
pub(crate) mod pool;
mod resolver;
mod settings;
pub(crate) mod vrrp;
mod zone;

pub(crate) use error::ConfigError;
pub(crate) use host::{addresses as host_addresses, Host};
pub(crate) use settings::{is_own_listener, Settings};
pub(crate) use zone::ZoneConfig;

use std::path::Path;

/// Reads, parses and validates a configuration file, and logs its warnings
/// (for `serve` and a reload; `check-config` prints them, see [`read`]).
pub(crate) fn load(path: &Path) -> Result<Settings, ConfigError> {
    let settings = read(path)?;
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    Ok(settings)
}

/// Reads a configuration file, the files it names and what validation needs
/// to know about this host, then validates; warnings are left in
/// [`Settings::warnings`].
pub(crate) fn read(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    let raw = syntax(path, &text)?;
    let host = Host::gather(settings::files_named(&raw, path).iter().map(|p| p.as_path()));
    Settings::from_file(raw, path, &text, &host)
}

/// `[control].socket` of the file at `path` (resolved against its folder),
/// read without validating the rest: `palanquin pool` needs nothing else,
/// and neither the secrets the file names nor an edit the daemon has not
/// taken yet should keep an operator from reaching the running daemon.
pub(crate) fn control_socket(path: &Path) -> Result<Option<std::path::PathBuf>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    // The file's shape only (TOML, known keys): no values checked, no file read.
    let raw = syntax(path, &text)?;
    Ok(raw
        .control
        .map(|c| c.socket.into_inner())
        .filter(|s| !s.trim().is_empty())
        .map(|s| settings::resolve_path(path, &s)))
}

/// Parses and validates `text`, naming `path` in errors. Pure: the host's
/// addresses and the files the configuration names come from `host`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn parse(path: &Path, text: &str, host: &Host) -> Result<Settings, ConfigError> {
    Settings::from_file(syntax(path, text)?, path, text, host)
}

/// The file as written: not blank, TOML, only known keys.
fn syntax(path: &Path, text: &str) -> Result<file::Config, ConfigError> {
    let blank = text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#'));
    if blank {
        return Err(ConfigError::empty(path));
    }
    // Syntax first, on its own, so that its errors can be placed where the
    // fault is (see `ConfigError::from_syntax`).
    if let Err(e) = text.parse::<toml::Table>() {
        return Err(ConfigError::from_syntax(path, text, &e));
    }
    toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))
}
