//! The storm test: the real `palanquin serve` process, fed with well over
//! 100,000 malformed or random datagrams over UDP and tens of thousands of
//! malformed messages over TCP (framed garbage pipelined between good
//! queries, unframed garbage, slow-loris senders), while legitimate clients
//! keep resolving. It proves that the daemon:
//!
//! - stays up and never panics (no `panicked` in its log, no listener task lost);
//! - answers every legitimate query correctly: UDP clients with a 2 s timeout
//!   lose nothing after one retry (retries are counted and reported), every
//!   well-formed query pipelined between garbage on TCP is answered in order,
//!   and `dig +tcp` works throughout and after;
//! - answers each kind of garbage as RFC 1035/6891 say (checked message by
//!   message on TCP): FORMERR, NOTIMP, BADVERS, REFUSED, or silence for
//!   responses and datagrams without a header; on TCP it closes connections
//!   it cannot frame and cuts slow senders off after `tcp_idle_timeout`;
//! - keeps its resident memory bounded (sampled throughout the storm), and
//!   gives its TCP connection slots back (200 clients at once afterwards);
//! - counts the storm in `/metrics`.
//!
//! ```text
//!   fake upstream 127.0.70.2 ◀── palanquin 127.0.70.1:5300 (metrics :9153)
//!                                  ▲ UDP storm: 4 sockets 127.0.70.10-13, 120,000 datagrams,
//!                                  │   each keeping ≤ 128 replies outstanding (closed loop)
//!                                  ▲ TCP storm: 127.0.70.30, 32 connections at a time + slow loris
//!                                  ▲ legitimate UDP clients 127.0.70.20-22 (2 s timeout, 1 retry)
//!                                  ▲ dig +tcp every 300 ms
//! ```
//!
//! Everything is deterministic (xorshift from fixed seeds) and only loopback
//! is used.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::RData;
use palanquin_testkit::daemon::{answers_of, dig_at, status_of, Daemon};
use palanquin_testkit::fake::{self, Behaviour, Fake};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const fn lo(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 70, last)
}

const DAEMON: SocketAddr = SocketAddr::new(IpAddr::V4(lo(1)), 5300);
const METRICS: SocketAddr = SocketAddr::new(IpAddr::V4(lo(1)), 9153);
const FAKE_IP: IpAddr = IpAddr::V4(lo(2));
const UDP_STORM_IPS: [Ipv4Addr; 4] = [lo(10), lo(11), lo(12), lo(13)];
const LEGIT_IPS: [Ipv4Addr; 3] = [lo(20), lo(21), lo(22)];
const TCP_CLIENT_IP: Ipv4Addr = lo(30);

/// Datagrams in the UDP storm (over all storm sockets).
const UDP_PACKETS: u64 = 120_000;
/// Datagrams owed a reply that a storm socket leaves unanswered at most
/// (`u64::MAX` makes the UDP storm open-loop; see [`udp_storm_socket`]).
const UDP_WINDOW: u64 = 128;
/// TCP connections pipelining garbage and good queries.
const TCP_MIXED: usize = 1_200;
/// TCP connections sending unframed random bytes.
const TCP_UNFRAMED: usize = 300;
/// Slow-loris connections of each kind (see [`Stall`]).
const TCP_STALLED_PER_KIND: usize = 6;
/// Storm connections open at once (the daemon allows 256).
const TCP_PARALLEL: usize = 32;
/// The daemon's `tcp_idle_timeout`.
const IDLE: Duration = Duration::from_secs(2);
/// How long a legitimate UDP client waits before its one retry.
const LEGIT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP reply may take.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer than this, the storm counts as a hang.
const STORM_LIMIT: Duration = Duration::from_secs(50);
/// The RSS bound, during and after the storm.
const RSS_LIMIT_KIB: u64 = 150 * 1024;

fn config(upstream: SocketAddr) -> String {
    format!(
        r#"[server]
listen = ["{DAEMON}"]
udp_workers = 2
tcp_idle_timeout = "2s"
tcp_max_connections = 256

[resolver]
upstreams = ["{upstream}"]
allow = ["127.0.0.0/8"]
cache_size = 10000

[metrics]
listen = "{METRICS}"
"#
    )
}

// ───────────────────────────── randomness ─────────────────────────────

/// xorshift64: deterministic, good enough for garbage.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: unrelated, never-zero states for small seeds.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn u16(&mut self) -> u16 {
        (self.next() >> 24) as u16
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

// ───────────────────────────── DNS wire ─────────────────────────────

mod wire {
    pub(crate) const HEADER: usize = 12;
    pub(crate) const TYPE_A: u16 = 1;
    pub(crate) const TYPE_OPT: u16 = 41;
    pub(crate) const CLASS_IN: u16 = 1;
    pub(crate) const QR: u16 = 0x8000;
    pub(crate) const RD: u16 = 0x0100;
    pub(crate) const RA: u16 = 0x0080;

    /// A header: ID, flags, then QD/AN/NS/AR counts.
    pub(crate) fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut m = Vec::with_capacity(512);
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&flags.to_be_bytes());
        for count in counts {
            m.extend_from_slice(&count.to_be_bytes());
        }
        m
    }

    /// `www.example.` in wire form.
    pub(crate) fn name(text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 2);
        for label in text.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    pub(crate) fn push_question(m: &mut Vec<u8>, qname: &[u8], qtype: u16, qclass: u16) {
        m.extend_from_slice(qname);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&qclass.to_be_bytes());
    }

    /// A compression pointer to `offset`.
    pub(crate) fn pointer(offset: usize) -> [u8; 2] {
        (0xC000 | offset as u16).to_be_bytes()
    }

    /// The fixed part of an A record after its owner name: 14 bytes.
    pub(crate) fn push_a_rr_tail(m: &mut Vec<u8>) {
        m.extend_from_slice(&TYPE_A.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&60u32.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&[192, 0, 2, 99]);
    }

    /// An OPT record claiming `rdlength` with `rdata` actually present.
    pub(crate) fn push_opt(m: &mut Vec<u8>, payload: u16, version: u8, rdlength: u16, rdata: &[u8]) {
        m.push(0);
        m.extend_from_slice(&TYPE_OPT.to_be_bytes());
        m.extend_from_slice(&payload.to_be_bytes());
        m.extend_from_slice(&[0, version, 0, 0]);
        m.extend_from_slice(&rdlength.to_be_bytes());
        m.extend_from_slice(rdata);
    }

    /// A well-formed recursive A query.
    pub(crate) fn query(id: u16, qname: &str) -> Vec<u8> {
        let mut m = header(id, RD, [1, 0, 0, 0]);
        push_question(&mut m, &name(qname), TYPE_A, CLASS_IN);
        m
    }

    /// A TCP frame: two-byte length, then the message (always < 64 KiB here).
    pub(crate) fn framed(msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() + 2);
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(msg);
        out
    }

    pub(crate) fn id_of(msg: &[u8]) -> Option<u16> {
        msg.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// The first bytes of a message in hex, for failure reports.
    pub(crate) fn hex(msg: &[u8]) -> String {
        let shown: String = msg.iter().take(48).map(|b| format!("{b:02x}")).collect();
        if msg.len() > 48 {
            format!("{shown}… ({} bytes)", msg.len())
        } else {
            format!("{shown} ({} bytes)", msg.len())
        }
    }
}

// ───────────────────────────── generators ─────────────────────────────

/// What the daemon must do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Nothing (a response, or not even a header); on TCP, close.
    Silence,
    FormErr,
    NotImp,
    /// RCODE 16 (4 high bits in OPT, 0 in the header).
    BadVers,
    Refused,
    /// NOERROR with A 192.0.2.1 (from the fake upstream or the cache).
    Answer,
    /// Random bytes: anything but a crash.
    Unknown,
}

const EXPECTS: [Expect; 7] = [
    Expect::Silence,
    Expect::FormErr,
    Expect::NotImp,
    Expect::BadVers,
    Expect::Refused,
    Expect::Answer,
    Expect::Unknown,
];

/// One kind of storm message.
struct Generator {
    name: &'static str,
    make: fn(&mut Rng) -> Vec<u8>,
    expect: Expect,
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

const GENERATORS: &[Generator] = &[
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
fn pick<'a>(rng: &mut Rng, from: &[&'a Generator]) -> &'a Generator {
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

fn random_bytes(r: &mut Rng) -> Vec<u8> {
    let n = r.range(0, 600);
    r.bytes(n)
}

/// 0 to 11 bytes, QR clear: dropped for being short, not for being a response.
fn truncated_header(r: &mut Rng) -> Vec<u8> {
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
fn response(r: &mut Rng) -> Vec<u8> {
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
fn valid_question(r: &mut Rng) -> Vec<u8> {
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

// ───────────────────────────── reply checks ─────────────────────────────

/// The RCODE in the header of the reply `expect` calls for, if there is one.
fn header_rcode(expect: Expect) -> Option<u8> {
    match expect {
        Expect::FormErr => Some(1),
        Expect::NotImp => Some(4),
        Expect::Refused => Some(5),
        // BADVERS is 16: 1 in OPT, 0 in the header.
        Expect::BadVers | Expect::Answer => Some(0),
        Expect::Silence | Expect::Unknown => None,
    }
}

/// NOERROR with A 192.0.2.1, under `id`.
fn check_answer(reply: &[u8], id: u16) -> Result<(), String> {
    let msg = Message::from_vec(reply).map_err(|e| format!("unparsable answer {}: {e}", wire::hex(reply)))?;
    if msg.metadata.id != id {
        return Err(format!("answer ID {} for query ID {id}", msg.metadata.id));
    }
    if msg.metadata.response_code != ResponseCode::NoError {
        return Err(format!("rcode {} instead of NOERROR", msg.metadata.response_code));
    }
    if !msg.answers.iter().any(|r| r.data == RData::A(A(fake::IPV4))) {
        return Err(format!("no A {} in {:?}", fake::IPV4, msg.answers));
    }
    Ok(())
}

/// Whether `reply` is what `expect` says `sent` deserves.
fn check_reply(sent: &[u8], reply: &[u8], expect: Expect) -> Result<(), String> {
    let Some(head) = reply.get(..wire::HEADER) else {
        return Err(format!("reply of {} bytes: no header", reply.len()));
    };
    if head[2] & 0x80 == 0 {
        return Err(format!("reply without QR: {}", wire::hex(reply)));
    }
    let id = wire::id_of(sent).unwrap_or(0);
    if wire::id_of(reply) != Some(id) {
        return Err(format!("reply ID {:?} for message ID {id}", wire::id_of(reply)));
    }
    match expect {
        Expect::Answer => check_answer(reply, id),
        Expect::BadVers => {
            let msg = Message::from_vec(reply).map_err(|e| format!("unparsable BADVERS: {e}"))?;
            match u16::from(msg.metadata.response_code) {
                16 => Ok(()),
                other => Err(format!("rcode {other} instead of BADVERS (16)")),
            }
        }
        Expect::Silence => Err(format!(
            "a reply to a message that deserves none: {}",
            wire::hex(reply)
        )),
        Expect::Unknown => Ok(()),
        Expect::FormErr | Expect::NotImp | Expect::Refused => match (head[3] & 0x0f, header_rcode(expect)) {
            (got, Some(wanted)) if got != wanted => Err(format!("rcode {got} instead of {wanted}")),
            _ => Ok(()),
        },
    }
}

// ───────────────────────────── legitimate clients ─────────────────────────────

#[derive(Default)]
struct LegitReport {
    queries: u64,
    /// Queries answered only on the second try.
    retried: u64,
    /// Queries unanswered after the retry.
    lost: u64,
    failures: Vec<String>,
    slowest: Duration,
}

/// Sends `query` and waits for the reply carrying `id` (a late reply to an
/// earlier attempt is skipped).
async fn ask_udp(socket: &UdpSocket, query: &[u8], id: u16) -> Result<Vec<u8>, String> {
    socket
        .send_to(query, DAEMON)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let deadline = tokio::time::Instant::now() + LEGIT_TIMEOUT;
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| format!("no answer within {LEGIT_TIMEOUT:?}"))?
            .map_err(|e| format!("receive: {e}"))?;
        if from == DAEMON && wire::id_of(&buf[..n]) == Some(id) {
            return Ok(buf[..n].to_vec());
        }
    }
}

/// Resolves `www<N mod 50>.example.test.` over UDP until `stop`, one query
/// at a time, retrying once after a timeout.
async fn legit_udp_client(src: Ipv4Addr, seed: u64, stop: Arc<AtomicBool>) -> LegitReport {
    let socket = UdpSocket::bind((src, 0)).await.expect("bind a legitimate client");
    let mut rng = Rng::new(seed);
    let mut report = LegitReport::default();
    while !stop.load(Ordering::Relaxed) {
        let name = format!("www{}.example.test.", report.queries % 50);
        report.queries += 1;
        let started = Instant::now();
        let mut last_error = String::new();
        let mut answered = false;
        for attempt in 0..2 {
            let id = rng.u16();
            match ask_udp(&socket, &wire::query(id, &name), id).await {
                Ok(reply) => {
                    if let Err(e) = check_answer(&reply, id) {
                        report.failures.push(format!("{name}: {e}"));
                    }
                    if attempt > 0 {
                        report.retried += 1;
                    }
                    answered = true;
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        if !answered {
            report.lost += 1;
            report
                .failures
                .push(format!("{name} lost after a retry: {last_error}"));
        }
        report.slowest = report.slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    report
}

/// `dig` at the daemon for `name`: NOERROR with A 192.0.2.1.
async fn dig(name: &str, tcp: bool) -> Result<(), String> {
    let name = name.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let extra: &[&str] = if tcp { &["+tcp"] } else { &[] };
        dig_at(DAEMON, &name, "A", extra)
    })
    .await
    .map_err(|e| format!("dig task: {e}"))?;
    let status = status_of(&out);
    if status != "NOERROR" {
        return Err(format!("dig status {status:?}:\n{out}"));
    }
    let ip = fake::IPV4.to_string();
    if !answers_of(&out)
        .iter()
        .any(|(_, _, t, data)| t == "A" && *data == ip)
    {
        return Err(format!("dig: no A {ip}:\n{out}"));
    }
    Ok(())
}

/// `dig +tcp` every 300 ms until `stop` (at least three times).
async fn tcp_digs(stop: Arc<AtomicBool>) -> (u64, Vec<String>) {
    let (mut done, mut failures) = (0u64, Vec::new());
    while !stop.load(Ordering::Relaxed) || done < 3 {
        if let Err(e) = dig(&format!("tcp{}.example.test.", done % 10), true).await {
            failures.push(e);
        }
        done += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (done, failures)
}

// ───────────────────────────── UDP storm ─────────────────────────────

#[derive(Default)]
struct UdpStormReport {
    sent: u64,
    bytes: u64,
    send_errors: u64,
    /// Datagrams sent, by [`EXPECTS`] index.
    by_expect: [u64; 7],
    /// Datagrams whose reply RCODE (in the header) is known, by that RCODE.
    sure_by_rcode: [u64; 16],
    /// Replies the storm sockets read, by header RCODE.
    replies_by_rcode: [u64; 16],
    /// Replies without a header or without QR.
    bad_replies: u64,
    /// Replies owed: datagrams with a header and QR clear.
    owed: u64,
    /// Replies owed but not read after 200 ms without progress (waiting given up).
    forgiven: u64,
    /// Replies the kernel dropped at the storm sockets' own full buffers.
    own_drops: u64,
    elapsed: Duration,
}

impl UdpStormReport {
    fn add(&mut self, other: &UdpStormReport) {
        self.sent += other.sent;
        self.bytes += other.bytes;
        self.send_errors += other.send_errors;
        for (a, b) in self.by_expect.iter_mut().zip(other.by_expect) {
            *a += b;
        }
        for (a, b) in self.sure_by_rcode.iter_mut().zip(other.sure_by_rcode) {
            *a += b;
        }
        for (a, b) in self.replies_by_rcode.iter_mut().zip(other.replies_by_rcode) {
            *a += b;
        }
        self.bad_replies += other.bad_replies;
        self.owed += other.owed;
        self.forgiven += other.forgiven;
        self.own_drops += other.own_drops;
    }

    fn sent_expecting(&self, expect: Expect) -> u64 {
        EXPECTS
            .iter()
            .position(|e| *e == expect)
            .map_or(0, |i| self.by_expect[i])
    }

    fn replies(&self) -> u64 {
        self.replies_by_rcode.iter().sum()
    }
}

/// Replies a storm socket has read, shared by its sender and its drain.
#[derive(Default)]
struct Window {
    replies: AtomicU64,
    progress: Notify,
}

/// Reads what the daemon sends back to a storm socket until `done`.
async fn drain_udp_replies(
    socket: Arc<UdpSocket>,
    window: Arc<Window>,
    done: Arc<AtomicBool>,
) -> ([u64; 16], u64) {
    let (mut by_rcode, mut bad) = ([0u64; 16], 0u64);
    let mut buf = vec![0u8; 65_535];
    loop {
        match tokio::time::timeout(Duration::from_millis(100), socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                match buf[..n].get(..wire::HEADER) {
                    Some(head) if head[2] & 0x80 != 0 => by_rcode[usize::from(head[3] & 0x0f)] += 1,
                    _ => bad += 1,
                }
                window.replies.fetch_add(1, Ordering::Relaxed);
                window.progress.notify_one();
            }
            Ok(Err(_)) => {}
            Err(_) if done.load(Ordering::Relaxed) => return (by_rcode, bad),
            Err(_) => {}
        }
    }
}

/// One storm socket: `count` datagrams as fast as the daemon takes them.
///
/// Closed loop: at most [`UDP_WINDOW`] datagrams that deserve a reply are
/// unanswered at any time. An open-loop flood from 4 sockets outruns a debug
/// build on 2 shared cores; the kernel then drops a third of all datagrams at
/// the daemon's full socket buffer, legitimate ones included, for seconds at
/// a time — which says nothing about the daemon. This way the daemon is kept
/// saturated, its queue stays short, and it must parse every datagram.
async fn udp_storm_socket(src: Ipv4Addr, count: u64, seed: u64) -> UdpStormReport {
    let socket = Arc::new(UdpSocket::bind((src, 0)).await.expect("bind a storm socket"));
    let window = Arc::new(Window::default());
    let done = Arc::new(AtomicBool::new(false));
    let drain = tokio::spawn(drain_udp_replies(
        Arc::clone(&socket),
        Arc::clone(&window),
        Arc::clone(&done),
    ));
    let all: Vec<&Generator> = GENERATORS.iter().collect();
    let mut rng = Rng::new(seed);
    let mut report = UdpStormReport::default();
    // Replies owed to us (every datagram with a header and QR clear gets
    // one), and those we stopped waiting for (lost somewhere).
    let (mut owed, mut forgiven) = (0u64, 0u64);
    let outstanding =
        |owed: u64, forgiven: u64| owed.saturating_sub(forgiven + window.replies.load(Ordering::Relaxed));
    for _ in 0..count {
        while outstanding(owed, forgiven) > UDP_WINDOW {
            if tokio::time::timeout(Duration::from_millis(200), window.progress.notified())
                .await
                .is_err()
            {
                forgiven += outstanding(owed, forgiven);
            }
        }
        let g = pick(&mut rng, &all);
        let packet = (g.make)(&mut rng);
        match socket.send_to(&packet, DAEMON).await {
            Ok(n) => {
                report.sent += 1;
                report.bytes += n as u64;
                if let Some(i) = EXPECTS.iter().position(|e| *e == g.expect) {
                    report.by_expect[i] += 1;
                }
                if let Some(rcode) = header_rcode(g.expect) {
                    report.sure_by_rcode[usize::from(rcode)] += 1;
                }
                owed += u64::from(packet.get(2).is_some_and(|f| f & 0x80 == 0) && n >= wire::HEADER);
            }
            Err(_) => report.send_errors += 1,
        }
    }
    // The last replies: a question forwarded upstream may take the
    // resolver's whole deadline (2 s × 2 attempts) to come back as SERVFAIL.
    let deadline = Instant::now() + Duration::from_secs(5);
    while window.replies.load(Ordering::Relaxed) < owed && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), window.progress.notified()).await;
    }
    // The drain stops after 100 ms of silence.
    done.store(true, Ordering::Relaxed);
    let (by_rcode, bad) = drain.await.expect("drain task");
    report.replies_by_rcode = by_rcode;
    report.bad_replies = bad;
    report.owed = owed;
    report.forgiven = forgiven;
    report.own_drops = socket.local_addr().map_or(0, kernel_udp_drops);
    report
}

async fn udp_storm(total: u64, seed: u64) -> UdpStormReport {
    let started = Instant::now();
    let per_socket = total.div_ceil(UDP_STORM_IPS.len() as u64);
    let mut sockets = JoinSet::new();
    for (i, ip) in UDP_STORM_IPS.iter().enumerate() {
        sockets.spawn(udp_storm_socket(*ip, per_socket, seed * 100 + i as u64));
    }
    let mut report = UdpStormReport::default();
    while let Some(one) = sockets.join_next().await {
        report.add(&one.expect("UDP storm task"));
    }
    report.elapsed = started.elapsed();
    report
}

// ───────────────────────────── TCP storm ─────────────────────────────

#[derive(Default)]
struct TcpStormReport {
    connections: u64,
    messages: u64,
    bytes: u64,
    /// Replies checked against their message.
    replies_checked: u64,
    /// Well-formed queries among them, answered with 192.0.2.1.
    queries_answered: u64,
    /// Slow-loris connections the daemon cut off, and how long that took.
    stalled_cut: u64,
    cut_after: Vec<Duration>,
    failures: Vec<String>,
    elapsed: Duration,
}

/// What one scripted connection did.
#[derive(Default)]
struct ConnStats {
    messages: u64,
    bytes: u64,
    replies_checked: u64,
    queries_answered: u64,
}

async fn connect() -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(IpAddr::V4(TCP_CLIENT_IP), 0))?;
    socket.connect(DAEMON).await
}

/// One framed reply, `None` when the daemon closed (or reset) the connection.
async fn read_frame(rd: &mut (impl AsyncRead + Unpin)) -> Result<Option<Vec<u8>>, String> {
    let closed = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        )
    };
    let mut len = [0u8; 2];
    match tokio::time::timeout(FRAME_TIMEOUT, rd.read_exact(&mut len)).await {
        Err(_) => {
            return Err(format!(
                "nothing within {FRAME_TIMEOUT:?} (neither a reply nor a close)"
            ))
        }
        Ok(Err(e)) if closed(&e) => return Ok(None),
        Ok(Err(e)) => return Err(format!("read: {e}")),
        Ok(Ok(_)) => {}
    }
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    match tokio::time::timeout(FRAME_TIMEOUT, rd.read_exact(&mut reply)).await {
        Ok(Ok(_)) => Ok(Some(reply)),
        Ok(Err(e)) => Err(format!("reply cut short: {e}")),
        Err(_) => Err("reply cut short: timed out".into()),
    }
}

/// How a mixed connection ends.
enum Closer {
    /// We shut down our side: the daemon reads EOF and closes.
    Shutdown,
    /// A last framed message (silence or unknown), then our shutdown.
    Frame(&'static str, Vec<u8>, Expect),
    /// A length of 0xFFFF, part of the body, then our shutdown.
    PartialThenEof(Vec<u8>),
}

/// 10-59 framed messages, a quarter of them well-formed queries, the rest
/// garbage that deserves FORMERR/NOTIMP/BADVERS/REFUSED, all pipelined; the
/// replies must come back in order, then the connection must close.
async fn mixed_connection(seed: u64) -> Result<ConnStats, String> {
    let mut rng = Rng::new(seed);
    let answerable: Vec<&Generator> = GENERATORS
        .iter()
        .filter(|g| {
            matches!(
                g.expect,
                Expect::FormErr | Expect::NotImp | Expect::BadVers | Expect::Refused
            )
        })
        .collect();
    let n = rng.range(10, 60);
    let plan: Vec<(&'static str, Vec<u8>, Expect)> = (0..n)
        .map(|_| {
            if rng.chance(25) {
                ("valid question", valid_question(&mut rng), Expect::Answer)
            } else {
                let g = pick(&mut rng, &answerable);
                (g.name, (g.make)(&mut rng), g.expect)
            }
        })
        .collect();
    let closer = match rng.range(0, 5) {
        0 => Closer::Shutdown,
        1 => Closer::Frame("truncated header", truncated_header(&mut rng), Expect::Silence),
        2 => Closer::Frame("response (QR)", response(&mut rng), Expect::Silence),
        3 => Closer::Frame("random bytes", random_bytes(&mut rng), Expect::Unknown),
        _ => {
            let mut partial = vec![0xFF, 0xFF];
            let body = rng.range(1, 4000);
            partial.extend(rng.bytes(body));
            Closer::PartialThenEof(partial)
        }
    };
    let mut out = Vec::new();
    for (_, m, _) in &plan {
        out.extend(wire::framed(m));
    }
    match &closer {
        Closer::Shutdown => {}
        Closer::Frame(_, m, _) => out.extend(wire::framed(m)),
        Closer::PartialThenEof(bytes) => out.extend_from_slice(bytes),
    }
    let stats = ConnStats {
        messages: plan.len() as u64 + u64::from(matches!(closer, Closer::Frame(..))),
        bytes: out.len() as u64,
        ..ConnStats::default()
    };

    let stream = connect().await.map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        wr.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
        let _ = wr.shutdown().await;
        Ok::<(), String>(())
    };
    let reader = async {
        let mut stats = stats;
        for (i, (kind, sent, expect)) in plan.iter().enumerate() {
            let described = || format!("message {i}/{n} ({kind}, {})", wire::hex(sent));
            match read_frame(&mut rd).await {
                Ok(Some(reply)) => {
                    check_reply(sent, &reply, *expect).map_err(|e| format!("{}: {e}", described()))?
                }
                Ok(None) => return Err(format!("closed before the reply to {}", described())),
                Err(e) => return Err(format!("{}: {e}", described())),
            }
            stats.replies_checked += 1;
            stats.queries_answered += u64::from(*expect == Expect::Answer);
        }
        // Now the closer: at most one reply (to random bytes), then a close.
        let (allowed, what) = match &closer {
            Closer::Shutdown => (0, "our shutdown".to_owned()),
            Closer::Frame(kind, m, expect) => (
                u64::from(*expect == Expect::Unknown),
                format!("{kind} {}", wire::hex(m)),
            ),
            Closer::PartialThenEof(b) => (0, format!("a partial frame of {} bytes then EOF", b.len())),
        };
        let mut extra = 0;
        loop {
            match read_frame(&mut rd).await {
                Ok(None) => break,
                Ok(Some(reply)) => {
                    extra += 1;
                    if extra > allowed {
                        return Err(format!("after {what}: unexpected reply {}", wire::hex(&reply)));
                    }
                }
                Err(e) => return Err(format!("after {what}: not closed: {e}")),
            }
        }
        Ok(stats)
    };
    let (written, read) = tokio::join!(writer, reader);
    let stats = read?;
    written?;
    Ok(stats)
}

/// Random unframed bytes, then our shutdown: whatever the daemon makes of
/// them, every reply is a DNS response and the connection ends.
async fn unframed_connection(seed: u64) -> Result<ConnStats, String> {
    let mut rng = Rng::new(seed);
    let len = rng.range(1, 3000);
    let garbage = rng.bytes(len);
    let stream = connect().await.map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        // The daemon may close before reading everything: write errors are fine.
        let _ = wr.write_all(&garbage).await;
        let _ = wr.shutdown().await;
    };
    let reader = async {
        let mut stats = ConnStats {
            bytes: len as u64,
            ..ConnStats::default()
        };
        loop {
            match read_frame(&mut rd).await {
                Ok(None) => return Ok(stats),
                Ok(Some(reply)) => {
                    if reply.get(2).is_none_or(|flags| flags & 0x80 == 0) {
                        return Err(format!(
                            "unframed garbage: a reply that is no response: {}",
                            wire::hex(&reply)
                        ));
                    }
                    stats.replies_checked += 1;
                }
                Err(e) => return Err(format!("unframed garbage ({len} bytes): {e}")),
            }
        }
    };
    let ((), stats) = tokio::join!(writer, reader);
    stats
}

/// Slow-loris variants.
#[derive(Clone, Copy, Debug)]
enum Stall {
    /// One byte of the length, then nothing.
    OneByte,
    /// A length of 300, then nothing.
    LengthOnly,
    /// A length of 0xFFFF and part of the body, then nothing.
    OversizePartial,
    /// A well-formed query, one byte every 250 ms.
    Trickle,
}

/// A slow client: the daemon must close the connection after the idle
/// timeout, without a reply. Returns how long that took.
async fn stalled_connection(kind: Stall, seed: u64) -> Result<Duration, String> {
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let stream = connect().await.map_err(|e| format!("{kind:?}: connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let sending = async {
        let _ = match kind {
            Stall::OneByte => wr.write_all(&[0]).await,
            Stall::LengthOnly => wr.write_all(&300u16.to_be_bytes()).await,
            Stall::OversizePartial => {
                let mut b = vec![0xFF, 0xFF];
                let body = rng.range(1, 8000);
                b.extend(rng.bytes(body));
                wr.write_all(&b).await
            }
            Stall::Trickle => {
                for byte in wire::framed(&wire::query(rng.u16(), "trickle.example.test.")) {
                    if wr.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(())
            }
        };
        // Stall with our side open.
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut buf = [0u8; 512];
        let mut received = 0usize;
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received += n,
            }
        }
    };
    let limit = IDLE + Duration::from_secs(4);
    tokio::select! {
        () = sending => Err(format!("{kind:?}: unreachable")),
        r = tokio::time::timeout(limit, closed) => match r {
            Err(_) => Err(format!("{kind:?}: slow client still connected after {limit:?}")),
            Ok(0) => Ok(started.elapsed()),
            Ok(n) => Err(format!("{kind:?}: {n} bytes sent back to an incomplete message")),
        },
    }
}

async fn tcp_storm(seed: u64) -> TcpStormReport {
    let started = Instant::now();
    let mut report = TcpStormReport::default();
    let mut stalled = JoinSet::new();
    let kinds = [
        Stall::OneByte,
        Stall::LengthOnly,
        Stall::OversizePartial,
        Stall::Trickle,
    ];
    for (i, kind) in kinds
        .iter()
        .cycle()
        .take(kinds.len() * TCP_STALLED_PER_KIND)
        .enumerate()
    {
        stalled.spawn(stalled_connection(*kind, seed * 1_000_000 + i as u64));
    }
    let mut scripted = JoinSet::new();
    let merge = |r: Result<Result<ConnStats, String>, tokio::task::JoinError>,
                 report: &mut TcpStormReport| {
        report.connections += 1;
        match r {
            Ok(Ok(s)) => {
                report.messages += s.messages;
                report.bytes += s.bytes;
                report.replies_checked += s.replies_checked;
                report.queries_answered += s.queries_answered;
            }
            Ok(Err(e)) => report.failures.push(e),
            Err(e) => report.failures.push(format!("connection task: {e}")),
        }
    };
    for i in 0..TCP_MIXED + TCP_UNFRAMED {
        while scripted.len() >= TCP_PARALLEL {
            if let Some(r) = scripted.join_next().await {
                merge(r, &mut report);
            }
        }
        let conn_seed = seed * 1_000_000 + 1_000 + i as u64;
        if i % 5 == 4 {
            scripted.spawn(unframed_connection(conn_seed));
        } else {
            scripted.spawn(mixed_connection(conn_seed));
        }
    }
    while let Some(r) = scripted.join_next().await {
        merge(r, &mut report);
    }
    while let Some(r) = stalled.join_next().await {
        report.connections += 1;
        match r {
            Ok(Ok(after)) if after + Duration::from_millis(100) < IDLE => report.failures.push(format!(
                "slow client cut after {after:?}, before the idle timeout {IDLE:?}"
            )),
            Ok(Ok(after)) => {
                report.stalled_cut += 1;
                report.cut_after.push(after);
            }
            Ok(Err(e)) => report.failures.push(e),
            Err(e) => report.failures.push(format!("slow client task: {e}")),
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// `n` TCP clients at once, one query each: the connection slots the storm
/// used were given back.
async fn concurrent_tcp_queries(n: usize) -> Vec<String> {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            let id = i as u16;
            let stream = connect().await.map_err(|e| format!("connect: {e}"))?;
            let (mut rd, mut wr) = stream.into_split();
            let query = wire::query(id, &format!("www{}.example.test.", i % 50));
            wr.write_all(&wire::framed(&query))
                .await
                .map_err(|e| format!("write: {e}"))?;
            match read_frame(&mut rd).await? {
                Some(reply) => check_answer(&reply, id),
                None => Err("closed without an answer (no free connection slot?)".to_owned()),
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("post-storm TCP client: {e}")),
            Err(e) => failures.push(format!("post-storm TCP task: {e}")),
        }
    }
    failures
}

// ───────────────────────────── observing the daemon ─────────────────────────────

/// One scrape of `/metrics`: sample line (`name{labels}`) to value.
struct Scrape(HashMap<String, f64>);

impl Scrape {
    async fn take() -> Scrape {
        let body = tokio::task::spawn_blocking(|| Daemon::http_get(METRICS, "/metrics"))
            .await
            .expect("metrics scrape");
        Scrape(
            body.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit_once(' '))
                .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
                .collect(),
        )
    }

    fn get(&self, sample: &str) -> f64 {
        self.0.get(sample).copied().unwrap_or(0.0)
    }

    fn since(&self, before: &Scrape, sample: &str) -> u64 {
        (self.get(sample) - before.get(sample)).max(0.0) as u64
    }
}

fn queries(protocol: &str, rcode: &str) -> String {
    format!("palanquin_queries_total{{protocol=\"{protocol}\",rcode=\"{rcode}\"}}")
}

fn dropped(protocol: &str, reason: &str) -> String {
    format!("palanquin_dropped_total{{protocol=\"{protocol}\",reason=\"{reason}\"}}")
}

const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "OTHER",
];

/// Datagrams the kernel dropped on the daemon's UDP sockets (receive
/// buffers full), from /proc/net/udp.
fn kernel_udp_drops(addr: SocketAddr) -> u64 {
    let SocketAddr::V4(v4) = addr else { return 0 };
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.ip().octets()), v4.port());
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// CPU time (user + system) a process has used, at 100 clock ticks a second.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn first_few(failures: &[String]) -> String {
    let mut out: Vec<String> = failures.iter().take(8).cloned().collect();
    if failures.len() > 8 {
        out.push(format!("… and {} more", failures.len() - 8));
    }
    out.join("\n    ")
}

// ───────────────────────────── the verdict ─────────────────────────────

/// Everything measured, for the summary and the verdict.
struct Outcome {
    udp: UdpStormReport,
    tcp: TcpStormReport,
    legit: LegitReport,
    digs: u64,
    dig_failures: Vec<String>,
    final_failures: Vec<String>,
    upstream_queries: usize,
    /// Metric growth over the storm.
    before: Scrape,
    after: Scrape,
    /// Datagrams the kernel dropped before the daemon could read them.
    kernel_drops: u64,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    elapsed: Duration,
    daemon_cpu: Duration,
    log: String,
}

impl Outcome {
    fn grew(&self, sample: &str) -> u64 {
        self.after.since(&self.before, sample)
    }

    fn summary(&self) -> String {
        let (udp, tcp) = (&self.udp, &self.tcp);
        let udp_seen: u64 = RCODES
            .iter()
            .map(|rc| self.grew(&queries("udp", rc)))
            .sum::<u64>()
            + self.grew(&dropped("udp", "malformed"))
            + self.grew(&dropped("udp", "overload"));
        let cut_min = tcp.cut_after.iter().min().copied().unwrap_or_default();
        let cut_max = tcp.cut_after.iter().max().copied().unwrap_or_default();
        format!(
            "storm summary: packets sent {} (UDP {} + TCP {}), legit UDP queries {} (retried {}, lost {}, \
             slowest {:.0?}), dig +tcp {} ({} failed), RSS before {} peak {} after {}, elapsed {:.2} s, \
             daemon CPU {:.2} s\n\
             UDP: {:.1} MB at {:.0}/s; sent by expectation silence/FORMERR/NOTIMP/BADVERS/REFUSED/answer/\
             random = {:?}; the daemon read {} (kernel dropped {}); metrics FORMERR +{} dropped +{}; \
             replies owed {}, read {} (by rcode {:?}), {} not responses, {} lost in our own buffers, {} given up on; \
             upstream queries {}\n\
             TCP: {} connections, {:.1} MB in {:.2} s, {} replies checked in order ({} well-formed queries \
             answered), {} slow clients cut after {:.2}-{:.2} s; metrics FORMERR +{} dropped +{} idle cuts +{}",
            udp.sent + tcp.messages,
            udp.sent,
            tcp.messages,
            self.legit.queries,
            self.legit.retried,
            self.legit.lost,
            self.legit.slowest,
            self.digs,
            self.dig_failures.len(),
            mib(self.rss_before),
            mib(self.rss_peak),
            mib(self.rss_after),
            self.elapsed.as_secs_f64(),
            self.daemon_cpu.as_secs_f64(),
            udp.bytes as f64 / 1e6,
            udp.sent as f64 / udp.elapsed.as_secs_f64(),
            udp.by_expect,
            udp_seen,
            self.kernel_drops,
            self.grew(&queries("udp", "FORMERR")),
            self.grew(&dropped("udp", "malformed")),
            udp.owed,
            udp.replies(),
            &udp.replies_by_rcode[..6],
            udp.bad_replies,
            udp.own_drops,
            udp.forgiven,
            self.upstream_queries,
            tcp.connections,
            tcp.bytes as f64 / 1e6,
            tcp.elapsed.as_secs_f64(),
            tcp.replies_checked,
            tcp.queries_answered,
            tcp.stalled_cut,
            cut_min.as_secs_f64(),
            cut_max.as_secs_f64(),
            self.grew(&queries("tcp", "FORMERR")),
            self.grew(&dropped("tcp", "malformed")),
            self.grew("palanquin_tcp_connections_total{event=\"idle_timeout\"}"),
        )
    }

    /// What went wrong; empty when the daemon weathered the storm.
    fn problems(&self) -> Vec<String> {
        let (udp, tcp) = (&self.udp, &self.tcp);
        let mut problems = self.final_failures.clone();
        let mut fail = |what: String, failures: &[String]| {
            if !failures.is_empty() {
                problems.push(format!("{what}:\n    {}", first_few(failures)));
            }
        };
        fail(
            format!("legitimate UDP queries ({} lost after a retry)", self.legit.lost),
            &self.legit.failures,
        );
        fail("dig +tcp during the storm".into(), &self.dig_failures);
        fail(
            format!(
                "TCP storm: {} of {} connections",
                tcp.failures.len(),
                tcp.connections
            ),
            &tcp.failures,
        );

        if udp.sent < 100_000 {
            problems.push(format!("only {} UDP datagrams sent", udp.sent));
        }
        if self.legit.queries < 50 {
            problems.push(format!(
                "only {} legitimate UDP queries during the storm",
                self.legit.queries
            ));
        }
        // Every datagram with a header and QR clear deserves exactly one reply,
        // minus what was lost before the daemon read it or after it sent it.
        let lost = udp.own_drops + self.kernel_drops + self.grew(&dropped("udp", "overload"));
        if udp.replies() + lost < udp.owed {
            problems.push(format!(
                "UDP: {} datagrams deserved a reply, {} came ({lost} lost to full buffers or overload)",
                udp.owed,
                udp.replies()
            ));
        }
        for (rcode, (&got, &sure)) in udp.replies_by_rcode.iter().zip(&udp.sure_by_rcode).enumerate() {
            if got + lost < sure {
                problems.push(format!(
                    "UDP: {sure} datagrams deserved RCODE {rcode}, {got} such replies came"
                ));
            }
        }
        if udp.replies() > udp.owed {
            problems.push(format!(
                "UDP: {} replies to {} datagrams deserving one: responses or headerless datagrams answered",
                udp.replies(),
                udp.owed
            ));
        }
        if udp.bad_replies > 0 {
            problems.push(format!("{} UDP replies without a header or QR", udp.bad_replies));
        }

        if self.rss_peak >= RSS_LIMIT_KIB || self.rss_after >= RSS_LIMIT_KIB {
            problems.push(format!(
                "RSS {} at the peak, {} after the storm: over {}",
                mib(self.rss_peak),
                mib(self.rss_after),
                mib(RSS_LIMIT_KIB)
            ));
        }

        let udp_formerr = self.grew(&queries("udp", "FORMERR"));
        if udp_formerr <= 10_000 {
            problems.push(format!("the UDP FORMERR counter grew by only {udp_formerr}"));
        }
        let formerr_possible = udp.sent_expecting(Expect::FormErr) + udp.sent_expecting(Expect::Unknown);
        if udp_formerr > formerr_possible {
            problems.push(format!(
                "{udp_formerr} UDP FORMERR for {formerr_possible} malformed datagrams"
            ));
        }
        let udp_dropped = self.grew(&dropped("udp", "malformed"));
        if udp_dropped <= 1_000 {
            problems.push(format!(
                "the UDP dropped (malformed) counter grew by only {udp_dropped}"
            ));
        }
        let tcp_formerr = self.grew(&queries("tcp", "FORMERR"));
        if tcp_formerr < tcp.replies_checked / 4 {
            problems.push(format!("the TCP FORMERR counter grew by only {tcp_formerr}"));
        }
        let idle_cuts = self.grew("palanquin_tcp_connections_total{event=\"idle_timeout\"}");
        if idle_cuts < tcp.stalled_cut {
            problems.push(format!(
                "{} slow clients cut off, but the idle_timeout counter grew by {idle_cuts}",
                tcp.stalled_cut
            ));
        }
        for bad in ["panicked", "ended unexpectedly"] {
            if self.log.contains(bad) {
                problems.push(format!("the daemon log says {bad:?}"));
            }
        }
        problems
    }
}

// ───────────────────────────── the test ─────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_malformed_packets_leaves_the_daemon_up_bounded_and_answering() {
    let upstream = Fake::start(FAKE_IP, Behaviour::Answer).await;
    let mut daemon = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_palanquin")),
        DAEMON,
        &config(upstream.addr),
    );
    dig("www0.example.test.", false)
        .await
        .expect("the daemon answers before the storm");

    let rss_before = daemon.rss_kib();
    let before = Scrape::take().await;
    let kernel_drops_before = kernel_udp_drops(DAEMON);
    let cpu_before = cpu_time(daemon.pid());
    let started = Instant::now();

    // The storm, with legitimate clients throughout; RSS sampled meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let legit: Vec<_> = LEGIT_IPS
        .iter()
        .enumerate()
        .map(|(i, ip)| tokio::spawn(legit_udp_client(*ip, 7 + i as u64, Arc::clone(&stop))))
        .collect();
    let digs = tokio::spawn(tcp_digs(Arc::clone(&stop)));
    let storms = tokio::spawn(async { tokio::join!(udp_storm(UDP_PACKETS, 1), tcp_storm(2)) });
    let mut rss_peak = rss_before;
    while !storms.is_finished() && started.elapsed() < STORM_LIMIT {
        rss_peak = rss_peak.max(daemon.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !storms.is_finished() {
        storms.abort();
        panic!(
            "the storm did not finish within {STORM_LIMIT:?} (a hang?); daemon running: {}\n\
             --- daemon log ---\n{}",
            daemon.is_running(),
            tail(&daemon.log(), 60)
        );
    }
    let (udp, tcp) = storms.await.expect("storm tasks");
    let elapsed = started.elapsed();
    let daemon_cpu = cpu_time(daemon.pid()).saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    let mut legit_total = LegitReport::default();
    for client in legit {
        let r = client.await.expect("legitimate client task");
        legit_total.queries += r.queries;
        legit_total.retried += r.retried;
        legit_total.lost += r.lost;
        legit_total.failures.extend(r.failures);
        legit_total.slowest = legit_total.slowest.max(r.slowest);
    }
    let (digs, dig_failures) = digs.await.expect("dig task");

    // After it: still up, answering over UDP and TCP, connection slots free.
    let mut final_failures = Vec::new();
    if !daemon.is_running() {
        final_failures.push("the daemon is not running any more".to_owned());
    }
    for tcp in [false, true] {
        if let Err(e) = dig("after.example.test.", tcp).await {
            final_failures.push(format!("final dig (tcp: {tcp}): {e}"));
        }
    }
    let slot_failures = concurrent_tcp_queries(200).await;
    if !slot_failures.is_empty() {
        final_failures.push(format!(
            "after the storm, {} of 200 concurrent TCP clients failed:\n    {}",
            slot_failures.len(),
            first_few(&slot_failures)
        ));
    }
    let rss_after = daemon.rss_kib();

    let outcome = Outcome {
        udp,
        tcp,
        legit: legit_total,
        digs,
        dig_failures,
        final_failures,
        upstream_queries: upstream.queries(),
        before,
        after: Scrape::take().await,
        kernel_drops: kernel_udp_drops(DAEMON).saturating_sub(kernel_drops_before),
        rss_before,
        rss_peak: rss_peak.max(rss_after),
        rss_after,
        elapsed,
        daemon_cpu,
        log: daemon.log(),
    };
    eprintln!("{}", outcome.summary());
    let problems = outcome.problems();
    assert!(
        problems.is_empty(),
        "the daemon did not weather the storm:\n  {}\n--- daemon log (tail) ---\n{}",
        problems.join("\n  "),
        tail(&outcome.log, 60)
    );
}
