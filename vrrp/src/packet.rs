//! The VRRP advertisement on the wire: VRRPv3 (RFC 5798, as updated by
//! RFC 9568) for IPv4 and IPv6, and VRRPv2 (RFC 3768) with the simple
//! password that keepalived sends. [`decode`] never panics: every length
//! is checked before it is read.
//!
//! The IPv4 VRRPv3 checksum comes in two forms. RFC 5798 §5.2.8 covered a
//! pseudo-header, and keepalived (by default) and most Linux routers read
//! that as applying to IPv4 too; RFC 9568 says IPv4 has none, as in v2.
//! Both are accepted; [`Checksum`] says which one is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group of VRRP.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Every advertisement is sent with this TTL (hop limit), and one that
/// arrives with another was forwarded: it is dropped (RFC 5798 §5.1.1.3).
pub const TTL: u8 = 255;
/// The one VRRP packet type.
const ADVERTISEMENT: u8 = 1;

/// The protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 3768: IPv4 only, intervals in seconds, an authentication field.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 and IPv6, intervals in centiseconds.
    V3,
}

/// VRRPv2 authentication (RFC 3768 §5.3.6; RFC 2338's simple text
/// password, which keepalived still sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Type 0.
    None,
    /// Type 1: up to 8 bytes, zero-padded.
    Password([u8; 8]),
}

/// Which IPv4 VRRPv3 checksum is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// Over a pseudo-header (source, destination, protocol, length), then
    /// the message: keepalived's default.
    #[default]
    PseudoHeader,
    /// Over the message alone, as RFC 9568 says for IPv4 (and v2 always).
    Plain,
}

/// One advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Its version.
    pub version: Version,
    /// The virtual router (1–255).
    pub vrid: u8,
    /// The sender's priority: 255 owns the addresses, 0 resigns.
    pub priority: u8,
    /// The advertisement interval in centiseconds (v2: whole seconds × 100).
    pub interval_cs: u16,
    /// The virtual addresses, all of one family.
    pub addrs: Vec<IpAddr>,
    /// v2 only; [`Auth::None`] in v3.
    pub auth: Auth,
}

/// Why bytes are not an advertisement we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its header, its addresses or its authentication data.
    #[error("truncated")]
    Truncated,
    /// Not version 2 or 3.
    #[error("version {0}")]
    Version(u8),
    /// Not an advertisement.
    #[error("type {0}")]
    Type(u8),
    /// Version 2 over IPv6.
    #[error("VRRPv2 over IPv6")]
    V2OverIpv6,
    /// The checksum does not hold in any accepted form.
    #[error("bad checksum")]
    Checksum,
    /// An interval of 0, or no address (RFC 5798 §5.2.6, §5.2.5).
    #[error("malformed")]
    Malformed,
    /// A v2 authentication type other than none and simple password.
    #[error("authentication type {0}")]
    AuthType(u8),
}

impl DecodeError {
    /// A short fixed name, for a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::Version(_) | DecodeError::V2OverIpv6 => "version",
            DecodeError::Type(_) => "type",
            DecodeError::Checksum => "checksum",
            DecodeError::Malformed => "malformed",
            DecodeError::AuthType(_) => "auth",
        }
    }
}

/*
 VRRPv3 (RFC 5798 §5.1), IPv4 or IPv6 addresses:
  0                   1                   2                   3
  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |(rsvd) |     Max Adver Int     |          Checksum             |
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |                       IPvX Address(es)                        |
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

 VRRPv2 (RFC 3768 §5.1), IPv4 addresses:
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |   Auth Type   |   Adver Int   |          Checksum             |
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |                         IP Address(es)                        |
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 |                     Authentication Data (8 bytes)             |
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
*/

/// The message for `advert`, sent from `src` to `dst` (which the IPv6 and
/// the IPv4 pseudo-header checksums cover), its IPv4 v3 checksum as `form`.
pub fn encode(advert: &Advert, src: IpAddr, dst: IpAddr, form: Checksum) -> Vec<u8> {
    let v6 = advert.addrs.first().is_some_and(IpAddr::is_ipv6);
    let count = advert.addrs.len().min(255);
    let mut out = Vec::with_capacity(8 + count * 16 + 8);
    let version = match advert.version {
        Version::V2 => 2,
        Version::V3 => 3,
    };
    out.extend_from_slice(&[
        (version << 4) | ADVERTISEMENT,
        advert.vrid,
        advert.priority,
        count as u8,
    ]);
    match advert.version {
        Version::V2 => {
            let auth_type = u8::from(matches!(advert.auth, Auth::Password(_)));
            let seconds = (advert.interval_cs / 100).clamp(1, 255) as u8;
            out.extend_from_slice(&[auth_type, seconds, 0, 0]);
        }
        Version::V3 => out.extend_from_slice(&(advert.interval_cs & 0x0fff).to_be_bytes()),
    }
    if advert.version == Version::V3 {
        out.extend_from_slice(&[0, 0]);
    }
    for a in advert.addrs.iter().take(count) {
        match a {
            IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
        }
    }
    if advert.version == Version::V2 {
        let data = match advert.auth {
            Auth::Password(p) => p,
            Auth::None => [0; 8],
        };
        out.extend_from_slice(&data);
    }
    let pseudo = advert.version == Version::V3 && (v6 || form == Checksum::PseudoHeader);
    let sum = checksum(&out, pseudo.then_some((src, dst)));
    out[6..8].copy_from_slice(&sum.to_be_bytes());
    out
}

/// Reads the message `msg` that arrived from `src` for `dst` (the address
/// it was sent to: the group, or ours for unicast).
pub fn decode(msg: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, DecodeError> {
    let &[first, vrid, priority, count, b4, b5, ..] = msg else {
        return Err(DecodeError::Truncated);
    };
    if msg.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let version = match first >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(DecodeError::Version(v)),
    };
    if first & 0x0f != ADVERTISEMENT {
        return Err(DecodeError::Type(first & 0x0f));
    }
    let v6 = src.is_ipv6();
    if v6 && version == Version::V2 {
        return Err(DecodeError::V2OverIpv6);
    }
    let width = if v6 { 16 } else { 4 };
    let count = usize::from(count);
    let auth_len = if version == Version::V2 { 8 } else { 0 };
    let end = 8 + count * width + auth_len;
    // A longer message is a padded one: only what the header announces counts.
    let body = msg.get(..end).ok_or(DecodeError::Truncated)?;
    let valid = match (version, v6) {
        (Version::V2, _) => checksum(body, None) == 0,
        (Version::V3, true) => checksum(body, Some((src, dst))) == 0,
        // IPv4 v3: with the pseudo-header (keepalived, RFC 5798 as most read
        // it; older keepalived put the group there even for unicast) or
        // without it (RFC 9568).
        (Version::V3, false) => {
            checksum(body, Some((src, dst))) == 0
                || checksum(body, None) == 0
                || checksum(body, Some((src, IpAddr::V4(GROUP_V4)))) == 0
        }
    };
    if !valid {
        return Err(DecodeError::Checksum);
    }
    let (interval_cs, auth) = match version {
        Version::V2 => {
            let auth = match b4 {
                0 => Auth::None,
                1 => {
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&body[end - 8..end]);
                    Auth::Password(p)
                }
                t => return Err(DecodeError::AuthType(t)),
            };
            (u16::from(b5) * 100, auth)
        }
        Version::V3 => (u16::from_be_bytes([b4, b5]) & 0x0fff, Auth::None),
    };
    if interval_cs == 0 || count == 0 {
        return Err(DecodeError::Malformed);
    }
    let addrs = body[8..8 + count * width]
        .chunks_exact(width)
        .map(|c| match <[u8; 16]>::try_from(c) {
            Ok(b) => IpAddr::V6(Ipv6Addr::from(b)),
            Err(_) => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
        })
        .collect();
    Ok(Advert {
        version,
        vrid,
        priority,
        interval_cs,
        addrs,
        auth,
    })
}

/// What an IPv4 raw socket hands over: the header's source, destination
/// and TTL, and the VRRP message after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// The sender.
    pub src: Ipv4Addr,
    /// Where it was sent.
    pub dst: Ipv4Addr,
    /// Its TTL on arrival.
    pub ttl: u8,
    /// The VRRP message.
    pub payload: &'a [u8],
}

/// Splits an IPv4 packet (as a raw IPv4 socket receives it) into its
/// header fields and its VRRP message; `None` when it is not a whole VRRP
/// packet (short, another protocol, a fragment, bad lengths).
pub fn ipv4_packet(packet: &[u8]) -> Option<Ipv4Packet<'_>> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if packet[0] >> 4 != 4 || header_len < 20 || packet.len() < header_len {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let fragment = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff;
    if packet[9] != PROTOCOL || fragment != 0 || total < header_len {
        return None;
    }
    let end = total.min(packet.len());
    Some(Ipv4Packet {
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        ttl: packet[8],
        payload: &packet[header_len..end],
    })
}

/// The Internet checksum of `msg`, after the pseudo-header of
/// `(src, dst)` when given (IPv4: RFC 768 style; IPv6: RFC 8200 §8.1).
/// Over a message whose checksum field is filled in, 0 means it holds.
fn checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
    internet_checksum(msg, pseudo, PROTOCOL)
}

/// [`checksum`] for another upper-layer protocol (the pseudo-header names
/// it): ICMPv6's for the unsolicited neighbour advertisement.
pub(crate) fn internet_checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr)>, protocol: u8) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    };
    let len = msg.len() as u32;
    match pseudo {
        Some((IpAddr::V4(s), IpAddr::V4(d))) => {
            add(&s.octets());
            add(&d.octets());
            add(&[0, protocol]);
            add(&(len as u16).to_be_bytes());
        }
        Some((s, d)) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            add(&v6(s));
            add(&v6(d));
            add(&len.to_be_bytes());
            add(&[0, 0, 0, protocol]);
        }
        None => {}
    }
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v3(vrid: u8, priority: u8, interval_cs: u16, addrs: &[&str]) -> Advert {
        Advert {
            version: Version::V3,
            vrid,
            priority,
            interval_cs,
            addrs: addrs.iter().map(|a| ip(a)).collect(),
            auth: Auth::None,
        }
    }

    // Golden bytes: the layouts above, checksums computed apart (by a
    // one-line Internet checksum over the same bytes in Python).
    #[test]
    fn v3_ipv4_golden_bytes_in_both_checksum_forms() {
        let a = v3(53, 100, 100, &["192.0.2.53"]);
        let (src, dst) = (ip("192.0.2.1"), ip("224.0.0.18"));
        let pseudo = encode(&a, src, dst, Checksum::PseudoHeader);
        assert_eq!(pseudo, [0x31, 53, 100, 1, 0x00, 100, 0x05, 0x9f, 192, 0, 2, 53]);
        let plain = encode(&a, src, dst, Checksum::Plain);
        assert_eq!(plain, [0x31, 53, 100, 1, 0x00, 100, 0xa8, 0x2f, 192, 0, 2, 53]);
        assert_eq!(decode(&pseudo, src, dst).unwrap(), a);
        assert_eq!(decode(&plain, src, dst).unwrap(), a);
        // Older keepalived, unicast: the group in the pseudo-header.
        let unicast = encode(&a, src, ip("224.0.0.18"), Checksum::PseudoHeader);
        assert_eq!(decode(&unicast, src, ip("192.0.2.2")).unwrap(), a);
    }

    #[test]
    fn v3_ipv6_golden_bytes() {
        let a = v3(7, 200, 50, &["2001:db8::7"]);
        let (src, dst) = (ip("fe80::1"), ip("ff02::12"));
        let bytes = encode(&a, src, dst, Checksum::Plain);
        let mut want = vec![0x31, 7, 200, 1, 0x00, 50, 0xda, 0xe5];
        want.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(bytes, want, "IPv6 always covers the pseudo-header");
        assert_eq!(decode(&bytes, src, dst).unwrap(), a);
        assert_eq!(decode(&bytes, ip("fe80::2"), dst), Err(DecodeError::Checksum));
    }

    #[test]
    fn v2_golden_bytes_with_keepaliveds_password() {
        let a = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addrs: vec![ip("192.0.2.51")],
            auth: Auth::Password(*b"secret\0\0"),
        };
        let bytes = encode(&a, ip("192.0.2.1"), ip("224.0.0.18"), Checksum::PseudoHeader);
        let mut want = vec![0x21, 51, 150, 1, 1, 1, 0x49, 0x4a, 192, 0, 2, 51];
        want.extend_from_slice(b"secret\0\0");
        assert_eq!(bytes, want, "v2 never covers a pseudo-header");
        assert_eq!(decode(&bytes, ip("192.0.2.1"), ip("224.0.0.18")).unwrap(), a);
    }

    #[test]
    fn bad_adverts_are_refused_with_their_reason() {
        let (src, dst) = (ip("192.0.2.1"), ip("224.0.0.18"));
        let good = encode(
            &v3(1, 100, 100, &["192.0.2.9", "192.0.2.10"]),
            src,
            dst,
            Checksum::PseudoHeader,
        );
        for cut in 0..good.len() {
            assert!(decode(&good[..cut], src, dst).is_err(), "cut at {cut}");
        }
        let mut flipped = good.clone();
        flipped[9] ^= 1;
        assert_eq!(decode(&flipped, src, dst), Err(DecodeError::Checksum));
        let mut version = good.clone();
        version[0] = 0x41;
        assert_eq!(decode(&version, src, dst), Err(DecodeError::Version(4)));
        let mut kind = good.clone();
        kind[0] = 0x32;
        assert_eq!(decode(&kind, src, dst), Err(DecodeError::Type(2)));
        let zero = encode(&v3(1, 100, 0, &["192.0.2.9"]), src, dst, Checksum::PseudoHeader);
        assert_eq!(decode(&zero, src, dst), Err(DecodeError::Malformed));
        let v2 = Advert {
            version: Version::V2,
            ..v3(1, 100, 100, &["192.0.2.9"])
        };
        let bytes = encode(&v2, src, dst, Checksum::Plain);
        assert_eq!(
            decode(&bytes, ip("fe80::1"), ip("ff02::12")),
            Err(DecodeError::V2OverIpv6)
        );
        // Padding after what the header announces is ignored.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(decode(&padded, src, dst).is_ok());
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            let _ = decode(&bytes, ip("192.0.2.1"), ip("224.0.0.18"));
            let _ = decode(&bytes, ip("fe80::1"), ip("ff02::12"));
            let _ = ipv4_packet(&bytes);
        }
    }

    #[test]
    fn an_ipv4_header_is_split_off() {
        let msg = encode(
            &v3(9, 100, 100, &["192.0.2.9"]),
            ip("192.0.2.1"),
            ip("224.0.0.18"),
            Checksum::PseudoHeader,
        );
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 255, PROTOCOL, 0, 0, 192, 0, 2, 1, 224, 0, 0, 18,
        ];
        let total = (packet.len() + msg.len()) as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&msg);
        let p = ipv4_packet(&packet).unwrap();
        assert_eq!(
            (p.src, p.dst, p.ttl, p.payload),
            (Ipv4Addr::new(192, 0, 2, 1), GROUP_V4, 255, &msg[..])
        );
        let mut other = packet.clone();
        other[9] = 6;
        assert_eq!(ipv4_packet(&other), None);
        let mut fragment = packet;
        fragment[7] = 1;
        assert_eq!(ipv4_packet(&fragment), None);
    }
}
