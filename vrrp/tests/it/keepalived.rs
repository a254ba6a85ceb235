//! keepalived (Debian package, installed by scripts/test) in a network
//! namespace of its own, joined to the test's namespace by a veth pair;
//! the test reads its adverts from a raw socket (IPv4) or a packet socket
//! (IPv6) on the other end.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use palanquin_testkit::keepalived::{keepalived, Keepalived};
use palanquin_testkit::netns::{ip, isolated};
use palanquin_vrrp::packet::{self, Advert, Auth, Checksum, Version};
use socket2::{Domain, Protocol, Socket, Type};

/// A named network namespace, deleted on drop.
pub(crate) struct Namespace(pub(crate) String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The first VRRP packet from `from` that `socket` receives within 10 s,
/// as the IP packet it came in.
fn first_advert(socket: &Socket, from: Ipv4Addr, k: &Keepalived) -> Vec<u8> {
    let until = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    let mut reader = socket;
    while Instant::now() < until {
        let Ok(n) = reader.read(&mut buf) else { continue };
        if packet::ipv4_packet(&buf[..n]).is_some_and(|p| p.src == from) {
            return buf[..n].to_vec();
        }
    }
    panic!("no advert from keepalived within 10 s; its log:\n{}", k.log());
}

fn capture(version: Version) {
    let tag = match version {
        Version::V2 => "v2",
        Version::V3 => "v3",
    };
    let ns = Namespace(format!("pqka{}{tag}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    ip(&[
        "link", "add", "pqk0", "type", "veth", "peer", "name", "pqk1", "netns", &ns.0,
    ]);
    ip(&["addr", "add", "10.53.0.1/24", "dev", "pqk0"]);
    ip(&["link", "set", "pqk0", "up"]);
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    ip(&["-n", &ns.0, "addr", "add", "10.53.0.2/24", "dev", "pqk1"]);
    ip(&["-n", &ns.0, "link", "set", "pqk1", "up"]);
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(packet::PROTOCOL))),
    )
    .expect("raw socket");
    socket
        .join_multicast_v4(&packet::GROUP_V4, &Ipv4Addr::new(10, 53, 0, 1))
        .expect("join the VRRP group");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let (version_line, auth) = match version {
        Version::V3 => ("advert_int 0.5", ""),
        Version::V2 => (
            "advert_int 1",
            "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }",
        ),
    };
    let global = match version {
        Version::V3 => "vrrp_version 3",
        Version::V2 => "vrrp_version 2",
    };
    let k = keepalived(
        &ns.0,
        &format!("pq{tag}"),
        global,
        &format!(
            "  state MASTER\n  interface pqk1\n  virtual_router_id 51\n  priority 150\n  {version_line}\n{auth}\n  virtual_ipaddress {{\n    10.53.0.100/24\n    10.53.0.101/24\n  }}"
        ),
    );
    let bytes = first_advert(&socket, Ipv4Addr::new(10, 53, 0, 2), &k);
    let p = packet::ipv4_packet(&bytes).expect("an IPv4 VRRP packet");
    assert_eq!(p.ttl, packet::TTL, "sent with TTL 255");
    assert_eq!(p.dst, packet::GROUP_V4);
    let advert = packet::decode(p.payload, IpAddr::V4(p.src), IpAddr::V4(p.dst))
        .unwrap_or_else(|e| panic!("keepalived's {tag} advert refused: {e} ({:02x?})", p.payload));
    let want = Advert {
        version,
        vrid: 51,
        priority: 150,
        interval_cs: if version == Version::V3 { 50 } else { 100 },
        addrs: vec![
            "10.53.0.100".parse().expect("ip"),
            "10.53.0.101".parse().expect("ip"),
        ],
        auth: if version == Version::V3 {
            Auth::None
        } else {
            Auth::Password(*b"secret\0\0")
        },
    };
    assert_eq!(advert, want);
    // Our encoding of the same advert, keepalived's checksum form: the same bytes.
    let ours = packet::encode(
        &want,
        IpAddr::V4(p.src),
        IpAddr::V4(p.dst),
        Checksum::PseudoHeader,
    );
    assert_eq!(ours, p.payload, "byte for byte");
    drop(k);
}

#[test]
fn keepalived_adverts_v3_and_v2_decode_and_match_our_bytes() {
    isolated(&[], || capture(Version::V3));
    isolated(&[], || capture(Version::V2));
}

/// The first IPv6 VRRP packet on `interface` (in the calling thread's
/// namespace) within 10 s, read as Ethernet frames through a packet
/// socket: nothing of this crate's receive path is involved. Returns the
/// hop limit, source, destination and VRRP message.
fn first_ipv6_advert(interface: &str) -> Option<(u8, IpAddr, IpAddr, Vec<u8>)> {
    let link = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == interface)?;
    let config = pnet_datalink::Config {
        read_timeout: Some(Duration::from_millis(200)),
        ..pnet_datalink::Config::default()
    };
    let Ok(pnet_datalink::Channel::Ethernet(_tx, mut rx)) = pnet_datalink::channel(&link, config) else {
        return None;
    };
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let Ok(f) = rx.next() else { continue };
        // Ethernet, IPv6 (0x86dd), next header VRRP, no extension headers.
        if f.len() < 54 || f[12..14] != [0x86, 0xdd] || f[20] != packet::PROTOCOL {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([f[18], f[19]]));
        let addr = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&f[at..at + 16]);
            IpAddr::from(b)
        };
        let msg = f.get(54..54 + len)?.to_vec();
        return Some((f[21], addr(22), addr(38), msg));
    }
    None
}

#[test]
fn a_keepalived_ipv6_advert_decodes_and_matches_our_bytes() {
    let lan = palanquin_testkit::lan::Lan::new("pqk6c", 25, &["tap", "keepalived"]);
    let k = keepalived(
        &lan.ns("keepalived"),
        "pqv6",
        "vrrp_version 3",
        "  state MASTER\n  interface eth0\n  virtual_router_id 61\n  priority 150\n  advert_int 0.5\n  virtual_ipaddress {\n    fd53:0:0:25::100/64\n    fd53:0:0:25::101/64\n  }",
    );
    let got = lan.run_in("tap", || first_ipv6_advert("eth0"));
    let Some((hops, src, dst, msg)) = got else {
        panic!(
            "no IPv6 advert from keepalived within 10 s; its log:\n{}",
            k.log()
        );
    };
    assert_eq!(hops, packet::TTL, "sent with hop limit 255");
    assert_eq!(dst, IpAddr::V6(packet::GROUP_V6));
    assert!(
        matches!(src, IpAddr::V6(s) if s.segments()[0] == 0xfe80),
        "from its link-local address: {src}"
    );
    let advert = packet::decode(&msg, src, dst)
        .unwrap_or_else(|e| panic!("keepalived's IPv6 advert refused: {e} ({msg:02x?})"));
    let want = Advert {
        version: Version::V3,
        vrid: 61,
        priority: 150,
        interval_cs: 50,
        addrs: vec![
            "fd53:0:0:25::100".parse().expect("ip"),
            "fd53:0:0:25::101".parse().expect("ip"),
        ],
        auth: Auth::None,
    };
    assert_eq!(advert, want);
    // IPv6 has one checksum form (with the pseudo-header): the same bytes.
    assert_eq!(
        packet::encode(&want, src, dst, Checksum::Plain),
        msg,
        "byte for byte"
    );
    drop(k);
}
