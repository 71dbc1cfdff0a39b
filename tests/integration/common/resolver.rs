//! A validating resolver for end-to-end DNSSEC tests: Debian's `unbound` (which `.ci/run`
//! installs) in the foreground on a free loopback port, with a trust anchor for the zone
//! under test and a stub zone sending its queries to the authoritative server on loopback.
//! Every TTL is cut to 0, so no answer is cached: each query is asked of the server again and
//! sees a fresh multivalue draw. It is killed on drop, printing the tail of its log when the
//! test failed.
//!
//! ```text
//!  test --query (RD, DO, AD)--> unbound 127.0.0.1:PORT --stub-zone--> 127.0.0.1@AUTH_PORT
//!       <--answer, AD when it validated from the trust anchor down--'
//! ```

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::ports::free_port;
use super::{read_framed, udp_exchange, write_framed};

/// How long unbound may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for one answer: unbound may ask the server several times (the DNSKEY
/// set, DS proofs, QNAME minimisation) before it answers.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of unbound's log a failure shows.
const LOG_TAIL: usize = 6000;

/// Every IPv4 address outside 127.0.0.0/8: unbound may not send to any of them, so a name
/// the tests did not mean it to chase (a root priming, an NS target outside the zone)
/// fails here instead of reaching the network.
const NOT_LOOPBACK: [&str; 8] = [
    "0.0.0.0/2",
    "64.0.0.0/3",
    "96.0.0.0/4",
    "112.0.0.0/5",
    "120.0.0.0/6",
    "124.0.0.0/7",
    "126.0.0.0/8",
    "128.0.0.0/1",
];

/// A running unbound.
pub struct Resolver {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    /// Its folder: the config, the pidfile, the log.
    pub dir: tempfile::TempDir,
}

impl Resolver {
    /// Starts unbound validating `zone` from `trust_anchor` (a DS or DNSKEY record in
    /// presentation format, as `eightfold ds` prints it), asking the server at
    /// 127.0.0.1:`auth_port` for it.
    pub fn start(zone: &str, auth_port: u16, trust_anchor: &str) -> Resolver {
        Self::start_stubs(&[(zone, auth_port)], &[trust_anchor])
    }

    /// Starts unbound with one stub zone per `(zone, port)` (a child zone's server too) and
    /// these trust anchors.
    pub fn start_stubs(stubs: &[(&str, u16)], trust_anchors: &[&str]) -> Resolver {
        assert!(super::have("unbound"), "unbound is not installed (apt-get install unbound)");
        let mut last_log = String::new();
        // The port is free when chosen, but another process may take it before unbound
        // binds it: then try another.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let conf = config(&dir.path().display().to_string(), port, stubs, trust_anchors);
            std::fs::write(dir.path().join("unbound.conf"), &conf).unwrap();
            let child = Command::new("unbound")
                .arg("-d")
                .arg("-c")
                .arg(dir.path().join("unbound.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
                .spawn()
                .expect("start unbound");
            let mut resolver = Resolver { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), dir };
            if resolver.wait_ready() {
                return resolver;
            }
            last_log = resolver.log_tail();
            let _ = resolver.child.kill();
            let _ = resolver.child.wait();
            if !last_log.contains("can't bind") && !last_log.contains("Address already in use") {
                break;
            }
        }
        panic!("unbound did not start:\n{last_log}");
    }

    /// Asks for `name`/`qtype` (RD, and DO and AD so the answer says whether it validated)
    /// over UDP, again over TCP when the answer is truncated.
    pub fn query(&self, name: &str, qtype: RecordType) -> Message {
        let query = dnssec_query(name, qtype);
        let Some(bytes) = udp_exchange(self.addr, &query.to_vec().unwrap(), RESOLVE_TIMEOUT) else {
            panic!("no answer from unbound for {name} {qtype}\n{}", self.log_tail());
        };
        let mut answer = Message::from_vec(&bytes).expect("unbound's answer parses");
        if answer.truncated() {
            let mut stream = TcpStream::connect_timeout(&self.addr, RESOLVE_TIMEOUT).unwrap();
            stream.set_read_timeout(Some(RESOLVE_TIMEOUT)).unwrap();
            write_framed(&mut stream, &query.to_vec().unwrap());
            let Some(bytes) = read_framed(&mut stream) else {
                panic!("no answer from unbound over TCP for {name} {qtype}\n{}", self.log_tail());
            };
            answer = Message::from_vec(&bytes).expect("unbound's answer parses");
        }
        assert_eq!(answer.id(), query.id());
        answer
    }

    /// The last few KB of unbound's log (validation failures are logged at val-log-level 2).
    pub fn log_tail(&self) -> String {
        let mut log = std::fs::read_to_string(self.path("unbound.log")).unwrap_or_default();
        log += &std::fs::read_to_string(self.path("stderr.log")).unwrap_or_default();
        let start = log.len().saturating_sub(LOG_TAIL);
        let start = (start..log.len()).find(|&i| log.is_char_boundary(i)).unwrap_or(log.len());
        log[start..].to_string()
    }

    /// A file in unbound's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Polls until unbound answers a query it answers itself (`version.server` CH TXT, no
    /// upstream involved); false when it exited or did not answer in time.
    fn wait_ready(&mut self) -> bool {
        let mut probe = Message::new();
        probe.set_id(fastrand::u16(..));
        let mut question = Query::query(Name::from_ascii("version.server.").unwrap(), RecordType::TXT);
        question.set_query_class(DNSClass::CH);
        probe.add_query(question);
        let bytes = probe.to_vec().unwrap();
        let until = Instant::now() + START_TIMEOUT;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if udp_exchange(self.addr, &bytes, Duration::from_millis(200)).is_some() {
                return true;
            }
        }
        false
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- unbound log (tail) ---\n{}", self.log_tail());
        }
    }
}

/// BIND's `delv`, a second validator, asking the authoritative server at `server` itself
/// (every name it needs is in the zone) with the DS record `ds` as the trust anchor and its
/// owner as the root of trust. Its output, standard output and error together: "; fully
/// validated" (or "; negative response, fully validated") when the answer validated; it
/// exits 0 either way.
pub fn delv(server: SocketAddr, ds: &str, name: &str, qtype: RecordType) -> String {
    let fields: Vec<&str> = ds.split_whitespace().collect();
    let at = fields.iter().position(|f| f.eq_ignore_ascii_case("DS")).expect("a DS record");
    let (owner, tag, algorithm, digest_type) = (fields[0], fields[at + 1], fields[at + 2], fields[at + 3]);
    let digest = fields[at + 4..].concat();
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("anchors.conf");
    std::fs::write(
        &anchors,
        format!("trust-anchors {{\n  {owner} static-ds {tag} {algorithm} {digest_type} \"{digest}\";\n}};\n"),
    )
    .unwrap();
    let out = Command::new("delv")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "-a"])
        .arg(&anchors)
        .arg(format!("+root={owner}"))
        .args([name, &qtype.to_string()])
        .output()
        .expect("run delv");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Whether the answer carries the AD flag: unbound validated it.
pub fn ad(m: &Message) -> bool {
    m.authentic_data()
}

/// A query for `name`/`qtype` with RD, the AD bit, and EDNS (1232 bytes) with DO.
pub fn dnssec_query(name: &str, qtype: RecordType) -> Message {
    let mut m = super::message(name, qtype, Some(1232));
    m.set_authentic_data(true);
    m.extensions_mut().as_mut().unwrap().set_dnssec_ok(true);
    m
}

/// A short text of an answer for assertion messages: the flags, the rcode and each record.
pub fn show(m: &Message) -> String {
    let mut text = format!(
        "rcode {:?} aa {} ad {} tc {}\n",
        m.response_code(),
        m.authoritative(),
        m.authentic_data(),
        m.truncated()
    );
    for (section, records) in
        [("answer", m.answers()), ("authority", m.name_servers()), ("additional", m.additionals())]
    {
        for record in records {
            text += &format!("{section}: {record}\n");
        }
    }
    text
}

/// unbound's config: loopback only, no privilege drop, no chroot, a log in `dir`, and every
/// TTL cut to 0 (a message with TTL 0 is not cached), so each query is asked of the
/// authoritative server again; no aggressive NSEC, no prefetch, no bogus answer kept.
fn config(dir: &str, port: u16, stubs: &[(&str, u16)], trust_anchors: &[&str]) -> String {
    let mut conf = format!(
        "server:
  verbosity: 1
  interface: 127.0.0.1
  port: {port}
  outgoing-interface: 127.0.0.1
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  num-threads: 1
  so-reuseport: no
  outgoing-range: 64
  num-queries-per-thread: 32
  access-control: 127.0.0.0/8 allow
  chroot: \"\"
  username: \"\"
  directory: \"{dir}\"
  pidfile: \"{dir}/unbound.pid\"
  use-syslog: no
  logfile: \"{dir}/unbound.log\"
  log-time-ascii: yes
  log-servfail: yes
  val-log-level: 2
  module-config: \"validator iterator\"
  do-not-query-localhost: no
  cache-min-ttl: 0
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
  val-bogus-ttl: 0
  prefetch: no
  prefetch-key: no
  serve-expired: no
  aggressive-nsec: no
  trust-anchor-signaling: no
  root-key-sentinel: no
"
    );
    for block in NOT_LOOPBACK {
        conf += &format!("  do-not-query-address: {block}\n");
    }
    for anchor in trust_anchors {
        conf += &format!("  trust-anchor: \"{}\"\n", anchor.trim());
    }
    for (zone, auth_port) in stubs {
        conf += &format!("stub-zone:\n  name: \"{zone}\"\n  stub-addr: 127.0.0.1@{auth_port}\n");
    }
    conf += "remote-control:\n  control-enable: no\n";
    conf
}
