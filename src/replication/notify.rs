//! NOTIFY out (RFC 1996): when a zone changes (and at start), each address
//! in its `notify` list is told, over UDP, from the server's own address,
//! signed with the zone's key when it has one. Unanswered, it is sent again
//! after 1, 2, 4, 8, 16, 32 s and then every minute until acknowledged (a
//! warning, and `result="unanswered"`, after the sixth); an answer with an
//! error RCODE or a bad TSIG ends it (asking again would not change the
//! answer). A newer change, a reload that drops the zone, or shutdown
//! cancels the round.

use std::sync::Arc;
use std::time::Duration;

use palanquin_authoritative::transfer::message::{self, AnswerError};
use palanquin_authoritative::Zone;
use tokio_util::sync::CancellationToken;

use super::net::{source_for, udp_exchange};
use super::{count_notify, unix_now};
use crate::config::ZoneConfig;
use crate::server::Shared;

/// Unanswered sends before the warning.
const ATTEMPTS: u32 = 6;
/// The first wait for an answer; doubled after each silence, up to MAX_WAIT.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(60);

pub(super) fn start(shared: &Arc<Shared>, cfg: &ZoneConfig, zone: &Arc<Zone>, round: CancellationToken) {
    let listen = shared.generation.load().settings.listen.clone();
    for &target in &cfg.notify {
        let (zone, key, round) = (Arc::clone(zone), cfg.key.clone(), round.clone());
        let from = source_for(&listen, target);
        tokio::spawn(async move {
            let mut wait = FIRST_WAIT;
            for attempt in 1.. {
                let Some(soa) = zone.soa() else { return };
                let id: u16 = rand::random();
                let request = match message::notify(zone.apex(), id, soa, key.as_ref(), unix_now()) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(zone = zone.name(), error = %e, "cannot build a NOTIFY");
                        return;
                    }
                };
                let sent_at = tokio::time::Instant::now();
                let exchange = udp_exchange(from, target, &request.bytes, wait, |raw| {
                    raw.len() >= 12 && raw[..2] == id.to_be_bytes() && raw[2] & 0x80 != 0
                });
                let answer = tokio::select! {
                    () = round.cancelled() => return,
                    a = exchange => a,
                };
                if answer.is_err() {
                    // A send that fails at once (no route, the address gone)
                    // waits like a silence: never a loop without a pause.
                    tokio::select! {
                        () = round.cancelled() => return,
                        () = tokio::time::sleep_until(sent_at + wait) => {}
                    }
                }
                match answer.map(|raw| message::check_answer(&request, &raw, unix_now())) {
                    Ok(Ok(_)) => {
                        count_notify(zone.name(), "out", "ok");
                        tracing::info!(zone = zone.name(), serial = zone.serial(), to = %target, attempt, "NOTIFY acknowledged");
                        return;
                    }
                    Ok(Err(e)) => {
                        let result = match e {
                            AnswerError::Tsig(_) => "tsig",
                            AnswerError::Rcode(_) => "refused",
                            _ => "bad_answer",
                        };
                        count_notify(zone.name(), "out", result);
                        tracing::warn!(zone = zone.name(), to = %target, error = %e, "NOTIFY not accepted");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(zone = zone.name(), to = %target, attempt, "no answer to NOTIFY yet");
                        if attempt == ATTEMPTS {
                            count_notify(zone.name(), "out", "unanswered");
                            tracing::warn!(zone = zone.name(), to = %target, attempts = ATTEMPTS, "NOTIFY not acknowledged yet; sending it every minute until it is");
                        }
                        wait = (wait * 2).min(MAX_WAIT);
                    }
                }
            }
        });
    }
}
