//! Requests peers make of this server: AXFR and IXFR of a zone it serves
//! (the primary's side, also for a secondary passing a zone on), and
//! NOTIFY of a zone it is a secondary for.
//!
//! ```text
//!  AXFR/IXFR ─ zone config at the apex? no ─▶ REFUSED
//!            ─ client in allow_transfer? no ─▶ REFUSED
//!            ─ TSIG: bad ─▶ NOTAUTH (signed error); zone has a key, request unsigned ─▶ REFUSED
//!            ─ no data (secondary before its first transfer, expired) ─▶ SERVFAIL
//!            ─ UDP: AXFR ─▶ REFUSED; IXFR ─▶ the SOA alone ("ask over TCP", RFC 1995 §2)
//!            ─ TCP ─▶ Outgoing: messages streamed by the connection (server/tcp.rs)
//!  NOTIFY   ─ no secondary zone here at all ─▶ NOTIMP
//!            ─ a secondary zone here, from one of its primaries, signed if it has a key
//!            ─▶ NOERROR and the refresh task woken; else REFUSED / NOTAUTH
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use palanquin_authoritative::transfer::journal::Journal;
use palanquin_authoritative::transfer::message::notify_answer;
use palanquin_authoritative::transfer::outgoing::{content_for, ixfr_serial, respond, Content, Sent};
use palanquin_authoritative::transfer::tsig::{check_request, sign_reply, Signed};
use palanquin_authoritative::transfer::{ReceivedRequest, Signer};
use palanquin_authoritative::{Context, Zone};
use palanquin_wire::{error_response, rcode, Query};

use super::{count_notify, count_transfer, unix_now, Replication};
use crate::config::ZoneConfig;
use crate::server::Generation;

const IXFR: u16 = 251;

/// A transfer to stream on a TCP connection.
pub(crate) struct Outgoing {
    zone: Arc<Zone>,
    request: ReceivedRequest,
    signer: Option<Box<Signer>>,
    journal: Option<Arc<Journal>>,
    ixfr_from: Option<u32>,
    client: IpAddr,
}

/// What to do with a transfer request.
pub(crate) enum Transfer {
    /// Answer with this one message.
    Reply(Vec<u8>),
    /// Stream the transfer.
    Stream(Box<Outgoing>),
}

fn config_for<'a>(generation: &'a Generation, apex: &[u8]) -> Option<&'a ZoneConfig> {
    generation.settings.zones.iter().find(|c| c.apex == apex)
}

/// A request let through: the message with its TSIG taken out, and the
/// signer of the answers when it was signed.
type Authorized = (ReceivedRequest, Option<Box<Signer>>);

/// A request refused: the reply, the result it is counted under, why.
type Refusal = (Vec<u8>, &'static str, String);

/// The checks TSIG makes of a request to zone `cfg`.
fn authorize(cfg: &ZoneConfig, raw: &[u8], q: &Query) -> Result<Authorized, Refusal> {
    match check_request(raw, cfg.key.as_ref(), unix_now()) {
        (Signed::Invalid { reply, reason }, _) => Err((reply, "tsig", reason)),
        (Signed::Unsigned, _) if cfg.key.is_some() => Err((
            error_response(raw, Some(q), rcode::REFUSED),
            "unsigned",
            "the zone's key must sign the request".into(),
        )),
        (signed, Some(msg)) => Ok((
            msg,
            if let Signed::Valid(s) = signed {
                Some(s)
            } else {
                None
            },
        )),
        (_, None) => Err((
            error_response(raw, Some(q), rcode::FORMERR),
            "malformed",
            "unreadable".into(),
        )),
    }
}

/// The answer to AXFR or IXFR request `q` (from `raw`) by `client`.
pub(crate) fn transfer(
    generation: &Generation,
    replication: &Replication,
    raw: &[u8],
    q: &Query,
    client: IpAddr,
    udp: bool,
) -> Transfer {
    let kind = if q.qtype == IXFR { "ixfr" } else { "axfr" };
    let Some(cfg) = config_for(generation, &q.qname) else {
        return Transfer::Reply(error_response(raw, Some(q), rcode::REFUSED));
    };
    let refuse = |result: &'static str, why: &str, reply: Vec<u8>| {
        count_transfer(&cfg.origin, "out", kind, result);
        tracing::warn!(zone = cfg.origin, %client, kind, reason = why, "transfer refused");
        Transfer::Reply(reply)
    };
    if !cfg.may_transfer(client) {
        return refuse(
            "refused",
            "not in allow_transfer",
            error_response(raw, Some(q), rcode::REFUSED),
        );
    }
    let (request, mut signer) = match authorize(cfg, raw, q) {
        Ok(v) => v,
        Err((reply, result, why)) => return refuse(result, &why, reply),
    };
    // From here on a signed request gets its error signed too (RFC 8945 §5.3).
    let error = |rc: u8, signer: Option<&mut Signer>| {
        let reply = error_response(raw, Some(q), rc);
        match signer {
            Some(s) => sign_reply(&reply, s, unix_now()).unwrap_or(reply),
            None => reply,
        }
    };
    let Some(zone) = generation.zones.get(&cfg.apex).filter(|z| !z.is_unavailable()) else {
        return refuse(
            "no_data",
            "no data to send yet",
            error(rcode::SERVFAIL, signer.as_deref_mut()),
        );
    };
    if udp && kind == "axfr" {
        return refuse(
            "refused",
            "AXFR over UDP",
            error(rcode::REFUSED, signer.as_deref_mut()),
        );
    }
    let ixfr_from = if kind == "ixfr" {
        match ixfr_serial(&request, &cfg.apex) {
            Some(s) => Some(s),
            None => {
                let reply = error(rcode::FORMERR, signer.as_deref_mut());
                return refuse("malformed", "IXFR without an SOA", reply);
            }
        }
    } else {
        None
    };
    if udp {
        // The SOA alone: "ask again over TCP" (or "up to date").
        let mut reply = Vec::new();
        let sent = respond(
            zone,
            &request,
            &Content::UpToDate,
            signer.as_deref_mut(),
            unix_now(),
            &mut |m| {
                reply = m;
                true
            },
        );
        return match sent {
            Ok(_) => Transfer::Reply(reply),
            Err(_) => Transfer::Reply(error(rcode::SERVFAIL, signer.as_deref_mut())),
        };
    }
    Transfer::Stream(Box::new(Outgoing {
        zone: Arc::clone(zone),
        request,
        signer,
        // Only an IXFR reads the journal (a stream holding it makes the
        // next change copy it).
        journal: ixfr_from.and_then(|_| replication.journal(&cfg.apex)),
        ixfr_from,
        client,
    }))
}

impl Outgoing {
    /// Writes the transfer, one message at a time, to `send` (false: the
    /// connection is gone). Runs on a blocking thread: a large zone takes a while.
    pub(crate) fn run(mut self, send: &mut dyn FnMut(Vec<u8>) -> bool) {
        let zone = &*self.zone;
        let (content, kind) = content_for(zone, self.journal.as_deref(), self.ixfr_from);
        let what = match &content {
            Content::Full => "whole zone",
            Content::Incremental(_) => "differences",
            Content::UpToDate => "up to date",
        };
        let mut bytes = 0usize;
        let mut counting = |m: Vec<u8>| {
            bytes += m.len();
            send(m)
        };
        match respond(
            zone,
            &self.request,
            &content,
            self.signer.as_deref_mut(),
            unix_now(),
            &mut counting,
        ) {
            Ok(Sent {
                records,
                complete: true,
            }) => {
                count_transfer(zone.name(), "out", kind, "ok");
                tracing::info!(zone = zone.name(), serial = zone.serial(), client = %self.client, kind, what, records, bytes, signed = self.signer.is_some(), "transfer sent");
            }
            Ok(Sent {
                records,
                complete: false,
            }) => {
                count_transfer(zone.name(), "out", kind, "aborted");
                tracing::warn!(zone = zone.name(), client = %self.client, kind, records, bytes, "transfer cut short: the client went away");
            }
            Err(e) => {
                count_transfer(zone.name(), "out", kind, "error");
                tracing::error!(zone = zone.name(), client = %self.client, error = %e, "transfer failed");
            }
        }
    }
}

/// The answer to NOTIFY `q` (from `raw`) by `client`.
pub(crate) fn notify(
    generation: &Generation,
    replication: &Replication,
    raw: &[u8],
    q: &Query,
    client: IpAddr,
) -> Vec<u8> {
    // A server that is nobody's secondary does not take NOTIFY at all.
    if !generation.settings.zones.iter().any(ZoneConfig::is_secondary) {
        return error_response(raw, Some(q), rcode::NOTIMP);
    }
    let Some(cfg) = config_for(generation, &q.qname).filter(|c| c.is_secondary()) else {
        count_notify(&palanquin_wire::name_to_string(&q.qname), "in", "not_secondary");
        return error_response(raw, Some(q), rcode::REFUSED);
    };
    let refuse = |result: &'static str, why: &str, reply: Vec<u8>| {
        count_notify(&cfg.origin, "in", result);
        tracing::warn!(zone = cfg.origin, %client, reason = why, "NOTIFY refused");
        reply
    };
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    if !cfg.primaries.iter().any(|p| p.ip() == client) {
        return refuse(
            "refused",
            "not from a listed primary",
            error_response(raw, Some(q), rcode::REFUSED),
        );
    }
    let (request, mut signer) = match authorize(cfg, raw, q) {
        Ok(v) => v,
        Err((reply, result, why)) => return refuse(result, &why, reply),
    };
    replication.wake(&cfg.apex);
    count_notify(&cfg.origin, "in", "ok");
    tracing::info!(zone = cfg.origin, from = %client, "NOTIFY received; refreshing");
    notify_answer(&request, rcode::NOERROR, signer.as_deref_mut(), unix_now())
}

/// The answer to an ordinary query signed with TSIG, for a name in zone
/// `index`: checked against that zone's key and signed back (RFC 8945
/// §5.3), or NOTAUTH. A secondary's SOA query is the usual case.
pub(crate) fn signed_query(
    generation: &Generation,
    index: usize,
    raw: &[u8],
    q: &Query,
    ctx: &Context<'_>,
) -> Vec<u8> {
    let key = generation
        .zones
        .iter()
        .nth(index)
        .and_then(|z| config_for(generation, z.apex()))
        .and_then(|c| c.key.as_ref());
    match check_request(raw, key, unix_now()) {
        (Signed::Invalid { reply, reason }, _) => {
            tracing::debug!(reason, "signed query refused");
            reply
        }
        (Signed::Valid(mut signer), _) => {
            let reply = generation.zones.answer(index, raw, q, ctx);
            sign_reply(&reply, &mut signer, unix_now())
                .unwrap_or_else(|| error_response(raw, Some(q), rcode::SERVFAIL))
        }
        (Signed::Unsigned, _) => generation.zones.answer(index, raw, q, ctx),
    }
}
