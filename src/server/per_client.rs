//! A per-source-address connection count: one client (allowed to recurse
//! or not: the ACL is checked per message) cannot take every TCP slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections open per client address, at most `limit` each.
pub(crate) struct PerClient {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's claim; released on drop.
pub(crate) struct Claim {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    pub(crate) fn new(limit: usize) -> Self {
        PerClient {
            limit: limit.max(1),
            open: Arc::default(),
        }
    }

    /// A claim for `ip`, or `None` when it already holds `limit` connections.
    pub(crate) fn claim(&self, ip: IpAddr) -> Option<Claim> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Claim {
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_releases_on_drop() {
        let pc = PerClient::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let first = pc.claim(a).expect("1");
        let _second = pc.claim(a).expect("2");
        assert!(pc.claim(a).is_none(), "a third from the same address");
        assert!(pc.claim(b).is_some(), "another address is unaffected");
        drop(first);
        assert!(pc.claim(a).is_some(), "released on drop");
    }
}
