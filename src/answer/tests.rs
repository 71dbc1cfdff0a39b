//! The answer path end to end in process: packets in, responses parsed back with hickory.

use std::path::Path;

use hickory_proto::op::{Edns, Message, MessageType, Query as HQuery, ResponseCode};
use hickory_proto::rr::{Name as HName, RData, RecordType};

use super::*;
use crate::config::Config;
use crate::health::HealthSnapshot;
use crate::zone::{Catalog, Lookup};
use std::sync::Arc;

const CONFIG: &str = r#"
[server]
max_answers = 8
[[zone]]
origin = "example.com."
file = "z.zone"
[[health_check]]
id = "down"
type = "TCP"
ip = "192.0.2.1"
port = 80
inverted = true
"#;

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.1
mx MX 10 mail
mail A 192.0.2.25
alias CNAME www
loop1 CNAME loop2
loop2 CNAME loop1
*.wild TXT \"w\"
a.b.ent A 192.0.2.9
sub NS ns.sub
ns.sub A 192.0.2.10
big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

fn records(extra: &str) -> String {
    let mut text = CONFIG.to_string();
    text.push_str(extra);
    text
}

fn setup(extra: &str) -> (View, Responder) {
    let read = |_: &Path| Ok(ZONE.to_string());
    let config = Config::parse(&records(extra), Path::new("t.toml"), &read).unwrap();
    let health = HealthSnapshot::initial(&config.checks);
    (View::new(Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")), health), Responder::with_seed(7))
}

fn ask(r: &mut Responder, v: &View, name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut q = Message::new();
    q.set_id(0xBEEF).set_recursion_desired(true).add_query(HQuery::query(HName::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        q.set_edns(e);
    }
    let mut out = vec![0u8; 65535];
    let outcome = r.respond(v, &q.to_vec().unwrap(), Transport::Udp, &mut out);
    assert!(outcome.len > 0);
    let m = Message::from_vec(&out[..outcome.len]).unwrap();
    assert_eq!(m.id(), 0xBEEF);
    assert_eq!(m.message_type(), MessageType::Response);
    assert!(m.recursion_desired());
    assert!(!m.recursion_available());
    m
}

#[test]
fn positive_answer_keeps_question_case_and_adds_ns() {
    let (v, mut r) = setup("");
    let m = ask(&mut r, &v, "WwW.Example.COM.", RecordType::A, None);
    assert!(m.authoritative());
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.queries()[0].name().to_ascii(), "WwW.Example.COM.");
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.name_servers().len(), 1);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::NS);
}

#[test]
fn nxdomain_nodata_and_empty_non_terminal() {
    let (v, mut r) = setup("");
    let m = ask(&mut r, &v, "nope.example.com.", RecordType::A, None);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    // min(SOA TTL 300, minimum 60)
    assert_eq!(m.name_servers()[0].ttl(), 60);
    let m = ask(&mut r, &v, "www.example.com.", RecordType::AAAA, None);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    let m = ask(&mut r, &v, "b.ent.example.com.", RecordType::A, None);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
}

#[test]
fn t9_multivalue_name_other_type_is_nodata() {
    let (v, mut r) = setup(
        "[[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"1\"\nvalues = [\"192.0.2.1\"]\n",
    );
    let m = ask(&mut r, &v, "mv.example.com.", RecordType::AAAA, None);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
}

#[test]
fn cname_followed_and_loops_bounded() {
    let (v, mut r) = setup("");
    let m = ask(&mut r, &v, "alias.example.com.", RecordType::A, None);
    assert_eq!(m.answers().len(), 2);
    assert_eq!(m.answers()[0].record_type(), RecordType::CNAME);
    assert_eq!(m.answers()[1].name().to_ascii(), "www.example.com.");
    let m = ask(&mut r, &v, "loop1.example.com.", RecordType::A, None);
    assert_eq!(m.answers().len(), MAX_CNAME_CHAIN);
}

#[test]
fn wildcard_referral_and_additional() {
    let (v, mut r) = setup("");
    let m = ask(&mut r, &v, "x.y.wild.example.com.", RecordType::TXT, None);
    assert_eq!(m.answers()[0].name().to_ascii(), "x.y.wild.example.com.");
    let m = ask(&mut r, &v, "host.sub.example.com.", RecordType::A, None);
    assert!(!m.authoritative());
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers()[0].name().to_ascii(), "sub.example.com.");
    assert_eq!(m.additionals()[0].name().to_ascii(), "ns.sub.example.com.");
    let m = ask(&mut r, &v, "sub.example.com.", RecordType::DS, None);
    assert!(m.authoritative());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    let m = ask(&mut r, &v, "mx.example.com.", RecordType::MX, None);
    assert_eq!(m.additionals().len(), 1);
    assert_eq!(m.additionals()[0].name().to_ascii(), "mail.example.com.");
}

#[test]
fn truncation_and_edns() {
    let (v, mut r) = setup("");
    let m = ask(&mut r, &v, "big.example.com.", RecordType::TXT, None);
    assert!(m.truncated());
    assert!(m.answers().is_empty());
    assert!(m.extensions().as_ref().is_none());
    let m = ask(&mut r, &v, "big.example.com.", RecordType::TXT, Some(4096));
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 6);
    assert_eq!(m.extensions().as_ref().unwrap().max_payload(), 1232);
}

#[test]
fn refused_outside_zones_and_for_transfers() {
    let (v, mut r) = setup("");
    assert_eq!(ask(&mut r, &v, "example.org.", RecordType::A, None).response_code(), ResponseCode::Refused);
    assert_eq!(ask(&mut r, &v, "example.com.", RecordType::AXFR, None).response_code(), ResponseCode::Refused);
    let m = ask(&mut r, &v, "example.com.", RecordType::ANY, None);
    assert_eq!(m.answers().len(), 1);
}

#[test]
fn fail_open_and_unhealthy_members() {
    let extra = "[[record]]\nname = \"fo\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"1\"\nvalues = [\"192.0.2.1\"]\nhealth_check = \"down\"\n\
                 [[record]]\nname = \"fo\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"2\"\nvalues = [\"192.0.2.2\"]\n";
    let (v, mut r) = setup(extra);
    for _ in 0..20 {
        let m = ask(&mut r, &v, "fo.example.com.", RecordType::A, None);
        assert_eq!(m.answers().len(), 1);
        assert_eq!(m.answers()[0].data(), &RData::A("192.0.2.2".parse().unwrap()));
    }
}

#[test]
fn garbage_never_panics() {
    let (v, mut r) = setup("");
    let mut rng = fastrand::Rng::with_seed(1);
    let mut out = vec![0u8; 65535];
    let mut packet = Vec::new();
    for _ in 0..20_000 {
        packet.clear();
        let len = rng.usize(0..80);
        packet.extend((0..len).map(|_| rng.u8(..)));
        if len > 5 && rng.bool() {
            packet[2] &= 0x7f;
            packet[4] = 0;
            packet[5] = 1;
        }
        let _ = r.respond(&v, &packet, Transport::Udp, &mut out);
        let _ = r.respond(&v, &packet, Transport::Tcp, &mut out);
    }
}

/// Multivalue records `name` with `values`, the first `down` of them behind the failing check.
fn multivalue_records(name: &str, rtype: &str, values: &[String], down: usize, extra: &str) -> String {
    let mut text = String::new();
    for (i, value) in values.iter().enumerate() {
        let check = if i < down { "health_check = \"down\"\n" } else { "" };
        text.push_str(&format!(
            "[[record]]\nname = \"{name}\"\ntype = \"{rtype}\"\nrouting = \"multivalue\"\nset_id = \"{i}\"\nvalues = [\"{value}\"]\n{check}{extra}"
        ));
    }
    text
}

/// The answer's values as text, sorted.
fn values(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m.answers().iter().map(|r| r.data().to_string()).collect();
    v.sort();
    v
}

#[test]
fn healthy_pools_answer_as_a_health_scan_does() {
    let v4: Vec<String> = (0..12).map(|i| format!("10.0.0.{i}")).collect();
    let v6: Vec<String> = (0..10).map(|i| format!("2001:db8::{i}")).collect();
    let dead: Vec<String> = (0..3).map(|i| format!("10.1.0.{i}")).collect();
    let hundred: Vec<String> = (0..100).map(|i| format!("10.2.0.{i}")).collect();
    let dead_hundred: Vec<String> = (0..100).map(|i| format!("10.3.0.{i}")).collect();
    let mut extra = multivalue_records("mix", "A", &v4, 6, "");
    extra += &multivalue_records("six", "AAAA", &v6, 4, "");
    extra += &multivalue_records("dead", "A", &dead, 3, "");
    extra += &multivalue_records("many", "A", &hundred, 40, "");
    extra += &multivalue_records("few", "A", &hundred, 97, "");
    extra += &multivalue_records("manydead", "A", &dead_hundred, 100, "");
    extra += &multivalue_records("nd", "A", &dead, 3, "when_all_unhealthy = \"nodata\"\n");
    extra += &multivalue_records(
        "fb",
        "A",
        &dead,
        3,
        "when_all_unhealthy = \"fallback\"\nfallback_values = [\"192.0.2.99\"]\n",
    );
    let (v, mut r) = setup(&extra);
    let (other, _) = setup(&extra);
    let c = v.catalog().clone();
    let scan = View::unpooled(c.clone(), v.health().clone());
    let pooled = View::new(c.clone(), v.health().clone());
    // Pools made for another catalog must be ignored, not misread.
    let foreign = View::with_pools_of(c.clone(), v.health().clone(), other.catalog());
    let zone = &c.zones()[0];
    let (mix, _) = LowerName::parse(b"\x03mix\x07example\x03com\x00", 0).unwrap();
    let Lookup::Exact(node) = zone.lookup(&mix, false) else { panic!("mix not found") };
    let set = zone.rrset(zone.node(node), rtype::A).unwrap();
    let listed = pooled.pool(set).map(|p| p.indices());
    assert_eq!(listed, Some(vec![6, 7, 8, 9, 10, 11]), "the healthy members, listed");
    assert!(foreign.pool(set).is_none());
    assert!(scan.pool(set).is_none());
    let (many, _) = LowerName::parse(b"\x04many\x07example\x03com\x00", 0).unwrap();
    let Lookup::Exact(node) = zone.lookup(&many, false) else { panic!("many not found") };
    let set = zone.rrset(zone.node(node), rtype::A).unwrap();
    let listed = pooled.pool(set).map(|p| p.indices());
    assert_eq!(listed, Some((40..100).collect()), "a large set's healthy members, listed");
    for (label, h) in [("scan", &scan), ("pools", &pooled), ("foreign pools", &foreign)] {
        for _ in 0..30 {
            let m = ask(&mut r, h, "mix.example.com.", RecordType::A, None);
            let mut healthy: Vec<String> = v4[6..].to_vec();
            healthy.sort();
            assert_eq!(values(&m), healthy, "{label}: only the 6 healthy, never padded");
            let m = ask(&mut r, h, "six.example.com.", RecordType::AAAA, None);
            assert_eq!(m.answers().len(), 6, "{label}");
            assert!(values(&m).iter().all(|v| v6[4..].contains(v)), "{label}: {:?}", values(&m));
            let m = ask(&mut r, h, "many.example.com.", RecordType::A, None);
            assert_eq!(m.answers().len(), 8, "{label}");
            let mut distinct = values(&m);
            distinct.dedup();
            assert_eq!(distinct.len(), 8, "{label}: no repeats");
            assert!(distinct.iter().all(|v| hundred[40..].contains(v)), "{label}: {distinct:?}");
            let m = ask(&mut r, h, "few.example.com.", RecordType::A, None);
            let mut healthy: Vec<String> = hundred[97..].to_vec();
            healthy.sort();
            assert_eq!(values(&m), healthy, "{label}: the 3 healthy of 100");
            let m = ask(&mut r, h, "manydead.example.com.", RecordType::A, None);
            let mut distinct = values(&m);
            distinct.dedup();
            assert_eq!(distinct.len(), 8, "{label}: fail-open, 8 distinct of 100");
            let m = ask(&mut r, h, "dead.example.com.", RecordType::A, None);
            assert_eq!(values(&m), dead, "{label}: fail-open answers every member");
            let m = ask(&mut r, h, "nd.example.com.", RecordType::A, None);
            assert!(m.answers().is_empty(), "{label}");
            assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA, "{label}");
            let m = ask(&mut r, h, "fb.example.com.", RecordType::A, None);
            assert_eq!(values(&m), ["192.0.2.99"], "{label}");
        }
    }
}

#[test]
fn authority_ns_points_at_the_apex_from_any_depth() {
    let zone = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ 600 NS ns1\n@ 120 NS ns2.example.net.\nns1 A 192.0.2.53\na.b.c A 192.0.2.9\n";
    let read = |_: &Path| Ok(zone.to_string());
    let config = Config::parse(CONFIG, Path::new("t.toml"), &read).unwrap();
    let (v, mut r) = (
        View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        ),
        Responder::with_seed(3),
    );
    for name in ["a.b.c.example.com.", "ns1.example.com.", "A.B.C.EXAMPLE.COM."] {
        let m = ask(&mut r, &v, name, RecordType::A, None);
        assert_eq!(m.answers().len(), 1);
        let ns = m.name_servers();
        assert_eq!(ns.len(), 2, "{name}");
        for record in ns {
            assert_eq!(record.name().to_ascii().to_lowercase(), "example.com.", "{name}");
            assert_eq!(record.ttl(), 120, "one TTL for the set, the smallest");
        }
        // In-zone targets point into the question, so they read in its spelling (names
        // compare without regard to case, RFC 4343).
        let mut targets: Vec<String> = ns.iter().map(|r| r.data().to_string().to_lowercase()).collect();
        targets.sort();
        assert_eq!(targets, ["ns1.example.com.", "ns2.example.net."]);
    }
}

/// A config of nested zones (`example.com.` and `sub.example.com.`, `zone1.example.` and
/// `a.b.c.zone1.example.`) among `others` more (at least 2), each with a `www` A record.
fn nested_zones(others: usize) -> String {
    let mut origins = vec!["example.com.".to_string(), "sub.example.com.".to_string()];
    origins.extend((0..others).map(|i| format!("zone{i}.example.")));
    origins.push("a.b.c.zone1.example.".to_string());
    let mut text = String::new();
    for origin in &origins {
        text.push_str(&format!(
            "[[zone]]\norigin = \"{origin}\"\nsoa = \"ns1 host 1 7200 900 1209600 60\"\nns = [\"ns1\"]\n"
        ));
    }
    for (i, origin) in origins.iter().enumerate() {
        text.push_str(&format!(
            "[[record]]\nname = \"www.{origin}\"\ntype = \"A\"\nvalues = [\"10.0.{}.{}\"]\n",
            i >> 8,
            i & 255
        ));
    }
    // DS is parent-side data: the parent holds the child's.
    text.push_str(
        "[[record]]\nname = \"sub.example.com.\"\ntype = \"DS\"\nvalues = [\"12345 13 2 0123456789ABCDEF\"]\n",
    );
    text
}

#[test]
fn the_longest_origin_wins_among_few_zones_and_many() {
    // 5 zones are compared one by one; 39 go through the catalog's table of origins.
    for others in [2, 36] {
        let config = Config::parse(&nested_zones(others), Path::new("t.toml"), &|_| Ok(String::new())).unwrap();
        let (v, mut r) = (
            View::new(
                Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
                HealthSnapshot::initial(&config.checks),
            ),
            Responder::with_seed(5),
        );
        let c = v.catalog();
        assert_eq!(c.zones().len(), others + 3);
        let soa_owner = |m: &Message| m.name_servers()[0].name().to_ascii();
        for (i, origin) in ["example.com.", "sub.example.com."].into_iter().enumerate() {
            let m = ask(&mut r, &v, &format!("www.{origin}"), RecordType::A, None);
            assert_eq!(values(&m), [format!("10.0.0.{i}")], "{others} others: {origin}");
        }
        let last = format!("www.zone{}.example.", others - 1);
        let m = ask(&mut r, &v, &last, RecordType::A, None);
        assert_eq!(values(&m), [format!("10.0.0.{}", others + 1)], "{others} others: {last}");
        let m = ask(&mut r, &v, "WWW.A.B.C.Zone1.Example.", RecordType::A, None);
        assert_eq!(values(&m), [format!("10.0.0.{}", others + 2)], "{others} others: the deepest zone");
        // Names below a zone, missing: NXDOMAIN from the deepest zone that holds them.
        for (name, zone) in [
            ("x.a.b.c.zone1.example.", "a.b.c.zone1.example."),
            ("x.b.c.zone1.example.", "zone1.example."),
            ("x.sub.example.com.", "sub.example.com."),
        ] {
            let m = ask(&mut r, &v, name, RecordType::A, None);
            assert_eq!(m.response_code(), ResponseCode::NXDomain, "{others} others: {name}");
            assert_eq!(soa_owner(&m), zone, "{others} others: {name}");
        }
        for name in ["www.example.org.", "example.", "zone1.example.com.net.", "."] {
            let m = ask(&mut r, &v, name, RecordType::A, None);
            assert_eq!(m.response_code(), ResponseCode::Refused, "{others} others: {name}");
        }
        // DS at the child's apex comes from the parent; other types there from the child.
        let m = ask(&mut r, &v, "sub.example.com.", RecordType::DS, None);
        assert_eq!(m.answers().len(), 1, "{others} others: DS from the parent");
        let m = ask(&mut r, &v, "a.b.c.zone1.example.", RecordType::DS, None);
        assert_eq!(m.response_code(), ResponseCode::NXDomain, "{others} others: no a.b.c in zone1");
        assert_eq!(soa_owner(&m), "zone1.example.", "{others} others: DS asked of the parent");
        let m = ask(&mut r, &v, "sub.example.com.", RecordType::SOA, None);
        assert_eq!(m.answers()[0].name().to_ascii(), "sub.example.com.", "{others} others");
    }
}

/// A key for the signed-query tests: `k.`, hmac-sha256, the secret 0, 1, ..., 31. (A short
/// name: a query signed with it is short enough for the answer cache to consider.)
const TSIG_KEY: &str = "[[tsig_key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\n\
                        secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";

/// `name` `qtype`, signed by hickory with [`TSIG_KEY`] at `time`; and the closure that
/// verifies the response.
fn signed_query(
    name: &str,
    qtype: RecordType,
    edns: Option<u16>,
    time: u64,
) -> (Vec<u8>, hickory_proto::op::MessageVerifier) {
    use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
    use hickory_proto::dnssec::tsig::TSigner;
    let key = (0..32).collect();
    let signer = TSigner::new(key, TsigAlgorithm::HmacSha256, HName::from_ascii("k.").unwrap(), 300).unwrap();
    let mut m = Message::new();
    m.set_id(0x4242).add_query(HQuery::query(HName::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    let verifier = m.finalize(&signer, time as u32).unwrap().expect("a verifier");
    (m.to_vec().unwrap(), verifier)
}

#[test]
fn signed_queries_get_signed_answers_that_the_cache_never_keeps() {
    const T: u64 = 1_700_000_000;
    let (v, _) = setup(TSIG_KEY);
    let mut r = Responder::with_seed(7);
    r.set_cache(64);
    r.set_time(T);
    let (mut buf, mut scratch) = (vec![0u8; 4096], vec![0u8; 4096]);
    let mut ask_in_place = |r: &mut Responder, packet: &[u8]| {
        buf[..packet.len()].copy_from_slice(packet);
        let outcome = r.respond_in_place(&v, &mut buf, packet.len(), &mut scratch);
        buf[..outcome.len].to_vec()
    };
    // The same signed query again and again, as a replay within the fudge would be: answered
    // and signed each time, never from the cache.
    // (A verifier takes one response: the next it would read as a later message of a zone
    // transfer. Signing the same query at the same time gives the same bytes.)
    let first = signed_query("www.example.com.", RecordType::A, None, T).0;
    assert!(first.len() - 2 <= cache::KEY_MAX, "short enough to be kept");
    for _ in 0..4 {
        let (packet, mut verify) = signed_query("www.example.com.", RecordType::A, None, T);
        assert_eq!(packet, first);
        let response = verify(&ask_in_place(&mut r, &packet)).expect("the answer's signature verifies");
        assert_eq!(response.response_code(), ResponseCode::NoError);
        assert_eq!(values(&response), ["192.0.2.1"]);
    }
    assert_eq!(r.cache_hits(), 0);
    // With EDNS, the OPT goes before the TSIG.
    let (packet, mut verify) = signed_query("www.example.com.", RecordType::A, Some(1232), T);
    assert!(verify(&ask_in_place(&mut r, &packet)).expect("signed").extensions().is_some());
    // The question unsigned is still kept, and its answer is not the signed one.
    let mut plain = Message::new();
    plain.add_query(HQuery::query(HName::from_ascii("www.example.com.").unwrap(), RecordType::A));
    let plain = plain.to_vec().unwrap();
    for _ in 0..4 {
        let raw = ask_in_place(&mut r, &plain);
        assert_eq!(Message::from_vec(&raw).unwrap().signature().len(), 0);
    }
    assert_eq!(r.cache_hits(), 2);
    // An answer too big for 512 bytes with its TSIG: truncated, signed, within the limit.
    let (packet, mut verify) = signed_query("big.example.com.", RecordType::TXT, None, T);
    let raw = ask_in_place(&mut r, &packet);
    assert!(raw.len() <= 512);
    let response = verify(&raw).expect("signed");
    assert!(response.truncated() && response.answers().is_empty());
    // The same over TCP: whole, and signed.
    let (packet, mut verify) = signed_query("big.example.com.", RecordType::TXT, None, T);
    let mut out = vec![0u8; MAX_TCP_MESSAGE];
    let outcome = r.respond(&v, &packet, Transport::Tcp, &mut out);
    let response = verify(&out[..outcome.len]).expect("signed");
    assert_eq!(response.answers().len(), 6);
    // Refused and NXDOMAIN answers are signed too.
    for (name, code) in [("www.example.org.", ResponseCode::Refused), ("nope.example.com.", ResponseCode::NXDomain)] {
        let (packet, mut verify) = signed_query(name, RecordType::A, None, T);
        let outcome = r.respond(&v, &packet, Transport::Udp, &mut out);
        assert_eq!(verify(&out[..outcome.len]).expect("signed").response_code(), code);
    }
}

#[test]
fn names_in_record_data_point_at_the_labels_a_cname_spelled_out() {
    let zone = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                go CNAME mx.deep\nmx.deep MX 10 mail.mx.deep\nmail.mx.deep A 192.0.2.27\n";
    let read = |_: &Path| Ok(zone.to_string());
    let text = "[server]\nminimal_responses = true\n[[zone]]\norigin = \"example.com.\"\nfile = \"z.zone\"\n";
    let config = Config::parse(text, Path::new("t.toml"), &read).unwrap();
    let v = View::new(
        Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
        HealthSnapshot::initial(&config.checks),
    );
    let mut q = Message::new();
    q.add_query(HQuery::query(HName::from_ascii("go.example.com.").unwrap(), RecordType::MX));
    let packet = q.to_vec().unwrap();
    let answer = |compress: bool| {
        let mut r = Responder::with_seed(1);
        r.set_compression(compress);
        let mut out = vec![0u8; 512];
        let len = r.respond(&v, &packet, Transport::Udp, &mut out).len;
        out.truncate(len);
        out
    };
    let (short, full) = (answer(true), answer(false));
    // The question ends at 32 (its name `example.com.` at 15). The CNAME's target is
    // `mx.deep` and a pointer to 15, at 44; the MX's owner points there, and its exchange
    // is `mail` (at 68) and a pointer there too; the address's owner points at `mail`.
    let cname = [&[0xC0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, 10][..], b"\x02mx\x04deep\xC0\x0f"].concat();
    let mx = [&[0xC0, 44, 0, 15, 0, 1, 0, 0, 1, 44, 0, 9, 0, 10][..], b"\x04mail\xC0\x2c"].concat();
    let a = [0xC0, 68, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 27];
    assert_eq!(&short[32..], [&cname[..], &mx, &a].concat());
    // In full: the same records, 30 bytes more.
    assert_eq!(full.len(), short.len() + 30);
    let (m, n) = (Message::from_vec(&short).unwrap(), Message::from_vec(&full).unwrap());
    assert_eq!(m.answers(), n.answers());
    assert_eq!(m.additionals(), n.additionals());
    assert_eq!(m.answers()[1].data().to_string(), "10 mail.mx.deep.example.com.");
}
