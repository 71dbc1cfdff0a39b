//! A UDP worker: receives a batch with `recvmmsg`, answers each query in place of the query
//! in its own buffer, sends the batch with `sendmmsg` through the same headers. Buffers are
//! allocated once when the worker starts.

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
/// Largest query read (longer datagrams are dropped), and largest response written
/// (`edns_udp_size` is at most this).
const BUF_SIZE: usize = 4096;

/// The worker's buffers and the kernel structures that point into them. One buffer, one
/// address and one header per datagram serve both ways: the response replaces the query, and
/// goes back through the header that brought the query in. Against separate send buffers and
/// headers, that is half the memory and two to four fewer cache lines touched per query.
struct Batch {
    bufs: Box<[[u8; BUF_SIZE]; BATCH]>,
    /// The query being answered, copied out of its buffer so the response can take its place.
    query: Box<[u8; BUF_SIZE]>,
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    iovs: Box<[libc::iovec; BATCH]>,
    msgs: Box<[libc::mmsghdr; BATCH]>,
    /// How many headers the last receive filled (and answering may have changed): those are
    /// set up again before the next receive.
    filled: usize,
}

impl Batch {
    fn new() -> Box<Batch> {
        // SAFETY: every field is plain old data (bytes, C structs of integers and pointers),
        // for which all-zero is a valid value; the pointers are set before any use.
        Box::new(Batch {
            bufs: Box::new([[0; BUF_SIZE]; BATCH]),
            query: Box::new([0; BUF_SIZE]),
            addrs: Box::new(unsafe { mem::zeroed() }),
            iovs: Box::new(unsafe { mem::zeroed() }),
            msgs: Box::new(unsafe { mem::zeroed() }),
            filled: BATCH,
        })
    }

    /// Receives up to BATCH datagrams, waiting for the first one (or the socket timeout).
    fn receive(&mut self, fd: i32) -> io::Result<usize> {
        // Only the headers used last time are set up again: the kernel writes the address
        // length, flags and length of those it fills, and answering points them at responses
        // (and may move them, see `keep`). At one datagram per wake-up that is one header
        // instead of 64.
        for i in 0..self.filled {
            self.iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr().cast(), iov_len: BUF_SIZE };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_flags = 0;
        }
        self.filled = 0;
        // SAFETY: msgs holds BATCH headers whose iovecs point at BATCH live buffers of
        // BUF_SIZE bytes and whose names point at BATCH sockaddr_storage; all are owned by
        // `self`, which outlives the call.
        let n = unsafe {
            libc::recvmmsg(fd, self.msgs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n < 0 {
            // Nothing was received; set up every header anyway, to rely on nothing.
            self.filled = BATCH;
            Err(io::Error::last_os_error())
        } else {
            self.filled = n as usize;
            Ok(n as usize)
        }
    }

    /// Queues the response of `len` bytes in buffer `i` as the `out`-th to send (`out <= i`):
    /// header `i` moves down to `out`, as `Vec::retain` moves elements, still pointing at
    /// buffer `i` and its sender's address.
    #[inline]
    fn keep(&mut self, i: usize, out: usize, len: usize) {
        self.iovs[i].iov_len = len;
        if out != i {
            self.msgs[out] = self.msgs[i];
        }
    }

    /// Sends the first `count` queued responses, retrying after partial sends.
    fn send(&mut self, fd: i32, count: usize) {
        let mut sent = 0;
        while sent < count {
            // SAFETY: msgs[sent..count] were queued by `keep`: each iovec points at a live
            // buffer holding a response of its length, each name at a received address.
            let n = unsafe { libc::sendmmsg(fd, self.msgs[sent..].as_mut_ptr(), (count - sent) as u32, 0) };
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
            let msg = &batch.msgs[i];
            if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                stats.record_dropped(Transport::Udp);
                continue;
            }
            let len = msg.msg_len as usize;
            let namelen = msg.msg_hdr.msg_namelen;
            let Batch { bufs, query, addrs, .. } = &mut *batch;
            let query = &mut query[..len];
            query.copy_from_slice(&bufs[i][..len]);
            #[cfg(feature = "answer-timing")]
            let started = std::time::Instant::now();
            let outcome = responder.respond(&view.catalog, &view.health, query, Transport::Udp, &mut bufs[i]);
            #[cfg(feature = "answer-timing")]
            timing.record(i, started.elapsed());
            stats.record(Transport::Udp, &outcome);
            if query_log {
                if let Some(client) = socket_addr(&addrs[i], namelen) {
                    super::log_query(client, Transport::Udp, query, &outcome);
                }
            }
            if outcome.len == 0 {
                continue;
            }
            let mut send_len = outcome.len;
            if let Some(rrl) = &rrl {
                if let Some(client) = socket_addr(&addrs[i], namelen) {
                    match rrl.decide(client.ip(), second) {
                        Decision::Send => {}
                        Decision::Slip => {
                            stats.record_rrl(true);
                            send_len = rrl::truncate_in_place(&mut bufs[i], outcome.len);
                        }
                        Decision::Drop => {
                            stats.record_rrl(false);
                            continue;
                        }
                    }
                }
            }
            batch.keep(i, out, send_len);
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
