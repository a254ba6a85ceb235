//! A real keepalived (Debian package, installed by scripts/test) in a
//! network namespace, from a `vrrp_instance` body the test writes: the peer
//! that VRRP interoperability is measured against.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A keepalived, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Keepalived {
    child: Child,
    dir: PathBuf,
}

impl Keepalived {
    /// Kills it outright (SIGKILL): no resignation, addresses left behind.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it logged so far (its stderr, `--log-console --log-detail`).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts keepalived in namespace `ns` on `interface` with `instance`
/// (the body of a `vrrp_instance`).
pub fn keepalived(ns: &str, name: &str, global: &str, instance: &str) -> Keepalived {
    let dir = std::env::temp_dir().join(format!("palanquin-keepalived-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!("global_defs {{\n  router_id {name}\n  enable_script_security\n  {global}\n}}\nvrrp_instance {name} {{\n{instance}\n}}\n"),
    )
    .expect("config");
    let log = std::fs::File::create(dir.join("log")).expect("log");
    let child = Command::new("keepalived")
        .args([
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
        ])
        .arg("--use-file")
        .arg(&conf)
        .arg("--pid")
        .arg(dir.join("keepalived.pid"))
        .arg("--vrrp_pid")
        .arg(dir.join("vrrp.pid"))
        .args(["--namespace", ns])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run keepalived ({e}): run scripts/test, which installs it"));
    Keepalived { child, dir }
}
