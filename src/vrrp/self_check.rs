//! The built-in `dig @self`: every `interval`, the configured name is
//! asked of this process's own listener over UDP (the path a client's
//! query takes: socket, router, zone or resolver), and, when the name is
//! not in a zone served here, of the upstreams afresh (`Service::probe`:
//! no cache, no stale answer). Both within `timeout`. `fall` failures in
//! a row take the router to Fault (or lower its priority by `weight`: the
//! router applies either), `rise` successes bring it back; the first
//! result decides at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use palanquin_authoritative::pool::health::{Health, Outcome, State as Health_, Thresholds};
use palanquin_vrrp::instance::Control;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{metrics, Watch};
use crate::config::vrrp::SelfCheck;
use crate::server::Shared;

/// Runs the self-check until `cancel` (or the router's channel closes),
/// with the settings in force in `watch` at each round (a reload may
/// change them; the health so far is kept).
pub(super) async fn run(
    shared: Arc<Shared>,
    controls: mpsc::Sender<Control>,
    watch: Arc<Watch>,
    cancel: CancellationToken,
) {
    let mut health = Health::new();
    let born = Instant::now();
    let Some(first) = watch.cfg.load().self_check.clone() else {
        return;
    };
    let mut every = first.interval;
    let mut tick = ticker(every);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let cfg = watch.cfg.load_full();
        let Some(check) = cfg.self_check.clone() else {
            return;
        };
        if check.interval != every {
            every = check.interval;
            tick = ticker(every);
            tick.tick().await;
        }
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = tokio::time::timeout(check.timeout, once(&check, &shared)) => r,
        };
        let outcome = match result {
            Ok(Ok(reason)) => Outcome {
                ok: true,
                reason,
                latency: started.elapsed(),
            },
            Ok(Err(reason)) => Outcome {
                ok: false,
                reason,
                latency: started.elapsed(),
            },
            Err(_) => Outcome {
                ok: false,
                reason: format!("no answer within {} ms", check.timeout.as_millis()),
                latency: started.elapsed(),
            },
        };
        // A reload may have stopped this check during the round: its
        // verdict must not land after.
        if cancel.is_cancelled() {
            return;
        }
        metrics::self_check(watch.labels(), outcome.ok);
        let reason = outcome.reason.clone();
        *watch
            .check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((outcome.ok, reason.clone()));
        // The thresholds in force now (a reload during the round counts).
        let thresholds = watch.cfg.load().self_check.as_ref().map_or(
            Thresholds {
                rise: check.rise,
                fall: check.fall,
            },
            |c| Thresholds {
                rise: c.rise,
                fall: c.fall,
            },
        );
        let Some((_, to)) = health.observe(outcome, born.elapsed(), thresholds) else {
            continue;
        };
        let (interface, vrid) = (&watch.interface, watch.vrid);
        let failing = to != Health_::Up;
        if failing {
            tracing::warn!(interface, vrid, reason, "VRRP self-check fails");
        } else {
            tracing::info!(interface, vrid, reason, "VRRP self-check passes");
        }
        // The router applies it: Fault, or its priority less the weight in
        // force (it reports the priority back).
        let sent = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            sent = controls.send(Control::Check(failing)) => sent,
        };
        if sent.is_err() {
            return;
        }
    }
}

fn ticker(every: std::time::Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// One check: the listener, then (for a forwarded name) the upstreams.
async fn once(check: &SelfCheck, shared: &Shared) -> Result<String, String> {
    let generation = shared.generation.load_full();
    // A listener on an address of this node's own: a virtual address is
    // elsewhere while this node is not Master.
    let virtual_ips: Vec<IpAddr> = generation
        .settings
        .vrrp
        .iter()
        .flat_map(|v| v.addresses.iter().map(|(a, _)| *a))
        .collect();
    // Loopback first, then a wildcard (both reached as loopback, which the
    // recursion ACL allows by default), then any other address of ours.
    let own = || {
        generation
            .settings
            .listen
            .iter()
            .filter(|l| !virtual_ips.contains(&l.ip()))
    };
    let listen = *own()
        .find(|l| l.ip().is_loopback())
        .or_else(|| own().find(|l| l.ip().is_unspecified()))
        .or_else(|| own().next())
        .ok_or("every listener is on a virtual address")?;
    let target = SocketAddr::new(
        match listen.ip() {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            a => a,
        },
        listen.port(),
    );
    // From the listener's own address: the query is this node's, whatever
    // the routes say.
    let socket = UdpSocket::bind(SocketAddr::new(target.ip(), 0))
        .await
        .map_err(|e| format!("cannot open a socket: {e}"))?;
    let id: u16 = rand::random();
    let mut query = palanquin_authoritative::pool::dns::query(id, &check.name, 1);
    // RD, as a client's stub sends it (the resolver refuses a query without).
    query[2] |= 0x01;
    socket
        .send_to(&query, target)
        .await
        .map_err(|e| format!("cannot ask {target}: {e}"))?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, from) = socket
            .recv_from(&mut buf)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        if from == target && n >= 12 && buf.get(..2) == Some(&id.to_be_bytes()[..]) {
            break;
        }
    }
    let rcode = buf.get(3).map_or(0xff, |b| b & 0x0f);
    if buf[2] & 0x80 == 0 || rcode != 0 {
        return Err(format!("the listener answered {}", rcode_name(rcode)));
    }
    // A name served here: the listener and the zone answered; enough.
    if generation.zones.find(&check.name).is_some() {
        return Ok("answered from the zone".into());
    }
    // Forwarded: what the listener said may be cached or stale; the
    // upstreams must answer now.
    let service = generation
        .service
        .as_ref()
        .ok_or("the name is in no zone here and recursion is off")?;
    let q = palanquin_wire::parse_query(&query).map_err(|e| format!("internal: {e:?}"))?;
    service
        .probe(&q)
        .await
        .map(|upstream| format!("fresh from {upstream}"))
        .map_err(|e| format!("the upstreams did not answer: {e}"))
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "an error",
    }
}
