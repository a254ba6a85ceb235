//! The client side of replication's exchanges: SOA queries and NOTIFYs
//! over UDP, transfers over TCP, each from the server's own address (a
//! peer's ACL knows the server by the address it listens on).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// The address to send from when talking to `to`: the first listen address
/// of its family that can reach it (a loopback one only for a loopback
/// peer), when that is a specific one; otherwise the kernel's choice.
pub(super) fn source_for(listen: &[SocketAddr], to: SocketAddr) -> IpAddr {
    let to_loopback = to.ip().to_canonical().is_loopback();
    listen
        .iter()
        .map(|a| a.ip().to_canonical())
        .find(|ip| ip.is_ipv4() == to.is_ipv4() && !ip.is_unspecified() && ip.is_loopback() == to_loopback)
        .unwrap_or(if to.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        })
}

/// Sends `request` to `to` from `from` and waits up to `timeout` for a
/// datagram from `to` that `accept` takes.
pub(super) async fn udp_exchange(
    from: IpAddr,
    to: SocketAddr,
    request: &[u8],
    timeout: Duration,
    mut accept: impl FnMut(&[u8]) -> bool,
) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0)).await?;
    socket.send_to(request, to).await?;
    let mut buf = vec![0u8; 65_535];
    tokio::time::timeout(timeout, async {
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await?;
            if peer == to && accept(&buf[..n]) {
                return Ok(buf[..n].to_vec());
            }
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer"))?
}

/// A TCP connection to `to` from `from`, within `timeout`.
pub(super) async fn tcp_connect(from: IpAddr, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = if to.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = tokio::time::timeout(timeout, socket.connect(to))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes one message with its length prefix.
pub(super) async fn tcp_send(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too long"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    stream.write_all(&out).await
}

/// Reads one length-prefixed message, all of it within `timeout`.
pub(super) async fn tcp_read(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    tokio::time::timeout(timeout, async {
        let len = usize::from(stream.read_u16().await?);
        let mut msg = vec![0u8; len];
        stream.read_exact(&mut msg).await?;
        Ok(msg)
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped sending"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_source_is_a_listen_address_that_can_reach_the_peer() {
        let listen = [sa("127.0.0.1:53"), sa("192.0.2.10:53"), sa("[::1]:53")];
        assert_eq!(source_for(&listen, sa("192.0.2.1:53")), sa("192.0.2.10:0").ip());
        assert_eq!(source_for(&listen, sa("127.0.0.9:53")), sa("127.0.0.1:0").ip());
        // No global IPv6 listen address: the kernel chooses.
        assert!(source_for(&listen, sa("[2001:db8::1]:53")).is_unspecified());
        assert_eq!(source_for(&listen, sa("[::1]:5300")), sa("[::1]:0").ip());
        assert!(source_for(&[sa("0.0.0.0:53")], sa("192.0.2.1:53")).is_unspecified());
    }
}
