//! A UDP worker: receives a batch with `recvmmsg`, answers each query in place of the query
//! in its own buffer, sends the batch with `sendmmsg` through the same headers. Buffers are
//! allocated once when the worker starts. On a wildcard address (`0.0.0.0`, `::`) each reply
//! carries the query's destination address as its source (`IP_PKTINFO`/`IPV6_PKTINFO`).

use std::io;
use std::mem;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::answer::{Outcome, Responder, Transport};
use crate::server::rrl::{self, Decision, RateLimiter};
use crate::server::Shared;
use crate::wire::{self, rcode, HEADER_LEN};

/// Packets received and sent per system call.
pub const BATCH: usize = 64;
/// Largest query read (longer datagrams get FORMERR), and largest response written
/// (`edns_udp_size` is at most this).
const BUF_SIZE: usize = 4096;
/// Room for the control messages of one datagram: one `in6_pktinfo` needs 40 bytes.
const CONTROL_SIZE: usize = 64;
/// How long a worker waits for a datagram before it looks at the view again. A worker keeps
/// the view it last answered from (`arc_swap::Cache`), so without this an idle one would
/// keep a replaced catalog, and its memory, until its next query.
const IDLE_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// One datagram's control messages, aligned as `cmsghdr` needs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL_SIZE]);

/// The worker's buffers and the kernel structures that point into them. One buffer, one
/// address and one header per datagram serve both ways: the response replaces the query, and
/// goes back through the header that brought the query in. Against separate send buffers and
/// headers, that is half the memory and two to four fewer cache lines touched per query.
struct Batch {
    bufs: Box<[[u8; BUF_SIZE]; BATCH]>,
    /// The query being answered, copied out of its buffer for the full answer path (and the
    /// query log), so the response can take its place.
    query: Box<[u8; BUF_SIZE]>,
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    iovs: Box<[libc::iovec; BATCH]>,
    msgs: Box<[libc::mmsghdr; BATCH]>,
    /// Each datagram's packet info, on wildcard sockets only (see `reply_control`).
    controls: Option<Box<[Control; BATCH]>>,
    /// How many headers the last receive filled (and answering may have changed): those are
    /// set up again before the next receive.
    filled: usize,
}

impl Batch {
    /// Buffers for a worker; `packet_info` when its socket is on a wildcard address.
    fn new(packet_info: bool) -> Box<Batch> {
        // SAFETY: sockaddr_storage is integers only, for which all-zero is a valid value.
        let addrs = Box::new(unsafe { mem::zeroed() });
        // SAFETY: iovec is a pointer and a length; all-zero (null, 0) is a valid value, and
        // the pointers are set below before any use.
        let iovs = Box::new(unsafe { mem::zeroed() });
        // SAFETY: mmsghdr is integers and pointers; all-zero is a valid value, and the
        // pointers are set below before any use.
        let msgs = Box::new(unsafe { mem::zeroed() });
        Box::new(Batch {
            bufs: Box::new([[0; BUF_SIZE]; BATCH]),
            query: Box::new([0; BUF_SIZE]),
            addrs,
            iovs,
            msgs,
            controls: packet_info.then(|| Box::new([Control([0; CONTROL_SIZE]); BATCH])),
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
            if let Some(controls) = &mut self.controls {
                hdr.msg_control = controls[i].0.as_mut_ptr().cast();
                hdr.msg_controllen = CONTROL_SIZE;
            }
        }
        self.filled = 0;
        // SAFETY: msgs holds BATCH headers whose iovecs point at BATCH live buffers of
        // BUF_SIZE bytes, whose names point at BATCH sockaddr_storage and whose controls (if
        // any) at BATCH buffers of CONTROL_SIZE bytes; all are owned by `self`, which outlives
        // the call.
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
        if let Some(controls) = &mut self.controls {
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_controllen = reply_control(&mut controls[i], hdr.msg_controllen, hdr.msg_flags);
        }
        if out != i {
            self.msgs[out] = self.msgs[i];
        }
    }

    /// Sends the first `count` queued responses, retrying after partial sends.
    fn send(&mut self, fd: i32, count: usize) {
        let mut sent = 0;
        while sent < count {
            // SAFETY: msgs[sent..count] were queued by `keep`: each iovec points at a live
            // buffer holding a response of its length, each name at a received address, each
            // control (if any) at a live buffer holding `reply_control`'s message.
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

/// Runs a worker until the server stops, keeping up to `answer_cache` answers for reuse (see
/// [`crate::answer::AnswerCache`]; 0 for none).
pub fn run(
    socket: UdpSocket,
    shared: Arc<Shared>,
    query_log: bool,
    answer_cache: usize,
    rrl: Option<Arc<RateLimiter>>,
) {
    let fd = socket.as_raw_fd();
    if let Err(e) = socket.set_read_timeout(Some(IDLE_REFRESH)) {
        tracing::warn!(error = %e, "cannot set a receive timeout; an idle worker keeps a replaced view");
    }
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let mut batch = Batch::new(wildcard);
    let mut responder = Responder::new();
    responder.set_cache(answer_cache);
    let mut view_cache = shared.reader().cache();
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
                // Idle: let go of a view that was replaced meanwhile.
                view_cache.load();
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let view = view_cache.load();
        // One clock read per batch, and only when rate limiting is on.
        let second = if rrl.is_some() { shared.started.elapsed().as_secs() as u32 } else { 0 };
        // Signed queries are checked against the wall clock, and compact denial counts its
        // signatures per second: read once per batch, and only when one of them is on.
        if view.catalog().needs_time() {
            responder.set_time(super::unix_seconds());
        }
        let mut out = 0;
        for i in 0..received {
            let msg = &batch.msgs[i];
            let oversized = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let len = msg.msg_len as usize;
            let namelen = msg.msg_hdr.msg_namelen;
            let Batch { bufs, query, addrs, .. } = &mut *batch;
            if query_log {
                // An answer from the cache is written over the query: keep it for the log.
                query[..len].copy_from_slice(&bufs[i][..len]);
            }
            #[cfg(feature = "answer-timing")]
            let started = std::time::Instant::now();
            let outcome = if oversized {
                reject_oversized(&mut bufs[i])
            } else {
                responder.respond_in_place(view, &mut bufs[i], len, &mut query[..])
            };
            #[cfg(feature = "answer-timing")]
            timing.record(i, started.elapsed());
            stats.record(Transport::Udp, &outcome);
            if query_log {
                if let Some(client) = socket_addr(&addrs[i], namelen) {
                    super::log_query(client, Transport::Udp, &query[..len], &outcome, &bufs[i]);
                }
            }
            if outcome.len == 0 {
                continue;
            }
            let mut send_len = outcome.len;
            if let Some(rrl) = &rrl {
                if let Some(client) = socket_addr(&addrs[i], namelen) {
                    match rrl.decide(client.ip(), &bufs[i], &outcome, second) {
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
        stats.set_cache_hits(responder.cache_hits());
        #[cfg(feature = "answer-timing")]
        if let Some(report) = timing.report_due(std::time::Instant::now()) {
            tracing::info!("{report}");
        }
    }
}

/// The reply to a datagram longer than [`BUF_SIZE`], whose first `BUF_SIZE` bytes are in
/// `buf`: no query is that long, so FORMERR with the ID echoed, written over it, as for any
/// query that cannot be read; nothing for a response (QR set), as for any packet that is not
/// a query.
fn reject_oversized(buf: &mut [u8]) -> Outcome {
    let header: [u8; HEADER_LEN] = buf[..HEADER_LEN].try_into().expect("BUF_SIZE holds a header");
    if header[2] & 0x80 != 0 {
        return Outcome::DROPPED;
    }
    let len = wire::write_rejection(&header, rcode::FORMERR, None, None, buf);
    Outcome::new(len, rcode::FORMERR.into(), 0, false)
}

/// Rewrites the control messages received with a query (`len` bytes, receive `flags`) into
/// the one that sends its reply from the address the query came to, and returns its length;
/// 0 (the kernel picks the source) when the kernel gave no usable packet info.
///
/// IPv4 keeps `ipi_spec_dst`, the local address the kernel computed for replies (the
/// destination itself for unicast), and clears the interface so the routing table picks the
/// way out, as Knot and Unbound do. IPv6 keeps address and interface as received: a
/// link-local destination needs its interface.
fn reply_control(control: &mut Control, len: usize, flags: libc::c_int) -> usize {
    if flags & libc::MSG_CTRUNC != 0 || len > CONTROL_SIZE {
        return 0;
    }
    // SAFETY: a msghdr of zeros with only its control fields set is what the CMSG_* helpers
    // read; they stay inside `control`'s first `len` bytes, which the kernel filled with
    // well-formed headers. Data is read and written unaligned.
    unsafe {
        let mut hdr: libc::msghdr = mem::zeroed();
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = len;
        let mut cmsg = libc::CMSG_FIRSTHDR(&hdr);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>();
                let mut info = data.read_unaligned();
                info.ipi_ifindex = 0;
                return write_control(control, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
            }
            if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info = libc::CMSG_DATA(cmsg).cast::<libc::in6_pktinfo>().read_unaligned();
                return write_control(control, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
            }
            cmsg = libc::CMSG_NXTHDR(&hdr, cmsg);
        }
    }
    0
}

/// Writes one control message holding `data` at the start of `control`; returns its length.
fn write_control<T: Copy>(control: &mut Control, level: libc::c_int, kind: libc::c_int, data: T) -> usize {
    let size = mem::size_of::<T>() as u32;
    // SAFETY: CMSG_SPACE(size) of either pktinfo fits CONTROL_SIZE (checked by the
    // assertion), the buffer is aligned for cmsghdr, and the data is written unaligned.
    unsafe {
        let space = libc::CMSG_SPACE(size) as usize;
        assert!(space <= CONTROL_SIZE);
        control.0[..space].fill(0);
        let mut hdr: libc::msghdr = mem::zeroed();
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size) as usize;
        libc::CMSG_DATA(cmsg).cast::<T>().write_unaligned(data);
        space
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::health::HealthSnapshot;
    use crate::view::{self, View};
    use crate::zone::Catalog;

    fn view() -> View {
        let text = "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 host 1 2 3 4 5\"\nns = [\"ns1\"]\n";
        let config =
            Config::parse(text, std::path::Path::new("t.toml"), &|_| Err(io::ErrorKind::NotFound.into())).unwrap();
        View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        )
    }

    /// A worker that receives nothing still lets go of a replaced view within about
    /// `IDLE_REFRESH`, so a reloaded catalog's memory is not kept by idle workers.
    #[test]
    fn an_idle_worker_lets_go_of_a_replaced_view() {
        let (mut publisher, reader) = view::channel(view());
        let shared = Shared::new(reader);
        let old = shared.view();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let wake = socket.try_clone().unwrap();
        let worker = {
            let shared = shared.clone();
            std::thread::spawn(move || run(socket, shared, false, 0, None))
        };
        // The worker took the view when it started; then a reload replaces it.
        let until = std::time::Instant::now() + IDLE_REFRESH * 5;
        while Arc::strong_count(&old) < 3 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(Arc::strong_count(&old), 3, "held by the swap, the worker and this test");
        publisher.publish(view());
        while Arc::strong_count(&old) > 1 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(Arc::strong_count(&old), 1, "the idle worker still holds the replaced view");
        shared.stop();
        // SAFETY: shutdown on a socket descriptor this test owns; no memory is involved.
        unsafe { libc::shutdown(wake.as_raw_fd(), libc::SHUT_RD) };
        worker.join().unwrap();
    }

    /// The packet info inside a control buffer that `reply_control` wrote.
    fn read_back<T: Copy>(control: &Control, len: usize, level: libc::c_int, kind: libc::c_int) -> T {
        // SAFETY: as in `reply_control`; the test wrote one well-formed message.
        unsafe {
            let mut hdr: libc::msghdr = mem::zeroed();
            hdr.msg_control = control.0.as_ptr() as *mut libc::c_void;
            hdr.msg_controllen = len;
            let cmsg = libc::CMSG_FIRSTHDR(&hdr);
            assert!(!cmsg.is_null());
            assert_eq!(((*cmsg).cmsg_level, (*cmsg).cmsg_type), (level, kind));
            assert_eq!((*cmsg).cmsg_len, libc::CMSG_LEN(mem::size_of::<T>() as u32) as usize);
            assert!(libc::CMSG_NXTHDR(&hdr, cmsg).is_null());
            libc::CMSG_DATA(cmsg).cast::<T>().read_unaligned()
        }
    }

    fn in_addr(octets: [u8; 4]) -> libc::in_addr {
        libc::in_addr { s_addr: u32::from_ne_bytes(octets) }
    }

    #[test]
    fn ipv4_reply_leaves_from_the_reply_address_by_any_interface() {
        let mut control = Control([0xAA; CONTROL_SIZE]);
        let received = libc::in_pktinfo {
            ipi_ifindex: 7,
            ipi_spec_dst: in_addr([192, 0, 2, 1]),
            ipi_addr: in_addr([192, 0, 2, 255]),
        };
        let len = write_control(&mut control, libc::IPPROTO_IP, libc::IP_PKTINFO, received);
        let sent = reply_control(&mut control, len, 0);
        assert_eq!(sent, len);
        let info: libc::in_pktinfo = read_back(&control, sent, libc::IPPROTO_IP, libc::IP_PKTINFO);
        assert_eq!(info.ipi_ifindex, 0);
        assert_eq!(info.ipi_spec_dst.s_addr, received.ipi_spec_dst.s_addr);
    }

    #[test]
    fn ipv6_reply_keeps_address_and_interface() {
        let mut control = Control([0; CONTROL_SIZE]);
        let mut addr = [0u8; 16];
        addr[..2].copy_from_slice(&[0xfe, 0x80]);
        addr[15] = 9;
        let received = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: addr }, ipi6_ifindex: 3 };
        let len = write_control(&mut control, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, received);
        let sent = reply_control(&mut control, len, 0);
        assert_eq!(sent, len);
        let info: libc::in6_pktinfo = read_back(&control, sent, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO);
        assert_eq!((info.ipi6_addr.s6_addr, info.ipi6_ifindex), (addr, 3));
    }

    #[test]
    fn no_usable_packet_info_lets_the_kernel_choose() {
        let mut control = Control([0; CONTROL_SIZE]);
        assert_eq!(reply_control(&mut control, 0, 0), 0);
        let info = libc::in_pktinfo {
            ipi_ifindex: 1,
            ipi_spec_dst: in_addr([127, 0, 0, 2]),
            ipi_addr: in_addr([127, 0, 0, 2]),
        };
        let len = write_control(&mut control, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
        assert_eq!(reply_control(&mut control, len, libc::MSG_CTRUNC), 0);
        assert_eq!(reply_control(&mut control, CONTROL_SIZE + 1, 0), 0);
        // Another kind of message only.
        let len = write_control(&mut control, libc::IPPROTO_IP, libc::IP_TOS, 0u8);
        assert_eq!(reply_control(&mut control, len, 0), 0);
    }
}
