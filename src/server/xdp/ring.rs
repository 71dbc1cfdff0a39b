//! One AF_XDP socket's loop: refill the fill ring (to the [`FillStock`]'s target), take what
//! waits on RX, answer each frame in place (the DNS response over the query, then the frame
//! turned around), put the answers on TX a batch at a time and kick the kernel to send them,
//! take sent frames back from the completion ring. Every frame goes back to the UMEM or to the
//! kernel; nothing is allocated per packet. An answer
//! leaves in one frame, so it is kept within the interface's MTU, and over IPv6 within the
//! 1,280 bytes every IPv6 path carries: a longer one is truncated (TC) for the client to ask
//! again over TCP, where the sockets would send IP fragments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xdp::nic::NicIndex;
use xdp::slab::{HeapSlab, Slab};
use xdp::socket::{PollTimeout, XdpSocket};
use xdp::{Packet, Umem, WakableRings};

use super::{QueueCounters, RING};
use crate::answer::{Responder, Transport};
use crate::server::rrl::{self, Decision, RateLimiter};
use crate::server::Shared;
use crate::wire::frame;

/// Answers put on the TX ring at a time; in copy mode one `sendto` sends at most 32.
const BATCH: usize = 32;
/// How long an idle worker waits for a frame before it looks at the view and the stop flag
/// again.
const IDLE: Duration = Duration::from_secs(1);

/// The MTU every IPv6 path carries (RFC 8200 section 5): the most an IPv6 reply takes, as
/// the UDP sockets fragment theirs at it.
const IPV6_MIN_MTU: usize = 1280;

/// How many frames a queue's worker keeps on the fill ring for the kernel to receive into.
///
/// The kernel takes them in the order they were given, so a frame is written again only after
/// every other frame on the ring has been: a short stock keeps the frames in use few enough to
/// stay in the caches (512 frames of 2 KiB, 1 MiB), where 2,048 frames (4 MiB) miss them on
/// every datagram and cost the machine about a tenth more per answer at a fixed rate
/// (docs/performance-log.md); a long stock rides out a burst that comes while the worker
/// sleeps, where a datagram that finds no frame is dropped. So the stock follows the load: it
/// starts at the most (the ring's size), grows at once to four times any backlog the worker
/// finds waiting on its RX ring (rounded up to a power of two), goes back to the most when the
/// kernel reports a datagram dropped for want of a frame, and otherwise halves once a second,
/// down to [`Self::FLOOR`] or four times the largest backlog of that second. A stock that
/// shrinks takes no frame back: the ring drains to it as the kernel uses frames.
pub struct FillStock {
    /// The most frames kept (the fill ring's size).
    most: usize,
    /// Frames to keep now.
    target: usize,
    /// The largest backlog taken off the RX ring at once since `since`.
    peak: usize,
    /// When the current period began.
    since: Instant,
    /// The kernel's count of datagrams dropped for want of a fill frame, when last read.
    starved: u64,
}

impl FillStock {
    /// The fewest frames kept.
    pub const FLOOR: usize = 512;
    /// How often the stock is looked over.
    pub const PERIOD: Duration = Duration::from_secs(1);
    /// Frames kept per frame of the largest backlog seen.
    const SPARE: usize = 4;

    /// A stock of at most `most` frames (the fill ring's size), starting full.
    pub fn new(most: usize, now: Instant) -> FillStock {
        FillStock { most, target: most, peak: 0, since: now, starved: 0 }
    }

    /// Frames to keep on the fill ring now.
    #[inline]
    pub fn target(&self) -> usize {
        self.target
    }

    /// `backlog` frames were taken off the RX ring in one go: what the frames on the fill
    /// ring had to cover since the last refill. The stock grows at once if that came near it.
    #[inline]
    pub fn took(&mut self, backlog: usize) {
        self.peak = self.peak.max(backlog);
        self.target = self.target.max(self.wanted(backlog));
    }

    /// Whether a period has passed since the last [`Self::review`].
    #[inline]
    pub fn due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= Self::PERIOD
    }

    /// Looks back over the period that ends `now`. `starved` is the kernel's count so far of
    /// datagrams dropped for want of a fill frame ([`super::fill_starved`]; None when it
    /// cannot be read): any new drop brings the stock back to the most, else it halves,
    /// keeping four times the period's largest backlog and at least [`Self::FLOOR`].
    pub fn review(&mut self, now: Instant, starved: Option<u64>) {
        let dropped = starved.is_some_and(|count| count > self.starved);
        if let Some(count) = starved {
            self.starved = count;
        }
        self.target = if dropped { self.most } else { (self.target / 2).max(self.wanted(self.peak)) };
        self.peak = 0;
        self.since = now;
    }

    /// The stock a backlog of `backlog` frames asks for.
    fn wanted(&self, backlog: usize) -> usize {
        backlog.saturating_mul(Self::SPARE).next_power_of_two().clamp(Self::FLOOR.min(self.most), self.most)
    }
}

/// What every queue's worker is told.
#[derive(Clone)]
pub struct Settings {
    /// The UDP port queries come to.
    pub port: u16,
    /// Log every query.
    pub query_log: bool,
    /// Answers kept for reuse (0: none).
    pub answer_cache: usize,
    /// Response rate limiting, shared with the socket workers.
    pub rrl: Option<Arc<RateLimiter>>,
}

/// A bound socket with its UMEM and rings.
pub struct Socket {
    socket: XdpSocket,
    umem: Umem,
    rings: WakableRings,
    /// Frames already handed to the kernel on the fill ring.
    filled: usize,
    /// The interface's MTU: the most bytes of IP packet a frame may carry out.
    mtu: usize,
}

impl Socket {
    /// Wraps what `open_socket` made, and fills its fill ring. This is done before the
    /// socket goes into the XSKMAP: from then on the program redirects the queue's UDP to it,
    /// and a frame that finds no buffer on the fill ring is dropped, while the server may
    /// still be building its zones before [`run`] starts. With the ring filled, queries that
    /// come meanwhile wait on the RX ring, as they wait in a UDP socket's buffer.
    /// `nic` is the interface it is bound to, whose MTU is read here (answers are not capped
    /// when it cannot be read).
    pub fn new(socket: XdpSocket, mut umem: Umem, mut rings: WakableRings, nic: NicIndex) -> Socket {
        let room = (RING as usize).min(umem.allocatable());
        // SAFETY: the frames come from `umem`, which moves with the socket into `run` and
        // outlives every packet there.
        let filled = unsafe { rings.fill_ring.enqueue(&mut umem, room, false) }.unwrap_or(0);
        let mtu = mtu(nic).unwrap_or(usize::MAX);
        Socket { socket, umem, rings, filled, mtu }
    }

    /// The socket's descriptor, for the XSKMAP.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Serves `socket` until the server stops.
pub fn run(socket: Socket, shared: &Arc<Shared>, settings: &Settings, counters: &QueueCounters) {
    let Socket { socket, mut umem, rings, filled, mtu } = socket;
    let WakableRings { mut fill_ring, rx_ring, mut completion_ring, tx_ring } = rings;
    let (Some(mut rx_ring), Some(mut tx_ring)) = (rx_ring, tx_ring) else {
        tracing::error!("an AF_XDP socket came without its RX or TX ring");
        return;
    };
    let mut responder = Responder::new();
    responder.set_cache(settings.answer_cache);
    let mut view_cache = shared.reader().cache();
    let stats = shared.stats.register();
    let mut scratch = vec![0u8; 4096].into_boxed_slice();
    // IPv4 identification of the replies: a counter from a random start.
    let mut ip_id = fastrand::u16(..);
    let mut query = vec![0u8; 4096].into_boxed_slice();
    // Everything waiting on RX is taken at once, so its length is the backlog the fill ring
    // had to cover; it is answered and sent a batch at a time.
    let mut received = HeapSlab::with_capacity(RING as usize);
    let mut answers = HeapSlab::with_capacity(BATCH);
    // Frames handed to the kernel on the fill ring.
    let mut filling = filled;
    let mut stock = FillStock::new(RING as usize, Instant::now());
    while !shared.stopping() {
        // Sent frames come back here when the kernel frees their copies, which may be later
        // (after the receiver has read them): they are taken whenever the loop comes round,
        // never waited for.
        completion_ring.dequeue(&mut umem, RING as usize);
        let room = stock.target().saturating_sub(filling).min(umem.allocatable());
        if room > 0 {
            // SAFETY: the frames come from `umem`, which outlives every packet of this loop.
            filling += unsafe { fill_ring.enqueue(&mut umem, room, false) }.unwrap_or(0);
        }
        counters.fill_frames.store(filling as u64, Ordering::Relaxed);
        // SAFETY: as above; each packet is given back to `umem` or put on the TX ring below.
        let n = unsafe { rx_ring.recv(&umem, &mut received) };
        filling = filling.saturating_sub(n);
        if n == 0 {
            // Idle: let go of a replaced view, then sleep until a frame arrives.
            view_cache.load();
            if !socket.poll_read(PollTimeout::new(Some(IDLE))).unwrap_or(false) {
                review(&mut stock, &socket);
            }
            continue;
        }
        stock.took(n);
        QueueCounters::add(&counters.received, n as u64);
        let view = view_cache.load();
        let second = if settings.rrl.is_some() { shared.started.elapsed().as_secs() as u32 } else { 0 };
        if view.catalog().needs_time() {
            responder.set_time(crate::server::unix_seconds());
        }
        let mut dropped = 0u64;
        while !received.is_empty() {
            while answers.available() > 0 {
                let Some(mut packet) = received.pop_back() else { break };
                let answered = answer(
                    &mut packet,
                    settings,
                    &mut responder,
                    view,
                    &stats,
                    second,
                    mtu,
                    &mut ip_id,
                    &mut scratch,
                    &mut query,
                );
                if answered {
                    let _ = answers.push_front(packet);
                } else {
                    dropped += 1;
                    umem.free_packet(packet);
                }
            }
            let queued = answers.len();
            if queued > 0 {
                // A long backlog sends up to a ring's worth: frames already sent make room on
                // the completion ring first, which the kernel needs to send more.
                completion_ring.dequeue(&mut umem, RING as usize);
                // SAFETY: the packets were received into `umem` and are handed to the kernel to send.
                if unsafe { tx_ring.send(&mut answers, false) }.unwrap_or(0) == 0 {
                    // TX ring full: drop the batch rather than wait.
                    while let Some(packet) = answers.pop_back() {
                        umem.free_packet(packet);
                    }
                    QueueCounters::add(&counters.tx_full, queued as u64);
                    dropped += queued as u64;
                } else {
                    QueueCounters::add(&counters.answered, queued as u64);
                }
                super::kick(&socket);
            }
        }
        if dropped > 0 {
            QueueCounters::add(&counters.dropped, dropped);
        }
        stats.set_cache_hits(responder.cache_hits());
        review(&mut stock, &socket);
    }
}

/// Looks the fill stock over once a period, with the kernel's count of datagrams it dropped
/// for want of a fill frame.
#[inline]
fn review(stock: &mut FillStock, socket: &XdpSocket) {
    let now = Instant::now();
    if stock.due(now) {
        stock.review(now, super::fill_starved(socket));
    }
}

/// Answers the query in `packet`'s frame over it and turns the frame around, the reply's IP
/// packet within `mtu` bytes (and [`IPV6_MIN_MTU`] over IPv6); false when the frame is not a plain UDP datagram to the port, or
/// no answer goes back (dropped by the responder or rate limiting), and the frame is to be
/// given back to the UMEM.
#[allow(clippy::too_many_arguments)]
#[inline]
fn answer(
    packet: &mut Packet,
    settings: &Settings,
    responder: &mut Responder,
    view: &crate::view::View,
    stats: &crate::server::stats::WorkerStats,
    second: u32,
    mtu: usize,
    ip_id: &mut u16,
    scratch: &mut [u8],
    query: &mut [u8],
) -> bool {
    let len = packet.len();
    // Open the frame up to its end, so the answer may be longer than the query.
    let room = packet.capacity().saturating_sub(len);
    if packet.adjust_tail(i32::try_from(room).unwrap_or(0)).is_err() {
        return false;
    }
    let frame: &mut [u8] = packet;
    let Some(datagram) = frame::parse(&frame[..len.min(frame.len())], settings.port) else {
        return false;
    };
    let headers = datagram.headers();
    if datagram.len > scratch.len() || datagram.len < crate::wire::HEADER_LEN {
        return false;
    }
    let client = client(frame, &datagram);
    if settings.query_log {
        query[..datagram.len].copy_from_slice(&frame[datagram.payload()]);
    }
    // The answer is written under the room the MTU leaves after the IP and UDP headers (the
    // responder truncates what does not fit), never less than the query or the 512 bytes any
    // answer may take.
    let (packet_limit, ip_headers) = if datagram.ipv6 { (mtu.min(IPV6_MIN_MTU), 40 + 8) } else { (mtu, 20 + 8) };
    let room = packet_limit.saturating_sub(ip_headers).max(crate::wire::PLAIN_UDP_LIMIT).max(datagram.len);
    let end = frame.len().min(headers.saturating_add(room));
    let outcome = responder.respond_in_place(view, &mut frame[headers..end], datagram.len, scratch);
    stats.record(Transport::Udp, &outcome);
    if settings.query_log {
        crate::server::log_query(client, Transport::Udp, &query[..datagram.len], &outcome, &frame[headers..]);
    }
    if outcome.len == 0 {
        return false;
    }
    let mut answer_len = outcome.len;
    if let Some(rrl) = &settings.rrl {
        match rrl.decide(client.ip(), &frame[headers..], &outcome, second) {
            Decision::Send => {}
            Decision::Slip => {
                stats.record_rrl(true);
                answer_len = rrl::truncate_in_place(&mut frame[headers..], outcome.len);
            }
            Decision::Drop => {
                stats.record_rrl(false);
                return false;
            }
        }
    }
    *ip_id = ip_id.wrapping_add(1);
    let reply_len = frame::turn_around(frame, &datagram, answer_len, *ip_id);
    let shrink = frame.len() - reply_len;
    packet.adjust_tail(-i32::try_from(shrink).unwrap_or(0)).is_ok()
}

/// The MTU of interface `nic` (SIOCGIFMTU), when it can be read.
fn mtu(nic: NicIndex) -> Option<usize> {
    let name = nic.name().ok()?;
    let name = name.as_str()?.as_bytes();
    // SAFETY: ifreq is integers, a byte array and a union of such; all-zero is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= request.ifr_name.len() {
        return None;
    }
    for (to, from) in request.ifr_name.iter_mut().zip(name) {
        *to = *from as libc::c_char;
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).ok()?;
    // SAFETY: SIOCGIFMTU reads the NUL-terminated name in `request` and writes the MTU into
    // its union; the descriptor is an open socket and `request` lives across the call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut request) } != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so the kernel wrote the MTU member of the union.
    usize::try_from(unsafe { request.ifr_ifru.ifru_mtu }).ok()
}

/// The query's source address and port, read from a frame [`frame::parse`] accepted.
fn client(frame: &[u8], datagram: &frame::Datagram) -> SocketAddr {
    let udp = datagram.headers() - 8;
    let port = u16::from_be_bytes([frame[udp], frame[udp + 1]]);
    let ip = if datagram.ipv6 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&frame[14 + 8..14 + 24]);
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        IpAddr::V4(Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]))
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::health::HealthSnapshot;
    use crate::server::stats::Stats;
    use crate::view::View;
    use crate::zone::Catalog;

    fn view() -> View {
        let text = "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 host 1 2 3 4 5\"\nns = [\"ns1\"]\n";
        let config =
            Config::parse(text, std::path::Path::new("t.toml"), &|_| Err(std::io::ErrorKind::NotFound.into())).unwrap();
        view_of(config)
    }

    /// A zone whose `big.example.com. TXT` set answers in about 1,600 bytes, served with EDNS
    /// answers up to 4,096 bytes.
    fn big_view() -> View {
        let text = "[server]\nedns_udp_size = 4096\n[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n";
        let mut zone = "$ORIGIN example.com.\n@ 300 SOA ns1 host 1 2 3 4 5\n@ 300 NS ns1\n".to_string();
        for i in 0..20 {
            zone.push_str(&format!("big 300 TXT \"{i:02}{}\"\n", "x".repeat(60)));
        }
        let config = Config::parse(text, std::path::Path::new("t.toml"), &|_| Ok(zone.clone())).unwrap();
        view_of(config)
    }

    fn view_of(config: Config) -> View {
        View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        )
    }

    /// An IPv4 frame from 192.0.2.2 port 40000 to 192.0.2.1 port 53 carrying `payload`, with
    /// no UDP checksum (allowed over IPv4) and its header checksum right.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let udp_len = (8 + payload.len()) as u16;
        let total = (20 + udp_len).to_be_bytes();
        f.extend_from_slice(&[0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[192, 0, 2, 2, 192, 0, 2, 1]);
        let mut sum: u32 = f[14..34].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&53u16.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// An IPv6 frame from 2001:db8::2 port 40000 to 2001:db8::1 port 53 carrying `payload`,
    /// its UDP checksum right.
    fn frame6(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xDD, 0x60, 0, 0, 0];
        let udp_len = (8 + payload.len()) as u16;
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[17, 64]);
        for host in [2, 1] {
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host]);
        }
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&53u16.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        let words = |b: &[u8]| -> u32 {
            b.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum()
        };
        let mut sum = words(&f[22..54]) + 17 + u32::from(udp_len) + words(&f[54..]);
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        f[60..62].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f
    }

    /// A query for `example.com. SOA` with EDNS (4096 bytes offered).
    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        q
    }

    /// Runs `answer` on `bytes` in a frame-sized packet; the packet's bytes after, if answered.
    fn answer_frame(bytes: &[u8]) -> Option<Vec<u8>> {
        answer_frame_in(&view(), bytes, 1500)
    }

    /// Runs `answer` on `bytes` in a frame-sized packet, answered from `view` on an interface
    /// of `mtu` bytes; the packet's bytes after, if answered.
    fn answer_frame_in(view: &View, bytes: &[u8], mtu: usize) -> Option<Vec<u8>> {
        let mut buf = Box::new([0u8; 2048]);
        let mut packet = Packet::testing_new(&mut buf);
        packet.append(bytes).unwrap();
        let settings = Settings { port: 53, query_log: false, answer_cache: 0, rrl: None };
        let (mut responder, stats) = (Responder::new(), Stats::default());
        let stats = stats.register();
        let (mut scratch, mut query) = (vec![0u8; 4096], vec![0u8; 4096]);
        let answered =
            answer(&mut packet, &settings, &mut responder, view, &stats, 0, mtu, &mut 0, &mut scratch, &mut query);
        answered.then(|| packet.to_vec())
    }

    #[test]
    fn the_fill_stock_follows_the_backlog_and_the_kernels_drops() {
        let start = Instant::now();
        let second = |n: u32| start + FillStock::PERIOD * n;
        let mut stock = FillStock::new(2048, start);
        assert_eq!(stock.target(), 2048, "starts full");
        assert!(!stock.due(start + FillStock::PERIOD / 2) && stock.due(second(1)));
        // Quiet (backlogs of a few frames): halves once a period, down to the floor.
        stock.took(17);
        stock.review(second(1), Some(0));
        assert_eq!(stock.target(), 1024);
        stock.review(second(2), Some(0));
        assert_eq!(stock.target(), FillStock::FLOOR);
        stock.review(second(3), Some(0));
        assert_eq!(stock.target(), FillStock::FLOOR, "never below the floor");
        // A backlog near the stock: four times it, at once, and kept while such backlogs last.
        stock.took(300);
        assert_eq!(stock.target(), 2048, "300 frames waiting ask for 1,200, rounded up to a power of two");
        stock.review(second(4), Some(0));
        assert_eq!(stock.target(), 2048, "the period's backlog still asks for it");
        stock.took(200);
        stock.review(second(5), Some(0));
        assert_eq!(stock.target(), 1024, "200 frames ask for 800: halved to 1,024");
        stock.review(second(6), None);
        assert_eq!(stock.target(), FillStock::FLOOR, "an unreadable count is no drop");
        // The kernel dropped datagrams for want of a frame: back to the most at once.
        stock.review(second(7), Some(5));
        assert_eq!(stock.target(), 2048);
        stock.review(second(8), Some(5));
        assert_eq!(stock.target(), 1024, "the same count again is no new drop");
        // Never past the ring.
        stock.took(100_000);
        assert_eq!(stock.target(), 2048);
        // A ring smaller than the floor: the ring's size.
        let mut small = FillStock::new(256, start);
        small.review(second(1), Some(0));
        assert_eq!(small.target(), 256);
    }

    #[test]
    fn a_query_is_answered_in_its_frame_and_turned_around() {
        let reply = answer_frame(&frame(&query())).expect("an answer");
        // Back to the client's port, checksums right: the reply reads as a datagram to 40000.
        let datagram = frame::parse(&reply, 40000).expect("a well-formed reply frame");
        assert_eq!(reply.len(), datagram.headers() + datagram.len);
        assert_eq!(&reply[26..34], &[192, 0, 2, 1, 192, 0, 2, 2], "addresses swapped");
        let dns = &reply[datagram.payload()];
        assert_eq!(&dns[..2], &[0x12, 0x34]);
        assert!(dns[2] & 0x80 != 0, "QR set");
        assert_eq!(dns[3] & 0x0F, 0, "NOERROR");
        assert!(datagram.len > query().len(), "the answer grew past the query's end");
    }

    #[test]
    fn answers_stay_within_the_mtu_and_longer_ones_are_truncated() {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(b"\x03big\x07example\x03com\x00\x00\x10\x00\x01");
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let view = big_view();
        let reply_to = |frame: &[u8], mtu: usize| {
            let reply = answer_frame_in(&view, frame, mtu).expect("an answer");
            let datagram = frame::parse(&reply, 40000).expect("a well-formed reply frame");
            let dns = reply[datagram.payload()].to_vec();
            (reply.len() - 14, dns)
        };
        let reply = |mtu: usize| reply_to(&frame(&q), mtu);
        // A jumbo MTU carries the whole set in one frame.
        let (packet, dns) = reply(9000);
        assert!(packet > 1500, "{packet} bytes of IP packet");
        assert_eq!((dns[2] & 0x02, u16::from_be_bytes([dns[6], dns[7]])), (0, 20), "all 20 records, TC clear");
        // At 1,500 bytes that frame would be dropped on the wire: the answer is truncated to
        // fit, TC set, for the client to ask again over TCP.
        let (packet, dns) = reply(1500);
        assert!(packet <= 1500, "{packet} bytes of IP packet");
        assert_eq!(dns[2] & 0x02, 0x02, "TC set");
        // An MTU below what any answer may take leaves the 512 bytes a DNS answer always may.
        let (packet, dns) = reply(100);
        assert!(packet <= 20 + 8 + 512, "{packet} bytes of IP packet");
        assert_eq!(dns[2] & 0x02, 0x02, "TC set");
        // Over IPv6 within the 1,280 bytes every path carries, whatever the interface's MTU.
        let (packet, dns) = reply_to(&frame6(&q), 9000);
        assert!(packet <= 1280, "{packet} bytes of IPv6 packet");
        assert_eq!(dns[2] & 0x02, 0x02, "TC set");
        let mut small = q.clone();
        small[12..16].copy_from_slice(b"\x03www");
        let (_, dns) = reply_to(&frame6(&small), 1500);
        assert_eq!(dns[2] & 0x02, 0, "a short answer goes whole over IPv6");
    }

    #[test]
    fn malformed_frames_are_given_back_unanswered() {
        let good = frame(&query());
        let mut bad_length = good.clone();
        bad_length[38..40].copy_from_slice(&2000u16.to_be_bytes());
        let mut other_port = good.clone();
        other_port[36..38].copy_from_slice(&54u16.to_be_bytes());
        let mut bad_ip_sum = good.clone();
        bad_ip_sum[24] ^= 0xFF;
        let mut fragment = good.clone();
        fragment[20] = 0x20;
        for (name, bytes) in [
            ("empty", Vec::new()),
            ("short", good[..20].to_vec()),
            ("headers only", frame(&[])),
            ("shorter than a DNS header", frame(&[0x12, 0x34, 1, 0])),
            ("UDP length past the frame", bad_length),
            ("another port", other_port),
            ("bad IPv4 header checksum", bad_ip_sum),
            ("a fragment", fragment),
            ("a response", frame(&[0x12, 0x34, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
        ] {
            assert!(answer_frame(&bytes).is_none(), "{name}");
        }
    }
}
