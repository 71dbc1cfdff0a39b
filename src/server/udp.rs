//! A UDP worker: receives a batch with `recvmmsg`, answers each query into its own buffer,
//! sends the batch with `sendmmsg`. Buffers are allocated once when the worker starts.

use std::io;
use std::mem;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::answer::{Responder, Transport};
use crate::server::rrl::{self, Decision, RateLimiter};
use crate::server::Shared;

/// Packets received and sent per system call.
pub const BATCH: usize = 64;
/// Largest query read; longer datagrams are dropped.
const RECV_SIZE: usize = 4096;
/// Largest UDP response (`edns_udp_size` is at most this).
const SEND_SIZE: usize = 4096;

/// The worker's buffers and the kernel structures that point into them.
struct Batch {
    recv: Box<[[u8; RECV_SIZE]; BATCH]>,
    send: Box<[[u8; SEND_SIZE]; BATCH]>,
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    recv_iov: Box<[libc::iovec; BATCH]>,
    send_iov: Box<[libc::iovec; BATCH]>,
    recv_msgs: Box<[libc::mmsghdr; BATCH]>,
    send_msgs: Box<[libc::mmsghdr; BATCH]>,
    /// How many receive headers the kernel filled in last time (and must be reset).
    filled: usize,
}

impl Batch {
    fn new() -> Box<Batch> {
        // SAFETY: every field is plain old data (bytes, C structs of integers and pointers),
        // for which all-zero is a valid value; the pointers are set below before any use.
        let mut batch: Box<Batch> = Box::new(Batch {
            recv: Box::new([[0; RECV_SIZE]; BATCH]),
            send: Box::new([[0; SEND_SIZE]; BATCH]),
            addrs: Box::new(unsafe { mem::zeroed() }),
            recv_iov: Box::new(unsafe { mem::zeroed() }),
            send_iov: Box::new(unsafe { mem::zeroed() }),
            recv_msgs: Box::new(unsafe { mem::zeroed() }),
            send_msgs: Box::new(unsafe { mem::zeroed() }),
            filled: BATCH,
        });
        for i in 0..BATCH {
            batch.recv_iov[i] = libc::iovec { iov_base: batch.recv[i].as_mut_ptr().cast(), iov_len: RECV_SIZE };
            batch.send_iov[i] = libc::iovec { iov_base: batch.send[i].as_mut_ptr().cast(), iov_len: 0 };
            let hdr = &mut batch.recv_msgs[i].msg_hdr;
            hdr.msg_iov = &mut batch.recv_iov[i];
            hdr.msg_iovlen = 1;
            let hdr = &mut batch.send_msgs[i].msg_hdr;
            hdr.msg_iov = &mut batch.send_iov[i];
            hdr.msg_iovlen = 1;
        }
        batch
    }

    /// Receives up to BATCH datagrams, waiting for the first one (or the socket timeout).
    fn receive(&mut self, fd: i32) -> io::Result<usize> {
        // The kernel writes the address length and flags of the headers it fills and leaves
        // the others alone, so only those are reset: at one datagram per wake-up that is one
        // header instead of 64 (64 cache lines).
        for i in 0..self.filled {
            let hdr = &mut self.recv_msgs[i].msg_hdr;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_flags = 0;
        }
        self.filled = 0;
        // SAFETY: recv_msgs holds BATCH headers whose iovecs point at BATCH live buffers of
        // RECV_SIZE bytes and whose names point at BATCH sockaddr_storage; all are owned by
        // `self`, which outlives the call.
        let n = unsafe {
            libc::recvmmsg(fd, self.recv_msgs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n < 0 {
            // Nothing was received; reset every header anyway, to rely on nothing.
            self.filled = BATCH;
            Err(io::Error::last_os_error())
        } else {
            self.filled = n as usize;
            Ok(n as usize)
        }
    }

    /// Sends the first `count` prepared responses, retrying after partial sends.
    fn send(&mut self, fd: i32, count: usize) {
        let mut sent = 0;
        while sent < count {
            // SAFETY: send_msgs[sent..count] were filled by `answer_all`: each iovec points at
            // a live send buffer with its length, each name at a received address.
            let n = unsafe { libc::sendmmsg(fd, self.send_msgs[sent..].as_mut_ptr(), (count - sent) as u32, 0) };
            if n <= 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // This datagram can't be sent (unreachable peer, full buffer): skip it.
                sent += 1;
            } else {
                sent += n as usize;
            }
        }
    }
}

/// Runs a worker until the server stops.
pub fn run(socket: UdpSocket, shared: Arc<Shared>, query_log: bool, rrl: Option<Arc<RateLimiter>>) {
    let fd = socket.as_raw_fd();
    let mut batch = Batch::new();
    let mut responder = Responder::new();
    let mut view_cache = arc_swap::Cache::new(&shared.view);
    let stats = shared.stats.register();
    #[cfg(feature = "answer-timing")]
    let mut timing = super::timing::AnswerTiming::new();
    while !shared.stopping() {
        let received = match batch.receive(fd) {
            // Zero datagrams: the read side was shut down to stop the worker.
            Ok(0) => continue,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let view = view_cache.load();
        // One clock read per batch, and only when rate limiting is on.
        let second = if rrl.is_some() { shared.started.elapsed().as_secs() as u32 } else { 0 };
        let mut out = 0;
        for i in 0..received {
            let msg = &batch.recv_msgs[i];
            if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                stats.record_dropped(Transport::Udp);
                continue;
            }
            let len = msg.msg_len as usize;
            let namelen = msg.msg_hdr.msg_namelen;
            #[cfg(feature = "answer-timing")]
            let started = std::time::Instant::now();
            let outcome = responder.respond(
                &view.catalog,
                &view.health,
                &batch.recv[i][..len],
                Transport::Udp,
                &mut batch.send[out],
            );
            #[cfg(feature = "answer-timing")]
            timing.record(i, started.elapsed());
            stats.record(Transport::Udp, &outcome);
            if query_log {
                if let Some(client) = socket_addr(&batch.addrs[i], namelen) {
                    super::log_query(client, Transport::Udp, &batch.recv[i][..len], &outcome);
                }
            }
            if outcome.len == 0 {
                continue;
            }
            let mut send_len = outcome.len;
            if let Some(rrl) = &rrl {
                if let Some(client) = socket_addr(&batch.addrs[i], namelen) {
                    match rrl.decide(client.ip(), second) {
                        Decision::Send => {}
                        Decision::Slip => {
                            stats.record_rrl(true);
                            send_len = rrl::truncate_in_place(&mut batch.send[out], outcome.len);
                        }
                        Decision::Drop => {
                            stats.record_rrl(false);
                            continue;
                        }
                    }
                }
            }
            batch.send_iov[out].iov_len = send_len;
            let hdr = &mut batch.send_msgs[out].msg_hdr;
            hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = namelen;
            out += 1;
        }
        batch.send(fd, out);
        #[cfg(feature = "answer-timing")]
        if let Some(report) = timing.report_due(std::time::Instant::now()) {
            tracing::info!("{report}");
        }
    }
}

/// The sender's address as the kernel filled it in.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<std::net::SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    match storage.ss_family as i32 {
        libc::AF_INET if len as usize >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough;
            // sockaddr_storage is aligned for every socket address type.
            let sin = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
