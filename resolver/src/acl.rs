//! Who may recurse: a list of prefixes. IPv4-mapped IPv6 clients
//! (`::ffff:a.b.c.d`) are matched as IPv4.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Why an ACL entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// Neither an address nor a prefix.
    #[error("{text:?} is not an address or prefix (like 192.0.2.0/24 or ::1/128)")]
    NotAPrefix {
        /// The entry as written.
        text: String,
    },
}

/// An allow-list of client prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    allow: Vec<IpNet>,
}

impl Acl {
    /// Loopback only: the safe default (never an open resolver).
    pub fn loopback() -> Self {
        Acl {
            allow: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|s| IpNet::from_str(s).ok())
                .collect(),
        }
    }

    /// An ACL of these prefixes.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Acl { allow }
    }

    /// Parses `"10.0.0.0/8"`, or a bare address as a host prefix.
    pub fn parse_prefix(text: &str) -> Result<IpNet, AclError> {
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        text.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| AclError::NotAPrefix {
                text: text.to_owned(),
            })
    }

    /// Whether `client` may recurse.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        self.allow.iter().any(|net| net.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn default_is_loopback_only() {
        let acl = Acl::loopback();
        assert!(acl.allows(ip("127.0.0.1")));
        assert!(acl.allows(ip("127.9.9.9")));
        assert!(acl.allows(ip("::1")));
        assert!(acl.allows(ip("::ffff:127.0.0.1")));
        assert!(!acl.allows(ip("192.0.2.1")));
        assert!(!acl.allows(ip("2001:db8::1")));
    }

    #[test]
    fn prefixes_and_hosts() {
        let acl = Acl::new(vec![
            Acl::parse_prefix("192.0.2.0/24").expect("net"),
            Acl::parse_prefix("2001:db8::1").expect("host"),
            Acl::parse_prefix("198.51.100.7/24").expect("truncated to the network"),
        ]);
        assert!(acl.allows(ip("192.0.2.200")));
        assert!(acl.allows(ip("2001:db8::1")));
        assert!(!acl.allows(ip("2001:db8::2")));
        assert!(acl.allows(ip("198.51.100.1")));
        assert_eq!(
            Acl::parse_prefix("300.0.0.0/8"),
            Err(AclError::NotAPrefix {
                text: "300.0.0.0/8".into()
            })
        );
        assert!(Acl::parse_prefix("10.0.0.0/33").is_err());
    }
}
