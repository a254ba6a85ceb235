//! Domain names in wire form: reading a possibly compressed name, and the
//! relations the scrubber and the router need (equal, below).
//!
//! A name is kept as uncompressed wire bytes (`\x03www\x07example\x00`),
//! in the case it arrived in; comparisons fold ASCII case (RFC 4343).

use crate::message::{Malformed, HEADER};

/// Longest name in wire form (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;

/// Reads the name at `at`, following compression pointers (which must
/// point backwards, so a loop is impossible). Returns the name uncompressed,
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

/// The name one label up (`www.example.` → `example.`); the root stays root.
pub fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&len) if len > 0 && name.len() > 1 + usize::from(len) => &name[1 + usize::from(len)..],
        _ => name.get(name.len().saturating_sub(1)..).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn relations() {
        let www = b"\x03www\x07example\x04test\x00";
        assert!(is_below_or_at(www, b"\x07EXAMPLE\x04test\x00"));
        assert!(is_below_or_at(www, b"\x00"));
        assert!(is_below_or_at(www, www));
        assert!(!is_below_or_at(www, b"\x03ple\x04test\x00"));
        assert!(!is_below_or_at(b"\x04test\x00", www));
        assert_eq!(parent(www), b"\x07example\x04test\x00");
        assert_eq!(parent(b"\x04test\x00"), b"\x00");
        assert_eq!(parent(b"\x00"), b"\x00");
    }
}
