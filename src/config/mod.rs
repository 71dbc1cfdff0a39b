//! Configuration: the TOML file parsed into a validated runtime [`Config`].
//!
//! What flows where:
//!
//! ```text
//!  config text --toml/serde--> file::File      the file as written, every table deny_unknown_fields
//!                                   |
//!                                   v
//!  zone files --text------------> validate     per table: server, health_check, zone, record,
//!  (bind_syntax, $INCLUDE)          |          tsig_key, then the rules across them (placement,
//!  secret files                     |          names and types); every limit read from
//!                                   |          crate::limits
//!                                   v
//!                               runtime::Config   plain data with defaults filled in
//! ```
//!
//! This is the only place limits are checked. Every rejection is a [`Problem`] naming the
//! file, the line where TOML tells it, the key and the reason; all problems are reported at once.
//! The entry points are [`Config::load`], [`Config::parse`] and [`Config::demo`].

mod bind_syntax;
mod error;
mod file;
mod read;
mod records;
mod runtime;
mod text;
mod validate;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, Problem};
pub use records::{FileRecords, FileSet};
pub use runtime::{
    AnswerSettings, CheckConfig, CheckKind, CheckObservers, ClusterConfig, Config, DnssecConfig, FailoverRole,
    MemberConfig, Routing, RrlConfig, RrsetConfig, ServerConfig, TsigKeyConfig, WhenAllUnhealthy, ZoneConfig,
};
pub use text::{parse_absolute, rtype_name, ReadFile};
pub use validate::host_name;

/// What the control commands read from a config to reach the running server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlSettings {
    /// `control`: the HTTP endpoint's address.
    pub address: Option<SocketAddr>,
    /// `control_token`.
    pub token: Option<String>,
    /// The control socket: `control_socket`, else the default beside `state_file`.
    pub socket: Option<PathBuf>,
}

/// The demo configuration served when `eightfold` runs without arguments.
pub const DEMO_CONFIG: &str = include_str!("../../examples/demo.toml");
/// The zone file the demo configuration names.
pub const DEMO_ZONE: &str = include_str!("../../examples/example.com.zone");

impl Config {
    /// Reads and validates a config file and the zone files it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| single(path, None, "", None, format!("cannot read config: {e}")))?;
        Config::parse(&text, path, &|p| std::fs::read_to_string(p))
    }

    /// `[server]`'s control settings from a config file, read leniently for the control
    /// commands: nothing else in the file is read or checked, so a file with problems (which
    /// a reload would report) still tells where the running server listens.
    pub fn control_settings(path: &Path) -> Result<ControlSettings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read config: {e}", path.display()))?;
        let texts = read::control_settings(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let address = match texts.control {
            None => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                format!("{}: [server]: key `control`: {text:?} is not an address:port", path.display())
            })?),
        };
        // As the server resolves them: relative to the config's folder, the socket by default
        // beside the state file.
        let folder = path.parent().unwrap_or(Path::new(""));
        let socket = match (texts.control_socket.as_deref(), texts.state_file.as_deref()) {
            (Some(""), _) | (None, None) => None,
            (Some(socket), _) => Some(folder.join(socket)),
            (None, Some(state_file)) => Some(ServerConfig::default_control_socket(&folder.join(state_file))),
        };
        Ok(ControlSettings { address, token: texts.control_token, socket })
    }

    /// The built-in demo (the files in `examples/`, embedded in the binary).
    pub fn demo() -> Config {
        let read = |p: &Path| match p.file_name().and_then(|n| n.to_str()) {
            Some("example.com.zone") => Ok(DEMO_ZONE.to_string()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "not part of the built-in demo")),
        };
        match Config::parse(DEMO_CONFIG, Path::new("examples/demo.toml"), &read) {
            Ok(config) => config,
            // The demo is tested; reaching this is a build defect.
            Err(e) => panic!("built-in demo config is invalid: {e}"),
        }
    }

    /// Validates config text; `read` supplies zone files (paths relative to `source`'s folder).
    pub fn parse(text: &str, source: &Path, read: &ReadFile<'_>) -> Result<Config, ConfigError> {
        let (parsed, problems) = read::read(text, source).map_err(|problems| ConfigError { problems })?;
        validate::config(parsed, problems, text, source, read, validate::Part::Whole)
    }

    /// Reads a config file's `[server]` and `[cluster]` only: what an instance of a fleet
    /// keeps when it serves a pushed configuration. Its zones, records, health checks and
    /// TSIG keys are neither read nor checked (the pushed configuration replaces them), but
    /// the file must still be well-formed TOML with no unknown keys.
    pub fn load_local(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| single(path, None, "", None, format!("cannot read config: {e}")))?;
        let (parsed, problems) = read::read(&text, path).map_err(|problems| ConfigError { problems })?;
        let read = |p: &Path| std::fs::read_to_string(p);
        validate::config(parsed, problems, &text, path, &read, validate::Part::Local)
    }

    /// Validates the shared part of config text (zones, records, health checks, TSIG keys)
    /// and takes `[server]` and `[cluster]` from `local` instead of the text's own, which are
    /// not checked: a pushed configuration as an instance serves it. `read` supplies the
    /// files, as for [`Config::parse`].
    pub fn parse_shared(text: &str, source: &Path, read: &ReadFile<'_>, local: &Config) -> Result<Config, ConfigError> {
        let (parsed, problems) = read::read(text, source).map_err(|problems| ConfigError { problems })?;
        validate::config(parsed, problems, text, source, read, validate::Part::Shared { local })
    }
}

/// A config error of one problem.
fn single(file: &Path, line: Option<usize>, context: &str, key: Option<&str>, reason: String) -> ConfigError {
    ConfigError {
        problems: vec![Problem {
            file: file.to_path_buf(),
            line,
            context: context.to_string(),
            key: key.map(str::to_string),
            reason,
        }],
    }
}

#[cfg(test)]
mod tests;
