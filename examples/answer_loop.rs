//! Answers one query shape N times in process, for counting instructions per answer:
//! `tools/instruction-counts.sh` runs this under callgrind at two values of N and divides the
//! difference by the extra answers, so set-up (config, catalog, pools) cancels out.
//!
//! Run: `cargo run --release --example answer_loop -- CASE N`, where CASE is one of
//! [`CASES`]; with no arguments it lists the cases.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use std::hint::black_box;

use eightfold::answer::Transport;
use fixture::{query, setup, setup_names};

/// Every case: name, query name, members in the `mv` set, minimal responses, checked
/// members, answered through the answer cache.
const CASES: &[(&str, &str, usize, bool, bool, bool)] = &[
    ("multivalue", "mv.example.com", 16, true, true, false),
    ("multivalue_ns", "mv.example.com", 16, false, true, false),
    ("multivalue_unchecked", "mv.example.com", 16, true, false, false),
    ("multivalue_1000", "mv.example.com", 1000, true, true, false),
    ("static", "static.example.com", 16, true, true, false),
    ("static_ns", "static.example.com", 16, false, true, false),
    ("nxdomain", "nothing.example.com", 16, true, true, false),
    ("nxdomain_ns", "nothing.example.com", 16, false, true, false),
    ("cached_multivalue", "mv.example.com", 16, true, true, true),
    ("cached_static", "static.example.com", 16, true, true, true),
    ("cached_nxdomain", "nothing.example.com", 16, true, true, true),
];

/// Answers with names in their RDATA, from the zone with [`fixture::NAMES`]: name, query name
/// and type (minimal responses, uncached).
const NAME_CASES: &[(&str, &str, u16)] =
    &[("apex_ns", "example.com", 2), ("mx", "example.com", 15), ("referral", "www.sub.example.com", 1)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name_case = args.first().and_then(|name| NAME_CASES.iter().find(|c| c.0 == name));
    let case = args.first().and_then(|name| CASES.iter().find(|c| c.0 == name));
    if case.is_none() && name_case.is_none() {
        eprintln!("usage: answer_loop CASE N; cases:");
        for name in CASES.iter().map(|c| c.0).chain(NAME_CASES.iter().map(|c| c.0)) {
            eprintln!("  {name}");
        }
        std::process::exit(2);
    }
    let count: u64 = match args.get(1).map(|n| n.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("answer_loop: N must be a whole number of answers");
            std::process::exit(2);
        }
    };
    let ((view, mut responder), packet, cached) = match (case, name_case) {
        (Some(&(_, name, members, minimal, checked, cached)), _) => {
            (setup(members, minimal, checked), query(name, 1), cached)
        }
        (None, Some(&(_, name, qtype))) => (setup_names(true), query(name, qtype), false),
        (None, None) => unreachable!("checked above"),
    };
    let mut total = 0usize;
    if cached {
        responder.set_cache(eightfold::limits::ANSWER_CACHE.default);
        let (mut buf, mut scratch) = (vec![0u8; 4096], vec![0u8; 4096]);
        for _ in 0..count {
            buf[..packet.len()].copy_from_slice(black_box(&packet));
            total += responder.respond_in_place(&view, &mut buf, packet.len(), &mut scratch).len;
        }
    } else {
        let mut out = vec![0u8; 4096];
        for _ in 0..count {
            total += responder.respond(&view, black_box(&packet), Transport::Udp, &mut out).len;
        }
    }
    println!("{count} answers, {total} bytes");
}
