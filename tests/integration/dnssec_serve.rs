//! DNSSEC serving end to end: eightfold loads a zone whose `[zone.dnssec]` names a key, signs
//! it, and answers queries with DO with RRSIGs and NSEC denial. unbound (common/resolver.rs)
//! validates every answer from the key's DS, so each must come back with AD: static sets, a
//! CNAME chain, a wildcard, NXDOMAIN, NODATA, an empty non-terminal, DNSKEY and CDS at the
//! apex; multivalue sets of 12 members (every subset signed ahead) and 20 (sampled), drawn
//! hundreds of times; weighted and failover sets before and after a health flip; NODATA when
//! every member is down; an unsigned child (insecure, not bogus) and a signed one (its DS
//! in the parent). Direct queries check which RRSIGs each section carries, and that
//! queries without DO get none. A wrong trust anchor is the negative control. Signatures of
//! ten seconds' validity are made again within about five and keep validating; bad keys and
//! data a signed zone may not hold are refused by `eightfold check`, the key named.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::common::endpoints::{eventually, TcpEndpoint};
use crate::common::resolver::{ad, delv, dnssec_query, show, Resolver};
use crate::common::{addresses, binary, message, TestServer};
use crate::dnssec_keys::{have, run};

/// Interval 1 s, threshold 1: a health change shows within about 1 s; allow 4 s more.
const FOLLOW: Duration = Duration::from_secs(5);

/// The parent zone: every kind of static answer, an unsigned delegation (NS and glue) and a
/// signed one (NS, glue and the DS `{secure_ds}` stands for). The glue is on loopback and
/// nothing answers there: unbound reaches the children through stub zones.
const ZONE: &str = "$ORIGIN example.com.
$TTL 300
@            SOA    ns1 hostmaster 2026120101 7200 900 1209600 60
@            NS     ns1
@            MX     10 mail
@            TXT    \"v=spf1 -all\"
ns1          A      127.0.53.1
mail         A      192.0.2.25
mail         AAAA   2001:db8::25
static       A      192.0.2.7
static       AAAA   2001:db8::7
static       TXT    \"static\" \"two strings\"
alias        CNAME  chain
chain        CNAME  static
*.wild       TXT    \"wild\"
a.b.ent      A      192.0.2.9
unsigned     NS     ns.unsigned
ns.unsigned  A      127.0.53.2
secure       NS     ns.secure
ns.secure    A      127.0.53.3
{secure_ds}
";

/// A DS for `secure` when no test serves the child.
const SOME_DS: &str =
    "secure.example.com. IN DS 12345 13 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B";

/// A key made by `eightfold keygen --ksk` for `zone`: its stem, its files' text, its DS.
struct Key {
    stem: String,
    files: [(String, String); 2],
    ds: String,
    tag: u16,
}

impl Key {
    fn new(zone: &str) -> Key {
        let dir = tempfile::tempdir().unwrap();
        let stem = run(Command::new(binary()).args(["keygen", "--dir"]).arg(dir.path()).args(["--ksk", zone]));
        let stem = stem.trim().to_string();
        let files = [".key", ".private"].map(|ext| {
            let name = format!("{stem}{ext}");
            let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
            (name, text)
        });
        let ds = run(Command::new(binary()).arg("ds").arg(dir.path().join(format!("{stem}.key"))));
        let tag = stem.rsplit('+').next().unwrap().parse().unwrap();
        Key { stem, files, ds: ds.trim().to_string(), tag }
    }
}

/// A signed zone served by eightfold.
struct Signed {
    server: TestServer,
    key: Key,
}

impl Signed {
    /// Serves `origin` (from `zone_text`, or inline when it is empty) signed with a new key,
    /// with `dnssec_extra` in its `[zone.dnssec]` table and `body` ([[record]]s,
    /// [[health_check]]s) after it.
    fn start(origin: &str, zone_text: &str, dnssec_extra: &str, body: &str) -> Signed {
        let key = Key::new(origin);
        let source = if zone_text.is_empty() {
            format!("soa = \"ns1.{origin} hostmaster.{origin} 1 7200 900 1209600 60\"\nns = [\"ns1.{origin}\"]\n")
        } else {
            "file = \"zone\"\n".to_string()
        };
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\n\n[[zone]]\norigin = \"{origin}\"\n{source}\n\
             [zone.dnssec]\nkeys = [\"{}\"]\n{dnssec_extra}\n{body}",
            key.stem
        );
        let mut files: Vec<(&str, &str)> = key.files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        if !zone_text.is_empty() {
            files.push(("zone", zone_text));
        }
        let server = TestServer::start_config(&config, &files, &[]);
        Signed { server, key }
    }

    /// The parent zone with `body` after it.
    fn parent(body: &str) -> Signed {
        Self::start("example.com.", &ZONE.replace("{secure_ds}", SOME_DS), "", body)
    }

    /// unbound validating this zone from its key's DS.
    fn resolver(&self) -> Resolver {
        Resolver::start("example.com.", self.server.addr.port(), &self.key.ds)
    }

    /// A query with DO straight to eightfold.
    fn direct(&self, name: &str, qtype: RecordType) -> Message {
        self.server.udp(&dnssec_query(name, qtype))
    }
}

/// Asks `resolver` and requires `rcode` and AD; the answer.
fn validated(resolver: &Resolver, name: &str, qtype: RecordType, rcode: ResponseCode) -> Message {
    let answer = resolver.query(name, qtype);
    // unbound's log follows when the resolver is dropped in the panic.
    assert!(
        answer.response_code() == rcode && ad(&answer),
        "{name} {qtype}: expected {rcode:?} with AD (validated), got {}",
        show(&answer)
    );
    answer
}

/// The types the RRSIGs in `records` cover, in order.
fn covered(records: &[Record]) -> Vec<RecordType> {
    records
        .iter()
        .filter_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.type_covered()),
            _ => None,
        })
        .collect()
}

/// The records of `records` of type `rtype`.
fn of_type(records: &[Record], rtype: RecordType) -> Vec<&Record> {
    records.iter().filter(|r| r.record_type() == rtype).collect()
}

/// The records of `qtype` in the answer section.
fn answers_of(m: &Message, qtype: RecordType) -> Vec<&Record> {
    of_type(m.answers(), qtype)
}

/// The IPv4 addresses among `records`.
fn addresses_in(records: &[Record]) -> Vec<Ipv4Addr> {
    records
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// The IPv4 addresses of the answer, as a set.
fn address_set(m: &Message) -> BTreeSet<Ipv4Addr> {
    addresses(m).into_iter().collect()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

/// `count` multivalue members at `name`, 192.0.2.1.., no health checks.
fn multivalue(name: &str, count: usize) -> String {
    (1..=count)
        .map(|i| {
            format!(
                "[[record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset_id = \"m{i}\"\n\
                 values = [\"192.0.2.{i}\"]\n"
            )
        })
        .collect()
}

/// A TCP check (interval 1 s, threshold 1) of `endpoint`.
fn tcp_check(id: &str, endpoint: &TcpEndpoint) -> String {
    format!(
        "[[health_check]]\nid = \"{id}\"\ntype = \"TCP\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\n\
         failure_threshold = 1\n",
        endpoint.addr.ip(),
        endpoint.addr.port()
    )
}

fn record(name: &str, routing: &str, set_id: &str, value: &str, extra: &str) -> String {
    format!(
        "[[record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 30\nrouting = \"{routing}\"\nset_id = \"{set_id}\"\n\
         values = [\"{value}\"]\n{extra}"
    )
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn static_answers_and_denials_validate_through_unbound() {
    if !have("unbound", "unbound") {
        return;
    }
    let zone = Signed::parent("");
    let resolver = zone.resolver();
    let a = validated(&resolver, "static.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(addresses(&a), [ip("192.0.2.7")]);
    let aaaa = validated(&resolver, "static.example.com.", RecordType::AAAA, ResponseCode::NoError);
    assert_eq!(answers_of(&aaaa, RecordType::AAAA).len(), 1, "{}", show(&aaaa));
    let mx = validated(&resolver, "example.com.", RecordType::MX, ResponseCode::NoError);
    assert_eq!(answers_of(&mx, RecordType::MX).len(), 1, "{}", show(&mx));
    let txt = validated(&resolver, "static.example.com.", RecordType::TXT, ResponseCode::NoError);
    assert_eq!(answers_of(&txt, RecordType::TXT).len(), 1, "{}", show(&txt));
    // unbound passes the RRSIGs on to a client that set DO.
    assert_eq!(covered(txt.answers()), [RecordType::TXT], "{}", show(&txt));

    let chain = validated(&resolver, "alias.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(answers_of(&chain, RecordType::CNAME).len(), 2, "{}", show(&chain));
    assert_eq!(addresses(&chain), [ip("192.0.2.7")], "{}", show(&chain));

    let wild = validated(&resolver, "anything.wild.example.com.", RecordType::TXT, ResponseCode::NoError);
    let expanded = answers_of(&wild, RecordType::TXT);
    assert_eq!(expanded.len(), 1, "{}", show(&wild));
    assert_eq!(expanded[0].name().to_ascii(), "anything.wild.example.com.");

    validated(&resolver, "nothing.example.com.", RecordType::A, ResponseCode::NXDomain);
    validated(&resolver, "deep.nothing.example.com.", RecordType::AAAA, ResponseCode::NXDomain);
    let nodata = validated(&resolver, "static.example.com.", RecordType::MX, ResponseCode::NoError);
    assert!(nodata.answers().is_empty(), "NODATA: {}", show(&nodata));
    let ent = validated(&resolver, "b.ent.example.com.", RecordType::A, ResponseCode::NoError);
    assert!(ent.answers().is_empty(), "an empty non-terminal: {}", show(&ent));
    let wild_nodata = validated(&resolver, "anything.wild.example.com.", RecordType::A, ResponseCode::NoError);
    assert!(wild_nodata.answers().is_empty(), "NODATA from a wildcard: {}", show(&wild_nodata));

    let dnskey = validated(&resolver, "example.com.", RecordType::DNSKEY, ResponseCode::NoError);
    let tags: Vec<u16> = dnskey
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => key.calculate_key_tag().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(tags, [zone.key.tag], "{}", show(&dnskey));
    let cds = validated(&resolver, "example.com.", RecordType::CDS, ResponseCode::NoError);
    assert_eq!(answers_of(&cds, RecordType::CDS).len(), 1, "{}", show(&cds));
    drop(resolver);

    // BIND's validator agrees, asking eightfold itself.
    if have("delv", "dnsutils") {
        for (name, qtype) in [
            ("static.example.com.", RecordType::A),
            ("alias.example.com.", RecordType::A),
            ("anything.wild.example.com.", RecordType::TXT),
            ("nothing.example.com.", RecordType::A),
            ("b.ent.example.com.", RecordType::A),
        ] {
            let out = delv(zone.server.addr, &zone.key.ds, name, qtype);
            assert!(
                out.contains("; fully validated") || out.contains("; negative response, fully validated"),
                "delv {name} {qtype}: {out}"
            );
        }
    }

    // The negative control: another key's DS as the trust anchor.
    let other = Key::new("example.com.");
    let wrong = Resolver::start("example.com.", zone.server.addr.port(), &other.ds);
    let answer = wrong.query("static.example.com.", RecordType::A);
    assert_eq!(answer.response_code(), ResponseCode::ServFail, "{}", show(&answer));
    assert!(!ad(&answer));
}

#[test]
fn every_multivalue_draw_of_twelve_validates_and_members_come_up_evenly() {
    if !have("unbound", "unbound") {
        return;
    }
    let zone = Signed::parent(&multivalue("pool", 12));
    let resolver = zone.resolver();
    let rounds = 300;
    let mut seen: BTreeMap<Ipv4Addr, u32> = BTreeMap::new();
    let mut distinct_answers = BTreeSet::new();
    for _ in 0..rounds {
        let answer = validated(&resolver, "pool.example.com.", RecordType::A, ResponseCode::NoError);
        let drawn = address_set(&answer);
        assert_eq!((drawn.len(), addresses(&answer).len()), (8, 8), "eight members, none twice: {}", show(&answer));
        assert_eq!(covered(answer.answers()), [RecordType::A], "{}", show(&answer));
        for address in &drawn {
            *seen.entry(*address).or_default() += 1;
        }
        distinct_answers.insert(drawn);
    }
    let members: BTreeSet<Ipv4Addr> = (1..=12).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), members, "{seen:?}");
    // Each member is in 8 of 12 answers: 200 of 300 expected; loose bounds.
    let expected = f64::from(rounds) * 8.0 / 12.0;
    for (member, count) in &seen {
        let count = f64::from(*count);
        assert!(count > 0.5 * expected && count < 1.5 * expected, "{member}: {count} of {expected}: {seen:?}");
    }
    // Fresh draws reached the server: of C(12, 8) = 495 subsets, many came up.
    assert!(distinct_answers.len() > 50, "only {} different answers", distinct_answers.len());
    if have("delv", "dnsutils") {
        for _ in 0..5 {
            let out = delv(zone.server.addr, &zone.key.ds, "pool.example.com.", RecordType::A);
            assert!(out.contains("; fully validated"), "delv: {out}");
        }
    }
}

#[test]
fn every_multivalue_draw_of_twenty_validates() {
    if !have("unbound", "unbound") {
        return;
    }
    // More members than every subset can be signed for: answers come from sampled subsets.
    let zone = Signed::parent(&multivalue("big", 20));
    let resolver = zone.resolver();
    let mut seen = BTreeSet::new();
    for _ in 0..150 {
        let answer = validated(&resolver, "big.example.com.", RecordType::A, ResponseCode::NoError);
        let drawn = address_set(&answer);
        assert_eq!((drawn.len(), addresses(&answer).len()), (8, 8), "eight members, none twice: {}", show(&answer));
        seen.extend(drawn);
    }
    let members: BTreeSet<Ipv4Addr> = (1..=20).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    assert_eq!(seen, members, "every member answers in some draw");
    if have("delv", "dnsutils") {
        for _ in 0..5 {
            let out = delv(zone.server.addr, &zone.key.ds, "big.example.com.", RecordType::A);
            assert!(out.contains("; fully validated"), "delv: {out}");
        }
    }
}

#[test]
fn weighted_and_failover_answers_validate_before_and_after_a_flip() {
    if !have("unbound", "unbound") {
        return;
    }
    let endpoint = TcpEndpoint::start("127.0.0.1");
    let body = [
        tcp_check("primary", &endpoint),
        record("fo", "failover", "primary", "192.0.2.101", "failover = \"PRIMARY\"\nhealth_check = \"primary\"\n"),
        record("fo", "failover", "secondary", "192.0.2.102", "failover = \"SECONDARY\"\n"),
        record("w", "weighted", "blue", "192.0.2.111", "weight = 1\nhealth_check = \"primary\"\n"),
        record("w", "weighted", "green", "192.0.2.112", "weight = 3\n"),
    ]
    .concat();
    let zone = Signed::start(
        "example.com.",
        &ZONE.replace("{secure_ds}", SOME_DS),
        "dynamic_signature_validity = 86400\n",
        &body,
    );
    let resolver = zone.resolver();
    let answer = |name: &str| address_set(&validated(&resolver, name, RecordType::A, ResponseCode::NoError));
    let weighted_draws = || {
        let mut seen = BTreeSet::new();
        for _ in 0..100 {
            let drawn = answer("w.example.com.");
            assert_eq!(drawn.len(), 1, "{drawn:?}");
            seen.extend(drawn);
        }
        seen
    };
    assert_eq!(answer("fo.example.com."), BTreeSet::from([ip("192.0.2.101")]));
    // Weights 1 and 3: in 100 draws both come up but for a chance of 1 in 10^12.
    assert_eq!(weighted_draws(), BTreeSet::from([ip("192.0.2.111"), ip("192.0.2.112")]));

    endpoint.set_up(false);
    let direct = |name: &str| address_set(&zone.direct(name, RecordType::A));
    assert!(
        eventually(FOLLOW, || direct("fo.example.com.") == BTreeSet::from([ip("192.0.2.102")])),
        "the secondary while the primary is down"
    );
    assert_eq!(answer("fo.example.com."), BTreeSet::from([ip("192.0.2.102")]));
    assert_eq!(weighted_draws(), BTreeSet::from([ip("192.0.2.112")]));

    endpoint.set_up(true);
    assert!(eventually(FOLLOW, || direct("fo.example.com.") == BTreeSet::from([ip("192.0.2.101")])));
    assert_eq!(answer("fo.example.com."), BTreeSet::from([ip("192.0.2.101")]));
}

#[test]
fn nodata_when_every_member_is_down_validates() {
    if !have("unbound", "unbound") {
        return;
    }
    let endpoint = TcpEndpoint::start("127.0.0.1");
    endpoint.set_up(false);
    let nodata = "health_check = \"down\"\nwhen_all_unhealthy = \"nodata\"\n";
    let body = [
        tcp_check("down", &endpoint),
        record("nd", "multivalue", "a", "192.0.2.121", nodata),
        record("nd", "multivalue", "b", "192.0.2.122", nodata),
    ]
    .concat();
    let zone = Signed::parent(&body);
    let resolver = zone.resolver();
    assert!(
        eventually(FOLLOW, || zone.direct("nd.example.com.", RecordType::A).answers().is_empty()),
        "both members go down"
    );
    let empty = validated(&resolver, "nd.example.com.", RecordType::A, ResponseCode::NoError);
    assert!(empty.answers().is_empty(), "{}", show(&empty));
    // AAAA, never there, is denied at the same name too.
    validated(&resolver, "nd.example.com.", RecordType::AAAA, ResponseCode::NoError);

    endpoint.set_up(true);
    assert!(eventually(FOLLOW, || addresses(&zone.direct("nd.example.com.", RecordType::A)).len() == 2));
    let back = validated(&resolver, "nd.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(address_set(&back), BTreeSet::from([ip("192.0.2.121"), ip("192.0.2.122")]));
}

#[test]
fn an_unsigned_child_is_insecure_and_a_signed_child_validates_from_the_parents_ds() {
    if !have("unbound", "unbound") {
        return;
    }
    let www = |value: &str| format!("[[record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"{value}\"]\n");
    let unsigned = TestServer::start(
        &format!(
            "[[zone]]\norigin = \"unsigned.example.com.\"\nsoa = \"ns.unsigned.example.com. hostmaster.example.com. 1 \
             7200 900 1209600 60\"\nns = [\"ns.unsigned.example.com.\"]\n{}",
            www("192.0.2.201")
        ),
        &[],
    );
    let secure = Signed::start("secure.example.com.", "", "", &www("192.0.2.202"));
    let parent = Signed::start("example.com.", &ZONE.replace("{secure_ds}", &secure.key.ds), "", "");
    let resolver = Resolver::start_stubs(
        &[
            ("example.com.", parent.server.addr.port()),
            ("unsigned.example.com.", unsigned.addr.port()),
            ("secure.example.com.", secure.server.addr.port()),
        ],
        &[&parent.key.ds],
    );

    // Insecure: the parent proves there is no DS, so the child's answer is neither
    // validated nor bogus.
    let insecure = resolver.query("www.unsigned.example.com.", RecordType::A);
    let context = format!("{}--- unbound log ---\n{}", show(&insecure), resolver.log_tail());
    assert_eq!(insecure.response_code(), ResponseCode::NoError, "{context}");
    assert_eq!(addresses(&insecure), [ip("192.0.2.201")], "{context}");
    assert!(!ad(&insecure), "an unsigned child's answer cannot be validated: {context}");
    validated(&resolver, "unsigned.example.com.", RecordType::DS, ResponseCode::NoError);

    // Secure: the parent's DS leads to the child's key.
    let ds = validated(&resolver, "secure.example.com.", RecordType::DS, ResponseCode::NoError);
    assert_eq!(answers_of(&ds, RecordType::DS).len(), 1, "{}", show(&ds));
    let child = validated(&resolver, "www.secure.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(addresses(&child), [ip("192.0.2.202")]);

    // Straight to the parent: the DS and its RRSIG in the answer, authoritative.
    let ds = parent.direct("secure.example.com.", RecordType::DS);
    assert!(ds.authoritative(), "{}", show(&ds));
    assert_eq!(answers_of(&ds, RecordType::DS).len(), 1, "{}", show(&ds));
    assert_eq!(covered(ds.answers()), [RecordType::DS], "{}", show(&ds));
    // A referral to the signed child: NS, the DS and its RRSIG; no RRSIG over the NS (the
    // parent is not authoritative for it).
    let referral = parent.direct("www.secure.example.com.", RecordType::A);
    assert!(!referral.authoritative() && referral.answers().is_empty(), "{}", show(&referral));
    assert_eq!(of_type(referral.name_servers(), RecordType::NS).len(), 1, "{}", show(&referral));
    assert_eq!(of_type(referral.name_servers(), RecordType::DS).len(), 1, "{}", show(&referral));
    assert_eq!(covered(referral.name_servers()), [RecordType::DS], "{}", show(&referral));
    // A referral to the unsigned child: NS, and the NSEC proving no DS with its RRSIG.
    let referral = parent.direct("www.unsigned.example.com.", RecordType::A);
    assert!(!referral.authoritative() && referral.answers().is_empty(), "{}", show(&referral));
    assert_eq!(of_type(referral.name_servers(), RecordType::NS).len(), 1, "{}", show(&referral));
    assert!(of_type(referral.name_servers(), RecordType::DS).is_empty(), "{}", show(&referral));
    assert_eq!(of_type(referral.name_servers(), RecordType::NSEC).len(), 1, "{}", show(&referral));
    assert_eq!(covered(referral.name_servers()), [RecordType::NSEC], "{}", show(&referral));
    assert_eq!(addresses_in(referral.additionals()), [ip("127.0.53.2")], "the glue: {}", show(&referral));
}

#[test]
fn direct_answers_with_do_carry_rrsigs_over_the_right_types() {
    let zone = Signed::start(
        "example.com.",
        &ZONE.replace("{secure_ds}", SOME_DS),
        "signature_validity = 864000\ndnskey_ttl = 1800\n",
        &multivalue("pool", 12),
    );
    let signer = |m: &Message| {
        for record in m.answers().iter().chain(m.name_servers()) {
            if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = record.data() {
                assert_eq!(sig.signer_name().to_ascii(), "example.com.", "{}", show(m));
                assert_eq!(sig.key_tag(), zone.key.tag, "{}", show(m));
            }
        }
    };

    let a = zone.direct("static.example.com.", RecordType::A);
    assert!(a.authoritative(), "{}", show(&a));
    assert_eq!(covered(a.answers()), [RecordType::A], "{}", show(&a));
    signer(&a);
    let sig = a
        .answers()
        .iter()
        .find_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((sig.original_ttl(), sig.num_labels()), (300, 3), "{}", show(&a));
    // signature_validity: ten days from about now.
    let expiration = u64::from(sig.sig_expiration().get());
    let (soonest, latest) = (now() + 864_000 / 2, now() + 864_000 + 86_400);
    assert!((soonest..=latest).contains(&expiration), "expires at {expiration}, not about ten days from now");
    assert!(u64::from(sig.sig_inception().get()) <= now(), "{}", show(&a));

    let pool = zone.direct("pool.example.com.", RecordType::A);
    assert_eq!(addresses(&pool).len(), 8, "{}", show(&pool));
    assert_eq!(covered(pool.answers()), [RecordType::A], "one RRSIG over the eight drawn: {}", show(&pool));

    let chain = zone.direct("alias.example.com.", RecordType::A);
    let mut chain_signed = covered(chain.answers());
    chain_signed.sort_unstable();
    let mut chain_sets = [RecordType::CNAME, RecordType::CNAME, RecordType::A];
    chain_sets.sort_unstable();
    assert_eq!(chain_signed, chain_sets, "each set of the chain signed: {}", show(&chain));

    let wild = zone.direct("anything.wild.example.com.", RecordType::TXT);
    assert_eq!(covered(wild.answers()), [RecordType::TXT], "{}", show(&wild));
    let wild_sig = wild.answers().iter().find_map(|r| match r.data() {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.num_labels()),
        _ => None,
    });
    assert_eq!(wild_sig, Some(3), "labels of *.wild.example.com. without the star: {}", show(&wild));
    assert!(!of_type(wild.name_servers(), RecordType::NSEC).is_empty(), "no closer name: {}", show(&wild));
    assert!(covered(wild.name_servers()).contains(&RecordType::NSEC), "{}", show(&wild));

    for (name, qtype, rcode) in [
        ("nothing.example.com.", RecordType::A, ResponseCode::NXDomain),
        ("static.example.com.", RecordType::MX, ResponseCode::NoError),
        ("b.ent.example.com.", RecordType::A, ResponseCode::NoError),
    ] {
        let denial = zone.direct(name, qtype);
        let context = format!("{name} {qtype}: {}", show(&denial));
        assert_eq!(denial.response_code(), rcode, "{context}");
        assert!(denial.authoritative() && denial.answers().is_empty(), "{context}");
        let authority = denial.name_servers();
        assert_eq!(of_type(authority, RecordType::SOA).len(), 1, "{context}");
        let nsec = of_type(authority, RecordType::NSEC).len();
        assert!(nsec >= 1, "{context}");
        let mut expected = vec![RecordType::NSEC; nsec];
        expected.push(RecordType::SOA);
        let mut signed = covered(authority);
        signed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(signed, expected, "the SOA and each NSEC signed: {context}");
        signer(&denial);
    }

    let dnskey = zone.direct("example.com.", RecordType::DNSKEY);
    assert_eq!(covered(dnskey.answers()), [RecordType::DNSKEY], "{}", show(&dnskey));
    let keys = answers_of(&dnskey, RecordType::DNSKEY);
    assert_eq!(keys.len(), 1, "{}", show(&dnskey));
    assert_eq!(keys[0].ttl(), 1800, "dnskey_ttl");
    signer(&dnskey);
}

#[test]
fn answers_without_do_carry_no_dnssec_records() {
    let zone = Signed::parent(&multivalue("pool", 12));
    for (name, qtype) in [
        ("static.example.com.", RecordType::A),
        ("pool.example.com.", RecordType::A),
        ("alias.example.com.", RecordType::A),
        ("anything.wild.example.com.", RecordType::TXT),
        ("nothing.example.com.", RecordType::A),
        ("static.example.com.", RecordType::MX),
        ("www.unsigned.example.com.", RecordType::A),
        ("example.com.", RecordType::DNSKEY),
    ] {
        for query in [message(name, qtype, None), message(name, qtype, Some(1232))] {
            let answer = zone.server.udp(&query);
            let all: Vec<&Record> =
                answer.answers().iter().chain(answer.name_servers()).chain(answer.additionals()).collect();
            let dnssec: Vec<&&Record> = all
                .iter()
                .filter(|r| matches!(r.record_type(), RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3))
                .collect();
            assert!(dnssec.is_empty(), "{name} {qtype} without DO: {}", show(&answer));
        }
    }
    // The DNSKEY set itself is data: asked for, it is answered, without its RRSIG.
    let dnskey = zone.server.query("example.com.", RecordType::DNSKEY);
    assert_eq!(answers_of(&dnskey, RecordType::DNSKEY).len(), 1, "{}", show(&dnskey));
}

/// The expiration of the first RRSIG in `m`'s answer.
fn expiration(m: &Message) -> Option<u32> {
    m.answers().iter().find_map(|r| match r.data() {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.sig_expiration().get()),
        _ => None,
    })
}

#[test]
fn signatures_are_made_again_at_half_their_validity_and_keep_validating() {
    // Ten seconds of validity: the zone is signed again about every five.
    let zone = Signed::start(
        "example.com.",
        &ZONE.replace("{secure_ds}", SOME_DS),
        "signature_validity = 10\ndynamic_signature_validity = 10\n",
        &multivalue("pool", 12),
    );
    let first_static = expiration(&zone.direct("static.example.com.", RecordType::A)).expect("an RRSIG");
    let first_pool = expiration(&zone.direct("pool.example.com.", RecordType::A)).expect("an RRSIG");
    assert!(u64::from(first_static) <= now() + 10, "expires within the validity");
    let later = eventually(Duration::from_secs(20), || {
        expiration(&zone.direct("static.example.com.", RecordType::A)).is_some_and(|e| e > first_static)
    });
    assert!(later, "the static RRSIG was not made again within 20 s\n{}", zone.server.output());
    let pool = eventually(Duration::from_secs(10), || {
        expiration(&zone.direct("pool.example.com.", RecordType::A)).is_some_and(|e| e > first_pool)
    });
    assert!(pool, "the multivalue subsets were not signed again\n{}", zone.server.output());
    assert!(zone.server.output().contains("signing the signed zones again"), "{}", zone.server.output());
    // The status and the metrics say when the zone was signed and when it expires.
    let (code, status) = zone.server.cli(&["status"]);
    assert_eq!(code, 0, "{status}");
    assert!(status.contains(&format!("signed: keys {}", zone.key.tag)), "{status}");
    let (_, metrics) = zone.server.http("GET", "/metrics", "", "");
    let expiry = metrics
        .lines()
        .find_map(|l| l.strip_prefix("eightfold_dnssec_expiry_timestamp_seconds{zone=\"example.com.\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no expiry metric:\n{metrics}"));
    assert!((now()..=now() + 11).contains(&expiry), "expires at {expiry}, within ten seconds of a signing");
    assert!(metrics.contains("eightfold_dnssec_signatures{zone=\"example.com.\"} "), "{metrics}");
    let resolver = zone.resolver();
    validated(&resolver, "pool.example.com.", RecordType::A, ResponseCode::NoError);
    validated(&resolver, "static.example.com.", RecordType::A, ResponseCode::NoError);
}

#[test]
fn a_signed_zone_with_bad_keys_or_data_is_refused_with_the_key_named() {
    let key = Key::new("example.com.");
    let other = Key::new("example.net.");
    let mut files: Vec<(&str, &str)> = key.files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    files.extend(other.files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let zone = "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 h 1 2 3 4 5\"\nns = [\"ns1\"]\n";
    for (dnssec, extra, expected) in [
        ("keys = [\"Kmissing\"]", "", "key `keys`: cannot read"),
        (&*format!("keys = [\"{}\"]", other.stem), "", "is a key of example.net., not of example.com."),
        (&*format!("keys = [\"{0}\", \"{0}.key\"]", key.stem), "", "is given twice"),
        ("keys = []", "", "0 keys given"),
        (&*format!("keys = [\"{}\"]\nsignature_validity = 5", key.stem), "", "key `signature_validity`: 5 is outside"),
        (
            &*format!("keys = [\"{}\"]", key.stem),
            "[[record]]\nname = \"example.com.\"\ntype = \"DNSKEY\"\nvalues = [\"257 3 13 AAAA\"]\n",
            "DNSKEY in a signed zone",
        ),
        (
            &*format!("keys = [\"{}\"]", key.stem),
            "[[record]]\nname = \"www\"\ntype = \"DS\"\nvalues = [\"1 13 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B\"]\n",
            "is not at a delegation",
        ),
    ] {
        let config = format!("{zone}[zone.dnssec]\n{dnssec}\n{extra}");
        let (code, output) = crate::common::check(&config, &files);
        assert_ne!(code, 0, "{config}\naccepted:\n{output}");
        assert!(output.contains(expected), "{config}\nexpected {expected:?} in:\n{output}");
    }
    // The good key passes, and `check` says so.
    let config = format!("{zone}[zone.dnssec]\nkeys = [\"{}\"]\n", key.stem);
    let (code, output) = crate::common::check(&config, &files);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("1 signed zone"), "{output}");
}

/// A time `offset` seconds from now as key files write it, YYYYMMDDHHMMSS in UTC.
fn key_time(offset: i64) -> String {
    let at = (now() as i64 + offset).to_string();
    let out = Command::new("date").args(["-u", "-d", &format!("@{at}"), "+%Y%m%d%H%M%S"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A key of `zone` made by `eightfold keygen` (a KSK or a ZSK) with `timing` lines added to
/// its .private file.
fn timed_key(zone: &str, ksk: bool, timing: &str) -> Key {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["keygen", "--dir"];
    let path = dir.path().to_str().unwrap().to_string();
    args.push(&path);
    if ksk {
        args.push("--ksk");
    }
    args.push(zone);
    let stem = run(Command::new(binary()).args(&args)).trim().to_string();
    let files = [".key", ".private"].map(|ext| {
        let name = format!("{stem}{ext}");
        let mut text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        if ext == ".private" {
            // Later lines of a field replace nothing: keygen wrote Publish and Activate as now.
            text = text
                .lines()
                .filter(|l| !l.starts_with("Publish:") && !l.starts_with("Activate:"))
                .collect::<Vec<_>>()
                .join("\n");
            text.push('\n');
            text.push_str(timing);
        }
        (name, text)
    });
    let ds = run(Command::new(binary()).arg("ds").arg("--all").arg(dir.path().join(format!("{stem}.key"))));
    let tag = stem.rsplit('+').next().unwrap().parse().unwrap();
    Key { stem, files, ds: ds.trim().to_string(), tag }
}

/// The key tags of the RRSIGs in `records` over `rtype`.
fn signers_of(records: &[Record], rtype: RecordType) -> BTreeSet<u16> {
    records
        .iter()
        .filter_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.type_covered() == rtype => Some(sig.key_tag()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_zone_signing_key_rolls_in_at_its_activate_time_and_a_deleted_key_leaves_the_dnskey_set() {
    // The KSK signs everything until the ZSK, published ahead, becomes active some seconds in
    // (enough for a loaded machine to start the server and ask before); a retired key past its
    // Delete time is not published at all.
    let ksk = timed_key("example.com.", true, "");
    let zsk = timed_key("example.com.", false, &format!("Publish: {}\nActivate: {}\n", key_time(-60), key_time(12)));
    let gone = timed_key("example.com.", false, &format!("Publish: {}\nDelete: {}\n", key_time(-600), key_time(-60)));
    let keys = [&ksk, &zsk, &gone];
    let list: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.stem)).collect();
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\n\n[[zone]]\norigin = \
         \"example.com.\"\nfile = \"zone\"\n\n[zone.dnssec]\nkeys = [{}]\n\n{}",
        list.join(", "),
        multivalue("pool", 12)
    );
    let zone_text = ZONE.replace("{secure_ds}", SOME_DS);
    let mut files: Vec<(&str, &str)> =
        keys.iter().flat_map(|k| k.files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).collect();
    files.push(("zone", &zone_text));
    let server = TestServer::start_config(&config, &files, &[]);
    let direct = |name: &str, qtype: RecordType| server.udp(&dnssec_query(name, qtype));

    let dnskey = direct("example.com.", RecordType::DNSKEY);
    let published: BTreeSet<u16> = answers_of(&dnskey, RecordType::DNSKEY)
        .iter()
        .filter_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => key.calculate_key_tag().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(published, BTreeSet::from([ksk.tag, zsk.tag]), "the deleted key is gone: {}", show(&dnskey));
    let before = direct("static.example.com.", RecordType::A);
    assert_eq!(signers_of(before.answers(), RecordType::A), BTreeSet::from([ksk.tag]), "{}", show(&before));
    let (_, status) = server.cli(&["status"]);
    assert!(status.contains(&format!("{} (published, not signing)", zsk.tag)), "{status}");

    let resolver = Resolver::start("example.com.", server.addr.port(), &ksk.ds);
    validated(&resolver, "static.example.com.", RecordType::A, ResponseCode::NoError);
    let rolled = eventually(Duration::from_secs(30), || {
        signers_of(direct("static.example.com.", RecordType::A).answers(), RecordType::A) == BTreeSet::from([zsk.tag])
    });
    assert!(rolled, "the ZSK did not take over\n{}", server.output());
    let after = direct("example.com.", RecordType::DNSKEY);
    assert_eq!(signers_of(after.answers(), RecordType::DNSKEY), BTreeSet::from([ksk.tag]), "{}", show(&after));
    let pool = direct("pool.example.com.", RecordType::A);
    assert_eq!(signers_of(pool.answers(), RecordType::A), BTreeSet::from([zsk.tag]), "{}", show(&pool));
    for (name, qtype) in [("static.example.com.", RecordType::A), ("pool.example.com.", RecordType::A)] {
        validated(&resolver, name, qtype, ResponseCode::NoError);
    }
    validated(&resolver, "nothing.example.com.", RecordType::A, ResponseCode::NXDomain);
}

/// The owner and next name (as text) of each NSEC in `records`.
fn nsecs(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .filter_map(|r| match r.data() {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
                Some((r.name().to_ascii().to_lowercase(), nsec.next_domain_name().to_ascii().to_lowercase()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn compact_denial_validates_and_names_no_other_name() {
    let zone = Signed::start(
        "example.com.",
        &ZONE.replace("{secure_ds}", SOME_DS),
        "denial = \"compact\"\ncompact_budget = 1\n",
        &multivalue("pool", 12),
    );
    let resolver = zone.resolver();
    // RFC 9824: a name that does not exist is answered NOERROR with an NSEC of its own.
    for (name, qtype) in [
        ("nothing.example.com.", RecordType::A),
        ("static.example.com.", RecordType::MX),
        ("b.ent.example.com.", RecordType::A),
        ("anything.wild.example.com.", RecordType::A),
    ] {
        let answer = validated(&resolver, name, qtype, ResponseCode::NoError);
        assert!(answers_of(&answer, qtype).is_empty(), "{name} {qtype}: {}", show(&answer));
    }
    for (name, qtype) in [
        ("static.example.com.", RecordType::A),
        ("pool.example.com.", RecordType::A),
        ("anything.wild.example.com.", RecordType::TXT),
        ("alias.example.com.", RecordType::A),
    ] {
        let answer = validated(&resolver, name, qtype, ResponseCode::NoError);
        assert!(!answers_of(&answer, qtype).is_empty(), "{name} {qtype}: {}", show(&answer));
    }

    // Asked directly (over TCP: no budget), no NSEC names a name but the one asked.
    let tcp = |name: &str, qtype: RecordType| zone.server.tcp(&dnssec_query(name, qtype));
    let nx = tcp("nothing.example.com.", RecordType::A);
    assert_eq!(nx.response_code(), ResponseCode::NoError, "{}", show(&nx));
    assert_eq!(
        nsecs(nx.name_servers()),
        [("nothing.example.com.".to_string(), "\\000.nothing.example.com.".to_string())],
        "{}",
        show(&nx)
    );
    let wild = tcp("anything.wild.example.com.", RecordType::TXT);
    let labels = wild.answers().iter().find_map(|r| match r.data() {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.num_labels()),
        _ => None,
    });
    assert_eq!(labels, Some(4), "signed as the name's own: {}", show(&wild));
    assert!(nsecs(wild.name_servers()).is_empty(), "{}", show(&wild));
    // A referral to an unsigned child proves it has no DS with the cut's own NSEC.
    let referral = tcp("www.unsigned.example.com.", RecordType::A);
    assert_eq!(
        nsecs(referral.name_servers()),
        [("unsigned.example.com.".to_string(), "\\000.unsigned.example.com.".to_string())],
        "{}",
        show(&referral)
    );
    let nsec = tcp("static.example.com.", RecordType::NSEC);
    assert_eq!(
        nsecs(nsec.answers()),
        [("static.example.com.".to_string(), "\\000.static.example.com.".to_string())],
        "{}",
        show(&nsec)
    );
    // Over UDP each worker signs one a second: a burst of names that do not exist is partly
    // truncated, so the clients ask again over TCP.
    let truncated = (0..6)
        .filter(|i| zone.server.udp(&dnssec_query(&format!("burst{i}.example.com."), RecordType::A)).truncated())
        .count();
    assert!(truncated >= 1, "no answer truncated past the budget");
    // A truncation lasts its second: the answer cache does not keep it.
    let again = dnssec_query("burst0.example.com.", RecordType::A);
    for _ in 0..4 {
        zone.server.udp(&again);
    }
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1100));
        let answer = zone.server.udp(&again);
        assert!(!answer.truncated(), "a truncation for the budget was kept: {}", show(&answer));
    }
}
