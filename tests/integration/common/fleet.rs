//! A fleet for the drills: eightfold instances on loopback sharing real etcd members
//! ([`super::etcd`]), HTTP targets they probe ([`super::endpoints::HttpEndpoint`], which
//! counts the probes it receives), a blackhole proxy that cuts one instance off from etcd,
//! a loop of bounded queries that counts the ones lost, and readers of each instance's
//! metrics and of the fleet's keys in etcd.
//!
//! ```text
//!   instance a --------------------------------> etcd m0, m1, m2 (loopback)
//!   instance c --> Link (a Proxy per member) --> etcd m0, m1, m2
//!        \--> probes HttpEndpoint t0, t1, ... on 127.0.0.2, .3, ...
//!   test --> DNS queries (UDP) to every instance; GET /metrics; etcd reads
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eightfold::cluster::keys::{self, Parsed, Report};
use eightfold::cluster::{rendezvous, Etcd, EtcdOptions, KeyRange, Observers, Revision, Store};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::endpoints::{Behaviour, HttpEndpoint};
use super::etcd::EtcdCluster;
use super::{addresses, message, udp_exchange, TestServer, ZONE};

/// Seconds between probes of every check in the drills.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// `[cluster] lease_ttl` of every instance.
pub const LEASE_TTL: Duration = Duration::from_secs(2);
/// `[cluster] fallback_after` of every instance.
pub const FALLBACK_AFTER: Duration = Duration::from_secs(4);
/// The longest one call to etcd takes when no endpoint answers (a cut link): each of the
/// 3 endpoints is given `lease_ttl / 3`, at least 1 s. An instance notices it is out of
/// reach, and falls back, only as such a call ends.
pub const ETCD_CALL: Duration = Duration::from_secs(3);
/// `[cluster] self_check_interval` of every instance.
pub const SELF_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// `[cluster] observers_per_check` (k) of every instance.
pub const K: usize = 2;
/// The multivalue name every drill's targets stand behind.
pub const NAME: &str = "mv.example.com.";
/// How long a query may take, counting its one retry, before it counts as lost.
pub const LOST_AFTER: Duration = Duration::from_secs(1);

/// The `[cluster]` settings every instance shares (short, so the drills are quick).
fn cluster_settings() -> String {
    format!(
        "observers_per_check = {K}\nhealthy_fraction = 0.18\nmin_observers = 2\nlease_ttl = {}\n\
         fallback_after = {}\nmembership_debounce = 0.5\nself_check_interval = {}\n",
        LEASE_TTL.as_secs(),
        FALLBACK_AFTER.as_secs(),
        SELF_CHECK_INTERVAL.as_secs()
    )
}

/// A TCP proxy on loopback in front of one etcd member that a test can cut, as a network
/// partition would: while cut, nothing goes through in either direction and connections,
/// old and new, are held open in silence, so the client's requests time out rather than fail
/// at once. When healed, every connection that lived through the cut is closed (a peer's TCP
/// gives up on a connection a long partition broke) and new ones go through again; bytes
/// held during the cut are never delivered late.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    relayed: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding a free loopback port to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            cut: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            accepted: Arc::new(AtomicUsize::new(0)),
            relayed: Arc::new(AtomicUsize::new(0)),
        };
        let (cut, stop, accepted, relayed) =
            (proxy.cut.clone(), proxy.stop.clone(), proxy.accepted.clone(), proxy.relayed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let link = Relay { cut: cut.clone(), stop: stop.clone(), relayed: relayed.clone() };
                        std::thread::spawn(move || link.connection(client, upstream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        proxy
    }

    /// Cuts the link (true) or heals it (false).
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Bytes passed on so far, both ways.
    pub fn relayed(&self) -> usize {
        self.relayed.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What one proxied connection's threads share with their proxy.
#[derive(Clone)]
struct Relay {
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    relayed: Arc<AtomicUsize>,
}

impl Relay {
    fn connection(self, client: TcpStream, upstream: SocketAddr) {
        let _ = client.set_nonblocking(false);
        // Held while cut; a connection that waited through a cut is closed at the heal.
        if self.hold() {
            return;
        }
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(1)) else {
            // The member is down: the client sees its connection closed.
            return;
        };
        let lived_through = Arc::new(AtomicBool::new(false));
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { return };
        let back = {
            let (relay, lived_through) = (self.clone(), lived_through.clone());
            std::thread::spawn(move || relay.pump(server2, client2, &lived_through))
        };
        self.pump(client, server, &lived_through);
        let _ = back.join();
    }

    /// Waits while the link is cut; whether it was (or the proxy stopped).
    fn hold(&self) -> bool {
        let mut was_cut = false;
        while self.cut.load(Ordering::SeqCst) && !self.stop.load(Ordering::Relaxed) {
            was_cut = true;
            std::thread::sleep(Duration::from_millis(10));
        }
        was_cut || self.stop.load(Ordering::Relaxed)
    }

    /// Copies `from` to `to` until either end closes, the proxy stops, or a cut heals.
    fn pump(&self, mut from: TcpStream, mut to: TcpStream, lived_through: &AtomicBool) {
        let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if self.hold() {
                lived_through.store(true, Ordering::SeqCst);
            }
            if lived_through.load(Ordering::SeqCst) || self.stop.load(Ordering::Relaxed) {
                break;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // Read just as the cut began: held, then dropped with the connection.
                    if self.hold() {
                        lived_through.store(true, Ordering::SeqCst);
                        break;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    self.relayed.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }
}

/// One instance's way to etcd: a [`Proxy`] in front of each member, cut and healed together.
pub struct Link {
    /// One proxy per etcd member, in member order.
    pub proxies: Vec<Proxy>,
}

impl Link {
    /// A proxy in front of each of `etcd`'s members.
    pub fn start(etcd: &EtcdCluster) -> Link {
        let proxies = etcd
            .endpoints()
            .iter()
            .map(|url| Proxy::start(url.trim_start_matches("http://").parse().expect("a plain-HTTP etcd URL")))
            .collect();
        Link { proxies }
    }

    /// The proxies' URLs, for `[cluster] endpoints`.
    pub fn endpoints(&self) -> Vec<String> {
        self.proxies.iter().map(|p| format!("http://{}", p.addr)).collect()
    }

    /// Cuts (true) or heals (false) every proxy at once.
    pub fn set_cut(&self, cut: bool) {
        for proxy in &self.proxies {
            proxy.set_cut(cut);
        }
    }
}

/// HTTP targets on 127.0.0.2, .3, … with a check each (`t0`, `t1`, …) and a member each in
/// the multivalue set [`NAME`] (`10.0.0.1`, `10.0.0.2`, …).
pub struct Targets {
    /// The endpoints, in check order.
    pub endpoints: Vec<HttpEndpoint>,
}

impl Targets {
    /// Starts `n` targets, all up.
    pub fn start(n: usize) -> Targets {
        Targets { endpoints: (0..n).map(|i| HttpEndpoint::start(&format!("127.0.0.{}", i + 2))).collect() }
    }

    /// Check ids, in order.
    pub fn checks(&self) -> Vec<String> {
        (0..self.endpoints.len()).map(|i| format!("t{i}")).collect()
    }

    /// The address target `i`'s record answers.
    pub fn address(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, i as u8 + 1)
    }

    /// The addresses of the targets in `up`.
    pub fn addresses(up: impl IntoIterator<Item = usize>) -> BTreeSet<Ipv4Addr> {
        up.into_iter().map(Targets::address).collect()
    }

    /// Target `i` answers 500 (false) or 200 (true).
    pub fn set_up(&self, i: usize, up: bool) {
        let behaviour = if up { Behaviour::Respond(200, "OK".into()) } else { Behaviour::Respond(500, "down".into()) };
        self.endpoints[i].set(behaviour);
    }

    /// Probes each target has received so far.
    pub fn hits(&self) -> Vec<usize> {
        self.endpoints.iter().map(|e| e.hits()).collect()
    }

    /// Probes per target per [`INTERVAL`] over the next `window`.
    pub fn probe_rates(&self, window: Duration) -> Vec<f64> {
        let before = self.hits();
        std::thread::sleep(window);
        let intervals = window.as_secs_f64() / INTERVAL.as_secs_f64();
        self.hits().iter().zip(before).map(|(after, before)| (after - before) as f64 / intervals).collect()
    }

    /// The config's zone, checks (interval [`INTERVAL`], `threshold`) and records; `all`
    /// lists the checks probed by every instance (`observers = "all"`).
    pub fn config(&self, threshold: u32, all: &[usize]) -> String {
        let mut body = "[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n".to_string();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let observers = if all.contains(&i) { "observers = \"all\"\n" } else { "" };
            body += &format!(
                "[[health_check]]\nid = \"t{i}\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = {}\n\
                 failure_threshold = {threshold}\n{observers}",
                endpoint.addr.ip(),
                endpoint.addr.port(),
                INTERVAL.as_secs()
            );
            body += &format!(
                "[[record]]\nname = \"{NAME}\"\ntype = \"A\"\nttl = 5\nrouting = \"multivalue\"\nset_id = \"t{i}\"\n\
                 values = [\"{}\"]\nhealth_check = \"t{i}\"\n",
                Targets::address(i)
            );
        }
        body
    }
}

/// The reports in etcd: check -> instance -> report.
pub type Reports = BTreeMap<String, BTreeMap<String, Report>>;

/// How an instance reaches etcd.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// Straight to every member.
    Direct,
    /// Through a [`Link`] the test can cut.
    Linked,
}

/// Instances of one fleet (cluster `name`), `a`, `b`, `c`, … each on its own free port
/// with its own control endpoint and state file.
pub struct Fleet {
    /// The fleet's name (`[cluster] name`): its keys live under `/eightfold/<name>/`.
    pub name: String,
    /// The instances; `None` once killed.
    pub instances: Vec<Option<TestServer>>,
    /// Each instance's link to etcd, when it has one.
    pub links: Vec<Option<Link>>,
    /// A client straight to etcd, for reading the fleet's keys.
    pub store: Etcd,
}

impl Fleet {
    /// Starts one instance per entry of `reach`, serving `body` (from [`Targets::config`]).
    pub fn start(etcd: &EtcdCluster, name: &str, body: &str, reach: &[Reach]) -> Fleet {
        let links: Vec<Option<Link>> = reach.iter().map(|r| (*r == Reach::Linked).then(|| Link::start(etcd))).collect();
        let instances = links
            .iter()
            .enumerate()
            .map(|(i, link)| {
                let endpoints = link.as_ref().map_or_else(|| etcd.endpoints(), Link::endpoints);
                let cluster = format!(
                    "[cluster]\nendpoints = {endpoints:?}\nname = \"{name}\"\ninstance = \"{}\"\n{}",
                    Fleet::id(i),
                    cluster_settings()
                );
                Some(start_instance(&format!("{cluster}{body}")))
            })
            .collect();
        let mut options = EtcdOptions::new(etcd.endpoints());
        options.timeout = Duration::from_secs(2);
        options.connect_timeout = Duration::from_millis(500);
        let store = Etcd::new(options).unwrap();
        Fleet { name: name.to_string(), instances, links, store }
    }

    /// Instance `i`'s id: `a`, `b`, `c`, …
    pub fn id(i: usize) -> String {
        char::from(b'a' + i as u8).to_string()
    }

    /// The indices of the instances still running.
    pub fn live(&self) -> Vec<usize> {
        (0..self.instances.len()).filter(|&i| self.instances[i].is_some()).collect()
    }

    /// Instance `i` (it must be running).
    pub fn instance(&self, i: usize) -> &TestServer {
        self.instances[i].as_ref().expect("a running instance")
    }

    /// Kills instance `i` (SIGKILL: its keys stay until its lease expires).
    pub fn kill(&mut self, i: usize) {
        self.instances[i] = None;
    }

    /// Cuts instance `i` off from etcd (true) or heals its link (false).
    pub fn set_cut(&self, i: usize, cut: bool) {
        self.links[i].as_ref().expect("a linked instance").set_cut(cut);
    }

    /// Instance `i`'s answer to `A NAME`: its addresses, or `None` (no answer in time, or
    /// not NOERROR).
    pub fn answer(&self, i: usize) -> Option<BTreeSet<Ipv4Addr>> {
        let response = ask(self.instance(i).addr)?;
        (response.response_code() == ResponseCode::NoError).then(|| addresses(&response).into_iter().collect())
    }

    /// Instance `i`'s metrics, or `None` when its control endpoint does not answer.
    pub fn metrics(&self, i: usize) -> Option<Metrics> {
        Metrics::read(self.instance(i).control.expect("a control endpoint"))
    }

    /// Metric `key` (name and labels, as in the exposition) of instance `i`.
    pub fn metric(&self, i: usize, key: &str) -> Option<f64> {
        self.metrics(i)?.get(key)
    }

    /// Polls the live instances every 50 ms until `holds` is true of each one's metrics
    /// and answer, or `limit` passes; how long each took (`None`: not within `limit`).
    pub fn until_each(
        &self,
        limit: Duration,
        mut holds: impl FnMut(usize, &Fleet) -> bool,
    ) -> BTreeMap<String, Option<Duration>> {
        let started = Instant::now();
        let mut took: BTreeMap<usize, Option<Duration>> = self.live().into_iter().map(|i| (i, None)).collect();
        loop {
            for (i, took) in took.iter_mut().filter(|(_, t)| t.is_none()) {
                if holds(*i, self) {
                    *took = Some(started.elapsed());
                }
            }
            if took.values().all(Option::is_some) || started.elapsed() > limit {
                return took.into_iter().map(|(i, t)| (Fleet::id(i), t)).collect();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every live instance is connected, not in local mode, and counts every
    /// live instance a member, and etcd holds `observers(check)` reports of each of
    /// `checks`; panics with what it saw after `limit`. How long it took.
    pub fn settle(&self, checks: &[String], observers: impl Fn(&str) -> usize, limit: Duration) -> Duration {
        let started = Instant::now();
        let live = self.live().len() as f64;
        let live_ids: BTreeSet<String> = self.live().into_iter().map(Fleet::id).collect();
        loop {
            let settled = self.live().into_iter().all(|i| {
                self.metrics(i).is_some_and(|m| {
                    m.get("eightfold_cluster_connected") == Some(1.0)
                        && m.get("eightfold_cluster_local_mode") == Some(0.0)
                        && m.get("eightfold_cluster_members") == Some(live)
                })
            }) && self.members().is_ok_and(|m| m == live_ids)
                && self.reports().is_ok_and(|reports| {
                    // Each check reported by exactly its observers: the instances rendezvous
                    // hashing picks among the live ones (a count alone can be met mid-hand-over).
                    let ids: Vec<&String> = live_ids.iter().collect();
                    checks.iter().all(|c| {
                        let expected: BTreeSet<&str> =
                            rendezvous::choose(c, &ids, Observers::Count(observers(c))).into_iter().collect();
                        let reported: BTreeSet<&str> =
                            reports.get(c).map(|r| r.keys().map(String::as_str).collect()).unwrap_or_default();
                        reported == expected
                    })
                });
            if settled {
                return started.elapsed();
            }
            if started.elapsed() > limit {
                let metrics: Vec<String> = self
                    .live()
                    .into_iter()
                    .map(|i| format!("{}: {:?}", Fleet::id(i), self.metrics(i).map(|m| m.cluster())))
                    .collect();
                panic!(
                    "fleet {} did not settle in {limit:?}: members {:?}, reports {:?}, metrics {metrics:#?}",
                    self.name,
                    self.members(),
                    self.reports()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The fleet's members in etcd.
    pub fn members(&self) -> Result<BTreeSet<String>, String> {
        Ok(self
            .keys(None)?
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix("members/").map(str::to_string))
            .collect())
    }

    /// The reports in etcd, check -> instance -> report.
    pub fn reports(&self) -> Result<Reports, String> {
        self.reports_at(None).map(|(reports, _)| reports)
    }

    /// The reports in etcd at `revision` (`None`: the latest), and the revision read.
    pub fn reports_at(&self, revision: Option<Revision>) -> Result<(Reports, Revision), String> {
        let range = self
            .store
            .range_all(&KeyRange::prefix(keys::prefix(&self.name)), revision, 1000)
            .map_err(|e| e.to_string())?;
        let prefix = keys::prefix(&self.name);
        let mut reports = Reports::new();
        for kv in &range.kvs {
            if let Parsed::Report { check, instance } = keys::parse(&kv.key[prefix.len()..]) {
                let report: Report = serde_json::from_slice(&kv.value).map_err(|e| e.to_string())?;
                reports.entry(check.to_string()).or_default().insert(instance.to_string(), report);
            }
        }
        Ok((reports, revision.unwrap_or(range.revision)))
    }

    /// Every key of the fleet (less its prefix) and its value, at `revision` (`None`: latest).
    pub fn keys(&self, revision: Option<Revision>) -> Result<Vec<(String, String)>, String> {
        let prefix = keys::prefix(&self.name);
        let range =
            self.store.range_all(&KeyRange::prefix(prefix.clone()), revision, 1000).map_err(|e| e.to_string())?;
        Ok(range
            .kvs
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned();
                (key, String::from_utf8_lossy(&kv.value).into_owned())
            })
            .collect())
    }

    /// The keys instance `id` owns in etcd (its membership and its reports).
    pub fn keys_of(&self, id: &str) -> Result<Vec<String>, String> {
        Ok(self
            .keys(None)?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| {
                key == &format!("members/{id}") || key.ends_with(&format!("/{id}")) && key.starts_with("obs/")
            })
            .collect())
    }

    /// etcd's current revision.
    pub fn head(&self) -> Result<Revision, String> {
        self.store.range(&KeyRange::key("/"), None, None).map(|r| r.revision).map_err(|e| e.to_string())
    }

    /// Whether instance `i`'s cache, as its metrics show it (members, and per check the
    /// reports counted and how many say healthy), equals etcd read at the revision it says
    /// it is at. Tried a few times, since the cache may move on between the two reads; the
    /// last difference when it never matched.
    pub fn cache_matches_etcd(&self, i: usize, checks: &[String]) -> Result<Revision, String> {
        let mut last = String::new();
        for _ in 0..5 {
            let metrics = self.metrics(i).ok_or("no metrics")?;
            let revision =
                metrics.get("eightfold_cluster_revision").ok_or("no eightfold_cluster_revision")? as Revision;
            let (reports, _) = self.reports_at(Some(revision))?;
            let members = self.keys(Some(revision))?.iter().filter(|(k, _)| k.starts_with("members/")).count();
            let mut differences = Vec::new();
            if metrics.get("eightfold_cluster_members") != Some(members as f64) {
                differences.push(format!("members {:?} (etcd {members})", metrics.get("eightfold_cluster_members")));
            }
            for check in checks {
                let of = reports.get(check);
                let counted = of.map_or(0, BTreeMap::len) as f64;
                let healthy = of.map_or(0, |r| r.values().filter(|r| r.healthy).count()) as f64;
                let seen = metrics.get(&format!("eightfold_cluster_check_observers{{check=\"{check}\"}}"));
                let seen_healthy =
                    metrics.get(&format!("eightfold_cluster_check_healthy_observers{{check=\"{check}\"}}"));
                if seen != Some(counted) || seen_healthy != Some(healthy) {
                    differences.push(format!(
                        "{check}: observers {seen:?} healthy {seen_healthy:?} (etcd {counted}, {healthy} healthy)"
                    ));
                }
            }
            if differences.is_empty() {
                return Ok(revision);
            }
            last = format!("at revision {revision}: {}", differences.join("; "));
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last)
    }
}

/// Starts one instance on a config with `[cluster]` (or none): `[server]` with a free port,
/// a control endpoint and a state file is put in front.
pub fn start_instance(rest: &str) -> TestServer {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\nstate_file = \"state.json\"\n{rest}"
    );
    TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[])
}

/// One `A NAME` query to `addr` with one retry: the answer, or `None` when neither came
/// within [`LOST_AFTER`] (half of it each).
pub fn ask(addr: SocketAddr) -> Option<Message> {
    for _ in 0..2 {
        let query = message(NAME, RecordType::A, None);
        if let Some(bytes) = udp_exchange(addr, &query.to_vec().unwrap(), LOST_AFTER / 2) {
            if let Ok(answer) = Message::from_vec(&bytes) {
                if answer.id() == query.id() {
                    return Some(answer);
                }
            }
        }
    }
    None
}

/// A loop of queries for [`NAME`] to several servers in turn, on its own thread, bounded in
/// count (at most 20,000) and time (until stopped, at most 5 minutes). A query is lost when
/// neither it nor its one retry is answered within [`LOST_AFTER`] in all; an answer that is
/// not NOERROR with at least one address counts as failed.
pub struct QueryLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<LoopReport>>,
}

/// What a [`QueryLoop`] saw.
#[derive(Debug, Default)]
pub struct LoopReport {
    /// Queries sent (retries not counted).
    pub sent: usize,
    /// The lost ones: (server index, time since the loop started).
    pub lost: Vec<(usize, Duration)>,
    /// Answers that were not NOERROR with at least one address: (server, since start, rcode).
    pub failed: Vec<(usize, Duration, ResponseCode)>,
    /// How often each set of addresses was answered.
    pub answers: BTreeMap<BTreeSet<Ipv4Addr>, usize>,
}

impl QueryLoop {
    /// Starts querying `servers` in turn, one query every 10 ms.
    pub fn start(servers: Vec<SocketAddr>) -> QueryLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut report = LoopReport::default();
            while !flag.load(Ordering::Relaxed) && report.sent < 20_000 && started.elapsed() < Duration::from_secs(300)
            {
                let server = report.sent % servers.len();
                report.sent += 1;
                match ask(servers[server]) {
                    None => report.lost.push((server, started.elapsed())),
                    Some(m) if m.response_code() != ResponseCode::NoError || addresses(&m).is_empty() => {
                        report.failed.push((server, started.elapsed(), m.response_code()))
                    }
                    Some(m) => *report.answers.entry(addresses(&m).into_iter().collect()).or_default() += 1,
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            report
        });
        QueryLoop { stop, thread: Some(thread) }
    }

    /// Stops the loop; what it saw.
    pub fn stop(mut self) -> LoopReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for QueryLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One scrape of an instance's `/metrics`: each sample by its name and labels as written
/// (`eightfold_cluster_check_observers{check="t0"}`).
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    /// Scrapes `control`'s `/metrics` (2 s at most); `None` when it does not answer.
    pub fn read(control: SocketAddr) -> Option<Metrics> {
        let mut stream = TcpStream::connect_timeout(&control, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        if head.split_whitespace().nth(1) != Some("200") {
            return None;
        }
        Some(Metrics::parse(body))
    }

    /// Reads the text exposition format.
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (key, value) = l.rsplit_once(' ')?;
                    Some((key.to_string(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// A sample's value.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).copied()
    }

    /// The `eightfold_cluster_*` samples, for messages.
    pub fn cluster(&self) -> BTreeMap<String, f64> {
        self.0.iter().filter(|(k, _)| k.starts_with("eightfold_cluster_")).map(|(k, v)| (k.clone(), *v)).collect()
    }
}
