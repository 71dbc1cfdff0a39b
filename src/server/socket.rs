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
/// for both protocols, that no other socket holds.
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
    // The kernel gives a socket with SO_REUSEPORT that binds port 0 a port where another such
    // socket of the same user is bound, as if it had asked for that port: the two then share
    // its datagrams, and each loses some. So port 0 is found by a plain UDP socket, which only
    // gets a port no UDP socket holds; the TCP listener takes it, so that no other server's
    // search can; and the workers' sockets bind it once the plain one is closed.
    let probe = if address.port() == 0 { Some(UdpSocket::bind(address)?) } else { None };
    let address = match &probe {
        Some(probe) => probe.local_addr()?,
        None => address,
    };
    let tcp = tcp_listener(address)?;
    drop(probe);
    let udp = (0..workers.max(1)).map(|_| udp_socket(address)).collect::<io::Result<Vec<_>>>()?;
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
    if let Err(e) = no_path_mtu_discovery(&socket, address.is_ipv6()) {
        // A hardening, not a condition for serving: say so and go on.
        tracing::warn!(%address, error = %e, "cannot turn path MTU discovery off on a UDP socket");
    }
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
    let (level, name) =
        if ipv6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) } else { (libc::IPPROTO_IP, libc::IP_PKTINFO) };
    set_int(socket, level, name, 1)
}

/// Smallest IPv6 MTU (RFC 8200 section 5).
const IPV6_MIN_MTU: libc::c_int = 1280;

/// Turns path MTU discovery off, as Knot, NSD and gdnsd do on their UDP sockets. With it on
/// (the kernel's default), IPv4 replies carry DF and the kernel lowers its idea of the path
/// MTU on any ICMP "fragmentation needed" that names the client, which anyone can forge: an
/// attacker can then make this server fragment its answers to a victim resolver and splice
/// forged fragments into them. `IP_PMTUDISC_OMIT` sends without DF, at the interface's MTU,
/// and ignores such ICMP (Linux 3.15 and later; `IP_PMTUDISC_DONT` before, which only drops
/// DF). Over IPv6 replies are cut at 1,280 bytes, the MTU every IPv6 path carries, so that
/// no Packet Too Big is needed or heeded.
fn no_path_mtu_discovery(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let (level, name, omit, dont) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_OMIT, libc::IPV6_PMTUDISC_DONT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_OMIT, libc::IP_PMTUDISC_DONT)
    };
    set_int(socket, level, name, omit).or_else(|_| set_int(socket, level, name, dont))?;
    if ipv6 {
        set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_MTU, IPV6_MIN_MTU)?;
    }
    Ok(())
}

/// Sets an integer socket option that `socket2` has no method for.
fn set_int(socket: &Socket, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the life of `socket`, and the option value is a
    // c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn get_int(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the descriptor is open, and the value and its length are a c_int's.
        let rc = unsafe {
            libc::getsockopt(socket.as_raw_fd(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len)
        };
        assert_eq!(rc, 0, "getsockopt({level}, {name}): {}", io::Error::last_os_error());
        value
    }

    /// Port 0 never lands on a port where other `SO_REUSEPORT` UDP sockets are bound, as the
    /// kernel's own port-0 search for such a socket may: 3,000 of them hold about a tenth of
    /// the ephemeral range, so a search that could land there would in some of 100 tries.
    #[test]
    fn port_0_takes_a_port_no_other_reuseport_socket_holds() {
        // 3,400 descriptors and the other tests': more than the usual soft limit of 1,024.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: get and set a resource limit through a valid pointer to an rlimit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            limit.rlim_cur = limit.rlim_cur.max(limit.rlim_max.min(8192));
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        assert!(limit.rlim_cur >= 4096, "the open files limit is {limit:?}: too few for this test");
        let taken: Vec<UdpSocket> = (0..3000).map(|_| udp_socket("127.0.0.1:0".parse().unwrap()).unwrap()).collect();
        let held: std::collections::HashSet<u16> = taken.iter().map(|s| s.local_addr().unwrap().port()).collect();
        let bound: Vec<BoundAddress> = (0..100).map(|_| bind_all("127.0.0.1:0".parse().unwrap(), 2).unwrap()).collect();
        for b in &bound {
            assert!(!held.contains(&b.address.port()), "port {} is another socket's", b.address.port());
            assert!(b.udp.iter().all(|u| u.local_addr().unwrap() == b.address));
            assert_eq!(b.tcp.local_addr().unwrap(), b.address);
        }
        let ports: std::collections::HashSet<u16> = bound.iter().map(|b| b.address.port()).collect();
        assert_eq!(ports.len(), bound.len(), "no two servers share a port");
    }

    #[test]
    fn udp_sockets_send_without_path_mtu_discovery() {
        let bound = bind_all("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        assert_eq!(bound.udp.len(), 2);
        for socket in &bound.udp {
            let mode = get_int(socket, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
            assert!(matches!(mode, libc::IP_PMTUDISC_OMIT | libc::IP_PMTUDISC_DONT), "IP_MTU_DISCOVER is {mode}");
        }
        // A plain socket keeps the kernel's default (DF set), so the check above means something.
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = get_int(&plain, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
        assert!(!matches!(default, libc::IP_PMTUDISC_OMIT | libc::IP_PMTUDISC_DONT), "default is {default}");

        if UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; the IPv6 half is not checked");
            return;
        }
        let bound = bind_all("[::1]:0".parse().unwrap(), 1).unwrap();
        let mode = get_int(&bound.udp[0], libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER);
        assert!(matches!(mode, libc::IPV6_PMTUDISC_OMIT | libc::IPV6_PMTUDISC_DONT), "IPV6_MTU_DISCOVER is {mode}");
    }
}
