//! DNS over TCP (RFC 7766) on one mio thread: length-prefixed messages, several queries per
//! connection (answered in order), an idle timeout and a connection cap, so TCP can never
//! stall a UDP worker.

use std::io::{self, Read, Write};
use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::answer::{AnswerSettings, Responder, Transport, MAX_TCP_MESSAGE};
use crate::server::Shared;

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
}

struct Connection {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    last_active: Instant,
    peer_closed: bool,
    writable_interest: bool,
}

/// Runs the TCP side until the server stops.
pub fn run(listeners: Vec<StdTcpListener>, shared: Arc<Shared>, settings: AnswerSettings, config: TcpConfig) {
    if let Err(e) = serve(listeners, &shared, settings, config) {
        tracing::error!(error = %e, "TCP service stopped");
    }
}

fn serve(
    listeners: Vec<StdTcpListener>,
    shared: &Shared,
    settings: AnswerSettings,
    config: TcpConfig,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listeners: Vec<TcpListener> = listeners.into_iter().map(TcpListener::from_std).collect();
    for (i, listener) in listeners.iter_mut().enumerate() {
        poll.registry().register(listener, Token(LISTENER_BASE + i), Interest::READABLE)?;
    }
    let mut connections: Vec<Option<Connection>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut open = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut responder = Responder::new(settings);
    let mut answer = vec![0u8; MAX_TCP_MESSAGE].into_boxed_slice();
    let mut chunk = vec![0u8; READ_CHUNK].into_boxed_slice();
    let mut last_sweep = Instant::now();
    while !shared.stopping() {
        match poll.poll(&mut events, Some(TICK)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in events.iter() {
            let token = event.token().0;
            if token >= LISTENER_BASE {
                let listener = &listeners[token - LISTENER_BASE];
                loop {
                    let (mut stream, _) = match listener.accept() {
                        Ok(accepted) => accepted,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "TCP accept failed");
                            break;
                        }
                    };
                    if open >= config.max_connections {
                        close_longest_idle(&mut connections, &mut free, &mut open, &poll);
                    }
                    let slot = free.pop().unwrap_or_else(|| {
                        connections.push(None);
                        connections.len() - 1
                    });
                    if poll.registry().register(&mut stream, Token(slot), Interest::READABLE).is_err() {
                        free.push(slot);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    connections[slot] = Some(Connection {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        written: 0,
                        last_active: now,
                        peer_closed: false,
                        writable_interest: false,
                    });
                    open += 1;
                }
                continue;
            }
            let Some(Some(conn)) = connections.get_mut(token) else { continue };
            let view = shared.view.load();
            let keep = drive(conn, &mut responder, &view, &mut answer, &mut chunk, now, &poll, Token(token));
            if !keep {
                close(&mut connections, &mut free, &mut open, token, &poll);
            }
        }
        if now.duration_since(last_sweep) >= TICK {
            last_sweep = now;
            for slot in 0..connections.len() {
                let idle =
                    matches!(&connections[slot], Some(c) if now.duration_since(c.last_active) >= config.idle_timeout);
                if idle {
                    close(&mut connections, &mut free, &mut open, slot, &poll);
                }
            }
        }
    }
    Ok(())
}

/// Reads what is there, answers every complete query, writes what it can. Returns false
/// when the connection should close.
#[allow(clippy::too_many_arguments)]
fn drive(
    conn: &mut Connection,
    responder: &mut Responder,
    view: &crate::server::View,
    answer: &mut [u8],
    chunk: &mut [u8],
    now: Instant,
    poll: &Poll,
    token: Token,
) -> bool {
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
        let outcome = responder.respond(&view.catalog, &view.health, &rest[2..2 + len], Transport::Tcp, answer);
        consumed += 2 + len;
        if outcome.len == 0 {
            // Not a query: nothing sensible to say on this stream.
            return false;
        }
        conn.output.extend_from_slice(&(outcome.len as u16).to_be_bytes());
        conn.output.extend_from_slice(&answer[..outcome.len]);
    }
    conn.input.drain(..consumed);
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

fn close(connections: &mut [Option<Connection>], free: &mut Vec<usize>, open: &mut usize, slot: usize, poll: &Poll) {
    if let Some(mut conn) = connections[slot].take() {
        let _ = poll.registry().deregister(&mut conn.stream);
        free.push(slot);
        *open -= 1;
    }
}

fn close_longest_idle(connections: &mut [Option<Connection>], free: &mut Vec<usize>, open: &mut usize, poll: &Poll) {
    let oldest = connections
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c.last_active)))
        .min_by_key(|&(_, t)| t)
        .map(|(i, _)| i);
    if let Some(slot) = oldest {
        close(connections, free, open, slot, poll);
    }
}
