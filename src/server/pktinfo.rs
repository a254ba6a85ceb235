//! Wildcard UDP listeners (`0.0.0.0`, `[::]`): the kernel tells each query's
//! destination address (IP_PKTINFO, IPV6_RECVPKTINFO) and the reply names it
//! as its source, so a client that asked 192.0.2.53 hears from 192.0.2.53,
//! not from whatever address the routing table prefers. Listeners bound to
//! one address do not need this and use plain `recvfrom`/`sendto`.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvfrom, recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn, SockaddrIn6, SockaddrStorage,
};

/// Where a query arrived: the address it was sent to and the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Local {
    pub(crate) ip: IpAddr,
    pub(crate) ifindex: u32,
}

/// Asks the kernel to report each datagram's destination on `socket`.
pub(crate) fn enable(socket: &socket2::Socket, v6: bool) -> io::Result<()> {
    if v6 {
        setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?;
    } else {
        setsockopt(socket, sockopt::Ipv4PacketInfo, &true)?;
    }
    Ok(())
}

/// Room for the control message [`recv`] asks for; allocate once per worker.
pub(crate) fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(libc::in6_pktinfo)
}

/// Receives one datagram into `buf`: its length, sender and destination.
/// Every datagram carries packet info; a receive without it is a socket
/// shut for reading (the shutdown wake), reported as `WouldBlock`.
pub(crate) fn recv(
    socket: &UdpSocket,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Local>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(control), MsgFlags::empty())?;
    let mut local = None;
    for cmsg in msg.cmsgs()? {
        match cmsg {
            // ipi_spec_dst, not ipi_addr (the header's destination): for a
            // broadcast query it is the interface's address, a valid source.
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                local = Some(Local {
                    ip: IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr))),
                    ifindex: u32::try_from(info.ipi_ifindex).unwrap_or(0),
                });
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                local = Some(Local {
                    ip: IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)),
                    ifindex: info.ipi6_ifindex,
                });
            }
            _ => {}
        }
    }
    let Some(local) = local else {
        return Err(io::ErrorKind::WouldBlock.into());
    };
    let peer = msg
        .address
        .as_ref()
        .and_then(to_std)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without a source address"))?;
    Ok((msg.bytes, peer, Some(local)))
}

/// Receives one datagram on a socket bound to one address: its length and
/// sender. Not `UdpSocket::recv_from`: std asserts that the kernel filled in
/// a whole address, and a receive woken by `shutdown(SHUT_RD)` returns none
/// (that assertion panicked every worker that had served traffic at
/// SIGTERM). No address is the shutdown wake, reported as `WouldBlock`.
pub(crate) fn recv_plain(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Local>)> {
    let (n, from) = recvfrom::<SockaddrStorage>(socket.as_raw_fd(), buf)?;
    match from.as_ref().and_then(to_std) {
        Some(peer) => Ok((n, peer, None)),
        None => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Sends `reply` to `peer` from `local`'s address. IPv4 lets routing choose
/// the interface. For IPv6, a link-local peer's scope id already picks the
/// interface; the arrival interface is named too whenever either address is
/// link-local (which means nothing without it), so a link-local source is
/// never paired with another interface.
pub(crate) fn send(
    socket: &UdpSocket,
    reply: &[u8],
    peer: SocketAddr,
    local: Local,
    flags: MsgFlags,
) -> io::Result<usize> {
    let iov = [IoSlice::new(reply)];
    let fd = socket.as_raw_fd();
    match (peer, local.ip) {
        (SocketAddr::V4(peer), IpAddr::V4(src)) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(src).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            let cmsg = [ControlMessage::Ipv4PacketInfo(&info)];
            Ok(sendmsg(fd, &iov, &cmsg, flags, Some(&SockaddrIn::from(peer)))?)
        }
        (SocketAddr::V6(peer), IpAddr::V6(src)) => {
            let link_local = [*peer.ip(), src]
                .iter()
                .any(|a| a.segments()[0] & 0xffc0 == 0xfe80);
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: src.octets(),
                },
                ipi6_ifindex: if link_local { local.ifindex } else { 0 },
            };
            let cmsg = [ControlMessage::Ipv6PacketInfo(&info)];
            Ok(sendmsg(fd, &iov, &cmsg, flags, Some(&SockaddrIn6::from(peer)))?)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "reply and arrival address of different families",
        )),
    }
}

fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a wildcard socket the reply to a query sent to 127.0.0.2 leaves
    /// from 127.0.0.2, though routing would pick 127.0.0.1 for a reply to
    /// 127.0.0.1.
    #[test]
    fn reply_leaves_from_the_address_queried() {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
        enable(&socket, false).expect("IP_PKTINFO");
        socket
            .bind(&"0.0.0.0:0".parse::<SocketAddr>().expect("addr").into())
            .expect("bind");
        let server: UdpSocket = socket.into();
        let port = server.local_addr().expect("local").port();
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        let target = SocketAddr::from(([127, 0, 0, 2], port));
        client.send_to(b"question", target).expect("send");
        let mut buf = [0u8; 64];
        let (n, peer, local) = recv(&server, &mut buf, &mut control_buffer()).expect("recv");
        assert_eq!(
            (&buf[..n], peer),
            (&b"question"[..], client.local_addr().expect("addr"))
        );
        let local = local.expect("packet info");
        assert_eq!(local.ip, IpAddr::from([127, 0, 0, 2]));
        send(&server, b"answer", peer, local, MsgFlags::empty()).expect("send reply");
        let (n, from) = client.recv_from(&mut buf).expect("reply");
        assert_eq!((&buf[..n], from), (&b"answer"[..], target));
    }

    /// A receive woken by `shutdown(SHUT_RD)` carries no sender address:
    /// reported as `WouldBlock`, not a panic (std's `recv_from` asserts).
    #[test]
    fn a_receive_woken_by_shutdown_is_not_a_panic() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // Linux says ENOTCONN for an unconnected socket, but shuts it.
        let _ = socket2::SockRef::from(&server).shutdown(std::net::Shutdown::Read);
        let mut buf = [0u8; 64];
        let err = recv_plain(&server, &mut buf).expect_err("no datagram");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
