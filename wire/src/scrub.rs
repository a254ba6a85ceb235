//! Scrubbing an upstream answer before it is cached or passed on: records
//! that do not belong to the question are dropped, so an upstream (or a
//! forger who got past the ID and port checks) cannot plant
//! `www.bank.test A 6.6.6.6` in the cache beside an answer for
//! `a.example.test`.
//!
//! ```text
//!  answer      the question's chain: records owned by QNAME, then by each
//!              CNAME target in turn (a DNAME above a chain name is kept, and
//!              the CNAME it synthesises carries the chain on); the type asked
//!              for, CNAME, DNAME and their RRSIGs
//!  authority   SOA / NS / DS at or above a chain name (the zone's own), and
//!              NSEC / NSEC3 / RRSIG inside that zone
//!  additional  A / AAAA (+ RRSIG) of names the kept NS, MX and SRV records
//!              point to; OPT
//! ```
//!
//! Nothing dropped: the bytes are returned as they are. Something dropped:
//! the message is rebuilt without compression (a kept record may point into
//! a dropped one), names decompressed in the RDATA of the types that RFC 1035
//! lets compress, other RDATA copied as it is (RFC 3597 §4 forbids
//! compression in any newer type).

use std::borrow::Cow;

use crate::message::{layout, Malformed, RrPos, HEADER, TYPE_CNAME, TYPE_OPT, TYPE_SOA};
use crate::name::{below_or_at_name_at, name_at_below_or_at, name_at_eq, parent, read_name, same_name};

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_MD: u16 = 3;
const TYPE_MF: u16 = 4;
const TYPE_MB: u16 = 7;
const TYPE_MG: u16 = 8;
const TYPE_MR: u16 = 9;
const TYPE_PTR: u16 = 12;
const TYPE_MINFO: u16 = 14;
const TYPE_MX: u16 = 15;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_DNAME: u16 = 39;
const TYPE_DS: u16 = 43;
const TYPE_RRSIG: u16 = 46;
const TYPE_NSEC: u16 = 47;
const TYPE_NSEC3: u16 = 50;
const QTYPE_ANY: u16 = 255;

/// A scrubbed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed<'a> {
    /// The message to keep.
    pub wire: Cow<'a, [u8]>,
    /// Records dropped from the answer, authority and additional sections.
    pub dropped: [usize; 3],
}

/// Scrubs `buf`, an answer already checked to carry the question
/// (`qname`, `qtype`). Names are compared where they lie in `buf`; nothing
/// is allocated unless a CNAME extends the chain or a record is dropped.
pub fn scrub<'a>(buf: &'a [u8], qname: &[u8], qtype: u16) -> Result<Scrubbed<'a>, Malformed> {
    let l = layout(buf)?;
    let (answers, authority, additional) = (&l.answers, &l.authority, &l.additional);
    // The common answer: records of the type asked, each owned by a pointer
    // to the question's name, no authority, only OPT in additional.
    let plain = authority.is_empty()
        && additional.iter().all(|r| r.rtype == TYPE_OPT)
        && answers
            .iter()
            .all(|r| r.rtype == qtype && buf.get(r.start..r.start + 2) == Some(&[0xc0, HEADER as u8][..]));
    if plain && name_at_eq(buf, HEADER, qname)? {
        return Ok(Scrubbed {
            wire: Cow::Borrowed(buf),
            dropped: [0; 3],
        });
    }
    let owned_by = |rr: &RrPos, names: &[Vec<u8>]| -> Result<bool, Malformed> {
        for n in names {
            if name_at_eq(buf, rr.start, n)? {
                return Ok(true);
            }
        }
        Ok(false)
    };

    // Answer: follow the chain to a fixed point (records may come in any order).
    let mut chain: Vec<Vec<u8>> = vec![qname.to_vec()];
    let mut keep_an = vec![false; answers.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, rr) in answers.iter().enumerate() {
            if keep_an[i] {
                continue;
            }
            let t = rr.rtype;
            let owned = owned_by(rr, &chain)?;
            let mut dname_above = false;
            if t == TYPE_DNAME && !owned {
                for c in &chain {
                    dname_above |= below_or_at_name_at(c, buf, rr.start)?;
                }
            }
            let wanted = owned && (t == qtype || qtype == QTYPE_ANY || t == TYPE_CNAME || t == TYPE_RRSIG);
            if !(wanted || dname_above) {
                continue;
            }
            keep_an[i] = true;
            changed = true;
            if owned && t == TYPE_CNAME && qtype != TYPE_CNAME {
                let (target, _) = read_name(buf, rr.rdata_at)?;
                if !chain.iter().any(|c| same_name(c, &target)) {
                    chain.push(target);
                }
            }
        }
    }
    // RRSIGs over a kept DNAME share its owner.
    for i in 0..answers.len() {
        if answers[i].rtype != TYPE_RRSIG || keep_an[i] {
            continue;
        }
        for (j, d) in answers.iter().enumerate() {
            if keep_an[j]
                && d.rtype == TYPE_DNAME
                && same_name(&read_name(buf, d.start)?.0, &read_name(buf, answers[i].start)?.0)
            {
                keep_an[i] = true;
            }
        }
    }

    // Authority: the zone's own records, at or above a chain name.
    let mut keep_ns = vec![false; authority.len()];
    let mut zones: Vec<usize> = Vec::new();
    for (i, rr) in authority.iter().enumerate() {
        if !matches!(rr.rtype, TYPE_SOA | TYPE_NS | TYPE_DS) {
            continue;
        }
        for c in &chain {
            if below_or_at_name_at(c, buf, rr.start)? {
                keep_ns[i] = true;
                zones.push(rr.start);
                break;
            }
        }
    }
    let fallback = chain.last().map(|last| parent(last).to_vec()).unwrap_or_default();
    for (i, rr) in authority.iter().enumerate() {
        if !matches!(rr.rtype, TYPE_NSEC | TYPE_NSEC3 | TYPE_RRSIG) {
            continue;
        }
        let mut inside = false;
        for &z in &zones {
            let zone = read_name(buf, z)?.0;
            inside |= zone.as_slice() != b"\x00" && name_at_below_or_at(buf, rr.start, &zone)?;
        }
        if zones.is_empty() && fallback.as_slice() != b"\x00" && !fallback.is_empty() {
            inside = name_at_below_or_at(buf, rr.start, &fallback)?;
        }
        keep_ns[i] = inside;
    }

    // Additional: addresses of the names the kept records point to.
    let mut keep_ar = vec![false; additional.len()];
    let mut targets: Option<Vec<Vec<u8>>> = None;
    for (i, rr) in additional.iter().enumerate() {
        keep_ar[i] = match rr.rtype {
            TYPE_OPT => true,
            TYPE_A | TYPE_AAAA | TYPE_RRSIG => {
                if targets.is_none() {
                    targets = Some(pointed_to(buf, answers, &keep_an, authority, &keep_ns)?);
                }
                owned_by(rr, targets.as_deref().unwrap_or_default())?
            }
            _ => false,
        };
    }

    let dropped = [&keep_an, &keep_ns, &keep_ar].map(|k| k.iter().filter(|&&k| !k).count());
    if dropped == [0, 0, 0] {
        return Ok(Scrubbed {
            wire: Cow::Borrowed(buf),
            dropped,
        });
    }
    let mut out = Vec::with_capacity(buf.len() + 64);
    out.extend_from_slice(&buf[..HEADER]);
    out.extend_from_slice(&buf[HEADER..l.question_end]);
    let sections = [(answers, &keep_an), (authority, &keep_ns), (additional, &keep_ar)];
    for (i, (records, keep)) in sections.iter().enumerate() {
        let kept = keep.iter().filter(|&&k| k).count() as u16;
        out[6 + 2 * i..8 + 2 * i].copy_from_slice(&kept.to_be_bytes());
        for (rr, _) in records.iter().zip(keep.iter()).filter(|(_, &k)| k) {
            write_record(&mut out, buf, rr)?;
        }
    }
    Ok(Scrubbed {
        wire: Cow::Owned(out),
        dropped,
    })
}

/// The names kept NS, MX and SRV records point to (their glue may stay).
fn pointed_to(
    buf: &[u8],
    answers: &[RrPos],
    keep_an: &[bool],
    authority: &[RrPos],
    keep_ns: &[bool],
) -> Result<Vec<Vec<u8>>, Malformed> {
    let mut targets = Vec::new();
    for (rr, &k) in answers.iter().zip(keep_an).chain(authority.iter().zip(keep_ns)) {
        let skip = match rr.rtype {
            TYPE_NS => 0,
            TYPE_MX => 2,
            TYPE_SRV => 6,
            _ => continue,
        };
        if k {
            targets.push(read_name(buf, rr.rdata_at + skip)?.0);
        }
    }
    Ok(targets)
}

/// Appends `rr` uncompressed: its owner, TYPE, CLASS, TTL, then RDATA with
/// any compressed name of a RFC 1035 type written out in full.
fn write_record(out: &mut Vec<u8>, buf: &[u8], p: &RrPos) -> Result<(), Malformed> {
    out.extend_from_slice(&read_name(buf, p.start)?.0);
    let fixed = buf.get(p.ttl_at - 4..p.ttl_at + 4).ok_or(Malformed::Short)?;
    out.extend_from_slice(fixed); // TYPE, CLASS, TTL
    let rdata = buf.get(p.rdata_at..p.end).ok_or(Malformed::Short)?;
    let mut expanded = Vec::with_capacity(rdata.len() + 32);
    // (bytes before the first name, names, whether fixed bytes follow)
    let (prefix, names) = match p.rtype {
        TYPE_NS | TYPE_CNAME | TYPE_PTR | TYPE_MD | TYPE_MF | TYPE_MB | TYPE_MG | TYPE_MR | TYPE_DNAME => {
            (0, 1)
        }
        TYPE_MX => (2, 1),
        TYPE_SRV => (6, 1),
        TYPE_SOA | TYPE_MINFO => (0, 2),
        _ => (0, 0),
    };
    if names == 0 {
        expanded.extend_from_slice(rdata);
    } else {
        expanded.extend_from_slice(rdata.get(..prefix).ok_or(Malformed::Short)?);
        let mut at = p.rdata_at + prefix;
        for _ in 0..names {
            let (name, next) = read_name(buf, at)?;
            expanded.extend_from_slice(&name);
            at = next;
        }
        if at > p.end {
            return Err(Malformed::Short);
        }
        expanded.extend_from_slice(&buf[at..p.end]);
    }
    let len = u16::try_from(expanded.len()).map_err(|_| Malformed::Short)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&expanded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a response to `a.example.test. A` from (section, owner, type, rdata).
    fn response(records: &[(usize, &[u8], u16, &[u8])]) -> Vec<u8> {
        let mut m = b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(b"\x01a\x07example\x04test\x00\x00\x01\x00\x01");
        let mut counts = [0u16; 3];
        for section in 0..3 {
            for &(s, owner, t, rdata) in records {
                if s != section {
                    continue;
                }
                counts[s] += 1;
                m.extend_from_slice(owner);
                m.extend_from_slice(&t.to_be_bytes());
                m.extend_from_slice(&[0, 1, 0, 0, 1, 0x2c]);
                m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                m.extend_from_slice(rdata);
            }
        }
        for (i, c) in counts.iter().enumerate() {
            m[6 + 2 * i..8 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        m
    }

    const QNAME: &[u8] = b"\x01a\x07example\x04test\x00";
    const BANK: &[u8] = b"\x03www\x04bank\x04test\x00";
    const B: &[u8] = b"\x01b\x07example\x04test\x00";

    #[test]
    fn an_honest_answer_is_kept_as_it_is() {
        let m = response(&[
            (0, b"\xc0\x0c", TYPE_CNAME, b"\x01b\xc0\x0e"),
            (0, B, TYPE_A, &[192, 0, 2, 1]),
            (
                1,
                b"\x07example\x04test\x00",
                TYPE_NS,
                b"\x02ns\x07example\x04test\x00",
            ),
            (2, b"\x02ns\x07example\x04test\x00", TYPE_A, &[192, 0, 2, 53]),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [0, 0, 0]);
        assert!(matches!(s.wire, Cow::Borrowed(_)));
    }

    #[test]
    fn records_unrelated_to_the_question_are_dropped_in_every_section() {
        let m = response(&[
            (0, b"\xc0\x0c", TYPE_A, &[192, 0, 2, 1]),
            (0, BANK, TYPE_A, &[6, 6, 6, 6]),
            (1, BANK, TYPE_A, &[6, 6, 6, 6]),
            (1, b"\x04bank\x04test\x00", TYPE_NS, b"\x02ns\x04evil\x00"),
            (2, BANK, TYPE_A, &[6, 6, 6, 6]),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [1, 2, 1]);
        let l = layout(&s.wire).expect("well formed");
        assert_eq!(
            (l.answers.len(), l.authority.len(), l.additional.len()),
            (1, 0, 0)
        );
        assert_eq!(&s.wire[l.answers[0].rdata_at..], &[192, 0, 2, 1]);
        assert_eq!(
            read_name(&s.wire, l.answers[0].start).expect("owner").0,
            b"\x01a\x07example\x04test\x00"
        );
    }

    /// The chain is followed whatever the record order; a record that
    /// pointed into a dropped one is written out in full.
    #[test]
    fn chains_survive_and_compression_into_dropped_records_is_undone() {
        let m = response(&[
            (0, BANK, TYPE_A, &[6, 6, 6, 6]), // \x03www at 32, \x04bank at 36
            (0, B, TYPE_A, &[192, 0, 2, 2]),
            (0, b"\xc0\x0c", TYPE_CNAME, b"\x01b\xc0\x0e"),
            (2, b"\x03ftp\xc0\x24", TYPE_A, &[6, 6, 6, 7]), // ftp.bank.test via the dropped record
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [1, 0, 1]);
        let l = layout(&s.wire).expect("well formed");
        assert_eq!(l.answers.len(), 2);
        let owners: Vec<Vec<u8>> = l
            .answers
            .iter()
            .map(|r| read_name(&s.wire, r.start).expect("o").0)
            .collect();
        assert_eq!(owners, vec![B.to_vec(), QNAME.to_vec()]);
        let cname = l.answers[1];
        assert_eq!(read_name(&s.wire, cname.rdata_at).expect("target").0, B);
    }

    #[test]
    fn the_zone_soa_and_glue_for_kept_ns_stay() {
        let m = response(&[
            (
                1,
                b"\x07example\x04test\x00",
                TYPE_SOA,
                b"\x02ns\xc0\x0e\x02hm\xc0\x0e\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0\x05",
            ),
            (1, b"\x04test\x00", TYPE_NS, b"\x02ns\x04test\x00"),
            (
                1,
                b"\x04evil\x00",
                TYPE_SOA,
                b"\x00\x00\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0\x05",
            ),
            (2, b"\x02ns\x04test\x00", TYPE_A, &[192, 0, 2, 9]),
            (2, b"\x02ns\x04evil\x00", TYPE_A, &[6, 6, 6, 6]),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [0, 1, 1]);
        let l = layout(&s.wire).expect("well formed");
        let soa = l.authority[0];
        assert_eq!(soa.rtype, TYPE_SOA);
        // The SOA's compressed names were written out: the fields after them are intact.
        assert_eq!(&s.wire[soa.end - 4..soa.end], &[0, 0, 0, 5]);
        assert_eq!(
            read_name(&s.wire, soa.rdata_at).expect("mname").0,
            b"\x02ns\x07example\x04test\x00"
        );
    }

    #[test]
    fn a_dname_above_the_question_is_kept_with_its_cname() {
        let m = response(&[
            (
                0,
                b"\x07example\x04test\x00",
                TYPE_DNAME,
                b"\x05other\x04test\x00",
            ),
            (0, b"\xc0\x0c", TYPE_CNAME, b"\x01a\x05other\x04test\x00"),
            (0, b"\x01a\x05other\x04test\x00", TYPE_A, &[192, 0, 2, 3]),
            (0, b"\x04bank\x04test\x00", TYPE_DNAME, b"\x04evil\x00"),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(
            s.dropped,
            [1, 0, 0],
            "only the DNAME above no name of the chain goes"
        );
    }

    #[test]
    fn never_panics_on_a_prefix() {
        let m = response(&[
            (0, BANK, TYPE_A, &[6, 6, 6, 6]),
            (0, b"\xc0\x0c", TYPE_A, &[1, 2, 3, 4]),
        ]);
        for n in 0..m.len() {
            let _ = scrub(&m[..n], QNAME, TYPE_A);
        }
    }
}
