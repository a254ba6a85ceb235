//! What validation needs to know about the host, gathered in one place so
//! that validation itself ([`super::parse`]) does no I/O: the host's
//! interface addresses (is an upstream one of our own wildcard listeners?),
//! its interfaces' indexes (a resolv.conf scope such as `fe80::1%eth0`), its
//! CPUs (the default of `server.udp_workers`) and the text of the files the
//! configuration names (`resolver.resolv_conf`).
//!
//! ```text
//!  config::read(path) ── reads path ──▶ text ──▶ file::Config ──▶ files it names
//!        └── Host::gather(files) ── getifaddrs, if_nameindex, CPUs, reads files ──┐
//!  config::parse(path, text, &host) ◀──────────────────────────────────────────────┘ pure
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The host as validation sees it. Tests invent one.
#[derive(Debug, Default)]
pub(crate) struct Host {
    /// This host's interface addresses. Loopback and unspecified addresses
    /// count as our own whether listed or not.
    pub(crate) addresses: Vec<IpAddr>,
    /// Interface names and their indexes.
    pub(crate) interfaces: Vec<(String, u32)>,
    /// Threads the process may run at once (the default `udp_workers`).
    pub(crate) cpus: usize,
    /// The bytes of each file the configuration names, by the path as
    /// resolved against the configuration's directory, or why it could not
    /// be read.
    pub(crate) files: BTreeMap<PathBuf, std::io::Result<Vec<u8>>>,
}

impl Host {
    /// Reads this host's addresses, interfaces and CPUs, and the `files`.
    /// What cannot be listed is logged and left empty: then only loopback
    /// and unspecified addresses count as our own.
    pub(crate) fn gather<'a>(files: impl IntoIterator<Item = &'a Path>) -> Host {
        Host {
            addresses: addresses(),
            interfaces: interfaces(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            files: files
                .into_iter()
                .map(|p| (p.to_owned(), std::fs::read(p)))
                .collect(),
        }
    }

    /// The index of interface `name`, if the host has one by that name.
    pub(crate) fn ifindex(&self, name: &str) -> Option<u32> {
        self.interfaces
            .iter()
            .find_map(|(n, i)| (n == name).then_some(*i))
    }
}

/// This host's interface addresses (getifaddrs).
pub(crate) fn addresses() -> Vec<IpAddr> {
    match nix::ifaddrs::getifaddrs() {
        Ok(all) => all
            .filter_map(|i| {
                let a = i.address?;
                a.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's addresses; the upstream loop check covers loopback only");
            Vec::new()
        }
    }
}

/// This host's interfaces by name and index (if_nameindex).
fn interfaces() -> Vec<(String, u32)> {
    match nix::net::if_::if_nameindex() {
        Ok(all) => all
            .iter()
            .map(|i| (i.name().to_string_lossy().into_owned(), i.index()))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's interfaces; resolv.conf scopes by name are refused");
            Vec::new()
        }
    }
}
