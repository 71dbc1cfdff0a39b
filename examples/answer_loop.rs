//! Answers one query shape N times in process, for counting instructions per answer:
//! `tools/instruction-counts.sh` runs this under callgrind at two values of N and divides the
//! difference by the extra answers, so set-up (config, catalog, pools) cancels out.
//!
//! Run: `cargo run --release --example answer_loop -- CASE N`, where CASE is one of
//! [`CASES`]; with no arguments it lists the cases.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use eightfold::answer::{Responder, Transport};
use eightfold::config::Config;
use eightfold::health::HealthSnapshot;
use eightfold::view::View;
use eightfold::zone::Catalog;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\nstatic A 192.0.2.7\n";

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(case) = args.first().and_then(|name| CASES.iter().find(|c| c.0 == name)) else {
        eprintln!("usage: answer_loop CASE N; cases:");
        for case in CASES {
            eprintln!("  {}", case.0);
        }
        std::process::exit(2);
    };
    let count: u64 = match args.get(1).map(|n| n.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("answer_loop: N must be a whole number of answers");
            std::process::exit(2);
        }
    };
    let &(_, name, members, minimal, checked, cached) = case;
    let (view, mut responder) = setup(members, minimal, checked);
    let packet = query(name, 1);
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

/// A config whose `mv` name has `members` multivalue A records, each with a TCP health check
/// when `checked`, and the health the server would publish at start.
fn setup(members: usize, minimal: bool, checked: bool) -> (View, Responder) {
    let mut text =
        format!("[server]\nminimal_responses = {minimal}\n[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n");
    for i in 0..members {
        let address = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        text.push_str(&format!(
            "[[record]]\nname = \"mv\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset_id = \"m{i}\"\nvalues = [\"{address}\"]\n"
        ));
        if checked {
            text.push_str(&format!(
                "health_check = \"c{i}\"\n[[health_check]]\nid = \"c{i}\"\ntype = \"TCP\"\nip = \"{address}\"\nport = 80\n"
            ));
        }
    }
    let config = Config::parse(&text, Path::new("loop.toml"), &|_| Ok(ZONE.to_string())).expect("loop config");
    let view = View::new(Arc::new(Catalog::build(&config)), HealthSnapshot::initial(&config.checks));
    (view, Responder::with_seed(1))
}

/// A query packet with EDNS (4096), as resolvers send.
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    q
}
