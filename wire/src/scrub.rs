//! Scrubbing an upstream answer before it is cached or passed on: records
//! that do not belong to the question are dropped, so an upstream (or a
//! forger who got past the ID and port checks) cannot plant
//! `www.bank.test A 6.6.6.6` in the cache beside an answer for
//! `a.example.test`, nor a DNAME or NS for a whole tree above it.
//!
//! ```text
//!  answer      the question's chain: records owned by QNAME, then by each
//!              CNAME target in turn (at most 16 names); the type asked for,
//!              CNAME and RRSIG; a DNAME when asked for, or when a chain name
//!              lies strictly below it and the CNAME it synthesises is kept
//!              (RFC 6672 §3.4), with its RRSIGs
//!  authority   the zone: the deepest SOA/NS/DS owner at or above the end of
//!              the chain (else above any chain name); SOA/NS/DS of that zone
//!              only; NSEC/NSEC3/RRSIG at or below that zone or below the
//!              signer of a kept RRSIG (a signer above a chain name and above
//!              the RRSIG's owner): the proofs a validator needs, wildcard and
//!              referral ones included. (An NS set of an ancestor zone, when
//!              no deeper one is given, stays with its glue: palanquin's cache
//!              never uses authority NS.)
//!  additional  A / AAAA (+ RRSIG) of names the kept NS, MX and SRV records
//!              point to; OPT
//! ```
//!
//! Nothing dropped: the bytes are returned as they are. Something dropped:
//! the message is rebuilt without compression (a kept record may point into
//! a dropped one; owners equal to the question point at it), names
//! decompressed in the RDATA of the types that may carry compressed names
//! (RFC 1035's, and RFC 3597 §4's RP, AFSDB, RT, SIG, PX, NXT, NAPTR);
//! other RDATA is copied as it is. Work is bounded: each answer record is
//! compared once with each chain name, every authority and additional owner
//! is read once, and at most four zones' proofs are kept. A chain of more
//! than 16 names is no answer (`Malformed::ChainTooLong`).

use std::borrow::Cow;
use std::collections::HashSet;

use crate::message::{layout, Malformed, RrPos, HEADER, TYPE_CNAME, TYPE_OPT, TYPE_SOA};
use crate::name::{is_below_or_at, name_at_eq, read_name, same_name};

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
const TYPE_RP: u16 = 17;
const TYPE_AFSDB: u16 = 18;
const TYPE_RT: u16 = 21;
const TYPE_PX: u16 = 26;
const TYPE_SIG: u16 = 24;
const TYPE_AAAA: u16 = 28;
const TYPE_NXT: u16 = 30;
const TYPE_NAPTR: u16 = 35;
const TYPE_SRV: u16 = 33;
const TYPE_DNAME: u16 = 39;
const TYPE_DS: u16 = 43;
const TYPE_RRSIG: u16 = 46;
const TYPE_NSEC: u16 = 47;
const TYPE_NSEC3: u16 = 50;
const QTYPE_ANY: u16 = 255;

/// Longest chain followed (Unbound and BIND stop CNAME chains near here).
pub(crate) const MAX_CHAIN: usize = 16;

/// Zones whose NSEC/NSEC3/RRSIG records may stay: the answer's zone and a
/// few signers (a wildcard's, a referral's parent).
const MAX_PROOF_ZONES: usize = 4;

/// Offset of the signer's name in RRSIG RDATA (RFC 4034 §3.1).
const RRSIG_SIGNER: usize = 18;

/// A scrubbed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed<'a> {
    /// The message to keep.
    pub wire: Cow<'a, [u8]>,
    /// Records dropped from the answer, authority and additional sections.
    pub dropped: [usize; 3],
}

/// Labels in a wire name.
fn labels(name: &[u8]) -> usize {
    let (mut at, mut n) = (0, 0);
    while let Some(&len) = name.get(at) {
        if len == 0 {
            break;
        }
        n += 1;
        at += 1 + usize::from(len);
    }
    n
}

/// Scrubs `buf`, an answer already checked to carry the question
/// (`qname`, `qtype`). Names are compared where they lie in `buf`.
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

    // Answer: follow the chain. Each pass compares the records not yet kept
    // with the names the last pass added only: a record not owned by a
    // name then never will be.
    let mut chain: Vec<Vec<u8>> = vec![qname.to_vec()];
    // Targets of kept CNAMEs (for qtype CNAME they are not followed, but a
    // DNAME that synthesised one is still the answer's).
    let mut cname_targets: Vec<Vec<u8>> = Vec::new();
    let mut keep_an = vec![false; answers.len()];
    let mut checked = 0;
    while checked < chain.len() {
        let (from, to) = (checked, chain.len());
        checked = to;
        for (i, rr) in answers.iter().enumerate() {
            let t = rr.rtype;
            if keep_an[i] || (t == TYPE_DNAME && qtype != TYPE_DNAME) || !owned_by(rr, &chain[from..to])? {
                continue;
            }
            if !(t == qtype || qtype == QTYPE_ANY || t == TYPE_CNAME || t == TYPE_RRSIG) {
                continue;
            }
            keep_an[i] = true;
            if t == TYPE_CNAME {
                let (target, _) = read_name(buf, rr.rdata_at)?;
                let new = !chain.iter().chain(&cname_targets).any(|c| same_name(c, &target));
                if qtype != TYPE_CNAME && new {
                    if chain.len() == MAX_CHAIN {
                        // Longer than any resolver follows (and an answer cut
                        // here would end in no data): not an answer.
                        return Err(Malformed::ChainTooLong);
                    }
                    chain.push(target.clone());
                }
                cname_targets.push(target);
            }
        }
    }
    // DNAMEs that synthesised a CNAME of the chain (RFC 6672 §3.4), and
    // the RRSIGs that share a kept DNAME's owner.
    let mut dname_owners: Vec<Vec<u8>> = Vec::new();
    for (i, rr) in answers.iter().enumerate() {
        if rr.rtype != TYPE_DNAME || keep_an[i] {
            continue;
        }
        let (owner, _) = read_name(buf, rr.start)?;
        let (target, _) = read_name(buf, rr.rdata_at)?;
        let synthesised = |c: &Vec<u8>| {
            if c.len() <= owner.len() || !is_below_or_at(c, &owner) {
                return false;
            }
            let mut redirected = c[..c.len() - owner.len()].to_vec();
            redirected.extend_from_slice(&target);
            chain
                .iter()
                .chain(&cname_targets)
                .any(|n| same_name(n, &redirected))
        };
        if chain.iter().any(synthesised) {
            keep_an[i] = true;
            dname_owners.push(owner);
        }
    }
    for (i, rr) in answers.iter().enumerate() {
        if rr.rtype == TYPE_RRSIG && !keep_an[i] {
            keep_an[i] = owned_by(rr, &dname_owners)?;
        }
    }

    // Authority: each owner read once; then plain slice comparisons.
    let owners: Vec<Vec<u8>> = authority
        .iter()
        .map(|r| read_name(buf, r.start).map(|n| n.0))
        .collect::<Result<_, _>>()?;
    let above_chain = |owner: &[u8]| chain.iter().any(|c| is_below_or_at(c, owner));
    let last = chain.last().map_or(&b"\x00"[..], Vec::as_slice);
    // The zone: the deepest SOA/NS/DS owner at or above the end of the chain,
    // else at or above any chain name.
    let cut = |want_last: bool| {
        authority
            .iter()
            .zip(&owners)
            .filter(|(r, o)| matches!(r.rtype, TYPE_SOA | TYPE_NS | TYPE_DS) && above_chain(o))
            .filter(|(_, o)| !want_last || is_below_or_at(last, o))
            .max_by_key(|(_, o)| labels(o))
            .map(|(_, o)| o.clone())
    };
    let zone = cut(true).or_else(|| cut(false));
    // Proof zones: the zone, and the signers of kept answer RRSIGs and of
    // authority RRSIGs, each signer above a chain name and at or above the
    // RRSIG's owner (RFC 4035 5.3.1); a few at most.
    let mut proof_zones: Vec<Vec<u8>> = zone.iter().cloned().collect();
    let signed = answers
        .iter()
        .zip(&keep_an)
        .filter(|(_, &k)| k)
        .map(|(r, _)| r)
        .chain(authority.iter())
        .filter(|r| r.rtype == TYPE_RRSIG);
    for rr in signed {
        if proof_zones.len() >= MAX_PROOF_ZONES {
            break;
        }
        let (Ok((signer, _)), Ok((owner, _))) = (
            read_name(buf, rr.rdata_at + RRSIG_SIGNER),
            read_name(buf, rr.start),
        ) else {
            continue;
        };
        if above_chain(&signer)
            && is_below_or_at(&owner, &signer)
            && !proof_zones.iter().any(|z| same_name(z, &signer))
        {
            proof_zones.push(signer);
        }
    }
    let keep_ns: Vec<bool> = authority
        .iter()
        .zip(&owners)
        .map(|(rr, owner)| match rr.rtype {
            TYPE_SOA | TYPE_NS | TYPE_DS => zone.as_deref().is_some_and(|z| same_name(owner, z)),
            TYPE_NSEC | TYPE_NSEC3 | TYPE_RRSIG => proof_zones.iter().any(|z| is_below_or_at(owner, z)),
            _ => false,
        })
        .collect();

    // Additional: addresses of the names the kept records point to.
    let mut keep_ar = vec![false; additional.len()];
    let mut targets: Option<HashSet<Vec<u8>>> = None;
    for (i, rr) in additional.iter().enumerate() {
        keep_ar[i] = match rr.rtype {
            TYPE_OPT => true,
            TYPE_A | TYPE_AAAA | TYPE_RRSIG => {
                if targets.is_none() {
                    targets = Some(pointed_to(buf, answers, &keep_an, authority, &keep_ns)?);
                }
                let owner = lowercase(read_name(buf, rr.start)?.0);
                targets.as_ref().is_some_and(|t| t.contains(&owner))
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
            write_record(&mut out, buf, rr, qname)?;
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(Malformed::TooLong);
    }
    Ok(Scrubbed {
        wire: Cow::Owned(out),
        dropped,
    })
}

/// A wire name with ASCII letters folded (label lengths are below 64).
fn lowercase(mut name: Vec<u8>) -> Vec<u8> {
    name.make_ascii_lowercase();
    name
}

/// The names kept NS, MX and SRV records point to (their glue may stay), folded.
fn pointed_to(
    buf: &[u8],
    answers: &[RrPos],
    keep_an: &[bool],
    authority: &[RrPos],
    keep_ns: &[bool],
) -> Result<HashSet<Vec<u8>>, Malformed> {
    let mut targets = HashSet::new();
    for (rr, &k) in answers.iter().zip(keep_an).chain(authority.iter().zip(keep_ns)) {
        let skip = match rr.rtype {
            TYPE_NS => 0,
            TYPE_MX => 2,
            TYPE_SRV => 6,
            _ => continue,
        };
        if k {
            targets.insert(lowercase(read_name(buf, rr.rdata_at + skip)?.0));
        }
    }
    Ok(targets)
}

/// Appends `rr` uncompressed: its owner, TYPE, CLASS, TTL, then RDATA with
/// any compressed name of a RFC 1035 type written out in full.
fn write_record(out: &mut Vec<u8>, buf: &[u8], p: &RrPos, qname: &[u8]) -> Result<(), Malformed> {
    let owner = read_name(buf, p.start)?.0;
    if same_name(&owner, qname) {
        // The question is always kept, at offset 12 (a pointer there stays valid).
        out.extend_from_slice(&[0xc0, HEADER as u8]);
    } else {
        out.extend_from_slice(&owner);
    }
    let fixed = buf.get(p.ttl_at - 4..p.ttl_at + 4).ok_or(Malformed::Short)?;
    out.extend_from_slice(fixed); // TYPE, CLASS, TTL
    let rdata = buf.get(p.rdata_at..p.end).ok_or(Malformed::Short)?;
    let mut expanded = Vec::with_capacity(rdata.len() + 32);
    // (bytes before the first name, names in a row)
    let (prefix, names) = match p.rtype {
        TYPE_NS | TYPE_CNAME | TYPE_PTR | TYPE_MD | TYPE_MF | TYPE_MB | TYPE_MG | TYPE_MR | TYPE_DNAME
        | TYPE_NXT => (0, 1),
        TYPE_MX | TYPE_AFSDB | TYPE_RT => (2, 1),
        TYPE_SRV => (6, 1),
        TYPE_SOA | TYPE_MINFO | TYPE_RP => (0, 2),
        TYPE_PX => (2, 2),
        TYPE_SIG => (RRSIG_SIGNER, 1),
        // ORDER, PREFERENCE, then FLAGS, SERVICES and REGEXP as character
        // strings, then the REPLACEMENT name.
        TYPE_NAPTR => {
            let mut at = 4;
            for _ in 0..3 {
                at += 1 + usize::from(*rdata.get(at).ok_or(Malformed::Short)?);
            }
            (at, 1)
        }
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
    fn the_zone_soa_stays_and_other_zones_records_go() {
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
        // The deepest zone is example.test: `test. NS` and its glue are not its.
        assert_eq!(s.dropped, [0, 2, 2]);
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

    /// RRSIG RDATA covering `covered`, signed by `signer`.
    fn rrsig(covered: u16, signer: &[u8]) -> Vec<u8> {
        let mut r = covered.to_be_bytes().to_vec();
        r.extend_from_slice(&[8, 2, 0, 0, 1, 0x2c, 0, 0, 0, 1, 0, 0, 0, 0, 0x12, 0x34]);
        r.extend_from_slice(signer);
        r.extend_from_slice(&[0xaa; 16]);
        r
    }

    /// A response to `qname` (any name) from (section, owner, type, rdata).
    fn response_to(qname: &[u8], records: &[(usize, &[u8], u16, &[u8])]) -> Vec<u8> {
        let mut m = response(records);
        // Swap the question `a.example.test.` for `qname`: rebuild whole.
        let mut out = m[..HEADER].to_vec();
        out.extend_from_slice(qname);
        out.extend_from_slice(&[0, 1, 0, 1]);
        out.extend_from_slice(&m.split_off(HEADER + QNAME.len() + 4));
        out
    }

    /// NXDOMAIN for a TLD that does not exist: the root's SOA, NSEC and
    /// RRSIGs are the proof a validator downstream needs.
    #[test]
    fn a_denial_from_the_root_keeps_its_proof() {
        let soa = b"\x01a\x0croot-servers\x03net\x00\x05nstld\x00\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0\x05";
        let m = response_to(
            b"\x03foo\x0ainvalidtld\x00",
            &[
                (1, b"\x00", TYPE_SOA, soa),
                (1, b"\x00", TYPE_RRSIG, &rrsig(TYPE_SOA, b"\x00")),
                (
                    1,
                    b"\x07insurer\x00",
                    TYPE_NSEC,
                    b"\x03int\x00\x00\x06\x20\x00\x00\x00\x00\x03\x80",
                ),
                (1, b"\x07insurer\x00", TYPE_RRSIG, &rrsig(TYPE_NSEC, b"\x00")),
            ],
        );
        let s = scrub(&m, b"\x03foo\x0ainvalidtld\x00", 1).expect("scrub");
        assert_eq!(s.dropped, [0, 0, 0]);
    }

    /// A wildcard answer: the NSEC3 that proves no closer match lies
    /// beside the name, in the zone that signed the answer.
    #[test]
    fn a_wildcard_answer_keeps_its_nsec3_proof() {
        let qname = b"\x01x\x01b\x07example\x04test\x00";
        let m = response_to(
            qname,
            &[
                (0, b"\xc0\x0c", TYPE_A, &[192, 0, 2, 7]),
                (
                    0,
                    b"\xc0\x0c",
                    TYPE_RRSIG,
                    &rrsig(TYPE_A, b"\x07example\x04test\x00"),
                ),
                (
                    1,
                    b"\x04hash\x07example\x04test\x00",
                    TYPE_NSEC3,
                    b"\x01\x00\x00\x00\x00\x04abcd\x00",
                ),
                (
                    1,
                    b"\x04hash\x07example\x04test\x00",
                    TYPE_RRSIG,
                    &rrsig(TYPE_NSEC3, b"\x07example\x04test\x00"),
                ),
                (
                    1,
                    b"\x04hash\x04evil\x00",
                    TYPE_NSEC3,
                    b"\x01\x00\x00\x00\x00\x04abcd\x00",
                ),
            ],
        );
        let s = scrub(&m, qname, 1).expect("scrub");
        assert_eq!(s.dropped, [0, 1, 0], "only the NSEC3 of an unrelated zone goes");
    }

    /// An NS set for the root (or any ancestor above the zone that
    /// answered) and its glue are not the zone's: they go.
    #[test]
    fn only_the_closest_zone_keeps_its_ns_and_glue() {
        let m = response(&[
            (0, b"\xc0\x0c", TYPE_A, &[192, 0, 2, 1]),
            (
                1,
                b"\x07example\x04test\x00",
                TYPE_NS,
                b"\x02ns\x07example\x04test\x00",
            ),
            (1, b"\x00", TYPE_NS, b"\x02ns\x04evil\x00"),
            (1, b"\x04test\x00", TYPE_NS, b"\x02ns\x04evil\x00"),
            (2, b"\x02ns\x07example\x04test\x00", TYPE_A, &[192, 0, 2, 53]),
            (2, b"\x02ns\x04evil\x00", TYPE_A, &[6, 6, 6, 6]),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [0, 2, 1]);
    }

    /// A DNAME for a whole tree above the name, with no CNAME it
    /// synthesised in the chain, would redirect everything under it in a
    /// DNAME-aware cache downstream: dropped.
    #[test]
    fn a_dname_that_synthesised_nothing_is_dropped() {
        let m = response(&[
            (0, b"\xc0\x0c", TYPE_A, &[192, 0, 2, 1]),
            (0, b"\x04test\x00", TYPE_DNAME, b"\x04evil\x00"),
            (0, b"\x00", TYPE_DNAME, b"\x04evil\x00"),
            (0, b"\xc0\x0c", TYPE_DNAME, b"\x04evil\x00"),
        ]);
        let s = scrub(&m, QNAME, TYPE_A).expect("scrub");
        assert_eq!(s.dropped, [3, 0, 0]);
    }

    /// A chain longer than MAX_CHAIN is no answer: an error, not an answer
    /// cut short that would end in no data.
    #[test]
    fn a_chain_past_the_bound_is_refused() {
        let names: Vec<Vec<u8>> = (0..20u8)
            .map(|i| vec![1, b'a' + i, 4, b't', b'e', b's', b't', 0])
            .collect();
        let mut records: Vec<(usize, &[u8], u16, &[u8])> = vec![(0, QNAME, TYPE_CNAME, &names[0])];
        for w in names.windows(2) {
            records.push((0, &w[0], TYPE_CNAME, &w[1]));
        }
        assert_eq!(
            scrub(&response(&records), QNAME, TYPE_A),
            Err(Malformed::ChainTooLong)
        );
        let short = &records[..MAX_CHAIN - 1];
        assert_eq!(
            scrub(&response(short), QNAME, TYPE_A).expect("fits").dropped,
            [0, 0, 0]
        );
    }

    /// A DNAME asked for is the answer; a CNAME asked for below a DNAME
    /// keeps the DNAME that synthesised it (and its signature).
    #[test]
    fn dnames_asked_for_or_behind_an_asked_cname_stay() {
        let apex = b"\x07example\x04test\x00";
        let m = response_to(
            apex,
            &[
                (0, b"\xc0\x0c", TYPE_DNAME, b"\x05other\x04test\x00"),
                (0, b"\xc0\x0c", TYPE_RRSIG, &rrsig(TYPE_DNAME, apex)),
            ],
        );
        assert_eq!(scrub(&m, apex, TYPE_DNAME).expect("scrub").dropped, [0, 0, 0]);
        let m = response(&[
            (0, apex, TYPE_DNAME, b"\x05other\x04test\x00"),
            (0, apex, TYPE_RRSIG, &rrsig(TYPE_DNAME, apex)),
            (0, b"\xc0\x0c", TYPE_CNAME, b"\x01a\x05other\x04test\x00"),
        ]);
        assert_eq!(scrub(&m, QNAME, TYPE_CNAME).expect("scrub").dropped, [0, 0, 0]);
    }

    /// A planted RRSIG that is itself dropped vouches for nothing: it cannot
    /// make the root a zone whose NSEC records all stay.
    #[test]
    fn a_dropped_signature_vouches_for_no_zone() {
        let m = response(&[
            (0, b"\xc0\x0c", TYPE_A, &[192, 0, 2, 1]),
            (0, BANK, TYPE_RRSIG, &rrsig(TYPE_A, b"\x00")),
            (1, b"\x04evil\x00", TYPE_NSEC, b"\x05evil2\x00\x00\x01\x40"),
        ]);
        assert_eq!(scrub(&m, QNAME, TYPE_A).expect("scrub").dropped, [1, 1, 0]);
    }

    #[test]
    fn mutated_answers_never_panic_and_scrub_to_well_formed_messages() {
        let seeds = [
            response(&[
                (0, b"\xc0\x0c", TYPE_CNAME, b"\x01b\xc0\x0e"),
                (0, B, TYPE_A, &[192, 0, 2, 1]),
                (0, BANK, TYPE_A, &[6, 6, 6, 6]),
                (1, b"\x07example\x04test\x00", TYPE_NS, b"\x02ns\xc0\x0e"),
                (
                    1,
                    b"\x07example\x04test\x00",
                    TYPE_RRSIG,
                    &rrsig(TYPE_NS, b"\x07example\x04test\x00"),
                ),
                (2, b"\x02ns\x07example\x04test\x00", TYPE_A, &[192, 0, 2, 53]),
                (2, b"\x03ftp\xc0\x24", TYPE_A, &[6, 6, 6, 7]),
            ]),
            response(&[(
                0,
                b"\x07example\x04test\x00",
                TYPE_DNAME,
                b"\x05other\x04test\x00",
            )]),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in &seeds {
            for _ in 0..5_000 {
                let mut m = seed.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % m.len() as u64) as usize;
                    m[at] = next() as u8;
                }
                let before = layout(&m);
                if let (Ok(s), Ok(before)) = (scrub(&m, QNAME, TYPE_A), before) {
                    let after = layout(&s.wire).expect("a scrubbed message walks");
                    assert_eq!(after.answers.len() + s.dropped[0], before.answers.len());
                    assert_eq!(after.authority.len() + s.dropped[1], before.authority.len());
                    assert_eq!(after.additional.len() + s.dropped[2], before.additional.len());
                }
            }
        }
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
