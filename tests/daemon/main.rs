//! End-to-end tests of `palanquin serve`: the real binary, `dig` as the
//! client, fake upstreams that count queries and a real NSD upstream. Each
//! test owns its loopback addresses (127.0.6x.y), so they run in parallel.

mod acl_reload;
mod answers;
mod config;
mod forwarding;
mod lifecycle;
mod oracle;
mod pool_checks;
mod pools;
mod replication;
mod stale;
mod tcp_slots;
mod vrrp;
mod vrrp_peers;
mod wildcard;
mod zones;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use palanquin_testkit::daemon::dig_at;

/// The binary under test.
pub(crate) fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palanquin"))
}

/// `ip:port` parsed, for test literals.
/// The configuration most tests run: one listen address, one upstream,
/// `resolver_extra` lines in `[resolver]`, metrics on port 9153 of the same IP.
pub(crate) fn config(addr: SocketAddr, upstream: SocketAddr, resolver_extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"{addr}\"]\n[resolver]\nupstreams = [\"{upstream}\"]\n{resolver_extra}[metrics]\nlisten = \"{}\"\n",
        metrics_of(addr)
    )
}

/// Where [`config`] puts the metrics listener for `addr`.
pub(crate) fn metrics_of(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), 9153)
}

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// `127.0.a.b`.
pub(crate) fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

/// `dig_at` on a blocking thread, so the fakes on the runtime keep serving.
pub(crate) async fn dig_async(addr: SocketAddr, name: &str, rtype: &str, extra: &[&str]) -> String {
    let (name, rtype) = (name.to_owned(), rtype.to_owned());
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        dig_at(addr, &name, &rtype, &extra)
    })
    .await
    .expect("dig thread")
}
