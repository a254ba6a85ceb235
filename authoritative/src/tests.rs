//! Answers of the whole crate, zone text in, reply bytes out.

use std::path::Path;
use std::sync::Arc;

use palanquin_wire::{self as wire, rcode};

use crate::{parse, Context, LoadError, Zones};

const ZONE: &str = r#"$TTL 300
@        IN SOA ns1 hostmaster 7 7200 3600 1209600 60
         IN NS  ns1
         IN NS  ns.other.test.
ns1      A     192.0.2.1
ns1      AAAA  2001:db8::1
www      A     192.0.2.2
WwW2     A     192.0.2.3
mx       MX    10 www
mx       MX    20 mail.other.test.
srv      SRV   0 5 80 www
c        CNAME www
c2       CNAME c
ext      CNAME x.other.test.
loop1    CNAME loop2
loop2    CNAME loop1
*.w      A     192.0.2.9
*.w      TXT   "wild" "two"
x.y.w    A     192.0.2.10
*.cw     CNAME www
sub      NS    ns.sub
sub      NS    ns2.other.test.
ns.sub   A     192.0.2.7
sub      DS    1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB
dn       DNAME www.example.test.
a.b.c.ent A    192.0.2.3
unk      TYPE65534 \# 3 010203
"#;

fn zones(text: &str) -> Zones {
    let zone = parse("example.test.", Path::new("t.zone"), text.as_bytes()).expect("loads");
    Zones::new(vec![Arc::new(zone)])
}

fn refused(text: &str) -> LoadError {
    parse("example.test.", Path::new("t.zone"), text.as_bytes()).expect_err("refused")
}

/// `name` (text, any case, any bytes) in wire form, as a client spells it.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A query for `name` (text) of `qtype`, EDNS with `payload` when given.
fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut q = vec![
        0x12,
        0x34,
        0x00,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    q.extend(wire_name(name));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some((payload, nsid)) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0x80, 0]);
        if nsid {
            q.extend_from_slice(&[0, 4, 0, 3, 0, 0]);
        } else {
            q.extend_from_slice(&[0, 0]);
        }
    }
    q
}

struct Reply {
    raw: Vec<u8>,
    sections: [Vec<(String, u16)>; 3],
}

impl Reply {
    fn rcode(&self) -> u8 {
        self.raw[3] & 0x0f
    }
    fn aa(&self) -> bool {
        self.raw[2] & 0x04 != 0
    }
    fn tc(&self) -> bool {
        self.raw[2] & 0x02 != 0
    }
    fn section(&self, i: usize) -> Vec<(&str, u16)> {
        self.sections[i].iter().map(|(n, t)| (n.as_str(), *t)).collect()
    }
}

fn ask_with(z: &Zones, raw: &[u8], ctx: &Context<'_>) -> Reply {
    let q = wire::parse_query(raw).expect("query");
    let i = z.find(&q.qname).expect("in a zone");
    let out = z.answer(i, raw, &q, ctx);
    let l = wire::layout(&out).expect("well formed");
    let names = |rrs: &[wire::RrPos]| {
        rrs.iter()
            .filter(|r| r.rtype != 41)
            .map(|r| {
                let (n, _) = wire::read_name(&out, r.start).expect("owner");
                (wire::name_to_string(&n), r.rtype)
            })
            .collect::<Vec<_>>()
    };
    Reply {
        sections: [names(&l.answers), names(&l.authority), names(&l.additional)],
        raw: out,
    }
}

fn ask(z: &Zones, name: &str, qtype: u16) -> Reply {
    ask_with(z, &query(name, qtype, None), &Context::default())
}

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const DNAME: u16 = 39;
const DS: u16 = 43;

#[test]
fn a_positive_answer_carries_the_zone_ns_and_their_addresses() {
    let z = zones(ZONE);
    let r = ask(&z, "www.example.test.", A);
    assert!(r.aa() && r.rcode() == rcode::NOERROR);
    assert_eq!(r.section(0), [("www.example.test.", A)]);
    assert_eq!(r.section(1), [("example.test.", NS), ("example.test.", NS)]);
    assert_eq!(
        r.section(2),
        [("ns1.example.test.", A), ("ns1.example.test.", AAAA)]
    );
}

#[test]
fn the_question_keeps_the_clients_spelling() {
    let z = zones(ZONE);
    let r = ask(&z, "wWw.ExAmple.TEST.", A);
    assert_eq!(&r.raw[12..30], b"\x03wWw\x07ExAmple\x04TEST\x00");
    assert_eq!(r.section(0), [("wWw.ExAmple.TEST.", A)]);
    // Names stored in another case keep it where they are not the question.
    let r = ask(&z, "mx.example.test.", MX);
    assert_eq!(r.section(0).len(), 2);
}

#[test]
fn negative_answers_have_the_soa_with_the_negative_ttl() {
    let z = zones(ZONE);
    let r = ask(&z, "nope.example.test.", A);
    assert_eq!((r.rcode(), r.aa()), (rcode::NXDOMAIN, true));
    assert_eq!(r.section(1), [("example.test.", SOA)]);
    let l = wire::layout(&r.raw).expect("layout");
    assert_eq!(l.authority[0].ttl, 60, "min(SOA TTL 300, MINIMUM 60)");
    let r = ask(&z, "www.example.test.", TXT);
    assert_eq!((r.rcode(), r.section(0).len()), (rcode::NOERROR, 0));
    assert_eq!(r.section(1), [("example.test.", SOA)]);
    // An empty non-terminal is NODATA, not NXDOMAIN.
    for ent in [
        "ent.example.test.",
        "c.ent.example.test.",
        "b.c.ent.example.test.",
    ] {
        let r = ask(&z, ent, A);
        assert_eq!(
            (r.rcode(), r.section(1)),
            (rcode::NOERROR, vec![("example.test.", SOA)]),
            "{ent}"
        );
    }
}

#[test]
fn cname_chains_are_followed_inside_the_zone() {
    let z = zones(ZONE);
    let r = ask(&z, "c2.example.test.", A);
    assert_eq!(
        r.section(0),
        [
            ("c2.example.test.", CNAME),
            ("c.example.test.", CNAME),
            ("www.example.test.", A)
        ]
    );
    assert_eq!(r.section(1).len(), 2, "the zone's NS");
    // Out of the zone: the CNAME alone, nothing in authority.
    let r = ask(&z, "ext.example.test.", A);
    assert_eq!(
        (r.section(0), r.section(1).len()),
        (vec![("ext.example.test.", CNAME)], 0)
    );
    // A chain to a missing type: NODATA with the chain; to a missing name: NXDOMAIN.
    let r = ask(&z, "c.example.test.", TXT);
    assert_eq!(
        (r.rcode(), r.section(0).len(), r.section(1)),
        (0, 1, vec![("example.test.", SOA)])
    );
    // The CNAME itself.
    let r = ask(&z, "c.example.test.", CNAME);
    assert_eq!(r.section(0), [("c.example.test.", CNAME)]);
    // A loop ends.
    let r = ask(&z, "loop1.example.test.", A);
    assert_eq!(
        r.section(0),
        [("loop1.example.test.", CNAME), ("loop2.example.test.", CNAME)]
    );
}

#[test]
fn dname_synthesises_a_cname() {
    let z = zones(ZONE);
    let r = ask(&z, "foo.dn.example.test.", A);
    assert_eq!(r.rcode(), rcode::NXDOMAIN, "foo.www.example.test. does not exist");
    assert_eq!(
        r.section(0),
        [("dn.example.test.", DNAME), ("foo.dn.example.test.", CNAME)]
    );
    let l = wire::layout(&r.raw).expect("layout");
    let (target, _) = wire::read_name(&r.raw, l.answers[1].rdata_at).expect("target");
    assert_eq!(wire::name_to_string(&target), "foo.www.example.test.");
    // The DNAME owner itself is not rewritten.
    let r = ask(&z, "dn.example.test.", A);
    assert_eq!((r.rcode(), r.section(0).len()), (rcode::NOERROR, 0));
    let r = ask(&z, "dn.example.test.", DNAME);
    assert_eq!(r.section(0), [("dn.example.test.", DNAME)]);
}

#[test]
fn wildcards_follow_rfc_4592() {
    let z = zones(ZONE);
    let r = ask(&z, "anything.w.example.test.", TXT);
    assert_eq!(r.section(0), [("anything.w.example.test.", TXT)]);
    let r = ask(&z, "a.b.w.example.test.", A);
    assert_eq!(
        r.section(0),
        [("a.b.w.example.test.", A)],
        "below the closest encloser"
    );
    // y.w exists (an empty non-terminal): it blocks the wildcard.
    let r = ask(&z, "y.w.example.test.", A);
    assert_eq!((r.rcode(), r.section(0).len()), (rcode::NOERROR, 0));
    let r = ask(&z, "z.y.w.example.test.", A);
    assert_eq!(r.rcode(), rcode::NXDOMAIN, "closest encloser y.w has no wildcard");
    // The wildcard's type set: NODATA for others.
    let r = ask(&z, "q.w.example.test.", MX);
    assert_eq!(
        (r.rcode(), r.section(1)),
        (rcode::NOERROR, vec![("example.test.", SOA)])
    );
    // A wildcard CNAME is synthesised and followed.
    let r = ask(&z, "foo.cw.example.test.", A);
    assert_eq!(
        r.section(0),
        [("foo.cw.example.test.", CNAME), ("www.example.test.", A)]
    );
}

#[test]
fn delegations_answer_with_a_referral() {
    let z = zones(ZONE);
    for name in [
        "sub.example.test.",
        "deep.below.sub.example.test.",
        "ns.sub.example.test.",
    ] {
        let r = ask(&z, name, A);
        assert!(!r.aa(), "{name}: AA clear");
        assert_eq!(r.rcode(), rcode::NOERROR);
        assert_eq!(r.section(0).len(), 0);
        assert_eq!(
            r.section(1),
            [("sub.example.test.", NS), ("sub.example.test.", NS)]
        );
        assert_eq!(r.section(2), [("ns.sub.example.test.", A)], "in-zone glue only");
    }
    // DS is the parent's: answered with AA.
    let r = ask(&z, "sub.example.test.", DS);
    assert!(r.aa());
    assert_eq!(
        (r.section(0), r.section(1).len()),
        (vec![("sub.example.test.", DS)], 0)
    );
}

#[test]
fn additional_addresses_for_mx_srv_and_ns() {
    let z = zones(ZONE);
    let r = ask(&z, "mx.example.test.", MX);
    assert!(r.section(2).contains(&("www.example.test.", A)));
    let r = ask(&z, "srv.example.test.", SRV);
    assert!(r.section(2).contains(&("www.example.test.", A)));
    let r = ask(&z, "example.test.", NS);
    assert_eq!(r.section(1).len(), 0, "NS already in the answer");
    assert_eq!(
        r.section(2),
        [("ns1.example.test.", A), ("ns1.example.test.", AAAA)]
    );
}

#[test]
fn any_gets_one_rrset() {
    let z = zones(ZONE);
    let r = ask(&z, "example.test.", 255);
    assert_eq!(
        (r.section(0), r.section(1).len()),
        (vec![("example.test.", SOA)], 0)
    );
    let r = ask(&z, "unk.example.test.", 65534);
    assert_eq!(r.section(0), [("unk.example.test.", 65534)]);
}

#[test]
fn edns_nsid_and_truncation() {
    let z = zones(&format!(
        "{ZONE}{}",
        (0..8)
            .map(|i| format!("big TXT \"{i}{}\"\n", "x".repeat(99)))
            .collect::<String>()
    ));
    let ctx = Context {
        nsid: Some(b"node-a"),
        limit: Some(512),
        ..Context::default()
    };
    let r = ask_with(&z, &query("www.example.test.", A, Some((1232, true))), &ctx);
    let opt = &r.raw[r.raw.len() - 21..];
    assert_eq!(&opt[..3], &[0, 0, 41]);
    assert_eq!(opt[7], 0x80, "DO echoed");
    assert_eq!(&opt[11..], b"\x00\x03\x00\x06node-a");
    // Not asked: no NSID.
    let r = ask_with(&z, &query("www.example.test.", A, Some((1232, false))), &ctx);
    assert_eq!(&r.raw[r.raw.len() - 2..], &[0, 0]);
    // 8 × 113 bytes do not fit in 512: TC, nothing in the sections, AA kept.
    let r = ask_with(&z, &query("big.example.test.", TXT, None), &ctx);
    assert!(r.tc() && r.aa());
    assert!(r.sections.iter().all(Vec::is_empty));
    // Over TCP (no limit) everything.
    let r = ask_with(&z, &query("big.example.test.", TXT, None), &Context::default());
    assert!(!r.tc());
    assert_eq!(r.section(0).len(), 8);
    // Within 1232 with EDNS: fits, but the authority's glue may be dropped, never TC.
    let ctx = Context {
        limit: Some(1232),
        ..Context::default()
    };
    let r = ask_with(&z, &query("big.example.test.", TXT, Some((1232, false))), &ctx);
    assert!(!r.tc());
    assert!(r.raw.len() <= 1232);
}

#[test]
fn every_compiled_answer_matches_the_general_path() {
    let zone = parse("example.test.", Path::new("t.zone"), ZONE.as_bytes()).expect("loads");
    let z = Zones::new(vec![Arc::new(zone)]);
    let zone = z.iter().next().expect("zone").clone();
    let mut compared = 0;
    let mut nodata = 0;
    let mut tails = 0;
    let mut simple = 0;
    for (key, node) in &zone.nodes {
        // Every type it has, every type compiled for it, and some it lacks.
        let mut types: Vec<u16> = node.compiled.iter().map(|(t, _)| *t).collect();
        types.extend(node.rrsets().map(|s| s.rtype));
        types.extend([1, 16, 28, 43, 99, 65533]);
        for qtype in types {
            let Some(found) = crate::compiled::find(node, qtype) else {
                continue;
            };
            // Asked in mixed case, with EDNS and DO.
            let name: String = wire::name_to_string(key)
                .chars()
                .enumerate()
                .map(|(i, c)| if i % 3 == 0 { c.to_ascii_uppercase() } else { c })
                .collect();
            let mut raw = query(&name, qtype, Some((1232, false)));
            raw[2] = 0x01; // RD
            let q = wire::parse_query(&raw).expect("query");
            let opt = Some(crate::render::Opt {
                dnssec_ok: true,
                nsid: None,
                ecs: None,
            });
            let head = crate::render::Head {
                id: q.id,
                rd: true,
                cd: false,
                ra: false,
            };
            let fast = match found {
                crate::compiled::Fast::Simple(set) => {
                    simple += 1;
                    crate::compiled::simple_reply(&zone, set, &raw, q.question_end, q.qname.len(), head, opt)
                        .expect("a tail")
                }
                crate::compiled::Fast::Compiled(c) => {
                    tails += usize::from(c.with_tail());
                    c.reply(&zone, &raw, q.question_end, q.qname.len(), head, opt)
                }
                crate::compiled::Fast::NoData => {
                    nodata += 1;
                    let n = zone.negative.as_ref().expect("negative");
                    n.negative_reply(&raw, q.question_end, q.qname.len(), 0, head, opt)
                }
            };
            let plan = crate::lookup::lookup(&Single(&zone), &zone, &q.qname, qtype);
            let slow = crate::render::render(&raw[12..q.question_end], head, &plan, opt, None);
            assert_eq!(fast, slow, "{name} type {qtype}");
            // And through the public entry point, which picks the path.
            let public = z.answer(0, &raw, &q, &Context::default());
            assert_eq!(public[2..], slow[2..], "{name} type {qtype}: Zones::answer");
            compared += 1;
        }
    }
    assert!(compared > 60, "compared {compared}");
    assert!(nodata > 20, "the shared NODATA is used: {nodata}");
    assert!(tails >= 1, "the shared positive tail is used: {tails}");
    assert!(simple >= 5, "simple answers are written from the RRset: {simple}");
}

/// The compiled NXDOMAIN equals the general path's for missing names of
/// every length and depth, and is used only where nothing else applies.
#[test]
fn the_compiled_nxdomain_matches_the_general_path() {
    let zone = parse("example.test.", Path::new("t.zone"), ZONE.as_bytes()).expect("loads");
    let nx = zone.negative.clone().expect("compiled");
    let names = [
        "a.example.test.",
        "NoPe.Example.Test.",
        "a.b.c.d.e.example.test.",
        "x.ent.example.test.",
        "z.y.w.example.test.",
        &format!("{}.example.test.", "q".repeat(63)),
    ];
    for name in names {
        let raw = query(name, 1, Some((1232, false)));
        let q = wire::parse_query(&raw).expect("query");
        assert!(zone.node(&q.qname).is_none());
        assert!(crate::zones::plain_nxdomain(&zone, &q.qname), "{name}");
        let head = crate::render::Head {
            id: q.id,
            rd: false,
            cd: false,
            ra: false,
        };
        let opt = crate::render::Opt {
            dnssec_ok: true,
            nsid: None,
            ecs: None,
        };
        let fast = nx.negative_reply(
            &raw,
            q.question_end,
            q.qname.len(),
            rcode::NXDOMAIN,
            head,
            Some(opt),
        );
        let plan = crate::lookup::lookup(&Single(&zone), &zone, &q.qname, 1);
        let slow = crate::render::render(&raw[12..q.question_end], head, &plan, Some(opt), None);
        assert_eq!(fast, slow, "{name}");
    }
    // Below a wildcard's parent, a cut or a DNAME: not a plain NXDOMAIN.
    for name in [
        "x.w.example.test.",
        "x.sub.example.test.",
        "x.dn.example.test.",
        "x.ns.sub.example.test.",
    ] {
        let q = wire::parse_query(&query(name, 1, None)).expect("query");
        assert!(!crate::zones::plain_nxdomain(&zone, &q.qname), "{name}");
    }
}

struct Single<'a>(&'a crate::Zone);
impl<'a> crate::lookup::Finder<'a> for Single<'a> {
    fn zone_of(&self, name: &[u8]) -> Option<&'a crate::Zone> {
        wire::is_below_or_at(name, &self.0.apex).then_some(self.0)
    }
}

#[test]
fn bad_zones_are_refused_with_the_line() {
    let head = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n";
    let cases = [
        (
            format!("{head}www A 192.0.2.1\nwww CNAME ns1\n"),
            6,
            "CNAME and other data",
        ),
        (
            format!("{head}www CNAME ns1\nwww CNAME c\n"),
            6,
            "more than one CNAME",
        ),
        (format!("{head}@ SOA ns1 hm 2 2 3 4 5\n"), 2, "more than one SOA"),
        (format!("{head}x SOA ns1 hm 2 2 3 4 5\n"), 5, "not the apex"),
        (
            format!("{head}out.other.test. A 192.0.2.1\n"),
            5,
            "outside the zone",
        ),
        (format!("{head}sub NS ns.sub\n"), 5, "no A or AAAA glue"),
        (
            format!("{head}d DNAME a.test.\nd DNAME b.test.\n"),
            6,
            "more than one DNAME",
        ),
        (format!("{head}bad A 192.0.2.300\n"), 5, ""),
        ("$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n".to_owned(), 2, "no NS"),
        ("$TTL 300\n@ NS ns1\n".to_owned(), 0, "no SOA"),
    ];
    for (text, line, what) in cases {
        let e = refused(&text);
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(what), "{e}");
        let at = if line == 0 {
            "t.zone: ".to_owned()
        } else {
            format!("t.zone:{line}: ")
        };
        assert!(e.to_string().starts_with(&at), "{e}");
    }
    // Glue outside the delegation is not required; in-zone glue elsewhere is fine.
    parse(
        "example.test.",
        Path::new("t"),
        format!("{head}sub NS ns1\nsub2 NS ns.x.test.\n").as_bytes(),
    )
    .expect("loads");
}

#[test]
fn the_deepest_zone_wins_and_chains_cross_zones() {
    let parent = parse("example.test.", Path::new("p"), ZONE.as_bytes()).expect("parent");
    let child = parse(
        "other.test.",
        Path::new("c"),
        b"$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.50\nx A 192.0.2.51\n",
    )
    .expect("child");
    let z = Zones::new(vec![Arc::new(parent), Arc::new(child)]);
    let r = ask(&z, "ext.example.test.", A);
    assert_eq!(r.section(0), [("ext.example.test.", CNAME), ("x.other.test.", A)]);
    assert_eq!(
        r.section(1),
        [("other.test.", NS)],
        "the NS of the zone that answered"
    );
    assert!(z.find(b"\x03foo\x04test\x00").is_none());
    assert!(z.find(b"\x04test\x00").is_none());
}

/// A chain into a zone served below this one ends in that zone, and the
/// fast path does not answer it from the parent alone; DS for the child's
/// apex comes from the parent (RFC 4035 §3.1.4.1).
#[test]
fn chains_into_a_served_child_zone_and_ds_from_the_parent() {
    let parent = parse(
        "example.test.",
        Path::new("p"),
        b"$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww CNAME host.sub\n\
          sub NS ns.sub\nns.sub A 192.0.2.2\nsub DS 1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB\n",
    )
    .expect("parent");
    let child = parse(
        "sub.example.test.",
        Path::new("c"),
        b"$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.2\nhost A 192.0.2.3\n",
    )
    .expect("child");
    let z = Zones::new(vec![Arc::new(parent), Arc::new(child)]);
    let r = ask(&z, "www.example.test.", A);
    assert!(r.aa());
    assert_eq!(
        r.section(0),
        [("www.example.test.", CNAME), ("host.sub.example.test.", A)]
    );
    let r = ask(&z, "sub.example.test.", DS);
    assert_eq!(r.section(0), [("sub.example.test.", DS)], "the parent's DS");
    // The child's own apex records still come from the child.
    let r = ask(&z, "sub.example.test.", SOA);
    assert_eq!(r.section(0), [("sub.example.test.", SOA)]);
}

#[test]
fn data_below_a_dname_is_refused() {
    let e = refused(
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nd DNAME x.test.\na.d A 192.0.2.9\n",
    );
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("below its DNAME"), "{e}");
}

/// A referral whose glue below the cut does not fit is truncated (RFC 9471),
/// and zone transfers are refused (not offered by this release).
#[test]
fn referral_glue_that_does_not_fit_truncates_and_transfers_are_refused() {
    // Two NS (they fit in 512 bytes) with 20 addresses each (they do not).
    let mut text =
        String::from("$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nsub NS a.sub\nsub NS b.sub\n");
    for i in 0..20 {
        text.push_str(&format!("a.sub AAAA 2001:db8::{i}\nb.sub AAAA 2001:db8::1:{i}\n"));
    }
    let z = zones(&text);
    let ctx = Context {
        limit: Some(512),
        ..Context::default()
    };
    let r = ask_with(&z, &query("x.sub.example.test.", A, None), &ctx);
    assert!(r.tc() && !r.aa(), "TC on a referral whose glue is cut");
    let r = ask_with(&z, &query("x.sub.example.test.", A, None), &Context::default());
    assert_eq!(
        (r.section(1).len(), r.section(2).len()),
        (2, 40),
        "all of it over TCP"
    );
    for qtype in [251, 252] {
        assert_eq!(
            ask(&z, "example.test.", qtype).rcode(),
            rcode::REFUSED,
            "type {qtype}"
        );
    }
}

/// An RRset whose answer passes the reach of a compression pointer goes
/// the general way, and its reply stays well formed.
#[test]
fn a_huge_rrset_is_answered_whole_over_tcp() {
    let mut text = String::from("$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..2000 {
        text.push_str(&format!("big A 10.0.{}.{}\n", i / 250, i % 250));
    }
    let z = zones(&text);
    let r = ask(&z, "big.example.test.", A);
    assert_eq!(r.section(0).len(), 2000);
    assert_eq!(r.section(1), [("example.test.", NS)]);
    assert_eq!(
        r.section(2),
        [("ns1.example.test.", A)],
        "the glue after 32 KB of answer"
    );
}

/// A small, fixed-seed stand-in for the fuzz targets (which need nightly):
/// byte-mutated zone files never panic the loader, and byte-mutated queries
/// always get a well-formed reply with the client's ID.
#[test]
fn mutated_zone_files_and_queries_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = ZONE.as_bytes();
    for _ in 0..3000 {
        let mut text = base.to_vec();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % text.len();
            match next() % 3 {
                0 => text[at] = next() as u8,
                1 => text.insert(at, b"()\";\\$@*. \n"[(next() % 11) as usize]),
                _ => {
                    text.remove(at);
                }
            }
        }
        let _ = parse("example.test.", Path::new("m.zone"), &text);
    }
    let z = zones(ZONE);
    let names = [
        "www.example.test.",
        "a.b.w.example.test.",
        "x.dn.example.test.",
        "x.sub.example.test.",
        "nope.example.test.",
    ];
    for i in 0..20_000 {
        let mut raw = query(
            names[i % names.len()],
            [1, 2, 5, 15, 28, 255][i % 6],
            Some((512, i % 2 == 0)),
        );
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % raw.len();
            raw[at] = next() as u8;
        }
        let Ok(q) = wire::parse_query(&raw) else { continue };
        let Some(zone) = z.find(&q.qname) else { continue };
        for limit in [None, Some(512)] {
            let out = z.answer(
                zone,
                &raw,
                &q,
                &Context {
                    limit,
                    ..Context::default()
                },
            );
            assert!(wire::layout(&out).is_ok(), "well formed");
            assert_eq!(out[..2], raw[..2]);
            assert!(limit.is_none_or(|l| out.len() <= l));
        }
    }
}
