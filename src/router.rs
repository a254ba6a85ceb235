//! Where a query goes: names inside a configured zone to the authoritative
//! side (none yet: the seam is here), everything else to the resolver if
//! the configuration has one. Malformed input gets FORMERR or is dropped.
//!
//! ```text
//!  bytes ─parse─▶ error: response bit set / no header → Drop; else FORMERR
//!          │ opcode ≠ QUERY → NOTIMP;  EDNS version ≠ 0 → BADVERS
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
    Resolve(Arc<Service>, Query, Option<usize>),
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
        Err(_) => return Routed::Reply(wire::error_response(raw, None, rcode::FORMERR)),
    };
    if q.opcode != 0 {
        return Routed::Reply(wire::error_response(raw, Some(&q), rcode::NOTIMP));
    }
    if q.edns.is_some_and(|e| e.version != 0) {
        return Routed::Reply(wire::error_response(raw, Some(&q), BADVERS));
    }
    let Some(service) = service else {
        return Routed::Reply(wire::error_response(raw, Some(&q), rcode::REFUSED));
    };
    let limit = udp.then(|| udp_limit(&q));
    match service.try_answer(raw, &q, client, limit, Instant::now(), front) {
        Some(reply) => Routed::Reply(reply),
        None => Routed::Resolve(Arc::clone(service), q, limit),
    }
}
