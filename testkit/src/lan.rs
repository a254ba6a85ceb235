//! A LAN of network namespaces for VRRP tests: one namespace holds a
//! bridge, and each node (a namespace of its own) is joined to it by a
//! veth pair, its end named `eth0` and addressed `10.53.N.<i>/24` and
//! `fd53:0:0:N::<i>/64` (i = 1, 2, ... in the order given), with its IPv6
//! link-local address usable at once (no duplicate address detection).
//! Everything goes away on drop. Needs root.

use std::process::{Command, Output};

use nix::sched::{setns, CloneFlags};

use crate::netns::ip;

/// The LAN.
pub struct Lan {
    tag: String,
    nodes: Vec<String>,
    subnet: u8,
}

impl Lan {
    /// Builds the bridge and `nodes` on subnet 10.53.`subnet`.0/24.
    pub fn new(tag: &str, subnet: u8, nodes: &[&str]) -> Lan {
        let lan = Lan {
            tag: format!("{tag}{}", std::process::id()),
            nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
            subnet,
        };
        let bridge = lan.ns("lan");
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "set", "lo", "up"]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for (i, node) in nodes.iter().enumerate() {
            let ns = lan.ns(node);
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let port = format!("v{i}");
            ip(&[
                "-n", &bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &bridge, "link", "set", &port, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.53.{subnet}.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd53:0:0:{subnet}::{}/64", i + 1),
                "dev",
                "eth0",
                "nodad",
            ]);
            // Before the link is up, so that its link-local address is
            // never tentative: IPv6 VRRP adverts leave from it.
            let dad = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.eth0.accept_dad=0",
                ])
                .status()
                .expect("sysctl");
            assert!(dad.success(), "sysctl accept_dad in {ns}");
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        lan
    }

    /// The namespace of `node` ("lan": the bridge's).
    pub fn ns(&self, node: &str) -> String {
        format!("{}{node}", self.tag)
    }

    /// The address of `node` on the LAN.
    pub fn addr(&self, node: &str) -> String {
        format!("10.53.{}.{}", self.subnet, self.index(node) + 1)
    }

    /// The IPv6 address of `node` on the LAN.
    pub fn addr6(&self, node: &str) -> String {
        format!("fd53:0:0:{}::{}", self.subnet, self.index(node) + 1)
    }

    /// The hardware address of `node`'s `eth0`.
    pub fn mac(&self, node: &str) -> String {
        let path = "/sys/class/net/eth0/address";
        let out = self.exec(node, &["cat", path]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn index(&self, node: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n == node)
            .expect("a node of this LAN")
    }

    /// Runs `f` on a thread inside `node`'s namespace: processes it spawns
    /// and sockets it opens live there.
    pub fn run_in<T: Send + 'static>(&self, node: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.ns(node));
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace");
            setns(file, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs `args` in `node`'s namespace (`ip netns exec`).
    pub fn exec(&self, node: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(node)])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Whether `addr` (IPv4 or IPv6, as `ip` prints it) is on an interface
    /// of `node`.
    pub fn holds(&self, node: &str, addr: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(node), "-o", "addr", "show"])
            .output()
            .expect("ip");
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains(&format!("inet {addr}/")) || text.contains(&format!("inet6 {addr}/"))
    }

    /// Detaches `node` from the bridge (or attaches it again): its link
    /// stays up, but nothing reaches the others (a split brain).
    pub fn isolate(&self, node: &str, isolated: bool) {
        let port = format!("v{}", self.index(node));
        if isolated {
            ip(&["-n", &self.ns("lan"), "link", "set", &port, "nomaster"]);
        } else {
            ip(&["-n", &self.ns("lan"), "link", "set", &port, "master", "br0"]);
        }
    }

    /// Takes `node`'s link down (or up): a cut cable.
    pub fn link(&self, node: &str, up: bool) {
        let i = self.index(node);
        ip(&[
            "-n",
            &self.ns("lan"),
            "link",
            "set",
            &format!("v{i}"),
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for node in self.nodes.iter().map(String::as_str).chain(["lan"]) {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(node)]).status();
        }
    }
}
