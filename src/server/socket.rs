//! Socket setup: one `SO_REUSEPORT` UDP socket per worker and a TCP listener per address.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Kernel receive buffer asked for per UDP socket.
const UDP_RECV_BUFFER: usize = 4 << 20;
/// Attempts to find a port free for both UDP and TCP when the config says port 0.
const EPHEMERAL_ATTEMPTS: usize = 20;

/// The sockets for one listen address.
pub struct BoundAddress {
    /// The address with its real port.
    pub address: SocketAddr,
    /// One per worker, all on the same address.
    pub udp: Vec<UdpSocket>,
    /// The TCP listener.
    pub tcp: TcpListener,
}

/// Binds `workers` UDP sockets and one TCP listener on `address`. Port 0 picks a port free
/// for both protocols.
pub fn bind_all(address: SocketAddr, workers: usize) -> io::Result<BoundAddress> {
    let attempts = if address.port() == 0 { EPHEMERAL_ATTEMPTS } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        match try_bind(address, workers) {
            Ok(bound) => return Ok(bound),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && address.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port")))
}

fn try_bind(address: SocketAddr, workers: usize) -> io::Result<BoundAddress> {
    let first = udp_socket(address)?;
    let address = first.local_addr()?;
    let mut udp = vec![first];
    for _ in 1..workers.max(1) {
        udp.push(udp_socket(address)?);
    }
    let tcp = tcp_listener(address)?;
    Ok(BoundAddress { address, udp, tcp })
}

fn udp_socket(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    if address.ip().is_unspecified() {
        // A wildcard socket learns which local address each query came to, so that the
        // worker can send the reply from it (see `udp::Batch`): otherwise the kernel picks
        // the source, and on a host with several addresses a client that asked one of them
        // gets its answer from another and drops it.
        want_packet_info(&socket, address.is_ipv6())?;
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Asks the kernel for the destination address of every datagram (`IP_PKTINFO`, or
/// `IPV6_RECVPKTINFO`), delivered as a control message with it.
fn want_packet_info(socket: &Socket, ipv6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name) =
        if ipv6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) } else { (libc::IPPROTO_IP, libc::IP_PKTINFO) };
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is open for the life of `socket`, and the option value is a
    // c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn tcp_listener(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
