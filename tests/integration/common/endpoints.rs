//! Endpoints for health-check tests, on 127.0.0.x loopback addresses and free ports: an HTTP
//! server whose behaviour a test switches at run time (status, body, silence, trickle, flood),
//! a bare TCP listener that can go down and come back, and an HTTPS server with a
//! self-signed certificate. Each stops when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an HTTP endpoint does with a request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Answer with this status and body.
    Respond(u16, String),
    /// Accept, read, never answer.
    Silent,
    /// Send a valid response one byte a second.
    Trickle,
    /// Send endless headers as fast as the socket takes them.
    FloodHeaders,
    /// Send a 200 and then an endless body.
    FloodBody,
}

/// An HTTP (or HTTPS) server on a loopback address.
pub struct HttpEndpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// Host headers seen, most recent last.
    pub hosts: Arc<Mutex<Vec<String>>>,
}

impl HttpEndpoint {
    /// Starts a plain HTTP endpoint on `ip`, answering 200 "OK".
    pub fn start(ip: &str) -> Self {
        Self::start_with(ip, None)
    }

    /// Starts an HTTPS endpoint with a self-signed certificate for `name`; returns it and the
    /// certificate in PEM.
    pub fn start_tls(ip: &str, name: &str) -> (Self, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_string(), ip.to_string()]).unwrap();
        let pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        (Self::start_with(ip, Some(Arc::new(config))), pem)
    }

    fn start_with(ip: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = HttpEndpoint {
            addr: listener.local_addr().unwrap(),
            behaviour: Arc::new(Mutex::new(Behaviour::Respond(200, "OK".into()))),
            hits: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            hosts: Arc::new(Mutex::new(Vec::new())),
        };
        let (behaviour, hits, stop, hosts) =
            (endpoint.behaviour.clone(), endpoint.hits.clone(), endpoint.stop.clone(), endpoint.hosts.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        hits.fetch_add(1, Ordering::Relaxed);
                        let behaviour = behaviour.lock().unwrap().clone();
                        let (stop, hosts, tls) = (stop.clone(), hosts.clone(), tls.clone());
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).unwrap();
                            let _ = match tls {
                                None => serve(stream, behaviour, &stop, &hosts),
                                Some(config) => {
                                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                                    serve(rustls::StreamOwned::new(conn, stream), behaviour, &stop, &hosts)
                                }
                            };
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        endpoint
    }

    /// Changes what later requests get.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for HttpEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve<S: Read + Write>(
    mut stream: S,
    behaviour: Behaviour,
    stop: &AtomicBool,
    hosts: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    if let Some(host) = text.lines().find_map(|l| l.strip_prefix("Host: ")) {
        hosts.lock().unwrap().push(host.to_string());
    }
    match behaviour {
        Behaviour::Respond(status, body) => {
            let response =
                format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            stream.write_all(response.as_bytes())?;
            stream.flush()?;
        }
        Behaviour::Silent => {
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Behaviour::Trickle => {
            for byte in b"HTTP/1.1 200 OK\r\n\r\nOK".iter() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                stream.write_all(&[*byte])?;
                stream.flush()?;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Behaviour::FloodHeaders | Behaviour::FloodBody => {
            let flood_body = matches!(behaviour, Behaviour::FloodBody);
            if flood_body {
                stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            } else {
                stream.write_all(b"HTTP/1.1 200 OK\r\n")?;
            }
            let chunk = if flood_body {
                vec![b'x'; 65536]
            } else {
                b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(1024)
            };
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                stream.write_all(&chunk)?;
            }
        }
    }
    Ok(())
}

/// A bare TCP listener that can stop listening (connection refused) and start again on
/// the same address.
pub struct TcpEndpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl TcpEndpoint {
    /// Starts listening on `ip`.
    pub fn start(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (up2, stop2) = (up.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop2.load(Ordering::Relaxed) {
                let want = up2.load(Ordering::Relaxed);
                if want && listener.is_none() {
                    listener = TcpListener::bind(addr).ok();
                } else if !want {
                    listener = None;
                }
                if let Some(l) = &listener {
                    l.set_nonblocking(true).unwrap();
                    while let Ok((s, _)) = l.accept() {
                        drop(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        TcpEndpoint { addr, up, stop }
    }

    /// Stops or resumes listening.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        // Give the listener thread a moment to act.
        std::thread::sleep(Duration::from_millis(50));
        if up {
            let until = Instant::now() + Duration::from_secs(5);
            while TcpStream::connect(self.addr).is_err() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for TcpEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls `f` every 100 ms until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
