//! Configuration: the TOML file ([`file`]) parsed into a validated runtime [`Config`].
//!
//! This is the only place limits are checked. Every rejection is a [`Problem`] naming the
//! file, the line where TOML tells it, the key and the reason; all problems are reported at once.

mod bind_syntax;
mod error;
mod file;
mod text;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, Problem};
pub use text::{parse_absolute, rtype_name, ReadFile};

use crate::limits;
use crate::wire::{rtype, Name};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";
/// The demo configuration served when `eightfold` runs without arguments.
pub const DEMO_CONFIG: &str = include_str!("../../examples/demo.toml");
/// The zone file the demo configuration names.
pub const DEMO_ZONE: &str = include_str!("../../examples/example.com.zone");

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub source: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// Zones, in file order.
    pub zones: Vec<ZoneConfig>,
    /// Health checks; records refer to them by index.
    pub checks: Vec<CheckConfig>,
}

/// `[server]`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Each address gets UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address; 0 = one per available core.
    pub workers: usize,
    /// Pin worker i to core i.
    pub pin_workers: bool,
    /// Most records in one multivalue answer.
    pub max_answers: usize,
    /// UDP payload size we advertise and honour with EDNS.
    pub edns_udp_size: u16,
    /// Leave the zone's NS records out of the authority section of positive answers.
    pub minimal_responses: bool,
    /// Close a TCP connection idle this long.
    pub tcp_idle_timeout: Duration,
    /// Most TCP connections open at once.
    pub tcp_max_connections: usize,
    /// Where health states are kept across restarts (relative paths: to the config's folder).
    pub state_file: Option<PathBuf>,
    /// State file entries older than this are ignored at start.
    pub state_max_age: Duration,
    /// The HTTP control endpoint (metrics, status, reload, overrides); off when `None`.
    pub control: Option<SocketAddr>,
    /// Bearer token for the control endpoint's state-changing calls.
    pub control_token: Option<String>,
    /// Log every query (target `eightfold::query`).
    pub query_log: bool,
    /// Close a TCP connection whose partly received message is not complete within this.
    pub tcp_message_timeout: Duration,
    /// Response rate limiting; `None` when off.
    pub rrl: Option<RrlConfig>,
    /// Switch to this user (and group) after binding, when started as root.
    pub user: Option<String>,
    /// The group for `user` (default: the user's own group).
    pub group: Option<String>,
    /// Answer for `id.server.` and `hostname.bind.` (CH TXT); those are REFUSED when `None`.
    pub identity: Option<String>,
    /// Answer for `version.bind.` and `version.server.` (CH TXT); REFUSED when `None`.
    pub version: Option<String>,
    /// Name Server Identifier (RFC 5001) sent to queries that ask for it; off when empty.
    pub nsid: Vec<u8>,
    /// Answers each UDP worker keeps for reuse (a power of two); 0 turns the cache off.
    pub answer_cache: usize,
}

/// Response rate limiting, per client prefix, as in Knot and NSD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrlConfig {
    /// Responses per second allowed to one prefix.
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated instead of dropped (0 = drop all).
    pub slip: u32,
    /// IPv4 prefix length clients are grouped by.
    pub ipv4_prefix: u8,
    /// IPv6 prefix length clients are grouped by.
    pub ipv6_prefix: u8,
    /// Buckets in the rate table (a power of two).
    pub table_size: usize,
}

/// The `[server]` settings the answer path reads; they travel with the zone data so a reload
/// swaps both at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerSettings {
    /// Most members in a multivalue answer.
    pub max_answers: usize,
    /// Our EDNS UDP payload size.
    pub edns_udp_size: u16,
    /// Leave NS out of the authority section of positive answers.
    pub minimal_responses: bool,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            max_answers: limits::MAX_ANSWERS.default,
            edns_udp_size: limits::EDNS_UDP_SIZE.default,
            minimal_responses: false,
        }
    }
}

impl From<&ServerConfig> for AnswerSettings {
    fn from(server: &ServerConfig) -> Self {
        AnswerSettings {
            max_answers: server.max_answers,
            edns_udp_size: server.edns_udp_size,
            minimal_responses: server.minimal_responses,
        }
    }
}

/// One zone and all its record sets.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    /// The apex.
    pub origin: Name,
    /// Record sets, one per owner+type, SOA and apex NS included.
    pub rrsets: Vec<RrsetConfig>,
}

/// Every record under one owner name and type, with its routing policy.
#[derive(Debug, Clone)]
pub struct RrsetConfig {
    /// Owner.
    pub owner: Name,
    /// Record type.
    pub rtype: u16,
    /// The routing policy the members share.
    pub routing: Routing,
    /// Members: one for simple, one per set id otherwise.
    pub members: Vec<MemberConfig>,
    /// What to answer when every member is unhealthy.
    pub when_all_unhealthy: WhenAllUnhealthy,
    /// RDATA of the fallback answer (`WhenAllUnhealthy::Fallback`).
    pub fallback: Vec<Vec<u8>>,
    /// The fallback values in presentation format.
    pub fallback_values: Vec<String>,
}

impl RrsetConfig {
    /// A simple record set with one member.
    pub fn simple(owner: Name, rtype: u16, member: MemberConfig) -> Self {
        RrsetConfig {
            owner,
            rtype,
            routing: Routing::Simple,
            members: vec![member],
            when_all_unhealthy: WhenAllUnhealthy::AnswerAll,
            fallback: Vec::new(),
            fallback_values: Vec::new(),
        }
    }
}

impl MemberConfig {
    /// The one member of a simple record set, values to be added.
    pub fn simple(ttl: u32) -> Self {
        MemberConfig {
            set_id: None,
            ttl,
            check: None,
            weight: 0,
            failover: None,
            rdata: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// What a record set answers when no member is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenAllUnhealthy {
    /// Route 53: answer as if all were healthy (fail-open).
    AnswerAll,
    /// NOERROR with no records (and the SOA).
    NoData,
    /// A fixed answer (`fallback_values`).
    Fallback,
}

impl WhenAllUnhealthy {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            WhenAllUnhealthy::AnswerAll => "answer_all",
            WhenAllUnhealthy::NoData => "nodata",
            WhenAllUnhealthy::Fallback => "fallback",
        }
    }
}

/// Route 53 routing policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// All values, random order, no health.
    Simple,
    /// Up to `max_answers` healthy members at random.
    Multivalue,
    /// Primary while healthy, else secondary.
    Failover,
    /// One member, chosen by weight among the healthy.
    Weighted,
}

impl Routing {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Routing::Simple => "simple",
            Routing::Multivalue => "multivalue",
            Routing::Failover => "failover",
            Routing::Weighted => "weighted",
        }
    }
}

/// PRIMARY or SECONDARY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverRole {
    /// Answered while healthy.
    Primary,
    /// Answered when the primary is not.
    Secondary,
}

/// One record of a policy (a Route 53 record set with a set id), or a whole simple set.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// The set id (none for simple).
    pub set_id: Option<String>,
    /// TTL.
    pub ttl: u32,
    /// Index into [`Config::checks`].
    pub check: Option<usize>,
    /// Weight, for weighted routing.
    pub weight: u8,
    /// Role, for failover routing.
    pub failover: Option<FailoverRole>,
    /// RDATA of each value, wire form.
    pub rdata: Vec<Vec<u8>>,
    /// Each value in presentation format.
    pub values: Vec<String>,
}

/// Health check types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Connect only.
    Tcp,
    /// GET, 2xx/3xx.
    Http,
    /// GET over TLS.
    Https,
    /// HTTP plus a body match.
    HttpStrMatch,
    /// HTTPS plus a body match.
    HttpsStrMatch,
    /// Count of healthy children.
    Calculated,
}

impl CheckKind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "TCP" => CheckKind::Tcp,
            "HTTP" => CheckKind::Http,
            "HTTPS" => CheckKind::Https,
            "HTTP_STR_MATCH" => CheckKind::HttpStrMatch,
            "HTTPS_STR_MATCH" => CheckKind::HttpsStrMatch,
            "CALCULATED" => CheckKind::Calculated,
            _ => return None,
        })
    }

    /// The Route 53 name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP",
            CheckKind::Http => "HTTP",
            CheckKind::Https => "HTTPS",
            CheckKind::HttpStrMatch => "HTTP_STR_MATCH",
            CheckKind::HttpsStrMatch => "HTTPS_STR_MATCH",
            CheckKind::Calculated => "CALCULATED",
        }
    }

    /// Whether it speaks HTTP.
    pub fn is_http(self) -> bool {
        !matches!(self, CheckKind::Tcp | CheckKind::Calculated)
    }

    /// Whether it uses TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, CheckKind::Https | CheckKind::HttpsStrMatch)
    }

    /// Whether it matches a string in the body.
    pub fn is_str_match(self) -> bool {
        matches!(self, CheckKind::HttpStrMatch | CheckKind::HttpsStrMatch)
    }
}

/// A validated health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// Unique id.
    pub id: String,
    /// Type.
    pub kind: CheckKind,
    /// Endpoint address (endpoint checks; absent when only `fqdn` names it).
    pub ip: Option<IpAddr>,
    /// Endpoint port (endpoint checks).
    pub port: u16,
    /// Path with its leading `/` (HTTP kinds).
    pub resource_path: String,
    /// Host header and SNI name.
    pub fqdn: Option<String>,
    /// Body match (string-match kinds).
    pub search_string: Option<String>,
    /// Time between probes.
    pub request_interval: Duration,
    /// Consecutive results needed to change state, both ways.
    pub failure_threshold: u8,
    /// Flip the result.
    pub inverted: bool,
    /// Never probe; always healthy (unhealthy if inverted).
    pub disabled: bool,
    /// Send `fqdn` as SNI.
    pub enable_sni: bool,
    /// Children (calculated), as indices into [`Config::checks`].
    pub children: Vec<usize>,
    /// Healthy children needed (calculated).
    pub health_threshold: u16,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed, after connecting, for the TLS handshake and the status line.
    pub response_timeout: Duration,
    /// Time allowed, after the status line, for the body (string match).
    pub body_timeout: Duration,
    /// Validate the server certificate (HTTPS kinds; Route 53 does not).
    pub tls_verify: bool,
    /// PEM certificates trusted when validating, instead of the built-in web roots.
    pub tls_ca: Option<Vec<u8>>,
}

impl CheckConfig {
    /// A check of `kind` with Route 53's defaults and no endpoint (tests, benches, import).
    pub fn new(id: &str, kind: CheckKind) -> Self {
        let tls = kind.is_tls();
        CheckConfig {
            id: id.to_string(),
            kind,
            ip: None,
            port: if tls { limits::HTTPS_PORT } else { limits::HTTP_PORT },
            resource_path: "/".into(),
            fqdn: None,
            search_string: None,
            request_interval: Duration::from_secs(limits::REQUEST_INTERVAL.default),
            failure_threshold: limits::FAILURE_THRESHOLD.default,
            inverted: false,
            disabled: false,
            enable_sni: tls,
            children: Vec::new(),
            health_threshold: limits::HEALTH_THRESHOLD.default,
            connect_timeout: connect_timeout(kind),
            response_timeout: Duration::from_secs_f64(limits::RESPONSE_TIMEOUT.default),
            body_timeout: Duration::from_secs_f64(limits::BODY_TIMEOUT.default),
            tls_verify: false,
            tls_ca: None,
        }
    }
}

/// The default `connect_timeout` of a check of `kind` (Route 53's: TCP's or HTTP's).
fn connect_timeout(kind: CheckKind) -> Duration {
    let secs = if kind == CheckKind::Tcp { limits::TCP_CONNECT_TIMEOUT } else { limits::HTTP_CONNECT_TIMEOUT };
    Duration::from_secs_f64(secs)
}

/// Zone indices by origin in wire form, while a config is validated.
type Origins = FxHashMap<Box<[u8]>, usize>;

/// The index of the zone with the longest origin that the name `wire` ends with, trying its
/// suffixes from offset `at` (a label's start) on.
fn zone_containing(origins: &Origins, wire: &[u8], mut at: usize) -> Option<usize> {
    while at < wire.len() {
        if let Some(&zi) = origins.get(&wire[at..]) {
            return Some(zi);
        }
        at += 1 + wire[at] as usize;
    }
    None
}

impl Config {
    /// Drops the simple record sets (zone-file data) once the zone data has been compiled:
    /// what the control side keeps needs only the record sets with a routing policy.
    pub fn without_simple_records(mut self) -> Config {
        for zone in &mut self.zones {
            zone.rrsets.retain(|set| set.routing != Routing::Simple);
            zone.rrsets.shrink_to_fit();
        }
        self
    }

    /// Reads and validates a config file and the zone files it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| single(path, None, "", None, format!("cannot read config: {e}")))?;
        Config::parse(&text, path, &|p| std::fs::read_to_string(p))
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
    pub fn parse(text: &str, source: &Path, read: &ReadFile) -> Result<Config, ConfigError> {
        let parsed: file::File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            single(source, line, "", None, e.message().trim().to_string())
        })?;
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let mut v = Validator { source, line_starts, problems: Vec::new() };
        let server = v.server(parsed.server.as_ref());
        let checks = v.checks(&parsed.health_check);
        let check_ids: HashMap<&str, usize> = checks.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let (mut zones, origins) = v.zones(&parsed.zone, read);
        v.records(&parsed.record, &mut zones, &origins, &check_ids);
        let zones: Vec<ZoneConfig> = zones.into_iter().map(|z| v.finish_zone(z)).collect();
        if v.problems.is_empty() {
            Ok(Config { source: source.to_path_buf(), server, zones, checks })
        } else {
            Err(ConfigError { problems: v.problems })
        }
    }
}

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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A zone while records are still being added.
struct ZoneBuild {
    origin: Name,
    line: Option<usize>,
    /// The zone file could not be read; its problem is reported already.
    file_failed: bool,
    /// Record sets in the order they were first defined.
    rrsets: Vec<RrsetBuild>,
    /// Positions in `rrsets`, hashed by (owner, type), so lookups clone nothing.
    index: hashbrown::HashTable<usize>,
}

struct RrsetBuild {
    set: RrsetConfig,
    /// Where it was defined, for messages.
    origin: Arc<str>,
    /// Whether a member said `when_all_unhealthy`.
    explicit_when: bool,
}

struct Validator<'a> {
    source: &'a Path,
    /// Byte offset where each line of the file starts, for line numbers in O(log n).
    line_starts: Vec<usize>,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// A path from the config, relative to the config file's folder.
    fn relative(&self, path: &str) -> PathBuf {
        self.source.parent().unwrap_or(Path::new("")).join(path)
    }

    /// A timeout in seconds (fractions allowed), within `bounds`.
    fn timeout(
        &mut self,
        value: Option<f64>,
        default: Duration,
        bounds: limits::Bounds<f64>,
        span: Option<Range<usize>>,
        ctx: &str,
        key: &str,
    ) -> Duration {
        match value {
            None => default,
            Some(secs) if bounds.contains(secs) => Duration::from_secs_f64(secs),
            Some(secs) => {
                let (min, max) = (bounds.min, bounds.max);
                self.problem(span, ctx, Some(key), format!("{secs} is outside ({min}, {max}] seconds"));
                default
            }
        }
    }

    fn problem(&mut self, span: Option<Range<usize>>, context: &str, key: Option<&str>, reason: impl Into<String>) {
        self.problems.push(Problem {
            file: self.source.to_path_buf(),
            line: span.map(|s| self.line(s.start)),
            context: context.to_string(),
            key: key.map(str::to_string),
            reason: reason.into(),
        });
    }

    fn server(&mut self, table: Option<&toml::Spanned<file::ServerTable>>) -> ServerConfig {
        let default = file::ServerTable::default();
        let (t, span) = match table {
            Some(t) => (t.get_ref(), Some(t.span())),
            None => (&default, None),
        };
        let ctx = "[server]";
        let mut listen = Vec::new();
        for text in t.listen.clone().unwrap_or_else(|| vec![DEFAULT_LISTEN.to_string()]) {
            match text.parse::<SocketAddr>() {
                Ok(addr) => listen.push(addr),
                Err(_) => self.problem(
                    span.clone(),
                    ctx,
                    Some("listen"),
                    format!("{text:?} is not an address:port (IPv6 as \"[::1]:5353\")"),
                ),
            }
        }
        if listen.is_empty() && t.listen.is_some() {
            self.problem(span.clone(), ctx, Some("listen"), "needs at least one address");
        }
        let workers = t.workers.unwrap_or(limits::WORKERS.default);
        if !limits::WORKERS.contains(workers) {
            let max = limits::WORKERS.max;
            self.problem(span.clone(), ctx, Some("workers"), format!("{workers} is more than {max}"));
        }
        let max_answers = t.max_answers.unwrap_or(limits::MAX_ANSWERS.default);
        if !limits::MAX_ANSWERS.contains(max_answers) {
            let limits::Limit { min, max, .. } = limits::MAX_ANSWERS;
            self.problem(span.clone(), ctx, Some("max_answers"), format!("{max_answers} is outside {min}..={max}"));
        }
        let edns_udp_size = t.edns_udp_size.unwrap_or(limits::EDNS_UDP_SIZE.default);
        if !limits::EDNS_UDP_SIZE.contains(edns_udp_size) {
            let limits::Limit { min, max, .. } = limits::EDNS_UDP_SIZE;
            self.problem(span.clone(), ctx, Some("edns_udp_size"), format!("{edns_udp_size} is outside {min}..={max}"));
        }
        let answer_cache = t.answer_cache.unwrap_or(limits::ANSWER_CACHE.default);
        if answer_cache != 0 && (!answer_cache.is_power_of_two() || !limits::ANSWER_CACHE.contains(answer_cache)) {
            self.problem(
                span.clone(),
                ctx,
                Some("answer_cache"),
                format!("{answer_cache} is not 0 or a power of two up to {}", limits::ANSWER_CACHE.max),
            );
        }
        let idle = t.tcp_idle_timeout.unwrap_or(limits::TCP_IDLE_TIMEOUT.default);
        if !limits::TCP_IDLE_TIMEOUT.contains(idle) {
            let limits::Limit { min, max, .. } = limits::TCP_IDLE_TIMEOUT;
            self.problem(
                span.clone(),
                ctx,
                Some("tcp_idle_timeout"),
                format!("{idle} is outside {min}..={max} seconds"),
            );
        }
        let max_conn = t.tcp_max_connections.unwrap_or(limits::TCP_MAX_CONNECTIONS.default);
        if !limits::TCP_MAX_CONNECTIONS.contains(max_conn) {
            let limits::Limit { min, max, .. } = limits::TCP_MAX_CONNECTIONS;
            self.problem(
                span.clone(),
                ctx,
                Some("tcp_max_connections"),
                format!("{max_conn} is outside {min}..={max}"),
            );
        }
        let state_file = t.state_file.as_ref().map(|f| self.relative(f));
        let control = match &t.control {
            None => None,
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.problem(span.clone(), ctx, Some("control"), format!("{text:?} is not an address:port"));
                    None
                }
            },
        };
        if let Some(token) = &t.control_token {
            if !limits::CONTROL_TOKEN_LEN.contains(token.len())
                || token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                let min = limits::CONTROL_TOKEN_LEN.min;
                self.problem(
                    span.clone(),
                    ctx,
                    Some("control_token"),
                    format!("must be at least {min} characters without spaces"),
                );
            }
        }
        if control.is_some_and(|a| !a.ip().is_loopback()) && t.control_token.is_none() {
            self.problem(
                span.clone(),
                ctx,
                Some("control"),
                "a control endpoint off loopback needs `control_token` (it can reload and override checks)",
            );
        }
        let state_max_age = t.state_max_age.unwrap_or(limits::STATE_MAX_AGE.default);
        let tcp_message_timeout = self.timeout(
            t.tcp_message_timeout,
            Duration::from_secs_f64(limits::TCP_MESSAGE_TIMEOUT.default),
            limits::TCP_MESSAGE_TIMEOUT.bounds(),
            span.clone(),
            ctx,
            "tcp_message_timeout",
        );
        let rrl = match t.rrl_responses_per_second {
            None | Some(0) => {
                for (key, present) in [
                    ("rrl_slip", t.rrl_slip.is_some()),
                    ("rrl_ipv4_prefix", t.rrl_ipv4_prefix.is_some()),
                    ("rrl_ipv6_prefix", t.rrl_ipv6_prefix.is_some()),
                    ("rrl_table_size", t.rrl_table_size.is_some()),
                ] {
                    if present {
                        self.problem(span.clone(), ctx, Some(key), "has no effect without `rrl_responses_per_second`");
                    }
                }
                None
            }
            Some(rate) => {
                let config = RrlConfig {
                    responses_per_second: rate,
                    slip: t.rrl_slip.unwrap_or(limits::RRL_SLIP.default),
                    ipv4_prefix: t.rrl_ipv4_prefix.unwrap_or(limits::RRL_IPV4_PREFIX.default),
                    ipv6_prefix: t.rrl_ipv6_prefix.unwrap_or(limits::RRL_IPV6_PREFIX.default),
                    table_size: t.rrl_table_size.unwrap_or(limits::RRL_TABLE_SIZE.default),
                };
                if !limits::RRL_SLIP.contains(config.slip) {
                    let limits::Limit { min, max, .. } = limits::RRL_SLIP;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_slip"),
                        format!("{} is outside {min}..={max}", config.slip),
                    );
                }
                if !limits::RRL_IPV4_PREFIX.contains(config.ipv4_prefix) {
                    let limits::Limit { min, max, .. } = limits::RRL_IPV4_PREFIX;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_ipv4_prefix"),
                        format!("{} is outside {min}..={max}", config.ipv4_prefix),
                    );
                }
                if !limits::RRL_IPV6_PREFIX.contains(config.ipv6_prefix) {
                    let limits::Limit { min, max, .. } = limits::RRL_IPV6_PREFIX;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_ipv6_prefix"),
                        format!("{} is outside {min}..={max}", config.ipv6_prefix),
                    );
                }
                if !config.table_size.is_power_of_two() || !limits::RRL_TABLE_SIZE.contains(config.table_size) {
                    let limits::Limit { min, max, .. } = limits::RRL_TABLE_SIZE;
                    self.problem(
                        span.clone(),
                        ctx,
                        Some("rrl_table_size"),
                        format!("must be a power of two from {min} to {max}"),
                    );
                }
                Some(config)
            }
        };
        if t.group.is_some() && t.user.is_none() {
            self.problem(span.clone(), ctx, Some("group"), "only together with `user`");
        }
        for (key, text, bounds) in
            [("identity", &t.identity, limits::IDENTITY_LEN), ("version", &t.version, limits::VERSION_LEN)]
        {
            if text.as_ref().is_some_and(|text| !bounds.contains(text.len())) {
                let (min, max) = (bounds.min, bounds.max);
                self.problem(span.clone(), ctx, Some(key), format!("must be {min} to {max} bytes (one TXT string)"));
            }
        }
        let nsid = match t.nsid.as_deref().map(parse_nsid) {
            None => Vec::new(),
            Some(Ok(nsid)) => nsid,
            Some(Err(reason)) => {
                self.problem(span.clone(), ctx, Some("nsid"), reason);
                Vec::new()
            }
        };
        ServerConfig {
            identity: t.identity.clone(),
            version: t.version.clone(),
            nsid,
            tcp_message_timeout,
            rrl,
            user: t.user.clone(),
            group: t.group.clone(),
            control,
            control_token: t.control_token.clone(),
            query_log: t.query_log.unwrap_or(false),
            state_file,
            state_max_age: Duration::from_secs(state_max_age),
            listen,
            workers,
            pin_workers: t.pin_workers.unwrap_or(false),
            max_answers,
            edns_udp_size,
            minimal_responses: t.minimal_responses.unwrap_or(false),
            tcp_idle_timeout: Duration::from_secs(idle),
            tcp_max_connections: max_conn,
            answer_cache,
        }
    }

    fn checks(&mut self, tables: &[toml::Spanned<file::HealthCheckTable>]) -> Vec<CheckConfig> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, t) in tables.iter().enumerate() {
            let id = t.get_ref().id.as_str();
            if ids.insert(id, i).is_some() {
                self.problem(Some(t.span()), &format!("health_check {id:?}"), Some("id"), "defined more than once");
            }
        }
        let kinds: Vec<Option<CheckKind>> = tables.iter().map(|t| CheckKind::parse(&t.get_ref().kind)).collect();
        tables.iter().enumerate().map(|(i, t)| self.check(t, kinds[i], &ids, &kinds)).collect()
    }

    fn check(
        &mut self,
        spanned: &toml::Spanned<file::HealthCheckTable>,
        kind: Option<CheckKind>,
        ids: &HashMap<&str, usize>,
        kinds: &[Option<CheckKind>],
    ) -> CheckConfig {
        let t = spanned.get_ref();
        let span = Some(spanned.span());
        let ctx = format!("health_check {:?}", t.id);
        if !limits::CHECK_ID_LEN.contains(t.id.len()) {
            let limits::Bounds { min, max, .. } = limits::CHECK_ID_LEN;
            self.problem(span.clone(), &ctx, Some("id"), format!("must be {min} to {max} characters"));
        }
        let kind = kind.unwrap_or_else(|| {
            self.problem(
                span.clone(),
                &ctx,
                Some("type"),
                format!("{:?} is not one of TCP, HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, CALCULATED", t.kind),
            );
            CheckKind::Tcp
        });
        let forbid = |v: &mut Self, present: bool, key: &str, why: &str| {
            if present {
                v.problem(span.clone(), &ctx, Some(key), format!("not allowed {why}"));
            }
        };
        let calculated = kind == CheckKind::Calculated;
        let mut children = Vec::new();
        if calculated {
            for (key, present) in [
                ("ip", t.ip.is_some()),
                ("port", t.port.is_some()),
                ("resource_path", t.resource_path.is_some()),
                ("fqdn", t.fqdn.is_some()),
                ("search_string", t.search_string.is_some()),
                ("request_interval", t.request_interval.is_some()),
                ("failure_threshold", t.failure_threshold.is_some()),
                ("enable_sni", t.enable_sni.is_some()),
            ] {
                forbid(self, present, key, "for CALCULATED checks");
            }
            let names = t.children.clone().unwrap_or_default();
            if !limits::CHILDREN.contains(names.len()) {
                let max = limits::CHILDREN.max;
                self.problem(span.clone(), &ctx, Some("children"), format!("more than {max} children"));
            }
            for child in &names {
                match ids.get(child.as_str()) {
                    None => {
                        self.problem(span.clone(), &ctx, Some("children"), format!("no health_check with id {child:?}"))
                    }
                    Some(&i) if kinds[i] == Some(CheckKind::Calculated) => self.problem(
                        span.clone(),
                        &ctx,
                        Some("children"),
                        format!("{child:?} is CALCULATED; calculated checks cannot nest"),
                    ),
                    Some(&i) if children.contains(&i) => {
                        self.problem(span.clone(), &ctx, Some("children"), format!("{child:?} listed twice"))
                    }
                    Some(&i) => children.push(i),
                }
            }
            if t.health_threshold.is_some_and(|h| !limits::HEALTH_THRESHOLD.contains(h)) {
                let limits::Limit { min, max, .. } = limits::HEALTH_THRESHOLD;
                self.problem(span.clone(), &ctx, Some("health_threshold"), format!("must be {min} to {max}"));
            }
        } else {
            forbid(self, t.children.is_some(), "children", "except for CALCULATED checks");
            forbid(self, t.health_threshold.is_some(), "health_threshold", "except for CALCULATED checks");
            if !kind.is_http() {
                forbid(self, t.resource_path.is_some(), "resource_path", "for TCP checks");
                forbid(self, t.enable_sni.is_some(), "enable_sni", "for TCP checks");
            }
            if !kind.is_str_match() {
                forbid(self, t.search_string.is_some(), "search_string", "except for *_STR_MATCH checks");
            }
        }
        let ip = match &t.ip {
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    self.problem(span.clone(), &ctx, Some("ip"), format!("{text:?} is not an IPv4 or IPv6 address"));
                    None
                }
            },
            None => None,
        };
        if !calculated && t.ip.is_none() && t.fqdn.is_none() {
            self.problem(span.clone(), &ctx, Some("ip"), "an endpoint check needs `ip` or `fqdn`");
        }
        if let Some(fqdn) = &t.fqdn {
            if let Err(e) = text::parse_name(fqdn) {
                self.problem(span.clone(), &ctx, Some("fqdn"), e);
            }
        }
        let port = match (t.port, kind) {
            (Some(p), _) if !limits::PORT.contains(p) => {
                let limits::Bounds { min, max, .. } = limits::PORT;
                self.problem(span.clone(), &ctx, Some("port"), format!("must be {min} to {max}"));
                0
            }
            (Some(p), _) => p,
            (None, CheckKind::Http | CheckKind::HttpStrMatch) => limits::HTTP_PORT,
            (None, CheckKind::Https | CheckKind::HttpsStrMatch) => limits::HTTPS_PORT,
            (None, CheckKind::Tcp) => {
                self.problem(span.clone(), &ctx, Some("port"), "required for TCP checks");
                0
            }
            (None, CheckKind::Calculated) => 0,
        };
        let mut resource_path = t.resource_path.clone().unwrap_or_else(|| "/".into());
        if !resource_path.starts_with('/') {
            resource_path.insert(0, '/');
        }
        if !limits::RESOURCE_PATH_LEN.contains(resource_path.len())
            || resource_path.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            let max = limits::RESOURCE_PATH_LEN.max;
            self.problem(
                span.clone(),
                &ctx,
                Some("resource_path"),
                format!("must be at most {max} characters with no spaces or control characters"),
            );
        }
        if kind.is_str_match() {
            match &t.search_string {
                None => self.problem(span.clone(), &ctx, Some("search_string"), "required for *_STR_MATCH checks"),
                Some(s) if !limits::SEARCH_STRING_LEN.contains(s.len()) => {
                    let limits::Bounds { min, max, .. } = limits::SEARCH_STRING_LEN;
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("search_string"),
                        format!("must be {min} to {max} characters"),
                    )
                }
                Some(_) => {}
            }
        }
        let interval = t.request_interval.unwrap_or(limits::REQUEST_INTERVAL.default);
        if !limits::REQUEST_INTERVAL.contains(interval) {
            let limits::Limit { min, max, .. } = limits::REQUEST_INTERVAL;
            self.problem(
                span.clone(),
                &ctx,
                Some("request_interval"),
                format!("{interval} is outside {min}..={max} seconds"),
            );
        }
        let threshold = t.failure_threshold.unwrap_or(limits::FAILURE_THRESHOLD.default);
        if !limits::FAILURE_THRESHOLD.contains(threshold) {
            let limits::Limit { min, max, .. } = limits::FAILURE_THRESHOLD;
            self.problem(
                span.clone(),
                &ctx,
                Some("failure_threshold"),
                format!("{threshold} is outside {min}..={max}"),
            );
        }
        let connect_timeout = self.timeout(
            t.connect_timeout,
            connect_timeout(kind),
            limits::CONNECT_TIMEOUT,
            span.clone(),
            &ctx,
            "connect_timeout",
        );
        let response_timeout = self.timeout(
            t.response_timeout,
            Duration::from_secs_f64(limits::RESPONSE_TIMEOUT.default),
            limits::RESPONSE_TIMEOUT.bounds(),
            span.clone(),
            &ctx,
            "response_timeout",
        );
        let body_timeout = self.timeout(
            t.body_timeout,
            Duration::from_secs_f64(limits::BODY_TIMEOUT.default),
            limits::BODY_TIMEOUT.bounds(),
            span.clone(),
            &ctx,
            "body_timeout",
        );
        if !kind.is_tls() {
            forbid(self, t.tls_verify.is_some(), "tls_verify", "except for HTTPS checks");
            forbid(self, t.tls_ca_file.is_some(), "tls_ca_file", "except for HTTPS checks");
        }
        if !kind.is_http() {
            forbid(self, t.response_timeout.is_some(), "response_timeout", "except for HTTP checks");
        }
        if !kind.is_str_match() {
            forbid(self, t.body_timeout.is_some(), "body_timeout", "except for *_STR_MATCH checks");
        }
        if calculated {
            forbid(self, t.connect_timeout.is_some(), "connect_timeout", "for CALCULATED checks");
        }
        let tls_ca = match &t.tls_ca_file {
            None => None,
            Some(file) => {
                let path = self.relative(file);
                match std::fs::read(&path) {
                    Ok(pem) if pem_has_certificate(&pem) => Some(pem),
                    Ok(_) => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("tls_ca_file"),
                            format!("{} holds no PEM certificate", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("tls_ca_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
        };
        if tls_ca.is_some() && t.tls_verify == Some(false) {
            self.problem(span.clone(), &ctx, Some("tls_ca_file"), "has no effect with `tls_verify = false`");
        }
        CheckConfig {
            connect_timeout,
            response_timeout,
            body_timeout,
            tls_verify: t.tls_verify.unwrap_or(tls_ca.is_some()),
            tls_ca,
            id: t.id.clone(),
            kind,
            ip,
            port,
            resource_path,
            fqdn: t.fqdn.as_ref().map(|f| f.trim_end_matches('.').to_string()),
            search_string: t.search_string.clone(),
            request_interval: Duration::from_secs(interval),
            failure_threshold: threshold,
            inverted: t.inverted.unwrap_or(false),
            disabled: t.disabled.unwrap_or(false),
            enable_sni: t.enable_sni.unwrap_or(kind.is_tls()),
            children,
            health_threshold: t.health_threshold.unwrap_or(limits::HEALTH_THRESHOLD.default),
        }
    }

    /// The zones, and each one's index by its origin in wire form (to find a duplicate, and
    /// later each record's zone, without comparing every pair).
    fn zones(&mut self, tables: &[toml::Spanned<file::ZoneTable>], read: &ReadFile) -> (Vec<ZoneBuild>, Origins) {
        let mut zones: Vec<ZoneBuild> = Vec::new();
        let mut origins = Origins::default();
        if tables.is_empty() {
            self.problem(None, "", Some("zone"), "at least one [[zone]] is required");
        }
        for spanned in tables {
            let t = spanned.get_ref();
            let span = Some(spanned.span());
            let ctx = format!("zone {:?}", t.origin);
            let origin = match text::parse_absolute(&t.origin) {
                Ok(origin) => origin,
                Err(e) => {
                    self.problem(span, &ctx, Some("origin"), e);
                    continue;
                }
            };
            if origins.contains_key(origin.as_wire()) {
                self.problem(span, &ctx, Some("origin"), "zone defined more than once");
                continue;
            }
            let mut zone = ZoneBuild {
                file_failed: false,
                origin: origin.clone(),
                line: span.clone().map(|s| self.line(s.start)),
                rrsets: Vec::new(),
                index: hashbrown::HashTable::new(),
            };
            let ttl = t.ttl.unwrap_or(limits::ZONE_TTL.default);
            if t.file.is_some() && (t.soa.is_some() || t.ns.is_some() || t.ttl.is_some() || t.ns_ttl.is_some()) {
                self.problem(span, &ctx, Some("file"), "give either `file` or inline `soa` and `ns`, not both");
                continue;
            }
            match (&t.file, &t.soa) {
                (Some(file), _) => {
                    let path = self.source.parent().unwrap_or(Path::new("")).join(file);
                    let where_: Arc<str> = path.display().to_string().into();
                    let mut outside = Vec::new();
                    let result = text::for_each_record(&path, &origin, read, &mut |scanned| {
                        let r = match scanned {
                            text::Scanned::File { lines } => {
                                zone.rrsets.reserve(lines);
                                let rrsets = &zone.rrsets;
                                zone.index.reserve(lines, |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype));
                                return;
                            }
                            text::Scanned::Record(r) => r,
                        };
                        if !r.owner.ends_with(&origin) {
                            outside.push(format!("record \"{}\" {}", r.owner, rtype_name(r.rtype)));
                            return;
                        }
                        let (ttl, rdata) = (r.ttl, r.rdata);
                        let at = zone.position_or_insert(r.owner, r.rtype, |owner, rtype| {
                            let set = RrsetConfig::simple(owner, rtype, MemberConfig::simple(ttl));
                            RrsetBuild { set, origin: where_.clone(), explicit_when: false }
                        });
                        let member = &mut zone.rrsets[at].set.members[0];
                        // RFC 2181 section 5.2: one TTL per RRset; take the smallest.
                        member.ttl = member.ttl.min(ttl);
                        if !member.rdata.contains(&rdata) {
                            member.rdata.push(rdata);
                        }
                    });
                    for context in outside {
                        self.problems.push(Problem {
                            file: path.clone(),
                            line: None,
                            context,
                            key: None,
                            reason: format!("is outside the zone {origin}"),
                        });
                    }
                    match result {
                        Ok(()) => {}
                        Err((file, reason)) => {
                            zone.file_failed = true;
                            let (line, reason) = split_line(&reason);
                            self.problems.push(Problem { file, line, context: ctx.clone(), key: None, reason });
                        }
                    }
                }
                (None, Some(soa)) => {
                    self.inline(&mut zone, span.clone(), &ctx, "soa", rtype::SOA, std::slice::from_ref(soa), ttl);
                    match &t.ns {
                        Some(ns) if !ns.is_empty() => {
                            self.inline(&mut zone, span, &ctx, "ns", rtype::NS, ns, t.ns_ttl.unwrap_or(ttl))
                        }
                        _ => self.problem(
                            span,
                            &ctx,
                            Some("ns"),
                            "a zone without `file` needs `ns` (at least one name server)",
                        ),
                    }
                }
                (None, None) => {
                    self.problem(span, &ctx, Some("file"), "a zone needs a zone `file`, or inline `soa` and `ns`");
                    continue;
                }
            }
            origins.insert(zone.origin.as_wire().into(), zones.len());
            zones.push(zone);
        }
        (zones, origins)
    }

    #[allow(clippy::too_many_arguments)]
    fn inline(
        &mut self,
        zone: &mut ZoneBuild,
        span: Option<Range<usize>>,
        ctx: &str,
        key: &str,
        rtype: u16,
        values: &[String],
        ttl: u32,
    ) {
        let mut member = MemberConfig::simple(ttl);
        for value in values {
            match text::parse_value(&zone.origin, rtype, value, &zone.origin) {
                Ok(rdata) => {
                    member.rdata.push(rdata);
                    member.values.push(value.clone());
                }
                Err(e) => self.problem(span.clone(), ctx, Some(key), e),
            }
        }
        let set = RrsetConfig::simple(zone.origin.clone(), rtype, member);
        zone.insert(RrsetBuild { set, origin: format!("{ctx} `{key}`").into(), explicit_when: false });
    }

    fn records(
        &mut self,
        tables: &[toml::Spanned<file::RecordTable>],
        zones: &mut [ZoneBuild],
        origins: &Origins,
        checks: &HashMap<&str, usize>,
    ) {
        let mut set_ids: HashSet<(Name, u16, String)> = HashSet::new();
        for spanned in tables {
            let t = spanned.get_ref();
            let span = Some(spanned.span());
            let mut ctx = format!("record {:?} {}", t.name, t.rtype);
            if let Some(id) = &t.set_id {
                ctx.push_str(&format!(" (set_id {id:?})"));
            }
            let Some((owner, zi)) = self.record_owner(&t.name, zones, origins, span.clone(), &ctx) else { continue };
            let rtype = match text::parse_rtype(&t.rtype) {
                Ok(r) => r,
                Err(e) => {
                    self.problem(span, &ctx, Some("type"), e);
                    continue;
                }
            };
            // DS is the parent's data (RFC 4035 section 3.1.4.1): at the apex of a zone served
            // here too it belongs to the zone above, which answers DS queries for that name.
            let zi = if rtype == rtype::DS && owner == zones[zi].origin {
                let parent = 1 + owner.as_wire()[0] as usize;
                zone_containing(origins, owner.as_wire(), parent).unwrap_or(zi)
            } else {
                zi
            };
            let routing = match t.routing.as_deref().unwrap_or("simple") {
                "simple" => Routing::Simple,
                "multivalue" => Routing::Multivalue,
                "failover" => Routing::Failover,
                "weighted" => Routing::Weighted,
                other => {
                    self.problem(
                        span,
                        &ctx,
                        Some("routing"),
                        format!("{other:?} is not one of simple, multivalue, failover, weighted"),
                    );
                    continue;
                }
            };
            let before = self.problems.len();
            match rtype {
                rtype::SOA => {
                    self.problem(span.clone(), &ctx, Some("type"), "SOA comes from the zone's `soa` or zone file")
                }
                rtype::OPT | rtype::AXFR | rtype::IXFR | rtype::ANY | 250 | 253 | 254 => {
                    self.problem(span.clone(), &ctx, Some("type"), "is a meta type, not data")
                }
                _ => {}
            }
            if routing == Routing::Multivalue && matches!(rtype, rtype::CNAME | rtype::NS | rtype::DS) {
                self.problem(
                    span.clone(),
                    &ctx,
                    Some("routing"),
                    format!("multivalue is not allowed for {} records", t.rtype.to_uppercase()),
                );
            }
            let ttl = t.ttl.unwrap_or(limits::RECORD_TTL.default);
            if !limits::RECORD_TTL.contains(ttl) {
                let max = limits::RECORD_TTL.max;
                self.problem(span.clone(), &ctx, Some("ttl"), format!("{ttl} is above {max}"));
            }
            match (&t.set_id, routing) {
                (Some(_), Routing::Simple) => {
                    self.problem(span.clone(), &ctx, Some("set_id"), "simple records have no set_id")
                }
                (None, r) if r != Routing::Simple => {
                    self.problem(span.clone(), &ctx, Some("set_id"), format!("required for {} routing", r.as_str()))
                }
                (Some(id), _) if !limits::SET_ID_LEN.contains(id.len()) => {
                    let limits::Bounds { min, max, .. } = limits::SET_ID_LEN;
                    self.problem(span.clone(), &ctx, Some("set_id"), format!("must be {min} to {max} characters"))
                }
                (Some(id), _) if !set_ids.insert((owner.clone(), rtype, id.clone())) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("set_id"),
                    format!("{id:?} is already used for {owner} {}", rtype_name(rtype)),
                ),
                _ => {}
            }
            let check = match &t.health_check {
                None => None,
                Some(_) if routing == Routing::Simple => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("health_check"),
                        "simple records are not health checked; use multivalue, failover or weighted",
                    );
                    None
                }
                Some(id) => match checks.get(id.as_str()) {
                    Some(&i) => Some(i),
                    None => {
                        self.problem(
                            span.clone(),
                            &ctx,
                            Some("health_check"),
                            format!("no health_check with id {id:?}"),
                        );
                        None
                    }
                },
            };
            // The file's weight is an i64, so that a negative or too large one is rejected here.
            let weights = i64::from(limits::WEIGHT.min)..=i64::from(limits::WEIGHT.max);
            let weight = match (t.weight, routing) {
                (Some(w), Routing::Weighted) if weights.contains(&w) => w as u8,
                (Some(w), Routing::Weighted) => {
                    let (min, max) = (weights.start(), weights.end());
                    self.problem(span.clone(), &ctx, Some("weight"), format!("{w} is outside {min}..={max}"));
                    0
                }
                (None, Routing::Weighted) => {
                    self.problem(span.clone(), &ctx, Some("weight"), "required for weighted routing");
                    0
                }
                (Some(_), _) => {
                    self.problem(span.clone(), &ctx, Some("weight"), "only for weighted routing");
                    0
                }
                (None, _) => 0,
            };
            let failover = match (t.failover.as_deref(), routing) {
                (Some("PRIMARY"), Routing::Failover) => Some(FailoverRole::Primary),
                (Some("SECONDARY"), Routing::Failover) => Some(FailoverRole::Secondary),
                (Some(other), Routing::Failover) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("failover"),
                        format!("{other:?} is not PRIMARY or SECONDARY"),
                    );
                    None
                }
                (None, Routing::Failover) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("failover"),
                        "required for failover routing (PRIMARY or SECONDARY)",
                    );
                    None
                }
                (Some(_), _) => {
                    self.problem(span.clone(), &ctx, Some("failover"), "only for failover routing");
                    None
                }
                (None, _) => None,
            };
            let when_all_unhealthy = match (t.when_all_unhealthy.as_deref(), routing) {
                (None, _) => None,
                (Some(_), Routing::Simple) => {
                    self.problem(span.clone(), &ctx, Some("when_all_unhealthy"), "simple records are never unhealthy");
                    None
                }
                (Some("answer_all"), _) => Some(WhenAllUnhealthy::AnswerAll),
                (Some("nodata"), _) => Some(WhenAllUnhealthy::NoData),
                (Some("fallback"), _) => Some(WhenAllUnhealthy::Fallback),
                (Some(other), _) => {
                    self.problem(
                        span.clone(),
                        &ctx,
                        Some("when_all_unhealthy"),
                        format!("{other:?} is not one of answer_all, nodata, fallback"),
                    );
                    None
                }
            };
            let mut fallback = (Vec::new(), Vec::new());
            match (&t.fallback_values, when_all_unhealthy) {
                (None, Some(WhenAllUnhealthy::Fallback)) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("fallback_values"),
                    "required with `when_all_unhealthy = \"fallback\"`",
                ),
                (Some(_), w) if w != Some(WhenAllUnhealthy::Fallback) => self.problem(
                    span.clone(),
                    &ctx,
                    Some("fallback_values"),
                    "only with `when_all_unhealthy = \"fallback\"`",
                ),
                (Some(values), _) => {
                    if values.is_empty() {
                        self.problem(span.clone(), &ctx, Some("fallback_values"), "needs at least one value");
                    }
                    for value in values {
                        match text::parse_value(&owner, rtype, value, &zones[zi].origin) {
                            Ok(rdata) => {
                                fallback.0.push(rdata);
                                fallback.1.push(value.clone());
                            }
                            Err(e) => self.problem(span.clone(), &ctx, Some("fallback_values"), e),
                        }
                    }
                }
                _ => {}
            }
            if t.values.is_empty() {
                self.problem(span.clone(), &ctx, Some("values"), "needs at least one value");
            }
            if rtype == rtype::CNAME && t.values.len() > 1 {
                self.problem(span.clone(), &ctx, Some("values"), "a CNAME has exactly one value");
            }
            let mut member = MemberConfig {
                set_id: t.set_id.clone(),
                ttl,
                check,
                weight,
                failover,
                rdata: Vec::new(),
                values: Vec::new(),
            };
            let zone_origin = zones[zi].origin.clone();
            for value in &t.values {
                match text::parse_value(&owner, rtype, value, &zone_origin) {
                    Ok(rdata) if member.rdata.contains(&rdata) => {
                        self.problem(span.clone(), &ctx, Some("values"), format!("{value:?} is listed twice"))
                    }
                    Ok(rdata) => {
                        member.rdata.push(rdata);
                        member.values.push(value.clone());
                    }
                    Err(e) => self.problem(span.clone(), &ctx, Some("values"), e),
                }
            }
            if self.problems.len() > before {
                continue;
            }
            let key = (owner.clone(), rtype);
            let here = format!("{}:{}", self.source.display(), span.clone().map_or(0, |s| self.line(s.start)));
            let existing = zones[zi].position(&key.0, key.1);
            match existing.map(|at| &mut zones[zi].rrsets[at]) {
                None => {
                    let set = RrsetConfig {
                        owner,
                        rtype,
                        routing,
                        members: vec![member],
                        when_all_unhealthy: when_all_unhealthy.unwrap_or(WhenAllUnhealthy::AnswerAll),
                        fallback: fallback.0,
                        fallback_values: fallback.1,
                    };
                    let explicit = when_all_unhealthy.is_some();
                    zones[zi].insert(RrsetBuild { set, origin: here.into(), explicit_when: explicit });
                }
                Some(existing) if existing.set.routing != routing || routing == Routing::Simple => {
                    let reason = if routing == Routing::Simple && existing.set.routing == Routing::Simple {
                        format!("a simple record set for {owner} {} is already defined at {}; put every value in one `values` list", t.rtype, existing.origin)
                    } else {
                        format!(
                            "{owner} {} already has {} records (at {}); routing policies cannot be mixed on one name and type",
                            t.rtype,
                            existing.set.routing.as_str(),
                            existing.origin
                        )
                    };
                    self.problem(span, &ctx, Some("routing"), reason);
                }
                Some(existing) => {
                    if let Some(when) = when_all_unhealthy {
                        if existing.explicit_when
                            && (existing.set.when_all_unhealthy != when || existing.set.fallback != fallback.0)
                        {
                            self.problem(
                                span,
                                &ctx,
                                Some("when_all_unhealthy"),
                                format!(
                                    "{owner} {} already says `when_all_unhealthy = {:?}` (at {}) with other fallback values; members must agree",
                                    t.rtype,
                                    existing.set.when_all_unhealthy.as_str(),
                                    existing.origin
                                ),
                            );
                            continue;
                        }
                        existing.set.when_all_unhealthy = when;
                        existing.set.fallback = fallback.0;
                        existing.set.fallback_values = fallback.1;
                        existing.explicit_when = true;
                    }
                    if routing == Routing::Failover
                        && existing.set.members.iter().any(|m| m.failover == member.failover)
                    {
                        self.problem(
                            span,
                            &ctx,
                            Some("failover"),
                            format!(
                                "{owner} {} already has a {:?} record",
                                t.rtype,
                                member.failover.unwrap_or(FailoverRole::Primary)
                            ),
                        );
                        continue;
                    }
                    if routing == Routing::Weighted && existing.set.members[0].ttl != member.ttl {
                        self.problem(
                            span,
                            &ctx,
                            Some("ttl"),
                            format!(
                                "weighted records of {owner} {} must share one TTL ({})",
                                t.rtype, existing.set.members[0].ttl
                            ),
                        );
                        continue;
                    }
                    existing.set.members.push(member);
                }
            }
        }
    }

    /// Resolves a record's name to (absolute name, zone index).
    fn record_owner(
        &mut self,
        text: &str,
        zones: &[ZoneBuild],
        origins: &Origins,
        span: Option<Range<usize>>,
        ctx: &str,
    ) -> Option<(Name, usize)> {
        let parsed = match text.trim() {
            "@" => text::TextName { labels: Vec::new(), absolute: false },
            other => match text::parse_name(other) {
                Ok(p) => p,
                Err(e) => {
                    self.problem(span, ctx, Some("name"), e);
                    return None;
                }
            },
        };
        let mut wire = parsed.labels.clone();
        wire.push(0);
        let as_absolute = Name::from_wire(&wire)?;
        if let Some(zi) =
            zone_containing(origins, as_absolute.as_wire(), 0).filter(|_| parsed.absolute || !parsed.labels.is_empty())
        {
            return Some((as_absolute, zi));
        }
        if parsed.absolute {
            self.problem(span, ctx, Some("name"), format!("{as_absolute} is outside every configured zone"));
            return None;
        }
        // A relative name: relative to the one zone there is.
        if zones.len() != 1 {
            self.problem(
                span,
                ctx,
                Some("name"),
                format!("{text:?} is not inside any zone; write it as an absolute name ending with a dot"),
            );
            return None;
        }
        let mut wire = parsed.labels;
        wire.extend_from_slice(zones[0].origin.as_wire());
        match Name::from_wire(&wire) {
            Some(name) => Some((name, 0)),
            None => {
                self.problem(span, ctx, Some("name"), "name too long once the zone is appended");
                None
            }
        }
    }

    /// Checks zone-wide rules (SOA, NS, CNAME exclusivity, delegations) and produces the zone.
    fn finish_zone(&mut self, zone: ZoneBuild) -> ZoneConfig {
        let ZoneBuild { origin, line, rrsets, file_failed, .. } = zone;
        let ctx = format!("zone {origin}");
        let problem = |v: &mut Self, reason: String| {
            v.problems.push(Problem { file: v.source.to_path_buf(), line, context: ctx.clone(), key: None, reason });
        };
        let find = |rtype: u16| rrsets.iter().find(|s| s.set.rtype == rtype && s.set.owner == origin);
        match find(rtype::SOA) {
            _ if file_failed => {}
            None => problem(self, "has no SOA record at its apex".into()),
            Some(soa) if soa.set.members[0].rdata.len() != 1 => problem(self, "has more than one SOA record".into()),
            Some(_) => {}
        }
        if !file_failed && find(rtype::NS).is_none() {
            problem(self, "has no NS records at its apex".into());
        }
        // CNAME owners first (usually few), then the first other set at each of them: no
        // map over every owner of a large zone.
        let mut owners: FxHashMap<&[u8], (Option<usize>, Option<usize>)> = FxHashMap::default();
        let mut cuts: FxHashMap<&[u8], ()> = FxHashMap::default();
        for (i, b) in rrsets.iter().enumerate() {
            if b.set.rtype == rtype::CNAME {
                owners.entry(b.set.owner.as_wire()).or_default().0.get_or_insert(i);
            }
            if b.set.rtype == rtype::NS && b.set.owner != origin {
                cuts.insert(b.set.owner.as_wire(), ());
            }
            if b.set.rtype == rtype::SOA && b.set.owner != origin {
                problem(self, format!("SOA at {} is not at the apex", b.set.owner));
            }
        }
        if !owners.is_empty() {
            for (i, b) in rrsets.iter().enumerate() {
                if b.set.rtype != rtype::CNAME {
                    if let Some(entry) = owners.get_mut(b.set.owner.as_wire()) {
                        entry.1.get_or_insert(i);
                    }
                }
            }
        }
        for (cname, other) in owners.values() {
            if let (Some(c), Some(o)) = (cname, other) {
                let (c, o) = (&rrsets[*c], &rrsets[*o]);
                problem(
                    self,
                    format!(
                        "CNAME at {} ({}) cannot share its name with other data ({} at {})",
                        c.set.owner,
                        c.origin,
                        rtype_name(o.set.rtype),
                        o.origin
                    ),
                );
            }
        }
        let dnames: FxHashMap<&[u8], &RrsetBuild> =
            rrsets.iter().filter(|b| b.set.rtype == rtype::DNAME).map(|b| (b.set.owner.as_wire(), b)).collect();
        for b in dnames.values() {
            let (name, at) = (&b.set.owner, &b.origin);
            if b.set.members.iter().map(|m| m.rdata.len()).sum::<usize>() > 1 {
                problem(self, format!("more than one DNAME at {name} ({at}); a name has at most one"));
            }
            if b.set.routing != Routing::Simple {
                problem(self, format!("DNAME at {name} ({at}) must use simple routing"));
            }
        }
        if !dnames.is_empty() {
            for b in &rrsets {
                let owner = b.set.owner.as_wire();
                if let Some(d) = suffixes(owner).skip(1).find_map(|suffix| dnames.get(suffix)) {
                    problem(
                        self,
                        format!(
                            "{} {} ({}) lies below the DNAME at {} ({}); no name may exist below a DNAME (RFC 6672)",
                            b.set.owner,
                            rtype_name(b.set.rtype),
                            b.origin,
                            d.set.owner,
                            d.origin
                        ),
                    );
                }
            }
        }
        if !cuts.is_empty() {
            for b in &rrsets {
                let owner = b.set.owner.as_wire();
                let at_cut = cuts.contains_key(owner);
                // The closest delegation strictly above the owner, if any.
                let cut_above = suffixes(owner).skip(1).find(|suffix| cuts.contains_key(suffix));
                let name = &b.set.owner;
                let rtype = rtype_name(b.set.rtype);
                if let Some(cut) = cut_above {
                    if !matches!(b.set.rtype, rtype::A | rtype::AAAA) {
                        let cut = Name::from_wire(cut).map(|n| n.to_string()).unwrap_or_default();
                        problem(
                            self,
                            format!(
                                "{name} {rtype} ({}) lies below the delegation at {cut}; only glue (A, AAAA) may",
                                b.origin
                            ),
                        );
                    }
                } else if at_cut && !matches!(b.set.rtype, rtype::NS | rtype::DS) {
                    problem(
                        self,
                        format!("{name} {rtype} ({}) sits at a delegation point; only NS and DS may", b.origin),
                    );
                }
                if (at_cut || cut_above.is_some()) && b.set.routing != Routing::Simple {
                    problem(
                        self,
                        format!("{name} {rtype} ({}) is delegation data and must use simple routing", b.origin),
                    );
                }
            }
        }
        ZoneConfig { origin, rrsets: rrsets.into_iter().map(|b| b.set).collect() }
    }
}

impl ZoneBuild {
    /// Adds a new record set; returns its position.
    fn insert(&mut self, set: RrsetBuild) -> usize {
        let at = self.rrsets.len();
        let hash = set_hash(&set.set.owner, set.set.rtype);
        self.rrsets.push(set);
        let rrsets = &self.rrsets;
        self.index.insert_unique(hash, at, |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype));
        at
    }

    /// Where the record set of `owner` and `rtype` is, adding the one `make` builds if it
    /// is not defined yet (one hash probe either way).
    fn position_or_insert(&mut self, owner: Name, rtype: u16, make: impl FnOnce(Name, u16) -> RrsetBuild) -> usize {
        let rrsets = &self.rrsets;
        let entry = self.index.entry(
            set_hash(&owner, rtype),
            |&i| rrsets[i].set.rtype == rtype && rrsets[i].set.owner == owner,
            |&i| set_hash(&rrsets[i].set.owner, rrsets[i].set.rtype),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(at) => *at.get(),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let at = self.rrsets.len();
                slot.insert(at);
                self.rrsets.push(make(owner, rtype));
                at
            }
        }
    }

    /// Where the record set of `owner` and `rtype` is, if defined.
    fn position(&self, owner: &Name, rtype: u16) -> Option<usize> {
        self.index
            .find(set_hash(owner, rtype), |&i| self.rrsets[i].set.rtype == rtype && self.rrsets[i].set.owner == *owner)
            .copied()
    }
}

fn set_hash(owner: &Name, rtype: u16) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((owner.as_wire(), rtype))
}

/// A wire name and each of its parents, down to the root.
fn suffixes(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = Some(0usize);
    std::iter::from_fn(move || {
        let start = at?;
        let len = *wire.get(start)? as usize;
        at = (len != 0).then_some(start + 1 + len);
        Some(&wire[start..])
    })
}

/// Whether PEM text holds at least one certificate block.
fn pem_has_certificate(pem: &[u8]) -> bool {
    pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
}

/// Splits the zone scanner's "line L:C: reason" into a line number and the rest.
fn split_line(reason: &str) -> (Option<usize>, String) {
    if let Some(rest) = reason.strip_prefix("line ") {
        if let Some((loc, why)) = rest.split_once(": ") {
            let mut parts = loc.split(':').map(|n| n.parse::<usize>().ok());
            let (line, column) = (parts.next().flatten(), parts.next().flatten());
            // The scanner reports an error found at the end of an entry at column 1 of the
            // next line.
            let line = match (line, column) {
                (Some(l), Some(1)) if l > 1 => Some(l - 1),
                (l, _) => l,
            };
            return (line, why.to_string());
        }
    }
    (None, reason.to_string())
}

/// An NSID as configured: `0x` and hex digits for raw bytes, else the text's bytes.
fn parse_nsid(text: &str) -> Result<Vec<u8>, String> {
    let bytes = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => {
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{text:?}: after 0x, an even number of hex digits"));
            }
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect()
        }
        None => text.as_bytes().to_vec(),
    };
    if !limits::NSID_LEN.contains(bytes.len()) {
        let limits::Bounds { min, max, .. } = limits::NSID_LEN;
        return Err(format!("must be {min} to {max} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
