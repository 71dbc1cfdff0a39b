//! The in-process answer path: parse, lookup, select, encode, for the three query shapes an
//! edge server sees most (static A, a 16-member multivalue name, NXDOMAIN) and for answers
//! with names in their record data (apex NS, MX, a referral), and multivalue
//! selection by set size (members health-checked, as in production; also with most of them
//! down), the same answers from the answer cache, and with the CPU caches evicted first, the
//! answer path among 10,000 zones, config validation by size, and the host's speed in the
//! same run (`host_clock`).
//! Run: `cargo bench --bench answer`.

mod fixture;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eightfold::answer::{Responder, Transport};
use eightfold::config::Config;
use eightfold::health::HealthSnapshot;
use eightfold::view::View;
use eightfold::zone::Catalog;
use fixture::{query, setup, setup_names};

/// Dependent additions timed per [`host_clock`] iteration.
const CLOCK_ADDS: u64 = 1000;

/// The host's speed in this run, to read the nanosecond figures against: a chain of
/// `CLOCK_ADDS` additions, each waiting on the one before, takes one core cycle apiece on
/// current x86 and Arm cores, so the throughput criterion prints (Gelem/s) is the clock the
/// core ran at, in GHz. This shared host's effective clock moves by 2x from one hour to the
/// next (docs/performance.md); the answer figures' instruction counts do not.
fn host_clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("host_clock");
    group.throughput(Throughput::Elements(CLOCK_ADDS));
    group.bench_function("dependent_add", |b| b.iter(|| dependent_adds(black_box(1))));
    group.finish();
}

/// `CLOCK_ADDS` additions to `x`, one after another.
#[inline(never)]
fn dependent_adds(mut x: u64) -> u64 {
    for _ in 0..CLOCK_ADDS {
        // SAFETY: one register addition, no memory, no flags anyone reads.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("add {0}, 1", inout(reg) x, options(pure, nomem, nostack));
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: one register addition, no memory, no flags anyone reads.
        unsafe {
            std::arch::asm!("add {0}, {0}, #1", inout(reg) x, options(pure, nomem, nostack));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            x = black_box(x + 1);
        }
    }
    x
}

fn answer_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer_path");
    group.throughput(Throughput::Elements(1));
    for minimal in [false, true] {
        let label = if minimal { "minimal" } else { "with_authority_ns" };
        for (name, packet, checked) in [
            ("static_a", query("static.example.com", 1), true),
            ("multivalue_8_of_16", query("mv.example.com", 1), true),
            ("multivalue_8_of_16_unchecked", query("mv.example.com", 1), false),
            ("nxdomain", query("nothing.example.com", 1), true),
        ] {
            let (view, mut responder) = setup(16, minimal, checked);
            let mut out = vec![0u8; 4096];
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| responder.respond(&view, black_box(&packet), Transport::Udp, &mut out).len)
            });
        }
    }
    group.finish();
}

/// Answers with names in their RDATA (compressed as they are written): the apex NS set with
/// its addresses, an MX with its address, a referral with glue.
fn answer_path_names(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer_path_names");
    group.throughput(Throughput::Elements(1));
    for (name, packet) in [
        ("apex_ns", query("example.com", 2)),
        ("mx", query("example.com", 15)),
        ("referral", query("www.sub.example.com", 1)),
    ] {
        let (view, mut responder) = setup_names(true);
        let mut out = vec![0u8; 4096];
        group.bench_function(BenchmarkId::new(name, "minimal"), |b| {
            b.iter(|| responder.respond(&view, black_box(&packet), Transport::Udp, &mut out).len)
        });
    }
    group.finish();
}

/// The same answers from a responder with the answer cache the UDP workers use, asked the
/// same question again and again: every answer after the second is a hit (for multivalue:
/// the cached response with 8 of the 16 rows drawn again). Answered as the workers answer,
/// over the query in its buffer; each iteration first copies the query there, as a receive
/// would.
fn answer_path_cached(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer_path_cached");
    group.throughput(Throughput::Elements(1));
    for (name, packet) in [
        ("static_a", query("static.example.com", 1)),
        ("multivalue_8_of_16", query("mv.example.com", 1)),
        ("nxdomain", query("nothing.example.com", 1)),
        // As resolvers using 0x20 spell names: the exact lookup misses, the folded one hits.
        ("static_a_0x20", query("StAtIc.ExAmPlE.cOm", 1)),
        ("multivalue_8_of_16_0x20", query("mV.eXaMpLe.CoM", 1)),
    ] {
        let (view, mut responder) = setup(16, true, true);
        responder.set_cache(eightfold::limits::ANSWER_CACHE.default);
        let (mut buf, mut scratch) = (vec![0u8; 4096], vec![0u8; 4096]);
        let mut answered = 0u64;
        group.bench_function(BenchmarkId::new(name, "minimal"), |b| {
            b.iter(|| {
                answered += 1;
                buf[..packet.len()].copy_from_slice(black_box(&packet));
                responder.respond_in_place(&view, &mut buf, packet.len(), &mut scratch).len
            })
        });
        // Every answer after the first two is a hit (unless a filter skipped this one).
        assert!(answered < 3 || responder.cache_hits() >= answered - 2, "{name}: the cache missed");
    }
    group.finish();
}

/// Bytes written between answers in [`answer_after_eviction`]: more than a core's L2 cache
/// here (512 KiB to 1 MiB on current x86 server cores), so each answer starts as a worker's
/// first answer after a wake-up does, with its code and data out of the nearest caches.
const EVICT_BYTES: usize = 2 << 20;

/// One answer at a time with the caches evicted before each, timed alone. `clock_only` times
/// nothing between the two clock reads: the reference to subtract. This is where the UDP
/// worker's user time goes (docs/performance.md); warm-cache figures
/// are in `answer_path`. Few, slow iterations: each one writes `EVICT_BYTES` first.
fn answer_after_eviction(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer_after_eviction");
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(5));
    group.measurement_time(Duration::from_millis(10));
    let mut junk = vec![0u64; EVICT_BYTES / 8];
    let mut evict = move |round: u64| {
        // One write per cache line, different every round so it can't be skipped.
        for (i, word) in junk.iter_mut().enumerate().step_by(8) {
            *word = word.wrapping_add(i as u64 ^ round);
        }
        black_box(&junk);
    };
    for (name, packet) in [
        ("clock_only", None),
        ("static_a", Some(query("static.example.com", 1))),
        ("multivalue_8_of_16", Some(query("mv.example.com", 1))),
        ("nxdomain", Some(query("nothing.example.com", 1))),
    ] {
        let (view, mut responder) = setup(16, true, true);
        let mut out = vec![0u8; 4096];
        group.bench_function(BenchmarkId::new(name, "minimal"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for round in 0..iters {
                    evict(round);
                    let start = Instant::now();
                    if let Some(packet) = &packet {
                        black_box(responder.respond(&view, black_box(packet), Transport::Udp, &mut out).len);
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

fn multivalue_set_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("multivalue_set_size");
    group.throughput(Throughput::Elements(1));
    for members in [16, 100, 1000] {
        let (view, mut responder) = setup(members, true, true);
        let packet = query("mv.example.com", 1);
        let mut out = vec![0u8; 4096];
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| responder.respond(&view, black_box(&packet), Transport::Udp, &mut out).len)
        });
    }
    // An outage: 900 of 1,000 members down. Answers draw from the published healthy pool,
    // so the cost stays that of a healthy set (a health scan would read all 1,000).
    let (view, mut responder) = setup(1000, true, true);
    let health = HealthSnapshot::from_states((0..1000).map(|i| i % 10 == 0).collect());
    let view = View::new(view.catalog().clone(), health);
    let packet = query("mv.example.com", 1);
    let mut out = vec![0u8; 4096];
    group.bench_function("1000_with_900_down", |b| {
        b.iter(|| responder.respond(&view, black_box(&packet), Transport::Udp, &mut out).len)
    });
    group.finish();
}

/// Config text for `zones` zones, `zone0.example.` up, and a `www` A record in each zone of
/// `with_www`.
fn zones_text(zones: usize, with_www: std::ops::Range<usize>) -> String {
    let mut text = String::new();
    for i in 0..zones {
        text.push_str(&format!(
            "[[zone]]\norigin = \"zone{i}.example.\"\nsoa = \"ns1 host 1 7200 900 1209600 60\"\nns = [\"ns1\"]\n"
        ));
    }
    for i in with_www {
        text.push_str(&format!(
            "[[record]]\nname = \"www.zone{i}.example.\"\ntype = \"A\"\nvalues = [\"192.0.2.7\"]\n"
        ));
    }
    text
}

/// The answer path among many zones: a static A in the last of `zones` zones, and a name in
/// none of them (REFUSED). A catalog finds a name's zone by a hash probe per origin depth, so
/// 10,000 zones should cost what one does (comparing every origin took 59 us a query there).
fn zone_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("zone_count");
    group.throughput(Throughput::Elements(1));
    for zones in [1usize, 10_000] {
        let text = format!("[server]\nminimal_responses = true\n{}", zones_text(zones, zones - 1..zones));
        let config = Config::parse(&text, Path::new("bench.toml"), &|_| Ok(String::new())).expect("bench config");
        let view = View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        );
        let mut responder = Responder::with_seed(1);
        let mut out = vec![0u8; 4096];
        for (name, packet) in [
            ("static_a_last_zone", query(&format!("www.zone{}.example", zones - 1), 1)),
            ("refused", query("www.example.org", 1)),
        ] {
            group.bench_with_input(BenchmarkId::new(name, zones), &packet, |b, packet| {
                b.iter(|| responder.respond(&view, black_box(packet), Transport::Udp, &mut out).len)
            });
        }
    }
    group.finish();
}

/// Config validation by size, in records and in zones: linear growth expected (a line-number
/// lookup that rescanned the file per record once made 20,000 records take minutes).
fn config_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("config_parse");
    group.sample_size(10);
    for records in [1_000usize, 10_000] {
        let mut text = String::from("[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 h 1 2 3 4 5\"\nns = [\"ns1\"]\n");
        for i in 0..records {
            text.push_str(&format!(
                "[[record]]\nname = \"h{i}\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"s{i}\"\nvalues = [\"10.0.{}.{}\"]\n",
                (i >> 8) & 255,
                i & 255
            ));
        }
        group.throughput(Throughput::Elements(records as u64));
        group.bench_with_input(BenchmarkId::from_parameter(records), &text, |b, text| {
            b.iter(|| Config::parse(black_box(text), Path::new("bench.toml"), &|_| Ok(String::new())).is_ok())
        });
    }
    // One zone per record, as a hosting provider's config looks: also linear (a scan of every
    // zone per zone and per record took 3.6 s for 10,000 of each).
    let zones = 10_000usize;
    let text = zones_text(zones, 0..zones);
    group.throughput(Throughput::Elements(zones as u64));
    group.bench_with_input(BenchmarkId::new("zones", zones), &text, |b, text| {
        b.iter(|| Config::parse(black_box(text), Path::new("bench.toml"), &|_| Ok(String::new())).is_ok())
    });
    group.finish();
}

/// Every group, in the order criterion runs them.
mod groups {
    use super::*;

    criterion_group!(
        benches,
        host_clock,
        answer_path,
        answer_path_names,
        answer_path_cached,
        answer_after_eviction,
        multivalue_set_size,
        zone_count,
        config_parse
    );
}
criterion_main!(groups::benches);
