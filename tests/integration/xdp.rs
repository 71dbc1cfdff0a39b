//! The AF_XDP data path (`[server] xdp`), end to end: two network namespaces made by the test,
//! joined by a veth pair with two queues a side; eightfold runs in one with `xdp` on its end
//! of the pair, and from the other the test checks that UDP queries over IPv4 and IPv6 are
//! answered through the AF_XDP sockets (its per-queue counters and the veth's redirect
//! counters say so), that TCP on the same address, ping, and UDP to another port still reach
//! the kernel's stack, that queries which come while the server builds its zones wait for it,
//! that rate limiting and the answer cache work there as on the sockets, that the frames kept
//! on each fill ring shrink when quiet and come back after a burst past them, and that
//! stopping the server detaches the program. The addresses are documentation prefixes
//! that exist only inside the namespaces (`common::xdp`, which also runs the answer and
//! malformed-packet tests behind AF_XDP).
//!
//! Needs root (namespaces, BPF, AF_XDP), `ip` and `ethtool`; without them the test says why
//! and passes, except under CI=true, where .ci/run installs what it needs.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::common::xdp::{metrics, pair_or_skip, run, skip, sum, Pair, CONTROL, PORT, SERVER_V4, SERVER_V6};
use crate::common::{binary, have, message, read_framed, write_framed, ANSWER_TIMEOUT};

/// An address on the server's end of the pair that the server does not listen on.
const OTHER_V4: &str = "198.51.100.3";
/// UDP queries sent over each address family.
const QUERIES: usize = 20;

const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n\
ns1 A 198.51.100.1\nwww A 192.0.2.10\nwww AAAA 2001:db8::10\n";

/// The server, in its namespace; killed on drop.
struct Server {
    child: Child,
    log: std::path::PathBuf,
    /// Holds its config, zones and logs.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `eightfold serve` in `pair`'s server namespace on `config`, with `files` beside
    /// it; does not wait for it.
    fn start(pair: &Pair, config: &str, files: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let log = dir.path().join("log");
        // `ip netns exec` execs the server, so the child is the server itself.
        let child = Command::new("ip")
            .args(["netns", "exec", &pair.server])
            .arg(binary())
            .args(["serve", "--config"])
            .arg(dir.path().join("eightfold.toml"))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("stderr")).unwrap()))
            .spawn()
            .unwrap();
        Server { child, log, _dir: dir }
    }

    /// Waits until its output holds `text`; panics when it exits first or takes over 30 s.
    fn wait_for(&mut self, text: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.output();
            if output.contains(text) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}):\n{output}");
            }
            assert!(Instant::now() < until, "the server did not log {text:?}:\n{output}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Started as [`Server::start`] with `xdp` on `pair`'s server end, the control socket at
    /// [`CONTROL`], `extra` more `[server]` lines and the example zone, once it listens; None
    /// when it could not set up AF_XDP, after saying why (see [`Server::serves_xdp`]).
    fn start_on_xdp(pair: &Pair, extra: &str) -> Option<Server> {
        let config = format!(
            "[server]\nlisten = [\"{SERVER_V4}:{PORT}\"]\nworkers = 1\nxdp = [\"{}\"]\ncontrol = \"{CONTROL}\"\n{extra}\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n",
            pair.server_if
        );
        let mut server = Server::start(pair, &config, &[("example.com.zone", ZONE)]);
        server.wait_for("listening on");
        server.serves_xdp().then_some(server)
    }

    /// Whether it set up AF_XDP; when not, the test says why and is to stop (see [`skip`]:
    /// under CI=true that fails it).
    fn serves_xdp(&self) -> bool {
        let serves = self.output().contains("serving UDP over AF_XDP");
        if !serves {
            skip(&format!("the server could not set up AF_XDP here:\n{}", self.output()));
        }
        serves
    }

    /// What it wrote so far, stdout then stderr.
    fn output(&self) -> String {
        let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default();
        read(&self.log) + &read(&self.log.with_file_name("stderr"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("server output:\n{}", self.output());
        }
    }
}

/// One UDP exchange from a fresh socket (inside whichever namespace the thread is in).
fn udp(server: SocketAddr, query: &Message) -> Option<Message> {
    let local = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    let socket = UdpSocket::bind(local).unwrap();
    socket.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = socket.recv_from(&mut buf).ok()?;
    assert_eq!(from, server, "the answer comes from the address asked");
    Some(Message::from_vec(&buf[..n]).expect("the answer parses"))
}

/// Sends, by a packet socket on `interface`, frames of UDP to the port that no server may
/// answer: a bad UDP checksum, a UDP length past the IP payload, a DNS message shorter than its
/// header. Returns how many.
fn send_malformed(interface: &str) -> u64 {
    let mut frames = Vec::new();
    let query = message("www.example.com.", RecordType::A, None).to_vec().unwrap();
    let mut bad_sum = ipv4_frame(&query);
    bad_sum[40] ^= 0x55;
    frames.push(bad_sum);
    let mut long = ipv4_frame(&query);
    long[38..40].copy_from_slice(&(8 + query.len() as u16 + 100).to_be_bytes());
    frames.push(long);
    frames.push(ipv4_frame(&query[..3]));
    let name = std::ffi::CString::new(interface).unwrap();
    // SAFETY: if_nametoindex reads a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "the client's interface");
    // SAFETY: a packet socket; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from((libc::ETH_P_ALL as u16).to_be())) };
    assert!(fd >= 0, "a packet socket: {}", std::io::Error::last_os_error());
    for f in &frames {
        // SAFETY: sockaddr_ll is integers only; all-zero is valid, and the fields are set.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = index as i32;
        address.sll_halen = 6;
        address.sll_addr[..6].copy_from_slice(&[0xFF; 6]);
        // SAFETY: the frame and the address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(sent, f.len() as isize, "send: {}", std::io::Error::last_os_error());
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    frames.len() as u64
}

/// A broadcast Ethernet frame of IPv4 UDP from 198.51.100.2 port 40000 to the server's
/// address and port, carrying `payload`; header and UDP checksums right.
fn ipv4_frame(payload: &[u8]) -> Vec<u8> {
    let fold = |mut sum: u32| {
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    };
    let words =
        |b: &[u8]| -> u32 { b.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum() };
    let mut f = vec![0xFF; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let udp_len = (8 + payload.len()) as u16;
    let total = (20 + udp_len).to_be_bytes();
    f.extend_from_slice(&[0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[198, 51, 100, 2, 198, 51, 100, 1]);
    let sum = !fold(words(&f[14..34]));
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&PORT.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    let pseudo = words(&f[26..34]) + 17 + u32::from(udp_len) + words(&f[34..]);
    let sum = match !fold(pseudo) {
        0 => 0xFFFF,
        sum => sum,
    };
    f[40..42].copy_from_slice(&sum.to_be_bytes());
    f
}

#[test]
fn udp_over_af_xdp_and_everything_else_through_the_stack() {
    let Some(pair) = pair_or_skip() else { return };
    let control: SocketAddr = CONTROL.parse().unwrap();
    let config = format!(
        "[server]\nlisten = [\"{SERVER_V4}:{PORT}\", \"[{SERVER_V6}]:{PORT}\"]\nworkers = 1\n\
         xdp = [\"{}\"]\ncontrol = \"{control}\"\n\n[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n",
        pair.server_if
    );
    let mut server = Server::start(&pair, &config, &[("example.com.zone", ZONE)]);
    server.wait_for("listening on");
    if !server.serves_xdp() {
        return;
    }
    let link = run(&["ip", "-n", &pair.server, "link", "show", &pair.server_if]).unwrap();
    assert!(link.contains(" xdp ") && link.contains("name udp_redirect"), "native XDP attached: {link}");

    // UDP over both families, through the AF_XDP sockets.
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    let v6: SocketAddr = format!("[{SERVER_V6}]:{PORT}").parse().unwrap();
    Pair::inside(&pair.client, || {
        for server in [v4, v6] {
            for i in 0..QUERIES {
                let qtype = if i % 2 == 0 { RecordType::A } else { RecordType::AAAA };
                let query = message("www.example.com.", qtype, Some(1232));
                let answer = udp(server, &query).unwrap_or_else(|| panic!("no answer over UDP from {server}"));
                assert_eq!(answer.id(), query.id());
                assert_eq!(answer.response_code(), ResponseCode::NoError);
                assert!(answer.authoritative());
                let data: Vec<IpAddr> = answer.answers().iter().filter_map(|r| r.data().ip_addr()).collect();
                let expected: IpAddr = if qtype == RecordType::A {
                    "192.0.2.10".parse().unwrap()
                } else {
                    "2001:db8::10".parse().unwrap()
                };
                assert_eq!(data, [expected], "{server} {qtype}");
            }
            // A name not there: NXDOMAIN with the SOA, through the same path.
            let answer = udp(server, &message("nothing.example.com.", RecordType::A, None)).expect("an answer");
            assert_eq!(answer.response_code(), ResponseCode::NXDomain);
        }
    });
    let text = Pair::inside(&pair.server, || metrics(control)).unwrap();
    let iface = format!("interface=\"{}\"", pair.server_if);
    let sent = (2 * (QUERIES + 1)) as u64;
    assert!(sum(&text, "eightfold_xdp_answered_total", &iface) >= sent, "answers through the XSK:\n{text}");
    assert!(sum(&text, "eightfold_xdp_received_total", &iface) >= sent, "{text}");
    assert!(text.contains(&format!("eightfold_xdp_info{{{iface},mode=\"native\",queues=\"2\"}} 1")), "{text}");
    // Counted with the UDP path's queries.
    assert!(sum(&text, "eightfold_queries_total", "transport=\"udp\",qtype=\"A\"") >= QUERIES as u64, "{text}");
    // The veth's own count of frames redirected to the AF_XDP sockets.
    let stats = run(&["ip", "netns", "exec", &pair.server, "ethtool", "-S", &pair.server_if]).unwrap();
    let redirected: u64 = stats
        .lines()
        .filter(|l| l.contains("_xdp_redirect:"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(redirected >= sent, "the veth redirected {redirected} frames:\n{stats}");

    // Malformed frames to the port reach the sockets (the program only looks at the port):
    // they are given back unanswered, and the sockets serve on.
    let dropped = sum(&text, "eightfold_xdp_dropped_total", &iface);
    let malformed = Pair::inside(&pair.client, || send_malformed(&pair.client_if));
    Pair::inside(&pair.client, || {
        let answer = udp(v4, &message("www.example.com.", RecordType::A, None)).expect("an answer after them");
        assert_eq!(answer.response_code(), ResponseCode::NoError);
    });
    let text = Pair::inside(&pair.server, || metrics(control)).unwrap();
    assert_eq!(sum(&text, "eightfold_xdp_dropped_total", &iface), dropped + malformed, "{text}");

    // TCP on the same address and port reaches the stack and the TCP thread.
    let before = sum(&text, "eightfold_xdp_received_total", &iface);
    let passed = sum(&text, "eightfold_xdp_passed_total", &iface);
    // A second address on the server's end that the server does not listen on.
    run(&["ip", "-n", &pair.server, "addr", "add", &format!("{OTHER_V4}/24"), "dev", &pair.server_if]).unwrap();
    Pair::inside(&pair.client, || {
        let mut stream = TcpStream::connect_timeout(&v4, ANSWER_TIMEOUT).expect("TCP through the stack");
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        write_framed(&mut stream, &message("www.example.com.", RecordType::A, None).to_vec().unwrap());
        let answer = Message::from_vec(&read_framed(&mut stream).expect("an answer over TCP")).unwrap();
        assert_eq!(answer.response_code(), ResponseCode::NoError);
        // UDP to another port: the stack has no listener there, and eightfold does not answer.
        let other: SocketAddr = format!("{SERVER_V4}:{}", PORT + 1).parse().unwrap();
        assert!(
            udp(other, &message("www.example.com.", RecordType::A, None)).is_none(),
            "an answer from port {}",
            PORT + 1
        );
        // The port at an address the server does not listen on: the program leaves it to the
        // stack, which has no socket there either, so nothing answers, as without AF_XDP.
        let unlistened: SocketAddr = format!("{OTHER_V4}:{PORT}").parse().unwrap();
        assert!(
            udp(unlistened, &message("www.example.com.", RecordType::A, None)).is_none(),
            "an answer from {unlistened}, where the server does not listen"
        );
    });
    let text = Pair::inside(&pair.server, || metrics(control)).unwrap();
    assert_eq!(
        sum(&text, "eightfold_xdp_received_total", &iface),
        before,
        "TCP, other ports and other addresses skip the XSK"
    );
    assert!(sum(&text, "eightfold_queries_total", "transport=\"tcp\"") >= 1, "{text}");
    // The program counts what it passes to the stack: at least the TCP exchange's segments
    // and the two datagrams.
    assert!(sum(&text, "eightfold_xdp_passed_total", &iface) >= passed + 5, "{text}");

    // ARP and ICMP pass to the stack.
    if have("ping") {
        for address in [SERVER_V4, SERVER_V6] {
            let out = run(&["ip", "netns", "exec", &pair.client, "ping", "-c", "2", "-W", "2", "-q", address]);
            assert!(out.is_ok(), "ping {address}: {out:?}");
        }
    } else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "ping missing under CI (.ci/run installs iputils-ping)");
        eprintln!("ping not installed; the ping check is skipped");
    }

    // `status` shows the interface, its mode and queues.
    let status = Command::new("ip")
        .args(["netns", "exec", &pair.server])
        .arg(binary())
        .args(["status", "--control", &control.to_string()])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains(&format!("xdp {}  native mode, 2 queues", pair.server_if)), "{status}");
    assert!(status.contains("passed to the stack") && status.contains("rx ring full"), "{status}");

    // SIGTERM: the workers stop, the server exits cleanly, and the program is detached.
    // SAFETY: kill with the child's pid and a signal number has no memory effects.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "the server did not stop on SIGTERM:\n{}", server.output());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}:\n{}", server.output());
    let link = run(&["ip", "-n", &pair.server, "link", "show", &pair.server_if]).unwrap();
    assert!(!link.contains("prog/xdp"), "the program is detached on exit: {link}");
}

/// The XDP program `ip` reports attached to the server's end, if any: `(id, name)`.
fn attached_program(pair: &Pair) -> Option<(u32, String)> {
    let link = run(&["ip", "-n", &pair.server, "link", "show", &pair.server_if]).unwrap();
    let words: Vec<&str> = link.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "prog/xdp")?;
    let id = words.get(at + 2)?.parse().ok()?;
    Some((id, words.get(at + 4)?.to_string()))
}

/// Attaches `object`'s `xdp` section to the server's end by netlink, as `ip` does (and as a
/// loader without BPF links would leave it after a crash).
fn attach_with_ip(pair: &Pair, object: &str) {
    let path = format!("{}/tools/xdp/{object}", env!("CARGO_MANIFEST_DIR"));
    run(&["ip", "-n", &pair.server, "link", "set", "dev", &pair.server_if, "xdpdrv", "obj", &path, "sec", "xdp"])
        .expect("attach a program with ip");
}

#[test]
fn an_interface_that_cannot_be_set_up_leaves_the_sockets_serving() {
    let Some(pair) = pair_or_skip() else { return };
    // Another program already attached to the interface (by netlink, as `ip` does): the
    // server names it, the interface and the command that removes it, and leaves it there.
    attach_with_ip(&pair, "turnaround.bpf.o");
    let foreign = attached_program(&pair).expect("ip attached the turnaround program");
    let config = format!(
        "[server]\nlisten = [\"{SERVER_V4}:{PORT}\"]\nworkers = 1\nxdp = [\"{}\", \"nosuch0\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 host 1 2 3 4 5\"\nns = [\"ns1\"]\n",
        pair.server_if
    );
    let mut server = Server::start(&pair, &config, &[]);
    server.wait_for("listening on");
    let text = server.output();
    assert!(
        text.contains(&format!(
            "cannot serve UDP over AF_XDP on {}: another XDP program (`turnaround`, id {}) is attached; \
             remove it with `ip link set dev {} xdp off`",
            pair.server_if, foreign.0, pair.server_if
        )),
        "{text}"
    );
    assert!(text.contains("cannot serve UDP over AF_XDP on nosuch0: no such interface"), "{text}");
    assert_eq!(attached_program(&pair), Some(foreign), "another's program is left alone");
    // The socket workers answer (the turnaround program passes what is not to port 53).
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    Pair::inside(&pair.client, || {
        let answer = udp(v4, &message("example.com.", RecordType::SOA, None)).expect("an answer from the sockets");
        assert_eq!(answer.response_code(), ResponseCode::NoError);
    });
    drop(server);

    // eightfold's own program left attached by netlink (a crashed run of a loader without
    // links): detached at start, with a warning, and replaced by the server's own.
    run(&["ip", "-n", &pair.server, "link", "set", "dev", &pair.server_if, "xdp", "off"]).unwrap();
    attach_with_ip(&pair, "udp-redirect.bpf.o");
    let (stale, name) = attached_program(&pair).expect("ip attached udp_redirect");
    assert_eq!(name, "udp_redirect");
    let config =
        config.replace(", \"nosuch0\"", "").replace("workers = 1\n", "workers = 1\ncontrol = \"127.0.0.1:9153\"\n");
    let mut server = Server::start(&pair, &config, &[]);
    server.wait_for("listening on");
    let text = server.output();
    assert!(text.contains("detached a stale udp_redirect program that an earlier run left attached"), "{text}");
    assert!(text.contains(&format!("id={stale}")), "{text}");
    assert!(text.contains("serving UDP over AF_XDP"), "{text}");
    let (id, name) = attached_program(&pair).expect("the server's program");
    assert!(id != stale && name == "udp_redirect", "the server's own program replaced the stale one: {id} {name}");
    Pair::inside(&pair.client, || {
        let answer = udp(v4, &message("example.com.", RecordType::SOA, None)).expect("an answer over AF_XDP");
        assert_eq!(answer.response_code(), ResponseCode::NoError);
    });
    let text = Pair::inside(&pair.server, || metrics(CONTROL.parse().unwrap())).unwrap();
    assert!(sum(&text, "eightfold_xdp_answered_total", "") >= 1, "answered through the XSK:\n{text}");

    // A second server on the same interface while the first holds its program through a BPF
    // link: that is no stale program, and it is left alone.
    let second = config.replace(&format!(":{PORT}"), &format!(":{}", PORT + 1)).replace(":9153", ":9154");
    let mut other = Server::start(&pair, &second, &[]);
    other.wait_for("listening on");
    assert!(
        other.output().contains("holds eightfold's XDP program") && other.output().contains("another eightfold"),
        "{}",
        other.output()
    );
    assert_eq!(attached_program(&pair).map(|p| p.0), Some(id), "the first server's program stays");
}

/// The capabilities `contrib/eightfold-xdp.conf` grants, as setpriv spells them (`+bpf`).
fn drop_in_capabilities() -> Vec<String> {
    let drop_in = include_str!("../../contrib/eightfold-xdp.conf");
    let line = drop_in.lines().find_map(|l| l.strip_prefix("AmbientCapabilities=")).expect("AmbientCapabilities=");
    line.split_whitespace().map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase())).collect()
}

#[test]
fn the_drop_ins_capabilities_are_enough_and_without_them_the_sockets_serve() {
    if !have("setpriv") {
        return skip("setpriv (util-linux) is not installed");
    }
    let Some(pair) = pair_or_skip() else { return };
    // The server runs as `nobody` with only the given capabilities (ambient, so they survive
    // the exec), from a folder that user can read.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("eightfold");
    std::fs::copy(binary(), &program).unwrap();
    let config = dir.path().join("eightfold.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"{SERVER_V4}:{PORT}\"]\nworkers = 1\nxdp = [\"{}\"]\ncontrol = \"{CONTROL}\"\n\n\
             [[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 host 1 2 3 4 5\"\nns = [\"ns1\"]\n",
            pair.server_if
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.path(), 0o755), (program.as_path(), 0o755), (config.as_path(), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    for granted in [drop_in_capabilities(), Vec::new()] {
        let caps = std::iter::once("-all".to_string()).chain(granted.iter().cloned()).collect::<Vec<_>>().join(",");
        let log = dir.path().join("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &pair.server, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
            .args([format!("--inh-caps={caps}"), format!("--ambient-caps={caps}"), format!("--bounding-set={caps}")])
            .arg(&program)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("stderr")).unwrap()))
            .spawn()
            .unwrap();
        let mut server = Server { child, log, _dir: tempfile::tempdir().unwrap() };
        server.wait_for("listening on");
        let text = server.output();
        let answer = Pair::inside(&pair.client, || udp(v4, &message("example.com.", RecordType::SOA, None)));
        assert_eq!(answer.map(|a| a.response_code()), Some(ResponseCode::NoError), "answered with {caps}:\n{text}");
        let metrics = Pair::inside(&pair.server, || metrics(CONTROL.parse().unwrap())).unwrap();
        let through_xdp = sum(&metrics, "eightfold_xdp_answered_total", "");
        if granted.is_empty() {
            // No privileges: the error says what is missing, and the sockets answered.
            assert!(
                text.contains(&format!("cannot serve UDP over AF_XDP on {}", pair.server_if))
                    && text.contains("needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW and CAP_IPC_LOCK")
                    && text.contains("UDP on it is served by the sockets"),
                "{text}"
            );
            assert_eq!(through_xdp, 0, "{metrics}");
        } else {
            assert!(text.contains("serving UDP over AF_XDP"), "with {caps}:\n{text}");
            assert!(through_xdp >= 1, "answered through the XSK with {caps}:\n{metrics}");
        }
    }
}

#[test]
fn queries_that_come_while_the_zones_are_built_wait_for_the_server() {
    let Some(pair) = pair_or_skip() else { return };
    // The AF_XDP sockets are in the program's map once the server logs that it serves UDP
    // over AF_XDP; the workers start after the zones are built, which for this many records
    // takes a while. A query sent in between waits on the socket's RX ring (its fill ring was
    // filled first), as it would in a UDP socket's buffer, and is answered once they start.
    let mut zone = ZONE.to_string();
    for i in 0..100_000 {
        zone.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250 + 1));
    }
    let config = format!(
        "[server]\nlisten = [\"{SERVER_V4}:{PORT}\"]\nworkers = 1\nxdp = [\"{}\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n",
        pair.server_if
    );
    let mut server = Server::start(&pair, &config, &[("example.com.zone", &zone)]);
    server.wait_for("AF_XDP");
    if !server.serves_xdp() {
        return;
    }
    let early = !server.output().contains("listening on");
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    let query = message("h99999.example.com.", RecordType::A, None);
    let answer = Pair::inside(&pair.client, || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        socket.send_to(&query.to_vec().unwrap(), v4).unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("an answer to the query sent while the zones were built");
        Message::from_vec(&buf[..n]).unwrap()
    });
    assert_eq!((answer.id(), answer.response_code()), (query.id(), ResponseCode::NoError));
    assert_eq!(answer.answers().len(), 1);
    server.wait_for("listening on");
    if !early {
        eprintln!("the server was serving before the query left; this run did not test the wait");
    }
}

/// Rate limiting and the answer cache are the UDP workers' own, behind AF_XDP too: a flood
/// from one client is held to the allowed rate with every other answer slipped (truncated),
/// and repeated questions are answered from the cache, all through the AF_XDP sockets.
#[test]
fn rate_limiting_and_the_answer_cache_work_behind_af_xdp() {
    let Some(pair) = pair_or_skip() else { return };
    let Some(_server) = Server::start_on_xdp(&pair, "rrl_responses_per_second = 20\nrrl_slip = 2\n") else { return };
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    let query = message("www.example.com.", RecordType::A, None).to_vec().unwrap();
    // The socket stays in the client's namespace wherever it is used from.
    let socket = Pair::inside(&pair.client, || UdpSocket::bind("0.0.0.0:0").unwrap());
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    socket2::SockRef::from(&socket).set_recv_buffer_size(1 << 20).unwrap();
    for _ in 0..300 {
        socket.send_to(&query, v4).unwrap();
    }
    let plain = |text: &str, name: &str| -> u64 {
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    // Read until every query is accounted for, answered in full, slipped or dropped: a reply
    // is not missed when the worker stalls for longer than one read's timeout.
    let (mut full, mut truncated) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            let m = Message::from_vec(&buf[..n]).unwrap();
            if m.truncated() {
                assert!(m.answers().is_empty(), "a slipped answer carries no records");
                truncated += 1;
            } else {
                assert_eq!(m.answers().len(), 1);
                full += 1;
            }
        }
        let text = Pair::inside(&pair.server, || metrics(CONTROL.parse().unwrap())).unwrap();
        if full + truncated + plain(&text, "eightfold_rrl_dropped_total") >= 300 || Instant::now() > deadline {
            break text;
        }
    };
    assert!(full <= 60, "at most the allowed rate (20/s, a second boundary may fall inside): {full}");
    assert!(truncated >= 50, "slipped answers let real clients retry over TCP: {truncated}");
    assert!(full + truncated < 250, "the rest were dropped: {full} + {truncated}");
    let plain = |name: &str| plain(&text, name);
    assert!(plain("eightfold_rrl_dropped_total") >= 50, "{text}");
    assert_eq!(plain("eightfold_rrl_slipped_total"), truncated, "{text}");
    // Every datagram went through the AF_XDP sockets; the answers rate limiting let through
    // were mostly the cache's (one question, asked 300 times).
    assert!(sum(&text, "eightfold_xdp_received_total", "") >= 300, "{text}");
    assert_eq!(sum(&text, "eightfold_xdp_answered_total", ""), full + truncated, "{text}");
    assert!(plain("eightfold_answer_cache_hits_total") >= 1, "{text}");
}

/// Each queue's `eightfold_xdp_fill_frames` now, by queue label.
fn fill_frames(pair: &Pair) -> std::collections::BTreeMap<String, u64> {
    let text = Pair::inside(&pair.server, || metrics(CONTROL.parse().unwrap())).unwrap();
    text.lines()
        .filter(|l| l.starts_with("eightfold_xdp_fill_frames{"))
        .filter_map(|l| {
            let queue = l.split("queue=\"").nth(1)?.split('"').next()?.to_string();
            Some((queue, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// Stops (`SIGSTOP`) or resumes (`SIGCONT`) process `pid`, and when stopping waits until
/// every thread of it has stopped.
fn pause(pid: u32, stop: bool) {
    let signal = if stop { libc::SIGSTOP } else { libc::SIGCONT };
    // SAFETY: kill sends a signal to the test's own child; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0, "{}", std::io::Error::last_os_error());
    if !stop {
        return;
    }
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
        let states: Vec<String> =
            tasks.flatten().map(|t| std::fs::read_to_string(t.path().join("stat")).unwrap_or_default()).collect();
        // The state is the first field after the command's closing parenthesis.
        let stopped =
            |stat: &String| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with(['T', 't']));
        if states.iter().all(stopped) {
            return;
        }
        assert!(Instant::now() < until, "process {pid} did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A UDP socket in `pair`'s client namespace with room for thousands of answers at once (past
/// the rmem_max limit, as root may). One socket's datagrams all go to one queue of the pair.
fn burst_socket(pair: &Pair) -> UdpSocket {
    Pair::inside(&pair.client, || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        let bytes: libc::c_int = 16 << 20;
        // SAFETY: setsockopt on an open socket with a pointer to an int and its size.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
        socket
    })
}

/// Sends `count` queries for `www.example.com. A` (ids 0 to count - 1) on `socket` to
/// `server`, all at once, and returns the ids answered (waiting up to 2 s for each); with `pid`, the
/// server's process is stopped while they are sent, so that they wait on its rings, and
/// resumed after.
fn burst(socket: &UdpSocket, server: SocketAddr, count: u16, pid: Option<u32>) -> std::collections::BTreeSet<u16> {
    if let Some(pid) = pid {
        pause(pid, true);
    }
    let mut query = message("www.example.com.", RecordType::A, None);
    for id in 0..count {
        query.set_id(id);
        socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    }
    if let Some(pid) = pid {
        pause(pid, false);
    }
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answered = std::collections::BTreeSet::new();
    let mut buf = [0u8; 4096];
    while answered.len() < usize::from(count) {
        let Ok((n, _)) = socket.recv_from(&mut buf) else { break };
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.answers().len(), 1, "{m:?}");
        answered.insert(m.id());
    }
    answered
}

/// The frames each queue keeps on its fill ring follow the load: few when quiet (they then
/// stay in the caches), so a burst larger than that, while the worker cannot run, finds no
/// frame past them and the kernel drops the rest (counted in the metrics); that drop brings
/// the stock back to the whole ring at once, and a burst as large again is then answered
/// whole.
#[test]
fn the_fill_stock_shrinks_when_quiet_and_a_burst_past_it_brings_it_back() {
    let Some(pair) = pair_or_skip() else { return };
    let Some(server) = Server::start_on_xdp(&pair, "") else { return };
    let v4: SocketAddr = format!("{SERVER_V4}:{PORT}").parse().unwrap();
    let pid = server.child.id();
    let kernel = |name: &str| sum(&Pair::inside(&pair.server, || metrics(CONTROL.parse().unwrap())).unwrap(), name, "");
    let socket = burst_socket(&pair);
    // Every ring starts with 2,048 frames. Light traffic (bursts of 20) uses them up, and the
    // stock, halved once a quiet second, is refilled only to 512 on the queue it comes to.
    let until = Instant::now() + Duration::from_secs(20);
    let queue = loop {
        assert_eq!(burst(&socket, v4, 20, None).len(), 20);
        let frames = fill_frames(&pair);
        if let Some((queue, _)) = frames.iter().find(|(_, &f)| f == 512) {
            break queue.clone();
        }
        assert!(Instant::now() < until, "no queue's stock came down to 512: {frames:?}");
    };
    // Settled: the gauge is written after each refill, so a read just after the last answers
    // may precede the refill that follows them; two reads 100 ms apart that agree, with
    // nothing received between them, come after it.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let before = (fill_frames(&pair), kernel("eightfold_xdp_received_total"));
        std::thread::sleep(Duration::from_millis(100));
        let after = (fill_frames(&pair), kernel("eightfold_xdp_received_total"));
        if before == after && after.0.get(&queue) == Some(&512) {
            break;
        }
        assert!(Instant::now() < until, "queue {queue}'s stock did not settle at 512: {after:?}");
    }

    // 1,500 queries while the server is stopped: the kernel receives into the 512 frames on
    // that queue's fill ring and drops the rest.
    let (received, empty, dropped) = (
        kernel("eightfold_xdp_received_total"),
        kernel("eightfold_xdp_fill_ring_empty_total"),
        kernel("eightfold_xdp_kernel_dropped_total"),
    );
    let answered = burst(&socket, v4, 1500, Some(pid));
    let taken = kernel("eightfold_xdp_received_total") - received;
    assert_eq!(taken, 512, "frames taken off RX");
    assert_eq!(answered.len() as u64, taken, "every frame taken was answered");
    assert_eq!(kernel("eightfold_xdp_fill_ring_empty_total") - empty, 1500 - taken, "one per datagram with no frame");
    assert_eq!(kernel("eightfold_xdp_kernel_dropped_total") - dropped, 1500 - taken, "dropped, counted once");
    // The drop brings that queue's stock back to the whole ring.
    let until = Instant::now() + Duration::from_secs(10);
    while fill_frames(&pair).get(&queue) != Some(&2048) {
        assert!(Instant::now() < until, "queue {queue}'s stock did not come back: {:?}", fill_frames(&pair));
        std::thread::sleep(Duration::from_millis(50));
    }

    // A burst as large again now finds a frame for every query (1,000: within the stock even
    // if a quiet second has halved it since).
    let empty = kernel("eightfold_xdp_fill_ring_empty_total");
    let answered = burst(&socket, v4, 1000, Some(pid));
    assert_eq!(answered.len(), 1000, "every query of the second burst answered");
    assert_eq!(kernel("eightfold_xdp_fill_ring_empty_total"), empty, "nothing dropped for want of a frame");
}
