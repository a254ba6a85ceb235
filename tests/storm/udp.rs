//! The UDP storm: four sockets send [`UDP_PACKETS`](crate::UDP_PACKETS)
//! datagrams drawn from the generator table, closed-loop (see
//! [`udp_storm_socket`]), and count the replies by RCODE.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::generators::{pick, Generator, GENERATORS};
use crate::observe::kernel_udp_drops;
use crate::replies::{header_rcode, Expect, EXPECTS};
use crate::rng::Rng;
use crate::wire;
use crate::{DAEMON, UDP_STORM_IPS, UDP_WINDOW};

#[derive(Default)]
pub(crate) struct UdpStormReport {
    pub(crate) sent: u64,
    pub(crate) bytes: u64,
    send_errors: u64,
    /// Datagrams sent, by [`EXPECTS`] index.
    pub(crate) by_expect: [u64; 7],
    /// Datagrams whose reply RCODE (in the header) is known, by that RCODE.
    pub(crate) sure_by_rcode: [u64; 16],
    /// Replies the storm sockets read, by header RCODE.
    pub(crate) replies_by_rcode: [u64; 16],
    /// Replies without a header or without QR.
    pub(crate) bad_replies: u64,
    /// Replies owed: datagrams with a header and QR clear.
    pub(crate) owed: u64,
    /// Replies owed but not read after 200 ms without progress (waiting given up).
    pub(crate) forgiven: u64,
    /// Replies the kernel dropped at the storm sockets' own full buffers.
    pub(crate) own_drops: u64,
    pub(crate) elapsed: Duration,
}

impl UdpStormReport {
    fn add(&mut self, other: &UdpStormReport) {
        self.sent += other.sent;
        self.bytes += other.bytes;
        self.send_errors += other.send_errors;
        for (a, b) in self.by_expect.iter_mut().zip(other.by_expect) {
            *a += b;
        }
        for (a, b) in self.sure_by_rcode.iter_mut().zip(other.sure_by_rcode) {
            *a += b;
        }
        for (a, b) in self.replies_by_rcode.iter_mut().zip(other.replies_by_rcode) {
            *a += b;
        }
        self.bad_replies += other.bad_replies;
        self.owed += other.owed;
        self.forgiven += other.forgiven;
        self.own_drops += other.own_drops;
    }

    pub(crate) fn sent_expecting(&self, expect: Expect) -> u64 {
        EXPECTS
            .iter()
            .position(|e| *e == expect)
            .map_or(0, |i| self.by_expect[i])
    }

    pub(crate) fn replies(&self) -> u64 {
        self.replies_by_rcode.iter().sum()
    }
}

/// Replies a storm socket has read, shared by its sender and its drain.
#[derive(Default)]
struct Window {
    replies: AtomicU64,
    progress: Notify,
}

/// Reads what the daemon sends back to a storm socket until `done`.
async fn drain_udp_replies(
    socket: Arc<UdpSocket>,
    window: Arc<Window>,
    done: Arc<AtomicBool>,
) -> ([u64; 16], u64) {
    let (mut by_rcode, mut bad) = ([0u64; 16], 0u64);
    let mut buf = vec![0u8; 65_535];
    loop {
        match tokio::time::timeout(Duration::from_millis(100), socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                match buf[..n].get(..wire::HEADER) {
                    Some(head) if head[2] & 0x80 != 0 => by_rcode[usize::from(head[3] & 0x0f)] += 1,
                    _ => bad += 1,
                }
                window.replies.fetch_add(1, Ordering::Relaxed);
                window.progress.notify_one();
            }
            Ok(Err(_)) => {}
            Err(_) if done.load(Ordering::Relaxed) => return (by_rcode, bad),
            Err(_) => {}
        }
    }
}

/// One storm socket: `count` datagrams as fast as the daemon takes them.
///
/// Closed loop: at most [`UDP_WINDOW`] datagrams that deserve a reply are
/// unanswered at any time. An open-loop flood from 4 sockets outruns a debug
/// build on 2 shared cores; the kernel then drops a third of all datagrams at
/// the daemon's full socket buffer, legitimate ones included, for seconds at
/// a time — which says nothing about the daemon. This way the daemon is kept
/// saturated, its queue stays short, and it must parse every datagram.
async fn udp_storm_socket(src: Ipv4Addr, count: u64, seed: u64) -> UdpStormReport {
    let socket = Arc::new(UdpSocket::bind((src, 0)).await.expect("bind a storm socket"));
    let window = Arc::new(Window::default());
    let done = Arc::new(AtomicBool::new(false));
    let drain = tokio::spawn(drain_udp_replies(
        Arc::clone(&socket),
        Arc::clone(&window),
        Arc::clone(&done),
    ));
    let all: Vec<&Generator> = GENERATORS.iter().collect();
    let mut rng = Rng::new(seed);
    let mut report = UdpStormReport::default();
    // Replies owed to us (every datagram with a header and QR clear gets
    // one), and those we stopped waiting for (lost somewhere).
    let (mut owed, mut forgiven) = (0u64, 0u64);
    let outstanding =
        |owed: u64, forgiven: u64| owed.saturating_sub(forgiven + window.replies.load(Ordering::Relaxed));
    for _ in 0..count {
        while outstanding(owed, forgiven) > UDP_WINDOW {
            if tokio::time::timeout(Duration::from_millis(200), window.progress.notified())
                .await
                .is_err()
            {
                forgiven += outstanding(owed, forgiven);
            }
        }
        let g = pick(&mut rng, &all);
        let packet = (g.make)(&mut rng);
        match socket.send_to(&packet, DAEMON).await {
            Ok(n) => {
                report.sent += 1;
                report.bytes += n as u64;
                if let Some(i) = EXPECTS.iter().position(|e| *e == g.expect) {
                    report.by_expect[i] += 1;
                }
                if let Some(rcode) = header_rcode(g.expect) {
                    report.sure_by_rcode[usize::from(rcode)] += 1;
                }
                owed += u64::from(packet.get(2).is_some_and(|f| f & 0x80 == 0) && n >= wire::HEADER);
            }
            Err(_) => report.send_errors += 1,
        }
    }
    // The last replies: a question forwarded upstream may take the
    // resolver's whole deadline (2 s × 2 attempts) to come back as SERVFAIL.
    let deadline = Instant::now() + Duration::from_secs(5);
    while window.replies.load(Ordering::Relaxed) < owed && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), window.progress.notified()).await;
    }
    // The drain stops after 100 ms of silence.
    done.store(true, Ordering::Relaxed);
    let (by_rcode, bad) = drain.await.expect("drain task");
    report.replies_by_rcode = by_rcode;
    report.bad_replies = bad;
    report.owed = owed;
    report.forgiven = forgiven;
    report.own_drops = socket.local_addr().map_or(0, kernel_udp_drops);
    report
}

pub(crate) async fn udp_storm(total: u64, seed: u64) -> UdpStormReport {
    let started = Instant::now();
    let per_socket = total.div_ceil(UDP_STORM_IPS.len() as u64);
    let mut sockets = JoinSet::new();
    for (i, ip) in UDP_STORM_IPS.iter().enumerate() {
        sockets.spawn(udp_storm_socket(*ip, per_socket, seed * 100 + i as u64));
    }
    let mut report = UdpStormReport::default();
    while let Some(one) = sockets.join_next().await {
        report.add(&one.expect("UDP storm task"));
    }
    report.elapsed = started.elapsed();
    report
}
