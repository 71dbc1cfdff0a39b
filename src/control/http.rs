//! The control endpoint: a small HTTP/1.1 server on its own thread (one request per
//! connection). GET /metrics, GET /status; POST /reload and POST /override/ID (body `up`,
//! `down` or `auto`) only from loopback callers, or with the configured bearer token.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Control, ReloadError};
use crate::server::Shared;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request body accepted.
const MAX_BODY: usize = 4096;
/// Largest request head accepted.
const MAX_HEAD: usize = 8192;

/// The running endpoint.
pub struct Endpoint {
    /// Where it listens.
    pub address: SocketAddr,
    thread: JoinHandle<()>,
}

impl Endpoint {
    /// Waits for the thread (it stops with the server).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Binds the endpoint's socket (before privileges are dropped).
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves on `listener` until the server stops.
pub fn start(
    listener: TcpListener,
    token: Option<String>,
    control: Arc<Control>,
    shared: Arc<Shared>,
) -> io::Result<Endpoint> {
    let address = listener.local_addr()?;
    let thread = std::thread::Builder::new().name("control".into()).spawn(move || {
        while !shared.stopping() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    if let Err(e) = handle(stream, peer, token.as_deref(), &control) {
                        tracing::debug!(error = %e, %peer, "control request failed");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    tracing::warn!(error = %e, "control endpoint accept failed");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    })?;
    Ok(Endpoint { address, thread })
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

fn handle(stream: TcpStream, peer: SocketAddr, token: Option<&str>, control: &Control) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(stream);
    let request = match read_request(&mut reader) {
        Ok(request) => request,
        Err(e) => return respond(reader.get_mut(), 400, "text/plain", &format!("bad request: {e}\n")),
    };
    let stream = reader.get_mut();
    let changes_state = request.method != "GET";
    if changes_state && !allowed(peer, token, request.authorization.as_deref()) {
        let why =
            if token.is_some() { "needs the control token (Authorization: Bearer ...)" } else { "only from loopback" };
        return respond(stream, 403, "text/plain", &format!("forbidden: {why}\n"));
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/metrics") => respond(stream, 200, "text/plain; version=0.0.4", &control.metrics()),
        ("GET", "/status") => {
            let body = serde_json::to_string_pretty(&control.status()).unwrap_or_else(|_| "{}".into());
            respond(stream, 200, "application/json", &body)
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
                respond(stream, 200, "application/json", &body.to_string())
            }
            Err(e) => {
                let errors: Vec<String> = match &e {
                    ReloadError::Invalid(invalid) => invalid.problems.iter().map(ToString::to_string).collect(),
                    ReloadError::Apply(why) => vec![why.clone()],
                };
                let body = serde_json::json!({ "ok": false, "errors": errors });
                respond(stream, 422, "application/json", &body.to_string())
            }
        },
        ("POST", path) if path.starts_with("/override/") => {
            let id = percent_decode(&path["/override/".len()..]);
            let force = match request.body.trim() {
                "up" => Some(true),
                "down" => Some(false),
                "auto" => None,
                other => {
                    return respond(
                        stream,
                        400,
                        "text/plain",
                        &format!("body must be up, down or auto, not {other:?}\n"),
                    )
                }
            };
            match control.set_override(&id, force) {
                Ok(true) => {
                    let body = serde_json::json!({ "ok": true, "check": id, "override": request.body.trim() });
                    respond(stream, 200, "application/json", &body.to_string())
                }
                Ok(false) => respond(stream, 404, "text/plain", &format!("no health check with id {id:?}\n")),
                Err(e) => respond(stream, 503, "text/plain", &format!("{e}\n")),
            }
        }
        ("GET", _) | ("POST", _) => respond(
            stream,
            404,
            "text/plain",
            "not found: GET /metrics, GET /status, POST /reload, POST /override/ID\n",
        ),
        _ => respond(stream, 405, "text/plain", "method not allowed\n"),
    }
}

fn allowed(peer: SocketAddr, token: Option<&str>, authorization: Option<&str>) -> bool {
    match token {
        None => peer.ip().is_loopback(),
        Some(expected) => {
            let given = authorization.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
            // Compare in constant time for equal lengths.
            given.len() == expected.len()
                && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Request, String> {
    let mut line = String::new();
    let mut head = 0usize;
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    head += line.len();
    let mut parts = line.split_whitespace();
    let (method, path) = match (parts.next(), parts.next()) {
        (Some(m), Some(p)) => (m.to_string(), p.to_string()),
        _ => return Err("no request line".into()),
    };
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(|e| e.to_string())?;
        head += header.len();
        if head > MAX_HEAD {
            return Err("request head too large".into());
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().map_err(|_| "bad Content-Length")?,
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    if length > MAX_BODY {
        return Err("body too large".into());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    let path = path.split('?').next().unwrap_or("").to_string();
    Ok(Request { method, path, authorization, body: String::from_utf8_lossy(&body).into_owned() })
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        422 => "Unprocessable Entity",
        _ => "Service Unavailable",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Decodes `%XX` escapes in a path segment.
fn percent_decode(text: &str) -> String {
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
    fn token_and_loopback_rules() {
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:1".parse().unwrap();
        assert!(allowed(local, None, None));
        assert!(!allowed(remote, None, None));
        let token = Some("0123456789abcdef");
        assert!(allowed(remote, token, Some("Bearer 0123456789abcdef")));
        assert!(!allowed(local, token, Some("Bearer 0123456789abcdeX")));
        assert!(!allowed(local, token, None));
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("web%201"), "web 1");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
