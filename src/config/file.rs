//! The TOML file as written: serde types that mirror it, every table `deny_unknown_fields`.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Option<Spanned<ServerTable>>,
    #[serde(default)]
    pub zone: Vec<Spanned<ZoneTable>>,
    #[serde(default)]
    pub health_check: Vec<Spanned<HealthCheckTable>>,
    #[serde(default)]
    pub record: Vec<Spanned<RecordTable>>,
    #[serde(default)]
    pub tsig_key: Vec<Spanned<TsigKeyTable>>,
    #[serde(default)]
    pub cluster: Option<Spanned<ClusterTable>>,
}

/// `[cluster]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTable {
    pub endpoints: Option<Vec<String>>,
    pub name: Option<String>,
    pub instance: Option<String>,
    pub observers_per_check: Option<usize>,
    pub healthy_fraction: Option<f64>,
    pub min_observers: Option<usize>,
    pub lease_ttl: Option<u64>,
    pub fallback_after: Option<u64>,
    pub membership_debounce: Option<f64>,
    pub self_check_interval: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// By hand, so that a password never reaches a log through `{:?}`.
impl std::fmt::Debug for ClusterTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTable")
            .field("endpoints", &self.endpoints)
            .field("name", &self.name)
            .field("instance", &self.instance)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// `observers` of a `[[health_check]]`: a count, or `"all"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ObserversValue {
    Count(i64),
    Word(String),
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTable {
    pub listen: Option<Vec<String>>,
    pub workers: Option<usize>,
    pub pin_workers: Option<bool>,
    pub max_answers: Option<usize>,
    pub edns_udp_size: Option<u16>,
    pub minimal_responses: Option<bool>,
    pub tcp_idle_timeout: Option<u64>,
    pub tcp_max_connections: Option<usize>,
    pub state_file: Option<String>,
    pub state_max_age: Option<u64>,
    pub control: Option<String>,
    pub control_token: Option<String>,
    pub control_socket: Option<String>,
    pub query_log: Option<bool>,
    pub tcp_message_timeout: Option<f64>,
    pub rrl_responses_per_second: Option<u32>,
    pub rrl_slip: Option<u32>,
    pub rrl_ipv4_prefix: Option<u8>,
    pub rrl_ipv6_prefix: Option<u8>,
    pub rrl_table_size: Option<usize>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub identity: Option<String>,
    pub version: Option<String>,
    pub nsid: Option<String>,
    pub answer_cache: Option<usize>,
    pub xdp: Option<Vec<String>>,
}

/// One `[[zone]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTable {
    pub origin: String,
    pub file: Option<String>,
    pub soa: Option<String>,
    pub ns: Option<Vec<String>>,
    pub ttl: Option<u32>,
    pub ns_ttl: Option<u32>,
    pub empty_names: Option<Vec<String>>,
    pub dnssec: Option<DnssecTable>,
}

/// A zone's `[zone.dnssec]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecTable {
    pub keys: Vec<String>,
    pub signature_validity: Option<u32>,
    pub dynamic_signature_validity: Option<u32>,
    pub dnskey_ttl: Option<u32>,
    pub exact_signatures: Option<u64>,
    pub sampled_subsets: Option<u32>,
    pub denial: Option<String>,
    pub compact_budget: Option<u32>,
}

/// One `[[health_check]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckTable {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub resource_path: Option<String>,
    pub fqdn: Option<String>,
    pub search_string: Option<String>,
    pub request_interval: Option<u64>,
    pub failure_threshold: Option<u8>,
    pub inverted: Option<bool>,
    pub disabled: Option<bool>,
    pub enable_sni: Option<bool>,
    pub children: Option<Vec<String>>,
    pub health_threshold: Option<u16>,
    pub connect_timeout: Option<f64>,
    pub response_timeout: Option<f64>,
    pub body_timeout: Option<f64>,
    pub tls_verify: Option<bool>,
    pub tls_ca_file: Option<String>,
    pub observers: Option<ObserversValue>,
}

/// One `[[record]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordTable {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: Option<u32>,
    pub routing: Option<String>,
    pub set_id: Option<String>,
    pub values: Vec<String>,
    pub health_check: Option<String>,
    pub failover: Option<String>,
    pub weight: Option<i64>,
    pub when_all_unhealthy: Option<String>,
    pub fallback_values: Option<Vec<String>>,
}

/// One `[[tsig_key]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyTable {
    pub name: String,
    pub algorithm: String,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
}

/// By hand, so that a secret never reaches a log through `{:?}`.
impl std::fmt::Debug for TsigKeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeyTable")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("secret_file", &self.secret_file)
            .finish()
    }
}
