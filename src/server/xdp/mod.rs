//! The AF_XDP data path: UDP queries to the listen port on the interfaces `[server] xdp`
//! names are answered below the socket layer, beside the socket workers.
//!
//! ```text
//!  NIC queue q --BPF program (tools/xdp/udp-redirect.bpf.c)--> XSKMAP[q] --> AF_XDP socket q
//!     | everything else: XDP_PASS to the kernel's stack      (UMEM frame, RX ring)
//!     v                                                           |
//!  socket workers, TCP                          thread xdp-<interface>-<q>: frame::parse,
//!                                               Responder::respond_in_place on the payload,
//!                                               frame::turn_around, TX ring
//! ```
//!
//! This module owns the BPF object, its attachment and the sockets ([`prepare`], before
//! privileges are dropped), and the per-queue counters; `ring` owns the loop over one
//! socket's rings. Workers read the same published view and count into the same
//! [`super::stats::Stats`] as the UDP workers. Setting an interface up can fail (no privileges,
//! no such interface, another program attached): that is logged, naming the interface, and
//! the socket workers serve on.

mod netlink;
mod ring;

use std::ffi::CString;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aya::maps::{HashMap, MapData, MapError, PerCpuArray, XskMap};
use aya::programs::{loaded_programs, ProgramError, Xdp, XdpMode};
use aya::sys::SyscallError;
use aya::{Ebpf, EbpfLoader};
use xdp::nic::NicIndex;
use xdp::socket::{OptName, SocketError, XdpSocketBuilder};
use xdp::umem::{FrameSize, UmemCfgBuilder};
use xdp::{RingConfigBuilder, Umem};

pub use ring::{FillStock, Settings};

/// The BPF object, built from tools/xdp/udp-redirect.bpf.c by tools/xdp/build-bpf.sh (whose
/// `--check` CI runs): UDP to the port in its `port` global, at an address in its `ipv4` and
/// `ipv6` maps (or any, when `any_ipv4` or `any_ipv6` is set), goes to `xsks[rx queue]`, the
/// rest to the stack.
const OBJECT: &[u8] = include_bytes!("../../../tools/xdp/udp-redirect.bpf.o");
/// The program's name in the object, and as the kernel reports it.
const PROGRAM: &str = "udp_redirect";
/// Frames in each queue's UMEM: up to half on the fill ring, the rest in flight on RX and TX.
const FRAMES: u32 = 4096;
/// Entries in each of a socket's four rings: also the most frames kept on the fill ring.
pub const RING: u32 = 2048;
/// Headroom the kernel keeps at the start of each frame (`XDP_PACKET_HEADROOM`).
const HEADROOM: usize = 256;
/// Bytes of Ethernet, IPv6 and UDP headers before the largest DNS payload.
const MOST_HEADERS: usize = 14 + 40 + 8;

/// One interface set up: the attached program (detached when this is dropped: it is attached
/// through a BPF link) and a socket per receive queue, not yet served.
pub struct Prepared {
    /// Keeps the program attached and the XSKMAP alive.
    ebpf: Ebpf,
    interface: String,
    mode: Mode,
    sockets: Vec<ring::Socket>,
}

/// How the program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// After the kernel built its socket buffer (`XDP_FLAGS_SKB_MODE`): a driver without XDP.
    Generic,
}

impl Mode {
    /// The word status and the log use.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Generic => "generic",
        }
    }
}

/// Why an interface could not be set up.
#[derive(Debug)]
pub struct SetupError {
    /// The interface.
    pub interface: String,
    /// What failed, in words, with the cause.
    pub reason: String,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot serve UDP over AF_XDP on {}: {}", self.interface, self.reason)
    }
}

impl std::error::Error for SetupError {}

/// One queue's counters, written only by its thread.
#[derive(Default)]
#[repr(align(128))]
pub struct QueueCounters {
    /// Frames taken off the RX ring.
    pub received: AtomicU64,
    /// Answers put on the TX ring.
    pub answered: AtomicU64,
    /// Frames given back without an answer: not a plain UDP datagram to the port, a query
    /// dropped by the responder or rate limiting, or the TX ring full.
    pub dropped: AtomicU64,
    /// Answers dropped because the TX ring had no room (also in `dropped`).
    pub tx_full: AtomicU64,
    /// Frames handed to the kernel to receive into and not yet taken back, after the
    /// worker's last refill: the fill ring's stock, and frames already written and waiting on
    /// RX (a gauge: the worker refills up to its [`FillStock`]'s target; a stock that shrank
    /// shows once traffic has used the frames above it).
    pub fill_frames: AtomicU64,
}

impl QueueCounters {
    /// Adds `n` to `counter`; only the owning thread writes, so a load and a store suffice.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// One interface's state, as metrics and status show it.
pub struct InterfaceCounters {
    /// The interface.
    pub interface: String,
    /// How the program is attached.
    pub mode: Mode,
    /// Per receive queue, by queue id.
    pub queues: Vec<QueueCounters>,
    /// The program's per-queue count of frames passed to the stack.
    passed: Option<PerCpuArray<MapData, u64>>,
    /// Each queue's socket (a duplicate descriptor), for the kernel's statistics.
    sockets: Vec<OwnedFd>,
}

/// What the kernel counted for one queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelCounts {
    /// Frames the program passed to the kernel's stack (not UDP to a listen address and port,
    /// or no socket on the queue).
    pub passed: u64,
    /// Frames for the socket dropped because its RX ring was full (the worker fell behind).
    pub rx_ring_full: u64,
    /// Frames for the socket dropped for other reasons (in copy mode, no frame on the fill
    /// ring to receive into; a frame too long, an invalid descriptor).
    pub rx_dropped: u64,
    /// Times the kernel wanted a frame from the fill ring and found none: in copy mode each
    /// is a datagram dropped (also in `rx_dropped`); with zero-copy, the driver could not fill
    /// its own ring.
    pub fill_empty: u64,
}

impl InterfaceCounters {
    /// The kernel's counts for `queue` now: the program's map summed over CPUs, and the
    /// socket's `XDP_STATISTICS`. A count that cannot be read is 0.
    pub fn kernel(&self, queue: usize) -> KernelCounts {
        let mut counts = KernelCounts::default();
        if let Some(Ok(values)) = self.passed.as_ref().map(|map| map.get(&(queue as u32), 0)) {
            counts.passed = values.iter().sum();
        }
        if let Some(stats) = self.sockets.get(queue).and_then(statistics) {
            counts.rx_ring_full = stats.rx_ring_full;
            // A copy-mode datagram that found no fill frame is in both `rx_dropped` and
            // `rx_fill_ring_empty_descs`: counted once here.
            counts.rx_dropped = stats.rx_dropped + stats.rx_invalid_descs;
            counts.fill_empty = stats.rx_fill_ring_empty_descs;
        }
        counts
    }
}

/// The kernel's `XDP_STATISTICS` for an AF_XDP socket, when they can be read.
fn statistics(socket: &impl AsRawFd) -> Option<libc::xdp_statistics> {
    // SAFETY: xdp_statistics is integers only; all-zero is valid.
    let mut stats: libc::xdp_statistics = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
    // SAFETY: the descriptor is open (the caller holds it) and the buffer is valid for `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
            (&mut stats as *mut libc::xdp_statistics).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(stats)
}

/// How often so far the kernel wanted a frame from an AF_XDP socket's fill ring and found
/// none (`rx_fill_ring_empty_descs`: in copy mode, a datagram dropped each time), when the
/// count can be read: what [`FillStock::review`] is given.
pub fn fill_starved(socket: &impl AsRawFd) -> Option<u64> {
    statistics(socket).map(|s| s.rx_fill_ring_empty_descs)
}

/// Every interface served over AF_XDP.
#[derive(Default)]
pub struct Registry {
    interfaces: Mutex<Vec<Arc<InterfaceCounters>>>,
}

impl Registry {
    /// Every interface's counters.
    pub fn interfaces(&self) -> Vec<Arc<InterfaceCounters>> {
        self.interfaces.lock().map(|i| i.clone()).unwrap_or_default()
    }

    fn add(&self, counters: Arc<InterfaceCounters>) {
        if let Ok(mut interfaces) = self.interfaces.lock() {
            interfaces.push(counters);
        }
    }
}

/// Sets up every interface in `interfaces` for UDP to `port` at `addresses` (the listen
/// addresses with that port; `0.0.0.0` and `::` stand for every address of their family),
/// with frames big enough for answers of `edns_udp_size` bytes; an interface that fails is
/// logged and left out.
pub fn prepare(interfaces: &[String], port: u16, addresses: &[IpAddr], edns_udp_size: u16) -> Vec<Prepared> {
    let mut prepared = Vec::new();
    for interface in interfaces {
        match prepare_one(interface, port, addresses, edns_udp_size) {
            Ok(p) => {
                tracing::info!(
                    interface = %p.interface,
                    port,
                    mode = p.mode.as_str(),
                    queues = p.sockets.len(),
                    "serving UDP over AF_XDP"
                );
                prepared.push(p);
            }
            Err(e) => tracing::error!("{e}; UDP on it is served by the sockets"),
        }
    }
    prepared
}

/// The threads serving one prepared interface, and what keeps its program attached.
pub struct Running {
    /// Dropped after the threads have ended: detaches the program.
    _ebpf: Ebpf,
}

/// Starts one thread per queue of `prepared`, named `xdp-<interface>-<queue>`, each pinned to
/// the next of `cores` (none when empty); their counters go into `shared`'s registry.
pub fn start(
    prepared: Prepared,
    settings: &Settings,
    shared: &Arc<super::Shared>,
    cores: &[core_affinity::CoreId],
    threads: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<Running, std::io::Error> {
    let Prepared { mut ebpf, interface, mode, sockets } = prepared;
    let passed = ebpf.take_map("passed").and_then(|map| PerCpuArray::try_from(map).ok());
    let mut duplicates = Vec::new();
    for socket in &sockets {
        // SAFETY: the socket's descriptor is open for as long as `socket` is, and is only
        // borrowed here to be duplicated.
        duplicates.push(unsafe { BorrowedFd::borrow_raw(socket.fd()) }.try_clone_to_owned()?);
    }
    let counters = Arc::new(InterfaceCounters {
        interface: interface.clone(),
        mode,
        queues: sockets.iter().map(|_| QueueCounters::default()).collect(),
        passed,
        sockets: duplicates,
    });
    shared.xdp.add(counters.clone());
    for (queue, socket) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let settings = settings.clone();
        let counters = counters.clone();
        let core = cores.get(queue % cores.len().max(1)).copied();
        let handle = std::thread::Builder::new().name(format!("xdp-{interface}-{queue}")).spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            ring::run(socket, &shared, &settings, &counters.queues[queue]);
        })?;
        threads.push(handle);
    }
    Ok(Running { _ebpf: ebpf })
}

/// Loads the program with `port` and `addresses` set, attaches it to `interface` and binds a
/// socket per receive queue into its XSKMAP.
fn prepare_one(interface: &str, port: u16, addresses: &[IpAddr], edns_udp_size: u16) -> Result<Prepared, SetupError> {
    let fail = |reason: String| SetupError { interface: interface.to_string(), reason };
    let name = CString::new(interface).map_err(|_| fail("the name holds a zero byte".into()))?;
    let nic = NicIndex::lookup_by_name(&name)
        .map_err(|e| fail(format!("cannot look the interface up: {e}")))?
        .ok_or_else(|| fail("no such interface".into()))?;
    let queues = nic.queue_counts().map_or(1, |q| q.rx_count()).max(1);
    let filter = Filter::new(addresses);
    let mut ebpf = EbpfLoader::new()
        .override_global("port", &port.to_be(), true)
        .override_global("any_ipv4", &u8::from(filter.any_ipv4), true)
        .override_global("any_ipv6", &u8::from(filter.any_ipv6), true)
        .map_max_entries("xsks", queues)
        .map_max_entries("passed", queues)
        .map_max_entries("ipv4", filter.ipv4.len().max(1) as u32)
        .map_max_entries("ipv6", filter.ipv6.len().max(1) as u32)
        .load(OBJECT)
        .map_err(|e| fail(format!("cannot load the BPF object ({}): {}", chain(&e), privilege_hint(&e))))?;
    filter.fill(&mut ebpf).map_err(|e| fail(format!("cannot fill the address maps: {e}")))?;
    let program: &mut Xdp = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| fail(format!("the BPF object has no {PROGRAM} program")))?
        .try_into()
        .map_err(|e: ProgramError| fail(format!("{PROGRAM} is not an XDP program: {e}")))?;
    program.load().map_err(|e| fail(format!("the kernel refused the XDP program: {}", chain(&e))))?;
    remove_stale(interface, nic.0).map_err(fail)?;
    let mode = attach(program, interface).map_err(fail)?;
    let frame_size = frame_size(edns_udp_size);
    let mut sockets = Vec::new();
    {
        let map = ebpf.map_mut("xsks").ok_or_else(|| fail("the BPF object has no xsks map".into()))?;
        let mut xsks = XskMap::try_from(map).map_err(|e| fail(format!("xsks is not an XSKMAP: {e}")))?;
        for queue in 0..queues {
            let socket = open_socket(nic, queue, frame_size).map_err(|e| fail(format!("queue {queue}: {e}")))?;
            xsks.set(queue, socket.fd(), 0)
                .map_err(|e| fail(format!("queue {queue}: cannot put the socket in the XSKMAP: {e}")))?;
            sockets.push(socket);
        }
    }
    Ok(Prepared { ebpf, interface: interface.to_string(), mode, sockets })
}

/// The listen addresses the program serves, as its globals and maps hold them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    any_ipv4: bool,
    any_ipv6: bool,
    /// IPv4 addresses as the packet holds them (network byte order read as a native `u32`).
    ipv4: Vec<u32>,
    ipv6: Vec<[u8; 16]>,
}

impl Filter {
    fn new(addresses: &[IpAddr]) -> Filter {
        let mut filter = Filter::default();
        for address in addresses {
            match address {
                IpAddr::V4(a) if a.is_unspecified() => filter.any_ipv4 = true,
                IpAddr::V6(a) if a.is_unspecified() => filter.any_ipv6 = true,
                IpAddr::V4(a) => filter.ipv4.push(u32::from_ne_bytes(a.octets())),
                IpAddr::V6(a) => filter.ipv6.push(a.octets()),
            }
        }
        filter
    }

    /// Writes the addresses into the loaded object's `ipv4` and `ipv6` maps.
    fn fill(&self, ebpf: &mut Ebpf) -> Result<(), MapError> {
        let mut ipv4: HashMap<_, u32, u8> =
            HashMap::try_from(ebpf.map_mut("ipv4").ok_or(MapError::InvalidName { name: "ipv4".into() })?)?;
        for address in &self.ipv4 {
            ipv4.insert(address, 1, 0)?;
        }
        let mut ipv6: HashMap<_, [u8; 16], u8> =
            HashMap::try_from(ebpf.map_mut("ipv6").ok_or(MapError::InvalidName { name: "ipv6".into() })?)?;
        for address in &self.ipv6 {
            ipv6.insert(address, 1, 0)?;
        }
        Ok(())
    }
}

/// Clears the way for the program on interface `index`: a program of ours that an earlier run
/// left attached by netlink (a crashed run of a loader without BPF links, or `ip link set dev
/// X xdp obj udp-redirect.bpf.o`) is detached, with a warning; any other program, or ours
/// held by a running process through a BPF link, is an error that says what to do.
fn remove_stale(interface: &str, index: u32) -> Result<(), String> {
    let attached = match netlink::attached(index) {
        Ok(Some(attached)) => attached,
        Ok(None) => return Ok(()),
        Err(e) => {
            // Attaching will say what is wrong, if anything is.
            tracing::debug!(interface, "cannot read which XDP program is attached: {e}");
            return Ok(());
        }
    };
    let id = attached.id;
    let name = loaded_programs()
        .filter_map(Result::ok)
        .find(|info| info.id() == id)
        .and_then(|info| info.name_as_str().map(str::to_string));
    if name.as_deref() != Some(PROGRAM) {
        // Reading a program's name by id needs CAP_SYS_ADMIN; without it, ours cannot be told
        // from another's, and it is left alone.
        let name =
            name.map_or_else(|| "whose name cannot be read without CAP_SYS_ADMIN".to_string(), |n| format!("`{n}`"));
        return Err(format!(
            "another XDP program ({name}, id {id}) is attached; remove it with `ip link set dev {interface} xdp off`"
        ));
    }
    match netlink::detach(index, attached.mode) {
        Ok(()) => {
            tracing::warn!(interface, id, "detached a stale {PROGRAM} program that an earlier run left attached");
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(format!(
            "a running process holds eightfold's XDP program (id {id}) on it through a BPF link: \
             is another eightfold serving this interface?"
        )),
        Err(e) => Err(format!(
            "cannot detach the stale {PROGRAM} program (id {id}) an earlier run left attached: {e}{}",
            errno_hint(e.raw_os_error())
        )),
    }
}

/// Attaches in native mode, or in generic mode, with a warning, when the driver has none
/// (EOPNOTSUPP). Another program already attached (EBUSY native, EEXIST generic) is an error
/// that says how to remove it.
fn attach(program: &mut Xdp, interface: &str) -> Result<Mode, String> {
    let busy = |e: &ProgramError| {
        let code = os_error(e);
        if code == Some(libc::EBUSY) || code == Some(libc::EEXIST) {
            format!(
                "another XDP program is attached ({}); remove it with `ip link set dev {interface} xdp off`",
                chain(e)
            )
        } else {
            format!("cannot attach the XDP program: {}{}", chain(e), errno_hint(code))
        }
    };
    match program.attach(interface, XdpMode::Driver) {
        Ok(_) => return Ok(Mode::Native),
        Err(e) if os_error(&e) == Some(libc::EOPNOTSUPP) => {
            tracing::warn!(interface, "the driver has no native XDP: attaching in generic mode, which is slower");
        }
        Err(e) => return Err(busy(&e)),
    }
    program.attach(interface, XdpMode::Skb).map(|_| Mode::Generic).map_err(|e| busy(&e))
}

/// The errno inside a program error from a system call.
fn os_error(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::SyscallError(SyscallError { io_error, .. }) => io_error.raw_os_error(),
        _ => None,
    }
}

/// What to do about a permission error.
fn errno_hint(code: Option<i32>) -> &'static str {
    match code {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW and CAP_IPC_LOCK)"
        }
        _ => "",
    }
}

/// A hint for a failed load: the usual cause is missing privileges.
fn privilege_hint(e: &dyn std::error::Error) -> &'static str {
    let text = chain(e);
    if text.contains("Operation not permitted") || text.contains("Permission denied") {
        "needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW and CAP_IPC_LOCK"
    } else {
        "is the kernel built with BPF and XDP?"
    }
}

/// An error and its sources, `: ` between them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// 2 KiB frames when an answer of `edns_udp_size` bytes and its headers fit after the
/// headroom, else 4 KiB.
fn frame_size(edns_udp_size: u16) -> FrameSize {
    if HEADROOM + MOST_HEADERS + usize::from(edns_udp_size) <= 2048 {
        FrameSize::TwoK
    } else {
        FrameSize::FourK
    }
}

/// Asks the kernel to send what an AF_XDP socket's TX ring holds. In copy mode one call sends
/// at most 32 frames and says EAGAIN while more wait (or while the completion ring is full),
/// so it is called again, a bounded number of times; what is left then goes with the next
/// call, or the next `poll`, which also drives copy-mode transmit. It does not wait for the
/// sent frames to come back on the completion ring: the kernel posts them when it frees its
/// copies, which on veth is after the receiver has read them, and a loop that kicked until
/// then spun on `sendto` (`tools/xdp-echo` calls this too, so the floor does the same).
pub fn kick(socket: &impl AsRawFd) {
    for _ in 0..=RING / 32 {
        // SAFETY: a zero-length sendto on an open socket, with no buffer or address.
        let sent =
            unsafe { libc::sendto(socket.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
        if sent >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
            return;
        }
    }
}

/// Bytes in one frame of `size`.
fn frame_bytes(size: FrameSize) -> usize {
    match size {
        FrameSize::TwoK => 2048,
        FrameSize::FourK => 4096,
    }
}

/// An AF_XDP socket bound to `queue` in copy mode (veth has no zero-copy, and copy mode works
/// on any driver), with a UMEM of its own and its four rings.
fn open_socket(nic: NicIndex, queue: u32, frame_size: FrameSize) -> Result<ring::Socket, String> {
    let config = UmemCfgBuilder { frame_size, frame_count: FRAMES, ..Default::default() }
        .build()
        .map_err(|e| format!("a UMEM configuration: {e}"))?;
    let umem = Umem::map(config).map_err(|e| format!("cannot map the UMEM: {e}"))?;
    let rings = RingConfigBuilder { rx_count: RING, tx_count: RING, fill_count: RING, completion_count: RING }
        .build()
        .map_err(|e| format!("a ring configuration: {e}"))?;
    let mut builder = XdpSocketBuilder::new().map_err(|e| format!("cannot open an AF_XDP socket: {e}"))?;
    let (rings, mut flags) = builder.build_wakable_rings(&umem, rings).map_err(|e| match e {
        SocketError::SetSockOpt { inner, option: OptName::UmemRegion } => format!(
            "cannot register its {} MiB of frames with the kernel ({inner}): RLIMIT_MEMLOCK is too low \
             for every queue's frames; raise it (LimitMEMLOCK=infinity under systemd, ulimit -l) or grant CAP_IPC_LOCK",
            (FRAMES as usize * frame_bytes(frame_size)) >> 20
        ),
        e => format!("cannot set up the rings: {e}"),
    })?;
    flags.force_copy();
    let socket = builder.bind(nic, queue, flags).map_err(|e| format!("cannot bind the AF_XDP socket: {e}"))?;
    Ok(ring::Socket::new(socket, umem, rings, nic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_the_programs_filter() {
        let addresses: Vec<IpAddr> =
            ["198.51.100.1", "2001:db8::1", "198.51.100.2"].iter().map(|a| a.parse().unwrap()).collect();
        let filter = Filter::new(&addresses);
        assert!(!filter.any_ipv4 && !filter.any_ipv6);
        // As the packet holds them: the first octet first in memory.
        assert_eq!(
            filter.ipv4.iter().map(|a| a.to_ne_bytes()).collect::<Vec<_>>(),
            [[198, 51, 100, 1], [198, 51, 100, 2]]
        );
        assert_eq!(filter.ipv6, ["2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets()]);
        let wildcard = Filter::new(&["0.0.0.0".parse().unwrap(), "::".parse().unwrap()]);
        assert_eq!(wildcard, Filter { any_ipv4: true, any_ipv6: true, ipv4: vec![], ipv6: vec![] });
    }
}
