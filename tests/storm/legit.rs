//! The legitimate clients that keep resolving throughout the storm: UDP
//! clients with a 2 s timeout and one retry, and `dig +tcp` every 300 ms.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palanquin_testkit::daemon::{answers_of, dig_at, status_of};
use palanquin_testkit::fake;
use tokio::net::UdpSocket;

use crate::replies::check_answer;
use crate::rng::Rng;
use crate::wire;
use crate::{DAEMON, LEGIT_TIMEOUT};

#[derive(Default)]
pub(crate) struct LegitReport {
    pub(crate) queries: u64,
    /// Queries answered only on the second try.
    pub(crate) retried: u64,
    /// Queries unanswered after the retry.
    pub(crate) lost: u64,
    pub(crate) failures: Vec<String>,
    pub(crate) slowest: Duration,
}

/// Sends `query` and waits for the reply carrying `id` (a late reply to an
/// earlier attempt is skipped).
async fn ask_udp(socket: &UdpSocket, query: &[u8], id: u16) -> Result<Vec<u8>, String> {
    socket
        .send_to(query, DAEMON)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let deadline = tokio::time::Instant::now() + LEGIT_TIMEOUT;
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| format!("no answer within {LEGIT_TIMEOUT:?}"))?
            .map_err(|e| format!("receive: {e}"))?;
        if from == DAEMON && wire::id_of(&buf[..n]) == Some(id) {
            return Ok(buf[..n].to_vec());
        }
    }
}

/// Resolves `www<N mod 50>.example.test.` over UDP until `stop`, one query
/// at a time, retrying once after a timeout.
pub(crate) async fn legit_udp_client(src: Ipv4Addr, seed: u64, stop: Arc<AtomicBool>) -> LegitReport {
    let socket = UdpSocket::bind((src, 0)).await.expect("bind a legitimate client");
    let mut rng = Rng::new(seed);
    let mut report = LegitReport::default();
    while !stop.load(Ordering::Relaxed) {
        let name = format!("www{}.example.test.", report.queries % 50);
        report.queries += 1;
        let started = Instant::now();
        let mut last_error = String::new();
        let mut answered = false;
        for attempt in 0..2 {
            let id = rng.u16();
            match ask_udp(&socket, &wire::query(id, &name), id).await {
                Ok(reply) => {
                    if let Err(e) = check_answer(&reply, id) {
                        report.failures.push(format!("{name}: {e}"));
                    }
                    if attempt > 0 {
                        report.retried += 1;
                    }
                    answered = true;
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        if !answered {
            report.lost += 1;
            report
                .failures
                .push(format!("{name} lost after a retry: {last_error}"));
        }
        report.slowest = report.slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    report
}

/// `dig` at the daemon for `name`: NOERROR with A 192.0.2.1.
pub(crate) async fn dig(name: &str, tcp: bool) -> Result<(), String> {
    let name = name.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let extra: &[&str] = if tcp { &["+tcp"] } else { &[] };
        dig_at(DAEMON, &name, "A", extra)
    })
    .await
    .map_err(|e| format!("dig task: {e}"))?;
    let status = status_of(&out);
    if status != "NOERROR" {
        return Err(format!("dig status {status:?}:\n{out}"));
    }
    let ip = fake::IPV4.to_string();
    if !answers_of(&out)
        .iter()
        .any(|(_, _, t, data)| t == "A" && *data == ip)
    {
        return Err(format!("dig: no A {ip}:\n{out}"));
    }
    Ok(())
}

/// `dig +tcp` every 300 ms until `stop` (at least three times).
pub(crate) async fn tcp_digs(stop: Arc<AtomicBool>) -> (u64, Vec<String>) {
    let (mut done, mut failures) = (0u64, Vec::new());
    while !stop.load(Ordering::Relaxed) || done < 3 {
        if let Err(e) = dig(&format!("tcp{}.example.test.", done % 10), true).await {
            failures.push(e);
        }
        done += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (done, failures)
}
