//! A configuration error names the file, the line and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// What is wrong with a configuration, and where: `file:line:column: key:
/// message`, or `file: message` when there is no line (an unreadable file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub(crate) struct ConfigError {
    pub(crate) file: PathBuf,
    /// 1-based; 0 when the error concerns the whole file.
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// Dotted key path, like `resolver.serve_stale` (or `-` when unknown).
    pub(crate) key: String,
    pub(crate) message: String,
}

/// Something accepted but probably not meant: `file:line: warning: message`.
/// The file may be the configuration or one it names (a resolv.conf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigWarning {
    pub(crate) file: PathBuf,
    /// 1-based line in `file`.
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

impl ConfigError {
    fn render(&self) -> String {
        match self.line {
            0 => format!("{}: {}", self.file.display(), self.message),
            line => format!(
                "{}:{line}:{}: {}: {}",
                self.file.display(),
                self.column,
                self.key,
                self.message
            ),
        }
    }

    /// The file cannot be read.
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            key: "-".into(),
            message: format!("cannot read the configuration: {e}"),
        }
    }

    /// The file holds no settings at all (empty, or only blanks and comments).
    pub(crate) fn empty(path: &Path) -> Self {
        ConfigError {
            file: path.to_owned(),
            line: 1,
            column: 1,
            key: "server".into(),
            message: "the file is empty; a configuration needs at least [server] listen = [\"ADDR:PORT\"]"
                .into(),
        }
    }

    /// A TOML syntax error. The parser notices an unclosed array or string
    /// only where the next line starts (`[resolver]`, `key =`, or the end
    /// of the file): the error is then put at the end of the last line with
    /// content before it, where the fault is.
    pub(crate) fn from_syntax(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let span = e.span().unwrap_or(0..0);
        let at = boundary(text, span.start);
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let rest = text[at..].lines().next().unwrap_or("").trim();
        let starts_a_line = text[line_start..at].trim().is_empty();
        let next_item = rest.is_empty()
            || rest.starts_with('[')
            || rest.split_once('=').is_some_and(|(k, _)| !k.trim().is_empty());
        let at = if e.message().contains("expected") && starts_a_line && next_item {
            last_content_before(text, line_start).unwrap_or(at)
        } else {
            at
        };
        let key = key_at(text, at);
        Self::at(path, text, at..at, &key, e.message().trim().to_owned())
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

/// The byte just after the last character that is not blank or in a comment,
/// before `end`.
fn last_content_before(text: &str, end: usize) -> Option<usize> {
    let mut line_end = end;
    loop {
        let before = text
            .get(..line_end)?
            .strip_suffix('\n')
            .unwrap_or(&text[..line_end]);
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = &before[start..];
        let content = line.trim_end();
        if !content.is_empty() && !content.trim_start().starts_with('#') {
            return Some(start + content.len());
        }
        if start == 0 {
            return None;
        }
        line_end = start;
    }
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

    fn syntax(text: &str) -> ConfigError {
        let e = text.parse::<toml::Table>().expect_err("syntax error");
        ConfigError::from_syntax(Path::new("p.toml"), text, &e)
    }

    #[test]
    fn a_syntax_error_is_placed_where_the_fault_is_not_at_the_next_key() {
        // An unclosed array is noticed at the next table, two lines on.
        let e = syntax("[server]\nlisten = [\"127.0.0.1:53\"\n# comment\n\n[resolver]\nx = 1\n");
        assert_eq!((e.line, e.key.as_str()), (2, "server.listen"), "{e}");
        // ... or at the end of the file.
        let e = syntax("[server]\nlisten = [\"127.0.0.1:53\"\n");
        assert_eq!((e.line, e.key.as_str()), (2, "server.listen"), "{e}");
        let e = syntax("[server]\nlisten = [\"a\"]\nx = \"\"\"open\n\n");
        assert_eq!((e.line, e.key.as_str()), (3, "server.x"), "{e}");
        // An error on its own line stays there.
        let e = syntax("[server]\nlisten = [\"a\"]\nudp_workers = 2 3\n");
        assert_eq!((e.line, e.key.as_str()), (3, "server.udp_workers"), "{e}");
        let e = syntax("[server]\nlisten = [\"a\"]\nlisten = 2\n");
        assert_eq!((e.line, e.key.as_str()), (3, "server.listen"), "{e}");
    }

    #[test]
    fn whole_file_errors_have_no_line() {
        let e = ConfigError::io(
            Path::new("/nope.toml"),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(
            e.to_string()
                .starts_with("/nope.toml: cannot read the configuration: "),
            "{e}"
        );
        assert_eq!(
            ConfigError::empty(Path::new("e.toml")).to_string(),
            "e.toml:1:1: server: the file is empty; a configuration needs at least [server] listen = [\"ADDR:PORT\"]"
        );
    }
}
