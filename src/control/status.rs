//! The status report (`GET /status`, `eightfold status`): zones, the record sets that have a
//! routing policy with each member's health, and every check with its state and last result.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Control;
use crate::config::{rtype_name, FailoverRole, Routing};

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
    /// Zones served.
    pub zones: Vec<ZoneStatus>,
    /// Record sets with a routing policy.
    pub record_sets: Vec<RecordSetStatus>,
    /// Health checks.
    pub checks: Vec<CheckReport>,
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
}

/// A record set with a routing policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordSetStatus {
    /// Owner.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Policy.
    pub routing: String,
    /// What it answers when no member is healthy.
    pub when_all_unhealthy: String,
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
}

/// Builds the report from the published view and the prober's table.
pub fn collect(control: &Control) -> Status {
    let view = control.view();
    let table = control.prober.table.lock().map(|t| t.clone()).ok();
    let config = table.as_ref().map(|t| t.config.clone());
    let mut zones = Vec::new();
    let mut record_sets = Vec::new();
    let mut checks = Vec::new();
    if let (Some(config), Some(table)) = (config, table) {
        let healthy = |check: Option<usize>| check.is_none_or(|c| view.health().is_healthy(c as u32));
        for (zone, compiled) in config.zones.iter().zip(view.catalog().zones()) {
            zones.push(ZoneStatus {
                origin: zone.origin.to_string(),
                names: compiled.node_count(),
                record_sets: compiled.rrset_count(),
            });
            for set in zone.rrsets.iter().filter(|s| s.routing != Routing::Simple) {
                record_sets.push(RecordSetStatus {
                    name: set.owner.to_string(),
                    rtype: rtype_name(set.rtype),
                    routing: set.routing.as_str().to_string(),
                    when_all_unhealthy: set.when_all_unhealthy.as_str().to_string(),
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
        }
        for (i, (check, state)) in config.checks.iter().zip(&table.checks).enumerate() {
            let target = match (check.ip, &check.fqdn) {
                _ if !check.children.is_empty() || check.kind == crate::config::CheckKind::Calculated => {
                    let names: Vec<&str> = check.children.iter().map(|&c| config.checks[c].id.as_str()).collect();
                    format!("{} of [{}]", check.health_threshold, names.join(", "))
                }
                (Some(ip), _) => std::net::SocketAddr::new(ip, check.port).to_string(),
                (None, Some(fqdn)) => format!("{fqdn}:{}", check.port),
                (None, None) => String::new(),
            };
            checks.push(CheckReport {
                id: check.id.clone(),
                kind: check.kind.as_str().to_string(),
                target,
                healthy: view.health().is_healthy(i as u32),
                measured: state.measured,
                forced: state.forced.map(|f| if f { "up" } else { "down" }.to_string()),
                inverted: check.inverted,
                disabled: check.disabled,
                consecutive: state.streak,
                failure_threshold: check.failure_threshold,
                request_interval: check.request_interval.as_secs(),
                last_result: state.last_success.map(|s| if s { "success" } else { "failure" }.to_string()),
                last_reason: state.last_reason.clone(),
                last_latency_ms: state.last_latency.map(|l| l.as_secs_f64() * 1000.0),
                last_checked: state.last_checked.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                probes: state.probes,
                failures: state.failures,
            });
        }
    }
    Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: control.source.path.as_ref().map_or("(built-in demo)".to_string(), |p| p.display().to_string()),
        uptime_seconds: control.started.elapsed().as_secs(),
        reloads: control.reloads.load(std::sync::atomic::Ordering::Relaxed),
        reload_failures: control.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
        zones,
        record_sets,
        checks,
    }
}

/// Seconds since `unix` (for "3 s ago").
pub fn age(unix: u64) -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |n| n.as_secs()).saturating_sub(unix)
}
