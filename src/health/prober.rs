//! The prober thread: runs every endpoint check on its own schedule with one mio poll,
//! applies the failure threshold, and publishes a new [`HealthSnapshot`] only when some
//! state changed. Workers never wait for it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel::{self, Receiver, Sender};
use mio::{Events, Poll, Token, Waker};

use super::http::Verdict;
use super::probe::{Attempt, Outcome};
use super::tls::TlsConfigs;
use super::{statefile, HealthSnapshot, Threshold};
use crate::config::{CheckConfig, CheckKind, Config};
use crate::server::Shared;

/// Longest the loop sleeps, so shutdown is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// Token of the resolver's waker.
const RESOLVED: Token = Token(usize::MAX);
/// Per-round jitter, as a fraction of the interval.
const JITTER: f64 = 0.05;
/// Bytes read from a socket per call.
const READ_CHUNK: usize = 8192;

/// What the control side can see of one check.
#[derive(Debug, Clone, Default)]
pub struct CheckStatus {
    /// Measured state (before `inverted`); `None` for checks that are not probed.
    pub measured: Option<bool>,
    /// Consecutive results disagreeing with the measured state.
    pub streak: u8,
    /// The last probe's reason, in Route 53's words.
    pub last_reason: Option<String>,
    /// The last probe's duration.
    pub last_latency: Option<Duration>,
    /// When the last probe ended.
    pub last_checked: Option<SystemTime>,
    /// Probes run.
    pub probes: u64,
    /// Probes that failed.
    pub failures: u64,
}

/// A running prober.
pub struct ProberHandle {
    thread: JoinHandle<()>,
    /// Per-check status, indexed like the config's checks.
    pub status: Arc<Mutex<Vec<CheckStatus>>>,
}

impl ProberHandle {
    /// Waits for the thread, which ends when the server stops (and saves the state file).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Measured states to start from: the state file's where usable, else healthy.
pub fn initial_measured(config: &Config) -> Vec<Option<bool>> {
    let stored = match &config.server.state_file {
        Some(path) => match statefile::load(path, &config.checks, config.server.state_max_age, SystemTime::now()) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the health state file");
                vec![None; config.checks.len()]
            }
        },
        None => vec![None; config.checks.len()],
    };
    config.checks.iter().zip(stored).map(|(c, s)| probed(c).then(|| s.unwrap_or(true))).collect()
}

/// Starts the prober for `config`'s checks, from `measured` states.
pub fn spawn(config: &Config, shared: Arc<Shared>, measured: Vec<Option<bool>>) -> io::Result<ProberHandle> {
    let status: Vec<CheckStatus> =
        measured.iter().map(|m| CheckStatus { measured: *m, ..CheckStatus::default() }).collect();
    let status = Arc::new(Mutex::new(status));
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), RESOLVED)?);
    let (ask, questions) = channel::unbounded::<(usize, String, u16)>();
    let (tell, answers) = channel::unbounded::<(usize, Result<SocketAddr, String>)>();
    if config.checks.iter().any(|c| probed(c) && c.ip.is_none()) {
        let waker = waker.clone();
        std::thread::Builder::new().name("resolver".into()).spawn(move || resolve_loop(questions, tell, waker))?;
    }
    let mut prober = Prober {
        checks: config.checks.clone(),
        thresholds: measured.iter().map(|m| Threshold::new(m.unwrap_or(true))).collect(),
        schedule: BinaryHeap::new(),
        attempts: Vec::new(),
        free: Vec::new(),
        poll,
        tls: TlsConfigs::new(),
        rng: fastrand::Rng::new(),
        shared,
        status: status.clone(),
        state_file: config.server.state_file.clone(),
        ask,
        answers,
        snapshot: HealthSnapshot::evaluate(&config.checks, &measured),
    };
    let now = Instant::now();
    for (i, check) in prober.checks.iter().enumerate() {
        if probed(check) {
            // Spread first probes over one interval: no burst at start.
            let offset = check.request_interval.mul_f64(prober.rng.f64());
            prober.schedule.push(Reverse((now + offset, i)));
        }
    }
    let thread = std::thread::Builder::new().name("prober".into()).spawn(move || prober.run())?;
    Ok(ProberHandle { thread, status })
}

/// Whether the prober runs this check (calculated and disabled checks are not probed).
fn probed(check: &CheckConfig) -> bool {
    check.kind != CheckKind::Calculated && !check.disabled
}

struct Prober {
    checks: Vec<CheckConfig>,
    thresholds: Vec<Threshold>,
    schedule: BinaryHeap<Reverse<(Instant, usize)>>,
    /// In-flight probes by token: (check index, attempt).
    attempts: Vec<Option<(usize, Attempt)>>,
    free: Vec<usize>,
    poll: Poll,
    tls: TlsConfigs,
    rng: fastrand::Rng,
    shared: Arc<Shared>,
    status: Arc<Mutex<Vec<CheckStatus>>>,
    state_file: Option<PathBuf>,
    ask: Sender<(usize, String, u16)>,
    answers: Receiver<(usize, Result<SocketAddr, String>)>,
    snapshot: HealthSnapshot,
}

impl Prober {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; READ_CHUNK].into_boxed_slice();
        while !self.shared.stopping() {
            let now = Instant::now();
            self.start_due(now);
            let wake = self.next_wake(now);
            if let Err(e) = self.poll.poll(&mut events, Some(wake.saturating_duration_since(now).min(MAX_SLEEP))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "prober poll failed");
                    break;
                }
            }
            let now = Instant::now();
            let mut changed = false;
            for event in events.iter() {
                if event.token() == RESOLVED {
                    while let Ok((check, result)) = self.answers.try_recv() {
                        match result {
                            Ok(addr) => changed |= self.launch(check, addr, now),
                            Err(reason) => {
                                changed |= self.finish(
                                    check,
                                    Outcome { verdict: Verdict::fail(reason), latency: Duration::ZERO },
                                    now,
                                )
                            }
                        }
                    }
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
            for slot in 0..self.attempts.len() {
                let expired = matches!(&self.attempts[slot], Some((_, a)) if a.deadline() <= now);
                if expired {
                    let outcome = self.attempts[slot].as_ref().map(|(_, a)| a.timed_out(now));
                    if let Some(outcome) = outcome {
                        changed |= self.complete(slot, outcome, now);
                    }
                }
            }
            if changed {
                self.publish();
            }
        }
        self.save();
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let due = self.schedule.peek().map_or(now + MAX_SLEEP, |Reverse((at, _))| *at);
        self.attempts.iter().flatten().map(|(_, a)| a.deadline()).fold(due, Instant::min)
    }

    fn start_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, check))) = self.schedule.peek() {
            if at > now {
                break;
            }
            self.schedule.pop();
            let spec = &self.checks[check];
            match spec.ip {
                Some(ip) => {
                    let addr = SocketAddr::new(ip, spec.port);
                    if self.launch(check, addr, now) {
                        self.publish();
                    }
                }
                None => {
                    let fqdn = spec.fqdn.clone().unwrap_or_default();
                    let _ = self.ask.send((check, fqdn, spec.port));
                }
            }
        }
    }

    /// Starts a probe; a probe that fails at once is finished here (returns whether a state changed).
    fn launch(&mut self, check: usize, addr: SocketAddr, now: Instant) -> bool {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.attempts.push(None);
            self.attempts.len() - 1
        });
        match Attempt::start(&self.checks[check], addr, &self.tls, self.poll.registry(), Token(slot), now) {
            Ok(attempt) => {
                self.attempts[slot] = Some((check, attempt));
                false
            }
            Err(verdict) => {
                self.free.push(slot);
                self.finish(check, Outcome { verdict, latency: Duration::ZERO }, now)
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
    fn finish(&mut self, check: usize, outcome: Outcome, now: Instant) -> bool {
        let spec = &self.checks[check];
        let threshold = &mut self.thresholds[check];
        let flipped = threshold.record(outcome.verdict.success, spec.failure_threshold);
        if flipped {
            let state = if threshold.healthy() { "healthy" } else { "unhealthy" };
            if threshold.healthy() {
                tracing::info!(check = %spec.id, reason = %outcome.verdict.reason, "endpoint is now {state}");
            } else {
                tracing::warn!(check = %spec.id, reason = %outcome.verdict.reason, "endpoint is now {state}");
            }
        }
        if let Ok(mut status) = self.status.lock() {
            let entry = &mut status[check];
            entry.measured = Some(threshold.healthy());
            entry.streak = threshold.streak();
            entry.last_reason = Some(outcome.verdict.reason);
            entry.last_latency = Some(outcome.latency);
            entry.last_checked = Some(SystemTime::now());
            entry.probes += 1;
            entry.failures += (!outcome.verdict.success) as u64;
        }
        // Route 53 counts the interval from the end of one probe to the start of the next.
        let jitter = 1.0 + JITTER * (2.0 * self.rng.f64() - 1.0);
        self.schedule.push(Reverse((now + spec.request_interval.mul_f64(jitter), check)));
        flipped
    }

    fn publish(&mut self) {
        let measured: Vec<Option<bool>> =
            self.checks.iter().zip(&self.thresholds).map(|(c, t)| probed(c).then(|| t.healthy())).collect();
        let snapshot = HealthSnapshot::evaluate(&self.checks, &measured);
        for (i, check) in self.checks.iter().enumerate() {
            let (before, after) = (self.snapshot.is_healthy(i as u32), snapshot.is_healthy(i as u32));
            if before != after && check.kind == CheckKind::Calculated {
                tracing::info!(check = %check.id, healthy = after, "calculated check changed state");
            }
        }
        self.snapshot = snapshot.clone();
        self.shared.publish_health(snapshot);
        self.save();
    }

    fn save(&self) {
        let Some(path) = &self.state_file else { return };
        let measured: Vec<Option<bool>> =
            self.checks.iter().zip(&self.thresholds).map(|(c, t)| probed(c).then(|| t.healthy())).collect();
        if let Err(e) = statefile::save(path, &self.checks, &measured, SystemTime::now()) {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the health state file");
        }
    }
}

/// Resolves FQDN-only checks (IPv4, as Route 53) off the prober thread.
fn resolve_loop(
    questions: Receiver<(usize, String, u16)>,
    answers: Sender<(usize, Result<SocketAddr, String>)>,
    waker: Arc<Waker>,
) {
    for (check, fqdn, port) in questions {
        let result = (fqdn.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4))
            .ok_or_else(|| "Failure: DNS resolution failed".to_string());
        if answers.send((check, result)).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}
