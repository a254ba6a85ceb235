//! The malformed-message generators: one function per kind of garbage,
//! each with the reply it deserves ([`Expect`]) and its weight in the UDP
//! storm. The TCP storm draws from the same table.

use crate::replies::Expect;
use crate::rng::Rng;
use crate::wire;

/// One kind of storm message.
pub(crate) struct Generator {
    pub(crate) name: &'static str,
    pub(crate) make: fn(&mut Rng) -> Vec<u8>,
    pub(crate) expect: Expect,
    /// Relative frequency in the UDP storm.
    weight: u64,
}

const fn kind(name: &'static str, make: fn(&mut Rng) -> Vec<u8>, expect: Expect, weight: u64) -> Generator {
    Generator {
        name,
        make,
        expect,
        weight,
    }
}

pub(crate) const GENERATORS: &[Generator] = &[
    kind("random bytes", random_bytes, Expect::Unknown, 12),
    kind("truncated header", truncated_header, Expect::Silence, 10),
    kind("counts of 0xFFFF", huge_counts, Expect::FormErr, 10),
    kind("compression loop", pointer_loop, Expect::FormErr, 10),
    kind("label of 64-255", long_label, Expect::FormErr, 8),
    kind("name over 255", long_name, Expect::FormErr, 8),
    kind("response (QR)", response, Expect::Silence, 8),
    kind("opcode 1-15", bad_opcode, Expect::NotImp, 6),
    kind("EDNS version 1-255", edns_version, Expect::BadVers, 6),
    kind("OPT rdlength past end", opt_past_end, Expect::FormErr, 6),
    kind("two OPT records", two_opts, Expect::FormErr, 6),
    kind("class not IN", bad_class, Expect::Refused, 6),
    kind("mutated query", mutated_query, Expect::Unknown, 8),
    kind("valid question", valid_question, Expect::Answer, 1),
];

/// A generator drawn by weight.
pub(crate) fn pick<'a>(rng: &mut Rng, from: &[&'a Generator]) -> &'a Generator {
    let total: u64 = from.iter().map(|g| g.weight).sum();
    let mut at = rng.next() % total;
    for g in from {
        if at < g.weight {
            return g;
        }
        at -= g.weight;
    }
    from[0]
}

/// `s<k>.storm.example.test.` in random letter case: 200 names (the cache
/// key is lower-cased), so valid questions cost the upstream little.
fn storm_name(r: &mut Rng) -> Vec<u8> {
    let mut name = wire::name(&format!("s{}.storm.example.test.", r.range(0, 200)));
    for b in &mut name {
        if b.is_ascii_lowercase() && r.chance(50) {
            b.make_ascii_uppercase();
        }
    }
    name
}

/// A header with `flags` and `counts`, and one storm-zone question.
fn with_question(r: &mut Rng, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut m = wire::header(r.u16(), flags, counts);
    wire::push_question(&mut m, &storm_name(r), wire::TYPE_A, wire::CLASS_IN);
    m
}

pub(crate) fn random_bytes(r: &mut Rng) -> Vec<u8> {
    let n = r.range(0, 600);
    r.bytes(n)
}

/// 0 to 11 bytes, QR clear: dropped for being short, not for being a response.
pub(crate) fn truncated_header(r: &mut Rng) -> Vec<u8> {
    let n = r.range(0, wire::HEADER);
    let mut b = r.bytes(n);
    if let Some(flags) = b.get_mut(2) {
        *flags &= 0x7f;
    }
    b
}

/// QDCOUNT, ANCOUNT, NSCOUNT or ARCOUNT of 0xFFFF, and little data.
fn huge_counts(r: &mut Rng) -> Vec<u8> {
    const MAX: u16 = 0xFFFF;
    let counts = match r.range(0, 5) {
        0 => [MAX; 4],
        1 => [MAX, 0, 0, 0],
        2 => [1, MAX, 0, 0],
        3 => [1, 0, MAX, 0],
        _ => [1, 0, 0, MAX],
    };
    let mut m = with_question(r, wire::RD, counts);
    let tail = r.range(0, 24);
    m.extend(r.bytes(tail));
    m
}

/// Compression pointers that loop: in the question (where none is allowed)
/// and in record owner names (itself, forward, mutual).
fn pointer_loop(r: &mut Rng) -> Vec<u8> {
    use wire::{header, pointer, push_a_rr_tail, HEADER, RD};
    let id = r.u16();
    let question_tail = |m: &mut Vec<u8>| m.extend_from_slice(&[0, 1, 0, 1]);
    match r.range(0, 6) {
        0 => {
            // QNAME is a pointer to itself.
            let mut m = header(id, RD, [1, 0, 0, 0]);
            m.extend(pointer(HEADER));
            question_tail(&mut m);
            m
        }
        1 => {
            // A label, then back to the start of the name.
            let mut m = header(id, RD, [1, 0, 0, 0]);
            m.extend_from_slice(b"\x03abc");
            m.extend(pointer(HEADER));
            question_tail(&mut m);
            m
        }
        2 => {
            // Forward to a pointer that points back.
            let mut m = header(id, RD, [1, 0, 0, 0]);
            m.extend(pointer(HEADER + 2));
            m.extend(pointer(HEADER));
            question_tail(&mut m);
            m
        }
        3 => {
            // An answer whose owner points at itself.
            let mut m = with_question(r, RD, [1, 1, 0, 0]);
            let at = m.len();
            m.extend(pointer(at));
            push_a_rr_tail(&mut m);
            m
        }
        4 => {
            // An additional record whose owner points forward, at a pointer back.
            let mut m = with_question(r, RD, [1, 0, 0, 1]);
            let at = m.len();
            m.extend(pointer(at + 2));
            m.extend(pointer(at));
            push_a_rr_tail(&mut m);
            m
        }
        _ => {
            // Two answers whose owners point at each other (16 bytes each).
            let mut m = with_question(r, RD, [1, 2, 0, 0]);
            let first = m.len();
            m.extend(pointer(first + 16));
            push_a_rr_tail(&mut m);
            m.extend(pointer(first));
            push_a_rr_tail(&mut m);
            m
        }
    }
}

/// A question label claiming 64 to 255 bytes (with that many or fewer present).
fn long_label(r: &mut Rng) -> Vec<u8> {
    let mut m = wire::header(r.u16(), wire::RD, [1, 0, 0, 0]);
    if r.chance(50) {
        m.extend_from_slice(b"\x03www");
    }
    let len = r.range(64, 256);
    m.push(len as u8);
    let present = r.range(0, len + 1);
    m.extend(std::iter::repeat_n(b'a', present));
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A question name of more than 255 bytes, in legal labels.
fn long_name(r: &mut Rng) -> Vec<u8> {
    let mut m = wire::header(r.u16(), wire::RD, [1, 0, 0, 0]);
    let mut name = Vec::new();
    while name.len() < 256 {
        let len = r.range(1, 64);
        name.push(len as u8);
        name.extend(std::iter::repeat_n(b'b', len));
    }
    name.push(0);
    wire::push_question(&mut m, &name, wire::TYPE_A, wire::CLASS_IN);
    m
}

/// Something with QR set: random bytes, or a plausible answer.
pub(crate) fn response(r: &mut Rng) -> Vec<u8> {
    if r.chance(50) {
        let n = r.range(wire::HEADER, 600);
        let mut b = r.bytes(n);
        b[2] |= 0x80;
        return b;
    }
    let mut m = with_question(r, wire::QR | wire::RD | wire::RA, [1, 1, 0, 0]);
    m.extend(wire::pointer(wire::HEADER));
    wire::push_a_rr_tail(&mut m);
    m
}

fn bad_opcode(r: &mut Rng) -> Vec<u8> {
    let opcode = r.range(1, 16) as u16;
    with_question(r, opcode << 11 | wire::RD, [1, 0, 0, 0])
}

fn edns_version(r: &mut Rng) -> Vec<u8> {
    let mut m = with_question(r, wire::RD, [1, 0, 0, 1]);
    let (payload, version) = (r.range(512, 4097) as u16, r.range(1, 256) as u8);
    wire::push_opt(&mut m, payload, version, 0, &[]);
    m
}

/// An OPT whose RDLENGTH (up to 0xFFFF) runs past the end of the message.
fn opt_past_end(r: &mut Rng) -> Vec<u8> {
    let mut m = with_question(r, wire::RD, [1, 0, 0, 1]);
    let present = r.range(0, 20);
    let claimed = if r.chance(50) {
        0xFFFF
    } else {
        (present + r.range(1, 1000)) as u16
    };
    let rdata = r.bytes(present);
    wire::push_opt(&mut m, 1232, 0, claimed, &rdata);
    m
}

fn two_opts(r: &mut Rng) -> Vec<u8> {
    let mut m = with_question(r, wire::RD, [1, 0, 0, 2]);
    wire::push_opt(&mut m, 1232, 0, 0, &[]);
    let payload = r.range(512, 4097) as u16;
    wire::push_opt(&mut m, payload, 0, 0, &[]);
    m
}

/// CH, HS, NONE, ANY or any other class but IN.
fn bad_class(r: &mut Rng) -> Vec<u8> {
    let class = match r.range(0, 5) {
        0 => 3,
        1 => 4,
        2 => 254,
        3 => 255,
        _ => r.range(2, 65536) as u16,
    };
    let mut m = wire::header(r.u16(), wire::RD, [1, 0, 0, 0]);
    wire::push_question(&mut m, &storm_name(r), wire::TYPE_A, class);
    m
}

/// A well-formed A query under the storm zone, with EDNS one time in three.
pub(crate) fn valid_question(r: &mut Rng) -> Vec<u8> {
    let edns = r.chance(33);
    let mut m = with_question(r, wire::RD, [1, 0, 0, u16::from(edns)]);
    if edns {
        wire::push_opt(&mut m, 1232, 0, 0, &[]);
    }
    m
}

/// A query (well-formed, or one of the malformed kinds) with one to four
/// mutations: a byte replaced, a bit flipped, cut short, or a slice repeated.
/// Most stay malformed; some become odd but valid questions, which are
/// forwarded (the fake upstream answers anything it can parse).
fn mutated_query(r: &mut Rng) -> Vec<u8> {
    let bases: [fn(&mut Rng) -> Vec<u8>; 4] = [valid_question, two_opts, edns_version, pointer_loop];
    let mut m = bases[r.range(0, bases.len())](r);
    for _ in 0..r.range(1, 5) {
        if m.is_empty() {
            break;
        }
        let at = r.range(0, m.len());
        match r.range(0, 4) {
            0 => m[at] = r.next() as u8,
            1 => m[at] ^= 1 << r.range(0, 8),
            2 => m.truncate(at),
            _ => {
                let end = r.range(at, m.len() + 1);
                let slice = m[at..end].to_vec();
                m.extend(slice);
            }
        }
    }
    m
}
