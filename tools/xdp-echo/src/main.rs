//! The AF_XDP floor for a DNS server: the BPF program in tools/xdp steers UDP datagrams for
//! PORT on INTERFACE into one AF_XDP socket per receive queue; a thread per queue takes each
//! frame off the RX ring, turns it around in place (addresses and ports swapped, the DNS
//! header's QR bit set, checksums kept right) and puts the same frame on the TX ring. No DNS
//! work, no copy in user space. Everything else reaches the kernel's stack as before.
//!
//! Usage: xdp-echo INTERFACE PORT [--generic]
//! (prints "listening on INTERFACE port PORT: MODE XDP, N queue(s)"; runs until killed, and the
//! kernel detaches the program when the process ends, since it is attached through a BPF link)

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use aya::maps::XskMap;
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::sys::SyscallError;
use aya::EbpfLoader;
use eightfold::server::xdp::FillStock;
use eightfold::wire::frame;
use xdp::nic::NicIndex;
use xdp::slab::{HeapSlab, Slab};
use xdp::socket::{PollTimeout, XdpSocket, XdpSocketBuilder};
use xdp::umem::{FrameSize, UmemCfgBuilder};
use xdp::{RingConfigBuilder, Umem, WakableRings};

/// The BPF object, built from tools/xdp/udp-redirect.bpf.c by tools/xdp/build-bpf.sh.
const OBJECT: &[u8] = include_bytes!("../../xdp/udp-redirect.bpf.o");
/// Frames per queue's UMEM: up to half on the fill ring, the rest in flight on RX and TX.
const FRAMES: u32 = 4096;
/// Entries in each of the four rings (the server's): also the most frames on the fill ring.
const RING: u32 = eightfold::server::xdp::RING;
/// Frames put on the TX ring at a time; in copy mode one `sendto` sends at most 32.
const BATCH: usize = 32;

fn main() {
    let usage = "usage: xdp-echo INTERFACE PORT [--generic]";
    let mut args = std::env::args().skip(1);
    let interface = args.next().expect(usage);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let generic = match args.next().as_deref() {
        None => false,
        Some("--generic") => true,
        Some(_) => panic!("{usage}"),
    };
    let name = CString::new(interface.clone()).expect("an interface name");
    let nic = NicIndex::lookup_by_name(&name).expect("look up the interface").expect("no such interface");
    let queues = nic.queue_counts().expect("count the interface's queues").rx_count().max(1);

    let mut ebpf = EbpfLoader::new()
        .override_global("port", &port.to_be(), true)
        // Every address on the interface: the echo serves the port wherever it is sent.
        .override_global("any_ipv4", &1u8, true)
        .override_global("any_ipv6", &1u8, true)
        .map_max_entries("xsks", queues)
        .load(OBJECT)
        .expect("load the BPF object (needs CAP_BPF or root)");
    let program: &mut Xdp = ebpf.program_mut("udp_redirect").expect("the program").try_into().expect("an XDP program");
    program.load().expect("load the XDP program");
    let mode = attach(program, &interface, generic);

    let mut xsks = XskMap::try_from(ebpf.map_mut("xsks").expect("the XSKMAP")).expect("an XSKMAP");
    let mut workers = Vec::new();
    for queue in 0..queues {
        let (socket, umem, rings) = open_socket(nic, queue);
        xsks.set(queue, socket.as_raw_fd(), 0).expect("put the socket in the XSKMAP");
        workers.push(std::thread::spawn(move || serve(socket, umem, rings, port)));
    }
    println!("listening on {interface} port {port}: {mode} XDP, {queues} queue(s)");
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
}

/// Attaches in native (driver) mode, falling back to generic mode with a warning when the
/// driver has no native XDP (EOPNOTSUPP); `generic` asks for generic mode from the start. Any
/// other failure ends the program: EEXIST or EBUSY mean another program is attached already.
fn attach(program: &mut Xdp, interface: &str, generic: bool) -> &'static str {
    if !generic {
        match program.attach(interface, XdpMode::Driver) {
            Ok(_) => return "native",
            Err(ProgramError::SyscallError(SyscallError { io_error, .. }))
                if io_error.raw_os_error() == Some(libc::EOPNOTSUPP) =>
            {
                eprintln!("warning: {interface} has no native XDP, attaching in generic mode")
            }
            Err(e) => panic!("attach the XDP program in native mode: {e:?}"),
        }
    }
    program.attach(interface, XdpMode::Skb).expect("attach the XDP program in generic mode");
    "generic"
}

/// An AF_XDP socket bound to `queue` in copy mode, with a UMEM of its own and its four rings.
fn open_socket(nic: NicIndex, queue: u32) -> (XdpSocket, Umem, WakableRings) {
    let umem_config = UmemCfgBuilder { frame_size: FrameSize::TwoK, frame_count: FRAMES, ..Default::default() };
    let umem = Umem::map(umem_config.build().expect("a UMEM configuration")).expect("map the UMEM");
    let ring_config =
        RingConfigBuilder { rx_count: RING, tx_count: RING, fill_count: RING, completion_count: RING }.build();
    let mut builder = XdpSocketBuilder::new().expect("an AF_XDP socket (needs CAP_NET_RAW)");
    let (rings, mut flags) =
        builder.build_wakable_rings(&umem, ring_config.expect("a ring configuration")).expect("the rings");
    // veth has no zero-copy; copy mode also works on any driver.
    flags.force_copy();
    let socket = builder.bind(nic, queue, flags).expect("bind the AF_XDP socket");
    (socket, umem, rings)
}

/// The worker loop, the server's (src/server/xdp/ring.rs) without the DNS work: refill the
/// fill ring to the server's own [`FillStock`] target, take what waits on RX, turn each frame
/// around, put the frames on TX a batch at a time and kick the kernel to send them, take sent
/// frames back from the completion ring.
fn serve(socket: XdpSocket, mut umem: Umem, rings: WakableRings, port: u16) {
    let WakableRings { mut fill_ring, rx_ring, mut completion_ring, tx_ring } = rings;
    let mut rx_ring = rx_ring.expect("an RX ring");
    let mut tx_ring = tx_ring.expect("a TX ring");
    let mut received = HeapSlab::with_capacity(RING as usize);
    let mut answers = HeapSlab::with_capacity(BATCH);
    // Frames handed to the kernel on the fill ring.
    let mut filling = 0usize;
    let mut stock = FillStock::new(RING as usize, Instant::now());
    loop {
        // Sent frames, whenever the kernel has freed its copies: never waited for.
        completion_ring.dequeue(&mut umem, RING as usize);
        let room = stock.target().saturating_sub(filling).min(umem.allocatable());
        if room > 0 {
            // SAFETY: the frames come from `umem`, which outlives every packet of this loop.
            filling += unsafe { fill_ring.enqueue(&mut umem, room, false) }.unwrap_or(0);
        }
        // SAFETY: as above; the packets are given back to `umem` or the TX ring in this loop.
        let n = unsafe { rx_ring.recv(&umem, &mut received) };
        filling = filling.saturating_sub(n);
        if n > 0 {
            stock.took(n);
        } else if socket.poll_read(PollTimeout::new(Some(Duration::from_secs(1)))).unwrap_or(false) {
            // Idle: slept until a frame arrived (the timeout only bounds the wait).
            continue;
        }
        while !received.is_empty() {
            while answers.available() > 0 {
                let Some(mut packet) = received.pop_back() else { break };
                if echo(&mut packet, port) {
                    let _ = answers.push_front(packet);
                } else {
                    umem.free_packet(packet);
                }
            }
            if answers.is_empty() {
                continue;
            }
            completion_ring.dequeue(&mut umem, RING as usize);
            // SAFETY: the packets were received into `umem` and are handed to the kernel to send.
            if unsafe { tx_ring.send(&mut answers, false) }.unwrap_or(0) == 0 {
                // TX ring full: drop the batch rather than wait.
                while let Some(packet) = answers.pop_back() {
                    umem.free_packet(packet);
                }
            }
            // The server's own kick, so the floor sends as the server does.
            eightfold::server::xdp::kick(&socket);
        }
        let now = Instant::now();
        if stock.due(now) {
            stock.review(now, eightfold::server::xdp::fill_starved(&socket));
        }
    }
}

/// The echo's whole answer, with the server's own frame code (`eightfold::wire::frame`), so
/// that the floor does what the server does around the DNS work: the datagram read, the DNS
/// header's QR bit set (as tools/udp-echo does), the frame turned around with its lengths and
/// checksums. False for a frame that is not a well-formed UDP datagram to `port`, which the
/// caller gives back.
fn echo(frame: &mut [u8], port: u16) -> bool {
    let Some(datagram) = frame::parse(frame, port) else {
        return false;
    };
    let payload = datagram.payload();
    if datagram.len > 2 {
        frame[payload.start + 2] |= 0x80;
    }
    // The query's own identification: the echo keeps no state.
    let id = u16::from_be_bytes([frame[18], frame[19]]);
    frame::turn_around(frame, &datagram, datagram.len, id);
    true
}
