//! The one socket builder: SO_REUSEPORT (several UDP sockets per address,
//! one per worker), IP_FREEBIND (listen on a VIP the host does not hold yet),
//! IPV6_V6ONLY, larger buffers.
//!
//! Only our own workers may share an address: the TCP listener takes no
//! SO_REUSEPORT, and before the UDP workers bind, a probe socket without it
//! must bind alone. So a second `palanquin serve` on the same addresses (or
//! any other server on them) fails at start, naming the address, instead of
//! silently taking a share of the clients. UDP sockets are blocking (each is one worker
//! thread's, udp.rs) with bounded waits, and on a wildcard address report
//! each datagram's destination (pktinfo.rs).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Receive/send buffer asked for (the kernel doubles it): deep enough for
/// bursts, shallow enough that an overloaded server fails fast rather than
/// answering seconds late.
const UDP_BUFFER: usize = 1 << 20;

fn base(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
        socket.set_freebind_v6(true)?;
    } else {
        socket.set_freebind_v4(true)?;
    }
    Ok(socket)
}

/// Fails with `AddrInUse` when anything already holds UDP `addr` (a port 0
/// address always passes). A socket without SO_REUSEPORT conflicts with
/// every earlier one, ours included: call it before binding the workers.
pub(crate) fn udp_is_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = base(addr, Type::DGRAM, Protocol::UDP)?;
    probe.bind(&addr.into())
}

/// A blocked receive returns after this long even with nothing to read: only
/// a backstop, since shutdown wakes the workers at once; an idle daemon
/// wakes up this rarely.
const RECV_BACKSTOP: Duration = Duration::from_secs(5);
/// A blocking send gives up after this long (a full buffer): the bound on
/// how long a worker can be held up, shutdown included.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A UDP socket bound to `addr`, shareable with other workers on the same
/// address; blocking, with the timeouts above.
pub(crate) fn udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = base(addr, Type::DGRAM, Protocol::UDP)?;
    socket.set_reuse_port(true)?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_read_timeout(Some(RECV_BACKSTOP))?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    if addr.ip().is_unspecified() {
        super::pktinfo::enable(&socket, addr.is_ipv6())?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A TCP listener bound to `addr`, alone: SO_REUSEADDR (a restart need not
/// wait for old connections in TIME_WAIT) but no SO_REUSEPORT, so a second
/// listener on the same address fails with `AddrInUse`.
pub(crate) fn tcp(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = base(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}
