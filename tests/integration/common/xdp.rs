//! The harness's AF_XDP side: two network namespaces made by the test and joined by a veth
//! pair with two queues a side ([`Pair`]), and tests run once more with their servers behind
//! AF_XDP ([`behind`], written out per file by [`also_behind_xdp`]). Behind AF_XDP,
//! [`TestServer`](super::TestServer) starts the server in the pair's server namespace with
//! `xdp` on its end of the pair, and sends every query from the client namespace; when the
//! server stops it checks, from the server's metrics and its namespace's UDP counters, that
//! the datagrams the test sent went through the AF_XDP sockets and not the kernel's stack. The
//! addresses are documentation prefixes that exist only inside the namespaces.
//!
//! Needs root (namespaces, BPF, AF_XDP), `ip` and `ethtool`; without them, or when the kernel
//! refuses the namespaces or XDP, a test behind AF_XDP says why and passes, except under
//! CI=true, where .ci/run installs what it needs.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{have, ANSWER_TIMEOUT};

/// The port served (inside the namespaces nothing else uses it).
pub const PORT: u16 = 5353;
/// The server's end of the pair.
pub const SERVER_V4: &str = "198.51.100.1";
/// The server's end of the pair, over IPv6.
pub const SERVER_V6: &str = "2001:db8::1";
/// The control endpoint of a server behind AF_XDP, inside its namespace.
pub const CONTROL: &str = "127.0.0.1:9153";
/// The veth's MTU (the kernel's default): a longer datagram is fragmented, and fragments go to
/// the kernel's stack (the BPF program passes them on).
const MTU: usize = 1500;

/// Two namespaces and the veth pair between them, removed on drop with every process left in
/// them.
pub struct Pair {
    /// The server's namespace.
    pub server: String,
    /// The client's namespace.
    pub client: String,
    /// The server's end of the pair.
    pub server_if: String,
    /// The client's end of the pair.
    pub client_if: String,
}

/// Pairs made by this process, for unique names.
static PAIRS: AtomicUsize = AtomicUsize::new(0);

impl Pair {
    /// Makes the namespaces and the pair, addresses up; why not when the kernel refuses.
    pub fn new() -> Result<Pair, String> {
        let n = PAIRS.fetch_add(1, Ordering::Relaxed);
        // At most 5 + 4 digits: interface names stay within the kernel's 15 bytes.
        let id = format!("{}{n}", std::process::id() % 100_000);
        let pair = Pair {
            server: format!("efxdp-{id}-s"),
            client: format!("efxdp-{id}-c"),
            server_if: format!("efx{id}s"),
            client_if: format!("efx{id}c"),
        };
        run(&["ip", "netns", "add", &pair.server])?;
        run(&["ip", "netns", "add", &pair.client])?;
        run(&[
            "ip",
            "link",
            "add",
            &pair.server_if,
            "numrxqueues",
            "2",
            "numtxqueues",
            "2",
            "netns",
            &pair.server,
            "type",
            "veth",
            "peer",
            "name",
            &pair.client_if,
            "numrxqueues",
            "2",
            "numtxqueues",
            "2",
            "netns",
            &pair.client,
        ])?;
        for (ns, dev, host) in [(&pair.server, &pair.server_if, 1), (&pair.client, &pair.client_if, 2)] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", ns, "addr", "add", &format!("198.51.100.{host}/24"), "dev", dev])?;
            run(&["ip", "-n", ns, "addr", "add", &format!("2001:db8::{host}/64"), "dev", dev, "nodad"])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        // The client's end keeps its checksum offload: its datagrams reach the AF_XDP socket
        // with the UDP checksum left for the "hardware" (CHECKSUM_PARTIAL), which the server
        // takes as the kernel does.
        Ok(pair)
    }

    /// Runs `f` on a thread inside namespace `ns`. Sockets made there stay in it wherever
    /// they are used.
    pub fn inside<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{ns}");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = std::fs::File::open(&path).expect("the namespace's file");
                    // SAFETY: setns with an open namespace descriptor changes only this
                    // thread's network namespace; no memory is involved.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .expect("the thread in the namespace panicked")
        })
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill with a pid and a signal number has no memory effects.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs a command; its output, or why it failed.
pub fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Why a test behind AF_XDP cannot run here, if it cannot.
pub fn unable() -> Option<String> {
    // SAFETY: geteuid reads the process's user id; no memory is involved.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (namespaces, BPF and AF_XDP need it)".into());
    }
    let missing: Vec<&str> = ["ip", "ethtool"].into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        return Some(format!("{missing:?} not installed"));
    }
    None
}

/// Skips (outside CI) or fails (under CI=true) with `reason`.
pub fn skip(reason: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "the XDP test cannot run under CI: {reason}");
    eprintln!("skipping the XDP test: {reason}");
}

/// The namespaces and veth pair for a test of its own, or `None` after saying why they cannot
/// be made here (see [`skip`]: under CI=true that fails the test).
pub fn pair_or_skip() -> Option<Pair> {
    if let Some(reason) = unable() {
        skip(&reason);
        return None;
    }
    match Pair::new() {
        Ok(pair) => Some(pair),
        Err(reason) => {
            skip(&format!("cannot make the namespaces and veth pair: {reason}"));
            None
        }
    }
}

/// The sum of a metric's samples whose labels contain `labels`.
pub fn sum(metrics: &str, name: &str, labels: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

thread_local! {
    /// Whether servers this thread starts go behind AF_XDP, and how many it started so.
    static BEHIND: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Why a test behind AF_XDP stopped early: it cannot run here (see [`skip`]).
struct Skip(String);

/// Stops the test running on this thread, which cannot run behind AF_XDP here: it passes with
/// `reason`, except under CI=true (see [`behind`]). Unwinds without the panic hook, so nothing
/// is printed as a failure.
pub fn cannot(reason: String) -> ! {
    std::panic::resume_unwind(Box::new(Skip(reason)))
}

/// Runs `test` with every server it starts behind AF_XDP, in namespaces of its own. Fails
/// when the test starts no server (it belongs in `also_behind_xdp!`'s `udp_only` list).
pub fn behind(test: fn()) {
    if let Some(reason) = unable() {
        return skip(&reason);
    }
    BEHIND.with(|b| b.set(Some(0)));
    let result = std::panic::catch_unwind(test);
    let started = BEHIND.with(|b| b.take()).unwrap_or(0);
    match result {
        Ok(()) => assert!(started > 0, "the test started no server to put behind AF_XDP"),
        Err(payload) => match payload.downcast::<Skip>() {
            Ok(reason) => skip(&reason.0),
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}

/// Checks that every test in `file` (a path from the crate's root, as `file!()` gives it) is
/// either in `variants` or in `udp_only`.
pub fn check_listed(file: &str, variants: &[&str], udp_only: &[(&str, &str)]) {
    let source = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let mut lines = source.lines();
    let mut tests = Vec::new();
    while let Some(line) = lines.next() {
        if line == "#[test]" {
            let name = lines.next().and_then(|l| l.strip_prefix("fn ")?.split('(').next()).unwrap_or_default();
            tests.push(name.to_string());
        }
    }
    assert!(!tests.is_empty(), "no tests found in {file}");
    for test in &tests {
        let listed = variants.contains(&test.as_str()) || udp_only.iter().any(|(name, _)| name == test);
        assert!(listed, "{file}: {test} has no variant behind AF_XDP and is not listed as UDP-only with a reason");
    }
}

/// For each test named, a test of the same name that runs it with its servers behind AF_XDP
/// (to be invoked in a module inside the tests' file); the tests after `udp_only:` are left
/// out, each with why. A further test checks that every test of the file is in one list or
/// the other.
macro_rules! also_behind_xdp {
    ($($test:ident),* $(,)? ; udp_only: $($left:ident => $why:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::common::xdp::behind(super::$test);
            }
        )*

        #[test]
        fn every_test_runs_behind_xdp_or_says_why_not() {
            $(let _: fn() = super::$left;)*
            $crate::common::xdp::check_listed(
                file!(),
                &[$(stringify!($test)),*],
                &[$((stringify!($left), $why)),*],
            );
        }
    };
}
pub(crate) use also_behind_xdp;

/// A server's place behind AF_XDP: its namespaces, and what the test sent it over UDP.
pub struct Behind {
    /// The namespaces and the veth pair.
    pub pair: Pair,
    /// Datagrams that fit one frame and got an answer.
    answered: AtomicU64,
    /// Datagrams sent too long for one frame: fragmented, so the stack's.
    fragmented: AtomicU64,
    /// UDP exchanges so far: they alternate between IPv4 and IPv6.
    exchanges: AtomicUsize,
}

impl Behind {
    /// A place for a server when this thread runs behind AF_XDP: the namespaces made. Stops
    /// the test (see [`cannot`]) when the kernel refuses them.
    pub fn asked() -> Option<Behind> {
        BEHIND.with(|b| b.get())?;
        let pair = Pair::new().unwrap_or_else(|e| cannot(format!("cannot make the namespaces and veth pair: {e}")));
        BEHIND.with(|b| b.set(b.get().map(|n| n + 1)));
        Some(Behind {
            pair,
            answered: AtomicU64::new(0),
            fragmented: AtomicU64::new(0),
            exchanges: AtomicUsize::new(0),
        })
    }

    /// A command that runs `program` in the server's namespace (`ip netns exec` execs it, so
    /// the child is the program itself).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.pair.server]).arg(program);
        command
    }

    /// `config` with `[server]` listening on the pair's addresses, `xdp` on the server's end
    /// and the control endpoint at [`CONTROL`] (for the metrics checked at the end).
    pub fn config(&self, config: &str) -> String {
        let mut table: toml::Table = config.parse().expect("the test's config parses as TOML");
        let server = table.entry("server").or_insert_with(|| toml::Table::new().into());
        let server = server.as_table_mut().expect("[server] is a table");
        let listen = [format!("{SERVER_V4}:{PORT}"), format!("[{SERVER_V6}]:{PORT}")];
        server.insert("listen".into(), toml::Value::Array(listen.into_iter().map(toml::Value::from).collect()));
        server.insert("xdp".into(), toml::Value::Array(vec![self.pair.server_if.as_str().into()]));
        server.insert("control".into(), CONTROL.into());
        table.to_string()
    }

    /// Why the server cannot be tested behind AF_XDP here, when `output`, its log up to its
    /// listening line (the AF_XDP line comes before it, on the same stream), says that it
    /// could not set AF_XDP up.
    pub fn started(&self, output: &str) -> Result<(), String> {
        if output.contains("serving UDP over AF_XDP") {
            return Ok(());
        }
        Err(format!("the server could not set up AF_XDP here:\n{output}"))
    }

    /// The address the next UDP exchange goes to: IPv4 and IPv6 in turn, so that both frame
    /// layouts are answered.
    pub fn next_address(&self) -> SocketAddr {
        let ipv6 = self.exchanges.fetch_add(1, Ordering::Relaxed) % 2 == 1;
        let address = if ipv6 { format!("[{SERVER_V6}]:{PORT}") } else { format!("{SERVER_V4}:{PORT}") };
        address.parse().unwrap()
    }

    /// A UDP socket in the client's namespace, for `server`'s address family.
    pub fn udp_socket(&self, server: SocketAddr) -> UdpSocket {
        let local = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
        Pair::inside(&self.pair.client, || UdpSocket::bind(local).unwrap())
    }

    /// A TCP connection to `server` from the client's namespace.
    pub fn connect(&self, server: SocketAddr) -> std::io::Result<TcpStream> {
        Pair::inside(&self.pair.client, || TcpStream::connect_timeout(&server, ANSWER_TIMEOUT))
    }

    /// Counts a datagram of `len` bytes sent to `server`, `answered` or not.
    pub fn sent(&self, server: SocketAddr, len: usize, answered: bool) {
        let headers = if server.is_ipv6() { 40 + 8 } else { 20 + 8 };
        if headers + len > MTU {
            self.fragmented.fetch_add(1, Ordering::Relaxed);
        } else if answered {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Checks, from the metrics of the server at `control` and the UDP counters of the
    /// namespace of process `pid` (the server, still running), that the datagrams that fit one
    /// frame went through the AF_XDP sockets: every answer the test got to one came off their
    /// TX rings, and the kernel's stack took no more UDP than the fragmented datagrams.
    pub fn verify(&self, control: Option<SocketAddr>, pid: u32) -> Result<(), String> {
        let control = control.ok_or("the server behind AF_XDP logged no control endpoint")?;
        let metrics = Pair::inside(&self.pair.server, || metrics(control))?;
        let metrics = metrics.as_str();
        let iface = format!("interface=\"{}\"", self.pair.server_if);
        let received = sum(metrics, "eightfold_xdp_received_total", &iface);
        let answered_xdp = sum(metrics, "eightfold_xdp_answered_total", &iface);
        let answered = self.answered.load(Ordering::Relaxed);
        let fragmented = self.fragmented.load(Ordering::Relaxed);
        let stack = stack_udp(pid)?;
        let xdp: Vec<&str> = metrics.lines().filter(|l| l.starts_with("eightfold_xdp_")).collect();
        let report = format!(
            "{answered} answers to single-frame datagrams, {fragmented} fragmented datagrams sent; \
             the stack took {stack} UDP datagrams; AF_XDP:\n{}",
            xdp.join("\n")
        );
        if !metrics.contains(&format!("eightfold_xdp_info{{{iface},")) {
            return Err(format!("the server does not serve {} over AF_XDP: {report}", self.pair.server_if));
        }
        if received < answered || answered_xdp < answered {
            return Err(format!("answers that did not come through the AF_XDP sockets: {report}"));
        }
        if stack > fragmented {
            return Err(format!("UDP reached the kernel's stack, not the AF_XDP sockets: {report}"));
        }
        Ok(())
    }
}

/// The metrics of the control endpoint at `control` (from inside its namespace).
pub fn metrics(control: SocketAddr) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("the metrics at {control}: {e}");
    let mut stream = TcpStream::connect_timeout(&control, ANSWER_TIMEOUT).map_err(fail)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(fail)?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").map_err(fail)?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(fail)?;
    Ok(text)
}

/// UDP datagrams the kernel's stack took (delivered, to no socket, or in error), IPv4 and
/// IPv6, in the network namespace of process `pid`.
fn stack_udp(pid: u32) -> Result<u64, String> {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{name}")).map_err(|e| format!("/proc/{pid}/net/{name}: {e}"))
    };
    let wanted = ["InDatagrams", "NoPorts", "InErrors"];
    let snmp = read("snmp")?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap_or_default(), udp.next().unwrap_or_default());
    let mut total: u64 = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter(|(name, _)| wanted.contains(name))
        .filter_map(|(_, value)| value.parse::<u64>().ok())
        .sum();
    for line in read("snmp6")?.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(value)) = (words.next(), words.next()) {
            if name.strip_prefix("Udp6").is_some_and(|n| wanted.contains(&n)) {
                total += value.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}
