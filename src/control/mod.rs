//! Control side: starts everything from a config, reloads it, serves the control endpoint
//! (status page, metrics, status, reload, overrides) on a TCP address and the control socket,
//! and runs until a signal says stop.
//!
//! Signals: SIGHUP reloads; SIGINT and SIGTERM stop (UDP workers finish their batch, TCP
//! answers in flight are written, the state file is saved) and the process exits 0.

pub mod client;
mod http;
pub mod manual;
mod metrics;
mod notify;
mod page;
pub mod privileges;
pub mod pushed;
mod socket;
mod status;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cluster::bundle::Bundle;
use crate::cluster::fleet::{self, FleetShared};
use crate::cluster::{bundle, push, Etcd};
use crate::config::{ClusterConfig, Config, ConfigError};
use crate::prober::{self, Overridden, ProberHandle};
use crate::server::{self, Server, ServerError, Shared, Sockets};
use crate::view::{self, release_freed_memory, View};
use crate::zone::Catalog;

pub use status::{Filter as StatusFilter, Status};

/// Where the configuration comes from, with command-line overrides applied on every load.
#[derive(Debug, Clone)]
pub struct Source {
    /// A file, or the built-in demo when `None`.
    pub path: Option<PathBuf>,
    /// `--listen`: replaces `[server] listen`.
    pub listen: Vec<SocketAddr>,
    /// `--control`: replaces `[server] control`.
    pub control: Option<SocketAddr>,
    /// The pushed configuration a fleet's instance serves instead of its file's zones,
    /// records, health checks and TSIG keys; shared by the clones of a source.
    pushed: Arc<Mutex<Option<Pushed>>>,
}

/// A pushed configuration and its hash.
#[derive(Debug, Clone)]
struct Pushed {
    bundle: Arc<Bundle>,
    hash: String,
}

impl Source {
    /// The file at `path` (the built-in demo when `None`), with these overrides.
    pub fn new(path: Option<PathBuf>, listen: Vec<SocketAddr>, control: Option<SocketAddr>) -> Source {
        Source { path, listen, control, pushed: Arc::default() }
    }

    /// Reads and validates the configuration: the file, or, when a pushed configuration is
    /// installed and the file has `[cluster]`, the pushed one with the file's own `[server]`
    /// and `[cluster]`.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut config = match (&self.path, pushed) {
            (Some(path), Some(pushed)) => {
                let local = Config::load_local(path)?;
                match local.cluster {
                    Some(_) => pushed.bundle.config_for(&local)?,
                    // No longer a fleet's instance: its own file, whole.
                    None => Config::load(path)?,
                }
            }
            (Some(path), None) => Config::load(path)?,
            (None, _) => Config::demo(),
        };
        if !self.listen.is_empty() {
            config.server.listen = self.listen.clone();
        }
        if self.control.is_some() {
            config.server.control = self.control;
        }
        Ok(config)
    }

    /// Loads the configuration to start with. A fleet's instance (its file has `[cluster]`
    /// and a `state_file`) whose last applied push was kept beside the state file serves that
    /// one, so that a restart while etcd is unreachable serves the last push; a kept copy that
    /// cannot be read or no longer validates is logged, and the file is served.
    pub fn load_at_start(&self) -> Result<Config, ConfigError> {
        let Some(path) = &self.path else { return self.load() };
        // A file with problems in its own part: `load` reports them.
        let Ok(local) = Config::load_local(path) else { return self.load() };
        let (Some(_), Some(state_file)) = (&local.cluster, &local.server.state_file) else { return self.load() };
        let kept = pushed::path(state_file);
        match pushed::load(&kept) {
            None => {}
            Some(Ok(bundle)) => {
                let hash = bundle.hash();
                self.install(Some(Pushed { bundle: Arc::new(bundle), hash: hash.clone() }));
                match self.load() {
                    Ok(config) => {
                        tracing::info!(%hash, kept = %kept.display(), "serving the last pushed configuration");
                        return Ok(config);
                    }
                    Err(e) => {
                        self.install(None);
                        tracing::error!(
                            %hash,
                            kept = %kept.display(),
                            "the last pushed configuration no longer validates; serving {} until the next \
                             push:\n{e}",
                            path.display()
                        );
                    }
                }
            }
            Some(Err(e)) => tracing::error!(
                kept = %kept.display(),
                "cannot read the last pushed configuration ({e}); serving {} until the next push",
                path.display()
            ),
        }
        self.load()
    }

    /// The hash of the pushed configuration served, if one is.
    pub fn pushed_hash(&self) -> Option<String> {
        self.pushed.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|p| p.hash.clone())
    }

    /// Installs a pushed configuration (or none); returns the one before.
    fn install(&self, pushed: Option<Pushed>) -> Option<Pushed> {
        std::mem::replace(&mut *self.pushed.lock().unwrap_or_else(|e| e.into_inner()), pushed)
    }
}

/// Why serving ended badly.
#[derive(Debug)]
pub enum RunError {
    /// Sockets or threads could not be set up.
    Server(ServerError),
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The prober thread could not start.
    Prober(std::io::Error),
    /// The control endpoint could not start.
    Control {
        /// The address it was to listen on.
        address: SocketAddr,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The control endpoint's threads could not start.
    ControlStart(std::io::Error),
    /// The control socket could not be made.
    ControlSocket {
        /// Its path.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// Switching to `user` failed.
    Privileges(String),
    /// The state file cannot be written by the user the server runs as.
    StateFile {
        /// The configured path.
        path: std::path::PathBuf,
        /// Why not.
        reason: String,
    },
    /// The etcd client for `[cluster]` could not be set up.
    Cluster(String),
    /// A signed zone could not be signed.
    Signing(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Server(e) => write!(f, "{e}"),
            RunError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            RunError::Prober(e) => write!(f, "cannot start the health prober: {e}"),
            RunError::Control { address, source } => {
                write!(f, "cannot start the control endpoint on {address}: {source}")
            }
            RunError::ControlStart(e) => write!(f, "cannot start the control endpoint: {e}"),
            RunError::ControlSocket { path, source } => write!(
                f,
                "cannot make the control socket {}: {source} (`control_socket` in [server] picks another path, or \
                 \"\" none)",
                path.display()
            ),
            RunError::Privileges(e) => write!(f, "cannot drop privileges: {e}"),
            RunError::Cluster(e) => write!(f, "cannot join the fleet: [cluster]: {e}"),
            RunError::Signing(e) => write!(f, "{e}"),
            RunError::StateFile { path, reason } => write!(
                f,
                "cannot keep the health state file {}: {reason} (fix the folder's owner or mode, or `state_file`)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Server(e) => Some(e),
            RunError::Signals(e)
            | RunError::Prober(e)
            | RunError::ControlStart(e)
            | RunError::Control { source: e, .. }
            | RunError::ControlSocket { source: e, .. } => Some(e),
            RunError::Privileges(_) | RunError::StateFile { .. } | RunError::Cluster(_) | RunError::Signing(_) => None,
        }
    }
}

/// Why a reload did not happen.
#[derive(Debug)]
pub enum ReloadError {
    /// The new configuration is invalid; the old one keeps serving.
    Invalid(ConfigError),
    /// The prober did not take the new configuration.
    Apply(String),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Invalid(e) => write!(f, "{e}"),
            ReloadError::Apply(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// Zones now served.
    pub zones: usize,
    /// Health checks now configured.
    pub checks: usize,
    /// Settings that changed but only take effect after a restart.
    pub needs_restart: Vec<&'static str>,
    /// Time taken.
    pub millis: u128,
}

/// The running server as the control side sees it.
pub struct Control {
    source: Source,
    /// The sockets and settings fixed at start.
    started_with: Config,
    shared: Arc<Shared>,
    prober: ProberHandle,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    reload_lock: Mutex<()>,
    started: Instant,
    /// The fleet, when `[cluster]` is set: what the status report and metrics show of it.
    fleet: Option<Arc<FleetShared>>,
    /// The fleet's etcd, to fetch pushed configurations from.
    etcd: Option<Etcd>,
}

/// What the fleet thread calls on the control side.
struct FleetHost {
    control: std::sync::Weak<Control>,
}

impl fleet::Host for FleetHost {
    fn apply(&self, current: &crate::cluster::keys::Current) -> Result<(), String> {
        let control = self.control.upgrade().ok_or("the server is stopping")?;
        control.apply_current(current)
    }

    fn applied(&self) -> Option<String> {
        self.control.upgrade().and_then(|c| c.pushed_hash())
    }

    fn wake_prober(&self) {
        if let Some(control) = self.control.upgrade() {
            control.prober.wake();
        }
    }
}

impl Control {
    /// Fetches a pushed configuration from etcd and serves it ([`Control::apply_pushed`]).
    fn apply_current(&self, current: &crate::cluster::keys::Current) -> Result<(), String> {
        let (Some(etcd), Some(cluster)) = (&self.etcd, &self.started_with.cluster) else {
            return Err("this instance is not in a fleet".to_string());
        };
        let bundle = bundle::fetch(etcd, &cluster.name, current)?;
        self.apply_pushed(Arc::new(bundle)).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Re-reads the configuration and zone files and swaps them in; on any error the old
    /// configuration keeps serving.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock();
        notify::reloading();
        let result = self.reload_now();
        notify::ready(if result.is_ok() { "serving" } else { "serving the previous configuration: reload failed" });
        result
    }

    /// [`Control::reload`], under its lock.
    fn reload_now(&self) -> Result<Reloaded, ReloadError> {
        let started = Instant::now();
        let result = self.source.load().map_err(ReloadError::Invalid).and_then(|config| {
            let needs_restart = restart_only_changes(&self.started_with, &config);
            let catalog = Arc::new(Catalog::build(&config, unix_now()).map_err(ReloadError::Apply)?);
            log_signed(&catalog, started);
            let config = config.without_simple_records();
            release_freed_memory();
            let summary = Reloaded { zones: config.zones.len(), checks: config.checks.len(), needs_restart, millis: 0 };
            self.prober.reload(Arc::new(config), catalog).map_err(ReloadError::Apply)?;
            Ok(summary)
        });
        match result {
            Ok(mut summary) => {
                summary.millis = started.elapsed().as_millis();
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    zones = summary.zones,
                    checks = summary.checks,
                    millis = summary.millis,
                    "configuration reloaded"
                );
                for setting in &summary.needs_restart {
                    tracing::warn!(setting, "changed in the configuration; it takes effect after a restart");
                }
                Ok(summary)
            }
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!("reload failed, the previous configuration keeps serving:\n{e}");
                Err(e)
            }
        }
    }

    /// Serves a pushed configuration: its zones, records, health checks and TSIG keys with
    /// this instance's own `[server]` and `[cluster]`, through the same path as a reload (zones
    /// and health swapped together). On any error the configuration served before (pushed or
    /// not) keeps serving and the error is returned. Once applied, a reload keeps serving it
    /// (and re-reads the file's `[server]`), and a copy is kept beside the state file.
    pub fn apply_pushed(&self, bundle: Arc<Bundle>) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock();
        let hash = bundle.hash();
        let fleet_member = match &self.source.path {
            Some(path) => Config::load_local(path).map_err(ReloadError::Invalid)?.cluster.is_some(),
            None => false,
        };
        if !fleet_member {
            let reason = "this instance's configuration has no [cluster], so it serves no pushed configuration";
            return Err(ReloadError::Apply(reason.to_string()));
        }
        let previous = self.source.install(Some(Pushed { bundle: Arc::clone(&bundle), hash: hash.clone() }));
        notify::reloading();
        let result = self.reload_now();
        match &result {
            Ok(_) => {
                tracing::info!(%hash, "serving the pushed configuration");
                if let Some(state_file) = &self.started_with.server.state_file {
                    let kept = pushed::path(state_file);
                    if let Err(e) = pushed::save(&kept, &bundle) {
                        tracing::warn!(
                            %hash,
                            "cannot keep a copy of the pushed configuration in {}: {e} (a restart while etcd is \
                             unreachable serves the file instead)",
                            kept.display()
                        );
                    }
                }
            }
            Err(_) => {
                self.source.install(previous);
                tracing::error!(%hash, "the pushed configuration was refused; the previous one keeps serving");
            }
        }
        notify::ready(if result.is_ok() { "serving" } else { "serving the previous configuration: push refused" });
        result
    }

    /// The hash of the pushed configuration served, or `None` when the file's is.
    pub fn pushed_hash(&self) -> Option<String> {
        self.source.pushed_hash()
    }

    /// Forces a check up, down, or back to automatic, and says whether that was saved.
    pub fn set_override(&self, id: &str, force: Option<bool>) -> Result<Overridden, String> {
        self.prober.set_override(id, force)
    }

    /// Prometheus text.
    pub fn metrics(&self) -> String {
        metrics::render(self)
    }

    /// The whole status report.
    pub fn status(&self) -> Status {
        status::collect(self, &StatusFilter::default()).expect("an empty filter names nothing that could be missing")
    }

    /// The status report narrowed by `filter`; an error when it names nothing configured.
    pub fn status_filtered(&self, filter: &StatusFilter) -> Result<Status, String> {
        status::collect(self, filter)
    }

    fn view(&self) -> Arc<View> {
        self.shared.view()
    }
}

/// The etcd client `[cluster]` describes, with time limits that fit its lease: a keep-alive
/// must get through well within `lease_ttl`.
fn etcd_client(cluster: &ClusterConfig) -> Result<Etcd, RunError> {
    let mut options = push::etcd_options(cluster);
    options.timeout = (cluster.lease_ttl / 3).clamp(Duration::from_secs(1), options.timeout);
    options.connect_timeout = options.connect_timeout.min(options.timeout);
    Etcd::new(options).map_err(|e| RunError::Cluster(e.to_string()))
}

/// Settings a reload cannot change in a running server.
fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.server, &new.server);
    let mut changed = Vec::new();
    for (name, differs) in [
        ("listen", a.listen != b.listen),
        ("workers", a.workers != b.workers),
        ("pin_workers", a.pin_workers != b.pin_workers),
        ("tcp_idle_timeout", a.tcp_idle_timeout != b.tcp_idle_timeout),
        ("tcp_max_connections", a.tcp_max_connections != b.tcp_max_connections),
        ("control", a.control != b.control),
        ("control_token", a.control_token != b.control_token),
        ("control_socket", a.control_socket != b.control_socket),
        ("query_log", a.query_log != b.query_log),
        ("state_file", a.state_file != b.state_file),
        ("tcp_message_timeout", a.tcp_message_timeout != b.tcp_message_timeout),
        ("rrl", a.rrl != b.rrl),
        ("answer_cache", a.answer_cache != b.answer_cache),
        ("xdp", a.xdp != b.xdp),
        ("user", a.user != b.user || a.group != b.group),
    ] {
        if differs {
            changed.push(name);
        }
    }
    changed
}

/// Catches SIGHUP from now on: call it before the configuration is first loaded, which can
/// take seconds for large zones. A SIGHUP sent meanwhile (a deploy script's reload, racing the
/// start) is then held and reloads once the server runs, instead of ending the process, which
/// is what SIGHUP does by default.
pub fn catch_reload_signal() -> Result<Signals, RunError> {
    Signals::new([SIGHUP]).map_err(RunError::Signals)
}

/// Serves `config` (loaded from `source`) until SIGINT or SIGTERM; SIGHUP, caught through
/// `signals` (from [`catch_reload_signal`]), reloads.
pub fn run(source: Source, config: Config, mut signals: Signals) -> Result<(), RunError> {
    for signal in [SIGINT, SIGTERM] {
        signals.add_signal(signal).map_err(RunError::Signals)?;
    }
    let open_files_limit = privileges::raise_open_files_limit();
    let sockets = Sockets::bind(&config).map_err(RunError::Server)?;
    let control_listener = match config.server.control {
        Some(address) => Some(http::bind(address).map_err(|source| RunError::Control { address, source })?),
        None => None,
    };
    // Before privileges drop, handed to the user the server becomes; removed when `run` ends
    // (the file's guard drops), however it ends.
    let (socket_listener, socket_file) = match &config.server.control_socket {
        Some(path) => {
            let owner = match &config.server.user {
                Some(user) => {
                    privileges::target_ids(user, config.server.group.as_deref()).map_err(RunError::Privileges)?
                }
                None => None,
            };
            let (listener, file) =
                socket::bind(path, owner).map_err(|source| RunError::ControlSocket { path: path.clone(), source })?;
            (Some(listener), Some(file))
        }
        None => (None, None),
    };
    // Every socket the server answers on is open now: what TCP clients may take is what
    // the limit leaves after those, the health checks, the control endpoint's connections
    // and a margin for everything else.
    let open = privileges::open_descriptors().unwrap_or_else(|| sockets.descriptors() + 4);
    let serves_control = control_listener.is_some() || socket_listener.is_some();
    let control_connections = if serves_control { http::MAX_CONNECTIONS } else { 0 };
    let reserved = open + config.checks.len() + control_connections + server::FD_RESERVE;
    let tcp_max_connections = server::tcp_connection_cap(config.server.tcp_max_connections, open_files_limit, reserved);
    if let Some(limit) = open_files_limit.filter(|_| tcp_max_connections < config.server.tcp_max_connections) {
        tracing::warn!(
            configured = config.server.tcp_max_connections,
            effective = tcp_max_connections,
            open_files_limit = limit,
            reserved,
            "tcp_max_connections lowered to fit under the open files limit (raise the limit, e.g. LimitNOFILE, \
             to allow more)"
        );
    }
    if let Some(user) = &config.server.user {
        privileges::drop_to(user, config.server.group.as_deref()).map_err(RunError::Privileges)?;
    }
    let initial = prober::initial_state(&config);
    // After the switch to `user` and after a damaged state file was moved aside: a state file
    // the server cannot write would lose every override at the next restart.
    if let Some(path) = &config.server.state_file {
        privileges::state_file_writable(path, None)
            .map_err(|reason| RunError::StateFile { path: path.clone(), reason })?;
    }
    let signing = Instant::now();
    let catalog = Arc::new(Catalog::build(&config, unix_now()).map_err(RunError::Signing)?);
    log_signed(&catalog, signing);
    let (publisher, reader) = view::channel(View::new(catalog.clone(), initial.snapshot(&config.checks)));
    let shared = Shared::new(reader);
    let server = Server::start(&config, sockets, shared.clone(), tcp_max_connections).map_err(RunError::Server)?;
    // Answering has started; now drop what only the build needed.
    let config = config.without_simple_records();
    release_freed_memory();
    let config = Arc::new(config);
    let etcd = match &config.cluster {
        Some(cluster) => Some(etcd_client(cluster)?),
        None => None,
    };
    let (link, ends) = match &config.cluster {
        Some(cluster) => {
            let (link, ends, shared) = fleet::link(cluster);
            (Some(link), Some((ends, shared)))
        }
        None => (None, None),
    };
    let prober =
        prober::spawn(config.clone(), catalog, shared.clone(), publisher, initial, link).map_err(RunError::Prober)?;
    let (ends, fleet_shared) = ends.unzip();
    let control = Arc::new(Control {
        source,
        started_with: (*config).clone(),
        shared: shared.clone(),
        prober,
        reloads: AtomicU64::new(0),
        reload_failures: AtomicU64::new(0),
        reload_lock: Mutex::new(()),
        started: Instant::now(),
        fleet: fleet_shared.clone(),
        etcd: etcd.clone(),
    });
    let fleet_thread = match (etcd, ends, &config.cluster, fleet_shared) {
        (Some(etcd), Some(ends), Some(cluster), Some(fleet_shared)) => {
            let settings = fleet::Settings {
                cluster: cluster.clone(),
                listen: server.addresses.iter().map(ToString::to_string).collect(),
            };
            let host = Arc::new(FleetHost { control: Arc::downgrade(&control) });
            let stopping = shared.clone();
            let thread = fleet::spawn(etcd, settings, ends, fleet_shared, host, Arc::new(move || stopping.stopping()))
                .map_err(RunError::Prober)?;
            Some(thread)
        }
        _ => None,
    };
    let resigner = resigner(Arc::downgrade(&control), shared.clone()).map_err(RunError::Prober)?;
    let endpoint = if serves_control {
        let listeners = http::Listeners { tcp: control_listener, unix: socket_listener };
        let bound = http::start(listeners, config.server.control_token.clone(), control.clone(), shared.clone())
            .map_err(RunError::ControlStart)?;
        if let Some(address) = bound.address {
            tracing::info!("control endpoint on http://{address}");
        }
        if let Some(file) = &socket_file {
            tracing::info!("control socket on {}", file.path().display());
        }
        Some(bound)
    } else {
        None
    };
    let zones: Vec<String> = config.zones.iter().map(|z| z.origin.to_string()).collect();
    tracing::info!(
        zones = %zones.join(" "),
        checks = config.checks.len(),
        tsig_keys = config.tsig_keys.len(),
        config = %config.source.display(),
        pushed = %control.pushed_hash().as_deref().unwrap_or("none"),
        "loaded configuration"
    );
    for address in &server.addresses {
        tracing::info!("listening on {address} (UDP with {} workers, TCP)", server.workers);
    }
    notify::ready("serving");
    for signal in signals.forever() {
        if signal == SIGHUP {
            let _ = control.reload();
            continue;
        }
        tracing::info!(signal, "stopping");
        notify::stopping();
        break;
    }
    server.stop();
    let _ = resigner.join();
    if let Some(thread) = fleet_thread {
        let _ = thread.join();
    }
    if let Some(endpoint) = endpoint {
        endpoint.join();
    }
    match Arc::try_unwrap(control) {
        Ok(control) => control.prober.join(),
        Err(_) => tracing::warn!("control endpoint still busy at exit"),
    }
    drop(socket_file);
    tracing::info!("stopped");
    Ok(())
}

/// Starts the thread that signs the signed zones again when half their signatures' validity
/// has passed: a reload, which reads the files again and builds the zones anew (so a key or
/// zone file changed meanwhile is taken up too). A reload that fails is tried again a minute
/// later, the old signatures serving meanwhile; the thread ends when the server stops.
fn resigner(control: std::sync::Weak<Control>, shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("resigner".into()).spawn(move || {
        let mut retry_at = 0u64;
        // A random delay after each new time, up to a twentieth of the wait (at most ten
        // minutes), so a fleet's instances, signed together, do not all sign again at once.
        let (mut seen, mut jitter) = (0u64, 0u64);
        while !shared.stopping() {
            std::thread::sleep(Duration::from_millis(500));
            let Some(due) = shared.view().catalog().refresh_at() else { continue };
            let now = unix_now();
            if due != seen {
                seen = due;
                jitter = fastrand::u64(0..=(due.saturating_sub(now) / 20).min(600));
            }
            if now < due + jitter || now < retry_at {
                continue;
            }
            let Some(control) = control.upgrade() else { return };
            tracing::info!("signing the signed zones again: half their signatures' validity has passed");
            if let Err(e) = control.reload() {
                tracing::error!(error = %e, "the zones were not signed again; the old signatures serve until they expire, retrying in a minute");
                retry_at = now + 60;
            }
        }
    })
}

/// Logs what signing each signed zone of `catalog` made (built since `started`).
fn log_signed(catalog: &Catalog, started: Instant) {
    for zone in catalog.zones() {
        if let Some(signatures) = zone.signatures() {
            let (count, bytes) = signatures.size();
            tracing::info!(
                zone = %zone.origin(),
                signatures = count,
                megabytes = format!("{:.1}", bytes as f64 / 1e6),
                millis = started.elapsed().as_millis(),
                "zone signed"
            );
        }
    }
}

/// Seconds since 1970, by the system clock: when signed zones are signed.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
