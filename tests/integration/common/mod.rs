//! Test harness: starts the real `eightfold` binary on a free loopback port, waits for its
//! "listening on" line, queries it with hickory-proto over UDP and TCP, and kills it on drop
//! (printing its output when the test failed). A test run through [`xdp::behind`] gets its
//! servers behind AF_XDP instead, in network namespaces of their own, queried the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub mod endpoints;
pub mod etcd;
pub mod fleet;
pub mod nsd;
pub mod ports;
pub mod properties;
pub mod resolver;
pub mod xdp;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for one answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eightfold"))
}

/// A resource limit for [`TestServer::start_limited`] (soft and hard alike).
#[derive(Debug, Clone, Copy)]
pub enum Rlimit {
    /// RLIMIT_NOFILE: open file descriptors.
    OpenFiles(u64),
    /// RLIMIT_FSIZE: bytes any file may grow to.
    FileSize(u64),
}

/// A running server.
pub struct TestServer {
    child: Child,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// The control endpoint, when the config has one.
    pub control: Option<SocketAddr>,
    /// Folder holding its config and zone files.
    pub dir: tempfile::TempDir,
    output: Arc<Mutex<String>>,
    /// The namespaces it runs in, when it is behind AF_XDP.
    xdp: Option<xdp::Behind>,
}

impl TestServer {
    /// Starts a server on a config body (zones, checks, records; `[server]` is added) and
    /// extra files written next to it.
    pub fn start(body: &str, files: &[(&str, &str)]) -> TestServer {
        let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\n{body}");
        Self::start_config(&config, files, &[])
    }

    /// Starts a server on a whole config file.
    pub fn start_config(config: &str, files: &[(&str, &str)], args: &[&str]) -> TestServer {
        Self::start_config_with(config, files, args, |_| {})
    }

    /// Starts a server on a whole config file, its command first changed by `adjust`.
    pub fn start_config_with(
        config: &str,
        files: &[(&str, &str)],
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> TestServer {
        let behind = xdp::Behind::asked();
        let (dir, mut command) = Self::prepare(config, files, behind.as_ref());
        if behind.is_some() {
            assert!(
                !args.iter().any(|a| a.starts_with("--listen") || a.starts_with("--control")),
                "behind AF_XDP the harness sets the addresses: {args:?}"
            );
        }
        command.args(args);
        adjust(&mut command);
        Self::spawn(command, dir, behind)
    }

    /// Writes `config` (behind AF_XDP, rewritten for it) and `files` into a new folder; the
    /// folder and the command that serves the config.
    fn prepare(config: &str, files: &[(&str, &str)], behind: Option<&xdp::Behind>) -> (tempfile::TempDir, Command) {
        let dir = tempfile::tempdir().unwrap();
        let config = behind.map_or_else(|| config.to_string(), |b| b.config(config));
        std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut command = behind.map_or_else(|| Command::new(binary()), |b| b.command(&binary()));
        command.arg("serve").arg("--config").arg(dir.path().join("eightfold.toml"));
        (dir, command)
    }

    /// Starts a server on a whole config file under resource limits, set in the child before
    /// it runs `eightfold` (SIGXFSZ is ignored there, so a file-size limit makes writes fail
    /// with EFBIG, as a full disk makes them fail, instead of killing the server).
    pub fn start_limited(config: &str, files: &[(&str, &str)], limits: &[Rlimit]) -> TestServer {
        use std::os::unix::process::CommandExt;
        let behind = xdp::Behind::asked();
        let (dir, mut command) = Self::prepare(config, files, behind.as_ref());
        let limits = limits.to_vec();
        // SAFETY: the closure runs in the forked child before exec and calls only setrlimit
        // and signal, which are async-signal-safe, on values copied in before the fork.
        unsafe {
            command.pre_exec(move || {
                for limit in &limits {
                    let (resource, value) = match *limit {
                        Rlimit::OpenFiles(n) => (libc::RLIMIT_NOFILE, n),
                        Rlimit::FileSize(n) => (libc::RLIMIT_FSIZE, n),
                    };
                    let rlimit = libc::rlimit { rlim_cur: value, rlim_max: value };
                    if libc::setrlimit(resource, &rlimit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        Self::spawn(command, dir, behind)
    }

    /// Starts the built-in demo on a free port (and its control endpoint on another). Behind
    /// AF_XDP, the files the demo is built from, served as any config is.
    pub fn start_demo() -> TestServer {
        if let Some(behind) = xdp::Behind::asked() {
            let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
            let read = |name: &str| std::fs::read_to_string(examples.join(name)).unwrap();
            let zone = read("example.com.zone");
            let (dir, command) = Self::prepare(&read("demo.toml"), &[("example.com.zone", &zone)], Some(&behind));
            return Self::spawn(command, dir, Some(behind));
        }
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(binary());
        command.args(["serve", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"]);
        Self::spawn(command, dir, None)
    }

    fn spawn(mut command: Command, dir: tempfile::TempDir, behind: Option<xdp::Behind>) -> TestServer {
        command.env("RUST_LOG", "info").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start eightfold");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let (control_tx, control_rx) = mpsc::channel();
        for stream in
            [Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stdout.take().unwrap())]
        {
            let output = output.clone();
            let tx = tx.clone();
            let control_tx = control_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("control endpoint on http://").nth(1) {
                        if let Ok(addr) = rest.trim().parse::<SocketAddr>() {
                            let _ = control_tx.send(addr);
                        }
                    }
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        if let Some(addr) = rest.split_whitespace().next().and_then(|a| a.parse::<SocketAddr>().ok()) {
                            let _ = tx.send(addr);
                        }
                    }
                    output.lock().unwrap().push_str(&line);
                    output.lock().unwrap().push('\n');
                }
            });
        }
        // Only the reader threads send from here on: when the server exits before listening,
        // both end and the wait ends with them, instead of at the timeout.
        drop(tx);
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("eightfold did not start:\n{}", output.lock().unwrap());
            }
        };
        // The control line is logged before the listening line.
        let control = control_rx.try_recv().ok();
        if let Some(behind) = &behind {
            let text = output.lock().unwrap().clone();
            if let Err(reason) = behind.started(&text) {
                let _ = child.kill();
                let _ = child.wait();
                xdp::cannot(reason);
            }
        }
        TestServer { child, addr, control, dir, output, xdp: behind }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill with a child's pid and a valid signal number has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits up to `limit` for the server to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Runs an `eightfold` control command against this server (behind AF_XDP, in its
    /// namespace); (exit code, output).
    pub fn cli(&self, args: &[&str]) -> (i32, String) {
        let control = self.control.expect("the server has a control endpoint").to_string();
        let mut command = self.xdp.as_ref().map_or_else(|| Command::new(binary()), |b| b.command(&binary()));
        let out = command.args(args).args(["--control", &control]).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// One HTTP request to the control endpoint (behind AF_XDP, from its namespace); (status,
    /// body).
    pub fn http(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        let control = self.control.expect("control endpoint");
        let mut stream = match &self.xdp {
            Some(b) => xdp::Pair::inside(&b.pair.server, || TcpStream::connect(control)),
            None => TcpStream::connect(control),
        }
        .unwrap();
        write!(stream, "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len())
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), body.to_string())
    }

    /// What the server printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// How many times the server printed `text`, once that is at least `times` or 5 s have
    /// passed. Its output is copied by another thread, which can lag behind an answer the
    /// server sent after it logged: a line logged before a reply, a metric or a status shows
    /// is looked for with this, not with [`TestServer::output`] at once.
    pub fn logged(&self, text: &str, times: usize) -> usize {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.output().matches(text).count();
            if seen >= times || Instant::now() >= until {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A UDP query for `name`/`qtype` without EDNS.
    pub fn query(&self, name: &str, qtype: RecordType) -> Message {
        self.udp(&message(name, qtype, None))
    }

    /// Sends a message over UDP and parses the answer.
    pub fn udp(&self, query: &Message) -> Message {
        let bytes = self.udp_raw(&query.to_vec().unwrap()).expect("an answer over UDP");
        let answer = Message::from_vec(&bytes).expect("answer parses");
        assert_eq!(answer.id(), query.id());
        answer
    }

    /// Sends raw bytes over UDP; the answer's bytes, or None after the timeout. Behind AF_XDP
    /// from the client's namespace, to the server's IPv4 and IPv6 addresses in turn.
    pub fn udp_raw(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let Some(behind) = &self.xdp else {
            return udp_exchange(self.addr, packet, ANSWER_TIMEOUT);
        };
        let server = behind.next_address();
        let socket = behind.udp_socket(server);
        socket.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        socket.send_to(packet, server).unwrap();
        let mut buf = vec![0u8; 65535];
        let answer = socket.recv_from(&mut buf).ok().map(|(n, from)| {
            assert_eq!(from, server, "the answer comes from the address asked");
            buf[..n].to_vec()
        });
        behind.sent(server, packet.len(), answer.is_some());
        answer
    }

    /// A UDP socket for [`TestServer::send_udp`], bound to a free port (behind AF_XDP, in the
    /// client's namespace).
    pub fn udp_socket(&self) -> UdpSocket {
        match &self.xdp {
            Some(behind) => behind.udp_socket(self.addr),
            None => UdpSocket::bind(if self.addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap(),
        }
    }

    /// Sends `packet` to the server from `socket`, made by [`TestServer::udp_socket`]; the
    /// answers are the caller's to read.
    pub fn send_udp(&self, socket: &UdpSocket, packet: &[u8]) {
        socket.send_to(packet, self.addr).unwrap();
        if let Some(behind) = &self.xdp {
            behind.sent(self.addr, packet.len(), false);
        }
    }

    /// Sends a message over a new TCP connection.
    pub fn tcp(&self, query: &Message) -> Message {
        let mut stream = self.connect();
        write_framed(&mut stream, &query.to_vec().unwrap());
        Message::from_vec(&read_framed(&mut stream).expect("an answer over TCP")).unwrap()
    }

    /// A TCP connection with timeouts set (behind AF_XDP, from the client's namespace).
    pub fn connect(&self) -> TcpStream {
        let stream = match &self.xdp {
            Some(behind) => behind.connect(self.addr),
            None => TcpStream::connect_timeout(&self.addr, ANSWER_TIMEOUT),
        }
        .unwrap();
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        stream
    }

    /// Path of a file in the server's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Behind AF_XDP, a test that passed is checked to have gone through the AF_XDP
        // sockets, from what the server says while it still runs (a test that stopped the
        // server has checked what it wanted of it).
        let checked = match &self.xdp {
            Some(behind) if !std::thread::panicking() && matches!(self.child.try_wait(), Ok(None)) => {
                Some(behind.verify(self.control, self.child.id()))
            }
            _ => None,
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- eightfold output ---\n{}", self.output());
        }
        if let Some(Err(reason)) = checked {
            panic!("{reason}\n--- eightfold output ---\n{}", self.output());
        }
    }
}

/// The IPv4 addresses in a response's answer section, in order.
pub fn addresses(m: &Message) -> Vec<std::net::Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            hickory_proto::rr::RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// A query message with a random ID, RD set, optionally with EDNS.
pub fn message(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new();
    m.set_id(fastrand::u16(..)).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// One UDP exchange on a fresh socket.
pub fn udp_exchange(addr: SocketAddr, packet: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let local = if addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let socket = UdpSocket::bind(local).unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.send_to(packet, addr).unwrap();
    let mut buf = vec![0u8; 65535];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Writes one length-prefixed DNS message.
pub fn write_framed(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).unwrap();
}

/// Reads one length-prefixed DNS message.
pub fn read_framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Writes `files` and runs `eightfold check` on the config; (exit code, stdout+stderr).
pub fn check(config: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eightfold.toml");
    std::fs::write(&path, config).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    check_path(&path)
}

/// Runs `eightfold check` on a config file.
pub fn check_path(path: &Path) -> (i32, String) {
    let out = Command::new(binary()).arg("check").arg("--config").arg(path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The zone most tests serve.
pub const ZONE: &str = r#"$ORIGIN example.com.
$TTL 300
@        SOA   ns1 hostmaster 2026112101 7200 900 1209600 60
@        NS    ns1
@        NS    ns2
@        MX    10 mail
ns1      A     192.0.2.53
ns2      A     192.0.2.54
mail     A     192.0.2.25
mail     AAAA  2001:db8::25
static   A     192.0.2.7
alias    CNAME static
outside  CNAME www.example.org.
chain1   CNAME chain2
chain2   CNAME static
missing  CNAME nothing
*.wild   TXT   "wild"
a.b.ent  A     192.0.2.9
_sip._tcp SRV  10 60 5060 mail
sub      NS    ns.sub
ns.sub   A     192.0.2.153
"#;

/// A config body serving [`ZONE`] from `example.com.zone`.
pub const ZONE_BODY: &str = "[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n";

/// `count` multivalue A records at `name`, addresses 10.0.0.1.. (no health checks).
pub fn multivalue_records(name: &str, count: usize) -> String {
    (1..=count)
        .map(|i| {
            format!(
                "[[record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset_id = \"r{i}\"\nvalues = [\"10.0.0.{i}\"]\n"
            )
        })
        .collect()
}

/// The resident memory, in KiB, of process `pid` (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// A figure in KiB from `/proc/PID/status` (`VmRSS`, `VmHWM`, ...); 0 when it cannot be read.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `eightfold serve --config CONFIG` expecting it to refuse to start: its exit code
/// (`None` when it was still running after `limit`, and was then killed) and its log.
pub fn serve_refusal(config: &Path, limit: Duration) -> (Option<i32>, String) {
    let log = config.with_extension("log");
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait().unwrap() {
            Some(status) => break status.code(),
            None if std::time::Instant::now() > until => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}
