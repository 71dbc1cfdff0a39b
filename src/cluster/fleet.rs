//! The cluster thread: this instance's place in a fleet. It keeps a lease alive with
//! `members/<instance>` under it, writes this instance's reports (`obs/<check>/<instance>`)
//! when the prober says a check it probes flipped, keeps a cache of every member and report
//! from a watch, decides which checks this instance probes (rendezvous hashing over the
//! members, debounced, handing a check over only once its new observers have reported), and
//! sends the prober a [`FleetView`]: which checks to probe, and per check how many reports
//! say healthy. The prober applies Route 53's rule ([`super::Rule`]) and stays the only
//! publisher of what workers read.
//!
//! ```text
//!  prober --ToFleet (checks in force, own reports)--> fleet thread --txn/lease--> etcd
//!  prober <--FleetView (probe these; reports per check)-- fleet thread <--watch-- etcd
//!                                                    (a watch thread feeds it)
//! ```
//!
//! etcd unreachable: the last view stays; after `fallback_after` the view says *local*, and
//! the prober probes every check and decides from its own probes. On reconnect the watch
//! resumes from the last revision (or, when etcd compacted past it, the cache is read again
//! in full), the lease is granted again if it expired, and the reports are written again.
//! Every `self_check_interval` the cache is compared with a read at its revision.
//!
//! Blocking calls only; no worker ever waits on this thread.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel::{self, Receiver, Sender};

use super::keys::{self, Parsed};
use super::rendezvous::{self, Observers};
use super::store::{Event, EventKind, KeyRange, KeyValue, LeaseId, Op, Revision, Store, StoreError, Txn, WatchMessage};
use crate::config::{CheckObservers, ClusterConfig};

/// etcd's default limit of operations in one transaction.
const TXN_OPS: usize = 128;
/// Keys read per request when the cache is read in full.
const PAGE: u64 = 5_000;
/// Longest the loop sleeps.
const TICK: Duration = Duration::from_millis(100);
/// Pause before a failed call is tried again.
const RETRY: Duration = Duration::from_millis(500);
/// Longest a round spends writing reports.
const FLUSH_FOR: Duration = Duration::from_secs(1);
/// Views are sent to the prober at most this often: a burst of reports (a fleet starting,
/// thousands of checks at once) becomes one view, and one publish, every so often.
const VIEW_EVERY: Duration = Duration::from_millis(20);

/// One check as the fleet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCheck {
    /// Its id.
    pub id: String,
    /// Its target, hashed ([`target_hash`] of the prober's fingerprint): reports for another
    /// target are not counted.
    pub target: u64,
    /// Whether it is probed at all (not calculated, not disabled).
    pub probed: bool,
    /// How many instances observe it.
    pub observers: CheckObservers,
}

/// What the prober tells the fleet thread.
#[derive(Debug, Clone)]
pub enum ToFleet {
    /// The checks in force, at start and after every reload.
    Checks {
        /// Counts up with every reload; reports and views carry it.
        generation: u64,
        /// The checks, indexed as the prober's.
        checks: Arc<Vec<FleetCheck>>,
    },
    /// A check's thresholded state: its first result since this instance began probing it,
    /// or a flip.
    Observed {
        /// The generation of the checks the index is in.
        generation: u64,
        /// The check's index.
        check: usize,
        /// Healthy or not.
        healthy: bool,
    },
}

/// The fleet's answer to the prober, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetView {
    /// The generation of the checks it is indexed by.
    pub generation: u64,
    /// Per check: whether this instance probes it.
    pub probe: Vec<bool>,
    /// Per check: (healthy reports, live reports) for its current target.
    pub reports: Vec<(u32, u32)>,
    /// etcd has been out of reach past `fallback_after`: probe every check, decide alone.
    pub local: bool,
}

/// What the control side shows of the fleet.
#[derive(Debug, Default)]
pub struct FleetShared {
    /// Whether the last call to etcd succeeded.
    pub connected: AtomicBool,
    /// Whether every check is probed locally.
    pub local: AtomicBool,
    /// When a call to etcd last succeeded, milliseconds since the Unix epoch: the prober
    /// reads it to fall back on time while this thread waits out a call.
    pub last_contact_ms: AtomicU64,
    /// The revision the cache is at.
    pub revision: AtomicI64,
    /// Full reads of the cache after the first (compaction, self-check mismatch).
    pub resyncs: AtomicU64,
    /// Self-checks run, and those that found the cache different from etcd.
    pub self_checks: AtomicU64,
    /// Self-checks that found the cache different from etcd.
    pub mismatches: AtomicU64,
    /// Checks this instance probes.
    pub assigned: AtomicUsize,
    /// Reports written (puts and deletes) and calls that failed.
    pub writes: AtomicU64,
    /// Calls to etcd that failed.
    pub errors: AtomicU64,
    /// Times a watch stream was opened again (idle, broken, another endpoint).
    pub watch_reopens: AtomicU64,
    /// Microseconds from a report's write to its event on the watch, last seen.
    pub watch_lag_micros: AtomicU64,
    /// The members, as their keys say.
    pub members: Mutex<Vec<(String, keys::Member)>>,
    /// The members checks are assigned over (the debounced list).
    pub assigned_over: Mutex<Vec<String>>,
    /// The latest view sent to the prober.
    pub view: Mutex<Option<Arc<FleetView>>>,
    /// The checks the view is indexed by.
    pub checks: Mutex<Arc<Vec<FleetCheck>>>,
}

/// The prober's side of the fleet: its channels and the rule.
pub struct FleetLink {
    /// Reports and the checks in force go here.
    pub to: Sender<ToFleet>,
    /// Views come from here (the newest counts).
    pub from: Receiver<Arc<FleetView>>,
    /// Route 53's rule with this fleet's settings.
    pub rule: super::Rule,
    /// The instance's id (for logs).
    pub instance: String,
    /// What the fleet thread shares, its last contact with etcd among it.
    pub shared: Arc<FleetShared>,
    /// `[cluster] fallback_after`.
    pub fallback_after: Duration,
}

impl FleetLink {
    /// Whether etcd has been out of reach for `fallback_after` (the fleet thread may be
    /// waiting out a call and not have said so yet).
    pub fn out_of_reach(&self) -> bool {
        let last = self.shared.last_contact_ms.load(Ordering::Relaxed);
        unix_millis().saturating_sub(last) >= self.fallback_after.as_millis() as u64
    }
}

/// The fleet thread's end of the channels.
pub struct FleetEnds {
    to_prober: Sender<Arc<FleetView>>,
    from_prober: Receiver<ToFleet>,
}

/// The two ends (one for the prober, one for the fleet thread) and what the fleet thread
/// shares with the control side.
pub fn link(config: &ClusterConfig) -> (FleetLink, FleetEnds, Arc<FleetShared>) {
    let (to, from_prober) = channel::unbounded();
    let (to_prober, from) = channel::unbounded();
    let rule = super::Rule { min_observers: config.min_observers, healthy_fraction: config.healthy_fraction };
    let shared = Arc::new(FleetShared { last_contact_ms: AtomicU64::new(unix_millis()), ..FleetShared::default() });
    let link = FleetLink {
        to,
        from,
        rule,
        instance: config.instance.clone(),
        shared: shared.clone(),
        fallback_after: config.fallback_after,
    };
    (link, FleetEnds { to_prober, from_prober }, shared)
}

/// A check target's hash: FNV-1a 64 of the fingerprint. Reports carry it as 16 hex digits.
pub fn target_hash(fingerprint: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in fingerprint.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A target hash as reports write it.
fn target_text(target: u64) -> String {
    format!("{target:016x}")
}

/// What the fleet thread calls on the control side.
pub trait Host: Send + Sync + 'static {
    /// Applies a pushed configuration (fetch, validate, reload); `Err` says why it was
    /// refused, and the previous one keeps serving.
    fn apply(&self, current: &keys::Current) -> Result<(), String>;
    /// The hash of the pushed configuration served now, if any.
    fn applied(&self) -> Option<String>;
    /// Wakes the prober to read a new view.
    fn wake_prober(&self);
}

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[cluster]`.
    pub cluster: ClusterConfig,
    /// The addresses this instance answers on (for its member key).
    pub listen: Vec<String>,
}

/// Starts the fleet thread.
pub fn spawn<S>(
    store: S,
    settings: Settings,
    ends: FleetEnds,
    shared: Arc<FleetShared>,
    host: Arc<dyn Host>,
    stopping: Arc<dyn Fn() -> bool + Send + Sync>,
) -> std::io::Result<JoinHandle<()>>
where
    S: Store + Clone + Send + 'static,
{
    let fleet = Fleet::new(store, settings, ends, shared, host, stopping);
    std::thread::Builder::new().name("fleet".into()).spawn(move || fleet.run())
}

/// What the watch thread passes on.
enum Watched {
    Message(WatchMessage),
    Failed(StoreError),
    /// The watch ended: etcd compacted past its revision (or canceled it).
    Ended(StoreError),
}

/// A pushed configuration's hash, and whether this instance took it.
type Outcome = (String, Result<(), String>);

/// A report as the cache holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    healthy: bool,
    target: u64,
    mod_revision: Revision,
}

/// Every live report, by check and (interned) instance: 100,000 checks x 3 observers must
/// stay small, so an instance id is a number and a target a `u64`, and a check's few reports
/// a short vector.
#[derive(Debug, Default)]
struct Reports {
    /// Instance ids by number, and numbers by id (never shrunk: a fleet has few).
    names: Vec<Box<str>>,
    numbers: HashMap<Box<str>, u32>,
    by_check: HashMap<Box<str>, Vec<(u32, Seen)>>,
}

impl Reports {
    fn number(&self, instance: &str) -> Option<u32> {
        self.numbers.get(instance).copied()
    }

    fn intern(&mut self, instance: &str) -> u32 {
        if let Some(n) = self.number(instance) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(instance.into());
        self.numbers.insert(instance.into(), n);
        n
    }

    /// Stores a report; returns the one it replaces.
    fn insert(&mut self, check: &str, instance: &str, seen: Seen) -> Option<Seen> {
        let n = self.intern(instance);
        let list = match self.by_check.get_mut(check) {
            Some(list) => list,
            None => self.by_check.entry(check.into()).or_default(),
        };
        match list.iter_mut().find(|(i, _)| *i == n) {
            Some((_, old)) => Some(std::mem::replace(old, seen)),
            None => {
                list.push((n, seen));
                None
            }
        }
    }

    /// Drops a report; returns it.
    fn remove(&mut self, check: &str, instance: &str) -> Option<Seen> {
        let n = self.number(instance)?;
        let list = self.by_check.get_mut(check)?;
        let at = list.iter().position(|(i, _)| *i == n)?;
        let (_, seen) = list.swap_remove(at);
        if list.is_empty() {
            self.by_check.remove(check);
        }
        Some(seen)
    }

    fn get(&self, check: &str, instance: &str) -> Option<&Seen> {
        let n = self.number(instance)?;
        self.by_check.get(check)?.iter().find(|(i, _)| *i == n).map(|(_, seen)| seen)
    }

    /// A check's reports.
    fn of(&self, check: &str) -> impl Iterator<Item = &Seen> {
        self.by_check.get(check).into_iter().flatten().map(|(_, seen)| seen)
    }

    fn len(&self) -> usize {
        self.by_check.values().map(Vec::len).sum()
    }

    fn clear(&mut self) {
        self.by_check.clear();
    }
}

struct Fleet<S: Store> {
    store: S,
    settings: Settings,
    ends: FleetEnds,
    shared: Arc<FleetShared>,
    host: Arc<dyn Host>,
    stopping: Arc<dyn Fn() -> bool + Send + Sync>,
    prefix: String,
    // ---- the cache ----
    /// The revision the cache is consistent at; 0 before the first read.
    revision: Revision,
    members: BTreeMap<String, keys::Member>,
    /// Reports by check id, then instance.
    reports: Reports,
    /// `config/current`, as last seen.
    current: Option<keys::Current>,
    statuses: BTreeMap<String, keys::Applied>,
    // ---- the checks ----
    generation: u64,
    checks: Arc<Vec<FleetCheck>>,
    index: HashMap<String, usize>,
    /// This instance's latest state per check, from the prober.
    own: Vec<Option<bool>>,
    /// Whether this instance probes each check.
    probe: Vec<bool>,
    /// Members checks are assigned over, and when the member list last changed.
    assigned_over: Vec<String>,
    members_changed: Option<Instant>,
    // ---- writes ----
    lease: Option<LeaseId>,
    /// When a lease may next be asked for, after a refusal.
    grant_due: Instant,
    /// The lease the keeper thread renews (0: none), and its word that etcd no longer knows it.
    lease_id: Arc<AtomicI64>,
    lease_lost: Arc<AtomicBool>,
    /// Reports to write (check index -> healthy), and reports of ours to delete.
    to_write: BTreeMap<usize, bool>,
    to_delete: BTreeSet<String>,
    member_written: Option<keys::Member>,
    /// When a report was written at which revision, to measure the watch's lag.
    in_flight: Option<(Revision, Instant)>,
    // ---- connection ----
    watch: Option<Receiver<Watched>>,
    local: bool,
    view_dirty: bool,
    /// When the last view was sent.
    view_sent: Instant,
    /// Per check: (healthy reports, reports) on its current target, kept as events come.
    counts: Vec<(u32, u32)>,
    self_check_due: Instant,
    /// A pushed configuration being applied, by hash.
    applying: Option<String>,
    apply_done: (Sender<Outcome>, Receiver<Outcome>),
}

impl<S: Store + Clone + Send + 'static> Fleet<S> {
    fn new(
        store: S,
        settings: Settings,
        ends: FleetEnds,
        shared: Arc<FleetShared>,
        host: Arc<dyn Host>,
        stopping: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Self {
        let now = Instant::now();
        let prefix = keys::prefix(&settings.cluster.name);
        Fleet {
            store,
            prefix,
            revision: 0,
            members: BTreeMap::new(),
            reports: Reports::default(),
            current: None,
            statuses: BTreeMap::new(),
            generation: 0,
            checks: Arc::new(Vec::new()),
            index: HashMap::new(),
            own: Vec::new(),
            probe: Vec::new(),
            assigned_over: Vec::new(),
            members_changed: None,
            lease: None,
            grant_due: now,
            lease_id: Arc::new(AtomicI64::new(0)),
            lease_lost: Arc::new(AtomicBool::new(false)),
            to_write: BTreeMap::new(),
            to_delete: BTreeSet::new(),
            member_written: None,
            in_flight: None,
            watch: None,
            local: false,
            view_dirty: false,
            view_sent: now,
            counts: Vec::new(),
            self_check_due: now + settings.cluster.self_check_interval,
            applying: None,
            apply_done: channel::unbounded(),
            settings,
            ends,
            shared,
            host,
            stopping,
        }
    }

    fn instance(&self) -> &str {
        &self.settings.cluster.instance
    }

    fn run(mut self) {
        self.spawn_keeper();
        tracing::info!(
            cluster = %self.settings.cluster.name,
            instance = %self.instance(),
            endpoints = %self.settings.cluster.endpoints.join(","),
            "fleet: joining"
        );
        while !(self.stopping)() {
            let now = Instant::now();
            if self.revision == 0 || self.watch.is_none() {
                self.connect();
            }
            self.keep_alive(now);
            self.drain_prober();
            self.drain_watch();
            self.drain_applied();
            self.settle_members(Instant::now());
            self.flush();
            self.self_check(Instant::now());
            self.watch_fallback(Instant::now());
            if self.view_dirty && self.view_sent.elapsed() >= VIEW_EVERY {
                self.send_view();
            }
            self.wait();
        }
        // Leaving: the lease's keys go at once, so the others reassign without waiting for it
        // to expire.
        if let Some(lease) = self.lease.take() {
            let _ = self.store.lease_revoke(lease);
        }
        tracing::info!("fleet: left");
    }

    /// Starts the thread that renews the lease every third of `lease_ttl`, whatever this one
    /// is doing: a rewrite of every report or a self-check of 300,000 keys takes longer than
    /// a lease lives on a loaded etcd.
    fn spawn_keeper(&self) {
        let store = self.store.clone();
        let (lease, lost, shared, stopping) =
            (self.lease_id.clone(), self.lease_lost.clone(), self.shared.clone(), self.stopping.clone());
        let every = self.settings.cluster.lease_ttl / 3;
        let spawned = std::thread::Builder::new().name("fleet-lease".into()).spawn(move || {
            let mut due = Instant::now() + every;
            while !stopping() {
                std::thread::sleep(TICK);
                let id = lease.load(Ordering::Relaxed);
                if id == 0 || Instant::now() < due {
                    continue;
                }
                match store.lease_keep_alive(id) {
                    Ok(_) => {
                        shared.last_contact_ms.store(unix_millis(), Ordering::Relaxed);
                        due = Instant::now() + every;
                    }
                    Err(StoreError::LeaseNotFound(_)) => {
                        if lease.compare_exchange(id, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                            lost.store(true, Ordering::Relaxed);
                        }
                        due = Instant::now();
                    }
                    Err(e) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, "fleet: renewing the lease failed");
                        due = Instant::now() + RETRY;
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "fleet: cannot start the lease keeper; leases will lapse");
        }
    }

    /// Sleeps until the prober, the watch or an applied configuration has something, or a
    /// tick passes (nothing is taken from the channels here).
    fn wait(&self) {
        let mut select = channel::Select::new();
        select.recv(&self.ends.from_prober);
        select.recv(&self.apply_done.1);
        if let Some(watch) = &self.watch {
            select.recv(watch);
        }
        let tick = if self.view_dirty { VIEW_EVERY.saturating_sub(self.view_sent.elapsed()) } else { TICK };
        let _ = select.ready_timeout(tick);
    }

    /// Reads everything and starts the watch; on failure, waits a little.
    fn connect(&mut self) {
        match self.resync() {
            Ok(()) => self.start_watch(),
            Err(e) => {
                self.failed(&e, "reading the fleet's keys");
                std::thread::sleep(RETRY);
            }
        }
    }

    /// Reads every member, report, status and the current configuration at one revision,
    /// replacing the cache.
    fn resync(&mut self) -> Result<(), StoreError> {
        let first = self.revision != 0;
        let members = self.store.range_all(&KeyRange::prefix(format!("{}members/", self.prefix)), None, PAGE)?;
        let at = members.revision;
        let reports = self.store.range_all(&KeyRange::prefix(format!("{}obs/", self.prefix)), Some(at), PAGE)?;
        let statuses = self.store.range_all(&KeyRange::prefix(format!("{}status/", self.prefix)), Some(at), PAGE)?;
        let current = self.store.range(&KeyRange::key(keys::current(&self.settings.cluster.name)), Some(at), None)?;
        self.contact();
        self.members.clear();
        self.reports.clear();
        self.statuses.clear();
        self.current = None;
        for kv in members.kvs.iter().chain(&reports.kvs).chain(&statuses.kvs).chain(&current.kvs) {
            self.apply_put(kv);
        }
        self.revision = at;
        self.shared.revision.store(at, Ordering::Relaxed);
        // Counted afresh here: what apply_put counted on the way is discarded.
        self.recount();
        // The pages read (300,000 keys at 100,000 checks) are garbage now: give them back.
        let read = reports.kvs.len();
        drop((members, reports, statuses, current));
        crate::view::release_freed_memory();
        if first {
            self.shared.resyncs.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(revision = at, "fleet: resynced: read every key again");
        } else {
            tracing::info!(revision = at, members = self.members.len(), reports = read, "fleet: read the fleet's keys");
        }
        // Our own reports as etcd holds them are what we rewrite below if they differ.
        self.members_changed = Some(Instant::now());
        self.rewrite_own();
        self.publish_members();
        self.view_dirty = true;
        self.consider_current();
        Ok(())
    }

    fn start_watch(&mut self) {
        let (send, receive) = channel::bounded(1024);
        let store = self.store.clone();
        let keys = KeyRange::prefix(self.prefix.clone());
        let from = self.revision + 1;
        let spawned = std::thread::Builder::new().name("fleet-watch".into()).spawn(move || {
            let mut watch = match store.watch(&keys, from) {
                Ok(watch) => watch,
                Err(e) => {
                    let _ = send.send(Watched::Failed(e));
                    return;
                }
            };
            loop {
                let message = match watch.next() {
                    None => return,
                    Some(Ok(message)) => Watched::Message(message),
                    Some(Err(e @ (StoreError::Compacted { .. } | StoreError::WatchCanceled(_)))) => {
                        let _ = send.send(Watched::Ended(e));
                        return;
                    }
                    Some(Err(e)) => Watched::Failed(e),
                };
                let failed = matches!(message, Watched::Failed(_));
                if send.send(message).is_err() {
                    return;
                }
                if failed {
                    std::thread::sleep(RETRY);
                }
            }
        });
        match spawned {
            Ok(_) => self.watch = Some(receive),
            Err(e) => tracing::error!(error = %e, "fleet: cannot start the watch thread"),
        }
    }

    fn drain_watch(&mut self) {
        let Some(watch) = self.watch.clone() else { return };
        let mut restart = false;
        while let Ok(watched) = watch.try_recv() {
            match watched {
                Watched::Message(WatchMessage::Events { events, .. }) => {
                    self.contact();
                    self.apply_events(&events);
                }
                Watched::Message(WatchMessage::Progress { revision }) => {
                    self.contact();
                    self.set_revision(revision);
                }
                Watched::Message(WatchMessage::Reopened { from }) => {
                    self.contact();
                    self.shared.watch_reopens.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(from, "fleet: watch reopened");
                }
                Watched::Failed(e) => self.failed(&e, "watching"),
                Watched::Ended(e) => {
                    tracing::warn!(error = %e, revision = self.revision, "fleet: the watch ended; reading every key again");
                    restart = true;
                }
            }
        }
        if restart {
            self.watch = None;
            match self.resync() {
                Ok(()) => self.start_watch(),
                Err(e) => self.failed(&e, "reading the fleet's keys"),
            }
        }
    }

    fn set_revision(&mut self, revision: Revision) {
        if revision > self.revision {
            self.revision = revision;
            self.shared.revision.store(revision, Ordering::Relaxed);
        }
    }

    fn apply_events(&mut self, events: &[Event]) {
        for event in events {
            match event.kind {
                EventKind::Put => self.apply_put(&event.kv),
                EventKind::Delete => self.apply_delete(&event.kv),
            }
            self.set_revision(event.kv.mod_revision);
            if let Some((at, sent)) = self.in_flight {
                if event.kv.mod_revision >= at {
                    let lag = sent.elapsed().as_micros() as u64;
                    self.shared.watch_lag_micros.store(lag, Ordering::Relaxed);
                    self.in_flight = None;
                }
            }
        }
    }

    fn apply_put(&mut self, kv: &KeyValue) {
        let Some(rest) = kv.key.strip_prefix(self.prefix.as_bytes()) else { return };
        match keys::parse(rest) {
            Parsed::Member(instance) => {
                let member: keys::Member = serde_json::from_slice(&kv.value).unwrap_or_default();
                if self.members.insert(instance.to_string(), member).is_none() {
                    tracing::info!(member = instance, "fleet: member joined");
                    self.members_changed = Some(Instant::now());
                }
                self.publish_members();
            }
            Parsed::Report { check, instance } => {
                let Ok(report) = serde_json::from_slice::<keys::Report>(&kv.value) else { return };
                let Ok(target) = u64::from_str_radix(&report.target, 16) else { return };
                let seen = Seen { healthy: report.healthy, target, mod_revision: kv.mod_revision };
                self.count(check, &seen, true);
                let old = self.reports.insert(check, instance, seen);
                if let Some(old) = old {
                    self.count(check, &old, false);
                }
                self.report_changed(check);
            }
            Parsed::Current => {
                if let Ok(current) = serde_json::from_slice::<keys::Current>(&kv.value) {
                    self.current = Some(current);
                    self.consider_current();
                }
            }
            Parsed::Status(instance) => {
                if let Ok(applied) = serde_json::from_slice::<keys::Applied>(&kv.value) {
                    self.statuses.insert(instance.to_string(), applied);
                }
            }
            Parsed::Other => {}
        }
    }

    fn apply_delete(&mut self, kv: &KeyValue) {
        let Some(rest) = kv.key.strip_prefix(self.prefix.as_bytes()) else { return };
        match keys::parse(rest) {
            Parsed::Member(instance) => {
                if self.members.remove(instance).is_some() {
                    tracing::info!(member = instance, "fleet: member left");
                    self.members_changed = Some(Instant::now());
                    self.publish_members();
                }
                if instance == self.instance() {
                    // Our lease ended (etcd was out of reach past its time to live).
                    self.member_written = None;
                }
            }
            Parsed::Report { check, instance } => {
                if let Some(old) = self.reports.remove(check, instance) {
                    self.count(check, &old, false);
                }
                if instance == self.instance() {
                    if let Some(&i) = self.index.get(check) {
                        if self.probe.get(i) == Some(&true) {
                            if let Some(Some(healthy)) = self.own.get(i) {
                                // Ours vanished with an old lease: write it again.
                                self.to_write.insert(i, *healthy);
                            }
                        }
                    }
                }
                self.report_changed(check);
            }
            Parsed::Current => self.current = None,
            Parsed::Status(instance) => {
                self.statuses.remove(instance);
            }
            Parsed::Other => {}
        }
    }

    /// Counts a report of `check` in (or out of) its check's counts, when it is on the
    /// check's current target.
    fn count(&mut self, check: &str, seen: &Seen, add: bool) {
        let Some(&i) = self.index.get(check) else { return };
        if seen.target != self.checks[i].target {
            return;
        }
        let (healthy, all) = &mut self.counts[i];
        if add {
            *healthy += u32::from(seen.healthy);
            *all += 1;
        } else {
            *healthy = healthy.saturating_sub(u32::from(seen.healthy));
            *all = all.saturating_sub(1);
        }
    }

    /// Counts every check's reports again (after a full read, or new checks).
    fn recount(&mut self) {
        self.counts = self
            .checks
            .iter()
            .map(|check| {
                let matching = self.reports.of(&check.id).filter(|seen| seen.target == check.target);
                matching.fold((0u32, 0u32), |(h, n), seen| (h + u32::from(seen.healthy), n + 1))
            })
            .collect();
    }

    /// A report of `check` came or went: its counts change, and a hand-over may complete.
    fn report_changed(&mut self, check: &str) {
        self.view_dirty = true;
        let Some(&i) = self.index.get(check) else { return };
        if self.probe.get(i) == Some(&true) && !self.assigned(i) && self.handed_over(i) {
            self.stop_probing(i);
        }
    }

    fn publish_members(&self) {
        if let Ok(mut members) = self.shared.members.lock() {
            *members = self.members.iter().map(|(id, m)| (id.clone(), m.clone())).collect();
        }
    }

    /// Applies a settled change of members: checks move to their new observers.
    fn settle_members(&mut self, now: Instant) {
        let Some(changed) = self.members_changed else { return };
        if now.duration_since(changed) < self.settings.cluster.membership_debounce && !self.assigned_over.is_empty() {
            return;
        }
        self.members_changed = None;
        let members: Vec<String> = self.members.keys().cloned().collect();
        if members == self.assigned_over {
            return;
        }
        tracing::info!(members = %members.join(","), "fleet: checks assigned over these members");
        self.assigned_over = members;
        if let Ok(mut over) = self.shared.assigned_over.lock() {
            over.clone_from(&self.assigned_over);
        }
        self.reassign();
    }

    /// The observers of check `i` among the settled members.
    fn observers_of(&self, i: usize) -> Vec<&str> {
        let check = &self.checks[i];
        let observers = match check.observers {
            CheckObservers::Fleet => Observers::Count(self.settings.cluster.observers_per_check),
            CheckObservers::Count(k) => Observers::Count(k),
            CheckObservers::All => Observers::All,
        };
        rendezvous::choose(&check.id, &self.assigned_over, observers)
    }

    fn assigned(&self, i: usize) -> bool {
        self.checks[i].probed && self.observers_of(i).contains(&self.instance())
    }

    /// Whether every observer of check `i` but this instance has reported on its target.
    fn handed_over(&self, i: usize) -> bool {
        let check = &self.checks[i];
        self.observers_of(i).iter().all(|o| {
            *o == self.instance() || self.reports.get(&check.id, o).is_some_and(|seen| seen.target == check.target)
        })
    }

    /// Recomputes which checks this instance probes.
    fn reassign(&mut self) {
        if self.assigned_over.is_empty() {
            // Not one member known yet (our own key is on its way): keep what we do.
            return;
        }
        let (mut started, mut kept_for_handover) = (0usize, 0usize);
        for i in 0..self.checks.len() {
            let assigned = self.assigned(i);
            match (self.probe[i], assigned) {
                (false, true) => {
                    self.probe[i] = true;
                    self.own[i] = None;
                    started += 1;
                }
                (true, false) if self.handed_over(i) => self.stop_probing(i),
                (true, false) => kept_for_handover += 1,
                _ => {}
            }
        }
        if started > 0 || kept_for_handover > 0 {
            tracing::info!(started, kept_for_handover, "fleet: checks reassigned");
        }
        self.count_assigned();
        self.view_dirty = true;
    }

    fn stop_probing(&mut self, i: usize) {
        self.probe[i] = false;
        self.own[i] = None;
        self.to_write.remove(&i);
        let id = self.checks[i].id.clone();
        let ours = self.reports.get(&id, self.instance()).is_some();
        if ours {
            self.to_delete.insert(id);
        }
        self.count_assigned();
        self.view_dirty = true;
    }

    fn count_assigned(&self) {
        self.shared.assigned.store(self.probe.iter().filter(|p| **p).count(), Ordering::Relaxed);
    }

    fn drain_prober(&mut self) {
        while let Ok(message) = self.ends.from_prober.try_recv() {
            self.take(message);
        }
    }

    fn take(&mut self, message: ToFleet) {
        match message {
            ToFleet::Checks { generation, checks } => {
                let old_index = std::mem::take(&mut self.index);
                let old_probe = std::mem::take(&mut self.probe);
                let old_own = std::mem::take(&mut self.own);
                let old_checks = std::mem::replace(&mut self.checks, checks);
                self.generation = generation;
                self.index = self.checks.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
                self.probe = vec![false; self.checks.len()];
                self.own = vec![None; self.checks.len()];
                // A check that keeps its id and target keeps its state and its probing.
                for (i, check) in self.checks.iter().enumerate() {
                    if let Some(&old) = old_index.get(&check.id) {
                        if old_checks[old].target == check.target && check.probed {
                            self.probe[i] = old_probe[old];
                            self.own[i] = old_own[old];
                        }
                    }
                }
                let pending: Vec<(usize, bool)> = std::mem::take(&mut self.to_write).into_iter().collect();
                for (old, healthy) in pending {
                    if let Some(&i) = old_checks.get(old).and_then(|c| self.index.get(&c.id)) {
                        if self.checks[i].target == old_checks[old].target {
                            self.to_write.insert(i, healthy);
                        }
                    }
                }
                // Our reports of checks that are gone, or moved to another target, go.
                for check in old_checks.iter() {
                    let still = self.index.get(&check.id).is_some_and(|&i| self.checks[i].target == check.target);
                    let ours = self.reports.get(&check.id, self.instance()).is_some();
                    if !still && ours {
                        self.to_delete.insert(check.id.clone());
                    }
                }
                if let Ok(mut shared) = self.shared.checks.lock() {
                    *shared = self.checks.clone();
                }
                self.recount();
                self.reassign();
                self.count_assigned();
                self.view_dirty = true;
            }
            ToFleet::Observed { generation, check, healthy } => {
                if generation != self.generation || check >= self.checks.len() {
                    return;
                }
                self.own[check] = Some(healthy);
                if self.probe[check] {
                    self.to_write.insert(check, healthy);
                }
            }
        }
    }

    /// Our reports as we know them, written again (a new lease, or a full read that found
    /// them missing or different).
    fn rewrite_own(&mut self) {
        for i in 0..self.checks.len() {
            let (true, Some(healthy)) = (self.probe[i], self.own[i]) else { continue };
            let check = &self.checks[i];
            let current = self.reports.get(&check.id, self.instance());
            if current.is_none_or(|seen| seen.healthy != healthy || seen.target != check.target) {
                self.to_write.insert(i, healthy);
            }
        }
    }

    /// Grants a lease when there is none, renews it when due, and writes this member's key.
    fn keep_alive(&mut self, now: Instant) {
        if self.revision == 0 {
            return;
        }
        if self.lease_lost.swap(false, Ordering::Relaxed) && self.lease.is_some() {
            tracing::warn!("fleet: our lease expired (etcd was out of reach longer than lease_ttl); joining again");
            self.lease = None;
            self.lease_id.store(0, Ordering::Relaxed);
            self.member_written = None;
        }
        if self.lease.is_none() {
            if now < self.grant_due {
                return;
            }
            match self.store.lease_grant(self.settings.cluster.lease_ttl) {
                Ok(lease) => {
                    self.contact();
                    self.lease = Some(lease.id);
                    // The keeper thread renews it from now on.
                    self.lease_id.store(lease.id, Ordering::Relaxed);
                    self.member_written = None;
                    // Everything under the old lease is gone or going: write it all again.
                    for i in 0..self.checks.len() {
                        if let (true, Some(healthy)) = (self.probe[i], self.own[i]) {
                            self.to_write.insert(i, healthy);
                        }
                    }
                }
                Err(e) => {
                    self.grant_due = now + RETRY;
                    return self.failed(&e, "granting a lease");
                }
            }
        }
        self.write_member();
    }

    fn member_value(&self) -> keys::Member {
        keys::Member {
            version: env!("CARGO_PKG_VERSION").to_string(),
            listen: self.settings.listen.clone(),
            config: self.host.applied(),
            started: started_at(),
        }
    }

    fn write_member(&mut self) {
        let Some(lease) = self.lease else { return };
        let member = self.member_value();
        if self.member_written.as_ref() == Some(&member) {
            return;
        }
        let key = keys::member(&self.settings.cluster.name, self.instance());
        let value = serde_json::to_vec(&member).unwrap_or_default();
        let txn = Txn { success: vec![Op::Put { key: key.into_bytes(), value, lease: Some(lease) }], ..Txn::default() };
        match self.store.txn(&txn) {
            Ok(_) => {
                self.contact();
                self.member_written = Some(member);
            }
            Err(e) => self.failed(&e, "writing this member's key"),
        }
    }

    /// Writes pending reports and deletes, coalesced into transactions, until none is left or
    /// the lease is due for renewal: what is left waits for the next round, after the
    /// keep-alive. (A new lease means every report is written again; at 100,000 checks that
    /// took longer than `lease_ttl` on a loaded etcd, so the lease expired mid-way and the
    /// rewrite started over, every time.)
    fn flush(&mut self) {
        let Some(lease) = self.lease else { return };
        let cluster = self.settings.cluster.name.clone();
        let at = unix_now();
        // A put supersedes a delete of the same report (etcd refuses a transaction that
        // touches one key twice).
        if !self.to_delete.is_empty() {
            let written: HashSet<&str> = self.to_write.keys().map(|&i| self.checks[i].id.as_str()).collect();
            self.to_delete.retain(|id| !written.contains(id.as_str()));
        }
        // At most a second of writing a round, so that views and the watch keep flowing
        // while thousands of reports are written (the keeper thread renews the lease).
        let until = Instant::now() + FLUSH_FOR;
        while !(self.to_write.is_empty() && self.to_delete.is_empty()) {
            if Instant::now() >= until {
                return;
            }
            let writes: Vec<(usize, bool)> = self.to_write.iter().take(TXN_OPS).map(|(&i, &h)| (i, h)).collect();
            let deletes: Vec<String> = self.to_delete.iter().take(TXN_OPS - writes.len()).cloned().collect();
            let mut ops: Vec<Op> = Vec::with_capacity(writes.len() + deletes.len());
            for &(i, healthy) in &writes {
                let check = &self.checks[i];
                let report = keys::Report { healthy, target: target_text(check.target), at };
                let key = keys::report(&cluster, &check.id, self.instance());
                ops.push(Op::Put {
                    key: key.into_bytes(),
                    value: serde_json::to_vec(&report).unwrap_or_default(),
                    lease: Some(lease),
                });
            }
            for id in &deletes {
                ops.push(Op::Delete(KeyRange::key(keys::report(&cluster, id, self.instance()))));
            }
            let sent = Instant::now();
            match self.store.txn(&Txn { success: ops, ..Txn::default() }) {
                Ok(outcome) => {
                    self.contact();
                    self.shared.writes.fetch_add((writes.len() + deletes.len()) as u64, Ordering::Relaxed);
                    self.in_flight = Some((outcome.revision, sent));
                    for (i, _) in writes {
                        self.to_write.remove(&i);
                    }
                    for id in deletes {
                        self.to_delete.remove(&id);
                    }
                }
                // Kept pending; tried again next round.
                Err(e) => return self.failed(&e, "writing reports"),
            }
        }
    }

    /// Compares the cache with a read at its revision; a difference means a watch lost an
    /// event (etcd's own bugs have done that): read everything again.
    fn self_check(&mut self, now: Instant) {
        if now < self.self_check_due || self.revision == 0 || self.watch.is_none() {
            return;
        }
        self.self_check_due = now + self.settings.cluster.self_check_interval;
        let at = self.revision;
        let read = |sub: &str| self.store.range_all(&KeyRange::prefix(format!("{}{sub}", self.prefix)), Some(at), PAGE);
        // The second read only when the first answered: each one that fails waits out every
        // endpoint's timeout.
        let (members, reports) = match read("members/").and_then(|members| Ok((members, read("obs/")?))) {
            Ok(both) => both,
            Err(StoreError::Compacted { .. }) => return,
            Err(e) => return self.failed(&e, "the cache's self-check"),
        };
        self.contact();
        self.shared.self_checks.fetch_add(1, Ordering::Relaxed);
        let mut differences = 0usize;
        let mut read_members = BTreeSet::new();
        for kv in &members.kvs {
            let Some(Parsed::Member(id)) = kv.key.strip_prefix(self.prefix.as_bytes()).map(keys::parse) else {
                continue;
            };
            read_members.insert(id.to_string());
            differences += usize::from(!self.members.contains_key(id));
        }
        differences += self.members.keys().filter(|id| !read_members.contains(*id)).count();
        let mut read_reports = 0usize;
        for kv in &reports.kvs {
            let Some(Parsed::Report { check, instance }) = kv.key.strip_prefix(self.prefix.as_bytes()).map(keys::parse)
            else {
                continue;
            };
            read_reports += 1;
            let cached = self.reports.get(check, instance);
            differences += usize::from(cached.is_none_or(|seen| seen.mod_revision != kv.mod_revision));
        }
        let cached_reports = self.reports.len();
        differences += cached_reports.abs_diff(read_reports);
        if differences > 0 {
            self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                revision = at,
                differences,
                "fleet: the watched cache differs from etcd at its own revision; reading every key again"
            );
            self.watch = None;
            match self.resync() {
                Ok(()) => self.start_watch(),
                Err(e) => self.failed(&e, "reading the fleet's keys"),
            }
        } else {
            tracing::debug!(
                revision = at,
                members = read_members.len(),
                reports = read_reports,
                "fleet: cache checked"
            );
        }
    }

    /// Switches to local probing after `fallback_after` without etcd, and back.
    fn watch_fallback(&mut self, now: Instant) {
        let _ = now;
        let last = self.shared.last_contact_ms.load(Ordering::Relaxed);
        let out_of_reach =
            unix_millis().saturating_sub(last) >= self.settings.cluster.fallback_after.as_millis() as u64;
        if out_of_reach && !self.local {
            self.local = true;
            // The prober goes local on its own clock, and logs it, when this thread is late.
            if !self.shared.local.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    after = ?self.settings.cluster.fallback_after,
                    "fleet: etcd out of reach; probing every check locally until it is back"
                );
            }
            // At once: the rest of this round may wait out more timeouts.
            self.send_view();
        }
    }

    /// A call succeeded.
    fn contact(&mut self) {
        self.shared.last_contact_ms.store(unix_millis(), Ordering::Relaxed);
        self.shared.connected.store(true, Ordering::Relaxed);
        // The prober may have gone local on its own while this thread waited out a call.
        let prober_local = self.shared.local.swap(false, Ordering::Relaxed);
        if self.local || prober_local {
            self.local = false;
            tracing::info!("fleet: etcd is back; the fleet decides again");
            self.view_dirty = true;
        }
    }

    fn failed(&mut self, error: &StoreError, doing: &str) {
        // A failed call may have waited out every endpoint's timeout: the time to fall back
        // may have come meanwhile, whatever else this round still has to do.
        self.watch_fallback(Instant::now());
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        if self.shared.connected.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %error, "fleet: {doing} failed; answering from the last view");
        } else {
            tracing::debug!(error = %error, "fleet: {doing} failed");
        }
    }

    /// Counts the reports and sends the prober a new view.
    fn send_view(&mut self) {
        self.view_dirty = false;
        self.view_sent = Instant::now();
        let reports = self.counts.clone();
        let view = Arc::new(FleetView {
            generation: self.generation,
            probe: if self.local { vec![true; self.checks.len()] } else { self.probe.clone() },
            reports,
            local: self.local,
        });
        if let Ok(mut shared) = self.shared.view.lock() {
            *shared = Some(view.clone());
        }
        if self.ends.to_prober.send(view).is_ok() {
            self.host.wake_prober();
        }
    }

    /// Applies `config/current` when it names a configuration this instance does not serve.
    fn consider_current(&mut self) {
        let Some(current) = self.current.clone() else { return };
        if self.applying.as_deref() == Some(current.hash.as_str())
            || self.host.applied().as_deref() == Some(&current.hash)
        {
            return;
        }
        // Refused before: not again until a new push.
        if self.statuses.get(self.instance()).is_some_and(|s| s.hash == current.hash && s.error.is_some()) {
            return;
        }
        self.applying = Some(current.hash.clone());
        let host = self.host.clone();
        let done = self.apply_done.0.clone();
        let spawned = std::thread::Builder::new().name("fleet-apply".into()).spawn(move || {
            let result = host.apply(&current);
            let _ = done.send((current.hash.clone(), result));
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "fleet: cannot start applying the pushed configuration");
            self.applying = None;
        }
    }

    fn drain_applied(&mut self) {
        while let Ok((hash, result)) = self.apply_done.1.try_recv() {
            self.applying = None;
            match &result {
                Ok(()) => tracing::info!(%hash, "fleet: serving the pushed configuration"),
                Err(e) => {
                    tracing::error!(%hash, error = %e, "fleet: refused the pushed configuration; the previous one keeps serving")
                }
            }
            let applied = keys::Applied { hash, error: result.err(), at: unix_now() };
            let key = keys::status(&self.settings.cluster.name, self.instance());
            let value = serde_json::to_vec(&applied).unwrap_or_default();
            let txn =
                Txn { success: vec![Op::Put { key: key.into_bytes(), value, lease: self.lease }], ..Txn::default() };
            match self.store.txn(&txn) {
                Ok(_) => self.contact(),
                Err(e) => self.failed(&e, "writing this instance's status"),
            }
            self.statuses.insert(self.instance().to_string(), applied);
            self.write_member();
            // A newer push may have come meanwhile.
            self.consider_current();
        }
    }
}

/// When this process started, Unix seconds.
fn started_at() -> u64 {
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(unix_now)
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_hash_is_pinned() {
        assert_eq!(target_text(target_hash("")), "cbf29ce484222325");
        assert_eq!(target_text(target_hash("a")), "af63dc4c8601ec8c");
    }

    #[test]
    fn reports_are_kept_by_check_and_instance() {
        let mut reports = Reports::default();
        let seen = |healthy, mod_revision| Seen { healthy, target: 7, mod_revision };
        assert_eq!(reports.insert("web", "a", seen(true, 1)), None);
        assert_eq!(reports.insert("web", "b", seen(false, 2)), None);
        assert_eq!(reports.insert("web", "a", seen(false, 3)), Some(seen(true, 1)));
        assert_eq!(reports.insert("db", "a", seen(true, 4)), None);
        assert_eq!(reports.len(), 3);
        assert_eq!(reports.get("web", "a"), Some(&seen(false, 3)));
        assert_eq!(reports.get("web", "c"), None);
        assert_eq!(reports.of("web").filter(|s| !s.healthy).count(), 2);
        assert_eq!(reports.remove("web", "b"), Some(seen(false, 2)));
        assert_eq!(reports.remove("web", "b"), None);
        assert_eq!(reports.remove("web", "a"), Some(seen(false, 3)));
        assert_eq!(reports.of("web").count(), 0);
        assert!(!reports.by_check.contains_key("web"), "an empty check leaves the map");
        assert_eq!(reports.len(), 1);
    }
}
