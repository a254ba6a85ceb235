//! Linux I/O for one virtual router: the interface (index, MAC, primary
//! address, up or down), the raw IP protocol 112 socket (multicast group
//! joined on that interface, TTL 255 sent; the TTL received is checked by
//! the caller from the IP header), the virtual addresses through netlink,
//! and gratuitous ARP through a packet socket. IPv4 only, for now.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use futures_util::TryStreamExt;
use socket2::{Domain, Protocol, Socket, Type};

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
    /// Its first IPv4 address that is not one of ours: where adverts come from.
    pub primary: Option<Ipv4Addr>,
    /// All its IPv4 addresses.
    pub addresses: Vec<Ipv4Addr>,
    /// Administratively up, with a carrier.
    pub up: bool,
}

/// The interface `name` now, leaving out `vips` when choosing the
/// primary address; `None` when there is no such interface.
pub fn link(name: &str, vips: &[IpAddr]) -> Option<Link> {
    let i = pnet_datalink::interfaces().into_iter().find(|i| i.name == name)?;
    let primary = i.ips.iter().find_map(|n| match n.ip() {
        IpAddr::V4(v4) if !vips.contains(&IpAddr::V4(v4)) => Some(v4),
        _ => None,
    });
    let addresses = i
        .ips
        .iter()
        .filter_map(|n| match n.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    // IFF_UP and IFF_RUNNING (carrier).
    let up = i.flags & 0x1 != 0 && i.flags & 0x40 != 0;
    Some(Link {
        name: i.name.clone(),
        index: i.index,
        mac: i.mac.map(|m| m.octets()),
        primary,
        addresses,
        up,
    })
}

/// The raw socket adverts go out of and come in by. It is driven as a
/// tokio `UdpSocket`: that type only calls `sendto` and `recv` on its
/// descriptor, which a raw socket answers the same way (with the IP header
/// in what it receives), and it needs no `unsafe` to register.
pub struct Advertiser {
    socket: tokio::net::UdpSocket,
}

impl Advertiser {
    /// Opens it on `link` (bound to the interface), joined to the VRRP
    /// group there, sending from `source` with TTL 255 and without
    /// looping its own multicast back. With `unicast`, it is also bound to
    /// `source`, so that adverts to peers leave from it (the pseudo-header
    /// checksum and the peers' filters count on it); a multicast router is
    /// not, as a bound raw socket would not receive the group's adverts.
    pub fn open(link: &Link, source: Ipv4Addr, unicast: bool) -> io::Result<Advertiser> {
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(packet::PROTOCOL))),
        )?;
        s.set_nonblocking(true)?;
        s.bind_device(Some(link.name.as_bytes()))?;
        s.set_multicast_if_v4(&source)?;
        s.set_multicast_ttl_v4(u32::from(packet::TTL))?;
        s.set_ttl_v4(u32::from(packet::TTL))?;
        s.set_multicast_loop_v4(false)?;
        s.join_multicast_v4(&packet::GROUP_V4, &source)?;
        if unicast {
            s.bind(&std::net::SocketAddr::V4(SocketAddrV4::new(source, 0)).into())?;
        }
        let std_socket = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(s));
        Ok(Advertiser {
            socket: tokio::net::UdpSocket::from_std(std_socket)?,
        })
    }

    /// Sends VRRP message `msg` to `dst` (the group, or a unicast peer).
    pub async fn send(&self, msg: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        self.socket
            .send_to(msg, SocketAddrV4::new(dst, 0))
            .await
            .map(|_| ())
    }

    /// Receives one IP packet (header included) into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf).await
    }
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
    pub async fn add(&self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        match self.handle.address().add(index, addr, prefix).execute().await {
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

/// Sends one gratuitous ARP request for each of `addrs` on `link` (sender
/// and target both the address, to the broadcast MAC: what keepalived and
/// the kernel send, which switches and neighbours take).
pub fn announce(link: &Link, addrs: &[Ipv4Addr]) -> io::Result<()> {
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
    for addr in addrs {
        let frame = garp_frame(mac, *addr);
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
}
