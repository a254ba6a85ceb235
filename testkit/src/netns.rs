//! A private network namespace for one test. [`isolated`] runs a closure on
//! a new thread that has left the host's network namespace (unshare
//! CLONE_NEWNET): a namespace is per thread, so only that thread, the
//! sockets it opens and the processes it spawns (NSD, palanquin, dig) live
//! in it. It holds only `lo`, brought up, with the addresses the test asks
//! for: a test can use any address it likes (192.0.2.1 as an outside
//! client, two IPv6 addresses) and nothing it sends can leave the machine.
//! The namespace goes away with the thread and its processes.

use std::process::Command;

use nix::sched::{unshare, CloneFlags};

/// Runs `f` in a fresh network namespace whose `lo` is up and carries
/// `addrs` (CIDR, e.g. `"192.0.2.53/32"`, `"fd00::53/128"`; IPv6 without
/// duplicate address detection, so they are usable at once). Returns what
/// `f` returns; a panic in `f` is the caller's panic. Needs root.
pub fn isolated<T: Send + 'static>(addrs: &[&str], f: impl FnOnce() -> T + Send + 'static) -> T {
    let addrs: Vec<String> = addrs.iter().map(|a| (*a).to_owned()).collect();
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("cannot create a network namespace ({e}): tests must run as root"));
        ip(&["link", "set", "lo", "up"]);
        for a in &addrs {
            if a.contains(':') {
                ip(&["-6", "addr", "add", a, "dev", "lo", "nodad"]);
            } else {
                ip(&["addr", "add", a, "dev", "lo"]);
            }
        }
        f()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Runs `ip ARGS` (iproute2) in the calling thread's namespace; panics on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip ({e}): iproute2 is not installed; run scripts/test"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
