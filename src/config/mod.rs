//! The TOML configuration: the file format (`file.rs`), its checks and the
//! typed settings the daemon runs on (`settings.rs`), errors that name the
//! file, line and key (`error.rs`), durations (`duration.rs`).
//!
//! ```text
//!  text ──toml + serde(deny_unknown_fields)──▶ file::Config (spans kept)
//!       ──settings::Settings::from_file──▶ typed, validated, paths resolved
//!  any failure ──▶ ConfigError { file, line, column, key, message }
//!  accepted but doubtful ──▶ Settings.warnings: ConfigWarning { file, line, message }
//! ```

pub(crate) mod addr;
mod duration;
mod error;
mod file;
mod settings;

pub(crate) use error::ConfigError;
pub(crate) use settings::{is_own_listener, Settings};

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

/// Reads, parses and validates a configuration file; warnings are left in
/// [`Settings::warnings`].
pub(crate) fn read(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    parse(path, &text)
}

/// Parses and validates `text`, naming `path` in errors.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
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
    let raw: file::Config = toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
    Settings::from_file(raw, path, text)
}
