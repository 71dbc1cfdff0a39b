//! Under attack: response rate limiting, TCP connection floods and half-sent messages,
//! health targets that flood the prober, and dropping root after binding port 53.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::endpoints::{eventually, Behaviour, HttpEndpoint};
use crate::common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn config(server: &str, body: &str) -> String {
    format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\n{server}{ZONE_BODY}{body}")
}

/// The server on `config`, with the shared zone file beside it.
fn serve_zone(config: &str) -> TestServer {
    TestServer::start_config(config, &[("example.com.zone", ZONE)], &[])
}

/// A UDP socket on loopback address `ip` that gives up on a reply after 300 ms, with room to
/// hold a few hundred replies unread (asked 1 MiB; the kernel gives at least twice its
/// rmem_max default's 208 KiB).
fn flooder(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    socket2::SockRef::from(&socket).set_recv_buffer_size(1 << 20).unwrap();
    socket
}

#[test]
fn rate_limiting_limits_a_flood_and_answers_others() {
    let s = serve_zone(&config("rrl_responses_per_second = 20\nrrl_table_size = 1048576\nrrl_slip = 2\n", ""));
    let flooder = flooder("127.0.0.50");
    let query = message("static.example.com.", RecordType::A, None).to_vec().unwrap();
    for _ in 0..300 {
        flooder.send_to(&query, s.addr).unwrap();
    }
    let (mut full, mut truncated) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    let value = |metrics: &str, name: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    // Read until every query is accounted for, answered in full, slipped or dropped: a reply
    // is not missed when the worker stalls for longer than one read's timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        while let Ok((n, _)) = flooder.recv_from(&mut buf) {
            let m = Message::from_vec(&buf[..n]).unwrap();
            if m.truncated() {
                assert!(m.answers().is_empty());
                truncated += 1;
            } else {
                full += 1;
            }
        }
        let (_, metrics) = s.http("GET", "/metrics", "", "");
        if full + truncated + value(&metrics, "eightfold_rrl_dropped_total") >= 300 || Instant::now() > deadline {
            break;
        }
    }
    assert!(full <= 60, "at most the allowed rate (20/s, a second boundary may fall inside): {full}");
    assert!(truncated >= 50, "slipped answers let real clients retry over TCP: {truncated}");
    assert!(full + truncated < 250, "the rest were dropped: {full} + {truncated}");
    // An address in another /24 is answered in full meanwhile.
    let other = UdpSocket::bind("127.0.1.60:0").unwrap();
    other.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    other.send_to(&query, s.addr).unwrap();
    let n = other.recv(&mut buf).unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 1);
    let (_, metrics) = s.http("GET", "/metrics", "", "");
    assert!(value(&metrics, "eightfold_rrl_dropped_total") >= 50, "{metrics}");
    assert_eq!(value(&metrics, "eightfold_rrl_slipped_total"), truncated);
    assert_eq!(full + truncated + value(&metrics, "eightfold_rrl_dropped_total"), 300, "{metrics}");
}

/// A flood of random names in one zone from a client's prefix is limited as one (NXDOMAIN
/// responses are counted by zone), so a real name asked from the same prefix meanwhile keeps
/// its own allowance and is answered.
#[test]
fn rate_limiting_a_random_name_flood_spares_real_names_from_the_same_prefix() {
    let s = serve_zone(&config("rrl_responses_per_second = 20\nrrl_table_size = 1048576\n", ""));
    let flood_for = Duration::from_secs(3);
    let addr = s.addr;
    let flooder = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.70:0").unwrap();
        let started = Instant::now();
        let mut sent = 0u32;
        // About 1,000 a second, in bursts of 10, for at most 3,500 queries.
        while started.elapsed() < flood_for && sent < 3500 {
            for _ in 0..10 {
                let name = format!("r{}-{sent}.example.com.", fastrand::u32(..));
                let _ = socket.send_to(&message(&name, RecordType::A, None).to_vec().unwrap(), addr);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    });
    // The real client: another address in the same /24, ten questions a second.
    let client = UdpSocket::bind("127.0.0.71:0").unwrap();
    client.set_read_timeout(Some(Duration::from_millis(150))).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (mut asked, mut answered) = (0, 0);
    let mut buf = [0u8; 4096];
    for i in 0..25u16 {
        let mut query = message("static.example.com.", RecordType::A, None);
        query.set_id(1000 + i);
        client.send_to(&query.to_vec().unwrap(), s.addr).unwrap();
        asked += 1;
        let until = Instant::now() + Duration::from_millis(100);
        while let Ok((n, _)) = client.recv_from(&mut buf) {
            let Ok(m) = Message::from_vec(&buf[..n]) else { continue };
            if m.id() == 1000 + i && !m.truncated() && m.answers().len() == 1 {
                answered += 1;
            }
            if m.id() == 1000 + i {
                break;
            }
        }
        if let Some(rest) = until.checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
    }
    let sent = flooder.join().unwrap();
    assert!(sent >= 1000, "the flood ran: {sent}");
    assert!(answered * 4 >= asked * 3, "the real name was answered {answered} times of {asked}");
    let (_, metrics) = s.http("GET", "/metrics", "", "");
    let dropped = metrics
        .lines()
        .find_map(|l| l.strip_prefix("eightfold_rrl_dropped_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(dropped >= 500, "the flood was limited: {dropped} dropped of {sent}");
}

/// Random names under a wildcard are limited as one, as random nonexistent names are: a
/// wildcard answer is counted by its zone, not by the name asked.
#[test]
fn rate_limiting_counts_wildcard_answers_by_zone() {
    let s = serve_zone(&config("rrl_responses_per_second = 20\nrrl_table_size = 1048576\nrrl_slip = 0\n", ""));
    let flooder = flooder("127.0.0.80");
    for i in 0..300 {
        let name = format!("r{}-{i}.wild.example.com.", fastrand::u32(..));
        flooder.send_to(&message(&name, RecordType::TXT, None).to_vec().unwrap(), s.addr).unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = flooder.recv_from(&mut buf) {
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.answers().len(), 1);
        answered += 1;
    }
    assert!(answered <= 60, "at most the allowed rate (20/s, a second boundary may fall inside): {answered}");
}

#[test]
fn thousands_of_idle_connections_and_a_trickled_half_message() {
    let s = serve_zone(&config("", ""));
    // A message whose length says 40 bytes, sent one byte at a time.
    let mut trickle = s.connect();
    trickle.write_all(&[0, 40]).unwrap();
    let trickler = std::thread::spawn(move || {
        let started = Instant::now();
        for _ in 0..38 {
            if trickle.write_all(&[0]).is_err() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    });
    let mut idle = Vec::new();
    for _ in 0..2000 {
        match TcpStream::connect(s.addr) {
            Ok(stream) => idle.push(stream),
            Err(e) => panic!("connect {}: {e}", idle.len()),
        }
    }
    // UDP and a fresh TCP client are answered at once.
    let started = Instant::now();
    assert_eq!(s.query("static.example.com.", RecordType::A).response_code(), ResponseCode::NoError);
    let fresh = s.tcp(&message("static.example.com.", RecordType::A, None));
    assert_eq!(fresh.answers().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());
    // The cap (1024 by default) bounds the server's connections: the longest idle went first.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.pid())).unwrap().count();
    assert!(fds < 1024 + 64, "{fds} open descriptors");
    // The half message is cut off after tcp_message_timeout (2 s), though bytes keep coming.
    let closed_after = trickler.join().unwrap();
    assert!(closed_after.is_some_and(|t| t < Duration::from_secs(8)), "{closed_after:?}");
    drop(idle);
}

#[test]
fn flooding_health_targets_leave_the_prober_memory_flat() {
    let targets: Vec<HttpEndpoint> = (0..4).map(|i| HttpEndpoint::start(&format!("127.0.0.{}", 70 + i))).collect();
    targets[0].set(Behaviour::FloodHeaders);
    targets[1].set(Behaviour::FloodBody);
    targets[2].set(Behaviour::FloodHeaders);
    targets[3].set(Behaviour::FloodBody);
    let checks: String = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "[[health_check]]\nid = \"flood{i}\"\ntype = \"HTTP_STR_MATCH\"\nsearch_string = \"never\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\n",
                t.addr.ip(),
                t.addr.port()
            )
        })
        .collect();
    let s = serve_zone(&config("", &checks));
    std::thread::sleep(Duration::from_secs(2));
    let baseline = rss_kib(s.pid());
    let mut peak = baseline;
    for _ in 0..16 {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss_kib(s.pid()));
    }
    let probes = targets.iter().map(HttpEndpoint::hits).sum::<usize>();
    assert!(probes >= 20, "the floods were probed repeatedly: {probes}");
    assert!(peak - baseline < 8 * 1024, "RSS grew from {baseline} KiB to {peak} KiB");
    assert!(peak < 128 * 1024, "RSS {peak} KiB");
}

#[test]
fn drops_root_after_binding_port_53() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: privilege dropping is not exercised here");
        return;
    }
    let ip = format!("127.0.0.{}", 100 + fastrand::u8(..100));
    if UdpSocket::bind(format!("{ip}:53")).is_err() || std::net::TcpListener::bind(format!("{ip}:53")).is_err() {
        eprintln!("{ip}:53 is taken: privilege dropping is not exercised here");
        return;
    }
    let config = format!("[server]\nlisten = [\"{ip}:53\"]\nworkers = 1\nuser = \"nobody\"\n{ZONE_BODY}");
    let s = serve_zone(&config);
    assert_eq!(s.addr.port(), 53);
    assert!(eventually(Duration::from_secs(2), || s.output().contains("dropped root privileges")), "{}", s.output());
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.split_whitespace().skip(1).all(|id| id == "65534"), "{uid_line}");
    assert_eq!(s.query("static.example.com.", RecordType::A).answers().len(), 1);
    assert_eq!(s.tcp(&message("static.example.com.", RecordType::A, None)).answers().len(), 1);
}
