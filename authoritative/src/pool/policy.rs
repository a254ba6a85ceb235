//! Which members one answer hands out. Pure: the caller passes the turn
//! (a counter per pool), the client's key (its address, or its EDNS Client
//! Subnet) and a random number, so every choice is reproducible in tests.
//!
//! ```text
//!  primaries that are up ─ none? ─▶ all_down: all (every primary not drained)
//!        │                                    | backup (the backups that are up) | none
//!        ▼
//!  round-robin: rotated by the turn   random: shuffled   weighted: drawn by weight
//!  hashed: rendezvous hashing of (client, member) ─▶ the client's member first
//!        ─▶ the first `max`
//! ```
//!
//! Hashing is a fixed function of the bytes (FNV-1a, then a 64-bit mixer),
//! not a per-process random hasher: two Palanquin peers send a client to
//! the same member.

use std::net::IpAddr;

/// How members are ordered in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Each answer starts at the next live member.
    RoundRobin,
    /// A random order each time.
    Random,
    /// A random order drawn by weight: a member of weight 2 comes first
    /// twice as often as one of weight 1.
    Weighted,
    /// The same client gets the same live member first; when that member
    /// dies only its clients move (weighted rendezvous hashing).
    Hashed,
}

/// What to answer when no primary member is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Every primary member that is not drained, as if all were up.
    All,
    /// Nothing.
    None,
    /// The backup members that are up.
    Backup,
}

/// A member of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its address.
    pub addr: IpAddr,
    /// Its weight (at least 1).
    pub weight: u32,
    /// Handed out only when no primary member is up (`all_down = "backup"`).
    pub backup: bool,
}

/// A member's standing for this answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    /// Up.
    Up,
    /// Down (or not checked yet).
    Down,
    /// Drained by the operator: handed out to nobody.
    Drained,
}

/// How a pool answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The order.
    pub policy: Policy,
    /// At most this many addresses per answer.
    pub max: usize,
    /// When no primary is up.
    pub all_down: AllDown,
}

/// The addresses of one answer from `members` (`usable[i]` for
/// `members[i]`), for the pool's `turn`-th answer, to the client keyed
/// `client`, with `random` as the answer's random number.
pub fn choose(
    members: &[Member],
    usable: &[Usable],
    answer: &Answer,
    turn: u64,
    client: &[u8],
    random: u64,
) -> Vec<IpAddr> {
    let mut out = Vec::new();
    choose_into(members, usable, answer, (turn, random), client, &mut out);
    out.into_iter().map(|i| members[i].addr).collect()
}

/// [`choose`], as indices into `members` written to `out` (cleared
/// first): the query path's form, which allocates nothing once `out` has
/// room (but for the weighted and hashed orders' keys). `turn` and
/// `random` as for [`choose`].
pub fn choose_into(
    members: &[Member],
    usable: &[Usable],
    answer: &Answer,
    (turn, random): (u64, u64),
    client: &[u8],
    out: &mut Vec<usize>,
) {
    out.clear();
    let state = |i: usize| usable.get(i).copied().unwrap_or(Usable::Down);
    let pick = |out: &mut Vec<usize>, f: &dyn Fn(&Member, Usable) -> bool| {
        out.extend((0..members.len()).filter(|&i| f(&members[i], state(i))));
    };
    pick(out, &|m, u| !m.backup && u == Usable::Up);
    if out.is_empty() {
        match answer.all_down {
            AllDown::All => pick(out, &|m, u| !m.backup && u != Usable::Drained),
            AllDown::Backup => pick(out, &|m, u| m.backup && u == Usable::Up),
            AllDown::None => {}
        }
    }
    order(out, members, answer.policy, (turn, random), client);
    out.truncate(answer.max.max(1));
}

fn order(live: &mut [usize], members: &[Member], policy: Policy, (turn, random): (u64, u64), client: &[u8]) {
    if live.len() < 2 {
        return;
    }
    let by_key = |live: &mut [usize], key: &mut dyn FnMut(&Member) -> f64| {
        let mut keyed: Vec<(f64, usize)> = live.iter().map(|&i| (key(&members[i]), i)).collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (slot, (_, i)) in live.iter_mut().zip(keyed) {
            *slot = i;
        }
    };
    match policy {
        Policy::RoundRobin => {
            let n = live.len() as u64;
            live.rotate_left((turn % n) as usize);
        }
        Policy::Random => {
            let mut rng = SplitMix(random);
            for i in (1..live.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                live.swap(i, j);
            }
        }
        Policy::Weighted => {
            // Efraimidis–Spirakis: each member's key u^(1/w), largest first.
            let mut rng = SplitMix(random);
            by_key(live, &mut |m| unit(rng.next()).powf(1.0 / weight(m)));
        }
        Policy::Hashed => {
            // Weighted rendezvous: score −w / ln(u), u from hash(client, member).
            by_key(live, &mut |m| -weight(m) / unit(hash_pair(client, &m.addr)).ln());
        }
    }
}

fn weight(m: &Member) -> f64 {
    f64::from(m.weight.max(1))
}

/// A number in (0, 1) from 64 random bits (52 of them: exact in an f64,
/// so never 0 and never 1).
fn unit(bits: u64) -> f64 {
    ((bits >> 12) as f64 + 0.5) / (1u64 << 52) as f64
}

/// SplitMix64: a small, fast generator for one answer's order.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
}

/// The SplitMix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fixed number in (0, 1) from `key` (a member's phase in its interval).
pub(crate) fn unit_of(key: &[u8]) -> f64 {
    unit(fnv(key.iter().copied()))
}

/// FNV-1a over `bytes`, then mixed.
fn fnv(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// A fixed hash of a client key and a member address.
fn hash_pair(client: &[u8], member: &IpAddr) -> u64 {
    let (v4, v6);
    let octets: &[u8] = match member {
        IpAddr::V4(a) => {
            v4 = a.octets();
            &v4
        }
        IpAddr::V6(a) => {
            v6 = a.octets();
            &v6
        }
    };
    fnv(client.iter().chain(&[0xff]).chain(octets).copied())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<Member> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Member {
                addr: IpAddr::from([192, 0, 2, 10 + i as u8]),
                weight: w,
                backup: false,
            })
            .collect()
    }

    fn answer(policy: Policy) -> Answer {
        Answer {
            policy,
            max: 8,
            all_down: AllDown::All,
        }
    }

    /// How often each member comes first over `n` answers.
    fn firsts(
        ms: &[Member],
        usable: &[Usable],
        a: &Answer,
        n: u64,
        client: impl Fn(u64) -> Vec<u8>,
    ) -> Vec<u64> {
        let mut count = vec![0u64; ms.len()];
        for t in 0..n {
            let got = choose(ms, usable, a, t, &client(t), mix(t));
            let i = ms.iter().position(|m| m.addr == got[0]).unwrap();
            count[i] += 1;
        }
        count
    }

    #[test]
    fn round_robin_is_fair_over_the_live_members() {
        let ms = members(&[1, 1, 1, 1]);
        let usable = [Usable::Up, Usable::Down, Usable::Up, Usable::Up];
        let count = firsts(&ms, &usable, &answer(Policy::RoundRobin), 3000, |_| Vec::new());
        assert_eq!(count, vec![1000, 0, 1000, 1000]);
        let one = choose(&ms, &usable, &answer(Policy::RoundRobin), 1, b"", 0);
        assert_eq!(one.len(), 3, "every live member, rotated");
    }

    #[test]
    fn weights_are_respected_within_five_percent() {
        let ms = members(&[1, 2, 3, 4]);
        let usable = [Usable::Up; 4];
        let n = 40_000;
        for policy in [Policy::Weighted, Policy::Hashed] {
            let count = firsts(&ms, &usable, &answer(policy), n, |t| t.to_be_bytes().to_vec());
            for (i, c) in count.iter().enumerate() {
                let want = n as f64 * (i + 1) as f64 / 10.0;
                assert!((*c as f64 - want).abs() < want * 0.05, "{policy:?}: {count:?}");
            }
        }
        let count = firsts(&ms, &usable, &answer(Policy::Random), n, |_| Vec::new());
        assert!(
            count.iter().all(|&c| (c as f64 - 10_000.0).abs() < 500.0),
            "{count:?}"
        );
    }

    #[test]
    fn hashed_keeps_a_client_and_moves_only_a_dead_members_clients() {
        let ms = members(&[1, 1, 1, 1, 1]);
        let all_up = [Usable::Up; 5];
        let a = answer(Policy::Hashed);
        let first = |usable: &[Usable], client: u32| choose(&ms, usable, &a, 0, &client.to_be_bytes(), 0)[0];
        for client in 0..100u32 {
            let m = first(&all_up, client);
            assert!((0..100).all(|turn| choose(&ms, &all_up, &a, turn, &client.to_be_bytes(), turn)[0] == m));
        }
        let mut one_down = all_up;
        one_down[2] = Usable::Down;
        let mut moved = 0;
        for client in 0..2000u32 {
            let (before, after) = (first(&all_up, client), first(&one_down, client));
            if before == ms[2].addr {
                assert_ne!(after, ms[2].addr);
                moved += 1;
            } else {
                assert_eq!(before, after, "client {client} moved although its member lives");
            }
        }
        assert!((300..500).contains(&moved), "about a fifth moved: {moved}");
    }

    #[test]
    fn all_down_drains_max_and_backups() {
        let mut ms = members(&[1, 1, 1]);
        ms.push(Member {
            addr: IpAddr::from([198, 51, 100, 1]),
            weight: 1,
            backup: true,
        });
        let down = [Usable::Down, Usable::Drained, Usable::Down, Usable::Up];
        let with = |all_down| Answer {
            policy: Policy::RoundRobin,
            max: 8,
            all_down,
        };
        let all = choose(&ms, &down, &with(AllDown::All), 0, b"", 0);
        assert_eq!(
            all,
            vec![ms[0].addr, ms[2].addr],
            "all but the drained one, no backup"
        );
        assert!(choose(&ms, &down, &with(AllDown::None), 0, b"", 0).is_empty());
        assert_eq!(
            choose(&ms, &down, &with(AllDown::Backup), 0, b"", 0),
            vec![ms[3].addr]
        );
        // A live primary: backups are not handed out, drained never.
        let some = [Usable::Up, Usable::Drained, Usable::Up, Usable::Up];
        let got = choose(&ms, &some, &with(AllDown::Backup), 0, b"", 0);
        assert_eq!(got, vec![ms[0].addr, ms[2].addr]);
        let capped = Answer {
            policy: Policy::RoundRobin,
            max: 1,
            all_down: AllDown::All,
        };
        assert_eq!(choose(&ms, &some, &capped, 1, b"", 0), vec![ms[2].addr]);
    }
}
