//! The `eightfold` command: parse arguments, load the config, run, map errors to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};
use eightfold::config::Config;
use eightfold::control::{client, Source, Status};

/// Exit code for a configuration that does not validate.
/// `--version`: the package version, the commit it was built from and the optional features
/// built in (both recorded by build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("EIGHTFOLD_COMMIT"),
    "; features: ",
    env!("EIGHTFOLD_FEATURES"),
    ")"
);

const EXIT_CONFIG: u8 = 1;
/// Exit code for a server that could not start.
const EXIT_RUNTIME: u8 = 3;

/// Authoritative DNS server with Route 53 multivalue answer routing and health checks.
///
/// With no command, serves the built-in demo config on 127.0.0.1:5353.
#[derive(Parser)]
#[command(version = VERSION, about, long_about, subcommand_value_name = "COMMAND")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log format: `text` lines for people, or `json`, one object a line (for Loki, ELK or
    /// journald), with the fields `timestamp`, `level`, `target`, `message` and each event's own.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a config (the built-in demo when --config is not given).
    Serve {
        /// The TOML config file.
        #[arg(long, short, value_hint = ValueHint::FilePath)]
        config: Option<PathBuf>,
        /// Listen here instead of the config's `listen` (repeatable; port 0 picks a free port).
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// Serve the control endpoint here instead of the config's `control`.
        #[arg(long)]
        control: Option<SocketAddr>,
    },
    /// Show health checks and record sets from a running server.
    Status {
        /// Only this record set name (with its checks) or check id (with its record sets).
        name: Option<String>,
        /// Only unhealthy checks and record sets with an unhealthy member.
        #[arg(long)]
        unhealthy: bool,
        #[command(flatten)]
        target: ControlTarget,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a running server re-read its config and zone files.
    Reload {
        #[command(flatten)]
        target: ControlTarget,
    },
    /// Convert another system's records and health checks into an eightfold config (stdout).
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Force a health check up or down for maintenance, or back to auto.
    Override {
        /// The check's id.
        check: String,
        /// up, down or auto.
        #[arg(value_parser = ["up", "down", "auto"])]
        state: String,
        #[command(flatten)]
        target: ControlTarget,
    },
    /// Validate a config and the zone files it names; exit 0 if valid, 1 with the problems if not.
    Check {
        /// The TOML config file.
        #[arg(long, short, value_hint = ValueHint::FilePath)]
        config: PathBuf,
    },
    /// Validate a config as `check` does and push it, with every file it reads, to the
    /// fleet in etcd; every instance serves it with its own [server] and [cluster].
    ///
    /// Exit 0 when stored (with --wait: when every live instance serves it), 1 when the
    /// config does not validate (nothing is stored) or an instance refused it, 3 when etcd
    /// could not be reached or --wait timed out.
    Push {
        /// The TOML config file pushed; its [cluster] says where etcd is.
        #[arg(long, short, value_hint = ValueHint::FilePath)]
        config: PathBuf,
        /// etcd's client URLs, comma-separated, instead of [cluster] `endpoints`.
        #[arg(long, value_delimiter = ',', value_name = "URL,...")]
        endpoints: Vec<String>,
        /// The fleet's name instead of [cluster] `name` (default: "default").
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Then wait until every live instance serves it or refused it, printing each answer.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
        timeout: u64,
    },
    /// Make a DNSSEC signing key and write it in BIND's two files, K<zone>.+<alg>+<tag>.key
    /// and .private (mode 0600), as dnssec-keygen does; print the files' stem.
    ///
    /// Without --ksk the key is a zone-signing key (flags 256); a key used alone, signing
    /// everything, is a key-signing key (--ksk, flags 257), the one the parent's DS names.
    Keygen {
        /// The zone, such as example.com.
        zone: String,
        /// 13 or ECDSAP256SHA256 (P-256, what Route 53 uses), or 15 or ED25519.
        #[arg(long, short, value_name = "ALGORITHM", default_value = "13", value_parser = parse_algorithm)]
        algorithm: eightfold::dnssec::Algorithm,
        /// A key-signing key (flags 257, the Secure Entry Point) instead of a zone-signing key.
        #[arg(long)]
        ksk: bool,
        /// Write the files in this folder instead of the working one.
        #[arg(long, value_hint = ValueHint::DirPath, default_value = ".")]
        dir: PathBuf,
    },
    /// Print the DS record (SHA-256) the parent zone publishes for a key-signing key, as
    /// dnssec-dsfromkey -2 does, for each .key file given (or its .private, or their stem).
    Ds {
        /// The keys' .key files.
        #[arg(required = true, value_hint = ValueHint::FilePath)]
        keys: Vec<PathBuf>,
        /// Also print a zone-signing key's DS (flags 256), which a parent does not normally
        /// publish.
        #[arg(long)]
        all: bool,
    },
    /// Sign a zone of the config with DNSSEC and print it in presentation format (a record a
    /// line): the zone's records with their RRSIGs, DNSKEY, CDS and CDNSKEY at the apex and the
    /// NSEC chain, for dnssec-verify or ldns-verify-zone to check.
    ///
    /// The server does not serve these signatures yet: this is for checking what it will
    /// sign. Keys with flags 257 (KSKs) sign DNSKEY, CDS and CDNSKEY, the others (ZSKs) the
    /// rest; a KSK alone signs everything. A record set with a routing policy (multivalue,
    /// weighted, failover) is signed as the union of its members for now; TTLs above a week
    /// are cut to a week. Signatures start an hour back.
    Sign {
        /// The TOML config file.
        #[arg(long, short, value_hint = ValueHint::FilePath)]
        config: PathBuf,
        /// The zone's origin, as the config names it (example.com.).
        #[arg(long, value_name = "ORIGIN")]
        zone: String,
        /// A key: its .key or .private file or their stem (K<zone>.+<alg>+<tag>); repeatable.
        #[arg(long = "key", value_name = "STEM", required = true, value_hint = ValueHint::FilePath)]
        keys: Vec<PathBuf>,
        /// How long the signatures are valid, in days from now.
        #[arg(long, value_name = "DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=90))]
        validity: u32,
        /// TTL of DNSKEY, CDS and CDNSKEY in seconds (default: the apex SOA's TTL).
        #[arg(long, value_name = "SECS")]
        dnskey_ttl: Option<u32>,
    },
    /// Write the manual pages, or print a shell's completion script.
    ///
    /// Both are made from this binary's own definition of its commands, and eightfold.toml(5)
    /// from the configuration manual built into it, so they describe the version installed.
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

#[derive(Subcommand)]
enum Generate {
    /// Write eightfold.8 and eightfold.toml.5 into DIR/man8 and DIR/man5, the layout man
    /// searches (folders made if missing).
    Man {
        /// The manual's root, such as /usr/local/share/man.
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
    },
    /// Print the completion script for a shell.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// The shells completion scripts are made for.
#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    /// GNU Bash (with the bash-completion package).
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

#[derive(Subcommand)]
enum ImportFrom {
    /// Amazon Route 53: `aws route53 list-resource-record-sets` and `list-health-checks` (or
    /// `get-health-check`) output, JSON.
    Route53 {
        /// Record sets JSON (repeatable, e.g. one file per page).
        #[arg(long = "record-sets", required = true, value_hint = ValueHint::FilePath)]
        record_sets: Vec<PathBuf>,
        /// Health checks JSON (repeatable).
        #[arg(long = "health-checks", value_hint = ValueHint::FilePath)]
        health_checks: Vec<PathBuf>,
        /// The zone's name (default: the owner of the SOA record set).
        #[arg(long)]
        zone: Option<String>,
        /// This server's name for the apex NS set, replacing Route 53's (repeat for each).
        #[arg(long = "ns", value_name = "NAME")]
        ns: Vec<String>,
        /// The SOA's primary server (MNAME), replacing Route 53's (default: the first --ns).
        #[arg(long = "soa-mname", value_name = "NAME")]
        soa_mname: Option<String>,
        /// The SOA's contact mailbox (RNAME), replacing Amazon's, e.g. hostmaster.example.com.
        #[arg(long = "soa-rname", value_name = "NAME")]
        soa_rname: Option<String>,
        /// The control endpoint written to [server], which `eightfold status --config` reaches.
        #[arg(long, value_name = "ADDR", default_value = client::DEFAULT_CONTROL)]
        control: SocketAddr,
    },
}

/// Which server the control commands talk to.
#[derive(clap::Args)]
struct ControlTarget {
    /// The control endpoint's TCP address (default: the control socket --config names when it
    /// exists, else `control` from --config, else 127.0.0.1:9153).
    #[arg(long, conflicts_with = "socket")]
    control: Option<SocketAddr>,
    /// The control socket (default: the one --config names, when it exists).
    #[arg(long, value_hint = ValueHint::FilePath)]
    socket: Option<PathBuf>,
    /// Read `control_socket` (or `state_file`, beside which it is by default), `control` and
    /// `control_token` from this config.
    #[arg(long, short, value_hint = ValueHint::FilePath)]
    config: Option<PathBuf>,
    /// Bearer token (default: `control_token` from --config, or EIGHTFOLD_CONTROL_TOKEN); the
    /// control socket needs none.
    #[arg(long)]
    token: Option<String>,
}

impl ControlTarget {
    fn resolve(&self) -> Result<(client::Target, Option<String>), String> {
        // Only the control keys, leniently: a config with problems elsewhere must not keep
        // these commands from the running server.
        let settings = match &self.config {
            Some(path) => Config::control_settings(path)?,
            None => Default::default(),
        };
        // The socket first: it needs no token, and its file permissions say who may use it.
        let target = match (&self.socket, self.control, settings.socket) {
            (Some(socket), _, _) => client::Target::Socket(socket.clone()),
            (None, Some(address), _) => client::Target::Tcp(address),
            (None, None, Some(socket)) if socket.exists() => client::Target::Socket(socket),
            (None, None, _) => client::Target::Tcp(
                settings.address.unwrap_or_else(|| client::DEFAULT_CONTROL.parse().expect("default control address")),
            ),
        };
        let token = self.token.clone().or(settings.token).or_else(|| std::env::var("EIGHTFOLD_CONTROL_TOKEN").ok());
        Ok((target, token))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    match cli.command.unwrap_or(Command::Serve { config: None, listen: Vec::new(), control: None }) {
        Command::Check { config } => match Config::load(&config) {
            Ok(loaded) => {
                if let Some(path) = &loaded.server.state_file {
                    let user = loaded.server.user.as_deref();
                    if let Err(reason) = eightfold::control::privileges::state_file_writable(path, user) {
                        eprintln!(
                            "{}: [server]: key `state_file`: {} cannot be kept: {reason}",
                            config.display(),
                            path.display()
                        );
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
                let records: usize = loaded.zones.iter().map(|z| z.rrset_count()).sum();
                let mut keys = match loaded.tsig_keys.len() {
                    0 => String::new(),
                    n => format!(", {n} TSIG keys"),
                };
                match loaded.zones.iter().filter(|z| z.dnssec.is_some()).count() {
                    0 => {}
                    1 => keys += ", 1 signed zone",
                    n => keys += &format!(", {n} signed zones"),
                }
                if let Some(cluster) = &loaded.cluster {
                    keys += &format!("; fleet {} as {}", cluster.name, cluster.instance);
                }
                print_out(&format!(
                    "{}: OK ({} zones, {} record sets, {} health checks{keys})\n",
                    config.display(),
                    loaded.zones.len(),
                    records,
                    loaded.checks.len()
                ))
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Keygen { zone, algorithm, ksk, dir } => keygen(&zone, algorithm, ksk, &dir),
        Command::Ds { keys, all } => ds(&keys, all),
        Command::Sign { config, zone, keys, validity, dnskey_ttl } => sign(&config, &zone, &keys, validity, dnskey_ttl),
        Command::Push { config, endpoints, cluster, wait, timeout } => {
            push(&config, endpoints, cluster, wait.then(|| std::time::Duration::from_secs(timeout)))
        }
        Command::Serve { config, listen, control } => {
            let signals = match eightfold::control::catch_reload_signal() {
                Ok(signals) => signals,
                Err(e) => {
                    eprintln!("eightfold: {e}");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            };
            let source = Source::new(config, listen, control);
            let config = match source.load_at_start() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match eightfold::control::run(source, config, signals) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("eightfold: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Status { name, unhealthy, target, json } => {
            let path = client::status_path(name.as_deref(), unhealthy);
            control_call(&target, "GET", &path, "", |body| {
                if json {
                    return Ok(body.to_string());
                }
                let status: Status =
                    serde_json::from_str(body).map_err(|e| format!("unexpected status format: {e}"))?;
                let colour =
                    std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
                Ok(client::render_status(&status, colour))
            })
        }
        Command::Reload { target } => control_call(&target, "POST", "/reload", "", |body| {
            let answer: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            let mut text = format!(
                "reloaded: {} zones, {} health checks in {} ms",
                answer["zones"], answer["checks"], answer["millis"]
            );
            if let Some(restart) = answer["needs_restart"].as_array().filter(|r| !r.is_empty()) {
                let names: Vec<String> = restart.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                text += &format!("\nchanged but applied only after a restart: {}", names.join(", "));
            }
            Ok(text)
        }),
        Command::Import {
            from: ImportFrom::Route53 { record_sets, health_checks, zone, ns, soa_mname, soa_rname, control },
        } => {
            let options = eightfold::import::route53::Options { zone, ns, soa_mname, soa_rname, control };
            let read = |paths: &[PathBuf]| -> Result<Vec<(String, String)>, String> {
                paths
                    .iter()
                    .map(|p| {
                        std::fs::read_to_string(p)
                            .map(|text| (p.display().to_string(), text))
                            .map_err(|e| format!("{}: {e}", p.display()))
                    })
                    .collect()
            };
            let result =
                read(&record_sets).and_then(|sets| Ok((sets, read(&health_checks)?))).and_then(|(sets, checks)| {
                    eightfold::import::route53::import(&sets, &checks, &options).map_err(|e| e.to_string())
                });
            match result {
                Ok(imported) => {
                    for note in &imported.notes {
                        eprintln!("{note}");
                    }
                    print_out(&imported.config)
                }
                Err(e) => {
                    eprintln!("eightfold: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::Override { check, state, target } => {
            let path = format!("/override/{}", percent_encode(&check));
            control_call(&target, "POST", &path, &state, |_| Ok(format!("{check}: {state}")))
        }
        Command::Generate { what: Generate::Man { dir } } => {
            use eightfold::control::manual;
            let pages = [
                ("man8/eightfold.8", manual::command_page(Cli::command())),
                ("man5/eightfold.toml.5", manual::config_page(manual::CONFIGURATION, env!("CARGO_PKG_VERSION"))),
            ];
            let written = pages.iter().try_fold(String::new(), |list, (name, page)| {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap_or(&dir))
                    .and_then(|()| std::fs::write(&path, page))
                    .map(|()| format!("{list}{}\n", path.display()))
            });
            match written {
                Ok(list) => print_out(&list),
                Err(e) => {
                    eprintln!("eightfold: cannot write the manual pages into {}: {e}", dir.display());
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Generate { what: Generate::Completions { shell } } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "eightfold", &mut script);
            print_out(&String::from_utf8_lossy(&script))
        }
    }
}

/// Writes `text` to standard output: exit 0, also when the reader has gone (`eightfold
/// status | head`: a closed pipe ends the command quietly, as it does for other Unix tools),
/// else the error, with the runtime exit code.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eightfold: cannot write to standard output: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// `--algorithm`'s values.
fn parse_algorithm(text: &str) -> Result<eightfold::dnssec::Algorithm, String> {
    use eightfold::dnssec::Algorithm;
    Algorithm::parse(text)
        .ok_or_else(|| format!("{text:?} is not an algorithm eightfold signs with: give {}", Algorithm::ACCEPTED))
}

/// `eightfold keygen`: a new key's two files, never over existing ones.
fn keygen(zone: &str, algorithm: eightfold::dnssec::Algorithm, ksk: bool, dir: &std::path::Path) -> ExitCode {
    let zone = match eightfold::wire::parse_name(zone).map(|n| [n.labels, vec![0]].concat()) {
        Ok(wire) => eightfold::wire::Name::from_wire(&wire).expect("a parsed name"),
        Err(e) => {
            eprintln!("eightfold: the zone {zone:?}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let new = match new_key(dir, || eightfold::dnssec::generate(&zone, algorithm, ksk, now)) {
        Ok(new) => new,
        Err(e) => {
            eprintln!("eightfold: no key made: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let (private, key) = key_files(dir, &new.stem);
    let written = write_new(&private, &new.private_text, 0o600).and_then(|()| {
        write_new(&key, &new.key_text, 0o644).inspect_err(|_| {
            let _ = std::fs::remove_file(&private);
        })
    });
    match written {
        Ok(()) => print_out(&format!("{}\n", new.stem)),
        Err(e) => {
            eprintln!("eightfold: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// A key from `draw` whose files are not in `dir` yet. A key whose tag a key there already
/// has (of this zone and algorithm) would take its file names, so another is drawn, as
/// dnssec-keygen does. Tags are 16 bits: a clash is rare, and sixteen in a row take a folder
/// of nearly 65,536 keys; the sixteenth is then returned, and writing it is refused.
fn new_key<E>(
    dir: &std::path::Path,
    mut draw: impl FnMut() -> Result<eightfold::dnssec::NewKey, E>,
) -> Result<eightfold::dnssec::NewKey, E> {
    for _ in 1..16 {
        let new = draw()?;
        let (private, key) = key_files(dir, &new.stem);
        if !private.exists() && !key.exists() {
            return Ok(new);
        }
    }
    draw()
}

/// The `.private` and `.key` files of the key `stem` in `dir`.
fn key_files(dir: &std::path::Path, stem: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{stem}.private")), dir.join(format!("{stem}.key")))
}

/// Writes a file that must not exist yet, with this mode (less the umask).
fn write_new(path: &std::path::Path, text: &str, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; a key file is never overwritten", path.display())
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `eightfold sign`: the signed zone on standard output, what was signed on standard error.
fn sign(config: &std::path::Path, zone: &str, keys: &[PathBuf], validity: u32, dnskey_ttl: Option<u32>) -> ExitCode {
    use std::io::Write;
    let loaded = match Config::load(config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let origin = match eightfold::config::parse_absolute(zone) {
        Ok(origin) => origin,
        Err(e) => {
            eprintln!("eightfold: --zone {zone:?}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(zone_config) = loaded.zones.iter().find(|z| z.origin == origin) else {
        let names: Vec<String> = loaded.zones.iter().map(|z| z.origin.to_string()).collect();
        eprintln!("eightfold: {} has no zone {origin}; its zones: {}", config.display(), names.join(", "));
        return ExitCode::from(EXIT_CONFIG);
    };
    let mut signing = Vec::with_capacity(keys.len());
    for given in keys {
        let shown = given.display().to_string();
        let stem = shown.strip_suffix(".key").or_else(|| shown.strip_suffix(".private")).unwrap_or(&shown);
        let read = |path: String| std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"));
        let key = read(format!("{stem}.key")).and_then(|public| {
            let private = read(format!("{stem}.private"))?;
            eightfold::dnssec::SigningKey::from_bind(&public, &private).map_err(|e| format!("{stem}: {e}"))
        });
        match key {
            Ok(key) => signing.push(key),
            Err(e) => {
                eprintln!("eightfold: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let started = std::time::Instant::now();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let options = eightfold::dnssec::SignOptions {
        // RRSIG times are seconds modulo 2^32 (RFC 4034 section 3.1.5).
        inception: (now.saturating_sub(3600)) as u32,
        expiration: (now + u64::from(validity) * 86_400) as u32,
        dnskey_ttl,
    };
    let Some(rrsets) = eightfold::zone::signed::rrsets(zone_config) else {
        eprintln!("eightfold: zone {origin} is too large to sign (over 4 GiB of data)");
        return ExitCode::from(EXIT_CONFIG);
    };
    let signed = match eightfold::dnssec::sign_zone(&origin, &rrsets, &signing, &options) {
        Ok(signed) => signed,
        Err(e) => {
            eprintln!("eightfold: zone {origin} not signed: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut written = Ok(());
    eightfold::zone::signed::write_signed(&rrsets, &signed, |line| {
        if written.is_ok() {
            written = out.write_all(line.as_bytes());
        }
    });
    if let Err(e) = written.and_then(|()| out.flush()) {
        eprintln!("eightfold: cannot write the signed zone: {e}");
        return ExitCode::from(EXIT_RUNTIME);
    }
    eprintln!(
        "signed {origin}: {} record sets, {} NSEC records, {} RRSIGs in {:.2} s",
        rrsets.len(),
        signed.added.len() - signed.first_nsec,
        signed.rrsig_count(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// `eightfold ds`: the DS line of each key, or why not.
fn ds(keys: &[PathBuf], all: bool) -> ExitCode {
    let mut lines = String::new();
    for given in keys {
        // As dnssec-dsfromkey, the stem or the .private names the .key too.
        let shown = given.display().to_string();
        let path = match shown.strip_suffix(".private") {
            Some(stem) => PathBuf::from(format!("{stem}.key")),
            None if !shown.ends_with(".key") && !given.exists() => PathBuf::from(format!("{shown}.key")),
            None => given.clone(),
        };
        let read = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        let dnskey = read.and_then(|text| {
            eightfold::dnssec::Dnskey::from_key_file(&text).map_err(|e| format!("{}: {e}", path.display()))
        });
        let dnskey = match dnskey {
            Ok(dnskey) => dnskey,
            Err(e) => {
                eprintln!("eightfold: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        if !dnskey.is_ksk() && !all {
            eprintln!(
                "eightfold: {}: a zone-signing key (flags 256, tag {}): the parent's DS names the key-signing key \
                 (flags 257); give --all to print this one's anyway",
                path.display(),
                dnskey.key_tag()
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        lines += &dnskey.ds_text();
        lines.push('\n');
    }
    print_out(&lines)
}

/// `eightfold push`: validate, store, switch, and with `wait` wait for the fleet's answers.
fn push(
    path: &std::path::Path,
    endpoints: Vec<String>,
    name: Option<String>,
    wait: Option<std::time::Duration>,
) -> ExitCode {
    use eightfold::cluster::{bundle, push, Etcd, EtcdOptions};
    let (bundle, config) = match bundle::Bundle::collect(path) {
        Ok(collected) => collected,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("eightfold: nothing pushed");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let options = match (&config.cluster, endpoints.is_empty()) {
        (Some(cluster), true) => push::etcd_options(cluster),
        (Some(cluster), false) => EtcdOptions { endpoints, ..push::etcd_options(cluster) },
        (None, false) => EtcdOptions::new(endpoints),
        (None, true) => {
            eprintln!(
                "eightfold: {} has no [cluster] saying where the fleet's etcd is: add one, or give --endpoints (and \
                 --cluster)",
                path.display()
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let name = name.or_else(|| config.cluster.as_ref().map(|c| c.name.clone())).unwrap_or_else(|| "default".into());
    if name.is_empty() || name.contains('/') {
        eprintln!("eightfold: --cluster {name:?}: a fleet's name is not empty and holds no `/`");
        return ExitCode::from(EXIT_CONFIG);
    }
    let etcd = match Etcd::new(options) {
        Ok(etcd) => etcd,
        Err(e) => {
            eprintln!("eightfold: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let stored = match bundle::store(&etcd, &name, &bundle, None, &push::pushed_by()) {
        Ok(stored) => stored,
        Err(e @ bundle::PushError::Store(_)) => {
            eprintln!("eightfold: nothing pushed: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
        Err(e) => {
            eprintln!("eightfold: nothing pushed: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let current = &stored.current;
    let files = bundle.files.len();
    let text = if stored.unchanged {
        format!(
            "{} is already fleet {name:?}'s configuration (pushed by {}); nothing written\n",
            current.hash, current.pushed_by
        )
    } else {
        format!(
            "pushed {} to fleet {name:?}: {} bytes in {} chunks, the config and {files} files\n",
            current.hash, current.size, current.chunks
        )
    };
    let printed = print_out(&text);
    let Some(timeout) = wait else { return printed };
    let waited = push::wait(&etcd, &name, &current.hash, stored.revision, timeout, |instance, answer| {
        let line = match answer {
            push::Answer::Serves => format!("{instance} serves {}\n", current.hash),
            push::Answer::Refused(error) => format!("{instance} refused {}: {error}\n", current.hash),
            push::Answer::Left => format!("{instance} left the fleet before answering\n"),
        };
        print_out(&line);
    });
    match waited {
        Err(e) => {
            eprintln!("eightfold: stopped waiting: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Ok(waited) if !waited.any_member => {
            print_out(&format!("no instance of fleet {name:?} is live: nothing to wait for\n"))
        }
        Ok(waited) if waited.refused() => {
            if !waited.pending.is_empty() {
                eprintln!("eightfold: no answer within {} s from: {}", timeout.as_secs(), waited.pending.join(", "));
            }
            ExitCode::from(EXIT_CONFIG)
        }
        Ok(waited) if !waited.pending.is_empty() => {
            eprintln!("eightfold: no answer within {} s from: {}", timeout.as_secs(), waited.pending.join(", "));
            ExitCode::from(EXIT_RUNTIME)
        }
        Ok(_) => ExitCode::SUCCESS,
    }
}

/// Sends one control request; prints the rendered answer (exit 0), or why the server refused
/// it (exit 1), or why the control endpoint was not reached (exit 1 for an unreadable
/// `--config`, else 3).
fn control_call(
    target: &ControlTarget,
    method: &str,
    path: &str,
    body: &str,
    render: impl Fn(&str) -> Result<String, String>,
) -> ExitCode {
    let (target, token) = match target.resolve() {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("eightfold: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match client::request(&target, token.as_deref(), method, path, body) {
        Ok((200, answer)) => match render(&answer) {
            Ok(text) => print_out(&format!("{}\n", text.trim_end())),
            Err(e) => {
                eprintln!("eightfold: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Ok((code, answer)) => {
            let shown = serde_json::from_str::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| {
                    v["errors"].as_array().map(|e| e.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("\n"))
                })
                .unwrap_or(answer);
            if path == "/reload" && code == 422 {
                eprintln!(
                    "eightfold: the reload failed and the previous configuration keeps serving; fix these and reload \
                     again:\n{}",
                    shown.trim_end()
                );
                return ExitCode::from(EXIT_CONFIG);
            }
            let what = if code >= 500 { "reported an error" } else { "refused" };
            eprintln!("eightfold: the server {what} ({code}):\n{}", shown.trim_end());
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("eightfold: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose files are already there (either of them) is drawn again; after sixteen
    /// such draws the last is returned, for writing it to be refused.
    #[test]
    fn a_key_tag_already_in_the_folder_is_drawn_again() {
        use eightfold::dnssec::{generate, Algorithm};
        let dir = tempfile::tempdir().unwrap();
        let zone = eightfold::wire::Name::from_wire(b"\x07example\x03com\x00").unwrap();
        let make = || generate(&zone, Algorithm::Ed25519, true, 0).unwrap();
        // Stems set by hand: three drawn keys would share a tag once in 20,000 runs.
        let [old, other, fresh] = ["Kexample.com.+015+00001", "Kexample.com.+015+00002", "Kexample.com.+015+00003"];
        let (private, _) = key_files(dir.path(), old);
        let (_, key) = key_files(dir.path(), other);
        std::fs::write(private, "").unwrap();
        std::fs::write(key, "").unwrap();
        let mut queue = vec![fresh, other, old];
        let drawn = std::cell::Cell::new(0);
        let mut draw = || {
            drawn.set(drawn.get() + 1);
            let mut key = make();
            key.stem = queue.pop().unwrap_or(old).to_string();
            Ok::<_, ()>(key)
        };
        assert_eq!(new_key(dir.path(), &mut draw).unwrap().stem, fresh);
        assert_eq!(drawn.replace(0), 3);
        assert_eq!(new_key(dir.path(), &mut draw).unwrap().stem, old, "a folder of every tag");
        assert_eq!(drawn.get(), 16);
        assert!(matches!(
            new_key(dir.path(), || Err::<eightfold::dnssec::NewKey, _>("no randomness")),
            Err("no randomness")
        ));
    }

    /// `keygen` cannot be made to draw a key tag twice, so the refusal its files rely on is
    /// tested here: a file already there is left as it was.
    #[test]
    fn a_key_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Kexample.com.+013+00001.private");
        write_new(&path, "first", 0o600).unwrap();
        let e = write_new(&path, "second", 0o600).unwrap_err();
        assert!(e.ends_with("exists; a key file is never overwritten"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "no one but the owner reads it");
    }
}
