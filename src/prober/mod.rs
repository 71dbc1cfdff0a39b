//! The prober thread: runs every endpoint check on its own schedule with one mio poll,
//! applies the failure threshold and operator overrides, and publishes the [`View`] workers
//! read. It holds the only [`Publisher`]: a reload hands it the new zone data and checks, and
//! it swaps zones and health in together, so no query sees one without the other.
//!
//! ```text
//!  schedule -> (fqdn only: resolve::Resolver, a pool of lookup threads)
//!     -> probe::Attempt (connect, TLS, HTTP) -> http::Verdict -> Threshold per check
//!     -> HealthSnapshot::evaluate -> View::new -> Publisher::publish
//!     -> statefile (last-known states across restarts)
//!  (each result is also kept in recent::Recent, a check's last results, for the status report)
//! ```
//!
//! This module does the I/O; the rules it applies (thresholds, inverted, disabled,
//! calculated checks) are [`crate::health`]'s.

pub mod http;
pub mod probe;
pub mod recent;
pub mod resolve;
pub mod statefile;
pub mod tls;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel::{self, Receiver, Sender};
use mio::{Events, Poll, Token, Waker};

use crate::cluster::fleet::{self, FleetCheck, FleetLink, FleetView, ToFleet};
use crate::cluster::Basis;
use crate::config::{rtype_name, CheckConfig, CheckKind, Config, Routing, RrsetConfig, WhenAllUnhealthy};
use crate::health::{HealthSnapshot, Threshold};
use crate::policy::Standing;
use crate::server::Shared;
use crate::view::{Publisher, View};
use crate::zone::Catalog;
use http::Verdict;
use probe::{Attempt, Outcome};
use recent::Recent;
use resolve::{Resolution, Resolver};
use statefile::{Memory, Remembered};
use tls::TlsConfigs;

/// Longest the loop sleeps, so shutdown is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// Token of the waker (resolver answers and commands).
const WAKE: Token = Token(usize::MAX);
/// Per-round jitter, as a fraction of the interval.
const JITTER: f64 = 0.05;
/// Bytes read from a socket per call.
const READ_CHUNK: usize = 8192;
/// How long a caller waits for the prober to apply a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Probes this host could not run (out of descriptors, ports…) are logged at most this often.
const LOCAL_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// What the control side can see of one check.
#[derive(Debug, Clone, Default)]
pub struct CheckStatus {
    /// Measured state (before `inverted`); `None` for checks that are not probed.
    pub measured: Option<bool>,
    /// Operator override of the final state.
    pub forced: Option<bool>,
    /// Consecutive results disagreeing with the measured state.
    pub streak: u8,
    /// The last results, newest last (at most [`recent::KEPT`]).
    pub recent: Recent,
    /// Probes run.
    pub probes: u64,
    /// Probes that failed.
    pub failures: u64,
    /// In a fleet: what the state rests on, and whether this instance probes the check.
    pub fleet: Option<FleetCheckStatus>,
}

/// A check's standing in a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetCheckStatus {
    /// Whether this instance probes it.
    pub probing: bool,
    /// Live reports that say healthy.
    pub healthy_reports: u32,
    /// Live reports on its target.
    pub reports: u32,
    /// What its state rests on: `observers`, `own probe`, `last known`, or `local` (etcd out
    /// of reach: this instance's own probe alone).
    pub basis: &'static str,
}

/// The checks being probed and their status, replaced together on reload.
#[derive(Debug, Clone)]
pub struct ProbeTable {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Status per check, indexed like `config.checks`.
    pub checks: Vec<CheckStatus>,
}

impl ProbeTable {
    /// A copy for a report: every check's last results when `history`, else only its newest
    /// (copying the whole history of thousands of checks for a report that shows none would
    /// hold the prober up for nothing).
    pub fn copy(&self, history: bool) -> ProbeTable {
        if history {
            return self.clone();
        }
        let checks = self.checks.iter().map(|c| CheckStatus { recent: c.recent.latest_only(), ..*c }).collect();
        ProbeTable { config: self.config.clone(), checks }
    }
}

/// Where probing starts: measured states and overrides (from the state file, if any).
#[derive(Debug, Clone)]
pub struct InitialState {
    /// Measured state per check (`None` for checks not probed).
    pub measured: Vec<Option<bool>>,
    /// Overrides by check id.
    pub forced: HashMap<String, bool>,
    /// Per check, the state and streak it resumes and when they were measured (endpoint
    /// checks the state file has a state for; disabled ones too, for when they are enabled).
    resumed: Vec<Option<(Threshold, u64)>>,
    /// The state file's other states: targets no check probes now.
    memory: Memory,
}

impl InitialState {
    /// The snapshot these states give.
    pub fn snapshot(&self, checks: &[CheckConfig]) -> HealthSnapshot {
        HealthSnapshot::evaluate_forced(checks, &self.measured, &forced_by_index(checks, &self.forced))
    }
}

/// What an override command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overridden {
    /// Applied, and saved in the state file when there is one.
    Applied,
    /// Applied, but the state file could not be written (the reason, naming the file), so a
    /// restart would forget it.
    NotSaved(String),
    /// No check has that id.
    NoSuchCheck,
}

enum Command {
    Reload { config: Arc<Config>, catalog: Arc<Catalog>, done: Sender<()> },
    Override { id: String, force: Option<bool>, done: Sender<Overridden> },
}

/// A running prober.
pub struct ProberHandle {
    thread: JoinHandle<()>,
    /// What is probed and how it went.
    pub table: Arc<Mutex<ProbeTable>>,
    commands: Sender<Command>,
    waker: Arc<Waker>,
}

impl ProberHandle {
    /// Switches to new zone data and checks; returns once they are published.
    pub fn reload(&self, config: Arc<Config>, catalog: Arc<Catalog>) -> Result<(), String> {
        let (done, wait) = channel::bounded(1);
        self.send(Command::Reload { config, catalog, done })?;
        wait.recv_timeout(COMMAND_TIMEOUT).map_err(|_| "the prober did not apply the reload".to_string())
    }

    /// Forces a check up (`Some(true)`), down, or back to its measured state (`None`), and
    /// says whether it was applied and saved.
    pub fn set_override(&self, id: &str, force: Option<bool>) -> Result<Overridden, String> {
        let (done, wait) = channel::bounded(1);
        self.send(Command::Override { id: id.to_string(), force, done })?;
        wait.recv_timeout(COMMAND_TIMEOUT).map_err(|_| "the prober did not apply the override".to_string())
    }

    fn send(&self, command: Command) -> Result<(), String> {
        self.commands.send(command).map_err(|_| "the prober has stopped".to_string())?;
        self.waker.wake().map_err(|e| e.to_string())
    }

    /// Wakes the prober (the fleet thread sent it a view).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Waits for the thread, which ends when the server stops (and saves the state file).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Measured states and overrides to start from: the state file's where usable (the check's
/// own state for its target, else the newest for that target), else healthy.
pub fn initial_state(config: &Config) -> InitialState {
    let now = SystemTime::now();
    let stored = match &config.server.state_file {
        Some(path) => match statefile::load(path, config.server.state_max_age, now) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the health state file");
                statefile::Stored::default()
            }
        },
        None => statefile::Stored::default(),
    };
    if let (Some(damage), Some(path)) = (&stored.damage, &config.server.state_file) {
        let recovered = stored.forced.len();
        match &damage.kept_as {
            Ok(aside) => tracing::error!(
                reason = %damage.reason,
                "the health state file {} is damaged: kept it as {}; recovered {recovered} override(s) from it, \
                 measured states start afresh; check the overrides with `eightfold status`",
                path.display(),
                aside.display()
            ),
            Err(e) => tracing::error!(
                reason = %damage.reason,
                "the health state file {} is damaged and could not be moved aside ({e}); recovered \
                 {recovered} override(s) from it; the next save replaces it",
                path.display()
            ),
        }
    }
    let mut memory = Memory::from_states(stored.states);
    let fingerprints: Vec<String> = config.checks.iter().map(statefile::fingerprint).collect();
    let resumed: Vec<Option<(Threshold, u64)>> = config
        .checks
        .iter()
        .zip(&fingerprints)
        .map(|(c, fingerprint)| {
            let state = memory.recall(&c.id, fingerprint).filter(|_| c.kind != CheckKind::Calculated)?;
            Some((Threshold::resume(state.healthy, state.streak), state.at))
        })
        .collect();
    for (check, fingerprint) in config.checks.iter().zip(&fingerprints) {
        memory.remove(&check.id, fingerprint);
    }
    memory.prune(0, statefile::RETIRED_MAX);
    let measured = (config.checks.iter().zip(&resumed))
        .map(|(c, r)| probed(c).then(|| r.is_none_or(|(t, _)| t.healthy())))
        .collect();
    InitialState { measured, forced: stored.forced, resumed, memory }
}

/// Starts the prober, which publishes views of `catalog` through `publisher` from now on.
pub fn spawn(
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    shared: Arc<Shared>,
    publisher: Publisher,
    initial: InitialState,
    fleet: Option<FleetLink>,
) -> io::Result<ProberHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let resolver = Resolver::new(resolve::THREADS, Arc::new(resolve::system_lookup), waker.clone())?;
    let (commands, command_rx) = channel::unbounded();
    let status = config
        .checks
        .iter()
        .zip(&initial.measured)
        .zip(&initial.resumed)
        .map(|((c, m), r)| CheckStatus {
            measured: *m,
            streak: r.map_or(0, |(t, _)| t.streak()),
            forced: initial.forced.get(&c.id).copied(),
            ..CheckStatus::default()
        })
        .collect();
    let table = Arc::new(Mutex::new(ProbeTable { config: config.clone(), checks: status }));
    let mut prober = Prober {
        thresholds: initial.resumed.iter().map(|r| r.map_or(Threshold::new(true), |(t, _)| t)).collect(),
        measured_at: initial.resumed.iter().map(|r| r.map(|(_, at)| at)).collect(),
        fingerprints: config.checks.iter().map(statefile::fingerprint).collect(),
        memory: initial.memory,
        conditions: vec![Condition::Full; record_sets(&config).count()],
        resolving: vec![false; config.checks.len()],
        index: index_of(&config),
        by_name: by_name(&config),
        config,
        catalog,
        publisher,
        forced: initial.forced,
        schedule: BinaryHeap::new(),
        attempts: Vec::new(),
        free: Vec::new(),
        poll,
        tls: TlsConfigs::new(),
        rng: fastrand::Rng::new(),
        shared,
        table: table.clone(),
        resolver,
        commands: command_rx,
        local_errors: LocalErrors::default(),
        fleet: None,
    };
    if let Some(link) = fleet {
        let decided = prober.thresholds.iter().map(Threshold::healthy).collect();
        let checks = prober.config.checks.len();
        prober.fleet = Some(FleetState {
            link,
            generation: 0,
            view: None,
            probe: vec![false; checks],
            decided,
            reported: vec![false; checks],
        });
        prober.tell_fleet_checks();
    }
    let now = Instant::now();
    for i in 0..prober.config.checks.len() {
        prober.schedule_first(i, now);
    }
    prober.publish();
    let thread = std::thread::Builder::new().name("prober".into()).spawn(move || prober.run())?;
    Ok(ProberHandle { thread, table, commands, waker })
}

/// Whether the prober runs this check (calculated and disabled checks are not probed).
fn probed(check: &CheckConfig) -> bool {
    check.kind != CheckKind::Calculated && !check.disabled
}

fn index_of(config: &Config) -> HashMap<String, usize> {
    config.checks.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect()
}

/// FQDN-only checks by the name they resolve.
fn by_name(config: &Config) -> HashMap<String, Vec<usize>> {
    let mut names: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, check) in config.checks.iter().enumerate() {
        if let (None, Some(fqdn)) = (check.ip, &check.fqdn) {
            names.entry(fqdn.clone()).or_default().push(i);
        }
    }
    names
}

fn forced_by_index(checks: &[CheckConfig], forced: &HashMap<String, bool>) -> Vec<Option<bool>> {
    checks.iter().map(|c| forced.get(&c.id).copied()).collect()
}

/// The record sets with a routing policy, in config order.
fn record_sets(config: &Config) -> impl Iterator<Item = &RrsetConfig> {
    config.zones.iter().flat_map(|z| z.rrsets.iter()).filter(|s| s.routing != Routing::Simple)
}

/// How a record set with a routing policy answers, for the log lines when that changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// As many healthy members as a full answer holds (or, for failover and weighted, a
    /// healthy one to answer with).
    Full,
    /// Multivalue with some healthy members, fewer than `max_answers` (or than it has).
    BelowMaxAnswers,
    /// No healthy member: failing open, or answering NODATA or the fallback.
    NoneHealthy,
}

/// `healthy` or `unhealthy`, for log lines.
fn state_word(healthy: bool) -> &'static str {
    if healthy {
        "healthy"
    } else {
        "unhealthy"
    }
}

struct Prober {
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    /// The only handle that replaces the view; it also frees the catalogs reloads replaced,
    /// here, once no worker's view has them.
    publisher: Publisher,
    index: HashMap<String, usize>,
    /// FQDN-only checks by name, to hand each answer to every check waiting for it.
    by_name: HashMap<String, Vec<usize>>,
    thresholds: Vec<Threshold>,
    /// When each check's measured state was last measured (Unix seconds); `None` while it has
    /// only the state a new check starts with.
    measured_at: Vec<Option<u64>>,
    /// Each check's target, as [`statefile::fingerprint`] gives it.
    fingerprints: Vec<String>,
    /// Last measured states of targets no check probes now (a check removed, or moved).
    memory: Memory,
    /// How each record set with a routing policy answered at the last publish (config order).
    conditions: Vec<Condition>,
    forced: HashMap<String, bool>,
    /// Checks waiting for their FQDN to resolve.
    resolving: Vec<bool>,
    schedule: BinaryHeap<Reverse<(Instant, usize)>>,
    /// In-flight probes by token: (check index, attempt).
    attempts: Vec<Option<(usize, Attempt)>>,
    free: Vec<usize>,
    poll: Poll,
    tls: TlsConfigs,
    rng: fastrand::Rng,
    shared: Arc<Shared>,
    table: Arc<Mutex<ProbeTable>>,
    /// Looks up the names of FQDN-only checks on its own threads.
    resolver: Resolver,
    commands: Receiver<Command>,
    local_errors: LocalErrors,
    /// In a fleet: the fleet thread's view and what was decided from it.
    fleet: Option<FleetState>,
}

/// The prober's part of a fleet.
struct FleetState {
    link: FleetLink,
    /// The generation of the checks sent to the fleet thread (one more each reload).
    generation: u64,
    /// The fleet's latest view for this generation; `None` until one came.
    view: Option<Arc<FleetView>>,
    /// Whether this instance probes each check.
    probe: Vec<bool>,
    /// Each check's state as last decided: the last known state when nothing decides.
    decided: Vec<bool>,
    /// Whether this instance reported the check since it began probing it.
    reported: Vec<bool>,
}

/// Probes that ended with no result for want of local resources, logged with a rate limit.
#[derive(Default)]
struct LocalErrors {
    /// When the last warning was logged.
    logged: Option<Instant>,
    /// Such probes since then.
    since: u64,
}

impl LocalErrors {
    /// Counts one; logs it when the last warning is older than [`LOCAL_ERROR_LOG_EVERY`].
    fn note(&mut self, check: &str, reason: &str, now: Instant) {
        self.since += 1;
        if self.logged.is_some_and(|at| now.duration_since(at) < LOCAL_ERROR_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            check,
            reason,
            probes = self.since,
            "health check probes not run for want of local resources; no result, the state \
             stays as it was, retrying at the next interval"
        );
        self.logged = Some(now);
        self.since = 0;
    }
}

impl Prober {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; READ_CHUNK].into_boxed_slice();
        while !self.shared.stopping() {
            let now = Instant::now();
            let mut changed = self.start_due(now);
            let wake = self.next_wake(now);
            if let Err(e) = self.poll.poll(&mut events, Some(wake.saturating_duration_since(now).min(MAX_SLEEP))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "prober poll failed");
                    break;
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKE {
                    self.drain_commands(now);
                    continue;
                }
                let slot = event.token().0;
                let outcome = match self.attempts.get_mut(slot) {
                    Some(Some((_, attempt))) => attempt.advance(now, &mut buf),
                    _ => continue,
                };
                if let Some(outcome) = outcome {
                    changed |= self.complete(slot, outcome, now);
                }
            }
            // Answers woke the loop, or a lookup's deadline passed.
            changed |= self.drain_answers(now);
            self.fleet_deadline(now);
            for slot in 0..self.attempts.len() {
                let outcome = match &self.attempts[slot] {
                    Some((_, a)) if a.deadline() <= now => a.timed_out(now),
                    _ => continue,
                };
                changed |= self.complete(slot, outcome, now);
            }
            if changed {
                self.publish();
            }
            self.publisher.free_retired();
        }
        let _ = self.save();
    }

    fn schedule_first(&mut self, check: usize, now: Instant) {
        let spec = &self.config.checks[check];
        if self.probing(check) {
            // Spread first probes over one interval: no burst at start.
            let offset = spec.request_interval.mul_f64(self.rng.f64());
            self.schedule.push(Reverse((now + offset, check)));
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let due = self.schedule.peek().map_or(now + MAX_SLEEP, |Reverse((at, _))| *at);
        let due = self.resolver.next_deadline().map_or(due, |at| at.min(due));
        self.attempts.iter().flatten().map(|(_, a)| a.deadline()).fold(due, Instant::min)
    }

    /// Starts every probe that is due; returns whether a state changed (probes that fail at once).
    fn start_due(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Some(&Reverse((at, check))) = self.schedule.peek() {
            if at > now {
                break;
            }
            self.schedule.pop();
            if !self.probing(check) {
                continue;
            }
            let spec = &self.config.checks[check];
            match spec.ip {
                Some(ip) => changed |= self.launch(check, SocketAddr::new(ip, spec.port), now),
                None => {
                    self.resolving[check] = true;
                    let name = spec.fqdn.as_deref().unwrap_or_default();
                    self.resolver.ask(name, now + resolve::timeout(spec.request_interval));
                }
            }
        }
        changed
    }

    fn drain_answers(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for (name, resolution) in self.resolver.poll(now) {
            // Every check waiting for this name; a reload may have removed them meanwhile.
            let waiting: Vec<usize> = self.by_name.get(&name).into_iter().flatten().copied().collect();
            for check in waiting {
                if !std::mem::take(&mut self.resolving[check]) {
                    continue;
                }
                changed |= match &resolution {
                    Resolution::Address(ip) => {
                        let addr = SocketAddr::new(*ip, self.config.checks[check].port);
                        self.launch(check, addr, now)
                    }
                    Resolution::Failed(reason) => {
                        self.finish(check, Outcome::Measured(Verdict::fail(reason.clone()), Duration::ZERO), now)
                    }
                    Resolution::Local(reason) => self.finish(check, Outcome::NoResult(reason.clone()), now),
                };
            }
        }
        changed
    }

    fn drain_commands(&mut self, now: Instant) {
        self.drain_fleet(now);
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Reload { config, catalog, done } => {
                    self.reconfigure(config, catalog, now);
                    let _ = done.send(());
                }
                Command::Override { id, force, done } => {
                    let known = self.index.contains_key(&id);
                    let outcome = if known {
                        match force {
                            Some(state) => self.forced.insert(id.clone(), state),
                            None => self.forced.remove(&id),
                        };
                        let what = match force {
                            Some(true) => "forced up",
                            Some(false) => "forced down",
                            None => "back to its measured state",
                        };
                        tracing::warn!(check = %id, "health check {what} by an operator");
                        match self.publish_and_save() {
                            Ok(()) => Overridden::Applied,
                            Err(why) => Overridden::NotSaved(why),
                        }
                    } else {
                        Overridden::NoSuchCheck
                    };
                    let _ = done.send(outcome);
                }
            }
        }
    }

    /// Switches to a new configuration. A check whose target ([`statefile::fingerprint`]) is
    /// unchanged keeps its measured state, streak and status, and, while it stays probed, its
    /// schedule and in-flight probe, whatever else changed (timing, thresholds, `inverted`,
    /// `disabled`, children): answers recompute its final state from the kept measurement. A
    /// new check, or one whose target changed, starts from the last state measured at its
    /// target if one is remembered, else healthy; a removed check stops and its state is
    /// remembered. Every started, reset, stopped or changed check is logged by id.
    fn reconfigure(&mut self, config: Arc<Config>, catalog: Arc<Catalog>, now: Instant) {
        let old = std::mem::replace(&mut self.config, config);
        let old_fingerprints =
            std::mem::replace(&mut self.fingerprints, self.config.checks.iter().map(statefile::fingerprint).collect());
        let old_status = self.table.lock().map(|t| t.checks.clone()).unwrap_or_default();
        // What every check measured so far, for a check that starts at a target one measured.
        for (i, check) in old.checks.iter().enumerate() {
            if let Some(at) = self.measured_at[i] {
                let (healthy, streak) = (self.thresholds[i].healthy(), self.thresholds[i].streak());
                let fingerprint = old_fingerprints[i].clone();
                self.memory.insert(Remembered { id: check.id.clone(), fingerprint, healthy, streak, at });
            }
        }
        let checks = self.config.checks.len();
        // Old checks whose probing carries on, by their new index.
        let mut moved: Vec<Option<usize>> = vec![None; old.checks.len()];
        let mut still_configured = vec![false; old.checks.len()];
        let mut thresholds = Vec::with_capacity(checks);
        let mut measured_at = Vec::with_capacity(checks);
        let mut status = Vec::with_capacity(checks);
        let mut fresh = Vec::new();
        // Per new check, the old one it continues (same id and target).
        let mut kept_from: Vec<Option<usize>> = vec![None; checks];
        let (mut kept, mut started, mut reset) = (0usize, 0usize, 0usize);
        for (new, check) in self.config.checks.iter().enumerate() {
            let fingerprint = &self.fingerprints[new];
            let before = self.index.get(&check.id).copied();
            if let Some(i) = before {
                still_configured[i] = true;
            }
            match before {
                Some(i) if old_fingerprints[i] == *fingerprint => {
                    kept += 1;
                    kept_from[new] = Some(i);
                    let threshold = self.thresholds[i];
                    thresholds.push(threshold);
                    measured_at.push(self.measured_at[i]);
                    let mut entry = old_status.get(i).cloned().unwrap_or_default();
                    entry.measured = probed(check).then(|| threshold.healthy());
                    status.push(entry);
                    match (probed(&old.checks[i]), probed(check)) {
                        (true, true) => moved[i] = Some(new),
                        (false, true) => fresh.push(new),
                        _ => {}
                    }
                    if old.checks[i] != *check && check.kind != CheckKind::Calculated {
                        tracing::info!(
                            check = %check.id,
                            measured = %state_word(threshold.healthy()),
                            streak = threshold.streak(),
                            "health check changed, same target: measured state kept"
                        );
                    }
                }
                _ => {
                    let remembered =
                        self.memory.recall(&check.id, fingerprint).filter(|_| check.kind != CheckKind::Calculated);
                    let threshold = remembered.map_or(Threshold::new(true), |r| Threshold::resume(r.healthy, r.streak));
                    // Where its state came from: the last measured at its target, or a new check's.
                    let from = if remembered.is_some() { "last-measured" } else { "new" };
                    measured_at.push(remembered.map(|r| r.at));
                    thresholds.push(threshold);
                    let measured = probed(check).then(|| threshold.healthy());
                    status.push(CheckStatus { measured, streak: threshold.streak(), ..CheckStatus::default() });
                    fresh.push(new);
                    let measured = state_word(threshold.healthy());
                    if before.is_some() {
                        reset += 1;
                        tracing::info!(check = %check.id, %measured, %from, "health check target changed: restarted");
                    } else {
                        started += 1;
                        tracing::info!(check = %check.id, %measured, %from, "health check started");
                    }
                }
            }
        }
        let mut stopped = 0usize;
        for (check, _) in old.checks.iter().zip(&still_configured).filter(|(_, still)| !**still) {
            stopped += 1;
            tracing::info!(check = %check.id, "health check stopped");
        }
        // The memory holds what no check probes now.
        for (check, fingerprint) in self.config.checks.iter().zip(&self.fingerprints) {
            self.memory.remove(&check.id, fingerprint);
        }
        let oldest = statefile::unix(SystemTime::now()).saturating_sub(self.config.server.state_max_age.as_secs());
        self.memory.prune(oldest, statefile::RETIRED_MAX);
        let resolving = (0..checks)
            .map(|new| moved.iter().position(|m| *m == Some(new)).is_some_and(|i| self.resolving[i]))
            .collect();
        let config = &self.config;
        self.schedule = std::mem::take(&mut self.schedule)
            .into_iter()
            .filter_map(|Reverse((at, i))| {
                // A shorter interval applies from the next probe, not after the old one.
                moved[i].map(|new| Reverse((at.min(now + config.checks[new].request_interval), new)))
            })
            .collect();
        for slot in 0..self.attempts.len() {
            let Some((check, _)) = &self.attempts[slot] else { continue };
            match moved[*check] {
                Some(new) => {
                    if let Some((check, _)) = self.attempts[slot].as_mut() {
                        *check = new;
                    }
                }
                None => {
                    if let Some((_, attempt)) = self.attempts[slot].take() {
                        attempt.close(self.poll.registry());
                        self.free.push(slot);
                    }
                }
            }
        }
        self.thresholds = thresholds;
        self.measured_at = measured_at;
        self.resolving = resolving;
        self.index = index_of(&self.config);
        self.by_name = by_name(&self.config);
        let dropped: Vec<String> = self.forced.keys().filter(|id| !self.index.contains_key(*id)).cloned().collect();
        for id in dropped {
            tracing::warn!(check = %id, "override dropped: the check is no longer configured");
            self.forced.remove(&id);
        }
        if let Some(fleet) = &mut self.fleet {
            // A check keeps its fleet state while its id and target stay; the fleet thread
            // sends a view for the new checks at once.
            let (mut probe, mut decided, mut reported) =
                (vec![false; checks], Vec::with_capacity(checks), vec![false; checks]);
            for (new, check) in self.config.checks.iter().enumerate() {
                match kept_from[new] {
                    Some(i) => {
                        probe[new] = fleet.probe[i];
                        decided.push(fleet.decided[i]);
                        reported[new] = fleet.reported[i];
                    }
                    None => decided.push(self.thresholds[new].healthy() || !probed(check)),
                }
            }
            fleet.probe = probe;
            fleet.decided = decided;
            fleet.reported = reported;
            fleet.view = None;
        }
        for new in fresh {
            self.schedule_first(new, now);
        }
        let previous: HashMap<(String, u16), Condition> =
            record_sets(&old).map(|s| (s.owner.to_string(), s.rtype)).zip(self.conditions.iter().copied()).collect();
        self.conditions = record_sets(&self.config)
            .map(|s| previous.get(&(s.owner.to_string(), s.rtype)).copied().unwrap_or(Condition::Full))
            .collect();
        self.catalog = catalog;
        if let Ok(mut table) = self.table.lock() {
            *table = ProbeTable { config: self.config.clone(), checks: status };
        }
        self.tell_fleet_checks();
        tracing::info!(kept, started, stopped, reset, "health checks reloaded");
        self.publish();
    }

    /// Starts a probe; a probe that fails at once is finished here (returns whether a state changed).
    fn launch(&mut self, check: usize, addr: SocketAddr, now: Instant) -> bool {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.attempts.push(None);
            self.attempts.len() - 1
        });
        match Attempt::start(&self.config.checks[check], addr, &self.tls, self.poll.registry(), Token(slot), now) {
            Ok(attempt) => {
                self.attempts[slot] = Some((check, attempt));
                false
            }
            Err(outcome) => {
                self.free.push(slot);
                self.finish(check, outcome, now)
            }
        }
    }

    fn complete(&mut self, slot: usize, outcome: Outcome, now: Instant) -> bool {
        let Some((check, attempt)) = self.attempts[slot].take() else { return false };
        attempt.close(self.poll.registry());
        self.free.push(slot);
        self.finish(check, outcome, now)
    }

    /// Records a result, schedules the next probe; returns whether the measured state flipped.
    /// A probe this host could not run is no result: it is logged (at most every
    /// [`LOCAL_ERROR_LOG_EVERY`]) and tried again at the next interval, and changes nothing.
    fn finish(&mut self, check: usize, outcome: Outcome, now: Instant) -> bool {
        let spec = &self.config.checks[check];
        // Route 53 counts the interval from the end of one probe to the start of the next.
        let jitter = 1.0 + JITTER * (2.0 * self.rng.f64() - 1.0);
        if self.probing(check) {
            self.schedule.push(Reverse((now + spec.request_interval.mul_f64(jitter), check)));
        }
        let (verdict, latency) = match outcome {
            Outcome::Measured(verdict, latency) => (verdict, latency),
            Outcome::NoResult(reason) => {
                self.local_errors.note(&spec.id, &reason, now);
                return false;
            }
        };
        let threshold = &mut self.thresholds[check];
        let flipped = threshold.record(verdict.success, spec.failure_threshold);
        let wall = SystemTime::now();
        self.measured_at[check] = Some(statefile::unix(wall));
        if flipped {
            if threshold.healthy() {
                tracing::info!(check = %spec.id, reason = %verdict.reason, "endpoint is now healthy");
            } else {
                tracing::warn!(check = %spec.id, reason = %verdict.reason, "endpoint is now unhealthy");
            }
        }
        if let Ok(mut table) = self.table.lock() {
            if let Some(entry) = table.checks.get_mut(check) {
                entry.measured = Some(threshold.healthy());
                entry.streak = threshold.streak();
                entry.recent.record(wall, verdict.success, latency, verdict.reason);
                entry.probes += 1;
                entry.failures += (!verdict.success) as u64;
            }
        }
        if let Some(fleet) = &mut self.fleet {
            // The first result since this instance began probing the check, or a flip.
            let first = !std::mem::replace(&mut fleet.reported[check], true);
            if flipped || first {
                let healthy = self.thresholds[check].healthy();
                let _ = fleet.link.to.send(ToFleet::Observed { generation: fleet.generation, check, healthy });
            }
            // A first result that is not a flip leaves the decision as it was (the threshold
            // resumed from it): nothing to publish. The report it makes comes back in a view.
            return flipped;
        }
        flipped
    }

    /// Each check's measured state: its own threshold's, or in a fleet the rule's decision
    /// (which this also records, with its basis, for the status report).
    fn measured(&mut self) -> Vec<Option<bool>> {
        let Some(fleet) = &mut self.fleet else {
            return self
                .config
                .checks
                .iter()
                .zip(&self.thresholds)
                .map(|(c, t)| probed(c).then(|| t.healthy()))
                .collect();
        };
        let mut standing = Vec::with_capacity(self.config.checks.len());
        let measured: Vec<Option<bool>> = (self.config.checks.iter().zip(&self.thresholds).enumerate())
            .map(|(i, (check, threshold))| {
                if !probed(check) {
                    standing.push(None);
                    return None;
                }
                let (probing, reports) = (fleet.probe[i], fleet.view.as_ref().map_or((0, 0), |v| v.reports[i]));
                let local = fleet.view.as_ref().is_some_and(|v| v.local);
                let basis = if local {
                    fleet.decided[i] = threshold.healthy();
                    "local"
                } else if fleet.view.is_none() {
                    "last known"
                } else {
                    let own = (probing && fleet.reported[i]).then(|| threshold.healthy());
                    let (healthy, observers) = (reports.0 as usize, reports.1 as usize);
                    let decision = fleet.link.rule.decide_counts(healthy, observers, own, Some(fleet.decided[i]));
                    fleet.decided[i] = decision.healthy.unwrap_or(fleet.decided[i]);
                    match decision.basis {
                        Basis::Observers { .. } => "observers",
                        Basis::OwnProbe => "own probe",
                        Basis::LastKnown | Basis::Nothing => "last known",
                    }
                };
                standing.push(Some(FleetCheckStatus {
                    probing: probing || local,
                    healthy_reports: reports.0,
                    reports: reports.1,
                    basis,
                }));
                Some(fleet.decided[i])
            })
            .collect();
        if let Ok(mut table) = self.table.lock() {
            for ((entry, standing), m) in table.checks.iter_mut().zip(standing).zip(&measured) {
                entry.fleet = standing;
                if entry.fleet.is_some() {
                    entry.measured = *m;
                }
            }
        }
        measured
    }

    /// Tells the fleet thread the checks in force (at start and after a reload).
    fn tell_fleet_checks(&mut self) {
        let Some(fleet) = &mut self.fleet else { return };
        fleet.generation += 1;
        let checks: Vec<FleetCheck> = (self.config.checks.iter().zip(&self.fingerprints))
            .map(|(check, fingerprint)| FleetCheck {
                id: check.id.clone(),
                target: fleet::target_hash(fingerprint),
                probed: probed(check),
                observers: check.observers,
            })
            .collect();
        let _ = fleet.link.to.send(ToFleet::Checks { generation: fleet.generation, checks: Arc::new(checks) });
    }

    /// Whether this instance probes check `i` now.
    fn probing(&self, i: usize) -> bool {
        probed(&self.config.checks[i]) && self.fleet.as_ref().is_none_or(|f| f.probe[i])
    }

    /// Takes the fleet thread's newest view: starts and stops probes, and publishes.
    fn drain_fleet(&mut self, now: Instant) {
        let Some(fleet) = &mut self.fleet else { return };
        let mut newest = None;
        while let Ok(view) = fleet.link.from.try_recv() {
            if view.generation == fleet.generation && view.probe.len() == self.config.checks.len() {
                newest = Some(view);
            }
        }
        let Some(view) = newest else { return };
        self.apply_view(view, now);
    }

    /// Goes local on its own when etcd has been out of reach past `fallback_after`, though
    /// the fleet thread, waiting out a call, has not said so yet.
    fn fleet_deadline(&mut self, now: Instant) {
        let Some(fleet) = &self.fleet else { return };
        let Some(view) = fleet.view.as_ref().filter(|v| !v.local) else { return };
        if !fleet.link.out_of_reach() {
            return;
        }
        let local = Arc::new(FleetView { local: true, probe: vec![true; view.probe.len()], ..(**view).clone() });
        fleet.link.shared.local.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            after = ?fleet.link.fallback_after,
            "fleet: etcd out of reach; probing every check locally until it is back"
        );
        self.apply_view(local, now);
    }

    /// Switches to a view: starts and stops probes, and publishes.
    fn apply_view(&mut self, view: Arc<FleetView>, now: Instant) {
        let Some(fleet) = &mut self.fleet else { return };
        let probe = view.probe.clone();
        fleet.view = Some(view);
        let started: Vec<usize> = (0..probe.len()).filter(|&i| probe[i] && !fleet.probe[i]).collect();
        let stopped = (0..probe.len()).any(|i| !probe[i] && fleet.probe[i]);
        for &i in &started {
            // It starts from the state the fleet decided, and reports its first result.
            self.thresholds[i] = Threshold::resume(fleet.decided[i], 0);
            fleet.reported[i] = false;
        }
        fleet.probe = probe;
        let resumed = !started.is_empty();
        if stopped {
            let fleet = self.fleet.as_ref().map(|f| &f.probe);
            self.schedule.retain(|Reverse((_, i))| fleet.is_none_or(|p| p[*i]));
        }
        if !started.is_empty() {
            // A check with a probe in flight is scheduled again when the probe ends.
            let mut busy = self.resolving.clone();
            for (check, _) in self.attempts.iter().flatten() {
                busy[*check] = true;
            }
            for i in started.into_iter().filter(|&i| !busy[i]) {
                self.schedule_first(i, now);
            }
        }
        // A view changes what is decided, not what this instance measured: the state file
        // is saved only when thresholds were resumed. (Saving it on every view made a fleet
        // of 10,000 checks spend most of its prober's time writing the file.)
        if resumed {
            self.publish();
        } else {
            self.publish_view();
        }
    }

    /// Publishes the current zones with freshly evaluated health, and saves the state file
    /// (a failure is logged).
    fn publish(&mut self) {
        let _ = self.publish_and_save();
    }

    /// [`Self::publish`], returning whether the state file was saved.
    fn publish_and_save(&mut self) -> Result<(), String> {
        self.publish_view();
        self.save()
    }

    /// Publishes the current zones with freshly evaluated health; the state file is left alone.
    fn publish_view(&mut self) {
        let forced = forced_by_index(&self.config.checks, &self.forced);
        let measured = self.measured();
        let health = HealthSnapshot::evaluate_forced(&self.config.checks, &measured, &forced);
        let before = self.publisher.current();
        for (i, check) in self.config.checks.iter().enumerate() {
            let after = health.is_healthy(i as u32);
            let same_catalog = Arc::ptr_eq(before.catalog(), &self.catalog);
            if same_catalog && check.kind == CheckKind::Calculated && before.health().is_healthy(i as u32) != after {
                tracing::info!(check = %check.id, healthy = after, "calculated check changed state");
            }
        }
        if let Ok(mut table) = self.table.lock() {
            for (entry, f) in table.checks.iter_mut().zip(&forced) {
                entry.forced = *f;
            }
        }
        self.note_record_sets(&health);
        self.publisher.publish(View::new(self.catalog.clone(), health));
    }

    /// Logs every health-checked record set that starts or stops answering from unhealthy
    /// members (or NODATA, or its fallback, when it says so), or that falls below or gets back
    /// to `max_answers` healthy members.
    fn note_record_sets(&mut self, health: &HealthSnapshot) {
        let max_answers = self.config.server.max_answers;
        for (set, condition) in record_sets(&self.config).zip(self.conditions.iter_mut()) {
            if set.members.iter().all(|m| m.check.is_none()) {
                continue;
            }
            let standing = Standing::of(&set.members, health);
            let now = if standing.none_healthy() {
                Condition::NoneHealthy
            } else if standing.below_max_answers(set, max_answers) {
                Condition::BelowMaxAnswers
            } else {
                Condition::Full
            };
            let before = std::mem::replace(condition, now);
            let (name, rtype, healthy, members) =
                (&set.owner, rtype_name(set.rtype), standing.healthy, standing.members);
            match (before, now, set.when_all_unhealthy) {
                (before, now, _) if before == now => {}
                (_, Condition::NoneHealthy, WhenAllUnhealthy::AnswerAll) => tracing::warn!(
                    %name,
                    r#type = %rtype,
                    members,
                    "record set failing open: no member is healthy, answering from unhealthy members"
                ),
                (_, Condition::NoneHealthy, WhenAllUnhealthy::NoData) => {
                    tracing::warn!(%name, r#type = %rtype, members, "record set has no healthy member: answering NODATA")
                }
                (_, Condition::NoneHealthy, WhenAllUnhealthy::Fallback) => tracing::warn!(
                    %name,
                    r#type = %rtype,
                    members,
                    "record set has no healthy member: answering its fallback values"
                ),
                (Condition::NoneHealthy, _, WhenAllUnhealthy::AnswerAll) => {
                    tracing::info!(%name, r#type = %rtype, healthy, members, "record set no longer failing open")
                }
                (Condition::NoneHealthy, _, _) => {
                    tracing::info!(%name, r#type = %rtype, healthy, members, "record set has a healthy member again")
                }
                (_, Condition::BelowMaxAnswers, _) => tracing::warn!(
                    %name,
                    r#type = %rtype,
                    healthy,
                    members,
                    max_answers,
                    "record set below max_answers healthy"
                ),
                (_, Condition::Full, _) => tracing::info!(
                    %name,
                    r#type = %rtype,
                    healthy,
                    members,
                    max_answers,
                    "record set no longer below max_answers healthy"
                ),
            }
        }
    }

    /// Writes the state file, if there is one: every check's measured state, the states the
    /// memory keeps, and the overrides. A failure is logged and returned, naming the file.
    fn save(&self) -> Result<(), String> {
        let Some(path) = &self.config.server.state_file else { return Ok(()) };
        let checks = &self.config.checks;
        let live: Vec<Remembered> = (0..checks.len())
            .filter_map(|i| {
                Some(Remembered {
                    at: self.measured_at[i]?,
                    id: checks[i].id.clone(),
                    fingerprint: self.fingerprints[i].clone(),
                    healthy: self.thresholds[i].healthy(),
                    streak: self.thresholds[i].streak(),
                })
            })
            .collect();
        statefile::save(path, live.iter().chain(self.memory.states()), &self.forced, SystemTime::now()).map_err(|e| {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the health state file");
            format!("cannot write the health state file {}: {e}", path.display())
        })
    }
}
