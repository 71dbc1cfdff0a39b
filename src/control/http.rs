//! The control endpoint: a small HTTP/1.1 server, one request per connection, on a TCP address,
//! the control socket, or both. GET / (the status page), GET /metrics, GET /status
//! (`?name=NAME&unhealthy=1` narrows it, `history=1` adds each check's last results); POST
//! /reload and POST /override/ID (body `up`, `down` or `auto`) only over the control socket,
//! from loopback callers without a configured token, or with the configured bearer token.
//!
//! One thread (`control`) runs a mio loop that accepts connections, reads requests and writes
//! answers without ever blocking, so a silent or trickling client holds only its own
//! connection. Complete requests go to a few handler threads (`control-handler`), so a long
//! reload does not hold up `/metrics`. Every read is bounded and each connection has a deadline:
//!
//! ```text
//!  accept, on TCP or the control socket (at most MAX_CONNECTIONS open, both together; when
//!    full, the oldest still sending is dropped, 503)
//!    -> read the head (MAX_HEAD, else 431) and body (MAX_BODY, else 413), all of it within
//!       REQUEST_TIMEOUT of accept (else 408)
//!    -> a handler thread: metrics, status, reload, override -> the answer's bytes
//!    -> write them within RESPONSE_TIMEOUT -> close
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};
use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::{page, Control, Overridden, ReloadError, StatusFilter};
use crate::server::Shared;

/// How long a client has, from accept, to send its whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has, once its answer is ready, to take it.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 8192;
/// Largest request body accepted.
const MAX_BODY: usize = 4096;
/// Most control connections open at once, so a flood of them cannot use up file descriptors.
pub const MAX_CONNECTIONS: usize = 64;
/// Threads answering complete requests: a reload or an override waiting for the prober holds
/// one, the others keep answering.
const HANDLERS: usize = 4;
/// Longest the loop sleeps, so a stop is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// Bytes read from a connection per call.
const READ_CHUNK: usize = 4096;
/// Token of the TCP listening socket.
const TCP_LISTENER: Token = Token(usize::MAX - 2);
/// Token of the control socket.
const UNIX_LISTENER: Token = Token(usize::MAX - 1);
/// Token of the waker (answers from the handler threads).
const WAKE: Token = Token(usize::MAX);

/// What the endpoint listens on: a TCP address, the control socket, or both.
pub struct Listeners {
    /// The TCP address's socket, not blocking (from [`bind`]).
    pub tcp: Option<TcpListener>,
    /// The control socket, not blocking (from [`super::socket::bind`]).
    pub unix: Option<UnixListener>,
}

/// The running endpoint.
pub struct Endpoint {
    /// Its TCP address, when it has one.
    pub address: Option<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Endpoint {
    /// Waits for the threads (they stop with the server).
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Binds the endpoint's socket (before privileges are dropped).
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves on `listeners` until the server stops.
pub fn start(
    listeners: Listeners,
    token: Option<String>,
    control: Arc<Control>,
    shared: Arc<Shared>,
) -> io::Result<Endpoint> {
    let address = listeners.tcp.as_ref().map(TcpListener::local_addr).transpose()?;
    let poll = Poll::new()?;
    let mut tcp = listeners.tcp.map(mio::net::TcpListener::from_std);
    if let Some(listener) = tcp.as_mut() {
        poll.registry().register(listener, TCP_LISTENER, Interest::READABLE)?;
    }
    let mut unix = listeners.unix.map(mio::net::UnixListener::from_std);
    if let Some(listener) = unix.as_mut() {
        poll.registry().register(listener, UNIX_LISTENER, Interest::READABLE)?;
    }
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (jobs, job_queue) = channel::unbounded::<Job>();
    let (answer_sender, answers) = channel::unbounded::<(usize, Vec<u8>)>();
    let token: Arc<Option<String>> = Arc::new(token);
    let mut threads = Vec::with_capacity(HANDLERS + 1);
    for _ in 0..HANDLERS {
        let (job_queue, answer_sender, waker) = (job_queue.clone(), answer_sender.clone(), waker.clone());
        let (token, control) = (token.clone(), control.clone());
        threads.push(std::thread::Builder::new().name("control-handler".into()).spawn(move || {
            for job in job_queue {
                let answer = answer_caught(&job.request, job.peer, token.as_ref().as_deref(), &control);
                if answer_sender.send((job.slot, answer)).is_err() {
                    return;
                }
                let _ = waker.wake();
            }
        })?);
    }
    let endpoint = Loop { poll, tcp, unix, connections: Vec::new(), free: Vec::new(), open: 0, jobs, answers, shared };
    threads.push(std::thread::Builder::new().name("control".into()).spawn(move || endpoint.run())?);
    Ok(Endpoint { address, threads })
}

/// A complete request, for a handler thread.
struct Job {
    slot: usize,
    peer: Peer,
    request: Request,
}

/// Who is at the other end of a control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// A TCP client at this address.
    Tcp(SocketAddr),
    /// A process that could open the control socket (its file permissions let it).
    Socket,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(address) => write!(f, "{address}"),
            Peer::Socket => write!(f, "control socket"),
        }
    }
}

/// A control connection's socket.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
    /// What follows `?` in the request target (empty when nothing does).
    query: String,
    authorization: Option<String>,
    body: String,
}

/// One open control connection.
struct Connection {
    stream: Stream,
    peer: Peer,
    accepted: Instant,
    state: State,
}

/// Where a connection is in its one exchange.
enum State {
    /// Receiving the request; the bytes so far (at most MAX_HEAD + MAX_BODY + READ_CHUNK).
    Reading(Vec<u8>),
    /// A handler thread is answering.
    Answering,
    /// Sending the answer: its bytes, how many are sent, and by when the rest must be.
    Writing { answer: Vec<u8>, sent: usize, deadline: Instant },
}

/// The accept, read and write loop.
struct Loop {
    poll: Poll,
    tcp: Option<mio::net::TcpListener>,
    unix: Option<mio::net::UnixListener>,
    /// Open connections by token; `None` slots are listed in `free`.
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
    jobs: Sender<Job>,
    answers: Receiver<(usize, Vec<u8>)>,
    shared: Arc<Shared>,
}

impl Loop {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut chunk = [0u8; READ_CHUNK];
        while !self.shared.stopping() {
            let now = Instant::now();
            let sleep = self.next_deadline().map_or(MAX_SLEEP, |at| at.saturating_duration_since(now).min(MAX_SLEEP));
            if let Err(e) = self.poll.poll(&mut events, Some(sleep)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "control endpoint poll failed");
                    return;
                }
            }
            for event in events.iter() {
                match event.token() {
                    TCP_LISTENER | UNIX_LISTENER => self.accept(event.token()),
                    WAKE => {
                        while let Ok((slot, answer)) = self.answers.try_recv() {
                            self.write_answer(slot, answer, Instant::now());
                        }
                    }
                    Token(slot) => self.ready(slot, &mut chunk),
                }
            }
            self.expire(Instant::now());
        }
    }

    /// Accepts every connection waiting on the listener `which`, making room when the table
    /// is full.
    fn accept(&mut self, which: Token) {
        loop {
            let accepted = match (which, &self.tcp, &self.unix) {
                (TCP_LISTENER, Some(listener), _) => {
                    listener.accept().map(|(stream, address)| (Stream::Tcp(stream), Peer::Tcp(address)))
                }
                (UNIX_LISTENER, _, Some(listener)) => {
                    listener.accept().map(|(stream, _)| (Stream::Unix(stream), Peer::Socket))
                }
                _ => return,
            };
            let (mut stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: the connection waits in the backlog.
                    tracing::warn!(error = %e, "control endpoint accept failed");
                    return;
                }
            };
            if self.open >= MAX_CONNECTIONS && !self.evict_oldest_reading() {
                tracing::debug!(%peer, "control endpoint full, connection refused");
                let _ = stream.write(&response(503, "text/plain", "too many control connections\n"));
                continue;
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.connections.push(None);
                self.connections.len() - 1
            });
            if let Err(e) =
                self.poll.registry().register(&mut stream, Token(slot), Interest::READABLE | Interest::WRITABLE)
            {
                tracing::warn!(error = %e, "cannot register a control connection");
                self.free.push(slot);
                continue;
            }
            self.connections[slot] =
                Some(Connection { stream, peer, accepted: Instant::now(), state: State::Reading(Vec::new()) });
            self.open += 1;
        }
    }

    /// Drops the connection that has waited longest for its request, with a 503; false when
    /// every open connection is being answered.
    fn evict_oldest_reading(&mut self) -> bool {
        let oldest = (self.connections.iter().enumerate())
            .filter_map(|(slot, c)| c.as_ref().map(|c| (slot, c)))
            .filter(|(_, c)| matches!(c.state, State::Reading(_)))
            .min_by_key(|(_, c)| c.accepted)
            .map(|(slot, _)| slot);
        let Some(slot) = oldest else { return false };
        if let Some(connection) = self.connections[slot].as_mut() {
            tracing::debug!(peer = %connection.peer, "control endpoint full, oldest waiting connection dropped");
            let _ = connection.stream.write(&response(503, "text/plain", "too many control connections\n"));
        }
        self.close(slot);
        true
    }

    /// Reads or writes whatever a connection is ready for.
    fn ready(&mut self, slot: usize, chunk: &mut [u8]) {
        let Some(connection) = self.connections.get_mut(slot).and_then(Option::as_mut) else { return };
        match &mut connection.state {
            State::Reading(buffer) => loop {
                match connection.stream.read(chunk) {
                    Ok(0) => return self.close(slot),
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return self.close(slot),
                }
                match parse(buffer) {
                    Parsed::Incomplete => {}
                    Parsed::Complete(request) => {
                        connection.state = State::Answering;
                        let job = Job { slot, peer: connection.peer, request };
                        if self.jobs.send(job).is_err() {
                            self.close(slot);
                        }
                        return;
                    }
                    Parsed::Rejected(status, why) => {
                        tracing::debug!(peer = %connection.peer, status, why, "control request rejected");
                        let answer = response(status, "text/plain", &format!("{why}\n"));
                        return self.write_answer(slot, answer, Instant::now());
                    }
                }
            },
            State::Answering => {}
            State::Writing { .. } => self.write_more(slot),
        }
    }

    /// Starts sending `answer` on `slot`; the connection closes once it is sent.
    fn write_answer(&mut self, slot: usize, answer: Vec<u8>, now: Instant) {
        let Some(connection) = self.connections.get_mut(slot).and_then(Option::as_mut) else { return };
        connection.state = State::Writing { answer, sent: 0, deadline: now + RESPONSE_TIMEOUT };
        self.write_more(slot);
    }

    /// Writes what the socket takes; closes the connection when done or on an error.
    fn write_more(&mut self, slot: usize) {
        let Some(connection) = self.connections.get_mut(slot).and_then(Option::as_mut) else { return };
        let State::Writing { answer, sent, .. } = &mut connection.state else { return };
        while *sent < answer.len() {
            match connection.stream.write(&answer[*sent..]) {
                Ok(0) => break,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.close(slot);
    }

    /// Answers 408 to connections whose request did not arrive in time, and drops those that
    /// did not take their answer in time.
    fn expire(&mut self, now: Instant) {
        for slot in 0..self.connections.len() {
            let Some(connection) = &self.connections[slot] else { continue };
            match &connection.state {
                State::Reading(_) if now >= connection.accepted + REQUEST_TIMEOUT => {
                    tracing::debug!(peer = %connection.peer, "control request timed out");
                    let answer = response(408, "text/plain", "request timeout: send the whole request sooner\n");
                    self.write_answer(slot, answer, now);
                }
                State::Writing { deadline, .. } if now >= *deadline => self.close(slot),
                _ => {}
            }
        }
    }

    /// The earliest deadline of any open connection.
    fn next_deadline(&self) -> Option<Instant> {
        (self.connections.iter().flatten())
            .filter_map(|c| match &c.state {
                State::Reading(_) => Some(c.accepted + REQUEST_TIMEOUT),
                State::Answering => None,
                State::Writing { deadline, .. } => Some(*deadline),
            })
            .min()
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut connection) = self.connections.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            self.free.push(slot);
            self.open -= 1;
        }
    }
}

/// What the bytes received so far hold.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Not a whole request yet.
    Incomplete,
    /// A whole request.
    Complete(Request),
    /// Never a valid request: the status to answer with, and why.
    Rejected(u16, &'static str),
}

/// Parses a request from its first bytes, within MAX_HEAD and MAX_BODY.
fn parse(bytes: &[u8]) -> Parsed {
    let Some(head_end) = head_end(bytes) else {
        return if bytes.len() > MAX_HEAD {
            Parsed::Rejected(431, "request head too large")
        } else {
            Parsed::Incomplete
        };
    };
    if head_end > MAX_HEAD {
        return Parsed::Rejected(431, "request head too large");
    }
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = match (parts.next(), parts.next()) {
        (Some(m), Some(p)) => (m.to_string(), p.to_string()),
        _ => return Parsed::Rejected(400, "bad request: no request line"),
    };
    let mut length = 0usize;
    let mut authorization = None;
    for header in lines {
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => match value.trim().parse() {
                    Ok(n) => length = n,
                    Err(_) => return Parsed::Rejected(400, "bad request: bad Content-Length"),
                },
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    if length > MAX_BODY {
        return Parsed::Rejected(413, "request body too large");
    }
    let Some(body) = bytes.get(head_end..head_end + length) else { return Parsed::Incomplete };
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    let (path, query) = (path.to_string(), query.to_string());
    Parsed::Complete(Request { method, path, query, authorization, body: String::from_utf8_lossy(body).into_owned() })
}

/// Where the head ends: just after the first empty line (`\r\n` or `\n` line ends).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(offset) = bytes[start..].iter().position(|&b| b == b'\n') {
        let end = start + offset;
        let line = &bytes[start..end];
        if line.is_empty() || line == b"\r" {
            return Some(end + 1);
        }
        start = end + 1;
    }
    None
}

/// [`answer`], with a panic turned into a 500 so the handler thread lives on.
fn answer_caught(request: &Request, peer: Peer, token: Option<&str>, control: &Control) -> Vec<u8> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(request, peer, token, control))).unwrap_or_else(
        |_| {
            tracing::error!(path = %request.path, "control request handler panicked");
            response(500, "text/plain", "internal error\n")
        },
    )
}

/// Answers one complete request; the whole HTTP response.
fn answer(request: &Request, peer: Peer, token: Option<&str>, control: &Control) -> Vec<u8> {
    let changes_state = request.method != "GET";
    if changes_state && !allowed(peer, token, request.authorization.as_deref()) {
        tracing::info!(%peer, method = %request.method, path = %request.path, "control request refused");
        let why = if token.is_some() {
            "needs the control token (Authorization: Bearer TOKEN), or the control socket"
        } else {
            "without `control_token`, only the control socket and loopback callers may reload or override; set \
             `control_token` in [server] to accept others that send Authorization: Bearer TOKEN"
        };
        return response(403, "text/plain", &format!("forbidden: {why}\n"));
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => response_with(
            200,
            "text/html; charset=utf-8",
            &[
                ("Content-Security-Policy", page::content_security_policy()),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ],
            page::HTML,
        ),
        ("GET", "/metrics") => response(200, "text/plain; version=0.0.4", &control.metrics()),
        ("GET", "/status") => {
            let status = StatusFilter::from_query(&request.query)
                .map_err(|why| (400, why))
                .and_then(|filter| control.status_filtered(&filter).map_err(|why| (404, why)));
            match status {
                Ok(status) => {
                    let body = serde_json::to_string_pretty(&status).unwrap_or_else(|_| "{}".into());
                    response(200, "application/json", &body)
                }
                Err((code, why)) => {
                    response(code, "application/json", &serde_json::json!({ "ok": false, "errors": [why] }).to_string())
                }
            }
        }
        ("POST", "/reload") => match control.reload() {
            Ok(done) => {
                let body = serde_json::json!({
                    "ok": true,
                    "zones": done.zones,
                    "checks": done.checks,
                    "needs_restart": done.needs_restart,
                    "millis": done.millis,
                });
                response(200, "application/json", &body.to_string())
            }
            Err(e) => {
                let errors: Vec<String> = match &e {
                    ReloadError::Invalid(invalid) => invalid.problems.iter().map(ToString::to_string).collect(),
                    ReloadError::Apply(why) => vec![why.clone()],
                };
                let body = serde_json::json!({ "ok": false, "errors": errors });
                response(422, "application/json", &body.to_string())
            }
        },
        ("POST", path) if path.starts_with("/override/") => {
            let id = percent_decode(&path["/override/".len()..]);
            let state = request.body.trim();
            let force = match state {
                "up" => Some(true),
                "down" => Some(false),
                "auto" => None,
                other => {
                    return response(400, "text/plain", &format!("body must be up, down or auto, not {other:?}\n"))
                }
            };
            match control.set_override(&id, force) {
                Ok(Overridden::Applied) => {
                    let body = serde_json::json!({ "ok": true, "check": id, "override": state });
                    response(200, "application/json", &body.to_string())
                }
                Ok(Overridden::NotSaved(why)) => {
                    let error = format!("{id}: {state} is applied but not saved, so a restart forgets it: {why}");
                    let body = serde_json::json!({
                        "ok": false,
                        "applied": true,
                        "check": id,
                        "override": state,
                        "errors": [error],
                    });
                    response(500, "application/json", &body.to_string())
                }
                Ok(Overridden::NoSuchCheck) => {
                    response(404, "text/plain", &format!("no health check with id {id:?}\n"))
                }
                Err(e) => response(503, "text/plain", &format!("{e}\n")),
            }
        }
        ("GET", _) | ("POST", _) => response(
            404,
            "text/plain",
            "not found: GET /, GET /metrics, GET /status, POST /reload, POST /override/ID\n",
        ),
        _ => response(405, "text/plain", "method not allowed\n"),
    }
}

/// Whether `peer` may change state: over the control socket always (its file permissions
/// decided who could connect); over TCP from loopback when no token is configured (an IPv4
/// caller of a dual-stack `[::]` address, `::ffff:127.0.0.1`, counts as loopback), else with
/// the token.
fn allowed(peer: Peer, token: Option<&str>, authorization: Option<&str>) -> bool {
    let address = match peer {
        Peer::Socket => return true,
        Peer::Tcp(address) => address,
    };
    match token {
        None => address.ip().to_canonical().is_loopback(),
        Some(expected) => {
            let given = authorization.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
            // Compare in constant time for equal lengths.
            given.len() == expected.len()
                && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
    }
}

/// A whole HTTP response that closes the connection.
fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    response_with(status, content_type, &[], body)
}

/// [`response`] with more header fields.
fn response_with(status: u16, content_type: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let headers: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}Connection: \
         close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Decodes `%XX` escapes in a path segment or a query value.
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_loopback_and_socket_rules() {
        let tcp = |address: &str| Peer::Tcp(address.parse().unwrap());
        let (local, remote) = (tcp("127.0.0.1:1"), tcp("192.0.2.1:1"));
        assert!(allowed(local, None, None));
        assert!(allowed(tcp("[::1]:1"), None, None));
        assert!(allowed(tcp("[::ffff:127.0.0.1]:1"), None, None), "IPv4 loopback on a dual-stack socket");
        assert!(!allowed(remote, None, None));
        assert!(!allowed(tcp("[::ffff:192.0.2.1]:1"), None, None));
        assert!(allowed(Peer::Socket, None, None));
        let token = Some("0123456789abcdef");
        assert!(allowed(remote, token, Some("Bearer 0123456789abcdef")));
        assert!(!allowed(local, token, Some("Bearer 0123456789abcdeX")));
        assert!(!allowed(local, token, None));
        assert!(allowed(Peer::Socket, token, None), "the socket's file permissions are its access control");
    }

    #[test]
    fn parses_requests_within_the_limits() {
        let request = b"POST /override/web?x=1 HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 4\r\n\r\ndown";
        for cut in 0..request.len() {
            assert_eq!(parse(&request[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        let expected = Request {
            method: "POST".into(),
            path: "/override/web".into(),
            query: "x=1".into(),
            authorization: Some("Bearer t".into()),
            body: "down".into(),
        };
        assert_eq!(parse(request), Parsed::Complete(expected));
        let bare = parse(b"GET /metrics\n\n");
        assert!(matches!(bare, Parsed::Complete(Request { ref path, .. }) if path == "/metrics"), "{bare:?}");
    }

    #[test]
    fn rejects_what_exceeds_the_limits() {
        assert_eq!(parse(&vec![b'a'; MAX_HEAD + 1]), Parsed::Rejected(431, "request head too large"));
        assert_eq!(parse(&vec![b'a'; MAX_HEAD]), Parsed::Incomplete);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "p".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()), Parsed::Rejected(431, "request head too large"));
        let big = format!("POST /reload HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(parse(big.as_bytes()), Parsed::Rejected(413, "request body too large"));
        assert!(matches!(parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), Parsed::Rejected(400, _)));
        assert!(matches!(parse(b"\r\nGET / HTTP/1.1\r\n\r\n"), Parsed::Rejected(400, _)));
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("web%201"), "web 1");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
