//! Sockets and threads: per-core UDP workers, the TCP thread, and the published [`View`] they
//! all read.
//!
//! Workers never wait on control code: they load the current view through `arc-swap`
//! (lock-free) and answer from it; control code (reload, the prober) builds a whole new view
//! off the hot path and [`Shared::publish`]es it.

pub mod rrl;
mod socket;
pub mod stats;
mod tcp;
pub mod timing;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;

use crate::answer::{Outcome, Transport};
use crate::config::{rtype_name, Config};
use crate::health::HealthSnapshot;
use crate::zone::Catalog;

/// Everything a query is answered from, replaced whole.
pub struct View {
    /// Zone data.
    pub catalog: Arc<Catalog>,
    /// Check states, indexed like the config's checks.
    pub health: Arc<HealthSnapshot>,
}

impl View {
    /// A view of `catalog` under `health`, with the healthy pools worked out for it.
    pub fn new(catalog: Arc<Catalog>, health: HealthSnapshot) -> View {
        let health = Arc::new(health.with_pools(&catalog));
        View { catalog, health }
    }
}

/// Data a new [`View`] replaced (a reloaded catalog), held by the control side until no view
/// refers to it, and then dropped there. Otherwise the last worker to move to the new view
/// would drop it, in the middle of answering: a catalog of 50,000 zones takes about 70 ms to
/// free, which a worker at full rate would spend not reading its socket.
pub struct Retired<T> {
    held: Vec<Arc<T>>,
}

impl<T> Default for Retired<T> {
    fn default() -> Self {
        Retired { held: Vec::new() }
    }
}

impl<T> Retired<T> {
    /// Holds `data`, which a view published from now on no longer refers to.
    pub fn push(&mut self, data: Arc<T>) {
        self.held.push(data);
    }

    /// Drops, on this thread, whatever nothing else refers to any more (a worker that still
    /// answers from an older view keeps it alive); returns whether anything was dropped.
    pub fn drop_unused(&mut self) -> bool {
        let before = self.held.len();
        // A count of one is this list's own reference: nothing can take a new one from it.
        self.held.retain(|data| Arc::strong_count(data) > 1);
        self.held.len() < before
    }

    /// How many are still held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Hands memory freed after building or dropping zone data back to the kernel (glibc keeps
/// freed heap otherwise, so a big zone's load-time garbage would stay in the resident set).
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// State shared by every thread.
pub struct Shared {
    view: ArcSwap<View>,
    shutdown: AtomicBool,
    /// Per-worker query counters.
    pub stats: stats::Stats,
    /// When the server started (RRL counts seconds from here).
    pub started: std::time::Instant,
}

impl Shared {
    /// Starts with `view`.
    pub fn new(view: View) -> Arc<Shared> {
        Arc::new(Shared {
            view: ArcSwap::from_pointee(view),
            shutdown: AtomicBool::new(false),
            stats: stats::Stats::default(),
            started: std::time::Instant::now(),
        })
    }

    /// Replaces the view every worker reads.
    pub fn publish(&self, view: View) {
        self.view.store(Arc::new(view));
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
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
pub(crate) fn log_query(client: SocketAddr, transport: Transport, packet: &[u8], outcome: &Outcome) {
    let (qname, qtype) = crate::wire::question_text(packet).unwrap_or_else(|| ("-".to_string(), 0));
    let transport = stats::TRANSPORTS[transport as usize];
    let rcode = stats::RCODES.iter().find(|(r, _)| *r == outcome.rcode).map_or("OTHER", |(_, n)| n);
    if outcome.len == 0 {
        tracing::info!(target: "eightfold::query", %client, %transport, %qname, qtype = %rtype_name(qtype), "dropped");
    } else {
        tracing::info!(
            target: "eightfold::query",
            %client,
            %transport,
            %qname,
            qtype = %rtype_name(qtype),
            %rcode,
            bytes = outcome.len,
            tc = outcome.truncated
        );
    }
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
}

/// Errors starting the server.
#[derive(Debug)]
pub enum ServerError {
    /// A socket could not be set up.
    Bind { address: SocketAddr, source: io::Error },
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
}

impl Sockets {
    /// Binds every address: one UDP socket per worker, and a TCP listener.
    pub fn bind(config: &Config) -> Result<Sockets, ServerError> {
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut bound = Vec::new();
        for &address in &config.server.listen {
            bound.push(socket::bind_all(address, workers).map_err(|source| ServerError::Bind { address, source })?);
        }
        Ok(Sockets { bound, workers })
    }
}

impl Server {
    /// Starts the UDP workers and the TCP thread on `sockets`.
    pub fn start(config: &Config, sockets: Sockets, shared: Arc<Shared>) -> Result<Server, ServerError> {
        let Sockets { bound, workers } = sockets;
        let cores =
            if config.server.pin_workers { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
        let query_log = config.server.query_log;
        let answer_cache = config.server.answer_cache;
        let rate_limiter = config.server.rrl.map(|c| Arc::new(rrl::RateLimiter::new(c)));
        let mut threads = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut addresses = Vec::new();
        let mut udp_sockets = Vec::new();
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
            max_connections: config.server.tcp_max_connections,
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
        Ok(Server { shared, threads, udp_sockets, addresses, workers })
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the thread that dropped it.
    struct Tracked(Arc<Mutex<Option<std::thread::ThreadId>>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(std::thread::current().id());
        }
    }

    #[test]
    fn retired_data_is_dropped_by_its_holder_once_no_reader_has_it() {
        let dropped_by = Arc::new(Mutex::new(None));
        let data = Arc::new(Tracked(dropped_by.clone()));
        let reader = data.clone();
        let mut retired = Retired::default();
        retired.push(data);
        assert!(!retired.drop_unused(), "a reader still has it");
        assert_eq!(retired.len(), 1);
        // The reader lets go on another thread: only a count falls there.
        std::thread::spawn(move || drop(reader)).join().unwrap();
        assert!(dropped_by.lock().unwrap().is_none(), "the reader's thread must not drop it");
        assert!(retired.drop_unused());
        assert!(retired.is_empty());
        assert_eq!(*dropped_by.lock().unwrap(), Some(std::thread::current().id()));
    }
}
