//! Bounded property tests: the fuzz targets' properties (tests/integration/common/properties.rs),
//! run on random and structured inputs in the normal suite so CI checks them without the fuzzer.

use crate::common::properties::{
    self, check_cache_agrees, check_compression_agrees, check_query, check_selection, randomize_case, TestMember, NAMES,
};
use eightfold::answer::{Responder, Transport};
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RecordType};

const CASES: usize = 20_000;

fn structured(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut name = NAMES[rng.usize(..NAMES.len())].to_string();
    if rng.u8(..4) == 0 {
        name = format!("{}.{name}", ["x", "*", "deep.er", "A-b"][rng.usize(..4)]);
    }
    let qtype = [1u16, 2, 5, 6, 15, 16, 28, 33, 43, 251, 252, 255, 65, 99][rng.usize(..14)];
    let mut m = Message::new();
    m.set_id(rng.u16(..)).set_recursion_desired(rng.bool()).set_checking_disabled(rng.bool());
    let mut query = Query::query(Name::from_ascii(&name).unwrap(), RecordType::from(qtype));
    if rng.u8(..8) == 0 {
        query.set_query_class(DNSClass::CH);
    }
    m.add_query(query);
    if rng.bool() {
        let mut e = Edns::new();
        e.set_max_payload(rng.u16(0..5000));
        e.set_version(if rng.u8(..10) == 0 { 1 } else { 0 });
        e.set_dnssec_ok(rng.bool());
        if rng.bool() {
            e.options_mut().insert(EdnsOption::Unknown(3, Vec::new()));
        }
        if rng.bool() {
            e.options_mut().insert(EdnsOption::Unknown(11, Vec::new()));
        }
        m.set_edns(e);
    }
    if rng.u8(..4) == 0 {
        // Signed: with the fixture's key in time, another secret, another key, or a day off.
        let (name, first, time) = match rng.u8(..8) {
            0 => ("fixture-key.", 1, 0),
            1 => ("other-key.", 0, 0),
            2 => ("fixture-key.", 0, 86_400),
            _ => ("fixture-key.", 0, 0),
        };
        m.finalize(&fixture_signer(name, first), time).unwrap();
    }
    m.to_vec().unwrap()
}

/// A hmac-sha256 signer named `name` whose secret is the bytes `first` to `first` + 31 (the
/// fixture's key when 0).
fn fixture_signer(name: &str, first: u8) -> TSigner {
    let name = Name::from_ascii(name).unwrap();
    TSigner::new((first..first + 32).collect(), TsigAlgorithm::HmacSha256, name, 300).unwrap()
}

#[test]
fn signed_queries_get_answers_the_client_verifies() {
    // Signed with the fixture's key at the responder's time: every answer, whatever the name,
    // type, class or EDNS, and over either transport, carries a TSIG that verifies.
    assert!(properties::FIXTURE_SECRET.starts_with("AAECAwQF"), "the bytes 0 to 31");
    const T: u32 = 1_700_000_000;
    let mut rng = fastrand::Rng::with_seed(0x7516);
    let mut responder = Responder::with_seed(2);
    responder.set_time(T.into());
    let mut out = vec![0u8; 65_535];
    for case in 0..2_000 {
        let mut m = Message::from_vec(&structured(&mut rng)).unwrap();
        m.take_signature();
        let verify = m.finalize(&fixture_signer("fixture-key.", 0), T).unwrap();
        let packet = m.to_vec().unwrap();
        let transport = if rng.bool() { Transport::Udp } else { Transport::Tcp };
        let outcome = responder.respond(properties::fixture(), &packet, transport, &mut out);
        if let Err(e) = verify.expect("a verifier")(&out[..outcome.len]) {
            panic!(
                "case {case}: {e}
packet: {packet:02x?}
answer: {:02x?}",
                &out[..outcome.len]
            );
        }
        if let Err(e) = check_query(&mut responder, &packet, transport) {
            panic!(
                "case {case}: {e}
packet: {packet:02x?}"
            );
        }
    }
}

#[test]
fn every_response_parses_and_echoes_the_question() {
    let mut rng = fastrand::Rng::with_seed(0x8f01d);
    let mut responder = Responder::with_seed(1);
    for case in 0..CASES {
        let mut packet = structured(&mut rng);
        match case % 4 {
            0 => {}
            1 => {
                let at = rng.usize(..packet.len());
                packet[at] = rng.u8(..);
            }
            2 => packet.truncate(rng.usize(..=packet.len())),
            _ => packet = (0..rng.usize(..200)).map(|_| rng.u8(..)).collect(),
        }
        let transport = if rng.bool() { Transport::Udp } else { Transport::Tcp };
        if let Err(e) = check_query(&mut responder, &packet, transport) {
            panic!("case {case}: {e}\npacket: {packet:02x?}");
        }
    }
}

#[test]
fn compressed_answers_hold_the_records_of_answers_written_in_full() {
    let mut rng = fastrand::Rng::with_seed(0xc0_4d);
    for case in 0..CASES / 2 {
        let mut packet = if case % 8 == 0 { drawn(&mut rng) } else { structured(&mut rng) };
        if case % 3 == 0 {
            randomize_case(&mut packet, &mut rng);
        }
        if case % 16 == 0 {
            let at = rng.usize(..packet.len());
            packet[at] = rng.u8(..);
        }
        let transport = if rng.bool() { Transport::Udp } else { Transport::Tcp };
        if let Err(e) = check_compression_agrees(&packet, transport, case as u64) {
            panic!(
                "case {case} over {transport:?}: {e}
packet: {packet:02x?}"
            );
        }
    }
}

#[test]
fn selection_matches_the_oracle() {
    let mut rng = fastrand::Rng::with_seed(0x5e1ec7);
    for case in 0..CASES {
        let n = rng.usize(..if case % 10 == 0 { 200 } else { 24 });
        let checks = rng.usize(1..=n.max(1));
        let members: Vec<TestMember> = (0..n)
            .map(|_| TestMember {
                check: (rng.u8(..4) != 0).then(|| rng.u32(..checks as u32)),
                weight: if rng.bool() { 0 } else { rng.u8(..) },
                primary: rng.bool(),
            })
            .collect();
        let healthy_share = rng.u8(..=100);
        let states: Vec<bool> = (0..checks).map(|_| rng.u8(..100) < healthy_share).collect();
        let max = rng.usize(1..=16);
        if let Err(e) = check_selection(&members, &states, max, rng.u64(..)) {
            panic!("case {case}: {e}\nmembers {members:?}\nstates {states:?}\nmax {max}");
        }
    }
}

/// A query whose answer is drawn at random: multivalue A or AAAA, or weighted A.
fn drawn(rng: &mut fastrand::Rng) -> Vec<u8> {
    let (name, qtype) = [
        ("mv", RecordType::A),
        ("mv", RecordType::AAAA),
        ("small", RecordType::A),
        ("small", RecordType::AAAA),
        ("weighted", RecordType::A),
    ][rng.usize(..5)];
    let mut m = Message::new();
    m.set_id(rng.u16(..)).set_recursion_desired(rng.bool());
    m.add_query(Query::query(Name::from_ascii(format!("{name}.example.com.")).unwrap(), qtype));
    if rng.bool() {
        let mut e = Edns::new();
        e.set_max_payload(rng.u16(512..2000));
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

#[test]
fn the_answer_cache_answers_as_the_uncached_path_does() {
    let mut rng = fastrand::Rng::with_seed(0xcac4e);
    // 150 distinct queries asked again and again, some of them mangled, so that
    // entries are admitted, hit, evicted by collisions and left behind by new zones and health.
    let pool: Vec<Vec<u8>> = (0..150)
        .map(|i| {
            let mut packet = if i % 4 == 0 { drawn(&mut rng) } else { structured(&mut rng) };
            if i % 10 == 0 {
                let at = rng.usize(..packet.len());
                packet[at] = rng.u8(..);
            }
            packet
        })
        .collect();
    let mut hits = 0;
    for (round, switch_every) in [(0u64, 1_000usize), (1, 97), (2, 5_000)] {
        let packets: Vec<Vec<u8>> = (0..CASES / 2)
            .map(|_| {
                let mut packet = pool[rng.usize(..pool.len())].clone();
                // A fresh ID each time, as clients send, and a third of the time the name
                // in random case (0x20), as some resolvers send.
                packet[..2].copy_from_slice(&rng.u16(..).to_be_bytes());
                if rng.u8(..3) == 0 {
                    randomize_case(&mut packet, &mut rng);
                }
                packet
            })
            .collect();
        hits += check_cache_agrees(&packets, switch_every, round).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(hits > (CASES as u64) / 2, "only {hits} answers came from the cache");
}

#[test]
fn cached_multivalue_answers_are_drawn_again_each_time() {
    // The same multivalue query: every answer after the second is a cache hit, each is the
    // uncached path's answer for the same RNG state, and they differ from one another.
    let mut m = Message::new();
    m.add_query(Query::query(Name::from_ascii("mv.example.com.").unwrap(), RecordType::A));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    let packet = m.to_vec().unwrap();
    let packets = vec![packet.clone(); 500];
    let hits = check_cache_agrees(&packets, usize::MAX, 9).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hits, 498);
    let view = properties::fixture();
    let mut responder = Responder::with_seed(3);
    responder.set_cache(16);
    let mut answers = std::collections::HashSet::new();
    let mut out = vec![0u8; 4096];
    for _ in 0..50 {
        let outcome = responder.respond(view, &packet, Transport::Udp, &mut out);
        answers.insert(out[..outcome.len].to_vec());
    }
    assert_eq!(responder.cache_hits(), 48);
    assert!(answers.len() > 40, "{} distinct answers in 50", answers.len());
}

#[test]
fn names_in_random_case_share_cache_entries_and_keep_their_spelling() {
    // A resolver using 0x20 spells every query differently: after two misses each is a hit,
    // and each is the uncached answer, its question spelled as asked.
    let mut rng = fastrand::Rng::with_seed(0x20);
    let mut packets = Vec::new();
    for name in ["mv.example.com.", "www.example.com.", "nothing.example.com.", "example.org."] {
        let mut m = Message::new();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        let packet = m.to_vec().unwrap();
        for i in 0..100 {
            let mut spelled = packet.clone();
            // Every fifth as the zone spells it, which the exact lookup finds.
            if i % 5 != 2 {
                randomize_case(&mut spelled, &mut rng);
            }
            packets.push(spelled);
        }
    }
    assert!(packets.iter().any(|p| p[13].is_ascii_uppercase()) && packets.iter().any(|p| p[13].is_ascii_lowercase()));
    let hits = check_cache_agrees(&packets, usize::MAX, 5).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hits, 4 * 98);
}
