//! The fleet's drills: three real etcd members and three (or four) real eightfold instances
//! on loopback, HTTP targets in the test, real DNS queries; each drill asserts a number and
//! prints what it measured (`cargo test --test integration fleet:: -- --nocapture`).
//! Settings are short (interval 1 s, lease 2 s, fallback after 4 s) so the file runs in
//! about a minute. Drills that neither kill etcd members nor compact share one etcd cluster,
//! each under its own fleet name; the others start their own. Outside CI, without etcd
//! installed, they say so and pass. The harness is `common::fleet`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use eightfold::cluster::{Etcd, EtcdOptions, KeyRange, Op, Store, StoreError, Txn, WatchMessage};

use crate::common::etcd::EtcdCluster;
use crate::common::fleet::{
    start_instance, Fleet, Link, QueryLoop, Reach, Targets, ETCD_CALL, FALLBACK_AFTER, INTERVAL, K, LEASE_TTL,
    SELF_CHECK_INTERVAL,
};
use crate::common::{binary, ZONE};

/// How long a fleet may take to start and settle.
const SETTLE: Duration = Duration::from_secs(20);
/// `[cluster] membership_debounce` (common::fleet's settings).
const DEBOUNCE: Duration = Duration::from_millis(500);

/// How long a target's change may take to reach every instance's answers: the probes that
/// see it (interval x threshold), a probe's slip within its interval, and 1 s for the report
/// to travel through etcd.
fn follow(threshold: u32) -> Duration {
    INTERVAL * threshold + INTERVAL + Duration::from_secs(1)
}

/// Seconds, for messages.
fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The slowest of `until_each`'s times; panics naming the instances that never got there.
fn slowest(what: &str, took: &BTreeMap<String, Option<Duration>>) -> Duration {
    let missing: Vec<&String> = took.iter().filter(|(_, t)| t.is_none()).map(|(id, _)| id).collect();
    assert!(missing.is_empty(), "{what}: instances {missing:?} never did ({took:?})");
    let slowest = took.values().map(|t| t.unwrap()).max().unwrap_or_default();
    eprintln!(
        "{what}: {}",
        took.iter().map(|(id, t)| format!("{id} {}", secs(t.unwrap()))).collect::<Vec<_>>().join(", ")
    );
    slowest
}

/// Polls `holds` every 50 ms for up to `limit`; how long it took, or `None`.
fn within(limit: Duration, mut holds: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if holds() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every live instance's UDP address.
fn servers(fleet: &Fleet) -> Vec<SocketAddr> {
    fleet.live().into_iter().map(|i| fleet.instance(i).addr).collect()
}

/// Each live instance's value of a metric.
fn each(fleet: &Fleet, key: &str) -> Vec<Option<f64>> {
    fleet.live().into_iter().map(|i| fleet.metric(i, key)).collect()
}

/// The sum over the live instances of the checks each probes.
fn assigned(fleet: &Fleet) -> Option<f64> {
    each(fleet, "eightfold_cluster_assigned_checks").into_iter().sum()
}

/// The checks instance `id` reports in etcd.
fn reported_by(fleet: &Fleet, id: &str) -> Vec<String> {
    let reports = fleet.reports().unwrap();
    reports.into_iter().filter(|(_, by)| by.contains_key(id)).map(|(check, _)| check).collect()
}

/// The mean of `rates`.
fn mean(rates: &[f64]) -> f64 {
    rates.iter().sum::<f64>() / rates.len() as f64
}

/// The revision of the first event a watch delivers within `limit` (other messages and
/// errors skipped).
fn first_event(watch: &mut impl Iterator<Item = Result<WatchMessage, StoreError>>, limit: Duration) -> Option<i64> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(Ok(WatchMessage::Events { events, .. })) = watch.next() {
            return events.first().map(|e| e.kv.mod_revision);
        }
    }
    None
}

// The harness on its own, against etcd and standalone instances (these pass before the
// fleet exists, and show the drills' tools measure what they say).

#[test]
fn the_blackhole_proxy_forwards_holds_in_silence_and_heals() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let link = Link::start(&etcd);
    let mut options = EtcdOptions::new(link.endpoints());
    options.timeout = Duration::from_secs(1);
    options.connect_timeout = Duration::from_millis(500);
    options.watch_idle = Duration::from_secs(1);
    let through = Etcd::new(options).unwrap();
    let direct = Etcd::new(EtcdOptions::new(etcd.endpoints())).unwrap();
    let put = |store: &Etcd, value: &str| {
        let op = Op::Put { key: "/proxy-test/k".into(), value: value.into(), lease: None };
        store.txn(&Txn { success: vec![op], ..Txn::default() }).map(|o| o.revision)
    };
    let first = put(&through, "1").unwrap();
    let mut watch = through.watch(&KeyRange::prefix("/proxy-test/"), first + 1).unwrap();
    let second = put(&direct, "2").unwrap();
    let seen = first_event(&mut watch, Duration::from_secs(5));
    assert_eq!(seen, Some(second), "the watch through the proxy sees a write made directly");
    assert!(link.proxies.iter().map(|p| p.relayed()).sum::<usize>() > 0);

    link.set_cut(true);
    // Requests time out (the client's 1 s), rather than being refused at once.
    let started = Instant::now();
    let cut = through.range(&KeyRange::key("/proxy-test/k"), None, None);
    let took = started.elapsed();
    assert!(matches!(cut, Err(StoreError::Unavailable(_))), "{cut:?}");
    assert!(took >= Duration::from_millis(900), "a cut link fails by timing out, not at once: {took:?}");
    // A write made directly is not delivered through the cut link's watch.
    let third = put(&direct, "3").unwrap();
    let during = watch.next();
    assert!(!matches!(&during, Some(Ok(WatchMessage::Events { .. }))), "nothing crosses a cut link: {during:?}");
    let relayed = link.proxies.iter().map(|p| p.relayed()).sum::<usize>();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(link.proxies.iter().map(|p| p.relayed()).sum::<usize>(), relayed, "no byte crosses a cut link");

    link.set_cut(false);
    let value = through.range(&KeyRange::key("/proxy-test/k"), None, None).unwrap();
    assert_eq!(value.kvs[0].value, b"3");
    // The watch resumes from where it was, and the write made during the cut arrives.
    let resumed = first_event(&mut watch, Duration::from_secs(5));
    assert_eq!(resumed, Some(third));
    let accepted: usize = link.proxies.iter().map(|p| p.accepted()).sum();
    eprintln!("proxy: {accepted} connections, cut request failed after {}", secs(took));
}

#[test]
fn standalone_instances_probe_every_target_each_and_answer_every_query() {
    let targets = Targets::start(3);
    let body = targets.config(1, &[]);
    let instances: Vec<_> = (0..3).map(|_| start_instance(&body)).collect();
    let addrs: Vec<SocketAddr> = instances.iter().map(|s| s.addr).collect();
    let looped = QueryLoop::start(addrs.clone());
    // Past the first probes, then a whole number of intervals.
    std::thread::sleep(Duration::from_secs(2));
    let rates = targets.probe_rates(INTERVAL * 6);
    let report = looped.stop();
    eprintln!(
        "standalone: probes per target per interval {rates:?}; {} queries, {} lost",
        report.sent,
        report.lost.len()
    );
    let about = mean(&rates);
    assert!((2.5..=3.5).contains(&about), "3 standalone instances probe a target about 3 times an interval: {rates:?}");
    for rate in &rates {
        assert!((2.25..=3.75).contains(rate), "each target about 3 times an interval: {rates:?}");
    }
    assert!(report.sent > 100, "{report:?}");
    assert!(report.lost.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(report.answers.keys().collect::<Vec<_>>(), [&Targets::addresses(0..3)], "{report:?}");
}

// The drills.

/// 1. A target goes down: every instance stops answering it within interval x threshold +
///    interval + 1 s; it comes back likewise.
#[test]
fn drill_1_a_target_down_leaves_every_instance_s_answers_within_the_bound_and_comes_back() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let targets = Targets::start(3);
    let threshold = 2;
    let fleet = Fleet::start(&etcd, "drill1", &targets.config(threshold, &[]), &[Reach::Direct; 3]);
    let checks = targets.checks();
    eprintln!("drill 1: settled in {}", secs(fleet.settle(&checks, |_| K, SETTLE)));
    let all = Targets::addresses(0..3);
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(all.clone()), "instance {} before", Fleet::id(i));
    }

    let bound = follow(threshold);
    targets.set_up(1, false);
    let without = Targets::addresses([0, 2]);
    let took = fleet.until_each(bound * 3, |i, f| f.answer(i).as_ref() == Some(&without));
    let down = slowest("drill 1: target down, instance answers without it after", &took);
    assert!(
        down <= bound,
        "the last instance stopped answering the down target after {} (bound {})",
        secs(down),
        secs(bound)
    );
    let reports = fleet.reports().unwrap();
    assert_eq!(reports["t1"].len(), K);
    assert!(reports["t1"].values().all(|r| !r.healthy), "every observer reports t1 down: {reports:?}");

    targets.set_up(1, true);
    let took = fleet.until_each(bound * 3, |i, f| f.answer(i).as_ref() == Some(&all));
    let up = slowest("drill 1: target back, instance answers it again after", &took);
    assert!(up <= bound, "the last instance answered the target again after {} (bound {})", secs(up), secs(bound));
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(all.clone()), "instance {} after", Fleet::id(i));
    }
}

/// 2. Probes per target per interval: about k with sharding (k = 2 of 3), about N for a
///    check with `observers = "all"` (standalone instances: the test above).
#[test]
fn drill_2_a_sharded_check_is_probed_k_times_an_interval_and_an_all_check_n_times() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let targets = Targets::start(5);
    let everyone = 4;
    let fleet = Fleet::start(&etcd, "drill2", &targets.config(1, &[everyone]), &[Reach::Direct; 3]);
    let checks = targets.checks();
    let observers = |check: &str| if check == "t4" { 3 } else { K };
    eprintln!("drill 2: settled in {}", secs(fleet.settle(&checks, observers, SETTLE)));
    let expected = (4 * K + 3) as f64;
    let took = within(Duration::from_secs(10), || assigned(&fleet) == Some(expected));
    assert!(
        took.is_some(),
        "assigned checks {:?}, expected {expected} in all",
        each(&fleet, "eightfold_cluster_assigned_checks")
    );
    // A whole interval after the last hand-over, then 6 intervals counted.
    std::thread::sleep(INTERVAL);
    let rates = targets.probe_rates(INTERVAL * 6);
    eprintln!("drill 2: probes per target per interval {rates:?} (k = {K} for t0-t3, all 3 for t4)");
    let sharded = mean(&rates[..4]);
    assert!(
        (K as f64 - 0.5..=K as f64 + 0.5).contains(&sharded),
        "sharded checks: mean {sharded} probes an interval, k = {K}: {rates:?}"
    );
    for rate in &rates[..4] {
        assert!((K as f64 - 0.75..=K as f64 + 0.75).contains(rate), "each sharded check about k: {rates:?}");
    }
    assert!((2.5..=3.5).contains(&rates[4]), "observers = \"all\": about 3 an interval: {rates:?}");
    assert_eq!(assigned(&fleet), Some(expected), "no hand-over while counting");
}

/// 3. One etcd member killed (the leader, then a follower): answers unchanged, no query lost.
#[test]
fn drill_3_an_etcd_member_killed_leader_then_follower_loses_no_query() {
    let Some(mut etcd) = EtcdCluster::start(3) else { return };
    let targets = Targets::start(3);
    // One target down from the start, so that the answers depend on the fleet's health.
    targets.set_up(2, false);
    let fleet = Fleet::start(&etcd, "drill3", &targets.config(1, &[]), &[Reach::Direct; 3]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    let expected = Targets::addresses([0, 1]);
    slowest(
        "drill 3: answers without the down target",
        &fleet.until_each(SETTLE, |i, f| f.answer(i).as_ref() == Some(&expected)),
    );
    let resyncs = each(&fleet, "eightfold_cluster_resyncs_total");

    for role in ["leader", "follower"] {
        let leader = etcd.leader().expect("etcd has a leader");
        let victim = if role == "leader" { leader } else { (leader + 1) % 3 };
        let looped = QueryLoop::start(servers(&fleet));
        std::thread::sleep(Duration::from_millis(500));
        etcd.kill(victim);
        // Past an election and past the lease: keep-alives must have moved to another member.
        std::thread::sleep(LEASE_TTL + Duration::from_secs(3));
        let report = looped.stop();
        eprintln!(
            "drill 3: {role} (member {victim}) killed: {} queries, {} lost, {} failed, answers {:?}",
            report.sent,
            report.lost.len(),
            report.failed.len(),
            report.answers
        );
        assert!(report.sent > 100);
        assert!(report.lost.is_empty(), "{role} killed: lost {:?}", report.lost);
        assert!(report.failed.is_empty(), "{role} killed: failed {:?}", report.failed);
        assert_eq!(report.answers.keys().collect::<Vec<_>>(), [&expected], "{role} killed: answers changed");
        for i in fleet.live() {
            let m = fleet.metrics(i).unwrap();
            assert_eq!(m.get("eightfold_cluster_connected"), Some(1.0), "{role} killed: {}", Fleet::id(i));
            assert_eq!(m.get("eightfold_cluster_local_mode"), Some(0.0), "{role} killed: {}", Fleet::id(i));
            assert_eq!(m.get("eightfold_cluster_members"), Some(3.0), "{role} killed: {}", Fleet::id(i));
        }
        assert_eq!(fleet.members().unwrap().len(), 3, "no instance's lease lapsed");
        // The fleet still agrees: a change still reaches every instance.
        targets.set_up(0, false);
        let only = Targets::addresses([1]);
        let took = fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&only));
        let down = slowest(&format!("drill 3: {role} down, target down reaches instance after"), &took);
        assert!(down <= follow(1), "with the {role} down: {}", secs(down));
        targets.set_up(0, true);
        slowest(
            "drill 3: target back",
            &fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&expected)),
        );
        etcd.restart(victim);
    }
    assert_eq!(each(&fleet, "eightfold_cluster_resyncs_total"), resyncs, "watches moved on without a full read");
    for i in fleet.live() {
        assert!(!fleet.instance(i).output().contains("probing every check locally"), "{}", fleet.instance(i).output());
    }
}

/// 4. One instance cut off from etcd (a blackhole proxy): the others drop its observations
///    within the lease TTL + 1 s; it falls back to local probing after `fallback_after`;
///    healed, it resumes with no revision gap and its cache equals a read at its revision.
#[test]
fn drill_4_an_instance_cut_off_is_dropped_falls_back_and_resumes_without_a_gap() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let targets = Targets::start(4);
    let fleet = Fleet::start(&etcd, "drill4", &targets.config(1, &[]), &[Reach::Direct, Reach::Direct, Reach::Linked]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    let c = 2;
    let by_c = reported_by(&fleet, "c");
    assert!(!by_c.is_empty(), "c observes some checks: {:?}", fleet.reports());
    let resyncs = fleet.metric(c, "eightfold_cluster_resyncs_total").expect("eightfold_cluster_resyncs_total");
    let resynced_lines = fleet.instance(c).output().matches("fleet: resynced").count();

    let cut = Instant::now();
    fleet.set_cut(c, true);
    let others = [0, 1];
    let dropped = within(LEASE_TTL + Duration::from_secs(6), || {
        fleet.keys_of("c").is_ok_and(|k| k.is_empty())
            && others.iter().all(|&i| fleet.metric(i, "eightfold_cluster_members") == Some(2.0))
    })
    .map(|_| cut.elapsed());
    eprintln!("drill 4: c cut off; its keys gone and a, b count 2 members after {dropped:?} (c reported {by_c:?})");
    let dropped = dropped.expect("the others drop the cut-off instance");
    assert!(
        dropped <= LEASE_TTL + Duration::from_secs(1),
        "dropped after {} (bound {})",
        secs(dropped),
        secs(LEASE_TTL + Duration::from_secs(1))
    );

    let local = within(FALLBACK_AFTER + Duration::from_secs(6), || {
        fleet.metric(c, "eightfold_cluster_local_mode") == Some(1.0)
    })
    .map(|_| cut.elapsed());
    eprintln!("drill 4: c in local mode after {local:?} (fallback_after {})", secs(FALLBACK_AFTER));
    let local = local.expect("the cut-off instance falls back to local probing");
    assert!(local >= FALLBACK_AFTER - Duration::from_secs(1), "local mode too early: {}", secs(local));
    let bound = FALLBACK_AFTER + ETCD_CALL + Duration::from_secs(1);
    assert!(local <= bound, "local mode after {} (bound {})", secs(local), secs(bound));
    assert_eq!(fleet.instance(c).logged("probing every check locally", 1), 1, "{}", fleet.instance(c).output());
    assert_eq!(
        fleet.metric(c, "eightfold_cluster_assigned_checks"),
        Some(checks.len() as f64),
        "it probes every check"
    );
    // Each side follows a target on its own: c by its own probes, a and b by theirs.
    targets.set_up(0, false);
    let without = Targets::addresses(1..4);
    let took = fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&without));
    assert!(slowest("drill 4: target down while c is cut off", &took) <= follow(1));

    fleet.set_cut(c, false);
    let healed = Instant::now();
    let back = within(Duration::from_secs(10), || {
        fleet.metric(c, "eightfold_cluster_connected") == Some(1.0)
            && fleet.metric(c, "eightfold_cluster_local_mode") == Some(0.0)
            && fleet.members().is_ok_and(|m| m.len() == 3)
    });
    eprintln!("drill 4: healed; c connected, out of local mode and a member again after {back:?}");
    back.expect("the healed instance rejoins");
    fleet.settle(&checks, |_| K, SETTLE);
    let head = fleet.head().unwrap();
    within(Duration::from_secs(5), || fleet.metric(c, "eightfold_cluster_revision").is_some_and(|r| r >= head as f64))
        .unwrap_or_else(|| {
            panic!("c's cache reaches etcd's revision {head}: {:?}", fleet.metrics(c).map(|m| m.cluster()))
        });
    assert_eq!(
        fleet.metric(c, "eightfold_cluster_resyncs_total"),
        Some(resyncs),
        "no revision gap: the watch resumed from its revision, without a full read"
    );
    assert_eq!(fleet.instance(c).output().matches("fleet: resynced").count(), resynced_lines);
    let revision = fleet.cache_matches_etcd(c, &checks).unwrap_or_else(|e| panic!("c's cache against etcd: {e}"));
    // Past two self-checks: none found the cache different from etcd.
    let checked = each(&fleet, "eightfold_cluster_self_checks_total");
    std::thread::sleep(SELF_CHECK_INTERVAL * 2 + Duration::from_millis(500));
    let rechecked = each(&fleet, "eightfold_cluster_self_checks_total");
    assert!(
        rechecked.iter().zip(&checked).all(|(after, before)| after > before),
        "self-checks ran: {checked:?} -> {rechecked:?}"
    );
    assert_eq!(each(&fleet, "eightfold_cluster_self_check_mismatches_total"), vec![Some(0.0); 3]);
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(without.clone()), "instance {}", Fleet::id(i));
    }
    eprintln!("drill 4: c's cache equals etcd at revision {revision}; back in {}", secs(healed.elapsed()));
}

/// 5. An instance dies: its checks are reassigned and probes per target return to k
///    (four instances, so that a reassignment is a choice and not "everyone").
#[test]
fn drill_5_an_instance_dies_its_checks_move_and_probes_return_to_k() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let targets = Targets::start(4);
    let mut fleet = Fleet::start(&etcd, "drill5", &targets.config(1, &[]), &[Reach::Direct; 4]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    within(Duration::from_secs(10), || assigned(&fleet) == Some((4 * K) as f64));
    let before = targets.probe_rates(INTERVAL * 4);
    // The instance that observes the most checks dies.
    let victim = (0..4).max_by_key(|&i| reported_by(&fleet, &Fleet::id(i)).len()).unwrap();
    let id = Fleet::id(victim);
    let its = reported_by(&fleet, &id);
    eprintln!("drill 5: probes per target per interval before {before:?}; {id} observes {its:?}");

    fleet.kill(victim);
    let looped = QueryLoop::start(servers(&fleet));
    let died = Instant::now();
    let live: BTreeSet<String> = fleet.live().into_iter().map(Fleet::id).collect();
    let moved = within(Duration::from_secs(15), || {
        fleet.reports().is_ok_and(|reports| {
            checks.iter().all(|c| reports.get(c).is_some_and(|by| by.len() == K && by.keys().all(|i| live.contains(i))))
        }) && assigned(&fleet) == Some((4 * K) as f64)
    })
    .map(|_| died.elapsed());
    eprintln!("drill 5: {id} killed; every check has {K} live observers again after {moved:?}");
    let moved = moved.expect("the dead instance's checks are reassigned");
    let bound = LEASE_TTL + DEBOUNCE + INTERVAL + Duration::from_secs(2);
    assert!(moved <= bound, "reassigned after {} (bound {})", secs(moved), secs(bound));
    std::thread::sleep(INTERVAL);
    let after = targets.probe_rates(INTERVAL * 5);
    let report = looped.stop();
    eprintln!(
        "drill 5: probes per target per interval after {after:?}; {} queries, {} lost",
        report.sent,
        report.lost.len()
    );
    for rate in &after {
        assert!((K as f64 - 0.75..=K as f64 + 0.75).contains(rate), "probes per target back to k = {K}: {after:?}");
    }
    assert!(report.lost.is_empty() && report.failed.is_empty(), "{report:?}");
}

/// 6. All etcd members down for twice `fallback_after`: every instance keeps answering (no
///    query lost in a bounded loop), follows targets on its own, then all reconverge.
#[test]
fn drill_6_all_etcd_down_every_instance_keeps_answering_then_all_reconverge() {
    let Some(mut etcd) = EtcdCluster::start(3) else { return };
    let targets = Targets::start(3);
    let fleet = Fleet::start(&etcd, "drill6", &targets.config(1, &[]), &[Reach::Direct; 3]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    let looped = QueryLoop::start(servers(&fleet));
    std::thread::sleep(Duration::from_millis(500));

    etcd.kill_all();
    let down = Instant::now();
    let took = fleet.until_each(FALLBACK_AFTER + Duration::from_secs(8), |i, f| {
        f.metric(i, "eightfold_cluster_local_mode") == Some(1.0)
    });
    let local = slowest("drill 6: etcd down, instance in local mode after", &took);
    let bound = FALLBACK_AFTER + ETCD_CALL + Duration::from_secs(1);
    assert!(local <= bound, "local mode after {} (bound {})", secs(local), secs(bound));
    targets.set_up(0, false);
    let without = Targets::addresses([1, 2]);
    let took = fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&without));
    assert!(slowest("drill 6: target down while etcd is down", &took) <= follow(1));
    std::thread::sleep((FALLBACK_AFTER * 2).saturating_sub(down.elapsed()));
    eprintln!("drill 6: etcd back after {}", secs(down.elapsed()));

    etcd.start_stopped();
    let back = Instant::now();
    let converged = fleet.settle(&checks, |_| K, SETTLE);
    let agree = fleet.until_each(Duration::from_secs(5), |i, f| f.answer(i).as_ref() == Some(&without));
    slowest("drill 6: instance answers as the fleet after etcd returned", &agree);
    let report = looped.stop();
    eprintln!(
        "drill 6: reconverged {} after etcd returned; {} queries, {} lost, {} failed",
        secs(converged),
        report.sent,
        report.lost.len(),
        report.failed.len()
    );
    assert!(report.sent > 500, "{report:?}");
    assert!(report.lost.is_empty(), "lost {:?}", report.lost);
    assert!(report.failed.is_empty(), "failed {:?}", report.failed);
    assert!(fleet.reports().unwrap()["t0"].values().all(|r| !r.healthy));
    for i in fleet.live() {
        fleet.cache_matches_etcd(i, &checks).unwrap_or_else(|e| panic!("{}: {e}", Fleet::id(i)));
    }
    targets.set_up(0, true);
    let all = Targets::addresses(0..3);
    let took = fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&all));
    assert!(slowest("drill 6: target back after reconvergence", &took) <= follow(1));
    eprintln!("drill 6: done {} after etcd returned", secs(back.elapsed()));
}

/// 7. Compaction past an absent instance's revision: it resyncs with a full read.
#[test]
fn drill_7_compaction_past_an_absent_instance_s_revision_makes_it_resync() {
    let Some(etcd) = EtcdCluster::start(3) else { return };
    let targets = Targets::start(3);
    let fleet = Fleet::start(&etcd, "drill7", &targets.config(1, &[]), &[Reach::Direct, Reach::Direct, Reach::Linked]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    let c = 2;
    let resyncs = fleet.metric(c, "eightfold_cluster_resyncs_total").expect("eightfold_cluster_resyncs_total");
    let was_at = fleet.metric(c, "eightfold_cluster_revision").expect("eightfold_cluster_revision");

    fleet.set_cut(c, true);
    // While c is away: its keys lapse, and a target goes down (the others' reports change).
    within(LEASE_TTL + Duration::from_secs(6), || fleet.keys_of("c").is_ok_and(|k| k.is_empty()))
        .expect("c's keys lapse");
    targets.set_up(0, false);
    let without = Targets::addresses([1, 2]);
    within(follow(1) * 3, || [0, 1].iter().all(|&i| fleet.answer(i).as_ref() == Some(&without)))
        .expect("a and b follow the target");
    let head = fleet.head().unwrap();
    fleet.store.compact(head).unwrap();
    eprintln!("drill 7: c away at revision {was_at}; etcd compacted at {head}");

    fleet.set_cut(c, false);
    let healed = Instant::now();
    let resynced = within(Duration::from_secs(10), || {
        fleet.metric(c, "eightfold_cluster_resyncs_total").is_some_and(|r| r > resyncs)
            && fleet.metric(c, "eightfold_cluster_connected") == Some(1.0)
    });
    eprintln!("drill 7: c resynced after {resynced:?}");
    resynced.expect("the instance resyncs with a full read");
    // The log line is read from the instance's output by another thread: give it a moment.
    let logged = within(Duration::from_secs(2), || fleet.instance(c).output().contains("fleet: resynced"));
    assert!(logged.is_some(), "{}", fleet.instance(c).output());
    fleet.settle(&checks, |_| K, SETTLE);
    let at = fleet.metric(c, "eightfold_cluster_revision").unwrap();
    assert!(at >= head as f64, "c's cache at {at}, compacted at {head}");
    let revision = fleet.cache_matches_etcd(c, &checks).unwrap_or_else(|e| panic!("c's cache against etcd: {e}"));
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(without.clone()), "instance {}", Fleet::id(i));
    }
    eprintln!("drill 7: c's cache equals etcd at revision {revision}, {} after the heal", secs(healed.elapsed()));
}

/// 8. `push --wait` of a changed record: every instance serves it when push returns; a
///    broken config is refused by push, and the fleet goes on serving the last one.
#[test]
fn drill_8_a_pushed_record_is_served_by_every_instance_and_a_broken_config_is_refused() {
    let Some(etcd) = EtcdCluster::shared() else { return };
    let targets = Targets::start(2);
    let fleet = Fleet::start(&etcd, "drill8", &targets.config(1, &[]), &[Reach::Direct; 3]);
    let checks = targets.checks();
    fleet.settle(&checks, |_| K, SETTLE);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fleet.toml");
    std::fs::write(dir.path().join("example.com.zone"), ZONE).unwrap();
    let push = |body: &str| {
        let cluster =
            format!("[cluster]\nendpoints = {:?}\nname = \"drill8\"\ninstance = \"pusher\"\n", etcd.endpoints());
        std::fs::write(&config, format!("{cluster}{body}")).unwrap();
        let started = Instant::now();
        let out = Command::new(binary())
            .args(["push", "--wait", "--timeout", "20", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text, started.elapsed())
    };

    // Target 1's record answers another address.
    let changed = targets.config(1, &[]).replace("values = [\"10.0.0.2\"]", "values = [\"10.0.1.2\"]");
    assert_ne!(changed, targets.config(1, &[]));
    let (code, out, took) = push(&changed);
    eprintln!("drill 8: push --wait took {}:\n{out}", secs(took));
    assert_eq!(code, 0, "{out}");
    for id in ["a", "b", "c"] {
        assert!(out.contains(&format!("{id} serves ")), "{id} serves it:\n{out}");
    }
    // No polling: when push --wait returns, every instance answers the new record.
    let pushed: BTreeSet<std::net::Ipv4Addr> = ["10.0.0.1", "10.0.1.2"].iter().map(|a| a.parse().unwrap()).collect();
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(pushed.clone()), "instance {} when push returned", Fleet::id(i));
    }
    let current = fleet.keys(None).unwrap().into_iter().find(|(k, _)| k == "config/current").expect("config/current");
    // The pushed checks go on deciding as a fleet.
    fleet.settle(&checks, |_| K, SETTLE);
    targets.set_up(0, false);
    let only: BTreeSet<std::net::Ipv4Addr> = ["10.0.1.2".parse().unwrap()].into();
    let took = fleet.until_each(follow(1) * 3, |i, f| f.answer(i).as_ref() == Some(&only));
    assert!(slowest("drill 8: target down under the pushed config", &took) <= follow(1));

    // A broken config: refused by push itself, nothing stored, nothing changes.
    let broken = changed.replace("10.0.1.2", "10.0.1.300");
    let (code, out, _) = push(&broken);
    eprintln!("drill 8: broken push:\n{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("10.0.1.300") && out.contains("nothing pushed"), "{out}");
    let after = fleet.keys(None).unwrap().into_iter().find(|(k, _)| k == "config/current");
    assert_eq!(after, Some(current), "config/current unchanged");
    for i in fleet.live() {
        assert_eq!(fleet.answer(i), Some(only.clone()), "instance {} after the refused push", Fleet::id(i));
    }
}
