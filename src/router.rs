//! Where a query goes: names inside a configured zone to the authoritative
//! side (none yet: the seam is here), everything else to the resolver if
//! the configuration has one. Malformed input gets FORMERR or is dropped.
//!
//! ```text
//!  bytes ─parse─▶ error: response bit set / no header → Drop; opcode ≠ QUERY →
//!          │        NOTIMP (even with no question); else FORMERR
//!          │ opcode ≠ QUERY → NOTIMP;  EDNS version ≠ 0 → BADVERS
//!          │ QTYPE 0, OPT, TSIG → FORMERR; TKEY, MAILA/MAILB, other meta → NOTIMP
//!          │ zone match → (authoritative, a later issue)
//!          ▼
//!       resolver? no → REFUSED;  yes → ACL / fresh hit now, or Resolve
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use palanquin_resolver::{Front, Service};
use palanquin_wire::{self as wire, rcode, Malformed, Query};

/// Largest UDP answer sent, whatever the client advertises (DNS flag day 2020).
const MAX_UDP: usize = 1232;
/// Extended RCODE BADVERS (RFC 6891).
const BADVERS: u8 = 16;

/// What to do with one message.
pub(crate) enum Routed {
    /// Send this.
    Reply(Vec<u8>),
    /// Send nothing (responses, or not even a header).
    Drop,
    /// Needs the upstreams: resolve, then send.
    Resolve(Box<Pending>),
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
}

impl Pending {
    /// Resolves and returns the reply.
    pub(crate) async fn resolve(self) -> Vec<u8> {
        self.service
            .resolve(&self.question, &self.query, self.limit)
            .await
    }
}

/// The UDP answer size limit for `q` (TCP has none).
pub(crate) fn udp_limit(q: &Query) -> usize {
    q.edns.map_or(512, |e| usize::from(e.payload).min(MAX_UDP))
}

/// Routes `raw` from `client`; `udp` selects the size limit. `front` is the
/// calling thread's front cache, if it keeps one.
pub(crate) fn route(
    service: Option<&Arc<Service>>,
    raw: &[u8],
    client: IpAddr,
    udp: bool,
    front: Option<&mut Front>,
) -> Routed {
    let q = match wire::parse_query(raw) {
        Ok(q) => q,
        Err(Malformed::NotQuery) => return Routed::Drop,
        Err(_) if raw.len() < wire::HEADER => return Routed::Drop,
        Err(_) if wire::peek_opcode(raw).is_some_and(|op| op != 0) => {
            return Routed::Reply(wire::error_response(raw, None, rcode::NOTIMP))
        }
        Err(_) => return Routed::Reply(wire::error_response(raw, None, rcode::FORMERR)),
    };
    if q.opcode != 0 {
        return Routed::Reply(wire::error_response(raw, Some(&q), rcode::NOTIMP));
    }
    if q.edns.is_some_and(|e| e.version != 0) {
        return Routed::Reply(wire::error_response(raw, Some(&q), BADVERS));
    }
    if let Some(rc) = wire::meta_qtype_rcode(q.qtype) {
        return Routed::Reply(wire::error_response(raw, Some(&q), rc));
    }
    let Some(service) = service else {
        return Routed::Reply(wire::error_response(raw, Some(&q), rcode::REFUSED));
    };
    let limit = udp.then(|| udp_limit(&q));
    match service.try_answer(raw, &q, client, limit, Instant::now(), front) {
        Some(reply) => Routed::Reply(reply),
        None => Routed::Resolve(Box::new(Pending {
            service: Arc::clone(service),
            question: wire::retained(raw, &q),
            query: q,
            limit,
        })),
    }
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
        let service = service();
        let Routed::Resolve(pending) = route(Some(&service), &raw, LOCAL, true, None) else {
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
        let service = service();
        let rcode_of = |raw: &[u8]| reply(route(Some(&service), raw, LOCAL, true, None))[3] & 0x0f;
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
        let any = reply(route(Some(&service), &query(255, 0), LOCAL, true, None));
        let l = wire::layout(&any).expect("well formed");
        assert_eq!(
            (any[3] & 0x0f, l.answers.len(), l.answers[0].rtype),
            (rcode::NOERROR, 1, wire::TYPE_HINFO)
        );
        // Opcode 9 with no question at all: NOTIMP, and no RA.
        let r = reply(route(
            Some(&service),
            b"\x00\x09\x48\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            LOCAL,
            true,
            None,
        ));
        assert_eq!(r[3], rcode::NOTIMP, "NOTIMP without RA");
    }
}
