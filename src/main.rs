//! The `eightfold` command: parse arguments, load the config, run, map errors to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eightfold::config::Config;

/// Exit code for a configuration that does not validate.
const EXIT_CONFIG: u8 = 1;
/// Exit code for a server that could not start.
const EXIT_RUNTIME: u8 = 3;

/// Authoritative DNS server with Route 53 multivalue answer routing and health checks.
///
/// With no command, serves the built-in demo config on 127.0.0.1:5353.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a config (the built-in demo when --config is not given).
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen here instead of the config's `listen` (repeatable; port 0 picks a free port).
        #[arg(long)]
        listen: Vec<SocketAddr>,
    },
    /// Validate a config and the zone files it names; exit 0 if valid, 1 with the problems if not.
    Check {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    match cli.command.unwrap_or(Command::Serve { config: None, listen: Vec::new() }) {
        Command::Check { config } => match Config::load(&config) {
            Ok(loaded) => {
                let records: usize = loaded.zones.iter().map(|z| z.rrsets.len()).sum();
                println!(
                    "{}: OK ({} zones, {} record sets, {} health checks)",
                    config.display(),
                    loaded.zones.len(),
                    records,
                    loaded.checks.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Serve { config, listen } => {
            let mut config = match config {
                None => Config::demo(),
                Some(path) => match Config::load(&path) {
                    Ok(config) => config,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
            };
            if !listen.is_empty() {
                config.server.listen = listen;
            }
            match eightfold::control::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("eightfold: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}
