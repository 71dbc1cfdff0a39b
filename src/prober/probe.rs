//! One probe of one endpoint, as a non-blocking state machine driven by the prober's mio
//! loop: connect, then (HTTP kinds) TLS, request, and a [`ResponseReader`] verdict. Memory is
//! bounded by the reader; time by three deadlines (connect, status, body).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::http::{ResponseReader, Stage, Verdict};
use super::tls::TlsConfigs;
use crate::config::{CheckConfig, CheckKind};

/// The User-Agent probes send.
pub const USER_AGENT: &str = concat!("eightfold-health-check/", env!("CARGO_PKG_VERSION"));
/// Route 53's wording for a connect timeout.
pub const TIMED_OUT: &str = "Failure: Connection timed out. The endpoint or the internet connection is down, or requests are being blocked by your firewall.";

/// How far a probe has got.
enum Phase {
    Connecting,
    Exchanging,
}

/// One probe in flight.
pub struct Attempt {
    stream: TcpStream,
    tls: Option<rustls::ClientConnection>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    phase: Phase,
    kind: CheckKind,
    request: Vec<u8>,
    written: usize,
    reader: Option<ResponseReader>,
    started: Instant,
    deadline: Instant,
    body_deadline: bool,
    response_timeout: Duration,
    body_timeout: Duration,
    server_name: rustls::pki_types::ServerName<'static>,
    search: Option<String>,
}

/// A finished probe.
pub enum Outcome {
    /// The endpoint passed or failed: the verdict, with its reason, and the time from start
    /// to verdict.
    Measured(Verdict, Duration),
    /// This host could not run the probe (out of file descriptors, memory, buffers or local
    /// ports; see [`is_local`]): no result, which says nothing about the endpoint, so it
    /// does not count toward the failure threshold. The reason.
    NoResult(String),
}

/// Whether an error is this host's, not the endpoint's: out of file descriptors (EMFILE,
/// ENFILE), memory or socket buffers (ENOMEM, ENOBUFS), or local ports and routes
/// (EADDRNOTAVAIL, EAGAIN from `connect`).
pub fn is_local(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS | libc::EADDRNOTAVAIL | libc::EAGAIN)
    )
}

impl Attempt {
    /// Starts connecting to `addr` for `check`.
    pub fn start(
        check: &CheckConfig,
        addr: SocketAddr,
        tls: &TlsConfigs,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> Result<Attempt, Outcome> {
        let failed = |reason| Outcome::Measured(Verdict::fail(reason), Duration::ZERO);
        let tls_config = if check.kind.is_tls() { Some(tls.for_check(check).map_err(failed)?) } else { None };
        let mut stream = TcpStream::connect(addr).map_err(|e| match is_local(&e) {
            true => Outcome::NoResult(format!("cannot open a connection: {e}")),
            false => failed(connect_failure(&e)),
        })?;
        // Registering fails only for want of kernel memory or watches: this host's problem.
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Outcome::NoResult(format!("cannot watch a connection: {e}")))?;
        Ok(Attempt {
            stream,
            tls: None,
            tls_config,
            phase: Phase::Connecting,
            kind: check.kind,
            request: if check.kind.is_http() { request(check, addr) } else { Vec::new() },
            written: 0,
            reader: None,
            started: now,
            deadline: now + check.connect_timeout,
            body_deadline: false,
            response_timeout: check.response_timeout,
            body_timeout: check.body_timeout,
            server_name: TlsConfigs::server_name(check, addr.ip()),
            search: check.search_string.clone(),
        })
    }

    /// When the current stage times out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Unregisters the socket (the connection closes when the attempt is dropped).
    pub fn close(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    /// Called when the deadline passed.
    pub fn timed_out(&self, now: Instant) -> Outcome {
        let reason = match (&self.phase, self.reader.as_ref().map(ResponseReader::stage)) {
            (Phase::Connecting, _) => TIMED_OUT.to_string(),
            (Phase::Exchanging, Some(Stage::Body)) => {
                format!("Failure: The response body did not arrive within {:?} of the status line", self.body_timeout)
            }
            (Phase::Exchanging, _) => {
                format!("Failure: No HTTP status line within {:?} of connecting", self.response_timeout)
            }
        };
        self.finish(Verdict::fail(reason), now)
    }

    /// Drives the attempt after a readiness event; returns the outcome once decided.
    pub fn advance(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outcome> {
        if let Phase::Connecting = self.phase {
            match self.stream.take_error() {
                Ok(Some(e)) | Err(e) if is_local(&e) => {
                    return Some(Outcome::NoResult(format!("cannot connect: {e}")));
                }
                Ok(Some(e)) | Err(e) => return Some(self.finish(Verdict::fail(connect_failure(&e)), now)),
                Ok(None) => {}
            }
            match self.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(e) => return Some(self.finish(Verdict::fail(connect_failure(&e)), now)),
            }
            if self.kind == CheckKind::Tcp {
                return Some(self.finish(Verdict::pass("Success: TCP connection established"), now));
            }
            self.phase = Phase::Exchanging;
            self.deadline = now + self.response_timeout;
            self.reader = Some(ResponseReader::new(self.search.as_deref()));
            if let Some(config) = self.tls_config.take() {
                match rustls::ClientConnection::new(config, self.server_name.clone()) {
                    Ok(mut conn) => {
                        let _ = conn.writer().write_all(&self.request);
                        self.written = self.request.len();
                        self.tls = Some(conn);
                    }
                    Err(e) => return Some(self.finish(Verdict::fail(format!("Failure: TLS: {e}")), now)),
                }
            }
        }
        let verdict = if self.tls.is_some() { self.exchange_tls(buf) } else { self.exchange_plain(buf) };
        match verdict {
            Some(v) => Some(self.finish(v, now)),
            None => {
                // Once the status line is in, the body gets its own deadline.
                if !self.body_deadline && self.reader.as_ref().is_some_and(|r| r.stage() == Stage::Body) {
                    self.body_deadline = true;
                    self.deadline = now + self.body_timeout;
                }
                None
            }
        }
    }

    fn exchange_plain(&mut self, buf: &mut [u8]) -> Option<Verdict> {
        while self.written < self.request.len() {
            match self.stream.write(&self.request[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Verdict::fail(format!("Failure: sending the request: {e}"))),
            }
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Some(self.reader.as_mut()?.finish()),
                Ok(n) => {
                    if let Some(v) = self.reader.as_mut()?.feed(&buf[..n]) {
                        return Some(v);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Verdict::fail(format!("Failure: reading the response: {e}"))),
            }
        }
    }

    fn exchange_tls(&mut self, buf: &mut [u8]) -> Option<Verdict> {
        let tls = self.tls.as_mut()?;
        loop {
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(Verdict::fail(format!("Failure: sending over TLS: {e}"))),
                }
            }
            let read = match tls.read_tls(&mut self.stream) {
                Ok(0) => return Some(self.reader.as_mut()?.finish()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Verdict::fail(format!("Failure: reading over TLS: {e}"))),
            };
            debug_assert!(read > 0);
            if let Err(e) = tls.process_new_packets() {
                return Some(Verdict::fail(format!("Failure: TLS handshake failed: {e}")));
            }
            loop {
                match tls.reader().read(buf) {
                    Ok(0) => return Some(self.reader.as_mut()?.finish()),
                    Ok(n) => {
                        if let Some(v) = self.reader.as_mut()?.feed(&buf[..n]) {
                            return Some(v);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Some(Verdict::fail(format!("Failure: reading over TLS: {e}"))),
                }
            }
        }
    }

    fn finish(&self, verdict: Verdict, now: Instant) -> Outcome {
        Outcome::Measured(verdict, now.duration_since(self.started))
    }
}

/// The GET request: Host is the FQDN (with `:port` off the default port) or the address.
fn request(check: &CheckConfig, addr: SocketAddr) -> Vec<u8> {
    let default_port = if check.kind.is_tls() { 443 } else { 80 };
    let host = match &check.fqdn {
        Some(fqdn) => fqdn.clone(),
        None => match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        },
    };
    let host = if addr.port() == default_port { host } else { format!("{host}:{}", addr.port()) };
    let accept_encoding = if check.kind.is_str_match() { "Accept-Encoding: gzip, deflate\r\n" } else { "" };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n{accept_encoding}Connection: close\r\n\r\n",
        check.resource_path
    )
    .into_bytes()
}

/// Route 53's wording where it has one.
fn connect_failure(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "Failure: Connection refused. The endpoint is not listening on the port".into()
        }
        io::ErrorKind::TimedOut => TIMED_OUT.into(),
        _ => format!("Failure: Could not connect: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_errors_say_nothing_about_the_endpoint() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM, libc::EADDRNOTAVAIL] {
            assert!(is_local(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::ECONNREFUSED, libc::ETIMEDOUT, libc::ENETUNREACH, libc::EHOSTUNREACH, libc::ECONNRESET] {
            assert!(!is_local(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        assert!(!is_local(&io::Error::other("no errno")));
    }

    #[test]
    fn host_header_follows_route53() {
        let mut check = CheckConfig::new("c", CheckKind::Http);
        let text = |c: &CheckConfig, addr: &str| String::from_utf8(request(c, addr.parse().unwrap())).unwrap();
        assert!(text(&check, "192.0.2.1:80").contains("\r\nHost: 192.0.2.1\r\n"));
        assert!(text(&check, "192.0.2.1:8080").contains("\r\nHost: 192.0.2.1:8080\r\n"));
        check.fqdn = Some("www.example.com".into());
        assert!(text(&check, "192.0.2.1:80").contains("\r\nHost: www.example.com\r\n"));
        assert!(text(&check, "192.0.2.1:81").contains("\r\nHost: www.example.com:81\r\n"));
        let https = CheckConfig { fqdn: Some("a.example".into()), ..CheckConfig::new("s", CheckKind::Https) };
        assert!(text(&https, "192.0.2.1:443").contains("\r\nHost: a.example\r\n"));
        assert!(text(&https, "[2001:db8::1]:8443").contains("\r\nHost: a.example:8443\r\n"));
        assert!(text(&check, "192.0.2.1:80").starts_with("GET / HTTP/1.1\r\n"));
        assert!(text(&check, "192.0.2.1:80").contains("User-Agent: eightfold"));
    }
}
