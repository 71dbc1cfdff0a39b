//! Control side: starts the server from a config and runs it until a signal says stop.

use std::fmt;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::Config;
use crate::health::{self, HealthSnapshot};
use crate::server::{Server, ServerError, Shared};

/// Why serving ended badly.
#[derive(Debug)]
pub enum RunError {
    /// Sockets or threads could not be set up.
    Server(ServerError),
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The prober thread could not start.
    Prober(std::io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Server(e) => write!(f, "{e}"),
            RunError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            RunError::Prober(e) => write!(f, "cannot start the health prober: {e}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Server(e) => Some(e),
            RunError::Signals(e) | RunError::Prober(e) => Some(e),
        }
    }
}

/// Serves `config` until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<(), RunError> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(RunError::Signals)?;
    let measured = health::initial_measured(&config);
    let shared = Shared::with_health(&config, HealthSnapshot::evaluate(&config.checks, &measured));
    let server = Server::start(&config, shared.clone()).map_err(RunError::Server)?;
    let prober = health::spawn(&config, shared, measured).map_err(RunError::Prober)?;
    let zones: Vec<String> = config.zones.iter().map(|z| z.origin.to_string()).collect();
    tracing::info!(zones = %zones.join(" "), checks = config.checks.len(), config = %config.source.display(), "loaded configuration");
    for address in &server.addresses {
        tracing::info!("listening on {address} (UDP with {} workers, TCP)", server.workers);
    }
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "stopping");
    }
    server.stop();
    prober.join();
    Ok(())
}
