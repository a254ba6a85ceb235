//! Test fixture: any real DNS server (NSD, Knot) run in the foreground
//! from a configuration the test writes, in a fresh temporary directory
//! and its own process group, killed on drop. The test waits for what it
//! needs (a serial, a log line) itself.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running peer server.
pub struct Peer {
    child: Option<Child>,
    /// Its directory: configuration, zones, state, `output` (stdout and stderr).
    pub dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
}

/// A fresh directory for a peer named `name`.
pub fn peer_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("palanquin-peer-{name}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("peer dir");
    dir
}

impl Peer {
    /// Runs `program args` in `dir` (made by [`peer_dir`], where the test
    /// wrote its files). Panics when the program is not installed:
    /// interop tests fail, not skip, when their peer is absent.
    pub fn start(dir: PathBuf, program: &str, args: &[&str]) -> Peer {
        let program = PathBuf::from(program);
        assert!(
            program.is_file(),
            "{} is not installed: run scripts/test, which installs it",
            program.display()
        );
        let mut peer = Peer {
            child: None,
            dir,
            program,
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        };
        peer.spawn();
        peer
    }

    fn spawn(&mut self) {
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("output"))
            .expect("output file");
        let child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("spawn peer");
        self.child = Some(child);
    }

    /// What it wrote to stdout and stderr (and `log`, if it keeps one there).
    pub fn output(&self) -> String {
        let mut s = fs::read_to_string(self.dir.join("output")).unwrap_or_default();
        if let Ok(log) = fs::read_to_string(self.dir.join("log")) {
            s.push_str("\n--- log ---\n");
            s.push_str(&log);
        }
        s
    }

    /// A path in its directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Stops it (SIGTERM to its group, SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_group(child, Duration::from_secs(5));
        }
    }

    /// Starts it again with the same command, in the same directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Stops a server started in its own process group, with the helpers it
/// forked: SIGTERM to the group, SIGKILL to what is left after `within`.
pub fn stop_group(mut child: Child, within: Duration) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal("-KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// Quotes `path` for a configuration file.
pub fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}
