//! Reading RFC 1035 master files: the one module that knows the `domain`
//! crate (NLnet Labs), whose scanner handles every master-file feature
//! (`$ORIGIN`, `$TTL`, `@`, blank owners, parentheses, quoted strings,
//! `\DDD`, RFC 3597 `\#` and `TYPEnnn`). `$INCLUDE` comes back from it as an
//! entry: this module opens the file (relative to the including file's
//! folder), at most [`MAX_INCLUDE_DEPTH`] deep.
//!
//! ```text
//!  file ─domain::zonefile──▶ entries ─▶ Record { owner, type, TTL, rdata (wire), file:line }
//!            │ $INCLUDE path [origin] ─▶ the same, recursively
//!            └ error ─▶ LoadError { file, line, message }
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use domain::base::iana::Class;
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use crate::LoadError;

/// How deep `$INCLUDE` may nest (a file including itself stops here).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file it came from (the zone file or one it includes).
    pub file: Arc<Path>,
    /// Its line (1-based; a record in parentheses: its first line).
    pub line: u32,
}

/// One resource record as written, in wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, uncompressed, in the file's spelling.
    pub owner: Vec<u8>,
    /// The record type.
    pub rtype: u16,
    /// The TTL in seconds.
    pub ttl: u32,
    /// The RDATA in wire form, names uncompressed and as written.
    pub rdata: Vec<u8>,
    /// Where it was written.
    pub place: Place,
}

/// Where records go as they are read (a zone being built, or a list).
pub trait Sink {
    /// Takes one record; an error stops the reading.
    /// (Borrowed: the reader reuses one record's buffers for the next.)
    fn record(&mut self, record: &Record) -> Result<(), LoadError>;
}

impl Sink for Vec<Record> {
    fn record(&mut self, record: &Record) -> Result<(), LoadError> {
        self.push(record.clone());
        Ok(())
    }
}

/// Reads `file` as the master file of zone `origin` (text form, with the
/// trailing dot), following `$INCLUDE`s, handing each record to `out`.
pub fn read(file: &Path, origin: &str, out: &mut dyn Sink) -> Result<(), LoadError> {
    let origin = Name::<Bytes>::from_str(origin).map_err(|e| LoadError {
        file: file.to_owned(),
        line: 0,
        message: format!("bad origin {origin}: {e}"),
    })?;
    read_into(file, origin, 0, out)
}

/// Reads master-file `text` (named `file` in errors) for zone `origin`,
/// without opening any other file: `$INCLUDE` is an error. For tests and fuzzing.
pub fn parse(text: &[u8], file: &Path, origin: &str, out: &mut dyn Sink) -> Result<(), LoadError> {
    let origin = Name::<Bytes>::from_str(origin).map_err(|e| LoadError {
        file: file.to_owned(),
        line: 0,
        message: format!("bad origin {origin}: {e}"),
    })?;
    scan(
        text.to_vec(),
        Arc::from(file),
        origin,
        out,
        &mut |_, _, place, _| Err(place.error("$INCLUDE is not allowed here")),
    )
}

impl Place {
    pub(crate) fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError {
            file: self.file.to_path_buf(),
            line: self.line,
            message: message.into(),
        }
    }
}

fn read_into(file: &Path, origin: Name<Bytes>, depth: usize, out: &mut dyn Sink) -> Result<(), LoadError> {
    let text = std::fs::read(file).map_err(|e| LoadError {
        file: file.to_owned(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let folder = file.parent().map(Path::to_owned).unwrap_or_default();
    scan(
        text,
        Arc::from(file),
        origin,
        out,
        &mut |path, origin, place, out| {
            if depth + 1 >= MAX_INCLUDE_DEPTH {
                return Err(place.error(format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep")));
            }
            let target: PathBuf = folder.join(path);
            read_into(&target, origin, depth + 1, out)
        },
    )
}

type Include<'a> = dyn FnMut(&str, Name<Bytes>, &Place, &mut dyn Sink) -> Result<(), LoadError> + 'a;

fn scan(
    text: Vec<u8>,
    file: Arc<Path>,
    origin: Name<Bytes>,
    out: &mut dyn Sink,
    include: &mut Include<'_>,
) -> Result<(), LoadError> {
    let entries = Entries::new(&text);
    let mut zf = Zonefile::from(&text[..]);
    // The scanner has its own copy: give this one back before the zone grows.
    drop(text);
    zf.set_origin(origin.clone());
    zf.set_default_class(Class::IN);
    // Entries handed out so far (records and includes; `$ORIGIN` and `$TTL`
    // are consumed inside the scanner).
    // One record's buffers, reused for every record of the file.
    let mut buffer = Record {
        owner: Vec::with_capacity(64),
        rtype: 0,
        ttl: 0,
        rdata: Vec::with_capacity(64),
        place: Place {
            file: Arc::clone(&file),
            line: 0,
        },
    };
    let mut handed = 0;
    loop {
        // domain 0.12.3's scanner can index past the end of a file that
        // ends inside parentheses (convert_charstr): a panic there is this
        // file's error, not the daemon's end.
        let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| zf.next_entry()));
        let Ok(scanned) = scanned else {
            return Err(LoadError {
                file: file.to_path_buf(),
                line: entries.nth_data(handed),
                message: "the scanner gave up on this entry (an unclosed parenthesis or quote?)".into(),
            });
        };
        let entry = scanned.map_err(|e| {
            // domain reports `line:column: message`, where it stopped.
            let shown = e.to_string();
            let mut parts = shown.splitn(3, ':');
            let line: u32 = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
            let col: u32 = parts.next().and_then(|c| c.trim().parse().ok()).unwrap_or(0);
            LoadError {
                file: file.to_path_buf(),
                line: entries.containing(line, col),
                message: parts.next().map_or(shown.clone(), |m| m.trim().to_owned()),
            }
        })?;
        let place = Place {
            file: Arc::clone(&file),
            line: entries.nth_data(handed),
        };
        handed += 1;
        match entry {
            None => return Ok(()),
            Some(Entry::Include { path, origin: inc }) => {
                let inc = inc.unwrap_or_else(|| zf.origin().unwrap_or_else(|_| origin.clone()));
                include(path.as_ref(), inc, &place, out)?;
            }
            Some(Entry::Record(r)) => {
                if r.class() != Class::IN {
                    return Err(place.error(format!("class {} is not served (only IN)", r.class())));
                }
                buffer.owner.clear();
                buffer.rdata.clear();
                let composed = r
                    .owner()
                    .compose(&mut buffer.owner)
                    .and_then(|()| r.data().compose_rdata(&mut buffer.rdata));
                if composed.is_err() || buffer.rdata.len() > usize::from(u16::MAX) {
                    return Err(place.error("record too long"));
                }
                buffer.rtype = r.rtype().to_int();
                buffer.ttl = r.ttl().as_secs();
                buffer.place = place;
                out.record(&buffer)?;
            }
        }
    }
}

/// Where each entry of a master file starts: a line, or lines joined by
/// parentheses, with quotes, escapes and comments taken into account. The
/// scanner does not say where a record began, so its k-th record is the
/// k-th entry here that is not a `$ORIGIN` or `$TTL` directive.
struct Entries {
    /// Start line of every entry, and whether it is `$ORIGIN`/`$TTL`.
    starts: Vec<(u32, bool)>,
    /// Start lines of the records and `$INCLUDE`s alone.
    data: Vec<u32>,
}

impl Entries {
    fn new(text: &[u8]) -> Self {
        let mut starts = Vec::new();
        let (mut line, mut i) = (1u32, 0usize);
        while i < text.len() {
            // At the start of a line, outside any entry.
            let rest = &text[i..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |p| i + p);
            let content = text[i..end].iter().position(|b| !b.is_ascii_whitespace());
            let Some(first) = content.map(|p| text[i + p]) else {
                line += 1;
                i = end + 1;
                continue;
            };
            if first == b';' {
                line += 1;
                i = end + 1;
                continue;
            }
            let word = &text[i + content.unwrap_or(0)..end];
            let directive = word.len() >= 4
                && (word[..4].eq_ignore_ascii_case(b"$TTL")
                    || word.len() >= 7 && word[..7].eq_ignore_ascii_case(b"$ORIGIN"));
            starts.push((line, directive));
            // Scan to the end of this entry.
            let (mut depth, mut quoted) = (0u32, false);
            while i < text.len() {
                match text[i] {
                    b'\\' => {
                        // An escaped newline still ends a line.
                        if text.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 1;
                    }
                    b'"' => quoted = !quoted,
                    b';' if !quoted => {
                        while i < text.len() && text[i] != b'\n' {
                            i += 1;
                        }
                        continue;
                    }
                    b'(' if !quoted => depth += 1,
                    b')' if !quoted => depth = depth.saturating_sub(1),
                    b'\n' => {
                        line += 1;
                        if depth == 0 && !quoted {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        let data = starts.iter().filter(|(_, d)| !d).map(|&(l, _)| l).collect();
        Entries { starts, data }
    }

    /// The start line of the `n`-th entry that is a record or `$INCLUDE`.
    fn nth_data(&self, n: usize) -> u32 {
        self.data.get(n).copied().unwrap_or(0)
    }

    /// The start line of the entry the scanner stopped in at `line:col`
    /// (column 1: it had just passed the newline ending the entry before).
    fn containing(&self, line: u32, col: u32) -> u32 {
        let at = if col <= 1 { line.saturating_sub(1) } else { line };
        self.starts
            .iter()
            .rev()
            .find(|&&(start, _)| start <= at)
            .map_or(line, |&(start, _)| start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Record> {
        let mut out = Vec::new();
        parse(text.as_bytes(), Path::new("t.zone"), "example.test.", &mut out).expect("parses");
        out
    }

    fn err(text: &str) -> LoadError {
        parse(
            text.as_bytes(),
            Path::new("t.zone"),
            "example.test.",
            &mut Vec::new(),
        )
        .expect_err("refused")
    }

    #[test]
    fn reads_every_master_file_feature() {
        let r = records(concat!(
            "$TTL 300\n",
            "@ IN SOA ns1 hostmaster ( 1 7200 ; refresh\n",
            "   3600 1209600 60 )\n",
            "   IN NS ns1\n",
            "ns1 A 192.0.2.1\n",
            "txt 60 IN TXT \"a (b\" \"c;d\" ( \"e\"\n",
            "  \"f\" )\n",
            "esc\\065 IN 77 A 192.0.2.2\n",
            "unk TYPE65534 \\# 3 010203\n",
            "unk2 CLASS1 TYPE1 \\# 4 c0000201\n",
            "$ORIGIN sub\n",
            "x A 192.0.2.5\n",
        ));
        let lines: Vec<u32> = r.iter().map(|r| r.place.line).collect();
        assert_eq!(lines, [2, 4, 5, 6, 8, 9, 10, 12]);
        assert_eq!(r[0].rtype, 6);
        assert_eq!(&r[0].rdata[r[0].rdata.len() - 4..], &60u32.to_be_bytes());
        assert_eq!(r[3].rdata, b"\x04a (b\x03c;d\x01e\x01f");
        assert_eq!(r[3].ttl, 60);
        assert_eq!(r[4].owner, b"\x04escA\x07example\x04test\x00");
        assert_eq!((r[4].ttl, r[4].rdata.as_slice()), (77, &[192, 0, 2, 2][..]));
        assert_eq!((r[5].rtype, r[5].rdata.as_slice()), (65534, &[1, 2, 3][..]));
        assert_eq!((r[6].rtype, r[6].rdata.as_slice()), (1, &[192, 0, 2, 1][..]));
        assert_eq!(r[7].owner, b"\x01x\x03sub\x07example\x04test\x00");
    }

    /// Every type the issue lists, DNSSEC ones as data, with `\X` escapes.
    #[test]
    fn reads_the_usual_types() {
        let r = records(concat!(
            "$TTL 60\n",
            "a A 192.0.2.1\naaaa AAAA 2001:db8::1\nns NS ns1\nc CNAME a\nd DNAME b.test.\n",
            "mx MX 10 a\ntxt TXT \"x\"\nsrv SRV 0 5 80 a\nptr PTR a\ncaa CAA 0 issue \"ca.test\"\n",
            "naptr NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp\n",
            "sshfp SSHFP 1 1 123456789abcdef67890123456789abcdef67890\n",
            "tlsa TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
            "h HTTPS 1 . alpn=h2,h3 port=8443\ns SVCB 1 a.example.test. ipv4hint=192.0.2.1\n",
            "ds DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB\n",
            "k DNSKEY 257 3 8 AwEAAag=\n",
            "r RRSIG A 8 3 300 20300101000000 20200101000000 12345 example.test. AAAA\n",
            "n NSEC a.example.test. A RRSIG NSEC\n",
            "esc\\.dot A 192.0.2.3\n",
        ));
        let types: Vec<u16> = r.iter().map(|r| r.rtype).collect();
        assert_eq!(
            types,
            [1, 28, 2, 5, 39, 15, 16, 33, 12, 257, 35, 44, 52, 65, 64, 43, 48, 46, 47, 1]
        );
        assert_eq!(
            r[19].owner[..8],
            *b"\x07esc.dot",
            "an escaped dot stays in its label"
        );
    }

    /// domain 0.12.3 panics on this (a parenthesis left open at the end of
    /// the file); we report it as the file's error instead.
    #[test]
    fn an_entry_left_open_at_the_end_is_an_error_not_a_panic() {
        let e = err("@ IN SOA ns1 hostmaster 7 7200 3600 1209600 60\n*.w( TXT \"wild\" \"two\"");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("unclosed"), "{e}");
    }

    /// A backslash before a newline (inside a quoted string) still ends a
    /// line: the entries after it keep their line numbers.
    #[test]
    fn an_escaped_newline_is_still_a_line() {
        let e = Entries::new(b"a TXT \"one\\\ntwo\"\nb A 192.0.2.1\n\nc A 192.0.2.2\n");
        assert_eq!(e.data, [1, 3, 5]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\nbad A 300.1.1.1\n");
        assert_eq!((e.line, e.file.as_path()), (3, Path::new("t.zone")), "{e}");
        let e = err("$TTL 300\n@ CH TXT \"x\"\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("palanquin-src-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inc")).expect("dir");
        std::fs::write(
            dir.join("main.zone"),
            "$TTL 60\n@ NS ns\n$INCLUDE inc/a.zone sub\nafter A 192.0.2.9\n",
        )
        .expect("write");
        std::fs::write(dir.join("inc/a.zone"), "\nx A 192.0.2.1\n").expect("write");
        std::fs::write(dir.join("loop.zone"), "$INCLUDE loop.zone\n").expect("write");
        let mut r = Vec::new();
        read(&dir.join("main.zone"), "example.test.", &mut r).expect("reads");
        let owners: Vec<_> = r.iter().map(|r| (r.owner.clone(), r.place.line)).collect();
        assert_eq!(owners[1], (b"\x01x\x03sub\x07example\x04test\x00".to_vec(), 2));
        assert!(r[1].place.file.ends_with("inc/a.zone"));
        assert_eq!(owners[2].0, b"\x05after\x07example\x04test\x00");
        let e = read(&dir.join("loop.zone"), "example.test.", &mut Vec::new()).expect_err("loops");
        assert!(e.message.contains("nested"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
