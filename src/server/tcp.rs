//! DNS over TCP (RFC 7766) on one mio thread: length-prefixed messages, several queries per
//! connection (answered in order), an idle timeout and a connection cap, so TCP can never
//! stall a UDP worker.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::answer::{Responder, Transport, MAX_TCP_MESSAGE};
use crate::server::stats::WorkerStats;
use crate::server::Shared;

/// How long a stopping server keeps writing answers already asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the loop wakes to check timeouts and shutdown.
const TICK: Duration = Duration::from_millis(200);
/// Stop reading queries from a connection whose unsent answers exceed this.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// Bytes read from a socket per call.
const READ_CHUNK: usize = 16 * 1024;
/// Listener tokens count down from here; connection tokens are slab indices.
const LISTENER_BASE: usize = usize::MAX - 1024;

/// Limits for TCP clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// Close connections idle this long.
    pub idle_timeout: Duration,
    /// Most connections open at once; the longest-idle is closed to admit a new one.
    pub max_connections: usize,
    /// Log every query.
    pub query_log: bool,
    /// Close a connection whose partly received message does not complete within this.
    pub message_timeout: Duration,
}

/// The TCP thread's reusable state.
struct Scratch {
    responder: Responder,
    answer: Box<[u8]>,
    chunk: Box<[u8]>,
    stats: Arc<WorkerStats>,
    query_log: bool,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    last_active: Instant,
    /// Since when a message has been partly received.
    partial_since: Option<Instant>,
    peer_closed: bool,
    writable_interest: bool,
}

/// Runs the TCP side until the server stops, then finishes the answers in flight.
pub fn run(listeners: Vec<StdTcpListener>, shared: Arc<Shared>, config: TcpConfig) {
    let result = TcpServer::new(listeners, &shared, config).and_then(|mut server| {
        while !shared.stopping() {
            server.turn()?;
        }
        server.drain()
    });
    if let Err(e) = result {
        tracing::error!(error = %e, "TCP service stopped");
    }
}

/// The TCP thread's state.
struct TcpServer<'a> {
    shared: &'a Shared,
    config: TcpConfig,
    poll: Poll,
    events: Events,
    listeners: Vec<TcpListener>,
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
    scratch: Scratch,
    last_sweep: Instant,
}

impl<'a> TcpServer<'a> {
    fn new(listeners: Vec<StdTcpListener>, shared: &'a Shared, config: TcpConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listeners: Vec<TcpListener> = listeners.into_iter().map(TcpListener::from_std).collect();
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry().register(listener, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        Ok(TcpServer {
            shared,
            config,
            poll,
            events: Events::with_capacity(1024),
            listeners,
            connections: Vec::new(),
            free: Vec::new(),
            open: 0,
            scratch: Scratch {
                responder: {
                    let mut responder = Responder::new();
                    responder.set_tcp_keepalive(config.idle_timeout);
                    responder
                },
                answer: vec![0u8; MAX_TCP_MESSAGE].into_boxed_slice(),
                chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
                stats: shared.stats.register(),
                query_log: config.query_log,
            },
            last_sweep: Instant::now(),
        })
    }

    /// One round: wait for events, accept, answer, close idle connections.
    fn turn(&mut self) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(TICK)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let tokens: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for token in tokens {
            if token >= LISTENER_BASE {
                self.accept(token - LISTENER_BASE, now);
            } else {
                self.serve(token, now);
            }
        }
        if now.duration_since(self.last_sweep) >= TICK {
            self.last_sweep = now;
            for slot in 0..self.connections.len() {
                let expired = matches!(&self.connections[slot], Some(c)
                    if now.duration_since(c.last_active) >= self.config.idle_timeout
                        || c.partial_since.is_some_and(|t| now.duration_since(t) >= self.config.message_timeout));
                if expired {
                    self.close(slot);
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, listener: usize, now: Instant) {
        loop {
            let (mut stream, peer) = match self.listeners[listener].accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "TCP accept failed");
                    return;
                }
            };
            if self.open >= self.config.max_connections {
                self.close_longest_idle();
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.connections.push(None);
                self.connections.len() - 1
            });
            if self.poll.registry().register(&mut stream, Token(slot), Interest::READABLE).is_err() {
                self.free.push(slot);
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.connections[slot] = Some(Connection {
                stream,
                peer,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                last_active: now,
                partial_since: None,
                peer_closed: false,
                writable_interest: false,
            });
            self.open += 1;
        }
    }

    fn serve(&mut self, slot: usize, now: Instant) {
        let Some(Some(conn)) = self.connections.get_mut(slot) else { return };
        let view = self.shared.reader().guard();
        if !drive(conn, &mut self.scratch, &view, now, &self.poll, Token(slot)) {
            self.close(slot);
        }
    }

    /// Stops accepting, answers what has arrived and writes it out, for at most
    /// [`DRAIN_TIMEOUT`]; then closes everything.
    fn drain(&mut self) -> io::Result<()> {
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        for slot in 0..self.connections.len() {
            self.serve(slot, Instant::now());
        }
        while Instant::now() < deadline && self.connections.iter().flatten().any(|c| pending(c) > 0) {
            match self.poll.poll(&mut self.events, Some(Duration::from_millis(50))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let tokens: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
            for token in tokens {
                self.serve(token, Instant::now());
            }
        }
        for slot in 0..self.connections.len() {
            self.close(slot);
        }
        Ok(())
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut conn) = self.connections[slot].take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.free.push(slot);
            self.open -= 1;
        }
    }

    fn close_longest_idle(&mut self) {
        let oldest = self
            .connections
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c.last_active)))
            .min_by_key(|&(_, t)| t)
            .map(|(i, _)| i);
        if let Some(slot) = oldest {
            self.close(slot);
        }
    }
}

/// Reads what is there, answers every complete query, writes what it can. Returns false
/// when the connection should close.
fn drive(
    conn: &mut Connection,
    scratch: &mut Scratch,
    view: &crate::view::View,
    now: Instant,
    poll: &Poll,
    token: Token,
) -> bool {
    let Scratch { responder, answer, chunk, stats, query_log } = scratch;
    // Read while there is room: a full message and its length prefix at most.
    while !conn.peer_closed && conn.input.len() < MAX_TCP_MESSAGE + 2 && pending(conn) < MAX_PENDING_OUTPUT {
        match conn.stream.read(chunk) {
            Ok(0) => conn.peer_closed = true,
            Ok(n) => {
                conn.input.extend_from_slice(&chunk[..n]);
                conn.last_active = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    let mut consumed = 0;
    while pending(conn) < MAX_PENDING_OUTPUT {
        let rest = &conn.input[consumed..];
        if rest.len() < 2 {
            break;
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if len == 0 {
            return false;
        }
        if rest.len() < 2 + len {
            break;
        }
        let outcome = responder.respond(view, &rest[2..2 + len], Transport::Tcp, answer);
        stats.record(Transport::Tcp, &outcome);
        if *query_log {
            super::log_query(conn.peer, Transport::Tcp, &rest[2..2 + len], &outcome);
        }
        consumed += 2 + len;
        if outcome.len == 0 {
            // Not a query: nothing sensible to say on this stream.
            return false;
        }
        conn.output.extend_from_slice(&(outcome.len as u16).to_be_bytes());
        conn.output.extend_from_slice(&answer[..outcome.len]);
    }
    conn.input.drain(..consumed);
    // A message that is only partly here must complete within the message timeout, however
    // slowly it trickles in (the idle timeout resets on every byte).
    conn.partial_since = match (conn.input.is_empty(), consumed > 0) {
        (true, _) => None,
        // A message completed: the next one starts its clock now.
        (false, true) => Some(now),
        (false, false) => conn.partial_since.or(Some(now)),
    };
    // Write what we can.
    while conn.written < conn.output.len() {
        match conn.stream.write(&conn.output[conn.written..]) {
            Ok(0) => return false,
            Ok(n) => {
                conn.written += n;
                conn.last_active = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    if conn.written == conn.output.len() {
        conn.output.clear();
        conn.written = 0;
    }
    let need_write = !conn.output.is_empty();
    if conn.peer_closed && !need_write {
        return false;
    }
    if need_write != conn.writable_interest {
        let interest = if need_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if poll.registry().reregister(&mut conn.stream, token, interest).is_err() {
            return false;
        }
        conn.writable_interest = need_write;
    }
    true
}

fn pending(conn: &Connection) -> usize {
    conn.output.len() - conn.written
}
