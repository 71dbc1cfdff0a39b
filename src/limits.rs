//! Every config setting's default, minimum and maximum, one row per setting.
//!
//! The validator in [`crate::config`] checks the file against these rows, the code that
//! sizes buffers from a setting reads its maximum here (the policy's selection array, the
//! answer cache), and [`TABLE`] lists every row in one comparable form so that a test can
//! hold the documentation to them. A row's key is `table.key` as the config file spells it
//! (`server.max_answers`, `health_check.port`); its unit is in its doc comment.
//!
//! A leaf module: it imports nothing from the crate, so anything may read it.
//!
//! Limits that are not settings (the largest TCP message, the longest CNAME chain, `$INCLUDE`
//! depth) stay with the code they bound.

/// A setting with a default and an inclusive range (for seconds with fractions, see
/// [`Kind::Fraction`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T> {
    /// `table.key`, as the config file spells it.
    pub key: &'static str,
    /// The value when the file gives none.
    pub default: T,
    /// The smallest value accepted.
    pub min: T,
    /// The largest value accepted.
    pub max: T,
}

/// A setting with a range but no single default: required, off unless given, or defaulting
/// by another key (the doc comment of the row says which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds<T> {
    /// `table.key`, as the config file spells it.
    pub key: &'static str,
    /// The smallest value accepted.
    pub min: T,
    /// The largest value accepted.
    pub max: T,
}

/// One row of [`TABLE`]: any limit, its numbers as `f64` (every one here is exact in `f64`
/// but the unbounded maxima, which are the type's largest value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// `table.key`, as the config file spells it.
    pub key: &'static str,
    /// The value when the file gives none; `None` for a [`Bounds`] row.
    pub default: Option<f64>,
    /// The smallest value accepted (not itself accepted for [`Kind::Fraction`]).
    pub min: f64,
    /// The largest value accepted.
    pub max: f64,
    /// How `min` and `max` bound the value.
    pub kind: Kind,
}

/// How a row's numbers bound a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number (a count, bytes, seconds, a prefix length): from `min` to `max`, both
    /// included.
    Whole,
    /// Seconds with fractions (a timeout): above `min`, up to and including `max`.
    Fraction,
    /// A share of a whole: from `min` included up to `max` excluded.
    Share,
}

// ---- [server] ----

/// UDP worker threads per listen address; 0 means one per available core.
pub const WORKERS: Limit<usize> = Limit { key: "server.workers", default: 0, min: 0, max: 1024 };
/// Most records in one multivalue answer (Route 53: 8); also the capacity of a policy's
/// selection.
pub const MAX_ANSWERS: Limit<usize> = Limit { key: "server.max_answers", default: 8, min: 1, max: 64 };
/// EDNS UDP payload size advertised and honoured, bytes (default: DNS flag day 2020).
pub const EDNS_UDP_SIZE: Limit<u16> = Limit { key: "server.edns_udp_size", default: 1232, min: 512, max: 4096 };
/// Seconds before an idle TCP connection is closed.
pub const TCP_IDLE_TIMEOUT: Limit<u64> = Limit { key: "server.tcp_idle_timeout", default: 10, min: 1, max: 3600 };
/// Open TCP connections at once.
pub const TCP_MAX_CONNECTIONS: Limit<usize> =
    Limit { key: "server.tcp_max_connections", default: 1024, min: 1, max: 1_000_000 };
/// Seconds after which a state file entry is ignored at start; any `u64` is accepted.
pub const STATE_MAX_AGE: Limit<u64> = Limit { key: "server.state_max_age", default: 900, min: 0, max: u64::MAX };
/// Length of `control_token`, bytes; no maximum. Without the key there is no token.
pub const CONTROL_TOKEN_LEN: Bounds<usize> = Bounds { key: "server.control_token", min: 16, max: usize::MAX };
/// Length of the control socket's path, bytes: what a Unix socket address holds (108 bytes
/// with the final NUL). Empty turns the socket off.
pub const CONTROL_SOCKET_LEN: Bounds<usize> = Bounds { key: "server.control_socket", min: 0, max: 107 };
/// Seconds (fractions allowed) a partly received TCP message may take to complete.
pub const TCP_MESSAGE_TIMEOUT: Limit<f64> =
    Limit { key: "server.tcp_message_timeout", default: 2.0, min: 0.0, max: TIMEOUT_MAX };
/// UDP responses per second allowed to one client prefix, for each kind of response (see
/// `server::rrl`); absent or 0 turns rate limiting off. Any `u32` is accepted.
pub const RRL_RESPONSES_PER_SECOND: Bounds<u32> =
    Bounds { key: "server.rrl_responses_per_second", min: 0, max: u32::MAX };
/// Every `rrl_slip`-th rate-limited response is sent truncated; 0 drops them all. Read only
/// with `rrl_responses_per_second`.
pub const RRL_SLIP: Limit<u32> = Limit { key: "server.rrl_slip", default: 2, min: 0, max: 10 };
/// IPv4 prefix length, bits, that rate-limited clients are grouped by.
pub const RRL_IPV4_PREFIX: Limit<u8> = Limit { key: "server.rrl_ipv4_prefix", default: 24, min: 8, max: 32 };
/// IPv6 prefix length, bits, that rate-limited clients are grouped by.
pub const RRL_IPV6_PREFIX: Limit<u8> = Limit { key: "server.rrl_ipv6_prefix", default: 56, min: 16, max: 128 };
/// Buckets in the rate table; a power of two.
pub const RRL_TABLE_SIZE: Limit<usize> =
    Limit { key: "server.rrl_table_size", default: 65_536, min: 1024, max: 1 << 24 };
/// Answers each UDP worker keeps for reuse: 0 (off) or a power of two.
pub const ANSWER_CACHE: Limit<usize> = Limit { key: "server.answer_cache", default: 1024, min: 0, max: 1 << 16 };
/// Length of `identity`, bytes (one TXT string). Without the key, `id.server.` is REFUSED.
pub const IDENTITY_LEN: Bounds<usize> = Bounds { key: "server.identity", min: 1, max: 255 };
/// Length of `version`, bytes (one TXT string). Without the key, `version.bind.` is REFUSED.
pub const VERSION_LEN: Bounds<usize> = Bounds { key: "server.version", min: 1, max: 255 };
/// Length of `nsid` once decoded, bytes. Without the key no NSID is sent.
pub const NSID_LEN: Bounds<usize> = Bounds { key: "server.nsid", min: 1, max: 128 };
/// Length of each interface name in `xdp`, bytes: what the kernel takes (IFNAMSIZ less the
/// terminating zero).
pub const INTERFACE_NAME_LEN: Bounds<usize> = Bounds { key: "server.xdp", min: 1, max: 15 };

// ---- [[zone]] ----

/// TTL, seconds, of an inline `soa` (and `ns`, unless `ns_ttl` is given); any `u32` is
/// accepted.
pub const ZONE_TTL: Limit<u32> = Limit { key: "zone.ttl", default: TTL_DEFAULT, min: 0, max: u32::MAX };
/// TTL, seconds, of an inline `ns`; by default the zone's `ttl`. Any `u32` is accepted.
pub const ZONE_NS_TTL: Bounds<u32> = Bounds { key: "zone.ns_ttl", min: 0, max: u32::MAX };

// ---- [zone.dnssec] ----

/// Signing keys of one zone (stems of BIND's key files).
pub const DNSSEC_KEYS: Bounds<usize> = Bounds { key: "zone.dnssec.keys", min: 1, max: 8 };
/// Seconds the signatures of static data are valid for: two weeks by default; they are made
/// again at half that.
pub const SIGNATURE_VALIDITY: Limit<u32> =
    Limit { key: "zone.dnssec.signature_validity", default: 1_209_600, min: 10, max: 31_536_000 };
/// Seconds the signatures of health-dependent answers are valid for: a day by default.
pub const DYNAMIC_SIGNATURE_VALIDITY: Limit<u32> =
    Limit { key: "zone.dnssec.dynamic_signature_validity", default: 86_400, min: 10, max: 31_536_000 };
/// TTL, seconds, of DNSKEY, CDS and CDNSKEY; by default the SOA's. At most a week, as every
/// TTL of a signed zone.
pub const DNSKEY_TTL: Bounds<u32> = Bounds { key: "zone.dnssec.dnskey_ttl", min: 0, max: 604_800 };
/// Most signatures a zone's exact-mode stores hold together (each 64 bytes: 2,000,000 is
/// about 128 MB, 155 sets of 16 members with 8 per answer); multivalue sets past it, and
/// sets of more than 16 members, are signed in sampled mode.
pub const EXACT_SIGNATURES: Limit<u64> =
    Limit { key: "zone.dnssec.exact_signatures", default: 2_000_000, min: 0, max: 1_000_000_000 };
/// Signatures a UDP worker may make each second for compact denial (`denial = "compact"`).
pub const COMPACT_BUDGET: Limit<u32> =
    Limit { key: "zone.dnssec.compact_budget", default: 2_000, min: 0, max: 1_000_000 };
/// Subsets signed ahead for each multivalue set in sampled mode.
pub const SAMPLED_SUBSETS: Limit<u32> =
    Limit { key: "zone.dnssec.sampled_subsets", default: 256, min: 16, max: 65_536 };

// ---- [[health_check]] ----

/// Length of a check's `id`, bytes.
pub const CHECK_ID_LEN: Bounds<usize> = Bounds { key: "health_check.id", min: 1, max: 64 };
/// Endpoint port; by default [`HTTP_PORT`] or [`HTTPS_PORT`] by type, required for TCP.
pub const PORT: Bounds<u16> = Bounds { key: "health_check.port", min: 1, max: 65_535 };
/// The port of HTTP and HTTP_STR_MATCH checks that give none.
pub const HTTP_PORT: u16 = 80;
/// The port of HTTPS and HTTPS_STR_MATCH checks that give none.
pub const HTTPS_PORT: u16 = 443;
/// Length of `resource_path` with its leading `/` (added when missing, so never empty),
/// bytes. The default is `/`.
pub const RESOURCE_PATH_LEN: Bounds<usize> = Bounds { key: "health_check.resource_path", min: 1, max: 255 };
/// Length of `search_string`, bytes; required for the string-match types.
pub const SEARCH_STRING_LEN: Bounds<usize> = Bounds { key: "health_check.search_string", min: 1, max: 255 };
/// Seconds between the end of one probe and the start of the next (Route 53: 30).
pub const REQUEST_INTERVAL: Limit<u64> =
    Limit { key: "health_check.request_interval", default: 30, min: 1, max: 86_400 };
/// Consecutive results needed to change state, both ways (Route 53: 3).
pub const FAILURE_THRESHOLD: Limit<u8> = Limit { key: "health_check.failure_threshold", default: 3, min: 1, max: 10 };
/// Seconds (fractions allowed) to connect; by default [`TCP_CONNECT_TIMEOUT`] or
/// [`HTTP_CONNECT_TIMEOUT`] by type.
pub const CONNECT_TIMEOUT: Bounds<f64> = Bounds { key: "health_check.connect_timeout", min: 0.0, max: TIMEOUT_MAX };
/// Route 53's TCP connect timeout, seconds: the default `connect_timeout` of TCP checks.
pub const TCP_CONNECT_TIMEOUT: f64 = 10.0;
/// Route 53's HTTP(S) connect timeout, seconds: the default `connect_timeout` of HTTP kinds.
pub const HTTP_CONNECT_TIMEOUT: f64 = 4.0;
/// Seconds (fractions allowed), after connecting, for the TLS handshake and the status line
/// (Route 53: 2).
pub const RESPONSE_TIMEOUT: Limit<f64> =
    Limit { key: "health_check.response_timeout", default: 2.0, min: 0.0, max: TIMEOUT_MAX };
/// Seconds (fractions allowed), after the status line, for the body of a string match
/// (Route 53: 2 more).
pub const BODY_TIMEOUT: Limit<f64> =
    Limit { key: "health_check.body_timeout", default: 2.0, min: 0.0, max: TIMEOUT_MAX };
/// How many `children` a CALCULATED check may list (by default none).
pub const CHILDREN: Bounds<usize> = Bounds { key: "health_check.children", min: 0, max: 256 };
/// Healthy children a CALCULATED check needs; 0 means always healthy.
pub const HEALTH_THRESHOLD: Limit<u16> = Limit { key: "health_check.health_threshold", default: 1, min: 0, max: 256 };

// ---- [[record]] ----

/// TTL, seconds, of a record (RFC 2181 section 8: at most 2^31 - 1).
pub const RECORD_TTL: Limit<u32> = Limit { key: "record.ttl", default: TTL_DEFAULT, min: 0, max: 2_147_483_647 };
/// Length of `set_id`, bytes (Route 53's limit); required for every policy but simple.
pub const SET_ID_LEN: Bounds<usize> = Bounds { key: "record.set_id", min: 1, max: 128 };
/// A weighted record's weight; required for weighted routing.
pub const WEIGHT: Bounds<u8> = Bounds { key: "record.weight", min: 0, max: 255 };

// ---- [cluster] ----

/// etcd endpoints listed; required with `[cluster]`.
pub const CLUSTER_ENDPOINTS: Bounds<usize> = Bounds { key: "cluster.endpoints", min: 1, max: 32 };
/// Length of the cluster's name, bytes.
pub const CLUSTER_NAME_LEN: Bounds<usize> = Bounds { key: "cluster.name", min: 1, max: 64 };
/// Length of this instance's id, bytes (default: the host name).
pub const CLUSTER_INSTANCE_LEN: Bounds<usize> = Bounds { key: "cluster.instance", min: 1, max: 64 };
/// Instances that probe each check (k).
pub const OBSERVERS_PER_CHECK: Limit<usize> =
    Limit { key: "cluster.observers_per_check", default: 3, min: 1, max: 1000 };
/// The fewest live observers whose reports decide a check.
pub const MIN_OBSERVERS: Limit<usize> = Limit { key: "cluster.min_observers", default: 2, min: 1, max: 1000 };
/// Healthy when the healthy share of the observers is above this (Route 53's 18%).
pub const HEALTHY_FRACTION: (&str, f64, f64, f64) = ("cluster.healthy_fraction", 0.18, 0.0, 1.0);
/// Seconds an instance's keys outlive its last keep-alive.
pub const LEASE_TTL: Limit<u64> = Limit { key: "cluster.lease_ttl", default: 10, min: 2, max: 3600 };
/// Seconds without etcd before every check is probed locally.
pub const FALLBACK_AFTER: Limit<u64> = Limit { key: "cluster.fallback_after", default: 30, min: 1, max: 86_400 };
/// Seconds a change of the fleet's members waits before checks move (fractions allowed).
pub const MEMBERSHIP_DEBOUNCE: Limit<f64> =
    Limit { key: "cluster.membership_debounce", default: 2.0, min: 0.0, max: 300.0 };
/// Seconds between comparisons of the watched cache with a read at its revision.
pub const SELF_CHECK_INTERVAL: Limit<u64> =
    Limit { key: "cluster.self_check_interval", default: 60, min: 1, max: 86_400 };
/// A check's own `observers` count (or `"all"`).
pub const CHECK_OBSERVERS: Bounds<usize> = Bounds { key: "health_check.observers", min: 1, max: 1000 };

/// Whether `value` is a healthy fraction: from 0 included up to 1 excluded.
pub fn healthy_fraction_ok(value: f64) -> bool {
    (HEALTHY_FRACTION.2..HEALTHY_FRACTION.3).contains(&value)
}

/// Every row above, in the order of the config reference: `[server]`, `[[zone]]`,
/// `[[health_check]]`, `[[record]]`, `[cluster]`.
pub const TABLE: &[Row] = &[
    WORKERS.row(),
    MAX_ANSWERS.row(),
    EDNS_UDP_SIZE.row(),
    TCP_IDLE_TIMEOUT.row(),
    TCP_MAX_CONNECTIONS.row(),
    STATE_MAX_AGE.row(),
    CONTROL_TOKEN_LEN.row(),
    CONTROL_SOCKET_LEN.row(),
    TCP_MESSAGE_TIMEOUT.row(),
    RRL_RESPONSES_PER_SECOND.row(),
    RRL_SLIP.row(),
    RRL_IPV4_PREFIX.row(),
    RRL_IPV6_PREFIX.row(),
    RRL_TABLE_SIZE.row(),
    ANSWER_CACHE.row(),
    IDENTITY_LEN.row(),
    VERSION_LEN.row(),
    NSID_LEN.row(),
    INTERFACE_NAME_LEN.row(),
    ZONE_TTL.row(),
    ZONE_NS_TTL.row(),
    DNSSEC_KEYS.row(),
    SIGNATURE_VALIDITY.row(),
    DYNAMIC_SIGNATURE_VALIDITY.row(),
    DNSKEY_TTL.row(),
    EXACT_SIGNATURES.row(),
    SAMPLED_SUBSETS.row(),
    COMPACT_BUDGET.row(),
    CHECK_ID_LEN.row(),
    PORT.row(),
    RESOURCE_PATH_LEN.row(),
    SEARCH_STRING_LEN.row(),
    REQUEST_INTERVAL.row(),
    FAILURE_THRESHOLD.row(),
    CONNECT_TIMEOUT.row(),
    RESPONSE_TIMEOUT.row(),
    BODY_TIMEOUT.row(),
    CHILDREN.row(),
    HEALTH_THRESHOLD.row(),
    CHECK_OBSERVERS.row(),
    RECORD_TTL.row(),
    SET_ID_LEN.row(),
    WEIGHT.row(),
    CLUSTER_ENDPOINTS.row(),
    CLUSTER_NAME_LEN.row(),
    CLUSTER_INSTANCE_LEN.row(),
    OBSERVERS_PER_CHECK.row(),
    MIN_OBSERVERS.row(),
    Row {
        key: HEALTHY_FRACTION.0,
        default: Some(HEALTHY_FRACTION.1),
        min: HEALTHY_FRACTION.2,
        max: HEALTHY_FRACTION.3,
        kind: Kind::Share,
    },
    LEASE_TTL.row(),
    FALLBACK_AFTER.row(),
    MEMBERSHIP_DEBOUNCE.row(),
    SELF_CHECK_INTERVAL.row(),
];

/// The default TTL, seconds, of records and inline zone data that give none.
const TTL_DEFAULT: u32 = 300;
/// The longest any timeout may be, seconds.
const TIMEOUT_MAX: f64 = 60.0;

impl<T: Copy> Limit<T> {
    /// The range alone, for code that checks limits with and without a default alike.
    pub const fn bounds(&self) -> Bounds<T> {
        Bounds { key: self.key, min: self.min, max: self.max }
    }
}

/// `Limit::row`, `Bounds::row` and `contains` for each whole-number type a setting has.
macro_rules! whole_number_rows {
    ($($t:ty),*) => {$(
        impl Limit<$t> {
            /// This limit as a row of [`TABLE`].
            pub const fn row(&self) -> Row {
                Row {
                    key: self.key,
                    default: Some(self.default as f64),
                    min: self.min as f64,
                    max: self.max as f64,
                    kind: Kind::Whole,
                }
            }

            /// Whether `value` is from `min` to `max`, both included.
            pub fn contains(&self, value: $t) -> bool {
                (self.min..=self.max).contains(&value)
            }
        }

        impl Bounds<$t> {
            /// These bounds as a row of [`TABLE`].
            pub const fn row(&self) -> Row {
                Row { key: self.key, default: None, min: self.min as f64, max: self.max as f64, kind: Kind::Whole }
            }

            /// Whether `value` is from `min` to `max`, both included.
            pub fn contains(&self, value: $t) -> bool {
                (self.min..=self.max).contains(&value)
            }
        }
    )*};
}

whole_number_rows!(u8, u16, u32, u64, usize);

impl Limit<f64> {
    /// This limit as a row of [`TABLE`].
    pub const fn row(&self) -> Row {
        Row { key: self.key, default: Some(self.default), min: self.min, max: self.max, kind: Kind::Fraction }
    }

    /// Whether `value` is above `min` and at most `max`.
    pub fn contains(&self, value: f64) -> bool {
        value > self.min && value <= self.max
    }
}

impl Bounds<f64> {
    /// These bounds as a row of [`TABLE`].
    pub const fn row(&self) -> Row {
        Row { key: self.key, default: None, min: self.min, max: self.max, kind: Kind::Fraction }
    }

    /// Whether `value` is above `min` and at most `max`.
    pub fn contains(&self, value: f64) -> bool {
        value > self.min && value <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_lies_within_its_range() {
        for row in TABLE {
            assert!(row.min <= row.max, "{}: min {} above max {}", row.key, row.min, row.max);
            let Some(default) = row.default else { continue };
            let within = match row.kind {
                Kind::Whole => row.min <= default && default <= row.max,
                Kind::Fraction => row.min < default && default <= row.max,
                Kind::Share => row.min <= default && default < row.max,
            };
            assert!(within, "{}: default {default} outside {} to {}", row.key, row.min, row.max);
        }
        for default in [TCP_CONNECT_TIMEOUT, HTTP_CONNECT_TIMEOUT] {
            assert!(CONNECT_TIMEOUT.contains(default), "connect timeout default {default}");
        }
        for default in [HTTP_PORT, HTTPS_PORT] {
            assert!(PORT.contains(default), "port default {default}");
        }
    }

    #[test]
    fn keys_are_unique_and_name_a_table_and_a_key() {
        let mut seen = std::collections::HashSet::new();
        for row in TABLE {
            assert!(seen.insert(row.key), "{} is listed twice", row.key);
            let (table, key) = row.key.rsplit_once('.').unwrap_or_else(|| panic!("{}: no `table.` prefix", row.key));
            assert!(
                ["server", "zone", "zone.dnssec", "health_check", "record", "cluster"].contains(&table),
                "{}: unknown table",
                row.key
            );
            let well_formed = key.starts_with(|c: char| c.is_ascii_lowercase())
                && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            assert!(well_formed, "{}: the key is not lowercase words joined by `_`", row.key);
        }
    }
}
