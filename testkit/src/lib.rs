//! Fixtures for the workspace's integration tests (never linked into a
//! product): fake upstreams with one behaviour each, and a real NSD.
//!
//! ```text
//!   test ──▶ Fake::start(127.0.x.y, Behaviour) ──▶ UDP+TCP on one port, counts queries
//!   test ──▶ Nsd::start(addrs, port, zone)      ──▶ nsd -d, killed on drop
//!   test ──▶ Daemon::start(bin, addr, toml)     ──▶ palanquin serve, SIGTERM on drop; dig helpers
//! ```

pub mod daemon;
pub mod fake;
pub mod nsd;
