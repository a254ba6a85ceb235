//! Domain names in wire form: reading a possibly compressed name, and the
//! relations the scrubber and the router need (equal, below).
//!
//! A name is kept as uncompressed wire bytes (`\x03www\x07example\x00`),
//! in the case it arrived in; comparisons fold ASCII case (RFC 4343).

use crate::message::{Malformed, HEADER};

/// Longest name in wire form (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;

/// Reads the name at `at`, following compression pointers (which must
/// point backwards; a run of labels could still revisit bytes, and the
/// 255-byte bound ends it). Returns the name uncompressed,
/// in its own case, and the offset after it where it was read.
pub fn read_name(buf: &[u8], at: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut name = Vec::with_capacity(32);
    let mut pos = at;
    let mut end = None;
    // Every pointer moves strictly backwards, so at most `pos` of them.
    loop {
        let len = *buf.get(pos).ok_or(Malformed::Short)?;
        match len {
            0 => {
                name.push(0);
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let b = *buf.get(pos + 1).ok_or(Malformed::Short)?;
                let target = (usize::from(l & 0x3f) << 8) | usize::from(b);
                if target >= pos || target < HEADER {
                    return Err(Malformed::BadName);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            l if l > 63 => return Err(Malformed::BadName),
            l => {
                let label = buf
                    .get(pos + 1..pos + 1 + usize::from(l))
                    .ok_or(Malformed::Short)?;
                if name.len() + 1 + label.len() + 1 > MAX_NAME {
                    return Err(Malformed::BadName);
                }
                name.push(l);
                name.extend_from_slice(label);
                pos += 1 + usize::from(l);
            }
        }
    }
}

/// Follows compression pointers from `pos` to the next label's length byte.
fn resolve_pointer(buf: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    loop {
        let len = *buf.get(pos).ok_or(Malformed::Short)?;
        if len & 0xc0 != 0xc0 {
            return if len > 63 {
                Err(Malformed::BadName)
            } else {
                Ok(pos)
            };
        }
        let b = *buf.get(pos + 1).ok_or(Malformed::Short)?;
        let target = (usize::from(len & 0x3f) << 8) | usize::from(b);
        if target >= pos || target < HEADER {
            return Err(Malformed::BadName);
        }
        pos = target;
    }
}

/// Whether the name at `at` in `buf` (possibly compressed) is `name`
/// (uncompressed), ASCII case folded. No allocation.
pub fn name_at_eq(buf: &[u8], at: usize, name: &[u8]) -> Result<bool, Malformed> {
    let (mut pos, mut i) = (at, 0usize);
    loop {
        pos = resolve_pointer(buf, pos)?;
        let len = usize::from(buf[pos]);
        let ours = buf.get(pos..pos + 1 + len).ok_or(Malformed::Short)?;
        match name.get(i..i + 1 + len) {
            Some(theirs) if ours.eq_ignore_ascii_case(theirs) => {}
            _ => return Ok(false),
        }
        i += 1 + len;
        if len == 0 {
            return Ok(i == name.len());
        }
        if i > MAX_NAME {
            return Err(Malformed::BadName);
        }
        pos += 1 + len;
    }
}

/// Whether two wire names are the same name (ASCII case folded; label
/// lengths are below 64, so folding leaves them alone).
pub fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether wire name `name` equals `zone` or lies below it (case folded).
pub fn is_below_or_at(name: &[u8], zone: &[u8]) -> bool {
    let mut at = 0;
    loop {
        if name.len() - at == zone.len() && same_name(&name[at..], zone) {
            return true;
        }
        match name.get(at) {
            Some(&0) | None => return false,
            Some(&len) => at += 1 + usize::from(len),
        }
        if at >= name.len() {
            return false;
        }
    }
}

/// Why configuration text is not a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameTextError {
    /// An empty label, one over 63 bytes, or a byte outside letters,
    /// digits, `-` and `_`.
    #[error("{0:?} is not a domain name")]
    Label(String),
    /// Over 255 bytes in wire form.
    #[error("{0:?} is longer than 255 bytes")]
    TooLong(String),
}

/// A domain name from configuration text (`corp.example.`, the trailing dot
/// optional, `.` the root) as lower-cased wire labels. Only letters, digits,
/// `-` and `_`: names in a configuration are zones, not arbitrary data.
pub fn from_text(text: &str) -> Result<Vec<u8>, NameTextError> {
    let t = text.trim().trim_end_matches('.');
    let mut out = Vec::with_capacity(t.len() + 2);
    if !t.is_empty() {
        for label in t.split('.') {
            let fine = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !fine {
                return Err(NameTextError::Label(text.to_owned()));
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > MAX_NAME {
        return Err(NameTextError::TooLong(text.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_configuration_text() {
        assert_eq!(
            from_text("Corp.Example."),
            Ok(b"\x04corp\x07example\x00".to_vec())
        );
        assert_eq!(from_text("corp.example"), Ok(b"\x04corp\x07example\x00".to_vec()));
        assert_eq!(from_text("."), Ok(b"\x00".to_vec()));
        assert!(matches!(from_text("bad..name"), Err(NameTextError::Label(_))));
        assert!(matches!(
            from_text("sp ace.example"),
            Err(NameTextError::Label(_))
        ));
        let long = format!("{}.", vec!["a".repeat(63); 4].join("."));
        assert!(matches!(from_text(&long), Err(NameTextError::TooLong(_))));
    }

    #[test]
    fn reads_compressed_names_and_refuses_loops() {
        let mut m = vec![0u8; HEADER];
        m.extend_from_slice(b"\x07Example\x04test\x00"); // at 12
        m.extend_from_slice(b"\x03www\xc0\x0c"); // at 26: www + pointer to 12
        let (name, end) = read_name(&m, 26).expect("name");
        assert_eq!(name, b"\x03www\x07Example\x04test\x00");
        assert_eq!(end, m.len());
        assert!(same_name(&name, b"\x03WWW\x07example\x04TEST\x00"));
        // A pointer to itself, or forwards, or into the header.
        let mut looped = vec![0u8; HEADER];
        looped.extend_from_slice(b"\xc0\x0c");
        assert_eq!(read_name(&looped, 12), Err(Malformed::BadName));
        let mut header = vec![0u8; HEADER];
        header.extend_from_slice(b"\xc0\x02");
        assert_eq!(read_name(&header, 12), Err(Malformed::BadName));
        for n in 0..m.len() {
            let _ = read_name(&m[..n], 26.min(n));
        }
    }

    #[test]
    fn in_place_comparisons_follow_pointers() {
        let mut m = vec![0u8; HEADER];
        m.extend_from_slice(b"\x07Example\x04test\x00"); // at 12
        m.extend_from_slice(b"\x03www\xc0\x0c"); // at 26
        let www = b"\x03WWW\x07example\x04test\x00";
        assert_eq!(name_at_eq(&m, 26, www), Ok(true));
        assert_eq!(name_at_eq(&m, 12, www), Ok(false));
        let mut looped = vec![0u8; HEADER];
        looped.extend_from_slice(b"\xc0\x0c");
        assert!(name_at_eq(&looped, 12, b"\x00").is_err());
    }

    #[test]
    fn relations() {
        let www = b"\x03www\x07example\x04test\x00";
        assert!(is_below_or_at(www, b"\x07EXAMPLE\x04test\x00"));
        assert!(is_below_or_at(www, b"\x00"));
        assert!(is_below_or_at(www, www));
        assert!(!is_below_or_at(www, b"\x03ple\x04test\x00"));
        assert!(!is_below_or_at(b"\x04test\x00", www));
    }
}
