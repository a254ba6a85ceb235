//! Socket addresses as operators write them: `ADDR:PORT`, `[V6]:PORT`, or a
//! bare address when a default port applies. Shared by the configuration
//! and `palanquin query --nameserver`, so both say the same thing about
//! the same mistake.

use std::net::{IpAddr, SocketAddr};

/// What is wrong with an address as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AddrError {
    /// The address is fine but the port is above 65535.
    #[error("{text:?}: port out of range ({port} is above 65535)")]
    PortOutOfRange { text: String, port: String },
    /// A bare address where a port is required.
    #[error("{0:?} is not ADDR:PORT (like \"127.0.0.1:53\" or \"[::1]:53\")")]
    NeedsPort(String),
    /// Not an address at all.
    #[error("{0:?} is not an address (like \"192.0.2.1\", \"192.0.2.1:5353\" or \"[2001:db8::1]:5353\")")]
    NotAnAddress(String),
}

/// Parses `text`; a bare address takes `default_port`, or is refused when
/// there is none.
pub(crate) fn parse(text: &str, default_port: Option<u16>) -> Result<SocketAddr, AddrError> {
    let t = text.trim();
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = t.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return match default_port {
            Some(port) => Ok(SocketAddr::new(ip, port)),
            None => Err(AddrError::NeedsPort(t.to_owned())),
        };
    }
    // `ADDR:PORT` whose address parses but whose port does not fit in 16 bits.
    let split = match t.strip_prefix('[') {
        Some(rest) => rest.split_once("]:"),
        None => t.rsplit_once(':').filter(|(host, _)| !host.contains(':')),
    };
    if let Some((host, port)) = split {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if digits && host.parse::<IpAddr>().is_ok() && port.parse::<u16>().is_err() {
            return Err(AddrError::PortOutOfRange {
                text: t.to_owned(),
                port: port.to_owned(),
            });
        }
    }
    Err(AddrError::NotAnAddress(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn forms() {
        assert_eq!(parse("127.0.0.2", Some(53)), Ok(sa("127.0.0.2:53")));
        assert_eq!(parse("127.0.0.2:5353", None), Ok(sa("127.0.0.2:5353")));
        assert_eq!(parse("::1", Some(53)), Ok(sa("[::1]:53")));
        assert_eq!(parse("[::1]", Some(53)), Ok(sa("[::1]:53")));
        assert_eq!(parse("[::1]:5353", None), Ok(sa("[::1]:5353")));
        assert!(matches!(parse("127.0.0.2", None), Err(AddrError::NeedsPort(_))));
        assert!(matches!(
            parse("nonsense", Some(53)),
            Err(AddrError::NotAnAddress(_))
        ));
    }

    #[test]
    fn a_port_too_large_is_named() {
        for text in ["127.0.0.1:99999", "[::1]:65536"] {
            let e = parse(text, Some(53)).expect_err(text);
            assert!(matches!(e, AddrError::PortOutOfRange { .. }), "{e}");
            assert!(e.to_string().contains("out of range"), "{e}");
        }
        assert!(matches!(
            parse("host:99999", Some(53)),
            Err(AddrError::NotAnAddress(_))
        ));
        assert!(matches!(
            parse("127.0.0.1:-1", Some(53)),
            Err(AddrError::NotAnAddress(_))
        ));
    }
}
