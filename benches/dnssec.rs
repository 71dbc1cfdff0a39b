//! Signing an RRset, what signing a zone costs per RRset: `sign_rrset` by algorithm and set
//! size (A records, the canonical form built in a reused `Scratch`), and `verify_rrset`, the
//! self-check a signer may run after each signature; and `subset_rank`, what an answer pays to
//! find the signature of the members it drew when every subset is signed ahead of time.
//! Run: `cargo bench --bench dnssec`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use eightfold::dnssec::subsets::{mask_of, rank, subsets};
use eightfold::dnssec::{generate, sign_rrset, verify_rrset, Algorithm, RrsigFields, Scratch, SigningKey};
use eightfold::wire::Name;

/// `www.example.com.` in wire form.
const OWNER: &[u8] = b"\x03www\x07example\x03com\x00";

fn key(algorithm: Algorithm) -> SigningKey {
    let zone = Name::from_wire(b"\x07example\x03com\x00").expect("a name");
    generate(&zone, algorithm, true, 1_796_597_242).expect("a new key").key
}

/// `size` A records, 192.0.2.1 and on, given in reverse order so the sort has work.
fn records(size: u8) -> Vec<[u8; 4]> {
    (1..=size).rev().map(|i| [192, 0, 2, i]).collect()
}

fn sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign_rrset");
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let key = key(algorithm);
        for size in [1u8, 8] {
            let records = records(size);
            let rdatas: Vec<&[u8]> = records.iter().map(|r| &r[..]).collect();
            let fields = RrsigFields::new(&key, 1, OWNER, 300, 1_796_593_642, 1_796_683_642);
            let mut scratch = Scratch::new();
            group.bench_function(BenchmarkId::new(algorithm.mnemonic(), size), |b| {
                b.iter(|| sign_rrset(&key, &fields, black_box(OWNER), 1, black_box(&rdatas), &mut scratch))
            });
        }
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_rrset");
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let key = key(algorithm);
        let records = records(8);
        let rdatas: Vec<&[u8]> = records.iter().map(|r| &r[..]).collect();
        let fields = RrsigFields::new(&key, 1, OWNER, 300, 1_796_593_642, 1_796_683_642);
        let mut scratch = Scratch::new();
        let rrsig = sign_rrset(&key, &fields, OWNER, 1, &rdatas, &mut scratch).expect("signed");
        let dnskey = key.dnskey().rdata();
        group.bench_function(BenchmarkId::new(algorithm.mnemonic(), 8), |b| {
            b.iter(|| verify_rrset(dnskey, black_box(&rrsig), OWNER, 1, black_box(&rdatas), &mut scratch))
        });
    }
    group.finish();
}

/// Ranking a drawn subset, 8 of 16 members: `rank` of a mask, and `mask_of` + `rank` from
/// member indices in answer order (what a policy's `Selection` holds). The inputs cycle
/// through 1,024 subsets spread over the whole store, so the branches are not all learnt.
fn subset_rank(c: &mut Criterion) {
    let mut group = c.benchmark_group("subset_rank");
    let masks: Vec<u16> = subsets(16, 8).step_by(12).take(1024).collect();
    assert_eq!(masks.len(), 1024);
    let drawn: Vec<[u32; 8]> = masks
        .iter()
        .map(|&mask| {
            let mut members = [0u32; 8];
            let mut rest = mask;
            for slot in members.iter_mut().rev() {
                *slot = rest.trailing_zeros();
                rest &= rest - 1;
            }
            members
        })
        .collect();
    let mut at = 0;
    group.bench_function("rank", |b| {
        b.iter(|| {
            at = (at + 1) & 1023;
            rank(black_box(masks[at]))
        })
    });
    group.bench_function("mask_of+rank", |b| {
        b.iter(|| {
            at = (at + 1) & 1023;
            rank(mask_of(black_box(&drawn[at])))
        })
    });
    group.finish();
}

/// Every group, in the order criterion runs them.
mod groups {
    use super::*;

    criterion_group!(benches, sign, verify, subset_rank);
}
criterion_main!(groups::benches);
