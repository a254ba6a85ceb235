//! A configuration error names the file, the line and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// What is wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {key}: {message}", file.display())]
pub(crate) struct ConfigError {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// Dotted key path, like `resolver.serve_stale` (or `-` when unknown).
    pub(crate) key: String,
    pub(crate) message: String,
}

impl ConfigError {
    /// The file cannot be read.
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            key: "-".into(),
            message: e.to_string(),
        }
    }

    /// An error at byte `span` of `text`; the key is given.
    pub(crate) fn at(
        path: &Path,
        text: &str,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(text, span.start);
        ConfigError {
            file: path.to_owned(),
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A TOML or serde error: the key is worked out from the text around it.
    pub(crate) fn from_toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let span = e.span().unwrap_or(0..0);
        let key = key_at(text, span.start);
        let message = e.message().trim().to_owned();
        Self::at(path, text, span, &key, message)
    }
}

/// The largest char boundary at or below `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// 1-based line and column of byte `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..boundary(text, at)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key at byte `at`: the nearest `[table]` above plus the key on
/// that line (the text before `=`).
pub(crate) fn key_at(text: &str, at: usize) -> String {
    let at = boundary(text, at);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[line_start..line_end].trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned());
    match (line.starts_with('['), table, key) {
        (true, _, _) => line.trim_matches(|c| c == '[' || c == ']').trim().to_owned(),
        (false, Some(t), Some(k)) => format!("{t}.{k}"),
        (false, None, Some(k)) => k,
        (false, Some(t), None) => t,
        (false, None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_positions() {
        let text = "[server]\nlisten = [\"x\"]\n\n[resolver]\nserve_stale = \"1 week\"\n";
        let at = text.find("\"1 week\"").expect("present");
        assert_eq!(key_at(text, at), "resolver.serve_stale");
        assert_eq!(line_col(text, at), (5, 15));
        assert_eq!(key_at(text, 0), "server");
        let e = ConfigError::at(
            Path::new("/etc/p.toml"),
            text,
            at..at + 3,
            "resolver.serve_stale",
            "bad",
        );
        assert_eq!(e.to_string(), "/etc/p.toml:5:15: resolver.serve_stale: bad");
    }
}
