//! Test fixture: a real NSD authoritative server on loopback addresses.
//!
//! Interop tests run the stub against this server. NSD runs in the
//! foreground (`nsd -d`) with its configuration, zone, logs and state all
//! inside a fresh temporary directory, in its own process group so that the
//! helper processes it forks die with it.

use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`Nsd::start`] waits for NSD to answer on every address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// How long to wait for NSD to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const NSD_PATH: &str = "/usr/sbin/nsd";

/// Distinguishes the temp dirs of several servers in one test process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Path of the NSD binary.
///
/// Panics when NSD is missing: interop tests must fail, not skip, when
/// their peer is absent.
pub fn nsd_binary() -> PathBuf {
    let path = PathBuf::from(NSD_PATH);
    assert!(
        path.is_file(),
        "nsd is not installed: run scripts/test, which installs it ({NSD_PATH} not found)"
    );
    path
}

/// A real NSD serving one zone on the given loopback addresses and port,
/// killed on drop.
pub struct Nsd {
    child: Option<Child>,
    dir: PathBuf,
    addrs: Vec<SocketAddr>,
}

impl Nsd {
    /// Starts NSD serving `zone_text`, an RFC 1035 master file for `origin`
    /// (e.g. `"bench.test."`), on every address of `addrs` at `port`, and
    /// waits until it answers the SOA query for `origin` on all of them.
    pub fn start(addrs: &[IpAddr], port: u16, origin: &str, zone_text: &str) -> io::Result<Nsd> {
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address for NSD"));
        }
        let binary = nsd_binary();
        let origin = if origin.ends_with('.') {
            origin.to_owned()
        } else {
            format!("{origin}.")
        };
        let dir = make_temp_dir()?;
        // From here on `nsd` owns the directory and cleans it up on drop,
        // including on the error paths below.
        let mut nsd = Nsd {
            child: None,
            dir,
            addrs: addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
        };
        fs::write(nsd.path("zone"), zone_text)?;
        fs::create_dir(nsd.path("xfr"))?;
        fs::write(nsd.path("nsd.conf"), nsd.config(&origin))?;

        let stderr = File::create(nsd.path("stderr"))?;
        let stdout = stderr.try_clone()?;
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(nsd.path("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()?;
        nsd.child = Some(child);

        match nsd.wait_ready(&origin) {
            Ok(()) => Ok(nsd),
            Err(e) => {
                nsd.stop();
                Err(io::Error::new(
                    e.kind(),
                    format!("NSD did not start: {e}\n{}", nsd.diagnostics()),
                ))
            }
        }
    }

    /// The socket addresses NSD listens on (UDP and TCP).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn config(&self, origin: &str) -> String {
        let q = |name: &str| quote(&self.path(name));
        let mut conf = String::from("server:\n");
        conf.push_str("    server-count: 1\n");
        // Response rate limiting would drop or truncate a test's bursts from one source.
        conf.push_str("    rrl-ratelimit: 0\n");
        for addr in &self.addrs {
            conf.push_str(&format!("    ip-address: {}@{}\n", addr.ip(), addr.port()));
        }
        conf.push_str(&format!(
            "    username: \"\"\n    chroot: \"\"\n    database: \"\"\n    \
             zonesdir: {}\n    zonelistfile: {}\n    xfrdfile: {}\n    \
             xfrdir: {}\n    pidfile: {}\n    logfile: {}\n    verbosity: 1\n\
             remote-control:\n    control-enable: no\n\
             zone:\n    name: \"{origin}\"\n    zonefile: {}\n",
            quote(&self.dir),
            q("zone.list"),
            q("xfrd.state"),
            q("xfr"),
            q("nsd.pid"),
            q("nsd.log"),
            q("zone"),
        ));
        conf
    }

    /// Probes every address with an SOA query for `origin` every
    /// [`PROBE_INTERVAL`] until each has given an authoritative NOERROR
    /// answer (so the zone is loaded) and NSD has logged that it started,
    /// until NSD exits or logs an error, or until the timeout passes.
    fn wait_ready(&mut self, origin: &str) -> io::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut pending = self.addrs.clone();
        let mut id = (std::process::id() as u16) ^ 0x5a5a;
        // One non-blocking socket per address family in use.
        let mut sockets = Vec::new();
        if pending.iter().any(SocketAddr::is_ipv4) {
            sockets.push(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?);
        }
        if pending.iter().any(SocketAddr::is_ipv6) {
            sockets.push(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?);
        }
        for sock in &sockets {
            sock.set_nonblocking(true)?;
        }
        let mut buf = [0u8; 4096];
        loop {
            id = id.wrapping_add(1);
            let query = soa_query(id, origin)?;
            for addr in &pending {
                for sock in &sockets {
                    if sock.local_addr()?.is_ipv4() == addr.is_ipv4() {
                        // A send error just means "not yet".
                        let _ = sock.send_to(&query, addr);
                    }
                }
            }
            let round_end = Instant::now() + PROBE_INTERVAL;
            while !pending.is_empty() && Instant::now() < round_end {
                let mut got_any = false;
                for sock in &sockets {
                    match sock.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            got_any = true;
                            if is_good_answer(&buf[..n], id) {
                                pending.retain(|a| *a != from);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // E.g. ICMP port unreachable reported on the socket.
                        Err(_) => got_any = true,
                    }
                }
                if !got_any {
                    thread::sleep(Duration::from_millis(2));
                }
            }
            // Read the log before checking that NSD still runs, so that
            // "started" below is known to come from a live process.
            let log = fs::read_to_string(self.path("nsd.log")).unwrap_or_default();
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!("nsd exited early with {status}")));
                }
            }
            // E.g. a zone file syntax error: NSD keeps running but will
            // never serve the zone, so fail now rather than at the timeout.
            if log.contains(" error: ") {
                return Err(io::Error::other("nsd logged an error"));
            }
            // Answers alone could come from another server already bound to
            // the port (NSD then fails to bind and exits), so also require
            // that this NSD reports having started.
            if pending.is_empty() && log.contains("nsd started") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "not ready within {STARTUP_TIMEOUT:?}: no authoritative answer to \
                         {origin} SOA from {pending:?}, or no \"nsd started\" in the log"
                    ),
                ));
            }
            if pending.is_empty() {
                // Only waiting for the log line now.
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// NSD's log file and stderr, for error messages.
    fn diagnostics(&self) -> String {
        let read =
            |name: &str| fs::read_to_string(self.path(name)).unwrap_or_else(|e| format!("<unreadable: {e}>"));
        format!(
            "--- NSD log ({}) ---\n{}\n--- NSD stderr ---\n{}",
            self.path("nsd.log").display(),
            read("nsd.log"),
            read("stderr")
        )
    }

    /// Stops NSD and its helper processes: SIGTERM to the process group,
    /// then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::peer::stop_group(child, STOP_TIMEOUT);
        }
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Creates a fresh, empty directory for one NSD instance.
fn make_temp_dir() -> io::Result<PathBuf> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("palanquin-nsd-{}-{n}", std::process::id()));
    // A leftover from an earlier process with the same pid.
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Quotes a path for nsd.conf.
fn quote(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// A DNS query for the SOA of `name` (header, one question, RD clear).
fn soa_query(id: u16, name: &str) -> io::Result<Vec<u8>> {
    let mut q = Vec::with_capacity(12 + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x00, 0x00]); // flags: standard query
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1 AN=0 NS=0 AR=0
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| *l <= 63)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "DNS label too long"))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 6, 0, 1]); // QTYPE=SOA, QCLASS=IN
    Ok(q)
}

/// A response to query `id` with QR and AA set and RCODE NOERROR.
fn is_good_answer(msg: &[u8], id: u16) -> bool {
    msg.len() >= 12
        && msg[..2] == id.to_be_bytes()
        && msg[2] & 0x80 != 0 // QR
        && msg[2] & 0x04 != 0 // AA
        && msg[3] & 0x0f == 0 // RCODE
}
