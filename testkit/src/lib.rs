//! Fixtures for the workspace's integration tests (never linked into a
//! product): fake upstreams with one behaviour each, real peers (NSD, Knot,
//! keepalived), and network namespaces.
//!
//! ```text
//!   test ──▶ Fake::start(127.0.x.y, Behaviour) ──▶ UDP+TCP on one port, counts queries
//!   test ──▶ Nsd::start(addrs, port, zone)      ──▶ nsd -d, killed on drop
//!   test ──▶ Daemon::start(bin, addr, toml)     ──▶ palanquin serve, SIGTERM on drop; dig helpers
//!   test ──▶ netns::isolated(addrs, || ...)     ──▶ the closure in a private network namespace
//!   test ──▶ Peer::start(dir, program, args)   ──▶ any real server (NSD, Knot) from a written config
//!   test ──▶ Backend::start(addr, Mode)         ──▶ a pool member: TCP, HTTP(S), or one that misbehaves
//!   test ──▶ Lan::new(tag, subnet, nodes)       ──▶ namespaces on a bridge (VRRP peers, a client)
//!   test ──▶ keepalived(ns, name, global, body) ──▶ a real keepalived there, stopped on drop
//! ```

pub mod backend;
pub mod daemon;
pub mod fake;
pub mod keepalived;
pub mod lan;
pub mod netns;
pub mod nsd;
pub mod peer;
