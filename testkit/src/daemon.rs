//! A running `palanquin serve` for process tests: writes the config to a
//! temporary directory, starts the real binary, waits until it answers, and
//! stops it with SIGTERM on drop. Plus `dig` helpers (bind9-dnsutils).

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A daemon under test.
pub struct Daemon {
    child: Option<Child>,
    /// Its directory (config, log).
    pub dir: PathBuf,
    /// Where it answers DNS (the first listen address).
    pub addr: SocketAddr,
}

impl Daemon {
    /// Starts `bin serve` with `config` (TOML) whose first listen address is
    /// `addr`; panics with the daemon's log if it does not answer within 10 s.
    pub fn start(bin: &Path, addr: SocketAddr, config: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!(
            "palanquin-daemon-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("palanquin.toml"), config).expect("write config");
        let log = std::fs::File::create(dir.join("log")).expect("log file");
        let child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(dir.join("palanquin.toml"))
            .env(
                "PALANQUIN_LOG",
                "info,palanquin_stub=debug,palanquin_resolver=debug",
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn palanquin");
        let mut d = Daemon {
            child: Some(child),
            dir,
            addr,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            // Logged once every listener is bound and serving.
            if self.log().contains(" ready") {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("palanquin exited with {status} at start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("palanquin did not start listening within 10 s:\n{}", self.log());
    }

    /// The config file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("palanquin.toml")
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The daemon's process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `within`; returns the exit status code.
    pub fn stop(&mut self, within: Duration) -> Option<i32> {
        self.signal("TERM");
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// GETs a path of the metrics listener at `http` and returns the body.
    pub fn http_get(http: SocketAddr, path: &str) -> String {
        use std::io::Write;
        let mut s =
            std::net::TcpStream::connect_timeout(&http, Duration::from_secs(3)).expect("connect metrics");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// The value of one Prometheus sample line (`name{labels}`), or 0.
    pub fn metric(http: SocketAddr, sample: &str) -> f64 {
        Self::http_get(http, "/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("daemon log kept in {}", self.dir.display());
        }
    }
}

/// Runs `dig` (panics with a clear message if bind9-dnsutils is missing).
pub fn dig(args: &[&str]) -> Output {
    Command::new("dig").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run dig ({e}): bind9-dnsutils is not installed; run scripts/test, which installs it")
    })
}

/// `dig @addr -p port NAME TYPE +tries=1 +time=5` plus `extra`; returns stdout.
pub fn dig_at(addr: SocketAddr, name: &str, rtype: &str, extra: &[&str]) -> String {
    dig_from(None, addr, name, rtype, extra)
}

/// [`dig_at`] from the client address `source` (`dig -b`) when given.
pub fn dig_from(source: Option<&str>, addr: SocketAddr, name: &str, rtype: &str, extra: &[&str]) -> String {
    let server = format!("@{}", addr.ip());
    let port = addr.port().to_string();
    let mut args = vec![
        server.as_str(),
        "-p",
        port.as_str(),
        name,
        rtype,
        "+tries=1",
        "+time=5",
    ];
    if let Some(source) = source {
        args.extend_from_slice(&["-b", source]);
    }
    args.extend_from_slice(extra);
    let out = dig(&args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `status:` of a dig answer (`NOERROR`, `NXDOMAIN`, ...), or `""`.
pub fn status_of(dig_output: &str) -> String {
    dig_output
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// The answer-section records of a dig answer as `(name, ttl, type, data)`.
pub fn answers_of(dig_output: &str) -> Vec<(String, u32, String, String)> {
    let mut in_answer = false;
    let mut out = Vec::new();
    for line in dig_output.lines() {
        if line.starts_with(";; ANSWER SECTION") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 {
                out.push((
                    f[0].to_owned(),
                    f[1].parse().unwrap_or(0),
                    f[3].to_owned(),
                    f[4..].join(" "),
                ));
            }
        }
    }
    out
}
