//! Linux I/O for one virtual router: the interface (index, MAC, primary
//! IPv4 address, IPv6 link-local address, up or down), the raw IP protocol
//! 112 socket (IPv4 or IPv6; the multicast group joined on that interface,
//! TTL / hop limit 255 sent and handed back on receive for the caller to
//! check), the virtual addresses through netlink, and gratuitous ARP /
//! unsolicited neighbour advertisements through a packet socket.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use nix::sys::socket::{
    self as nixsock, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

use crate::packet;

/// An interface as this router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its name.
    pub name: String,
    /// Its index.
    pub index: u32,
    /// Its hardware address (none on loopback-like links).
    pub mac: Option<[u8; 6]>,
    /// Its first IPv4 address that is not one of ours: where IPv4 adverts
    /// come from.
    pub primary: Option<Ipv4Addr>,
    /// Its first IPv6 link-local address that is not one of ours: where
    /// IPv6 adverts come from (RFC 5798 §5.1.2.1).
    pub link_local: Option<Ipv6Addr>,
    /// All its addresses.
    pub addresses: Vec<IpAddr>,
    /// Those of its IPv6 addresses that cannot be used yet (duplicate
    /// address detection is running) or at all (it failed): the kernel
    /// refuses them as a source.
    pub tentative: Vec<Ipv6Addr>,
    /// Administratively up, with a carrier.
    pub up: bool,
}

impl Link {
    /// Whether the link is up and `source` usable on it: present, and not
    /// tentative.
    pub fn usable(&self, source: IpAddr) -> bool {
        let tentative = matches!(source, IpAddr::V6(a) if self.tentative.contains(&a));
        self.up && self.addresses.contains(&source) && !tentative
    }

    /// The address a router of this family (`v6` or not) sends from.
    pub fn source(&self, v6: bool) -> Option<IpAddr> {
        if v6 {
            self.link_local.map(IpAddr::V6)
        } else {
            self.primary.map(IpAddr::V4)
        }
    }
}

/// fe80::/10.
fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The interface `name` now, leaving out `vips` when choosing the
/// addresses adverts leave from; `None` when there is no such interface.
pub fn link(name: &str, vips: &[IpAddr]) -> Option<Link> {
    let i = pnet_datalink::interfaces().into_iter().find(|i| i.name == name)?;
    let addresses: Vec<IpAddr> = i.ips.iter().map(|n| n.ip()).collect();
    let primary = addresses.iter().find_map(|a| match a {
        IpAddr::V4(v4) if !vips.contains(a) => Some(*v4),
        _ => None,
    });
    // The calling thread's namespace: /proc/net would show the process's.
    let tentative = std::fs::read_to_string("/proc/thread-self/net/if_inet6")
        .map(|t| tentative_in(&t, i.index))
        .unwrap_or_default();
    // A usable link-local address first; a tentative one will do (it
    // becomes usable, and the router waits in Fault meanwhile).
    let link_locals = || {
        addresses.iter().filter_map(|a| match a {
            IpAddr::V6(v6) if is_link_local(v6) && !vips.contains(a) => Some(*v6),
            _ => None,
        })
    };
    let link_local = link_locals()
        .find(|a| !tentative.contains(a))
        .or_else(|| link_locals().next());
    // IFF_UP and IFF_RUNNING (carrier).
    let up = i.flags & 0x1 != 0 && i.flags & 0x40 != 0;
    Some(Link {
        name: i.name.clone(),
        index: i.index,
        mac: i.mac.map(|m| m.octets()),
        primary,
        link_local,
        addresses,
        tentative,
        up,
    })
}

/// The IPv6 addresses of interface `index` that are tentative or failed
/// duplicate address detection, from the text of `/proc/net/if_inet6`
/// (per line: address, index, prefix length, scope, flags, all hex, then
/// the name).
fn tentative_in(text: &str, index: u32) -> Vec<Ipv6Addr> {
    const TENTATIVE: u32 = 0x40; // IFA_F_TENTATIVE
    const DAD_FAILED: u32 = 0x08; // IFA_F_DADFAILED
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let addr = u128::from_str_radix(f.next()?, 16).ok()?;
            let at = u32::from_str_radix(f.next()?, 16).ok()?;
            let flags = u32::from_str_radix(f.nth(2)?, 16).ok()?;
            (at == index && flags & (TENTATIVE | DAD_FAILED) != 0).then(|| Ipv6Addr::from(addr))
        })
        .collect()
}

/// One advert as it arrived: who sent it, to which address, with what
/// TTL (hop limit), and the VRRP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The sender.
    pub src: IpAddr,
    /// Where it was sent (the group, or ours).
    pub dst: IpAddr,
    /// Its TTL or hop limit on arrival.
    pub ttl: u8,
    /// The VRRP message.
    pub payload: &'a [u8],
}

/// The raw socket adverts go out of and come in by. It is driven as a
/// tokio `UdpSocket`, which needs no `unsafe` to register: IPv4 through
/// its `send_to` and `recv`, which a raw socket answers the same way (with
/// the IP header in what it receives). IPv6 hands over no header: the hop
/// limit and destination come as control messages (`IPV6_RECVHOPLIMIT`,
/// `IPV6_RECVPKTINFO`), read by nix's `recvmsg` inside `async_io`.
pub struct Advertiser {
    socket: tokio::net::UdpSocket,
    source: IpAddr,
    index: u32,
}

impl Advertiser {
    /// Opens it on `link` (bound to the interface), joined to the VRRP
    /// group there, sending from `source` with TTL (hop limit) 255 and
    /// without looping its own multicast back.
    ///
    /// IPv4: with `unicast`, it is also bound to `source`, so that adverts
    /// to peers leave from it (the pseudo-header checksum and the peers'
    /// filters count on it); a multicast router is not, as a bound raw
    /// socket would not receive the group's adverts. IPv6 names its source
    /// on each send instead (`IPV6_PKTINFO`), for the same reason.
    pub fn open(link: &Link, source: IpAddr, unicast: bool) -> io::Result<Advertiser> {
        let protocol = Some(Protocol::from(i32::from(packet::PROTOCOL)));
        let s = match source {
            IpAddr::V4(v4) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, protocol)?;
                s.bind_device(Some(link.name.as_bytes()))?;
                s.set_multicast_if_v4(&v4)?;
                s.set_multicast_ttl_v4(u32::from(packet::TTL))?;
                s.set_ttl_v4(u32::from(packet::TTL))?;
                s.set_multicast_loop_v4(false)?;
                s.join_multicast_v4(&packet::GROUP_V4, &v4)?;
                if unicast {
                    s.bind(&std::net::SocketAddr::V4(SocketAddrV4::new(v4, 0)).into())?;
                }
                s
            }
            IpAddr::V6(_) => {
                let s = Socket::new(Domain::IPV6, Type::RAW, protocol)?;
                s.bind_device(Some(link.name.as_bytes()))?;
                s.set_multicast_if_v6(link.index)?;
                s.set_multicast_hops_v6(u32::from(packet::TTL))?;
                s.set_unicast_hops_v6(u32::from(packet::TTL))?;
                s.set_multicast_loop_v6(false)?;
                s.join_multicast_v6(&packet::GROUP_V6, link.index)?;
                nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
                nixsock::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
                s
            }
        };
        s.set_nonblocking(true)?;
        let std_socket = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(s));
        Ok(Advertiser {
            socket: tokio::net::UdpSocket::from_std(std_socket)?,
            source,
            index: link.index,
        })
    }

    /// Sends VRRP message `msg` to `dst` (the group, or a unicast peer).
    pub async fn send(&self, msg: &[u8], dst: IpAddr) -> io::Result<()> {
        match (self.source, dst) {
            (IpAddr::V4(_), IpAddr::V4(dst)) => {
                self.socket.send_to(msg, SocketAddrV4::new(dst, 0)).await?;
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let info = nix::libc::in6_pktinfo {
                    ipi6_addr: nix::libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.index,
                };
                let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, self.index));
                let fd = self.socket.as_raw_fd();
                self.socket
                    .async_io(Interest::WRITABLE, || {
                        nixsock::sendmsg(
                            fd,
                            &[IoSlice::new(msg)],
                            &[ControlMessage::Ipv6PacketInfo(&info)],
                            MsgFlags::empty(),
                            Some(&to),
                        )
                        .map_err(io::Error::from)
                    })
                    .await?;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{dst} is not of this router's address family"),
                ))
            }
        }
        Ok(())
    }

    /// Receives one advert into `buf`: `Ok(None)` when what came is not a
    /// whole VRRP packet (a short IPv4 header, a fragment, no sender).
    pub async fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        let got = if self.source.is_ipv4() {
            let n = self.socket.recv(buf).await?;
            packet::ipv4_packet(&buf[..n]).map(|p| {
                let start = p.payload.as_ptr() as usize - buf.as_ptr() as usize;
                (
                    IpAddr::V4(p.src),
                    IpAddr::V4(p.dst),
                    p.ttl,
                    start..start + p.payload.len(),
                )
            })
        } else {
            let fd = self.socket.as_raw_fd();
            self.socket
                .async_io(Interest::READABLE, || recv_v6(fd, buf))
                .await?
        };
        let Some((src, dst, ttl, range)) = got else {
            return Ok(None);
        };
        Ok(Some(Received {
            src,
            dst,
            ttl,
            payload: &buf[range],
        }))
    }
}

/// What one IPv6 advert came with: sender, destination, hop limit, and
/// where the message lies in the buffer.
type V6Arrival = (IpAddr, IpAddr, u8, std::ops::Range<usize>);

/// One `recvmsg` on the IPv6 socket `fd` into `buf`.
fn recv_v6(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<Option<V6Arrival>> {
    let mut space = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = nixsock::recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let (mut dst, mut ttl) = (None, None);
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(info) => dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr)),
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(ttl)) = (msg.address.map(|a| a.ip()), dst, ttl) else {
        return Ok(None);
    };
    Ok(Some((IpAddr::V6(src), IpAddr::V6(dst), ttl, 0..msg.bytes)))
}

/// The virtual addresses on an interface, through netlink.
pub struct Addresses {
    handle: rtnetlink::Handle,
    _connection: tokio::task::JoinHandle<()>,
}

impl Addresses {
    /// A netlink connection in the calling thread's network namespace (its
    /// task runs on the current runtime until this is dropped).
    pub fn open() -> io::Result<Addresses> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        Ok(Addresses {
            handle,
            _connection: tokio::spawn(connection),
        })
    }

    /// Adds `addr/prefix` to interface `index` (already there: fine).
    /// An IPv6 address is added without duplicate address detection
    /// (`IFA_F_NODAD`, as keepalived does): the address moves between
    /// routers on purpose, and a tentative one could not be used for a
    /// second or more.
    pub async fn add(&self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
        let mut request = self.handle.address().add(index, addr, prefix);
        if addr.is_ipv6() {
            let message = request.message_mut();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -17 => Ok(()), // EEXIST
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// Removes `addr` from interface `index` (not there: fine).
    pub async fn remove(&self, index: u32, addr: IpAddr) -> io::Result<()> {
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(addr)
            .execute();
        while let Some(msg) = found
            .try_next()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -99 => {} // EADDRNOTAVAIL
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        Ok(())
    }
}

/// Announces each of `addrs` on `link`: a gratuitous ARP request for an
/// IPv4 address (sender and target both the address, to the broadcast
/// MAC: what keepalived and the kernel send, which switches and neighbours
/// take), an unsolicited neighbour advertisement for an IPv6 one.
pub fn announce(link: &Link, addrs: &[IpAddr]) -> io::Result<()> {
    let Some(mac) = link.mac else {
        return Ok(());
    };
    let Some(interface) = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.index == link.index)
    else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface {} is gone", link.name),
        ));
    };
    // Not promiscuous (pnet's default is): sending needs no such thing.
    let config = pnet_datalink::Config {
        promiscuous: false,
        ..pnet_datalink::Config::default()
    };
    let pnet_datalink::Channel::Ethernet(mut tx, _rx) = pnet_datalink::channel(&interface, config)? else {
        return Err(io::Error::other("not an Ethernet channel"));
    };
    // A forwarding host is a router to its neighbours: its advertisements
    // say so (RFC 4861 §4.4), as keepalived's do.
    let forwarding = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/forwarding", link.name))
        .is_ok_and(|f| f.trim() == "1");
    for addr in addrs {
        let frame = match addr {
            IpAddr::V4(v4) => garp_frame(mac, *v4),
            IpAddr::V6(v6) => na_frame(mac, *v6, forwarding),
        };
        if let Some(r) = tx.send_to(&frame, None) {
            r?;
        }
    }
    Ok(())
}

/// A gratuitous ARP request frame from `mac` for `addr`.
pub fn garp_frame(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]); // to everyone
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06]); // ARP
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&addr.octets());
    f
}

/// All IPv6 nodes on the link.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// An unsolicited neighbour advertisement frame (RFC 4861 §7.2.6) from
/// `mac` for `addr`: from the address itself to all nodes, hop limit 255,
/// the Override flag set (neighbours replace what they cached), the Router
/// flag if `router`, and the target link-layer address option carrying
/// `mac`.
pub fn na_frame(mac: [u8; 6], addr: Ipv6Addr, router: bool) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0]); // neighbour advertisement, checksum later
    let flags = if router { 0xa0 } else { 0x20 }; // Router, Override
    icmp.extend_from_slice(&[flags, 0, 0, 0]);
    icmp.extend_from_slice(&addr.octets());
    icmp.extend_from_slice(&[2, 1]); // target link-layer address, 8 bytes
    icmp.extend_from_slice(&mac);
    let sum = packet::internet_checksum(&icmp, Some((IpAddr::V6(addr), IpAddr::V6(ALL_NODES))), 58);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]); // ff02::1's multicast MAC
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd]); // IPv6
    f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no class, no flow
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]); // ICMPv6, hop limit 255
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&ALL_NODES.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gratuitous_arp_golden_frame() {
        let f = garp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 53));
        assert_eq!(
            f,
            [
                255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0,
                1, 192, 0, 2, 53, 0, 0, 0, 0, 0, 0, 192, 0, 2, 53
            ]
        );
    }

    #[test]
    fn tentative_addresses_are_read_from_proc() {
        let text = "fe800000000000000000000000000001 02 40 20 80     eth0\n\
                    fe800000000000000000000000000002 02 40 20 c0     eth0\n\
                    fd530000000000000000000000000001 02 40 00 88     eth0\n\
                    fe800000000000000000000000000003 03 40 20 40     eth1\n\
                    garbage\n";
        let want: Vec<Ipv6Addr> = ["fe80::2", "fd53::1"]
            .iter()
            .map(|a| a.parse().unwrap_or(Ipv6Addr::UNSPECIFIED))
            .collect();
        assert_eq!(tentative_in(text, 2), want);
        assert_eq!(tentative_in(text, 3).len(), 1);
        assert!(tentative_in(text, 4).is_empty());
    }

    #[test]
    fn an_unsolicited_neighbour_advertisement_frame() {
        let mac = [2, 0, 0, 0, 0, 1];
        let addr: Ipv6Addr = "2001:db8::53".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let f = na_frame(mac, addr, false);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[..14], &[0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
        assert_eq!(&f[14..22], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
        assert_eq!(&f[22..38], &addr.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        let icmp = &f[54..];
        assert_eq!(&icmp[..2], &[136, 0]);
        assert_eq!(icmp[4], 0x20, "Override, not Router or Solicited");
        assert_eq!(&icmp[8..24], &addr.octets());
        assert_eq!(&icmp[24..], &[2, 1, 2, 0, 0, 0, 0, 1]);
        // The checksum holds over the pseudo-header (a wrong one is dropped
        // by every neighbour; the end-to-end tests see a neighbour take it).
        assert_eq!(
            packet::internet_checksum(icmp, Some((IpAddr::V6(addr), IpAddr::V6(ALL_NODES))), 58),
            0
        );
        // A forwarding host's also says it is a router.
        let r = na_frame(mac, addr, true);
        assert_eq!(r[54 + 4], 0xa0, "Router and Override");
        assert_eq!(
            packet::internet_checksum(&r[54..], Some((IpAddr::V6(addr), IpAddr::V6(ALL_NODES))), 58),
            0
        );
    }
}
