//! The control endpoint under misuse: every read is bounded, each request has one deadline,
//! slow clients do not hold the others up, and an override the server could not save is
//! reported as such.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

/// A server with a control endpoint and one health check, `web` (a closed port, probed
/// rarely), plus `extra` in `[server]`.
fn start(extra: &str) -> TestServer {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\n{extra}{ZONE_BODY}\
         [[health_check]]\nid = \"web\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\nrequest_interval = 30\n"
    );
    TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[])
}

/// One request with a read timeout; (status, body), or the error that ended it.
fn timed_request(control: SocketAddr, method: &str, path: &str, limit: Duration) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&control, limit).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.set_write_timeout(Some(limit)).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("not HTTP")?;
    Ok((code, body.to_string()))
}

#[test]
fn an_endless_request_line_is_cut_off_without_growing_the_server() {
    let s = start("");
    let control = s.control.unwrap();
    let before = rss_kib(s.pid());
    let mut stream = TcpStream::connect(control).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let (mut sent, mut peak) = (0usize, before);
    let started = Instant::now();
    let mut closed = false;
    // 64 MiB without a newline, at most 30 s.
    while sent < 64 << 20 && started.elapsed() < Duration::from_secs(30) {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => {
                closed = true;
                break;
            }
        }
        if sent % (1 << 20) < chunk.len() {
            peak = peak.max(rss_kib(s.pid()));
        }
    }
    peak = peak.max(rss_kib(s.pid()));
    assert!(peak < before + 16 * 1024, "the server grew from {before} KiB to {peak} KiB on {sent} bytes");
    assert!(closed, "the server kept reading: {sent} bytes taken without a newline");
    assert!(sent < 32 << 20, "the connection was closed only after {sent} bytes");
    let (code, metrics) = timed_request(control, "GET", "/metrics", Duration::from_secs(10)).unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("eightfold_build_info"), "{metrics}");
}

#[test]
fn oversized_heads_and_bodies_are_answered_with_an_error() {
    let s = start("");
    let control = s.control.unwrap();
    let exchange = |request: &[u8]| {
        let mut stream = TcpStream::connect(control).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(request);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    };
    let long_header = format!("GET /metrics HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(9000));
    assert!(exchange(long_header.as_bytes()).starts_with("HTTP/1.1 431 "), "a head over the limit");
    let big_body = "POST /override/web HTTP/1.1\r\nContent-Length: 100000\r\n\r\nup";
    assert!(exchange(big_body.as_bytes()).starts_with("HTTP/1.1 413 "), "a body over the limit");
    assert_eq!(timed_request(control, "GET", "/metrics", Duration::from_secs(10)).unwrap().0, 200);
}

#[test]
fn slow_clients_do_not_hold_up_the_control_plane() {
    let s = start("");
    let control = s.control.unwrap();
    // Three connections that never send a byte, and two that send one every 250 ms.
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(control).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let tricklers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(control).unwrap();
                stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
                let started = Instant::now();
                let request = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
                let mut i = 0;
                // Bounded: 80 bytes or 20 s; returns how long the server kept the connection.
                while !stop.load(Ordering::Relaxed) && i < 80 && started.elapsed() < Duration::from_secs(20) {
                    let byte = request.get(i).copied().unwrap_or(b'x');
                    if stream.write_all(&[byte]).is_err() {
                        return Some(started.elapsed());
                    }
                    let mut buf = [0u8; 512];
                    match stream.read(&mut buf) {
                        Ok(_) => return Some(started.elapsed()),
                        Err(e)
                            if e.kind() != std::io::ErrorKind::WouldBlock
                                && e.kind() != std::io::ErrorKind::TimedOut =>
                        {
                            return Some(started.elapsed())
                        }
                        Err(_) => {}
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                None
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Today's serial endpoint holds each silent connection for its whole read timeout.
    let limit = Duration::from_secs(4);
    let started = Instant::now();
    let (code, metrics) = timed_request(control, "GET", "/metrics", limit).expect("GET /metrics while others stall");
    assert_eq!(code, 200);
    assert!(metrics.contains("eightfold_build_info"));
    let took = started.elapsed();
    assert!(took < limit, "GET /metrics took {took:?}");
    let started = Instant::now();
    let (code, out) = s.cli(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(started.elapsed() < limit, "eightfold reload took {:?}", started.elapsed());
    // Each request has one deadline from accept: the tricklers are cut off, not kept forever.
    for trickler in tricklers {
        let held = trickler.join().unwrap();
        assert!(held.is_some(), "a connection trickling a byte every 250 ms was kept open for 20 s");
    }
    stop.store(true, Ordering::Relaxed);
    drop(silent);
}

#[test]
fn a_flood_of_connections_is_capped_and_the_endpoint_recovers() {
    let s = start("");
    let control = s.control.unwrap();
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", s.pid())).unwrap().count();
    let before = fds();
    // 300 connections at most, 20 s at most; a connection the backlog cannot take gives up.
    let started = Instant::now();
    let flood: Vec<TcpStream> = (0..300)
        .take_while(|_| started.elapsed() < Duration::from_secs(20))
        .filter_map(|_| TcpStream::connect_timeout(&control, Duration::from_millis(200)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = fds();
    assert!(during < before + 100, "{} open connections took {} fds (from {before})", flood.len(), during);
    drop(flood);
    let until = Instant::now() + Duration::from_secs(15);
    let mut last = Err(String::new());
    while Instant::now() < until {
        last = timed_request(control, "GET", "/metrics", Duration::from_secs(5));
        if matches!(last, Ok((200, _))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(matches!(last, Ok((200, _))), "{last:?}");
}

#[test]
fn an_override_that_cannot_be_saved_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the state file should be, put there once the server runs (one found
    // at start is moved aside as a damaged state file): the override cannot be written.
    let state = dir.path().join("state.toml");
    let s = start(&format!("state_file = \"{}\"\n", state.display()));
    let _ = std::fs::remove_file(&state);
    std::fs::create_dir(&state).unwrap();
    let (code, out) = s.cli(&["override", "web", "down"]);
    assert_ne!(code, 0, "an unsaved override reported as done: {out}");
    assert!(out.contains(&state.display().to_string()), "the message names the file: {out}");
    assert!(out.contains("os error"), "the message gives the OS error: {out}");
    assert!(out.contains("not saved"), "{out}");
    // It is applied all the same.
    let (code, json) = s.http("GET", "/status", "", "");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["checks"][0]["forced"], "down", "{json}");
    let (code, body) = s.http("POST", "/override/web", "", "auto");
    assert!(code >= 500, "{code} {body}");
    assert!(body.contains("not saved"), "{body}");
}
