//! Prometheus text exposition for `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Control;
use crate::cluster::fleet::FleetShared;
use crate::server::stats::TRANSPORTS;

/// The AF_XDP queues' counters, when any interface is served over AF_XDP.
fn xdp_metrics(out: &mut String, registry: &crate::server::xdp::Registry) {
    let interfaces = registry.interfaces();
    if interfaces.is_empty() {
        return;
    }
    family(out, "eightfold_xdp_info", "gauge", "Interfaces served over AF_XDP, with how the program is attached.");
    for i in &interfaces {
        let _ = writeln!(
            out,
            "eightfold_xdp_info{{interface=\"{}\",mode=\"{}\",queues=\"{}\"}} 1",
            escape(&i.interface),
            i.mode.as_str(),
            i.queues.len()
        );
    }
    type Pick = fn(&crate::server::xdp::QueueCounters) -> &std::sync::atomic::AtomicU64;
    let series: [(&str, &str, &str, Pick); 5] = [
        ("eightfold_xdp_received_total", "counter", "Frames taken off an AF_XDP socket's RX ring.", |q| &q.received),
        ("eightfold_xdp_answered_total", "counter", "Answers put on an AF_XDP socket's TX ring.", |q| &q.answered),
        (
            "eightfold_xdp_dropped_total",
            "counter",
            "Frames given back without an answer (not a query to the port, dropped, or the TX ring full).",
            |q| &q.dropped,
        ),
        (
            "eightfold_xdp_tx_ring_full_total",
            "counter",
            "Answers dropped because the TX ring had no room.",
            |q| &q.tx_full,
        ),
        (
            "eightfold_xdp_fill_frames",
            "gauge",
            "Frames handed to the kernel to receive into (an AF_XDP socket's fill ring, and RX not yet taken) after the worker's last refill, up to a stock that grows with bursts and shrinks when quiet.",
            |q| &q.fill_frames,
        ),
    ];
    for (name, kind, help, pick) in series {
        family(out, name, kind, help);
        for i in &interfaces {
            for (queue, q) in i.queues.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{interface=\"{}\",queue=\"{queue}\"}} {}",
                    escape(&i.interface),
                    pick(q).load(Ordering::Relaxed)
                );
            }
        }
    }
    // What the kernel counted: read once per queue, written family by family.
    let kernel: Vec<Vec<crate::server::xdp::KernelCounts>> =
        interfaces.iter().map(|i| (0..i.queues.len()).map(|q| i.kernel(q)).collect()).collect();
    type PickKernel = fn(&crate::server::xdp::KernelCounts) -> u64;
    let counts: [(&str, &str, PickKernel); 4] = [
        (
            "eightfold_xdp_passed_total",
            "Frames the XDP program passed to the kernel's stack (not UDP to a listen address and port).",
            |k| k.passed,
        ),
        (
            "eightfold_xdp_rx_ring_full_total",
            "Frames the kernel dropped because an AF_XDP socket's RX ring was full.",
            |k| k.rx_ring_full,
        ),
        (
            "eightfold_xdp_kernel_dropped_total",
            "Frames for an AF_XDP socket the kernel dropped for other reasons (in copy mode no frame on the fill ring, too long).",
            |k| k.rx_dropped,
        ),
        (
            "eightfold_xdp_fill_ring_empty_total",
            "Times the kernel found an AF_XDP socket's fill ring empty when it needed a frame (in copy mode, a datagram dropped).",
            |k| k.fill_empty,
        ),
    ];
    for (name, help, pick) in counts {
        family(out, name, "counter", help);
        for (i, queues) in interfaces.iter().zip(&kernel) {
            for (queue, k) in queues.iter().enumerate() {
                let _ = writeln!(out, "{name}{{interface=\"{}\",queue=\"{queue}\"}} {}", escape(&i.interface), pick(k));
            }
        }
    }
}

/// Renders every metric.
pub fn render(control: &Control) -> String {
    let mut out = String::with_capacity(4096);
    let totals = control.shared.stats.totals();
    family(&mut out, "eightfold_build_info", "gauge", "Build information.");
    let _ = writeln!(out, "eightfold_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    family(&mut out, "eightfold_uptime_seconds", "gauge", "Seconds since the server started.");
    let _ = writeln!(out, "eightfold_uptime_seconds {}", control.started.elapsed().as_secs());
    family(
        &mut out,
        "eightfold_queries_total",
        "counter",
        "Queries answered, by transport, query type and response code.",
    );
    for (transport, qtype, rcode, count) in &totals.queries {
        let _ = writeln!(
            out,
            "eightfold_queries_total{{transport=\"{transport}\",qtype=\"{qtype}\",rcode=\"{rcode}\"}} {count}"
        );
    }
    family(&mut out, "eightfold_truncated_total", "counter", "Answers sent with TC set, by transport.");
    for (t, name) in TRANSPORTS.iter().enumerate() {
        let _ = writeln!(out, "eightfold_truncated_total{{transport=\"{name}\"}} {}", totals.truncated[t]);
    }
    family(&mut out, "eightfold_dropped_total", "counter", "Packets dropped without an answer, by transport.");
    for (t, name) in TRANSPORTS.iter().enumerate() {
        let _ = writeln!(out, "eightfold_dropped_total{{transport=\"{name}\"}} {}", totals.dropped[t]);
    }
    family(&mut out, "eightfold_rrl_dropped_total", "counter", "Responses response rate limiting dropped.");
    let _ = writeln!(out, "eightfold_rrl_dropped_total {}", totals.rrl_dropped);
    family(
        &mut out,
        "eightfold_rrl_slipped_total",
        "counter",
        "Responses response rate limiting sent truncated instead.",
    );
    let _ = writeln!(out, "eightfold_rrl_slipped_total {}", totals.rrl_slipped);
    family(
        &mut out,
        "eightfold_answer_cache_hits_total",
        "counter",
        "UDP answers served from the workers' answer caches (also counted in eightfold_queries_total).",
    );
    let _ = writeln!(out, "eightfold_answer_cache_hits_total {}", totals.cache_hits);
    xdp_metrics(&mut out, &control.shared.xdp);
    family(&mut out, "eightfold_reloads_total", "counter", "Successful configuration reloads.");
    let _ = writeln!(out, "eightfold_reloads_total {}", control.reloads.load(Ordering::Relaxed));
    family(
        &mut out,
        "eightfold_reload_failures_total",
        "counter",
        "Reloads rejected; the previous configuration kept serving.",
    );
    let _ = writeln!(out, "eightfold_reload_failures_total {}", control.reload_failures.load(Ordering::Relaxed));
    let status = control.status();
    family(&mut out, "eightfold_zones", "gauge", "Zones served.");
    let _ = writeln!(out, "eightfold_zones {}", status.zones.len());
    let signed: Vec<_> = status.zones.iter().filter_map(|z| Some((&z.origin, z.dnssec.as_ref()?))).collect();
    if !signed.is_empty() {
        family(&mut out, "eightfold_dnssec_signatures", "gauge", "RRSIGs a signed zone holds, made ahead.");
        for (origin, d) in &signed {
            let _ = writeln!(out, "eightfold_dnssec_signatures{{zone=\"{}\"}} {}", escape(origin), d.signatures);
        }
        family(&mut out, "eightfold_dnssec_signed_timestamp_seconds", "gauge", "When a signed zone was signed.");
        for (origin, d) in &signed {
            let _ = writeln!(
                out,
                "eightfold_dnssec_signed_timestamp_seconds{{zone=\"{}\"}} {}",
                escape(origin),
                d.signed_at
            );
        }
        family(
            &mut out,
            "eightfold_dnssec_expiry_timestamp_seconds",
            "gauge",
            "When a signed zone's first signatures expire; it is signed again at half their validity.",
        );
        for (origin, d) in &signed {
            let _ = writeln!(
                out,
                "eightfold_dnssec_expiry_timestamp_seconds{{zone=\"{}\"}} {}",
                escape(origin),
                d.expires_at
            );
        }
    }
    let checks = &status.checks;
    let per_check = |out: &mut String,
                     name: &str,
                     kind: &str,
                     help: &str,
                     value: &dyn Fn(&super::status::CheckReport) -> Option<String>| {
        family(out, name, kind, help);
        for check in checks {
            if let Some(v) = value(check) {
                let _ = writeln!(out, "{name}{{check=\"{}\"}} {v}", escape(&check.id));
            }
        }
    };
    per_check(
        &mut out,
        "eightfold_health_check_healthy",
        "gauge",
        "Final state answers use (1 healthy, 0 unhealthy).",
        &|c| Some((c.healthy as u8).to_string()),
    );
    per_check(&mut out, "eightfold_health_check_forced", "gauge", "1 while an operator override is in force.", &|c| {
        Some((c.forced.is_some() as u8).to_string())
    });
    per_check(
        &mut out,
        "eightfold_health_check_last_result",
        "gauge",
        "The last probe passed (1) or failed (0).",
        &|c| c.last_result.as_ref().map(|r| ((r == "success") as u8).to_string()),
    );
    per_check(
        &mut out,
        "eightfold_health_check_consecutive",
        "gauge",
        "Consecutive results disagreeing with the measured state.",
        &|c| c.measured.map(|_| c.consecutive.to_string()),
    );
    per_check(&mut out, "eightfold_health_check_latency_seconds", "gauge", "Duration of the last probe.", &|c| {
        c.last_latency_ms.map(|ms| format!("{:.6}", ms / 1000.0))
    });
    per_check(&mut out, "eightfold_health_check_probes_total", "counter", "Probes run.", &|c| {
        c.measured.map(|_| c.probes.to_string())
    });
    per_check(&mut out, "eightfold_health_check_failures_total", "counter", "Probes that failed.", &|c| {
        c.measured.map(|_| c.failures.to_string())
    });
    if let Some(fleet) = &control.fleet {
        fleet_metrics(&mut out, fleet, status.fleet.as_ref().map_or(0, |f| f.members.len()));
        per_check(
            &mut out,
            "eightfold_cluster_check_observers",
            "gauge",
            "Live reports on a check's target in the fleet.",
            &|c| c.fleet.as_ref().map(|f| f.reports.to_string()),
        );
        per_check(
            &mut out,
            "eightfold_cluster_check_healthy_observers",
            "gauge",
            "Live reports on a check's target that say healthy.",
            &|c| c.fleet.as_ref().map(|f| f.healthy_reports.to_string()),
        );
        per_check(
            &mut out,
            "eightfold_cluster_check_probing",
            "gauge",
            "1 while this instance probes the check.",
            &|c| c.fleet.as_ref().map(|f| (f.probing as u8).to_string()),
        );
    }
    // One series per configured record set whose members have health checks: bounded by the
    // config, never by queries.
    let sets: Vec<_> = status.record_sets.iter().filter(|s| s.checked).collect();
    let per_set =
        |out: &mut String, name: &str, help: &str, value: &dyn Fn(&super::status::RecordSetStatus) -> usize| {
            family(out, name, "gauge", help);
            for set in &sets {
                let _ = writeln!(
                    out,
                    "{name}{{zone=\"{}\",name=\"{}\",type=\"{}\"}} {}",
                    escape(&set.zone),
                    escape(&set.name),
                    escape(&set.rtype),
                    value(set)
                );
            }
        };
    per_set(
        &mut out,
        "eightfold_record_set_healthy",
        "Members of a health-checked record set that count as healthy.",
        &|s| s.healthy,
    );
    per_set(&mut out, "eightfold_record_set_members", "Members of a health-checked record set.", &|s| s.members.len());
    per_set(
        &mut out,
        "eightfold_record_set_failing_open",
        "1 while no member is healthy and the set answers from unhealthy members (when_all_unhealthy = answer_all).",
        &|s| s.failing_open as usize,
    );
    out
}

/// The fleet thread's gauges and counters.
fn fleet_metrics(out: &mut String, fleet: &FleetShared, members: usize) {
    let load = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed);
    let rows: [(&str, &str, &str, String); 13] = [
        (
            "eightfold_cluster_connected",
            "gauge",
            "1 while the last call to etcd succeeded.",
            (fleet.connected.load(Ordering::Relaxed) as u8).to_string(),
        ),
        (
            "eightfold_cluster_local_mode",
            "gauge",
            "1 while every check is probed here and decided alone (etcd out of reach past fallback_after).",
            (fleet.local.load(Ordering::Relaxed) as u8).to_string(),
        ),
        (
            "eightfold_cluster_revision",
            "gauge",
            "The etcd revision the watched cache is at.",
            fleet.revision.load(Ordering::Relaxed).to_string(),
        ),
        (
            "eightfold_cluster_watch_lag_seconds",
            "gauge",
            "Time from this instance's last report write to its event on the watch.",
            format!("{:.6}", load(&fleet.watch_lag_micros) as f64 / 1e6),
        ),
        (
            "eightfold_cluster_resyncs_total",
            "counter",
            "Full reads of the fleet's keys after the first (compaction, a self-check mismatch).",
            load(&fleet.resyncs).to_string(),
        ),
        (
            "eightfold_cluster_self_checks_total",
            "counter",
            "Comparisons of the watched cache with a read at its revision.",
            load(&fleet.self_checks).to_string(),
        ),
        (
            "eightfold_cluster_self_check_mismatches_total",
            "counter",
            "Self-checks that found the cache different from etcd.",
            load(&fleet.mismatches).to_string(),
        ),
        ("eightfold_cluster_members", "gauge", "Live members of the fleet.", members.to_string()),
        (
            "eightfold_cluster_assigned_checks",
            "gauge",
            "Checks this instance probes.",
            fleet.assigned.load(Ordering::Relaxed).to_string(),
        ),
        (
            "eightfold_cluster_writes_total",
            "counter",
            "Reports written to etcd (puts and deletes).",
            load(&fleet.writes).to_string(),
        ),
        ("eightfold_cluster_errors_total", "counter", "Calls to etcd that failed.", load(&fleet.errors).to_string()),
        (
            "eightfold_cluster_watch_reopens_total",
            "counter",
            "Times the watch stream was opened again, resuming from its revision.",
            load(&fleet.watch_reopens).to_string(),
        ),
        ("eightfold_cluster_info", "gauge", "Always 1 on a fleet member.", "1".to_string()),
    ];
    for (name, kind, help, value) in rows {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
