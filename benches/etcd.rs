//! The fleet's etcd client against a real 3-member etcd cluster on loopback (Debian's
//! `etcd-server`; the test harness starts it, data on the temporary folder's disk, fsync on):
//!
//! 1. write and watch latency: `ETCD_TXNS` (1,000) transactions of one put each, one at a
//!    time through the first member, watched through the second; for each, the time from
//!    sending the put to its transaction's answer (write) and to its watch event (watch).
//! 2. a cold read of every observation of 100,000 checks x 3 observers (`ETCD_CHECKS`): the
//!    keys written first in transactions of 128 puts, then read by a new client in pages of
//!    `ETCD_PAGE` (10,000) keys at one revision.
//!
//! Run: `cargo bench --bench etcd` (about a minute). Prints the figures; asserts nothing.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use eightfold::cluster::{Etcd, EtcdOptions, KeyRange, Op, Store, Txn, WatchMessage};

#[allow(dead_code)]
#[path = "../tests/integration/common/etcd.rs"]
mod harness;
#[path = "../tests/integration/common/ports.rs"]
mod ports;

/// etcd's default cap on the operations of one transaction.
const OPS_PER_TXN: usize = 128;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (txns, checks, page) =
        (number("ETCD_TXNS", 1_000), number("ETCD_CHECKS", 100_000), number("ETCD_PAGE", 10_000));
    let Some(cluster) = harness::EtcdCluster::start(3) else { return };
    let endpoints = cluster.endpoints();
    let writer = Etcd::new(EtcdOptions::new(endpoints.clone())).unwrap();
    let mut rotated = endpoints.clone();
    rotated.rotate_left(1);
    let watcher = Etcd::new(EtcdOptions::new(rotated)).unwrap();

    // 1. Write and watch latency.
    let start = writer.range(&KeyRange::key("/"), None, None).unwrap().revision + 1;
    let mut watch = watcher.watch(&KeyRange::prefix("/bench/latency/"), start).unwrap();
    let (seen, arrivals) = mpsc::channel();
    let expected = txns;
    let watching = std::thread::spawn(move || {
        let mut count = 0;
        while count < expected {
            match watch.next() {
                Some(Ok(WatchMessage::Events { events, .. })) => {
                    let now = Instant::now();
                    for event in events {
                        seen.send((event.kv.mod_revision, now)).unwrap();
                        count += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("watch: {e}"),
                None => panic!("the watch ended"),
            }
        }
    });
    let mut sent = HashMap::new();
    let mut writes = Vec::with_capacity(txns);
    for i in 0..txns {
        let op = Op::Put { key: format!("/bench/latency/{i}").into_bytes(), value: b"healthy".to_vec(), lease: None };
        let began = Instant::now();
        let outcome = writer.txn(&Txn { success: vec![op], ..Txn::default() }).unwrap();
        writes.push(began.elapsed());
        sent.insert(outcome.revision, began);
    }
    watching.join().unwrap();
    let mut watches: Vec<Duration> = arrivals.try_iter().map(|(revision, at)| at - sent[&revision]).collect();
    assert_eq!(watches.len(), txns, "every put seen once");
    report(&format!("write (txn round trip), {txns} txns"), &mut writes);
    report(&format!("put -> watch event on another member, {txns} txns"), &mut watches);

    // 2. A cold read of every observation.
    let value = br#"{"healthy":true,"config":"5f0c3a9e"}"#;
    let keys: Vec<Vec<u8>> = (0..checks)
        .flat_map(|c| (0..3).map(move |i| format!("/eightfold/bench/obs/check-{c:06}/instance-{i}").into_bytes()))
        .collect();
    let began = Instant::now();
    for chunk in keys.chunks(OPS_PER_TXN) {
        let success = chunk.iter().map(|k| Op::Put { key: k.clone(), value: value.to_vec(), lease: None }).collect();
        writer.txn(&Txn { success, ..Txn::default() }).unwrap();
    }
    println!(
        "load: {} keys in {} txns of {OPS_PER_TXN} in {:.1} s",
        keys.len(),
        keys.len().div_ceil(OPS_PER_TXN),
        began.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        let cold = Etcd::new(EtcdOptions::new(endpoints.clone())).unwrap();
        let began = Instant::now();
        let all = cold.range_all(&KeyRange::prefix("/eightfold/bench/obs/"), None, page as u64).unwrap();
        let took = began.elapsed();
        assert_eq!(all.kvs.len(), keys.len());
        println!(
            "cold read {run}: {} keys in pages of {page} in {:.2} s ({:.0} keys/s)",
            all.kvs.len(),
            took.as_secs_f64(),
            all.kvs.len() as f64 / took.as_secs_f64()
        );
    }
}

/// Prints the median, 90th, 99th percentile and the largest of `samples`.
fn report(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!("{what}: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.9), at(0.99), at(1.0));
}
