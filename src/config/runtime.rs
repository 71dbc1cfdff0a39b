//! The validated runtime configuration: what the rest of the server reads once a file has
//! passed [`super::validate`]. Plain data with defaults filled in; nothing here reads a file
//! or checks a limit.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::records::FileRecords;
use crate::limits;
use crate::tsig::{Algorithm, Secret};
use crate::wire::Name;

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
    /// TSIG keys signed queries may use.
    pub tsig_keys: Vec<TsigKeyConfig>,
}

/// One `[[tsig_key]]`: a key signed queries may use (RFC 8945). Its `Debug` shows the
/// secret's length only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKeyConfig {
    /// The key's name, lowercase.
    pub name: Name,
    /// Its HMAC algorithm.
    pub algorithm: Algorithm,
    /// The shared secret.
    pub secret: Secret,
}

impl Config {
    /// Drops the simple record sets (zone-file data) once the zone data has been compiled:
    /// what the control side keeps needs only the record sets with a routing policy.
    pub fn without_simple_records(mut self) -> Config {
        for zone in &mut self.zones {
            zone.records = FileRecords::default();
            zone.rrsets.retain(|set| set.routing != Routing::Simple);
            zone.rrsets.shrink_to_fit();
        }
        self
    }
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
    /// The Unix socket the control endpoint also listens on (mode 0660, no token needed);
    /// off when `None`. By default beside the state file (see
    /// [`ServerConfig::default_control_socket`]).
    pub control_socket: Option<PathBuf>,
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

impl ServerConfig {
    /// The control socket's file name when `control_socket` is not given.
    pub const DEFAULT_CONTROL_SOCKET: &str = "eightfold.sock";

    /// Where the control socket is when `control_socket` is not given: beside the state file.
    pub fn default_control_socket(state_file: &Path) -> PathBuf {
        state_file.with_file_name(Self::DEFAULT_CONTROL_SOCKET)
    }
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
    /// The zone file's record sets (simple ones, SOA and apex NS included), packed.
    pub records: FileRecords,
    /// The record sets the config file itself defines (`[[record]]`, inline `soa` and `ns`),
    /// one per owner and type; none of them is also in `records`.
    pub rrsets: Vec<RrsetConfig>,
    /// Names that exist with no records of their own (`empty_names`): NODATA for every type,
    /// and no wildcard covers them.
    pub empty_names: Vec<Name>,
}

impl ZoneConfig {
    /// Number of record sets, from the zone file and the config file.
    pub fn rrset_count(&self) -> usize {
        self.records.len() + self.rrsets.len()
    }
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
    /// The kind a config file's `type` names, if any.
    pub(super) fn parse(text: &str) -> Option<Self> {
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
pub(super) fn connect_timeout(kind: CheckKind) -> Duration {
    let secs = if kind == CheckKind::Tcp { limits::TCP_CONNECT_TIMEOUT } else { limits::HTTP_CONNECT_TIMEOUT };
    Duration::from_secs_f64(secs)
}
