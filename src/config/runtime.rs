//! The validated runtime configuration: what the rest of the server reads once a file has
//! passed [`super::validate`]. Plain data with defaults filled in; nothing here reads a file
//! or checks a limit.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// `[cluster]`: the fleet this instance belongs to; `None` for a standalone server.
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`, with defaults filled in: the etcd cluster a fleet of instances shares health
/// and configuration through. Its `Debug` hides the password.
#[derive(Clone, PartialEq)]
pub struct ClusterConfig {
    /// etcd's client URLs (`http://host:2379` or `https://…`), tried in turn.
    pub endpoints: Vec<String>,
    /// The fleet's name: its keys live under `/eightfold/<name>/`.
    pub name: String,
    /// This instance's id within the fleet (default: the host name).
    pub instance: String,
    /// Instances that probe each check (k).
    pub observers_per_check: usize,
    /// Healthy when healthy observers / observers is strictly above this.
    pub healthy_fraction: f64,
    /// The fewest live observers whose reports decide.
    pub min_observers: usize,
    /// How long this instance's keys outlive its last keep-alive.
    pub lease_ttl: Duration,
    /// How long etcd may be unreachable before every check is probed locally.
    pub fallback_after: Duration,
    /// How long a change of members settles before checks move to other observers.
    pub membership_debounce: Duration,
    /// How often the watched cache is compared with a read at its revision.
    pub self_check_interval: Duration,
    /// etcd user and password.
    pub credentials: Option<(String, String)>,
    /// PEM file of the CAs that sign etcd's certificate (default: the built-in web roots).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for etcd's client certificate authentication.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("endpoints", &self.endpoints)
            .field("name", &self.name)
            .field("instance", &self.instance)
            .field("observers_per_check", &self.observers_per_check)
            .field("healthy_fraction", &self.healthy_fraction)
            .field("min_observers", &self.min_observers)
            .field("lease_ttl", &self.lease_ttl)
            .field("fallback_after", &self.fallback_after)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

/// How many instances of a fleet probe a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckObservers {
    /// `[cluster] observers_per_check`.
    #[default]
    Fleet,
    /// This many.
    Count(usize),
    /// Every live instance (`observers = "all"`).
    All,
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
    /// Interfaces whose UDP queries to the listen port are answered over AF_XDP (empty: none).
    pub xdp: Vec<String>,
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
    /// How the zone is signed (`[zone.dnssec]`); `None`: it is served unsigned.
    pub dnssec: Option<Arc<DnssecConfig>>,
}

/// A signed zone's keys and signature settings (`[zone.dnssec]`).
pub struct DnssecConfig {
    /// The signing keys, read from their files, each checked to be the zone's.
    pub keys: Vec<crate::dnssec::SigningKey>,
    /// Seconds the signatures of static data are valid for, from an hour before signing.
    pub signature_validity: u32,
    /// Seconds the signatures of health-dependent answers (multivalue subsets, pools,
    /// failover and weighted members) are valid for: shorter, since an old one could be
    /// replayed after the data it covers stopped being served.
    pub dynamic_signature_validity: u32,
    /// TTL of DNSKEY, CDS and CDNSKEY; `None`: the SOA's.
    pub dnskey_ttl: Option<u32>,
    /// Most signatures the zone's exact-mode stores hold together (every subset of a
    /// multivalue set signed); sets past it are signed in sampled mode.
    pub exact_signatures: u64,
    /// Subsets signed ahead per multivalue set in sampled mode.
    pub sampled_subsets: u32,
    /// Compact denial of existence (RFC 9824) instead of the NSEC chain: a name that does not
    /// exist gets an NSEC of its own, signed while answering.
    pub compact: bool,
    /// Signatures each UDP worker may make a second for compact denial; past it, UDP
    /// answers that need one are truncated (TC), so the client asks over TCP.
    pub compact_budget: u32,
}

impl std::fmt::Debug for DnssecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tags: Vec<u16> = self.keys.iter().map(|k| k.dnskey().key_tag()).collect();
        f.debug_struct("DnssecConfig")
            .field("key_tags", &tags)
            .field("signature_validity", &self.signature_validity)
            .field("dynamic_signature_validity", &self.dynamic_signature_validity)
            .field("dnskey_ttl", &self.dnskey_ttl)
            .field("exact_signatures", &self.exact_signatures)
            .field("sampled_subsets", &self.sampled_subsets)
            .field("compact", &self.compact)
            .field("compact_budget", &self.compact_budget)
            .finish()
    }
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
    /// In a fleet, how many instances probe it.
    pub observers: CheckObservers,
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
            observers: CheckObservers::Fleet,
        }
    }
}

/// The default `connect_timeout` of a check of `kind` (Route 53's: TCP's or HTTP's).
pub(super) fn connect_timeout(kind: CheckKind) -> Duration {
    let secs = if kind == CheckKind::Tcp { limits::TCP_CONNECT_TIMEOUT } else { limits::HTTP_CONNECT_TIMEOUT };
    Duration::from_secs_f64(secs)
}
