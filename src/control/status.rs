//! The status report (`GET /status`, `eightfold status`): zones, the record sets that have a
//! routing policy with each member's health and whether they fail open, and every check with
//! its state, streak and last result (and, when asked, its last results as a history), and in a
//! fleet its members and each check's observers and their reports. A
//! [`Filter`] narrows it to one name or to what is unhealthy, on the server, so a config with
//! thousands of checks answers with only those.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Control;
use crate::cluster::{rendezvous, Observers};
use crate::config::{rtype_name, CheckKind, CheckObservers, FailoverRole, Routing};
use crate::policy::Standing;
use crate::wire::Name;

/// The whole report.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// eightfold's version.
    pub version: String,
    /// The config file (or the built-in demo).
    pub config: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Successful reloads.
    pub reloads: u64,
    /// Failed reloads.
    pub reload_failures: u64,
    /// Most records in one multivalue answer.
    pub max_answers: usize,
    /// What the report was narrowed to.
    pub filter: Filter,
    /// Zones served (with a filter: those holding a record set shown).
    pub zones: Vec<ZoneStatus>,
    /// Record sets with a routing policy.
    pub record_sets: Vec<RecordSetStatus>,
    /// Health checks.
    pub checks: Vec<CheckReport>,
    /// The fleet, when this instance is one of one (`[cluster]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
    /// The interfaces served over AF_XDP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xdp: Vec<XdpStatus>,
}

/// One interface served over AF_XDP.
#[derive(Debug, Serialize, Deserialize)]
pub struct XdpStatus {
    /// The interface.
    pub interface: String,
    /// `native` or `generic`.
    pub mode: String,
    /// Per receive queue.
    pub queues: Vec<XdpQueueStatus>,
}

/// One AF_XDP queue's counters.
#[derive(Debug, Serialize, Deserialize)]
pub struct XdpQueueStatus {
    /// The receive queue.
    pub queue: usize,
    /// Frames received.
    pub received: u64,
    /// Answers sent.
    pub answered: u64,
    /// Frames given back without an answer.
    pub dropped: u64,
    /// Answers dropped because the TX ring was full.
    pub tx_ring_full: u64,
    /// Frames the program passed to the kernel's stack.
    #[serde(default)]
    pub passed: u64,
    /// Frames the kernel dropped because the socket's RX ring was full.
    #[serde(default)]
    pub rx_ring_full: u64,
    /// Frames the kernel dropped for the socket for other reasons.
    #[serde(default)]
    pub rx_dropped: u64,
    /// Times the kernel found the fill ring empty when it needed a frame.
    #[serde(default)]
    pub fill_ring_empty: u64,
    /// Frames handed to the kernel to receive into after the worker's last refill.
    #[serde(default)]
    pub fill_frames: u64,
}

/// This instance's place in its fleet.
#[derive(Debug, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The fleet's name.
    pub cluster: String,
    /// This instance's id.
    pub instance: String,
    /// Whether the last call to etcd succeeded.
    pub connected: bool,
    /// Whether every check is probed here and decided from this instance's probes alone
    /// (etcd out of reach past `fallback_after`).
    pub local_mode: bool,
    /// The etcd revision the cache is at.
    pub revision: i64,
    /// Full reads after the first.
    pub resyncs: u64,
    /// Checks this instance probes.
    pub assigned_checks: usize,
    /// The pushed configuration served (its hash), if any.
    pub config: Option<String>,
    /// The live members.
    pub members: Vec<FleetMember>,
}

/// A live member of the fleet.
#[derive(Debug, Serialize, Deserialize)]
pub struct FleetMember {
    /// Its id.
    pub instance: String,
    /// Where it answers.
    pub listen: Vec<String>,
    /// The pushed configuration it serves.
    pub config: Option<String>,
    /// Its version.
    pub version: String,
}

/// A check's standing in the fleet.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckFleet {
    /// The instances that should probe it (rendezvous over the members).
    pub observers: Vec<String>,
    /// Live reports on its target.
    pub reports: u32,
    /// Those that say healthy.
    pub healthy_reports: u32,
    /// Whether this instance probes it.
    pub probing: bool,
    /// What its measured state rests on: `observers`, `own probe`, `last known` or `local`.
    pub basis: String,
}

/// One zone.
#[derive(Debug, Serialize, Deserialize)]
pub struct ZoneStatus {
    /// Apex.
    pub origin: String,
    /// Names, empty non-terminals included.
    pub names: usize,
    /// Record sets.
    pub record_sets: usize,
    /// How the zone is signed, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<ZoneDnssec>,
}

/// A signed zone's signatures.
#[derive(Debug, Serialize, Deserialize)]
pub struct ZoneDnssec {
    /// The tags of the keys that sign.
    pub key_tags: Vec<u16>,
    /// The tags of the keys published in the DNSKEY set without signing (rolled in ahead,
    /// or kept after they stopped).
    #[serde(default)]
    pub standby_tags: Vec<u16>,
    /// Signatures held (every RRSIG made at the build, one per key).
    pub signatures: usize,
    /// Bytes they take, with their shared fields and sampled blocks.
    pub bytes: usize,
    /// When the zone was signed (seconds since 1970).
    pub signed_at: u64,
    /// When it is signed again.
    pub resign_at: u64,
    /// When the first of its signatures expires (the health-dependent ones, or the static).
    pub expires_at: u64,
}

/// A record set with a routing policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordSetStatus {
    /// The zone it is in.
    pub zone: String,
    /// Owner.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Policy.
    pub routing: String,
    /// What it answers when no member is healthy.
    pub when_all_unhealthy: String,
    /// Members that count as healthy now.
    pub healthy: usize,
    /// Whether any member has a health check.
    pub checked: bool,
    /// No member is healthy and it answers from unhealthy ones (`answer_all`).
    pub failing_open: bool,
    /// Multivalue with fewer healthy members than a full answer holds (`max_answers`, or
    /// every member for a smaller set), but some.
    pub below_max_answers: bool,
    /// Members.
    pub members: Vec<MemberStatus>,
}

/// One member.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Set id.
    pub set_id: String,
    /// Values.
    pub values: Vec<String>,
    /// TTL.
    pub ttl: u32,
    /// Its health check.
    pub health_check: Option<String>,
    /// Whether it counts as healthy now (no check = healthy).
    pub healthy: bool,
    /// Weight (weighted).
    pub weight: Option<u8>,
    /// PRIMARY or SECONDARY (failover).
    pub failover: Option<String>,
}

/// One health check.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckReport {
    /// Id.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it probes (`ip:port`, the FQDN, or the children).
    pub target: String,
    /// The state answers use.
    pub healthy: bool,
    /// The measured state (before `inverted`), for probed checks.
    pub measured: Option<bool>,
    /// `up` or `down` when an operator forced it.
    pub forced: Option<String>,
    /// Inverted.
    pub inverted: bool,
    /// Disabled.
    pub disabled: bool,
    /// Consecutive results disagreeing with the measured state.
    pub consecutive: u8,
    /// Failure threshold.
    pub failure_threshold: u8,
    /// Those results against the threshold, for probed checks: `1 of 3 failures` while
    /// measured healthy, `2 of 3 successes` while measured unhealthy.
    pub streak: Option<String>,
    /// Request interval, seconds.
    pub request_interval: u64,
    /// `success` or `failure`.
    pub last_result: Option<String>,
    /// The last reason, in Route 53's words.
    pub last_reason: Option<String>,
    /// The last probe's duration, milliseconds.
    pub last_latency_ms: Option<f64>,
    /// When the last probe ended, Unix seconds.
    pub last_checked: Option<u64>,
    /// Probes run.
    pub probes: u64,
    /// Probes failed.
    pub failures: u64,
    /// The last results, oldest first (at most 20); only when asked for (`history=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<ProbeResult>>,
    /// In a fleet: its observers and their reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<CheckFleet>,
}

/// One probe's result, in a check's history.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProbeResult {
    /// When the probe ended, Unix seconds.
    pub checked: u64,
    /// `success` or `failure`.
    pub result: String,
    /// The probe's duration, milliseconds.
    pub latency_ms: f64,
    /// Why, in Route 53's words.
    pub reason: String,
}

/// Which part of the report to give: `GET /status?name=NAME&unhealthy=1`, or
/// `eightfold status NAME --unhealthy`. Both narrow it; an empty filter gives everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// A record set's name (every type at it, with its members' checks) or a check's id (the
    /// check, the children of a calculated one, and the record sets that use it).
    pub name: Option<String>,
    /// Only checks that are unhealthy now, and record sets with an unhealthy member.
    pub unhealthy: bool,
    /// Each check's last results too (its `history`). Not a narrowing: it adds to the report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history: bool,
}

impl Filter {
    /// Reads `name=NAME`, `unhealthy` and `history` (`1`, `true` or no value) from a query
    /// string.
    pub fn from_query(query: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (key, value) {
                ("name", "") => return Err("name= needs a record set name or a check id".into()),
                ("name", value) => filter.name = Some(super::http::percent_decode(value)),
                ("unhealthy", "" | "1" | "true") => filter.unhealthy = true,
                ("unhealthy", "0" | "false") => filter.unhealthy = false,
                ("unhealthy", other) => return Err(format!("unhealthy takes 1 or 0, not {other:?}")),
                ("history", "" | "1" | "true") => filter.history = true,
                ("history", "0" | "false") => filter.history = false,
                ("history", other) => return Err(format!("history takes 1 or 0, not {other:?}")),
                (other, _) => {
                    return Err(format!("unknown parameter {other:?}: use name=NAME, unhealthy=1 and history=1"))
                }
            }
        }
        Ok(filter)
    }
}

/// Builds the report from the published view and the prober's table, narrowed by `filter`;
/// an error when the filter names nothing configured.
pub fn collect(control: &Control, filter: &Filter) -> Result<Status, String> {
    let view = control.view();
    let table = control.prober.table.lock().map(|t| t.copy(filter.history)).ok();
    let config = table.as_ref().map(|t| t.config.clone());
    let mut zones = Vec::new();
    let mut record_sets = Vec::new();
    let mut checks = Vec::new();
    let mut max_answers = 0;
    // The members checks are assigned over, for each check's observers.
    let fleet_members = control.fleet.as_ref().and_then(|f| f.assigned_over.lock().ok().map(|m| m.clone()));
    let cluster_k = control.started_with.cluster.as_ref().map_or(0, |c| c.observers_per_check);
    if let (Some(config), Some(table)) = (config, table) {
        max_answers = config.server.max_answers;
        let health = view.health();
        let healthy = |check: Option<usize>| check.is_none_or(|c| health.is_healthy(c as u32));
        let name = filter.name.as_deref();
        let owner = name.and_then(owner_name);
        let named_check = name.and_then(|n| config.checks.iter().position(|c| c.id == n));
        // With a name, the checks to show: the named one, and those of the sets shown.
        let mut shown: Option<Vec<bool>> = name.map(|_| vec![false; config.checks.len()]);
        let mut show = |check: usize| {
            if let Some(shown) = shown.as_mut() {
                shown[check] = true;
                for &child in &config.checks[check].children {
                    shown[child] = true;
                }
            }
        };
        if let Some(check) = named_check {
            show(check);
        }
        let mut matched = named_check.is_some();
        for (zone, compiled) in config.zones.iter().zip(view.catalog().zones()) {
            let mut zone_shown = false;
            for set in zone.rrsets.iter().filter(|s| s.routing != Routing::Simple) {
                let by_owner = owner.as_ref() == Some(&set.owner);
                if name.is_some() {
                    let by_check = named_check.is_some_and(|c| set.members.iter().any(|m| m.check == Some(c)));
                    if !by_owner && !by_check {
                        continue;
                    }
                    matched = true;
                }
                let standing = Standing::of(&set.members, health);
                if filter.unhealthy && standing.healthy == standing.members {
                    continue;
                }
                zone_shown = true;
                if by_owner {
                    for check in set.members.iter().filter_map(|m| m.check) {
                        show(check);
                    }
                }
                record_sets.push(RecordSetStatus {
                    zone: zone.origin.to_string(),
                    name: set.owner.to_string(),
                    rtype: rtype_name(set.rtype),
                    routing: set.routing.as_str().to_string(),
                    when_all_unhealthy: set.when_all_unhealthy.as_str().to_string(),
                    healthy: standing.healthy,
                    checked: set.members.iter().any(|m| m.check.is_some()),
                    failing_open: standing.failing_open(set),
                    below_max_answers: standing.below_max_answers(set, max_answers),
                    members: set
                        .members
                        .iter()
                        .map(|m| MemberStatus {
                            set_id: m.set_id.clone().unwrap_or_default(),
                            values: m.values.clone(),
                            ttl: m.ttl,
                            health_check: m.check.map(|c| config.checks[c].id.clone()),
                            healthy: healthy(m.check),
                            weight: (set.routing == Routing::Weighted).then_some(m.weight),
                            failover: m.failover.map(|f| match f {
                                FailoverRole::Primary => "PRIMARY".to_string(),
                                FailoverRole::Secondary => "SECONDARY".to_string(),
                            }),
                        })
                        .collect(),
                });
            }
            if zone_shown || (name.is_none() && !filter.unhealthy) {
                let dnssec = compiled.signatures().map(|signatures| {
                    let validity = signatures.validity();
                    let (count, bytes) = signatures.size();
                    let expiration = validity.expiration.min(validity.dynamic_expiration);
                    ZoneDnssec {
                        key_tags: signatures.key_states().iter().filter(|k| k.2).map(|k| k.0).collect(),
                        standby_tags: signatures.key_states().iter().filter(|k| k.1 && !k.2).map(|k| k.0).collect(),
                        signatures: count,
                        bytes,
                        signed_at: validity.built,
                        resign_at: validity.refresh,
                        // RRSIG times are modulo 2^32; the build was within a validity of now.
                        expires_at: validity.built - u64::from(validity.built as u32) + u64::from(expiration),
                    }
                });
                zones.push(ZoneStatus {
                    origin: zone.origin.to_string(),
                    names: compiled.node_count(),
                    record_sets: compiled.rrset_count(),
                    dnssec,
                });
            }
        }
        if let Some(name) = name.filter(|_| !matched) {
            return Err(format!("no record set or health check named {name:?}"));
        }
        for (i, (check, state)) in config.checks.iter().zip(&table.checks).enumerate() {
            let is_healthy = health.is_healthy(i as u32);
            if shown.as_ref().is_some_and(|shown| !shown[i]) || (filter.unhealthy && is_healthy) {
                continue;
            }
            let target = match (check.ip, &check.fqdn) {
                _ if !check.children.is_empty() || check.kind == CheckKind::Calculated => {
                    let names: Vec<&str> = check.children.iter().map(|&c| config.checks[c].id.as_str()).collect();
                    format!("{} of [{}]", check.health_threshold, names.join(", "))
                }
                (Some(ip), _) => std::net::SocketAddr::new(ip, check.port).to_string(),
                (None, Some(fqdn)) => format!("{fqdn}:{}", check.port),
                (None, None) => String::new(),
            };
            let streak = state.measured.map(|measured| {
                let what = if measured { "failures" } else { "successes" };
                format!("{} of {} {what}", state.streak, check.failure_threshold)
            });
            let last = state.recent.last();
            checks.push(CheckReport {
                id: check.id.clone(),
                kind: check.kind.as_str().to_string(),
                target,
                healthy: is_healthy,
                measured: state.measured,
                forced: state.forced.map(|f| if f { "up" } else { "down" }.to_string()),
                inverted: check.inverted,
                disabled: check.disabled,
                consecutive: state.streak,
                failure_threshold: check.failure_threshold,
                streak,
                request_interval: check.request_interval.as_secs(),
                last_result: last.map(|p| result_word(p.success)),
                last_reason: last.map(|p| p.reason.to_string()),
                last_latency_ms: last.map(|p| milliseconds(p.latency())),
                last_checked: last.map(|p| p.at),
                probes: state.probes,
                failures: state.failures,
                history: filter.history.then(|| {
                    (state.recent.iter())
                        .map(|p| ProbeResult {
                            checked: p.at,
                            result: result_word(p.success),
                            latency_ms: milliseconds(p.latency()),
                            reason: p.reason.to_string(),
                        })
                        .collect()
                }),
                fleet: state.fleet.map(|standing| CheckFleet {
                    observers: fleet_members.as_ref().map_or_else(Vec::new, |over| {
                        let observers = match check.observers {
                            CheckObservers::Fleet => Observers::Count(cluster_k),
                            CheckObservers::Count(k) => Observers::Count(k),
                            CheckObservers::All => Observers::All,
                        };
                        rendezvous::choose(&check.id, over, observers).into_iter().map(str::to_string).collect()
                    }),
                    reports: standing.reports,
                    healthy_reports: standing.healthy_reports,
                    probing: standing.probing,
                    basis: standing.basis.to_string(),
                }),
            });
        }
    }
    let fleet = control.fleet.as_ref().zip(control.started_with.cluster.as_ref()).map(|(shared, cluster)| {
        let members = shared.members.lock().map(|m| m.clone()).unwrap_or_default();
        FleetStatus {
            cluster: cluster.name.clone(),
            instance: cluster.instance.clone(),
            connected: shared.connected.load(Ordering::Relaxed),
            local_mode: shared.local.load(Ordering::Relaxed),
            revision: shared.revision.load(Ordering::Relaxed),
            resyncs: shared.resyncs.load(Ordering::Relaxed),
            assigned_checks: shared.assigned.load(Ordering::Relaxed),
            config: control.pushed_hash(),
            members: members
                .into_iter()
                .map(|(instance, m)| FleetMember { instance, listen: m.listen, config: m.config, version: m.version })
                .collect(),
        }
    });
    Ok(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: control.source.path.as_ref().map_or("(built-in demo)".to_string(), |p| p.display().to_string()),
        uptime_seconds: control.started.elapsed().as_secs(),
        reloads: control.reloads.load(std::sync::atomic::Ordering::Relaxed),
        reload_failures: control.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
        max_answers,
        filter: filter.clone(),
        zones,
        record_sets,
        checks,
        fleet,
        xdp: xdp_status(&control.shared.xdp),
    })
}

/// The AF_XDP interfaces and their queues' counters.
fn xdp_status(registry: &crate::server::xdp::Registry) -> Vec<XdpStatus> {
    registry
        .interfaces()
        .iter()
        .map(|i| XdpStatus {
            interface: i.interface.clone(),
            mode: i.mode.as_str().to_string(),
            queues: i
                .queues
                .iter()
                .enumerate()
                .map(|(queue, q)| {
                    let kernel = i.kernel(queue);
                    XdpQueueStatus {
                        queue,
                        received: q.received.load(Ordering::Relaxed),
                        answered: q.answered.load(Ordering::Relaxed),
                        dropped: q.dropped.load(Ordering::Relaxed),
                        tx_ring_full: q.tx_full.load(Ordering::Relaxed),
                        passed: kernel.passed,
                        rx_ring_full: kernel.rx_ring_full,
                        rx_dropped: kernel.rx_dropped,
                        fill_ring_empty: kernel.fill_empty,
                        fill_frames: q.fill_frames.load(Ordering::Relaxed),
                    }
                })
                .collect(),
        })
        .collect()
}

/// A probe's duration in milliseconds, to the microsecond it is measured in (`0.139`, not
/// `0.13899999999999998`).
fn milliseconds(latency: std::time::Duration) -> f64 {
    latency.as_micros() as f64 / 1000.0
}

/// A result as the report words it.
fn result_word(success: bool) -> String {
    if success { "success" } else { "failure" }.to_string()
}

/// `name` as a record set owner: lowercase, absolute (a final dot is added when missing);
/// `None` when it is not a domain name.
fn owner_name(name: &str) -> Option<Name> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Some(Name::root());
    }
    name.split('.').rev().try_fold(Name::root(), |parent, label| parent.child(label.as_bytes()))
}

/// Seconds since `unix` (for "3 s ago").
pub fn age(unix: u64) -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |n| n.as_secs()).saturating_sub(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_from_query_strings() {
        assert_eq!(Filter::from_query(""), Ok(Filter::default()));
        let both = Filter { name: Some("web 1".into()), unhealthy: true, history: false };
        assert_eq!(Filter::from_query("name=web%201&unhealthy=1"), Ok(both.clone()));
        assert_eq!(Filter::from_query("unhealthy&name=web%201"), Ok(both));
        assert!(Filter::from_query("name=").unwrap_err().contains("needs"));
        assert!(Filter::from_query("unhealthy=maybe").unwrap_err().contains("1 or 0"));
        assert!(Filter::from_query("zone=x").unwrap_err().contains("unknown parameter \"zone\""));
        assert_eq!(Filter::from_query("history=1"), Ok(Filter { history: true, ..Filter::default() }));
        assert!(Filter::from_query("history=all").unwrap_err().contains("1 or 0"));
    }

    #[test]
    fn owner_names_are_lowercase_and_absolute() {
        let name = owner_name("WWW.Example.com").unwrap();
        assert_eq!(name.to_string(), "www.example.com.");
        assert_eq!(owner_name("www.example.com."), Some(name));
        assert_eq!(owner_name("a..b"), None);
        assert_eq!(owner_name("."), Some(Name::root()));
    }
}
