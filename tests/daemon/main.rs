//! End-to-end tests of `palanquin serve`: the real binary, `dig` as the
//! client, fake upstreams that count queries and a real NSD upstream. Each
//! test owns its loopback addresses (127.0.6x.y), so they run in parallel.

mod acl_reload;
mod config;
mod forwarding;
mod stale;

use std::net::SocketAddr;
use std::path::Path;

/// The binary under test.
pub(crate) fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palanquin"))
}

/// `ip:port` parsed, for test literals.
pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}
