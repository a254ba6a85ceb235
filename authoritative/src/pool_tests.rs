//! Pools inside a zone: the names answered from members, the zone's other
//! names untouched, and the reply's bytes.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use palanquin_wire::{self as wire, rcode};

use crate::pool::health::State;
use crate::pool::live::{LivePool, MemberCell, PoolSpec};
use crate::pool::policy::{AllDown, Answer, Member, Policy};
use crate::{parse, Context, Zones};

const ZONE: &str = "$TTL 300
@        IN SOA ns1 hostmaster 7 7200 3600 1209600 60
         IN NS  ns1
ns1      A     192.0.2.1
static   A     192.0.2.2
web      TXT   \"pool name with other data\"
lb       CNAME www
far      CNAME lb
";

/// A zone whose apex has a wildcard: it has no NXDOMAIN/NODATA template,
/// so its pool answers that need one take the general path.
const WILD: &str = "$TTL 300
@        IN SOA ns1 hostmaster 7 7200 3600 1209600 60
         IN NS  ns1
ns1      A     192.0.2.1
*        AAAA  2001:db8::1
*        A     192.0.2.99
";

fn name(text: &str) -> Box<[u8]> {
    wire::name_from_text(text).expect("name").into()
}

fn pool(at: &str, policy: Policy, members: u8) -> Arc<LivePool> {
    let members: Vec<Member> = (1..=members)
        .map(|i| Member {
            addr: IpAddr::from([198, 51, 100, i]),
            weight: 1,
            backup: false,
        })
        .collect();
    let cells = members.iter().map(|_| Arc::new(MemberCell::new())).collect();
    let pool = LivePool::new(
        PoolSpec {
            apex: name("example.test."),
            name: name(at),
            rtype: 1,
            ttl: 30,
            down_ttl: Some(5),
            members,
            answer: Answer {
                policy,
                max: 8,
                all_down: AllDown::None,
            },
        },
        cells,
    );
    for c in pool.cells() {
        c.set_health(State::Up);
    }
    Arc::new(pool)
}

fn served(pools: &[Arc<LivePool>]) -> Zones {
    served_from(ZONE, pools)
}

fn served_from(text: &str, pools: &[Arc<LivePool>]) -> Zones {
    let zone = parse("example.test.", Path::new("t.zone"), text.as_bytes()).expect("loads");
    Zones::new(vec![Arc::new(zone)]).with_pools(pools)
}

/// A query for `qname` of `qtype`; with EDNS, `options` in its OPT.
fn query(qname: &str, qtype: u16, options: Option<&[u8]>) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(options.is_some())];
    for label in qname.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some(o) = options {
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&(o.len() as u16).to_be_bytes());
        q.extend_from_slice(o);
    }
    q
}

fn ask(zones: &Zones, raw: &[u8], client: [u8; 4], limit: Option<usize>) -> Vec<u8> {
    let q = wire::parse_query(raw).expect("query");
    let zone = zones.find(&q.qname).expect("in the zone");
    let ctx = Context {
        limit,
        client: Some(IpAddr::from(client)),
        ..Context::default()
    };
    zones.answer(zone, raw, &q, &ctx)
}

/// The A addresses of the answer section, and their TTLs.
fn addresses(reply: &[u8]) -> Vec<(IpAddr, u32)> {
    let l = wire::layout(reply).expect("well formed");
    l.answers
        .iter()
        .filter(|r| r.rtype == 1)
        .map(|r| {
            let b = &reply[r.rdata_at..r.end];
            (IpAddr::from([b[0], b[1], b[2], b[3]]), r.ttl)
        })
        .collect()
}

#[test]
fn a_pool_name_answers_its_live_members_and_other_names_are_untouched() {
    let www = pool("www.example.test.", Policy::RoundRobin, 3);
    let z = served(&[Arc::clone(&www)]);
    let r = ask(
        &z,
        &query("WWW.example.test.", 1, None),
        [127, 0, 0, 1],
        Some(512),
    );
    assert_eq!(r[..2], [0xab, 0xcd]);
    assert_eq!(r[2] & 0x04, 0x04, "authoritative");
    assert_eq!(r[3] & 0x0f, rcode::NOERROR);
    assert_eq!(&r[12..12 + 4], b"\x03WWW", "the client's spelling kept");
    let got = addresses(&r);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|&(_, ttl)| ttl == 30));
    let l = wire::layout(&r).expect("layout");
    assert_eq!(l.authority.len(), 1, "the zone's NS, as for a static name");

    www.cells()[0].set_health(State::Down);
    let got = addresses(&ask(
        &z,
        &query("www.example.test.", 1, None),
        [127, 0, 0, 1],
        None,
    ));
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|&(a, ttl)| a != IpAddr::from([198, 51, 100, 1]) && ttl == 5));

    // Static names of the same zone answer as before.
    let r = ask(&z, &query("static.example.test.", 1, None), [127, 0, 0, 1], None);
    assert_eq!(addresses(&r), vec![(IpAddr::from([192, 0, 2, 2]), 300)]);
    let r = ask(&z, &query("nope.example.test.", 1, None), [127, 0, 0, 1], None);
    assert_eq!(r[3] & 0x0f, rcode::NXDOMAIN);
}

#[test]
fn other_types_at_a_pool_name_and_above_it_are_nodata() {
    let deep = pool("a.b.example.test.", Policy::RoundRobin, 2);
    let web = pool("web.example.test.", Policy::RoundRobin, 2);
    let z = served(&[deep, web]);
    for (qname, qtype) in [
        ("a.b.example.test.", 16),
        ("b.example.test.", 1),
        ("a.b.example.test.", 28),
    ] {
        let r = ask(&z, &query(qname, qtype, None), [127, 0, 0, 1], None);
        assert_eq!(r[3] & 0x0f, rcode::NOERROR, "{qname} {qtype}");
        let l = wire::layout(&r).expect("layout");
        assert!(
            l.answers.is_empty() && l.authority[0].rtype == 6,
            "NODATA with the SOA"
        );
    }
    // The zone's own data at a pool's name still answers for other types.
    let r = ask(&z, &query("web.example.test.", 16, None), [127, 0, 0, 1], None);
    assert_eq!(wire::layout(&r).expect("layout").answers[0].rtype, 16);
    // ANY gets the pool's records.
    let r = ask(&z, &query("a.b.example.test.", 255, None), [127, 0, 0, 1], None);
    assert_eq!(addresses(&r).len(), 2);
    // Below the pool's name there is nothing.
    let r = ask(&z, &query("x.a.b.example.test.", 1, None), [127, 0, 0, 1], None);
    assert_eq!(r[3] & 0x0f, rcode::NXDOMAIN);
}

#[test]
fn a_hashed_pool_keys_on_the_client_subnet_and_echoes_it() {
    let www = pool("www.example.test.", Policy::Hashed, 8);
    let z = served(&[www]);
    let ecs = |net: [u8; 3]| -> Vec<u8> {
        let mut o = vec![0, 8, 0, 7, 0, 1, 24, 0];
        o.extend_from_slice(&net);
        o
    };
    // The same subnet, asked through different resolvers: the same member.
    let first = |client: [u8; 4], net: [u8; 3]| {
        let r = ask(&z, &query("www.example.test.", 1, Some(&ecs(net))), client, None);
        let l = wire::layout(&r).expect("layout");
        let opt = l.additional.last().expect("OPT");
        assert_eq!(opt.rtype, 41);
        assert_eq!(
            &r[opt.rdata_at..opt.end],
            &[&[0u8, 8, 0, 7, 0, 1, 24, 24][..], &net[..]].concat()[..],
            "echoed with scope 24"
        );
        addresses(&r)[0].0
    };
    let a = first([10, 0, 0, 1], [203, 0, 113]);
    assert_eq!(a, first([10, 9, 9, 9], [203, 0, 113]));
    let others: std::collections::HashSet<IpAddr> =
        (0..40u8).map(|i| first([10, 0, 0, 1], [203, 0, i])).collect();
    assert!(others.len() > 4, "subnets spread over the members: {others:?}");
    // Without ECS: by the address it asked from.
    let by_addr =
        |client: [u8; 4]| addresses(&ask(&z, &query("www.example.test.", 1, None), client, None))[0].0;
    assert_eq!(by_addr([192, 0, 2, 77]), by_addr([192, 0, 2, 77]));
}

#[test]
fn a_pool_answer_too_big_for_udp_is_truncated() {
    let big = pool("www.example.test.", Policy::RoundRobin, 40);
    let z = served(&[big]);
    let r = ask(
        &z,
        &query("www.example.test.", 1, None),
        [127, 0, 0, 1],
        Some(100),
    );
    assert_eq!(r[2] & 0x02, 0x02, "TC");
    assert!(r.len() <= 100 && addresses(&r).is_empty());
    let r = ask(&z, &query("www.example.test.", 1, None), [127, 0, 0, 1], None);
    assert_eq!(addresses(&r).len(), 8, "max");
}

#[test]
fn conflicts_with_the_zone_data_are_named() {
    let z = served(&[]);
    assert!(z
        .pool_conflict(&pool("static.example.test.", Policy::RoundRobin, 1))
        .is_some());
    assert!(z
        .pool_conflict(&pool("web.example.test.", Policy::RoundRobin, 1))
        .is_none());
}

#[test]
fn a_cname_to_a_pool_name_ends_in_the_pools_members() {
    let www = pool("www.example.test.", Policy::RoundRobin, 3);
    let z = served(&[Arc::clone(&www)]);
    for qname in ["lb.example.test.", "far.example.test."] {
        let r = ask(&z, &query(qname, 1, None), [127, 0, 0, 1], None);
        let l = wire::layout(&r).expect("layout");
        assert_eq!(r[3] & 0x0f, rcode::NOERROR, "{qname}");
        assert!(l.answers.iter().any(|a| a.rtype == 5), "the CNAME: {qname}");
        assert_eq!(addresses(&r).len(), 3, "then the live members: {qname}");
    }
    www.cells()[1].set_health(State::Down);
    let got = addresses(&ask(
        &z,
        &query("lb.example.test.", 1, None),
        [127, 0, 0, 1],
        None,
    ));
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|&(a, ttl)| a != IpAddr::from([198, 51, 100, 2]) && ttl == 5));
}

#[test]
fn pool_names_block_the_wildcard_of_a_zone_without_templates() {
    let www = pool("www.a.example.test.", Policy::RoundRobin, 2);
    let z = served_from(WILD, &[Arc::clone(&www)]);
    let client = [127, 0, 0, 1];
    assert_eq!(
        addresses(&ask(&z, &query("www.a.example.test.", 1, None), client, None)).len(),
        2
    );
    // The pool's name exists: AAAA there is NODATA, not the wildcard's.
    for qname in ["www.a.example.test.", "a.example.test."] {
        let r = ask(&z, &query(qname, 28, None), client, None);
        let l = wire::layout(&r).expect("layout");
        assert_eq!(r[3] & 0x0f, rcode::NOERROR, "{qname}");
        assert!(
            l.answers.is_empty() && l.authority.iter().any(|a| a.rtype == 6),
            "NODATA at {qname}"
        );
    }
    // Below the pool's name: its closest encloser has no wildcard.
    let r = ask(&z, &query("x.www.a.example.test.", 1, None), client, None);
    assert_eq!(r[3] & 0x0f, rcode::NXDOMAIN);
    // Elsewhere the wildcard still answers.
    assert_eq!(
        addresses(&ask(&z, &query("other.example.test.", 1, None), client, None)),
        vec![(IpAddr::from([192, 0, 2, 99]), 300)]
    );
    // Nobody up, all_down = none: a NODATA with the SOA.
    for c in www.cells() {
        c.set_health(State::Down);
    }
    let r = ask(&z, &query("www.a.example.test.", 1, None), client, None);
    let l = wire::layout(&r).expect("layout");
    assert!(
        l.answers.is_empty() && l.authority.iter().any(|a| a.rtype == 6),
        "NODATA"
    );
}

#[test]
fn the_general_path_rotates_once_per_answer_and_echoes_the_subnet() {
    // In a zone without templates every pool answer takes the general path.
    let rr = pool("rr.example.test.", Policy::RoundRobin, 2);
    let sticky = pool("sticky.example.test.", Policy::Hashed, 8);
    let z = served_from(WILD, &[Arc::clone(&rr), Arc::clone(&sticky)]);
    let firsts: Vec<IpAddr> = (0..4)
        .map(|_| {
            addresses(&ask(
                &z,
                &query("rr.example.test.", 1, None),
                [127, 0, 0, 1],
                None,
            ))[0]
                .0
        })
        .collect();
    assert_ne!(
        firsts[0], firsts[1],
        "each answer starts at the next member: {firsts:?}"
    );
    assert_eq!(firsts[0], firsts[2]);
    // A hashed pool's answer carries the client's subnet back, scope 24.
    let ecs = [0u8, 8, 0, 7, 0, 1, 24, 0, 203, 0, 113];
    let r = ask(
        &z,
        &query("sticky.example.test.", 1, Some(&ecs)),
        [10, 0, 0, 1],
        None,
    );
    let l = wire::layout(&r).expect("layout");
    let opt = l.additional.last().expect("OPT");
    assert_eq!(
        &r[opt.rdata_at..opt.end],
        &[0u8, 8, 0, 7, 0, 1, 24, 24, 203, 0, 113][..]
    );
    // Through a CNAME too (in the zone with templates).
    let z = served(&[pool("www.example.test.", Policy::Hashed, 8)]);
    let r = ask(&z, &query("lb.example.test.", 1, Some(&ecs)), [10, 0, 0, 1], None);
    let l = wire::layout(&r).expect("layout");
    let opt = l.additional.last().expect("OPT");
    assert_eq!(
        &r[opt.rdata_at..opt.end],
        &[0u8, 8, 0, 7, 0, 1, 24, 24, 203, 0, 113][..]
    );
    assert_eq!(addresses(&r).len(), 8);
}

#[test]
fn a_pool_below_a_delegation_is_left_out_and_the_referral_stands() {
    let text = format!("{ZONE}sub NS ns.sub\nns.sub A 192.0.2.7\n");
    let below = pool("www.sub.example.test.", Policy::RoundRobin, 2);
    let z = served_from(&text, &[Arc::clone(&below)]);
    assert_eq!(z.pool_conflict(&below).map(|c| c.1), Some(false));
    assert_eq!(z.pools().count(), 1, "still listed (status shows it)");
    let r = ask(&z, &query("www.sub.example.test.", 1, None), [127, 0, 0, 1], None);
    assert_eq!(r[2] & 0x04, 0, "a referral: AA clear");
    assert!(addresses(&r).is_empty());
}
