//! TCP limits against the running binary: pipelining (RFC 7766 section 6.2.1), clients that
//! send but do not read, and running out of file descriptors.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::endpoints::eventually;
use crate::common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn config(server: &str) -> String {
    format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\n{server}{ZONE_BODY}")
}

/// The test zone with `big TXT`, whose answer is about 3.8 KB.
fn zone_with_big_answer() -> String {
    let mut zone = ZONE.to_string();
    for i in 0..15 {
        zone.push_str(&format!("big TXT \"{i:02}{}\"\n", "x".repeat(248)));
    }
    zone
}

/// `count` length-prefixed queries for `name`, with IDs 0, 1, 2 and so on (wrapping at
/// 65,536), back to back.
fn pipeline(name: &str, qtype: RecordType, count: usize) -> Vec<u8> {
    let wire = message(name, qtype, None).to_vec().unwrap();
    let mut bytes = Vec::with_capacity(count * (wire.len() + 2));
    for i in 0..count {
        bytes.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        bytes.extend_from_slice(&(i as u16).to_be_bytes());
        bytes.extend_from_slice(&wire[2..]);
    }
    bytes
}

/// Writes `count` pipelined queries on one connection in one go, waits `pause` before
/// reading, then reads answers until `count` came or none comes for 5 s.
fn pipelined(s: &TestServer, name: &str, qtype: RecordType, count: usize, pause: Duration) -> Vec<Message> {
    let mut stream = s.connect();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let bytes = pipeline(name, qtype, count);
    let written = std::thread::spawn(move || writer.write_all(&bytes));
    std::thread::sleep(pause);
    let mut answers = Vec::new();
    while answers.len() < count {
        match read_framed(&mut stream) {
            Some(bytes) => answers.push(Message::from_vec(&bytes).expect("answer parses")),
            None => break,
        }
    }
    written.join().unwrap().expect("every query written");
    answers
}

/// Every answer is there, in order, with its query's ID.
fn assert_every_answer(answers: &[Message], count: usize, records: usize) {
    let ids: Vec<u16> = answers.iter().map(Message::id).collect();
    let expected: Vec<u16> = (0..count).map(|i| i as u16).collect();
    let missing = count.saturating_sub(ids.len());
    assert!(ids == expected, "{missing} of {count} answers missing, or out of order");
    for m in answers {
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(m.answers().len(), records);
    }
}

#[test]
fn thousands_of_pipelined_queries_are_all_answered() {
    let s = TestServer::start_config(&config(""), &[("example.com.zone", ZONE)], &[]);
    let answers = pipelined(&s, "static.example.com.", RecordType::A, 5000, Duration::from_millis(500));
    assert_every_answer(&answers, 5000, 1);
    // The connection was not taken for a half-sent message meanwhile: it still answers.
    let answers = pipelined(&s, "static.example.com.", RecordType::A, 1300, Duration::ZERO);
    assert_every_answer(&answers, 1300, 1);
    // A connection with queries to spare takes turns with the others.
    std::thread::scope(|scope| {
        let busy = scope.spawn(|| pipelined(&s, "static.example.com.", RecordType::A, 50_000, Duration::ZERO));
        std::thread::sleep(Duration::from_millis(100));
        answered_promptly(&s, "a client beside one that pipelines 50,000 queries");
        assert_every_answer(&busy.join().unwrap(), 50_000, 1);
    });
}

#[test]
fn pipelined_queries_with_large_answers_are_all_answered() {
    let s = TestServer::start_config(&config(""), &[("example.com.zone", &zone_with_big_answer())], &[]);
    let one = s.tcp(&message("big.example.com.", RecordType::TXT, None)).to_vec().unwrap();
    assert!(one.len() > 3800, "the answer is {} bytes", one.len());
    let answers = pipelined(&s, "big.example.com.", RecordType::TXT, 100, Duration::from_millis(500));
    assert_every_answer(&answers, 100, 15);
    let answers = pipelined(&s, "big.example.com.", RecordType::TXT, 400, Duration::from_millis(2500));
    assert_every_answer(&answers, 400, 15);
}

/// What docs/operations.md promises a connection holds at most with ordinary queries and
/// answers (16 KiB of input, 16 KiB of answers waiting, and one more answer), with room for
/// the allocator's own overhead.
const PER_CONNECTION_KIB: u64 = 48;

#[test]
fn clients_that_never_read_hold_little_memory_and_get_every_answer_once_they_read() {
    const CLIENTS: usize = 100;
    const QUERIES: usize = 20_000;
    let zone = zone_with_big_answer();
    let s = TestServer::start_config(&config("tcp_idle_timeout = 120\n"), &[("example.com.zone", &zone)], &[]);
    // One exchange first, so that the TCP thread's own buffers count in the baseline.
    assert_eq!(s.tcp(&message("big.example.com.", RecordType::TXT, None)).answers().len(), 15);
    std::thread::sleep(Duration::from_millis(300));
    let baseline = rss_kib(s.pid());
    // 40-byte queries for 3.8 KB answers: the answers back up long before the queries do.
    let queries = pipeline("big.example.com.", RecordType::TXT, QUERIES);
    // Small send buffers (no autotuning) keep what the kernel holds for each client small,
    // so that the server soon has to stop reading from them.
    let mut clients: Vec<(TcpStream, usize)> = (0..CLIENTS)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_send_buffer_size(64 * 1024).unwrap();
            socket.connect(&s.addr.into()).unwrap();
            socket.set_nonblocking(true).unwrap();
            (TcpStream::from(socket), 0)
        })
        .collect();
    // Send what the kernel takes, never reading, until no client gets further for a second.
    let mut progress = Instant::now();
    while progress.elapsed() < Duration::from_secs(1) {
        for (stream, sent) in clients.iter_mut().filter(|(_, sent)| *sent < queries.len()) {
            match stream.write(&queries[*sent..]) {
                Ok(n) => {
                    *sent += n;
                    progress = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let blocked = clients.iter().filter(|(_, sent)| *sent < queries.len()).count();
    assert_eq!(blocked, CLIENTS, "the server reads on and on from clients that do not read");
    let peak = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            rss_kib(s.pid())
        })
        .max()
        .unwrap();
    let per_client = peak.saturating_sub(baseline) / CLIENTS as u64;
    eprintln!("RSS {baseline} KiB, then {peak} KiB: {per_client} KiB per client that does not read");
    assert!(
        per_client <= PER_CONNECTION_KIB,
        "RSS grew from {baseline} KiB to {peak} KiB: {per_client} KiB per client that does not read"
    );
    // Now one of them reads: every answer comes, in order, as it sends the rest.
    let (mut stream, sent) = clients.swap_remove(0);
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let rest = queries[sent..].to_vec();
    let written = std::thread::spawn(move || writer.write_all(&rest));
    let mut got = 0;
    while got < QUERIES {
        let Some(bytes) = read_framed(&mut stream) else { break };
        assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), got as u16, "answer {got} out of order");
        got += 1;
    }
    assert_eq!(got, QUERIES, "answers received once the client read");
    written.join().unwrap().unwrap();
}

/// A pre-exec hook that sets the open files limit, soft and hard, to `limit`.
fn open_files_limit(limit: u64) -> impl FnOnce(&mut Command) {
    move |command| {
        // SAFETY: the hook runs in the forked child before exec and only calls setrlimit,
        // which is async-signal-safe, on a local struct.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `GET /metrics` with timeouts; its status, or None when no answer came.
fn metrics_status(control: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&control, ANSWER_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Opens `count` connections that each ask one question and then stay open without reading.
fn keep_alive_clients(s: &TestServer, count: usize) -> Vec<TcpStream> {
    let query = message("static.example.com.", RecordType::A, None).to_vec().unwrap();
    (0..count)
        .map(|_| {
            let mut stream = s.connect();
            write_framed(&mut stream, &query);
            stream
        })
        .collect()
}

fn answered_promptly(s: &TestServer, what: &str) {
    let started = Instant::now();
    let m = s.tcp(&message("static.example.com.", RecordType::A, None));
    assert_eq!(m.answers().len(), 1, "{what}");
    assert!(started.elapsed() < Duration::from_secs(2), "{what}: answered in {:?}", started.elapsed());
}

#[test]
fn under_a_low_open_files_limit_the_connection_cap_leaves_room_for_the_rest() {
    const LIMIT: u64 = 256;
    let s = TestServer::start_config_with(&config(""), &[("example.com.zone", ZONE)], &[], open_files_limit(LIMIT));
    // The log says the cap was lowered, with the configured and the effective numbers.
    let out = s.output();
    let line = out
        .lines()
        .find(|l| l.contains("tcp_max_connections") && l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning about tcp_max_connections:\n{out}"));
    assert!(line.contains("configured=1024"), "{line}");
    assert!(line.contains(&format!("open_files_limit={LIMIT}")), "{line}");
    let effective: usize = line
        .split("effective=")
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no effective cap in {line}"));
    assert!((64..LIMIT as usize - 64).contains(&effective), "{line}");
    // More keep-alive clients than descriptors.
    let kept = keep_alive_clients(&s, LIMIT as usize + 100);
    for i in 0..16 {
        answered_promptly(&s, &format!("new client {i}"));
    }
    assert_eq!(s.query("static.example.com.", RecordType::A).answers().len(), 1);
    assert_eq!(metrics_status(s.control.unwrap()), Some(200), "the control endpoint still accepts");
    assert!(open_descriptors(s.pid()) < LIMIT as usize, "{} descriptors open", open_descriptors(s.pid()));
    drop(kept);
}

#[test]
fn out_of_descriptors_at_accept_the_longest_idle_connection_makes_room() {
    let s = TestServer::start_config(&config(""), &[("example.com.zone", ZONE)], &[]);
    // Lower the running server's limit to just above what it has open, under its cap.
    let limit = open_descriptors(s.pid()) as u64 + 40;
    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: prlimit on the child's pid with a valid new limit and no old one wanted.
    let rc = unsafe { libc::prlimit(s.pid() as libc::pid_t, libc::RLIMIT_NOFILE, &rlimit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let mut kept = Vec::new();
    for i in 0..120 {
        kept.extend(keep_alive_clients(&s, 1));
        answered_promptly(&s, &format!("client {i} after {} keep-alive ones", kept.len()));
    }
    assert!(eventually(Duration::from_secs(2), || s.output().contains("out of file descriptors")), "{}", s.output());
    drop(kept);
}
