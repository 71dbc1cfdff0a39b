//! DNS over TCP (RFC 7766) on one mio thread: length-prefixed messages, pipelined queries
//! answered in order, an idle timeout, a message timeout and a connection cap, so TCP can
//! never stall a UDP worker.
//!
//! Each event drives its connection until the connection waits on its client: the socket has
//! nothing more to read, or answers are backed up. mio is edge-triggered, so nothing may be
//! left that no event would come back for: whole queries still in the input are answered as
//! soon as the output drains, and a connection that used up its turn
//! ([`TURN_BUDGET`]) is driven again on the next round, after the others.
//!
//! Memory per connection is bounded by backpressure: once [`OUTPUT_LIMIT`] bytes of answers
//! wait to be sent, the connection is neither answered nor read from until they drain, and
//! the client's own writes block. Input holds at most one read ([`READ_CHUNK`]) beyond an
//! incomplete message, and output at most one answer beyond the limit; idle connections give
//! larger buffers back. See docs/operations.md for the resulting figures.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

use crate::answer::{Responder, Transport, MAX_TCP_MESSAGE};
use crate::server::stats::WorkerStats;
use crate::server::Shared;
use crate::view::View;

/// How long a stopping server keeps writing answers already asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the loop wakes to check timeouts and shutdown.
const TICK: Duration = Duration::from_millis(200);
/// How often a stopping server looks at the connections it still writes to.
const DRAIN_TICK: Duration = Duration::from_millis(50);
/// Once this many bytes of answers wait to be sent on a connection, it is neither answered
/// nor read from until they drain: a client that does not read its answers cannot make the
/// server hold more for it, and its own writes block (backpressure).
const OUTPUT_LIMIT: usize = 16 * 1024;
/// Bytes read from a socket per call.
const READ_CHUNK: usize = 16 * 1024;
/// Buffers up to this size stay with an idle connection; larger ones are given back.
const KEEP_BUFFER: usize = 4 * 1024;
/// What one connection may do before the others get their turn: each answer costs 1, each
/// read [`READ_COST`].
const TURN_BUDGET: usize = 256;
/// The share of [`TURN_BUDGET`] a read costs.
const READ_COST: usize = 16;
/// Listener tokens count down from here; connection tokens are slab indices.
const LISTENER_BASE: usize = usize::MAX - 1024;
/// Running out of file descriptors is logged at most this often.
const FD_WARNING_INTERVAL: Duration = Duration::from_secs(10);

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

/// Answers queries: the TCP thread's responder and its one answer buffer.
struct Answerer {
    responder: Responder,
    answer: Box<[u8]>,
    stats: Arc<WorkerStats>,
    query_log: bool,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes received and not yet answered: part of a message, or whole messages held back
    /// while answers wait in `output`.
    input: Vec<u8>,
    /// Answers not yet written.
    output: Vec<u8>,
    last_active: Instant,
    /// Since when a message has been partly received.
    partial_since: Option<Instant>,
    peer_closed: bool,
    writable_interest: bool,
    /// On the list of connections to drive again next round.
    queued: bool,
}

/// What a connection waits for after [`drive`].
enum Next {
    /// An event: bytes to read, or room to write.
    Wait,
    /// Nothing: it used up its turn with work left, and goes on next round.
    Again,
    /// It is done, or broke the protocol: close it.
    Close,
}

/// Runs the TCP side until the server stops, then finishes the answers in flight.
pub fn run(listeners: Vec<StdTcpListener>, shared: Arc<Shared>, config: TcpConfig) {
    let result = TcpServer::new(listeners, &shared, config).and_then(|mut server| {
        while !shared.stopping() {
            server.turn(TICK)?;
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
    /// The tokens of the last poll's events.
    tokens: Vec<usize>,
    listeners: Vec<TcpListener>,
    /// Listeners whose last accept failed for a reason that a new connection would not
    /// signal the end of: accepted again at every tick until the backlog is empty.
    accept_again: Vec<bool>,
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
    /// Connections to drive again next round, whatever the events say.
    ready: Vec<usize>,
    answerer: Answerer,
    chunk: Box<[u8]>,
    last_sweep: Instant,
    /// When running out of file descriptors was last logged, and connections closed for it
    /// since.
    fd_warning: Option<Instant>,
    fd_evictions: u64,
}

impl<'a> TcpServer<'a> {
    fn new(listeners: Vec<StdTcpListener>, shared: &'a Shared, config: TcpConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listeners: Vec<TcpListener> = listeners.into_iter().map(TcpListener::from_std).collect();
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry().register(listener, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        let mut responder = Responder::new();
        responder.set_tcp_keepalive(config.idle_timeout);
        Ok(TcpServer {
            shared,
            config,
            poll,
            events: Events::with_capacity(1024),
            tokens: Vec::with_capacity(1024),
            accept_again: vec![false; listeners.len()],
            listeners,
            connections: Vec::new(),
            free: Vec::new(),
            open: 0,
            ready: Vec::new(),
            answerer: Answerer {
                responder,
                answer: vec![0u8; MAX_TCP_MESSAGE].into_boxed_slice(),
                stats: shared.stats.register(),
                query_log: config.query_log,
            },
            chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
            last_sweep: Instant::now(),
            fd_warning: None,
            fd_evictions: 0,
        })
    }

    /// One round: wait for events (at most `tick`, not at all while connections have work
    /// left), accept, answer, close idle connections.
    fn turn(&mut self, tick: Duration) -> io::Result<()> {
        let timeout = if self.ready.is_empty() { tick } else { Duration::ZERO };
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let ready = std::mem::take(&mut self.ready);
        for &slot in &ready {
            if let Some(Some(conn)) = self.connections.get_mut(slot) {
                conn.queued = false;
            }
        }
        let mut tokens = std::mem::take(&mut self.tokens);
        tokens.clear();
        tokens.extend(self.events.iter().map(|e| e.token().0));
        for &token in &tokens {
            if token >= LISTENER_BASE {
                self.accept(token - LISTENER_BASE, now);
            } else {
                self.serve(token, now);
            }
        }
        self.tokens = tokens;
        for &slot in &ready {
            self.serve(slot, now);
        }
        if self.ready.is_empty() {
            // Keep the allocation.
            self.ready = ready;
            self.ready.clear();
        }
        if now.duration_since(self.last_sweep) >= tick {
            self.last_sweep = now;
            for slot in 0..self.connections.len() {
                let expired = matches!(&self.connections[slot], Some(c)
                    if now.duration_since(c.last_active) >= self.config.idle_timeout
                        || c.partial_since.is_some_and(|t| now.duration_since(t) >= self.config.message_timeout));
                if expired {
                    self.close(slot);
                }
            }
            for listener in 0..self.listeners.len() {
                if self.accept_again[listener] {
                    self.accept(listener, now);
                }
            }
        }
        Ok(())
    }

    /// Accepts every connection waiting on `listener`. Out of file descriptors, the
    /// longest-idle connection is closed to make room, as at the connection cap.
    fn accept(&mut self, listener: usize, now: Instant) {
        if listener >= self.listeners.len() {
            return;
        }
        self.accept_again[listener] = false;
        loop {
            let (mut stream, peer) = match self.listeners[listener].accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    let evicted = self.open > 0;
                    self.out_of_descriptors(&e, evicted, now);
                    if evicted {
                        self.close_longest_idle();
                        continue;
                    }
                    // Nothing of ours to close: try again at the next tick.
                    self.accept_again[listener] = true;
                    return;
                }
                // This one connection failed (reset before it was accepted, refused by a
                // firewall rule): the next may not.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
                    ) || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM)) =>
                {
                    continue
                }
                Err(e) => {
                    // Out of memory or buffers: the backlog stays, and no new event may come
                    // for it, so try again at the next tick.
                    tracing::debug!(error = %e, "TCP accept failed");
                    self.accept_again[listener] = true;
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
                last_active: now,
                partial_since: None,
                peer_closed: false,
                writable_interest: false,
                queued: false,
            });
            self.open += 1;
        }
    }

    /// Logs running out of file descriptors, at most every [`FD_WARNING_INTERVAL`].
    fn out_of_descriptors(&mut self, error: &io::Error, evicting: bool, now: Instant) {
        self.fd_evictions += u64::from(evicting);
        if self.fd_warning.is_some_and(|t| now.duration_since(t) < FD_WARNING_INTERVAL) {
            return;
        }
        tracing::warn!(
            error = %error,
            open = self.open,
            closed = self.fd_evictions,
            "out of file descriptors accepting a TCP connection: closing the longest-idle ones to make room \
             (raise the open files limit, or lower tcp_max_connections)"
        );
        self.fd_warning = Some(now);
        self.fd_evictions = 0;
    }

    fn serve(&mut self, slot: usize, now: Instant) {
        let Some(Some(conn)) = self.connections.get_mut(slot) else { return };
        let view = self.shared.reader().guard();
        match drive(conn, &mut self.answerer, &mut self.chunk, &view, now, self.poll.registry(), Token(slot)) {
            Next::Wait => {}
            Next::Again => {
                if !conn.queued {
                    conn.queued = true;
                    self.ready.push(slot);
                }
            }
            Next::Close => self.close(slot),
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
        while Instant::now() < deadline
            && (!self.ready.is_empty() || self.connections.iter().flatten().any(|c| !c.output.is_empty()))
        {
            self.turn(DRAIN_TICK)?;
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

/// Answers, writes and reads until the connection waits on its client, uses up its turn, or
/// must close. Whole queries are answered as long as fewer than [`OUTPUT_LIMIT`] bytes of
/// answers wait; the socket is read only when no whole query is left, so that a client
/// which does not read its answers is not read from either.
fn drive(
    conn: &mut Connection,
    answerer: &mut Answerer,
    chunk: &mut [u8],
    view: &View,
    now: Instant,
    registry: &Registry,
    token: Token,
) -> Next {
    let mut budget = TURN_BUDGET;
    let mut answered = false;
    let next = loop {
        if conn.output.len() < OUTPUT_LIMIT && complete_message(&conn.input).is_some() {
            let Some(consumed) = answerer.answer_all(view, conn.peer, &conn.input, &mut conn.output, &mut budget)
            else {
                break Next::Close;
            };
            conn.input.drain(..consumed);
            answered |= consumed > 0;
        }
        // With more answers to follow at once, the kernel may hold a partial segment back for
        // them (MSG_MORE): pipelined answers then leave in full segments, as from one write.
        let more = budget > 0 && complete_message(&conn.input).is_some();
        if !flush(conn, now, more) {
            break Next::Close;
        }
        if conn.output.len() >= OUTPUT_LIMIT {
            // The socket took no more: the client is behind. Wait until it reads.
            break Next::Wait;
        }
        if budget == 0 {
            break Next::Again;
        }
        if complete_message(&conn.input).is_some() {
            continue;
        }
        if conn.peer_closed {
            break if conn.output.is_empty() { Next::Close } else { Next::Wait };
        }
        match conn.stream.read(chunk) {
            Ok(0) => conn.peer_closed = true,
            Ok(n) => {
                conn.last_active = now;
                budget = budget.saturating_sub(READ_COST);
                let bytes = &chunk[..n];
                let rest = if conn.input.is_empty() {
                    // The usual case: answer from the read itself, keep only what is left.
                    let Some(consumed) = answerer.answer_all(view, conn.peer, bytes, &mut conn.output, &mut budget)
                    else {
                        break Next::Close;
                    };
                    answered |= consumed > 0;
                    &bytes[consumed..]
                } else {
                    bytes
                };
                keep(&mut conn.input, rest);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Next::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break Next::Close,
        }
    };
    if matches!(next, Next::Close) {
        return next;
    }
    // A message that is only partly here must complete within the message timeout, however
    // slowly it trickles in (the idle timeout resets on every byte). Whole messages held back
    // while answers wait are not partial: the client is not reading, which the idle timeout
    // bounds.
    let partial = !conn.input.is_empty() && complete_message(&conn.input).is_none();
    conn.partial_since = match (partial, answered) {
        (false, _) => None,
        // A message completed: the next one starts its clock now.
        (true, true) => Some(now),
        (true, false) => conn.partial_since.or(Some(now)),
    };
    // Give back what a burst needed and the connection no longer does.
    if conn.output.is_empty() && conn.output.capacity() > KEEP_BUFFER {
        conn.output = Vec::new();
    }
    if conn.input.is_empty() && conn.input.capacity() > KEEP_BUFFER {
        conn.input = Vec::new();
    }
    let need_write = !conn.output.is_empty();
    if need_write != conn.writable_interest {
        let interest = if need_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if registry.reregister(&mut conn.stream, token, interest).is_err() {
            return Next::Close;
        }
        conn.writable_interest = need_write;
    }
    next
}

impl Answerer {
    /// Answers the whole messages at the start of `input` into `output` while fewer than
    /// [`OUTPUT_LIMIT`] bytes wait there and `budget` lasts; returns the bytes consumed, or
    /// `None` when the connection must close (a zero length, or something not a query:
    /// nothing sensible can be said on this stream).
    fn answer_all(
        &mut self,
        view: &View,
        peer: SocketAddr,
        input: &[u8],
        output: &mut Vec<u8>,
        budget: &mut usize,
    ) -> Option<usize> {
        let mut consumed = 0;
        if view.catalog().needs_time() {
            self.responder.set_time(super::unix_seconds());
        }
        while output.len() < OUTPUT_LIMIT && *budget > 0 {
            let rest = &input[consumed..];
            let Some(len) = complete_message(rest) else { break };
            if len == 0 {
                return None;
            }
            let query = &rest[2..2 + len];
            let outcome = self.responder.respond(view, query, Transport::Tcp, &mut self.answer);
            self.stats.record(Transport::Tcp, &outcome);
            if self.query_log {
                super::log_query(peer, Transport::Tcp, query, &outcome, &self.answer);
            }
            if outcome.len == 0 {
                return None;
            }
            consumed += 2 + len;
            *budget -= 1;
            // Exactly what one answer needs; a burst gets room for the whole limit at once.
            let need = output.len() + 2 + outcome.len;
            if need > output.capacity() {
                let size = if output.is_empty() { need } else { need.max(OUTPUT_LIMIT) };
                output.reserve_exact(size - output.len());
            }
            output.extend_from_slice(&(outcome.len as u16).to_be_bytes());
            output.extend_from_slice(&self.answer[..outcome.len]);
        }
        Some(consumed)
    }
}

/// The length of the message at the start of `input`, when all of it is there.
fn complete_message(input: &[u8]) -> Option<usize> {
    let prefix = input.get(..2)?;
    let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
    (input.len() >= 2 + len).then_some(len)
}

/// Appends `bytes` to `input`, growing it by exactly as much as needed.
fn keep(input: &mut Vec<u8>, bytes: &[u8]) {
    if input.capacity() - input.len() < bytes.len() {
        input.reserve_exact(bytes.len());
    }
    input.extend_from_slice(bytes);
}

/// Writes as much of the output as the socket takes, telling the kernel when `more` is to
/// follow at once. Returns false when the connection broke.
fn flush(conn: &mut Connection, now: Instant, more: bool) -> bool {
    let socket = socket2::SockRef::from(&conn.stream);
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    let mut written = 0;
    while written < conn.output.len() {
        match socket.send_with_flags(&conn.output[written..], flags) {
            Ok(0) => return false,
            Ok(n) => {
                written += n;
                conn.last_active = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    conn.output.drain(..written);
    true
}
