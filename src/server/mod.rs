//! Sockets and threads: per-core UDP workers and the TCP thread, which answer from the
//! published [`crate::view::View`].
//!
//! Workers never wait on control code: they load the current view through a
//! [`crate::view::Reader`] (arc-swap, lock-free) and answer from it; the prober, the only
//! publisher, builds each new view off the hot path.

pub mod rrl;
mod socket;
pub mod stats;
mod tcp;
pub mod timing;
mod udp;
pub mod xdp;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::answer::{Outcome, Transport};
use crate::config::{rtype_name, Config};
use crate::view::{self, View};

/// State shared by every thread.
pub struct Shared {
    view: view::Reader,
    shutdown: AtomicBool,
    /// Per-worker query counters.
    pub stats: stats::Stats,
    /// When the server started (RRL counts seconds from here).
    pub started: std::time::Instant,
    /// The interfaces served over AF_XDP, and their queues' counters.
    pub xdp: xdp::Registry,
}

impl Shared {
    /// Starts with the view `view` reads.
    pub fn new(view: view::Reader) -> Arc<Shared> {
        Arc::new(Shared {
            view,
            shutdown: AtomicBool::new(false),
            stats: stats::Stats::default(),
            started: std::time::Instant::now(),
            xdp: xdp::Registry::default(),
        })
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.load()
    }

    /// The reader every thread loads the view through.
    pub fn reader(&self) -> &view::Reader {
        &self.view
    }

    /// Asks every thread to stop.
    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

/// Writes one query-log line (target `eightfold::query`); called only when the log is on.
/// `response` is the answer sent: its answer section names the records drawn, so a
/// multivalue, weighted or failover answer says which members it handed out.
pub(crate) fn log_query(client: SocketAddr, transport: Transport, packet: &[u8], outcome: &Outcome, response: &[u8]) {
    let (qname, qtype) = crate::wire::question_text(packet).unwrap_or_else(|| ("-".to_string(), 0));
    let transport = stats::TRANSPORTS[transport as usize];
    let rcode = stats::RCODES.iter().find(|(r, _)| *r == outcome.rcode).map_or("OTHER", |(_, n)| n);
    if outcome.len == 0 {
        tracing::info!(target: "eightfold::query", %client, %transport, %qname, qtype = %rtype_name(qtype), "dropped");
    } else {
        let answers = answer_text(&response[..outcome.len.min(response.len())]);
        tracing::info!(
            target: "eightfold::query",
            %client,
            %transport,
            %qname,
            qtype = %rtype_name(qtype),
            %rcode,
            bytes = outcome.len,
            tc = outcome.truncated,
            %answers
        );
    }
}

/// The answer section of `response` as text: each record's type and data, `; ` between them
/// (`A 192.0.2.1; A 192.0.2.3`); empty when there is none or it does not parse.
fn answer_text(response: &[u8]) -> String {
    use domain::base::{Message, ParsedName};
    use domain::rdata::AllRecordData;
    let Ok(message) = Message::from_slice(response) else { return String::new() };
    let Ok(section) = message.answer() else { return String::new() };
    let mut text = String::new();
    for record in section.limit_to::<AllRecordData<&[u8], ParsedName<&[u8]>>>() {
        let Ok(record) = record else { break };
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("{} {}", record.rtype(), record.data()));
    }
    text
}

/// The wall clock in seconds since the epoch, which TSIG's Time Signed counts (0 for a clock
/// set before 1970).
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A running server: its threads and the addresses it actually bound.
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Handles on the UDP sockets, to wake workers blocked in a receive at stop.
    udp_sockets: Vec<std::net::UdpSocket>,
    /// The bound addresses (port 0 in the config resolved to the real port).
    pub addresses: Vec<SocketAddr>,
    /// UDP workers per address.
    pub workers: usize,
    /// The interfaces served over AF_XDP: dropped after the threads end, which detaches
    /// their programs.
    xdp: Vec<xdp::Running>,
}

/// Errors starting the server.
#[derive(Debug)]
pub enum ServerError {
    /// A socket could not be set up.
    Bind {
        /// The address it was for.
        address: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// A thread could not be started.
    Spawn(io::Error),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Bind { address, source } => write!(f, "cannot listen on {address}: {source}"),
            ServerError::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } | ServerError::Spawn(source) => Some(source),
        }
    }
}

/// Every socket the server answers on, bound before any thread starts, so that privileges
/// can be dropped in between.
pub struct Sockets {
    bound: Vec<socket::BoundAddress>,
    workers: usize,
    /// The interfaces set up for AF_XDP (those that failed were logged and left out).
    xdp: Vec<xdp::Prepared>,
}

/// File descriptors kept free for everything but TCP clients, beyond those open when the
/// server starts (its sockets, the standard streams), one per health check and the control
/// endpoint's connections (`control::http::MAX_CONNECTIONS`): the threads' pollers, wakers and signal pipe, the state file, the
/// zone files a reload reads, the resolver's sockets, and the connection accepted just
/// before the longest-idle one is closed to make room for it.
pub const FD_RESERVE: usize = 64;

/// The most TCP connections that fit under an open files limit of `limit` (`None`: no
/// limit) with `reserved` descriptors kept for the rest: `configured`, or fewer, but at
/// least 1.
pub fn tcp_connection_cap(configured: usize, limit: Option<u64>, reserved: usize) -> usize {
    match limit {
        Some(limit) => {
            let available = usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(reserved);
            configured.min(available).max(1)
        }
        None => configured,
    }
}

impl Sockets {
    /// How many descriptors the sockets take.
    pub fn descriptors(&self) -> usize {
        self.bound.iter().map(|b| b.udp.len() + 1).sum()
    }

    /// Binds every address: one UDP socket per worker, and a TCP listener; then sets up the
    /// interfaces in `xdp` for UDP to the first address's port (before privileges are dropped:
    /// loading and attaching the program needs them).
    pub fn bind(config: &Config) -> Result<Sockets, ServerError> {
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut bound = Vec::new();
        for &address in &config.server.listen {
            bound.push(socket::bind_all(address, workers).map_err(|source| ServerError::Bind { address, source })?);
        }
        let xdp = match bound.first() {
            Some(first) if !config.server.xdp.is_empty() => {
                let port = first.address.port();
                let addresses: Vec<_> =
                    bound.iter().map(|b| b.address).filter(|a| a.port() == port).map(|a| a.ip()).collect();
                xdp::prepare(&config.server.xdp, port, &addresses, config.server.edns_udp_size)
            }
            _ => Vec::new(),
        };
        Ok(Sockets { bound, workers, xdp })
    }
}

impl Server {
    /// Starts the UDP workers and the TCP thread on `sockets`, with at most
    /// `tcp_max_connections` TCP clients at once (the configured cap, or less to fit under the
    /// open files limit: see [`tcp_connection_cap`]).
    pub fn start(
        config: &Config,
        sockets: Sockets,
        shared: Arc<Shared>,
        tcp_max_connections: usize,
    ) -> Result<Server, ServerError> {
        let Sockets { bound, workers, xdp: prepared } = sockets;
        let cores =
            if config.server.pin_workers { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
        let query_log = config.server.query_log;
        let answer_cache = config.server.answer_cache;
        let rate_limiter = config.server.rrl.map(|c| Arc::new(rrl::RateLimiter::new(c)));
        let mut threads = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut addresses = Vec::new();
        let mut udp_sockets = Vec::new();
        let xdp_port = bound.first().map_or(0, |set| set.address.port());
        for set in bound {
            addresses.push(set.address);
            for (i, sock) in set.udp.into_iter().enumerate() {
                if let Ok(handle) = sock.try_clone() {
                    udp_sockets.push(handle);
                }
                let shared = shared.clone();
                let rrl = rate_limiter.clone();
                let core = cores.get(i % cores.len().max(1)).copied();
                let handle = std::thread::Builder::new()
                    .name(format!("udp-{}-{i}", set.address))
                    .spawn(move || {
                        if let Some(core) = core {
                            core_affinity::set_for_current(core);
                        }
                        udp::run(sock, shared, query_log, answer_cache, rrl)
                    })
                    .map_err(ServerError::Spawn)?;
                threads.push(handle);
            }
            tcp_listeners.push(set.tcp);
        }
        let tcp_config = tcp::TcpConfig {
            idle_timeout: config.server.tcp_idle_timeout,
            max_connections: tcp_max_connections,
            query_log,
            message_timeout: config.server.tcp_message_timeout,
        };
        let shared_tcp = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("tcp".into())
                .spawn(move || tcp::run(tcp_listeners, shared_tcp, tcp_config))
                .map_err(ServerError::Spawn)?,
        );
        let settings = xdp::Settings { port: xdp_port, query_log, answer_cache, rrl: rate_limiter.clone() };
        let mut running = Vec::new();
        for interface in prepared {
            running.push(xdp::start(interface, &settings, &shared, &cores, &mut threads).map_err(ServerError::Spawn)?);
        }
        Ok(Server { shared, threads, udp_sockets, addresses, workers, xdp: running })
    }

    /// Stops every thread and waits for them.
    pub fn stop(self) {
        self.shared.stop();
        // Workers block in recvmmsg with no timeout (no timer armed per receive); shutting
        // the read side down wakes them.
        for socket in &self.udp_sockets {
            // SAFETY: shutdown on a socket descriptor we own; no memory is involved.
            unsafe { libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(socket), libc::SHUT_RD) };
        }
        for thread in self.threads {
            let _ = thread.join();
        }
        // The AF_XDP threads have ended: detach the programs.
        drop(self.xdp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_cap_fits_under_the_open_files_limit() {
        // Room enough: the configured cap stands.
        assert_eq!(tcp_connection_cap(1024, Some(65_536), 100), 1024);
        assert_eq!(tcp_connection_cap(1024, None, 100), 1024);
        // 1,024 descriptors, 78 reserved: 946 connections.
        assert_eq!(tcp_connection_cap(1024, Some(1024), 78), 946);
        // A limit the reserve alone exceeds still lets one client in.
        assert_eq!(tcp_connection_cap(1024, Some(50), 78), 1);
        assert_eq!(tcp_connection_cap(1024, Some(u64::MAX), usize::MAX), 1);
    }
}
