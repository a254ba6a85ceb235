//! Where a query goes: names inside a configured zone to the authoritative
//! side, everything else to the resolver if the configuration has one and
//! the client may recurse. Malformed input gets FORMERR or is dropped.
//!
//! ```text
//!  bytes ─parse─▶ error: response bit set / no header → Drop; opcode ≠ QUERY →
//!          │        NOTIMP (even with no question); else FORMERR
//!          │ NOTIFY → replication (a secondary zone's primaries only)
//!          │ opcode ≠ QUERY → NOTIMP;  EDNS version ≠ 0 → BADVERS
//!          │ AXFR/IXFR → replication (allow_transfer, TSIG; streamed over TCP)
//!          │ QTYPE 0, OPT, TSIG → FORMERR; TKEY, MAILA/MAILB, other meta → NOTIMP
//!          │ the deepest zone at or above QNAME → authoritative answer (AA, NSID)
//!          ▼
//!       resolver? no → REFUSED;  yes → ACL / fresh hit now, or Resolve
//!       (NSID, when asked, is added to the resolver's answers here)
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use palanquin_authoritative::Context;
use palanquin_resolver::{Front, Service};
use palanquin_wire::{self as wire, rcode, Malformed, Query};

use crate::server::Generation;

/// Largest UDP answer sent, whatever the client advertises (DNS flag day 2020).
const MAX_UDP: usize = 1232;
/// Extended RCODE BADVERS (RFC 6891).
const BADVERS: u8 = 16;
/// NOTIFY (RFC 1996).
const OPCODE_NOTIFY: u8 = 4;
const IXFR: u16 = 251;
const AXFR: u16 = 252;

/// What to do with one message.
pub(crate) enum Routed {
    /// Send this.
    Reply(Vec<u8>),
    /// Send nothing (responses, or not even a header).
    Drop,
    /// Needs the upstreams: resolve, then send.
    Resolve(Box<Pending>),
    /// A zone transfer to stream (TCP only).
    Transfer(Box<crate::replication::serve::Outgoing>),
}

/// A question handed to the upstreams, with only what its answer needs.
pub(crate) struct Pending {
    pub(crate) service: Arc<Service>,
    pub(crate) query: Query,
    /// The query's header and question ([`wire::retained`]): not the whole
    /// message, which may be padded to 64 KB and waits here for seconds.
    pub(crate) question: Vec<u8>,
    /// The UDP size limit; none over TCP.
    pub(crate) limit: Option<usize>,
    /// The NSID to add, when the client asked and one is configured.
    pub(crate) nsid: Option<Vec<u8>>,
}

impl Pending {
    /// Resolves and returns the reply.
    pub(crate) async fn resolve(self) -> Vec<u8> {
        let mut reply = self
            .service
            .resolve(&self.question, &self.query, self.limit)
            .await;
        if let Some(nsid) = &self.nsid {
            wire::add_nsid(&mut reply, nsid, self.limit);
        }
        reply
    }
}

/// The UDP answer size limit for `q` (TCP has none).
pub(crate) fn udp_limit(q: &Query) -> usize {
    q.edns.map_or(512, |e| usize::from(e.payload).min(MAX_UDP))
}

/// Routes `raw` from `client` with the configuration `generation`; `udp`
/// selects the size limit. `front` is the calling thread's front cache, if
/// it keeps one.
pub(crate) fn route(
    generation: &Generation,
    raw: &[u8],
    client: IpAddr,
    udp: bool,
    front: Option<&mut Front>,
) -> Routed {
    let (routed, nsid_limit) = route_query(generation, raw, client, udp, front);
    let Some(nsid) = generation.settings.nsid.as_deref() else {
        return routed;
    };
    match (routed, nsid_limit) {
        (Routed::Reply(mut reply), Some(limit)) => {
            wire::add_nsid(&mut reply, nsid, limit);
            Routed::Reply(reply)
        }
        (Routed::Resolve(mut pending), Some(_)) => {
            pending.nsid = Some(nsid.to_vec());
            Routed::Resolve(pending)
        }
        (routed, _) => routed,
    }
}

/// The route, and for a resolver's reply to a query that asked for the
/// NSID, its size limit (`Some(None)` over TCP): the authoritative side
/// adds the NSID itself; error replies go without.
fn route_query(
    generation: &Generation,
    raw: &[u8],
    client: IpAddr,
    udp: bool,
    front: Option<&mut Front>,
) -> (Routed, Option<Option<usize>>) {
    let service = generation.service.as_ref();
    let q = match wire::parse_query(raw) {
        Ok(q) => q,
        Err(Malformed::NotQuery) => return (Routed::Drop, None),
        Err(_) if raw.len() < wire::HEADER => return (Routed::Drop, None),
        Err(_) if wire::peek_opcode(raw).is_some_and(|op| op != 0) => {
            return (
                Routed::Reply(wire::error_response(raw, None, rcode::NOTIMP)),
                None,
            )
        }
        Err(_) => {
            return (
                Routed::Reply(wire::error_response(raw, None, rcode::FORMERR)),
                None,
            )
        }
    };
    if q.opcode == OPCODE_NOTIFY {
        let reply = crate::replication::serve::notify(generation, &generation.replication, raw, &q, client);
        return (Routed::Reply(reply), None);
    }
    if q.opcode != 0 {
        return (
            Routed::Reply(wire::error_response(raw, Some(&q), rcode::NOTIMP)),
            None,
        );
    }
    if q.edns.is_some_and(|e| e.version != 0) {
        return (Routed::Reply(wire::error_response(raw, Some(&q), BADVERS)), None);
    }
    if let Some(rc) = wire::meta_qtype_rcode(q.qtype) {
        return (Routed::Reply(wire::error_response(raw, Some(&q), rc)), None);
    }
    let limit = udp.then(|| udp_limit(&q));
    if matches!(q.qtype, AXFR | IXFR) && q.qclass == 1 {
        use crate::replication::serve::{transfer, Transfer};
        return match transfer(generation, &generation.replication, raw, &q, client, udp) {
            Transfer::Reply(reply) => (Routed::Reply(reply), None),
            Transfer::Stream(out) => (Routed::Transfer(out), None),
        };
    }
    if let Some(zone) = generation.zones.find(&q.qname) {
        let ctx = Context {
            recursion_available: service.is_some_and(|s| s.may_recurse(client)),
            nsid: generation.settings.nsid.as_deref(),
            limit,
            client: Some(client),
        };
        if q.tsig {
            let reply = crate::replication::serve::signed_query(generation, zone, raw, &q, &ctx);
            return (Routed::Reply(reply), None);
        }
        let reply = generation.zones.answer(zone, raw, &q, &ctx);
        return (Routed::Reply(reply), None);
    }
    let nsid = q.edns.is_some_and(|e| e.nsid).then_some(limit);
    let Some(service) = service else {
        return (
            Routed::Reply(wire::error_response(raw, Some(&q), rcode::REFUSED)),
            None,
        );
    };
    let routed = match service.try_answer(raw, &q, client, limit, Instant::now(), front) {
        Some(reply) => Routed::Reply(reply),
        None => Routed::Resolve(Box::new(Pending {
            service: Arc::clone(service),
            question: wire::retained(raw, &q),
            query: q,
            limit,
            nsid: None,
        })),
    };
    (routed, nsid)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use palanquin_resolver::{Acl, Cache, Policy, ServiceConfig};
    use palanquin_stub::ResolverConfig;

    use super::*;

    fn service() -> Arc<Service> {
        let cfg = ServiceConfig {
            upstreams: ResolverConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 9))]),
            forward: Vec::new(),
            acl: Acl::new(vec![Acl::parse_prefix("127.0.0.0/8").expect("prefix")]),
            allow_no_rd: Acl::new(Vec::new()),
            policy: Policy::default(),
            client_timer: Duration::from_millis(1800),
        };
        Arc::new(Service::new(cfg, Arc::new(Cache::new(10))).expect("service"))
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OUTSIDER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 99));

    /// A generation with `service`, zone `a.test.` when `zone` is set, and `nsid`.
    fn generation(service: Option<Arc<Service>>, zone: bool, nsid: Option<&str>) -> Generation {
        let text = match nsid {
            Some(n) => format!("[server]\nlisten = [\"127.0.0.1:53\"]\nnsid = \"{n}\"\n"),
            None => "[server]\nlisten = [\"127.0.0.1:53\"]\n".to_owned(),
        };
        let settings = crate::config::parse(
            std::path::Path::new("/t.toml"),
            &text,
            &crate::config::Host::default(),
        )
        .expect("settings");
        let zones = zone.then(|| {
            let text = b"$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
            palanquin_authoritative::parse("a.test.", std::path::Path::new("a.zone"), text).expect("zone")
        });
        Generation {
            number: 1,
            settings,
            service,
            zones: Arc::new(palanquin_authoritative::Zones::new(
                zones.into_iter().map(Arc::new).collect(),
            )),
            pools: Arc::new(crate::pools::Pools::new(
                tokio_util::sync::CancellationToken::new(),
            )),
            replication: Arc::new(crate::replication::Replication::new(
                tokio_util::sync::CancellationToken::new(),
            )),
        }
    }

    /// `a.test.` of `qtype`, RD, with an OPT record padded (RFC 7830) to `pad` bytes.
    fn query(qtype: u16, pad: u16) -> Vec<u8> {
        let mut q = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x01a\x04test\x00".to_vec();
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1, 0, 0, 41, 0x10, 0, 0, 0, 0, 0]);
        q.extend_from_slice(&(pad + 4).to_be_bytes());
        q.extend_from_slice(&[0, 12]);
        q.extend_from_slice(&pad.to_be_bytes());
        q.resize(q.len() + usize::from(pad), 0);
        q
    }

    fn reply(routed: Routed) -> Vec<u8> {
        match routed {
            Routed::Reply(r) => r,
            _ => panic!("expected an immediate reply"),
        }
    }

    /// A miss waiting on the upstreams keeps the header and question only,
    /// not a query padded to 64 KB.
    #[tokio::test]
    async fn a_pending_miss_keeps_only_the_question() {
        let raw = query(1, 65_000);
        assert!(raw.len() > 65_000);
        let g = generation(Some(service()), false, None);
        let Routed::Resolve(pending) = route(&g, &raw, LOCAL, true, None) else {
            panic!("a miss goes to the upstreams");
        };
        assert_eq!(pending.question, raw[..pending.query.question_end]);
        assert!(
            pending.question.len() < 64,
            "kept {} bytes",
            pending.question.len()
        );
    }

    #[tokio::test]
    async fn meta_types_and_unknown_opcodes_are_answered_here() {
        let g = generation(Some(service()), false, None);
        let rcode_of = |raw: &[u8]| reply(route(&g, raw, LOCAL, true, None))[3] & 0x0f;
        for (qtype, want) in [
            (0, rcode::FORMERR),
            (41, rcode::FORMERR),
            (250, rcode::FORMERR),
            (254, rcode::NOTIMP),
            (130, rcode::NOTIMP),
        ] {
            assert_eq!(rcode_of(&query(qtype, 0)), want, "QTYPE {qtype}");
        }
        // ANY: one synthesised HINFO (RFC 8482), not forwarded.
        let any = reply(route(&g, &query(255, 0), LOCAL, true, None));
        let l = wire::layout(&any).expect("well formed");
        assert_eq!(
            (any[3] & 0x0f, l.answers.len(), l.answers[0].rtype),
            (rcode::NOERROR, 1, wire::TYPE_HINFO)
        );
        // Opcode 9 with no question at all: NOTIMP, and no RA.
        let r = reply(route(
            &g,
            b"\x00\x09\x48\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            LOCAL,
            true,
            None,
        ));
        assert_eq!(r[3], rcode::NOTIMP, "NOTIMP without RA");
    }

    /// `a.test.` of `qtype` asking for the NSID (RFC 5001), RD set.
    fn nsid_query(name: &[u8], qtype: u16) -> Vec<u8> {
        let mut q = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01".to_vec();
        q.extend_from_slice(name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
        q
    }

    #[tokio::test]
    async fn zone_names_are_answered_here_for_everyone_with_aa_and_nsid() {
        let g = generation(Some(service()), true, Some("node-a"));
        for (client, ra) in [(LOCAL, 0x80), (OUTSIDER, 0)] {
            let r = reply(route(
                &g,
                &nsid_query(b"\x02ns\x01a\x04test\x00", 1),
                client,
                true,
                None,
            ));
            assert_eq!((r[2] & 0x04, r[3]), (0x04, ra), "AA; RA only for who may recurse");
            assert!(r.ends_with(b"\x00\x03\x00\x06node-a"), "NSID");
        }
        // Outside the zones, without a resolver: REFUSED.
        let bare = generation(None, true, None);
        let r = reply(route(
            &bare,
            &nsid_query(b"\x01b\x04test\x00", 1),
            LOCAL,
            true,
            None,
        ));
        assert_eq!(r[3] & 0x0f, rcode::REFUSED);
        // The resolver's own replies get the NSID too (here: an ACL refusal).
        let r = reply(route(
            &g,
            &nsid_query(b"\x01b\x04test\x00", 1),
            OUTSIDER,
            true,
            None,
        ));
        assert_eq!(r[3] & 0x0f, rcode::REFUSED);
        assert!(r.ends_with(b"\x00\x03\x00\x06node-a"), "NSID on a resolver reply");
        let Routed::Resolve(p) = route(&g, &nsid_query(b"\x01b\x04test\x00", 1), LOCAL, true, None) else {
            panic!("a miss");
        };
        assert_eq!(p.nsid.as_deref(), Some(&b"node-a"[..]));
    }
}
