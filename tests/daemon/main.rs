//! End-to-end tests of `palanquin serve`: the real binary, `dig` as the
//! client, fake upstreams that count queries and a real NSD upstream. Each
//! test owns its loopback addresses (127.0.6x.y), so they run in parallel.

mod acl_reload;
mod config;
mod forwarding;
mod stale;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use palanquin_testkit::daemon::dig_at;

/// The binary under test.
pub(crate) fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palanquin"))
}

/// `ip:port` parsed, for test literals.
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
