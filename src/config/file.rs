//! The configuration file as written: serde structs with
//! `deny_unknown_fields` everywhere, values kept as text with their spans so
//! that checks in `settings.rs` can name the line.

use serde::Deserialize;
use toml::Spanned;

type Text = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) server: Server,
    /// Absent: no recursion at all.
    pub(crate) resolver: Option<Resolver>,
    pub(crate) metrics: Option<Metrics>,
    /// Authoritative zones.
    #[serde(default)]
    pub(crate) zone: Vec<Spanned<Zone>>,
    /// TSIG keys (RFC 8945) that zones name in `transfer_key`.
    #[serde(default)]
    pub(crate) key: Vec<Spanned<Key>>,
    /// Virtual routers (VRRP).
    #[serde(default)]
    pub(crate) vrrp: Vec<Spanned<Vrrp>>,
    /// The daemon's local control socket.
    pub(crate) control: Option<Control>,
}

/// `[[vrrp]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vrrp {
    pub(crate) interface: Text,
    pub(crate) vrid: Spanned<u32>,
    pub(crate) priority: Option<Spanned<u32>>,
    /// 3 (default) or 2.
    pub(crate) version: Option<Spanned<u32>>,
    pub(crate) advert_interval: Option<Text>,
    pub(crate) virtual_ips: Spanned<Vec<Text>>,
    pub(crate) preempt: Option<Spanned<bool>>,
    pub(crate) preempt_delay: Option<Text>,
    /// VRRPv2's simple password (keepalived's `auth_pass`).
    pub(crate) auth_pass: Option<Text>,
    /// Adverts to these, and only from these; none: the multicast group.
    pub(crate) unicast_peers: Option<Spanned<Vec<Text>>>,
    /// The IPv4 VRRPv3 checksum sent: "keepalived" or "rfc9568".
    pub(crate) checksum: Option<Text>,
    pub(crate) garp_repeat: Option<Spanned<u32>>,
    pub(crate) garp_interval: Option<Text>,
    pub(crate) garp_refresh: Option<Text>,
    /// Commands run on transitions.
    pub(crate) notify: Option<Spanned<Vec<Text>>>,
    pub(crate) notify_master: Option<Spanned<Vec<Text>>>,
    pub(crate) notify_backup: Option<Spanned<Vec<Text>>>,
    pub(crate) notify_fault: Option<Spanned<Vec<Text>>>,
    pub(crate) self_check: Option<Spanned<SelfCheck>>,
}

/// `[vrrp.self_check]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelfCheck {
    pub(crate) name: Text,
    pub(crate) interval: Option<Text>,
    pub(crate) timeout: Option<Text>,
    pub(crate) fall: Option<Spanned<u32>>,
    pub(crate) rise: Option<Spanned<u32>>,
    pub(crate) weight: Option<Spanned<u32>>,
}

/// `[control]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Control {
    /// The Unix socket `palanquin pool ...` talks to.
    pub(crate) socket: Text,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    /// UDP and TCP on each.
    pub(crate) listen: Spanned<Vec<Text>>,
    /// UDP sockets (SO_REUSEPORT) per address; default: one per CPU.
    pub(crate) udp_workers: Option<Spanned<usize>>,
    /// A TCP connection idle this long is closed (default 10s).
    pub(crate) tcp_idle_timeout: Option<Text>,
    /// Concurrent TCP connections over all addresses (default 1024).
    pub(crate) tcp_max_connections: Option<Spanned<usize>>,
    /// RFC 5001 NSID sent to clients that ask (text).
    pub(crate) nsid: Option<Text>,
}

/// `[[zone]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Zone {
    pub(crate) origin: Text,
    /// The master file, relative to the configuration file; for a
    /// secondary, where the transferred zone is saved.
    pub(crate) file: Option<Text>,
    /// Who may transfer the zone (AXFR/IXFR over TCP): prefixes.
    pub(crate) allow_transfer: Option<Vec<Text>>,
    /// Secondaries told (NOTIFY) when the zone changes: `ADDR[:PORT]`.
    pub(crate) notify: Option<Vec<Text>>,
    /// A secondary zone: the primaries it is transferred from, `ADDR[:PORT]`.
    pub(crate) primaries: Option<Spanned<Vec<Text>>>,
    /// The `[[key]]` that signs this zone's transfers and NOTIFYs, both ways.
    pub(crate) transfer_key: Option<Text>,
    /// Health-checked pools of names in the zone.
    #[serde(default)]
    pub(crate) pool: Vec<Spanned<Pool>>,
}

/// `[[zone.pool]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pool {
    /// Relative to the zone's origin, or absolute with a trailing dot.
    pub(crate) name: Text,
    /// `A` (default) or `AAAA`.
    #[serde(rename = "type")]
    pub(crate) rtype: Option<Text>,
    pub(crate) ttl: Option<Spanned<u32>>,
    pub(crate) members: Spanned<Vec<Spanned<PoolMember>>>,
    /// Handed out when no member is up (`answer.all_down = "backup"`).
    pub(crate) backup: Option<Vec<Text>>,
    pub(crate) check: Spanned<PoolCheck>,
    pub(crate) answer: Option<Spanned<PoolAnswer>>,
}

/// A pool member: an address, or `{ addr, weight }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum PoolMember {
    Addr(String),
    Weighted(WeightedMember),
}

/// `{ addr = "...", weight = N }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeightedMember {
    pub(crate) addr: String,
    pub(crate) weight: u32,
}

/// `check = { kind = ..., ... }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolCheck {
    /// `tcp`, `http`, `https`, `dns` or `exec`.
    pub(crate) kind: Text,
    pub(crate) port: Option<Spanned<u16>>,
    pub(crate) interval: Option<Text>,
    pub(crate) timeout: Option<Text>,
    pub(crate) rise: Option<Spanned<u32>>,
    pub(crate) fall: Option<Spanned<u32>>,
    /// http(s): the path, the Host header, the statuses that pass, a body substring.
    pub(crate) path: Option<Text>,
    pub(crate) host: Option<Text>,
    pub(crate) status: Option<Text>,
    pub(crate) body: Option<Text>,
    /// https: verify the certificate (default true), against `ca_file` or the system roots.
    pub(crate) tls_verify: Option<Spanned<bool>>,
    pub(crate) ca_file: Option<Text>,
    /// dns: the name asked, and the address the answer must hold.
    pub(crate) name: Option<Text>,
    pub(crate) address: Option<Text>,
    /// exec: the program and its arguments (`{addr}` becomes the member's address).
    pub(crate) command: Option<Spanned<Vec<Text>>>,
    /// exec: run `command` through `/bin/sh -c` (default false).
    pub(crate) shell: Option<Spanned<bool>>,
}

/// `answer = { policy = ..., max = N, all_down = ... }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolAnswer {
    pub(crate) policy: Option<Text>,
    pub(crate) max: Option<Spanned<usize>>,
    pub(crate) all_down: Option<Text>,
    /// The TTL while any member is down (lower, so clients come back sooner).
    pub(crate) down_ttl: Option<Spanned<u32>>,
}

/// `[[key]]`: a TSIG key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Key {
    /// Its name, a domain name both peers use.
    pub(crate) name: Text,
    /// `hmac-sha256` (default), `hmac-sha384`, `hmac-sha512` or `hmac-sha1`.
    pub(crate) algorithm: Option<Text>,
    /// The file holding the secret in base64 (alone, or a BIND or Knot key
    /// file), relative to the configuration file.
    pub(crate) secret_file: Text,
}

/// `[resolver]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resolver {
    pub(crate) upstreams: Option<Spanned<Vec<Text>>>,
    pub(crate) resolv_conf: Option<Text>,
    /// Who may recurse; default loopback only.
    pub(crate) allow: Option<Vec<Text>>,
    pub(crate) allow_no_rd: Option<Vec<Text>>,
    pub(crate) cache_size: Option<Spanned<usize>>,
    pub(crate) serve_stale: Option<Text>,
    pub(crate) min_ttl: Option<Text>,
    pub(crate) max_ttl: Option<Text>,
    pub(crate) negative_max_ttl: Option<Text>,
    /// Per-attempt upstream timeout (default 2s); the deadline is timeout × attempts.
    pub(crate) timeout: Option<Text>,
    pub(crate) attempts: Option<Spanned<u8>>,
    /// How long a client waits for a refresh before it gets stale data (default 1.8s).
    pub(crate) client_timer: Option<Text>,
    /// After a failed refresh, stale data is served at once for this long (default 30s).
    pub(crate) stale_recheck: Option<Text>,
    #[serde(default)]
    pub(crate) forward: Vec<Forward>,
}

/// `[[resolver.forward]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forward {
    pub(crate) zone: Text,
    pub(crate) upstreams: Spanned<Vec<Text>>,
}

/// `[metrics]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    /// Prometheus text at /metrics, status JSON at /status.
    pub(crate) listen: Text,
}
