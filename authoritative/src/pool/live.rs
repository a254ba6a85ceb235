//! A pool as the answers see it: its members, each member's standing in
//! two atomics the daemon's checker and control socket set, and the reply
//! to a query for the pool's name, rendered per query (the order changes
//! with every answer, so nothing is compiled ahead).
//!
//! ```text
//!  checker task ─ set_health(Up | Down) ─▶ MemberCell ◀─ set_drained ─ control socket
//!  query ─▶ LivePool::reply: the cells read (no lock) ─▶ policy::choose
//!        ─▶ header + question + one A/AAAA per chosen member + the zone's tail + OPT
//! ```
//!
//! With nothing to hand out (`all_down = "none"`), the reply is the zone's
//! NODATA. The TTL is the pool's `ttl`, or `down_ttl` while any primary member is
//! down, so that resolvers come back sooner when things are changing. A
//! hashed pool keys the client by its EDNS Client Subnet when the query
//! carries one, and echoes it with the scope the answer holds for
//! (RFC 7871 §7.2.1); otherwise by the address it asked from.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use metrics::Counter;
use palanquin_wire::HEADER;

use super::health::State;
use super::policy::{self, Answer, Member, Policy, Usable};
use crate::render::{self, Head, Opt};
use crate::zone::Zone;

/// One member's standing, shared by the checker (health), the operator
/// (drain) and every answer (which reads both).
#[derive(Debug, Default)]
pub struct MemberCell {
    /// 0 unknown, 1 up, 2 down.
    health: AtomicU8,
    drained: AtomicBool,
}

impl MemberCell {
    /// A member not checked yet, not drained.
    pub fn new() -> MemberCell {
        MemberCell::default()
    }

    /// Sets the health the checks found.
    pub fn set_health(&self, state: State) {
        let v = match state {
            State::Unknown => 0,
            State::Up => 1,
            State::Down => 2,
        };
        self.health.store(v, Ordering::Release);
    }

    /// The health the checks found.
    pub fn health(&self) -> State {
        match self.health.load(Ordering::Acquire) {
            1 => State::Up,
            2 => State::Down,
            _ => State::Unknown,
        }
    }

    /// Drains (true) or undrains the member; returns whether it was drained.
    pub fn set_drained(&self, drained: bool) -> bool {
        self.drained.swap(drained, Ordering::AcqRel)
    }

    /// Whether the operator drained it.
    pub fn drained(&self) -> bool {
        self.drained.load(Ordering::Acquire)
    }

    /// What an answer makes of it: a member not checked yet is not handed out.
    pub fn usable(&self) -> Usable {
        if self.drained() {
            Usable::Drained
        } else if self.health() == State::Up {
            Usable::Up
        } else {
            Usable::Down
        }
    }
}

/// What a pool is, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// The zone's apex (lower-cased wire form).
    pub apex: Box<[u8]>,
    /// The pool's name (lower-cased wire form), at or below the apex.
    pub name: Box<[u8]>,
    /// A (1) or AAAA (28).
    pub rtype: u16,
    /// The answers' TTL.
    pub ttl: u32,
    /// The TTL while any primary member is down.
    pub down_ttl: Option<u32>,
    /// The members, backups included.
    pub members: Vec<Member>,
    /// How answers are made.
    pub answer: Answer,
}

/// A pool in service.
#[derive(Debug)]
pub struct LivePool {
    spec: PoolSpec,
    cells: Box<[Arc<MemberCell>]>,
    /// Each member's answer record (owner a pointer to the question,
    /// type, class, the pool's TTL, the address), written as they are.
    records: Box<[Box<[u8]>]>,
    /// Answers so far: the round-robin turn, and the random numbers' source.
    turn: AtomicU64,
    /// Answers with a live member, and answers made under `all_down`.
    answered: [Counter; 2],
}

/// The members one answer hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The addresses, in the answer's order.
    pub addrs: Vec<IpAddr>,
    /// The records' TTL.
    pub ttl: u32,
    /// No primary member was up: the `all_down` answer.
    pub all_down: bool,
}

impl LivePool {
    /// The pool `spec`, its members' standing in `cells` (one per member,
    /// in order), counting its answers under `zone` and `pool` labels.
    pub fn new(spec: PoolSpec, cells: Vec<Arc<MemberCell>>) -> LivePool {
        let zone = palanquin_wire::name_to_string(&spec.apex);
        let pool = palanquin_wire::name_to_string(&spec.name);
        let rtype = if spec.rtype == 28 { "AAAA" } else { "A" };
        let answered = ["live", "all_down"].map(|r| {
            metrics::counter!(crate::metrics::POOL_ANSWERS, "zone" => zone.clone(), "pool" => pool.clone(), "type" => rtype, "result" => r)
        });
        let records = spec
            .members
            .iter()
            .map(|m| {
                let octets: Vec<u8> = match m.addr {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                };
                let mut rr = vec![0xc0, 0x0c];
                rr.extend_from_slice(&spec.rtype.to_be_bytes());
                rr.extend_from_slice(&[0, 1]);
                rr.extend_from_slice(&spec.ttl.to_be_bytes());
                rr.extend_from_slice(&(octets.len() as u16).to_be_bytes());
                rr.extend_from_slice(&octets);
                rr.into_boxed_slice()
            })
            .collect();
        LivePool {
            spec,
            cells: cells.into(),
            records,
            turn: AtomicU64::new(0),
            answered,
        }
    }

    /// What the pool is.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// The members' standing, one per member.
    pub fn cells(&self) -> &[Arc<MemberCell>] {
        &self.cells
    }

    /// The members of the next answer to the client keyed `client`.
    pub fn pick(&self, client: &[u8]) -> Chosen {
        SCRATCH.with_borrow_mut(|(usable, chosen)| {
            let (ttl, all_down) = self.choose(client, usable, chosen);
            let addrs = chosen.iter().map(|&i| self.spec.members[i].addr).collect();
            Chosen { addrs, ttl, all_down }
        })
    }

    /// The next answer's members into `chosen` (indices), `usable` as
    /// scratch; returns the TTL and whether no primary was up.
    fn choose(&self, client: &[u8], usable: &mut Vec<Usable>, chosen: &mut Vec<usize>) -> (u32, bool) {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        usable.clear();
        usable.extend(self.cells.iter().map(|c| c.usable()));
        let members = &self.spec.members;
        policy::choose_into(
            members,
            usable,
            &self.spec.answer,
            (turn, mix(turn)),
            client,
            chosen,
        );
        let all_down = !members
            .iter()
            .zip(usable.iter())
            .any(|(m, &u)| !m.backup && u == Usable::Up);
        let any_down = members
            .iter()
            .zip(&self.cells)
            .any(|(m, c)| !m.backup && c.health() != State::Up);
        let ttl = match self.spec.down_ttl {
            Some(low) if any_down => low,
            _ => self.spec.ttl,
        };
        self.answered[usize::from(all_down)].increment(1);
        (ttl, all_down)
    }

    /// The reply to a query for the pool's name and type, whose header and
    /// question are `raw[..question_end]`, from `client` (the address it
    /// asked from), within `limit` over UDP; `None` when the zone lacks
    /// the templates this needs (the general path then answers).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reply(
        &self,
        zone: &Zone,
        raw: &[u8],
        question_end: usize,
        qname_len: usize,
        head: Head,
        opt: Option<Opt<'_>>,
        client: Option<IpAddr>,
        limit: Option<usize>,
    ) -> Option<Vec<u8>> {
        // Whether this path can answer at all is decided before a member is
        // chosen (a choice moves the rotation and counts an answer): it needs
        // the zone's templates, and room for the tail's pointers after the
        // largest answer.
        let tail = zone.tail.as_ref()?;
        zone.negative.as_ref()?;
        let largest = self.records.iter().map(|r| r.len()).max().unwrap_or(0)
            * self.spec.answer.max.min(self.records.len());
        if question_end + largest + tail.bytes.len() > crate::template::MAX_POINTER {
            return None;
        }
        let (key, subnet) = self.client_key(raw, question_end, opt.is_some(), client);
        SCRATCH.with_borrow_mut(|(usable, chosen)| {
            let (ttl, _) = self.choose(&key, usable, chosen);
            self.render(
                zone,
                raw,
                (question_end, qname_len),
                head,
                opt,
                (chosen, ttl),
                subnet,
                limit,
            )
        })
    }

    /// Who asks, as a hashed pool keys clients: the EDNS Client Subnet of
    /// the query (`raw`, its question ending at `question_end`, `has_opt`
    /// when it has an OPT record), else the address it came from; and the
    /// subnet, to echo. Other policies need no key.
    pub(crate) fn client_key(
        &self,
        raw: &[u8],
        question_end: usize,
        has_opt: bool,
        client: Option<IpAddr>,
    ) -> (Vec<u8>, Option<palanquin_wire::ClientSubnet>) {
        if self.spec.answer.policy != Policy::Hashed {
            return (Vec::new(), None);
        }
        let subnet = has_opt
            .then(|| palanquin_wire::client_subnet(raw, question_end))
            .flatten();
        let key = match (&subnet, client) {
            (Some(s), _) if s.source > 0 => s.key(),
            (_, Some(IpAddr::V4(a))) => a.octets().to_vec(),
            (_, Some(IpAddr::V6(a))) => a
                .to_ipv4_mapped()
                .map_or(a.octets().to_vec(), |v4| v4.octets().to_vec()),
            (_, None) => Vec::new(),
        };
        (key, subnet)
    }

    /// The reply with the members `chosen` (indices) at `ttl`.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        zone: &Zone,
        raw: &[u8],
        (question_end, qname_len): (usize, usize),
        head: Head,
        opt: Option<Opt<'_>>,
        (chosen, ttl): (&[usize], u32),
        subnet: Option<palanquin_wire::ClientSubnet>,
        limit: Option<usize>,
    ) -> Option<Vec<u8>> {
        // Nothing to hand out (all down, `all_down = "none"`): NODATA, with
        // the SOA so that resolvers cache it only for the negative TTL.
        // Zones without the templates (a wildcard at the apex, say) leave
        // these answers to the general path.
        if chosen.is_empty() {
            let n = zone.negative.as_ref()?;
            return Some(n.negative_reply(raw, question_end, qname_len, 0, head, opt));
        }
        let tail = zone.tail.as_ref()?;
        let mut out = Vec::with_capacity(question_end + 28 * chosen.len() + 160);
        out.extend_from_slice(&head.id.to_be_bytes());
        out.extend_from_slice(&render::flags(head, true, false, 0));
        let (ns, ar) = (tail.counts[1], tail.counts[2]);
        let ar = ar + u16::from(opt.is_some());
        for n in [1, chosen.len() as u16, ns, ar] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&raw[HEADER..question_end]);
        let answer = out.len();
        for &i in chosen {
            let at = out.len();
            out.extend_from_slice(&self.records[i]);
            if ttl != self.spec.ttl {
                out[at + 6..at + 10].copy_from_slice(&ttl.to_be_bytes());
            }
        }
        if out.len() + tail.bytes.len() > crate::template::MAX_POINTER {
            // The tail's pointers could not reach that far.
            return None;
        }
        let before = out.len() - answer;
        tail.write(&mut out, qname_len, before);
        push_opt(&mut out, opt, subnet);
        if limit.is_some_and(|l| out.len() > l) {
            return Some(truncated(raw, question_end, head, opt, subnet));
        }
        Some(out)
    }
}

thread_local! {
    /// Each thread's scratch for choosing: no allocation per answer.
    static SCRATCH: std::cell::RefCell<(Vec<Usable>, Vec<usize>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// Our OPT record, when the client sent one, with its subnet echoed: the
/// answer holds for the whole subnet it gave (RFC 7871 §7.2.1).
fn push_opt(out: &mut Vec<u8>, opt: Option<Opt<'_>>, subnet: Option<palanquin_wire::ClientSubnet>) {
    if let Some(opt) = opt {
        Opt { ecs: subnet, ..opt }.push(out);
    }
}

/// An empty reply with TC set: the client asks again over TCP.
fn truncated(
    raw: &[u8],
    question_end: usize,
    head: Head,
    opt: Option<Opt<'_>>,
    subnet: Option<palanquin_wire::ClientSubnet>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&head.id.to_be_bytes());
    out.extend_from_slice(&render::flags(head, true, true, 0));
    for n in [1u16, 0, 0, u16::from(opt.is_some())] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&raw[HEADER..question_end]);
    push_opt(&mut out, opt, subnet);
    out
}

/// The answer's random number, from its turn (SplitMix64 of a counter:
/// cheap, and as random as an order needs to be).
fn mix(turn: u64) -> u64 {
    let mut z = turn
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pool::policy::AllDown;

    fn pool(down_ttl: Option<u32>, policy: Policy) -> LivePool {
        let members: Vec<Member> = (1..=3)
            .map(|i| Member {
                addr: IpAddr::from([192, 0, 2, i]),
                weight: 1,
                backup: false,
            })
            .collect();
        let cells = members.iter().map(|_| Arc::new(MemberCell::new())).collect();
        LivePool::new(
            PoolSpec {
                apex: palanquin_wire::name_from_text("example.").unwrap().into(),
                name: palanquin_wire::name_from_text("www.example.").unwrap().into(),
                rtype: 1,
                ttl: 30,
                down_ttl,
                members,
                answer: Answer {
                    policy,
                    max: 8,
                    all_down: AllDown::None,
                },
            },
            cells,
        )
    }

    #[test]
    fn unchecked_and_drained_members_are_not_handed_out() {
        let p = pool(Some(5), Policy::RoundRobin);
        // Nothing checked yet: all down, nothing answered (all_down = none).
        let c = p.pick(b"");
        assert!(c.all_down && c.addrs.is_empty());
        for cell in p.cells() {
            cell.set_health(State::Up);
        }
        let c = p.pick(b"");
        assert_eq!((c.addrs.len(), c.ttl, c.all_down), (3, 30, false));
        p.cells()[1].set_health(State::Down);
        let c = p.pick(b"");
        assert_eq!((c.addrs.len(), c.ttl), (2, 5), "down_ttl while one is down");
        assert!(!c.addrs.contains(&IpAddr::from([192, 0, 2, 2])));
        // Drained: not handed out, but not "down" either (the TTL stays).
        p.cells()[1].set_health(State::Up);
        assert!(!p.cells()[0].set_drained(true));
        let c = p.pick(b"");
        assert_eq!((c.addrs.len(), c.ttl), (2, 30));
        assert!(!c.addrs.contains(&IpAddr::from([192, 0, 2, 1])));
        assert!(p.cells()[0].set_drained(false));
        assert_eq!(p.pick(b"").addrs.len(), 3);
    }

    #[test]
    fn each_answer_starts_at_the_next_member() {
        let p = pool(None, Policy::RoundRobin);
        for cell in p.cells() {
            cell.set_health(State::Up);
        }
        let firsts: Vec<IpAddr> = (0..6).map(|_| p.pick(b"").addrs[0]).collect();
        assert_eq!(firsts[0..3], firsts[3..6]);
        assert_ne!(firsts[0], firsts[1]);
        assert_ne!(firsts[1], firsts[2]);
    }

    #[test]
    fn the_random_numbers_differ_from_answer_to_answer() {
        let seen: std::collections::HashSet<u64> = (0..1000).map(mix).collect();
        assert_eq!(seen.len(), 1000);
        assert!((0..1000).map(mix).filter(|r| r & 1 == 1).count().abs_diff(500) < 60);
    }
}
