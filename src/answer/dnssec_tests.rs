//! DNSSEC answers end to end in process: zones signed with keys made here (one combined key,
//! or a KSK and a ZSK; algorithms 13 and 15), queries with the DO bit answered by a
//! [`Responder`], and every response parsed by hand and checked as a validator would: each
//! RRSIG against the zone's DNSKEY with [`verify_rrset`] (its fields, its TTL, its times), each
//! RRset that must be signed carrying one RRSIG per signing key, and each NSEC proof covering
//! what it must in canonical order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{Responder, Transport, MAX_TCP_MESSAGE};
use crate::config::{Config, WhenAllUnhealthy};
use crate::dnssec::{canonical_cmp, generate, key_tag, rrsig_labels, verify_rrset, Algorithm, Scratch};
use crate::health::HealthSnapshot;
use crate::view::View;
use crate::wire::{rtype, LowerName, Name, CLASS_IN};
use crate::zone::dnssec::Mode;
use crate::zone::{Catalog, Lookup, Rrset, Zone};

/// When the zones are signed, and the time the answers are checked at.
const NOW: u64 = 1_750_000_000;
/// Inception: an hour before signing.
const INCEPTION: u32 = (NOW - 3600) as u32;
/// Expiration of static data's RRSIGs (`signature_validity`'s default, two weeks).
const STATIC_EXPIRATION: u32 = (NOW + 1_209_600) as u32;
/// Expiration of health-dependent answers' RRSIGs (`dynamic_signature_validity`, a day).
const DYNAMIC_EXPIRATION: u32 = (NOW + 86_400) as u32;
/// The zone every test signs.
const ORIGIN: &str = "example.com.";
/// Health checks the configs declare, `c0` to `c31`; members name them by index.
const CHECKS: usize = 32;
/// Members of a multivalue answer.
const K: usize = 8;

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
@ NS ns2.example.net.
ns1 A 192.0.2.53
www A 192.0.2.1
www AAAA 2001:db8::1
mx MX 10 mail
mx MX 20 mail2
mail A 192.0.2.25
mail2 A 192.0.2.26
txt TXT \"hello\"
txt TXT \"world\"
alias CNAME www
chain CNAME alias
dangle CNAME gone
tomv CNAME mv12
*.wild TXT \"w\"
*.wild A 192.0.2.80
*.wc CNAME www
a.b.ent A 192.0.2.9
sub NS ns.sub
ns.sub A 192.0.2.10
secure NS ns.secure
secure DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure A 192.0.2.11
dn DNAME target
q.target A 192.0.2.77
long 1209600 A 192.0.2.44
fits TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"
big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

/// Delegations of [`ZONE`]: their NS sets and the names below them are not signed.
const CUTS: [&str; 2] = ["sub.example.com.", "secure.example.com."];
/// The DNAME of [`ZONE`]: the CNAMEs made from it are not signed.
const DNAME: &str = "dn.example.com.";

/// Which keys sign the zone.
#[derive(Clone, Copy, Debug)]
struct Keys {
    /// Key-signing keys (flags 257), by algorithm; alone, they sign everything.
    ksks: &'static [Algorithm],
    /// Zone-signing keys (256): they sign the data when there are any.
    zsks: &'static [Algorithm],
}

const P256: Algorithm = Algorithm::EcdsaP256Sha256;
const ED25519: Algorithm = Algorithm::Ed25519;

/// The usual key setups: both algorithms, one combined key or a KSK and a ZSK.
const KEY_SETUPS: [Keys; 4] = [
    Keys { ksks: &[P256], zsks: &[] },
    Keys { ksks: &[P256], zsks: &[P256] },
    Keys { ksks: &[ED25519], zsks: &[] },
    Keys { ksks: &[ED25519], zsks: &[ED25519] },
];

/// Setups of a rollover: two combined keys, a KSK and two ZSKs, two algorithms at once.
const ROLLOVER_SETUPS: [Keys; 3] = [
    Keys { ksks: &[P256, P256], zsks: &[] },
    Keys { ksks: &[ED25519], zsks: &[ED25519, ED25519] },
    Keys { ksks: &[P256, ED25519], zsks: &[] },
];

/// A signed zone served in process, and what its answers are checked against.
struct Signed {
    catalog: Arc<Catalog>,
    view: View,
    responder: Responder,
    /// Members of a multivalue answer.
    k: usize,
    /// DNSKEY RDATA of the keys that sign data.
    zsks: Vec<Vec<u8>>,
    /// DNSKEY RDATA of the keys that sign DNSKEY, CDS and CDNSKEY.
    ksks: Vec<Vec<u8>>,
    scratch: Scratch,
}

/// One resource record of a response, its names spelled out.
#[derive(Clone, Debug)]
struct Record {
    /// Wire form, as the response spells it.
    owner: Vec<u8>,
    rtype: u16,
    class: u16,
    ttl: u32,
    /// Uncompressed.
    rdata: Vec<u8>,
}

/// A response, parsed.
#[derive(Debug)]
struct Response {
    flags: u16,
    answer: Vec<Record>,
    authority: Vec<Record>,
    /// Less the OPT record.
    additional: Vec<Record>,
    opt: Option<Record>,
}

/// One RRSIG of a response, checked.
#[derive(Clone, Debug)]
struct Sig {
    /// Lowercase wire form.
    owner: Vec<u8>,
    covered: u16,
    labels: u8,
    expiration: u32,
}

/// An RRSIG's fields.
struct RrsigData {
    covered: u16,
    algorithm: u8,
    labels: u8,
    original_ttl: u32,
    expiration: u32,
    inception: u32,
    key_tag: u16,
    signer: Vec<u8>,
}

impl Signed {
    /// `records` (TOML) over [`ZONE`], signed with `keys`, `dnssec` added to its
    /// `[zone.dnssec]` table; every check healthy.
    fn new(keys: Keys, dnssec: &str, records: &str) -> Signed {
        Signed::build(keys, K, "", dnssec, records)
    }

    /// As [`Signed::new`], with `max_answers` members per multivalue answer and the zones of
    /// `before` (TOML, unsigned) ahead of the signed one.
    fn build(keys: Keys, max_answers: usize, before: &str, dnssec: &str, records: &str) -> Signed {
        let origin = Name::from_wire(&wire(ORIGIN)).expect("the origin");
        // Two keys of one algorithm share a file name when their tags do (one pair in 65,536):
        // make another, as dnssec-keygen does.
        let mut made: Vec<crate::dnssec::NewKey> = Vec::new();
        for (algorithm, ksk) in keys.ksks.iter().map(|&a| (a, true)).chain(keys.zsks.iter().map(|&a| (a, false))) {
            let key = std::iter::repeat_with(|| generate(&origin, algorithm, ksk, NOW).expect("a key"))
                .find(|key| made.iter().all(|m| m.stem != key.stem))
                .expect("a key with a new tag");
            made.push(key);
        }
        let mut files: HashMap<String, String> = HashMap::new();
        files.insert("z.zone".into(), ZONE.into());
        for key in &made {
            files.insert(format!("{}.key", key.stem), key.key_text.clone());
            files.insert(format!("{}.private", key.stem), key.private_text.clone());
        }
        let stems: Vec<String> = made.iter().map(|k| format!("\"{}\"", k.stem)).collect();
        let mut text = format!(
            "[server]\nmax_answers = {max_answers}\n{before}[[zone]]\norigin = \"{ORIGIN}\"\nfile = \"z.zone\"\n\
             [zone.dnssec]\nkeys = [{}]\n{dnssec}",
            stems.join(", ")
        );
        for i in 0..CHECKS {
            text.push_str(&format!("[[health_check]]\nid = \"c{i}\"\ntype = \"TCP\"\nip = \"192.0.2.1\"\nport = 80\n"));
        }
        text.push_str(records);
        let read = move |path: &Path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            files.get(name).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name.to_string()))
        };
        let config = Config::parse(&text, Path::new("t.toml"), &read).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.checks.iter().enumerate().all(|(i, c)| c.id == format!("c{i}")), "checks in order");
        let catalog = Arc::new(Catalog::build(&config, NOW).expect("a signed catalog"));
        let view = View::new(catalog.clone(), HealthSnapshot::initial(&config.checks));
        let rdata = |k: &crate::dnssec::NewKey| k.key.dnskey().rdata().to_vec();
        let ksks: Vec<Vec<u8>> = made.iter().filter(|k| k.key.dnskey().is_ksk()).map(rdata).collect();
        let zsks: Vec<Vec<u8>> = made.iter().filter(|k| !k.key.dnskey().is_ksk()).map(rdata).collect();
        let zsks = if zsks.is_empty() { ksks.clone() } else { zsks };
        let responder = Responder::with_seed(11);
        Signed { catalog, view, responder, k: max_answers, zsks, ksks, scratch: Scratch::new() }
    }

    /// Serves the zone with the checks `down` unhealthy and the others healthy.
    fn health(&mut self, down: impl Fn(usize) -> bool) {
        let states = (0..CHECKS).map(|i| !down(i)).collect();
        self.view = View::new(self.catalog.clone(), HealthSnapshot::from_states(states));
    }

    /// The response to `name` `qtype` over UDP, with EDNS (`Some((size, do))`) or without.
    fn ask(&mut self, name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Response {
        self.ask_over(Transport::Udp, name, qtype, edns)
    }

    /// The response to `name` `qtype` over `transport`, with EDNS or without.
    fn ask_over(&mut self, transport: Transport, name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Response {
        let packet = query(name, qtype, edns);
        let mut out = vec![0u8; MAX_TCP_MESSAGE];
        let outcome = self.responder.respond(&self.view, &packet, transport, &mut out);
        assert!(outcome.len > 0, "{name} {qtype}: no reply");
        let m = parse(&out[..outcome.len]);
        assert_eq!(m.flags & 0x8000, 0x8000, "a response");
        if let Some((_, dnssec_ok)) = edns {
            let opt = m.opt.as_ref().expect("an OPT record");
            assert_eq!(opt.ttl & 0x8000 != 0, dnssec_ok, "{name} {qtype}: the DO bit echoed");
        }
        m
    }

    /// The response to a DO query for `name` `qtype` (EDNS 4096), with every signature
    /// checked and none for a wildcard.
    fn ask_do(&mut self, name: &str, qtype: u16) -> Response {
        let (m, sigs) = self.ask_do_sigs(name, qtype);
        for sig in &sigs {
            assert_eq!(sig.labels, rrsig_labels(&sig.owner), "{name} {qtype}: no wildcard answered {sig:?}");
        }
        m
    }

    /// The response to a DO query for `name` `qtype` (EDNS 4096), checked, and its RRSIGs.
    fn ask_do_sigs(&mut self, name: &str, qtype: u16) -> (Response, Vec<Sig>) {
        let m = self.ask(name, qtype, Some((4096, true)));
        assert!(!m.tc(), "{name} {qtype}: fits 4096 bytes");
        let sigs = self.verify(&m, &format!("{name} {qtype}"));
        (m, sigs)
    }

    /// Checks every RRSIG of `m` (a response to a DO query) against the zone's keys, and that
    /// every RRset that must be signed has one RRSIG by each key that signs it; returns the
    /// RRSIGs.
    fn verify(&mut self, m: &Response, context: &str) -> Vec<Sig> {
        let mut checked = Vec::new();
        for (section, records) in [("answer", &m.answer), ("authority", &m.authority), ("additional", &m.additional)] {
            let mut sets: Vec<(Vec<u8>, u16)> = Vec::new();
            for r in records.iter().filter(|r| r.rtype != rtype::RRSIG) {
                let key = (lower(&r.owner), r.rtype);
                if !sets.contains(&key) {
                    sets.push(key);
                }
            }
            for r in records.iter().filter(|r| r.rtype == rtype::RRSIG) {
                let covered = rrsig_data(&r.rdata).covered;
                assert!(
                    sets.contains(&(lower(&r.owner), covered)),
                    "{context}: {section}: an RRSIG of {} type {covered} without its RRset",
                    text(&r.owner)
                );
            }
            for (owner, t) in &sets {
                let here = format!("{context}: {section}: {} type {t}", text(owner));
                let members: Vec<&Record> =
                    records.iter().filter(|r| r.rtype == *t && lower(&r.owner) == *owner).collect();
                let ttl = members[0].ttl;
                assert!(members.iter().all(|r| r.ttl == ttl && r.class == CLASS_IN), "{here}: one TTL, class IN");
                let rdatas: Vec<&[u8]> = members.iter().map(|r| &r.rdata[..]).collect();
                let sigs: Vec<&Record> = records
                    .iter()
                    .filter(|r| r.rtype == rtype::RRSIG && lower(&r.owner) == *owner)
                    .filter(|r| rrsig_data(&r.rdata).covered == *t)
                    .collect();
                let signers: &[Vec<u8>] = if unsigned(owner, *t) {
                    &[]
                } else if matches!(*t, rtype::DNSKEY | rtype::CDS | rtype::CDNSKEY) {
                    &self.ksks
                } else {
                    &self.zsks
                };
                let mut tags: Vec<u16> = sigs.iter().map(|s| rrsig_data(&s.rdata).key_tag).collect();
                let mut want: Vec<u16> = signers.iter().map(|k| key_tag(k)).collect();
                tags.sort_unstable();
                want.sort_unstable();
                assert_eq!(tags, want, "{here}: one RRSIG per signing key");
                for sig in sigs {
                    let fields = rrsig_data(&sig.rdata);
                    assert_eq!(sig.ttl, ttl, "{here}: the RRSIG's TTL is the RRset's");
                    assert!(ttl <= fields.original_ttl, "{here}: served TTL {ttl} above the original");
                    assert_eq!(fields.signer, wire(ORIGIN), "{here}: the signer is the zone");
                    let key = signers.iter().find(|k| key_tag(k) == fields.key_tag).expect("the key");
                    assert_eq!(fields.algorithm, key[3], "{here}: the key's algorithm");
                    assert!(fields.labels <= rrsig_labels(owner), "{here}: labels {}", fields.labels);
                    assert_eq!(fields.inception, INCEPTION, "{here}: inception an hour before signing");
                    assert!(
                        fields.expiration == STATIC_EXPIRATION || fields.expiration == DYNAMIC_EXPIRATION,
                        "{here}: expiration {} (now {NOW})",
                        fields.expiration
                    );
                    assert!(u64::from(fields.inception) <= NOW && NOW < u64::from(fields.expiration), "{here}");
                    verify_rrset(key, &sig.rdata, &members[0].owner, CLASS_IN, &rdatas, &mut self.scratch)
                        .unwrap_or_else(|e| panic!("{here}: {e}"));
                    checked.push(Sig {
                        owner: owner.clone(),
                        covered: *t,
                        labels: fields.labels,
                        expiration: fields.expiration,
                    });
                }
            }
        }
        checked
    }

    /// The signed zone.
    fn zone(&self) -> &Zone {
        let origin = wire(ORIGIN);
        self.catalog.zones().iter().find(|z| z.origin().as_wire() == origin).expect("the signed zone")
    }

    /// The `rtype` set at `name` (a node of the signed zone).
    fn set(&self, name: &str, rtype: u16) -> &Rrset {
        let zone = self.zone();
        let (lower, _) = LowerName::parse(&wire(name), 0).expect("a name");
        let Lookup::Exact(node) = zone.lookup(&lower, false) else { panic!("{name} is not a node") };
        zone.rrset(zone.node(node), rtype).expect("the set")
    }

    /// The multivalue mode of the `rtype` set at `name`.
    fn mode(&self, name: &str, rtype: u16) -> Mode {
        let zone = self.zone();
        zone.signatures().expect("signed").mode(zone.set_index(self.set(name, rtype)))
    }
}

impl Response {
    /// The RCODE (no extended RCODE is expected).
    fn rcode(&self) -> u16 {
        self.flags & 0xF
    }

    /// Whether TC is set.
    fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }

    /// Whether AA is set.
    fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }

    /// Every record, in all three sections.
    fn all(&self) -> impl Iterator<Item = &Record> {
        self.answer.iter().chain(&self.authority).chain(&self.additional)
    }

    /// The answer's RDATAs of type `rtype`, sorted.
    fn values(&self, rtype: u16) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self.answer.iter().filter(|r| r.rtype == rtype).map(|r| r.rdata.clone()).collect();
        v.sort();
        v
    }

    /// The NSEC records in authority: (owner, next, types), names lowercase.
    fn nsecs(&self) -> Vec<(Vec<u8>, Vec<u8>, Vec<u16>)> {
        self.authority
            .iter()
            .filter(|r| r.rtype == rtype::NSEC)
            .map(|r| {
                let (next, types) = nsec_parts(&r.rdata);
                (lower(&r.owner), next, types)
            })
            .collect()
    }

    /// The authority section's SOA, checked to be the zone's negative one.
    fn assert_soa(&self, context: &str) {
        let soa: Vec<&Record> = self.authority.iter().filter(|r| r.rtype == rtype::SOA).collect();
        assert_eq!(soa.len(), 1, "{context}: one SOA");
        assert_eq!(lower(&soa[0].owner), wire(ORIGIN), "{context}: the apex SOA");
        assert_eq!(soa[0].ttl, 60, "{context}: the negative TTL");
    }
}

/// Whether the `t` set at `owner` (lowercase) is served unsigned: a delegation's NS set,
/// glue below a cut, a CNAME made from the DNAME.
fn unsigned(owner: &[u8], t: u16) -> bool {
    let below = |name: &str| {
        let name = wire(name);
        owner.len() > name.len() && owner.ends_with(&name)
    };
    (t == rtype::NS && owner != wire(ORIGIN)) || CUTS.iter().any(|c| below(c)) || (t == rtype::CNAME && below(DNAME))
}

/// `text` (absolute, dotted) in wire form.
fn wire(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// `wire` as dotted text.
fn text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&wire[at + 1..at + 1 + len as usize]));
        out.push('.');
        at += 1 + len as usize;
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// `wire` lowercased.
fn lower(wire: &[u8]) -> Vec<u8> {
    wire.to_ascii_lowercase()
}

/// A query for `name` `qtype`, ID 0xBEEF, with an OPT record (`Some((size, do))`) or not.
fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut q = vec![0xBE, 0xEF, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())];
    q.extend(wire(name));
    q.extend(qtype.to_be_bytes());
    q.extend(CLASS_IN.to_be_bytes());
    if let Some((size, dnssec_ok)) = edns {
        q.extend([0, 0, 41]);
        q.extend(size.to_be_bytes());
        q.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    q
}

/// The name at `at` in `message`, pointers followed, and where the name ends there.
fn read_name(message: &[u8], mut at: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..256 {
        let len = message[at] as usize;
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = (len & 0x3F) << 8 | message[at + 1] as usize;
            continue;
        }
        out.push(len as u8);
        if len == 0 {
            return (out, end.unwrap_or(at + 1));
        }
        out.extend_from_slice(&message[at + 1..at + 1 + len]);
        at += 1 + len;
    }
    panic!("a pointer loop");
}

/// The RDATA of an `rtype` record at `start` (`len` bytes) of `message`, names spelled out.
fn expand_rdata(message: &[u8], rtype: u16, start: usize, len: usize) -> Vec<u8> {
    let end = start + len;
    let name_after = |fixed: usize| {
        let mut out = message[start..start + fixed].to_vec();
        let (name, at) = read_name(message, start + fixed);
        out.extend(name);
        (out, at)
    };
    let (out, at) = match rtype {
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME => name_after(0),
        rtype::MX => name_after(2),
        rtype::SRV => name_after(6),
        rtype::SOA => {
            let (mut out, at) = name_after(0);
            let (rname, at) = read_name(message, at);
            out.extend(rname);
            out.extend_from_slice(&message[at..at + 20]);
            (out, at + 20)
        }
        _ => (message[start..end].to_vec(), end),
    };
    assert_eq!(at, end, "type {rtype}: RDATA ends where its length says");
    out
}

/// Parses a response (ID 0xBEEF, one question).
fn parse(message: &[u8]) -> Response {
    let u16_at = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]);
    assert_eq!(u16_at(0), 0xBEEF);
    assert_eq!(u16_at(4), 1, "one question");
    let counts = [u16_at(6), u16_at(8), u16_at(10)];
    let (_, mut at) = read_name(message, 12);
    at += 4;
    let mut sections: [Vec<Record>; 3] = Default::default();
    for (section, &count) in sections.iter_mut().zip(&counts) {
        for _ in 0..count {
            let (owner, end) = read_name(message, at);
            let rtype = u16_at(end);
            let class = u16_at(end + 2);
            let ttl = u32::from_be_bytes(message[end + 4..end + 8].try_into().unwrap());
            let len = u16_at(end + 8) as usize;
            let rdata = expand_rdata(message, rtype, end + 10, len);
            section.push(Record { owner, rtype, class, ttl, rdata });
            at = end + 10 + len;
        }
    }
    assert_eq!(at, message.len(), "nothing after the records");
    let [answer, authority, mut additional] = sections;
    let opt = additional.iter().position(|r| r.rtype == rtype::OPT).map(|i| additional.remove(i));
    Response { flags: u16_at(2), answer, authority, additional, opt }
}

/// An RRSIG RDATA's fields.
fn rrsig_data(rdata: &[u8]) -> RrsigData {
    let u32_at = |at: usize| u32::from_be_bytes(rdata[at..at + 4].try_into().unwrap());
    let (signer, _) = read_name(rdata, 18);
    RrsigData {
        covered: u16::from_be_bytes([rdata[0], rdata[1]]),
        algorithm: rdata[2],
        labels: rdata[3],
        original_ttl: u32_at(4),
        expiration: u32_at(8),
        inception: u32_at(12),
        key_tag: u16::from_be_bytes([rdata[16], rdata[17]]),
        signer,
    }
}

/// An NSEC RDATA's next name (lowercase) and the types its bitmap lists.
fn nsec_parts(rdata: &[u8]) -> (Vec<u8>, Vec<u16>) {
    let (next, mut at) = read_name(rdata, 0);
    let mut types = Vec::new();
    while at + 2 <= rdata.len() {
        let (window, len) = (u16::from(rdata[at]), rdata[at + 1] as usize);
        for (i, &byte) in rdata[at + 2..at + 2 + len].iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    types.push(window << 8 | (i * 8 + bit) as u16);
                }
            }
        }
        at += 2 + len;
    }
    assert_eq!(at, rdata.len(), "the bitmap ends with the RDATA");
    (lower(&next), types)
}

/// Whether the NSEC from `owner` to `next` covers `name`: `name` lies strictly between them
/// in canonical order (the last NSEC's next is the apex, before every other name).
fn covers(owner: &[u8], next: &[u8], name: &[u8]) -> bool {
    let after_owner = canonical_cmp(owner, name) == Ordering::Less;
    let wraps = canonical_cmp(next, owner) != Ordering::Greater;
    after_owner && (wraps || canonical_cmp(name, next) == Ordering::Less)
}

/// IPv4 address RDATA.
fn a(text: &str) -> Vec<u8> {
    text.parse::<std::net::Ipv4Addr>().expect("an address").octets().to_vec()
}

/// Which members of a set are healthy, by index.
type Healthy = Box<dyn Fn(usize) -> bool>;

/// Multivalue A records: `count` members at `name` (below [`ORIGIN`] unless absolute),
/// values `10.{net}.0.{i}`, member `i` behind check `c{check + i}` when `check` is given,
/// `extra` (TOML lines) in each.
fn multivalue(name: &str, net: u8, count: usize, check: Option<usize>, extra: &str) -> String {
    let owner = if name.ends_with('.') { name.to_string() } else { format!("{name}.{ORIGIN}") };
    let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut out = String::new();
    for i in 0..count {
        let check = check.map_or(String::new(), |c| format!("health_check = \"c{}\"\n", c + i));
        out.push_str(&format!(
            "[[record]]\nname = \"{owner}\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"{id}-{i}\"\n\
             values = [\"10.{net}.0.{i}\"]\n{check}{extra}"
        ));
    }
    out
}

/// The member index of `10.{net}.0.{i}` in an answer of A records.
fn member(rdata: &[u8], net: u8) -> usize {
    assert_eq!(rdata.len(), 4);
    assert_eq!(rdata[..3], [10, net, 0], "a member of the set");
    rdata[3] as usize
}

/// Asserts a NODATA answer for `name` `qtype` from `m`: the SOA, and the NSEC at `name`
/// listing neither `qtype` nor CNAME.
fn assert_nodata(m: &Response, name: &str, qtype: u16) {
    let context = format!("{name} {qtype}: NODATA");
    assert_eq!(m.rcode(), 0, "{context}");
    assert!(m.aa(), "{context}");
    assert!(m.answer.iter().all(|r| r.rtype == rtype::CNAME || r.rtype == rtype::RRSIG), "{context}");
    m.assert_soa(&context);
    let own: Vec<_> = m.nsecs().into_iter().filter(|(owner, _, _)| *owner == wire(name)).collect();
    assert_eq!(own.len(), 1, "{context}: the name's NSEC, in {:?}", m.nsecs());
    let (_, _, types) = &own[0];
    assert!(!types.contains(&qtype) && !types.contains(&rtype::CNAME), "{context}: bitmap {types:?}");
    assert!(types.contains(&rtype::NSEC) && types.contains(&rtype::RRSIG), "{context}: bitmap {types:?}");
}

/// Asserts an NXDOMAIN answer for `name` from `m`: the SOA, an NSEC that covers `name` and
/// one that covers the wildcard at its closest encloser `encloser`, and none that matches.
fn assert_nxdomain(m: &Response, name: &str, encloser: &str) {
    let context = format!("{name}: NXDOMAIN");
    assert_eq!(m.rcode(), 3, "{context}");
    assert!(m.aa(), "{context}");
    m.assert_soa(&context);
    let nsecs = m.nsecs();
    let (name, wildcard) = (wire(name), wire(&format!("*.{encloser}")));
    assert!(nsecs.iter().any(|(o, n, _)| covers(o, n, &name)), "{context}: no NSEC covers it: {nsecs:?}");
    assert!(nsecs.iter().any(|(o, n, _)| covers(o, n, &wildcard)), "{context}: none covers *.{encloser}");
    assert!(nsecs.iter().all(|(o, _, _)| *o != name), "{context}: an NSEC of the name itself");
    // The closest encloser exists: an NSEC proves names, not the encloser's absence.
    assert!(nsecs.len() <= 2, "{context}: at most two NSEC: {nsecs:?}");
}

#[test]
fn static_answers_carry_verified_rrsigs_under_every_key_setup() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        let label = format!("{keys:?}");
        for (name, qtype, count) in [
            ("www.example.com.", rtype::A, 1),
            ("WWW.Example.COM.", rtype::AAAA, 1),
            ("txt.example.com.", rtype::TXT, 2),
            ("mx.example.com.", rtype::MX, 2),
            ("example.com.", rtype::SOA, 1),
            ("example.com.", rtype::NS, 2),
            ("www.example.com.", rtype::NSEC, 1),
            ("long.example.com.", rtype::A, 1),
            ("big.example.com.", rtype::TXT, 6),
        ] {
            let (m, sigs) = s.ask_do_sigs(name, qtype);
            assert_eq!(m.rcode(), 0, "{label}: {name}");
            assert!(m.aa(), "{label}: {name}");
            assert_eq!(m.answer.iter().filter(|r| r.rtype == qtype).count(), count, "{label}: {name} {qtype}");
            let answer_sigs = m.answer.iter().filter(|r| r.rtype == rtype::RRSIG).count();
            assert_eq!(answer_sigs, s.zsks.len(), "{label}: {name}: one RRSIG per data key");
            assert!(sigs.iter().all(|s| s.expiration == STATIC_EXPIRATION), "{label}: {name}: static data");
            // No copy of the apex NS set in authority with DNSSEC, nor NSEC for a positive answer.
            assert!(m.authority.is_empty(), "{label}: {name}: {:?}", m.authority);
        }
        // The MX's exchanges' addresses in additional, each with its RRSIG.
        let m = s.ask_do("mx.example.com.", rtype::MX);
        let extra: Vec<u16> = m.additional.iter().map(|r| r.rtype).collect();
        assert_eq!(extra.iter().filter(|&&t| t == rtype::A).count(), 2, "{label}: {extra:?}");
        assert_eq!(extra.iter().filter(|&&t| t == rtype::RRSIG).count(), 2 * s.zsks.len(), "{label}");
        // A TTL over a week is served, and signed, as a week.
        let m = s.ask_do("long.example.com.", rtype::A);
        assert!(m.answer.iter().all(|r| r.ttl == 604_800), "{label}: {:?}", m.answer);
        let original = m.answer.iter().find(|r| r.rtype == rtype::RRSIG).map(|r| rrsig_data(&r.rdata).original_ttl);
        assert_eq!(original, Some(604_800), "{label}");
        // Over TCP a big answer comes whole, signed, whatever size the client gave.
        let m = s.ask_over(Transport::Tcp, "big.example.com.", rtype::TXT, Some((512, true)));
        assert!(!m.tc(), "{label}");
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::TXT).count(), 6, "{label}");
        s.verify(&m, &format!("{label}: TCP"));
        // ANY: one set (RFC 8482), signed.
        for name in ["www.example.com.", "example.com.", "mx.example.com."] {
            let m = s.ask_do(name, rtype::ANY);
            let mut types: Vec<u16> = m.answer.iter().filter(|r| r.rtype != rtype::RRSIG).map(|r| r.rtype).collect();
            types.dedup();
            assert_eq!(types.len(), 1, "{label}: {name}: {types:?}");
        }
    }
}

#[test]
fn dnskey_cds_and_cdnskey_are_signed_by_the_key_signing_keys() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        let label = format!("{keys:?}");
        let m = s.ask_do("example.com.", rtype::DNSKEY);
        let zsks: &[Vec<u8>] = if keys.zsks.is_empty() { &[] } else { &s.zsks };
        let mut all: Vec<Vec<u8>> = s.ksks.iter().chain(zsks).cloned().collect();
        all.sort();
        assert_eq!(m.values(rtype::DNSKEY), all, "{label}: every key published");
        let m = s.ask_do("example.com.", rtype::CDNSKEY);
        let mut ksks = s.ksks.clone();
        ksks.sort();
        assert_eq!(m.values(rtype::CDNSKEY), ksks, "{label}: the KSKs for the parent");
        let m = s.ask_do("example.com.", rtype::CDS);
        let origin = Name::from_wire(&wire(ORIGIN)).unwrap();
        let mut ds: Vec<Vec<u8>> = s.ksks.iter().map(|k| crate::dnssec::ds(&origin, k).to_vec()).collect();
        ds.sort();
        assert_eq!(m.values(rtype::CDS), ds, "{label}: the KSKs' DS");
        // Which key signed each: checked by `verify` (the KSKs for these three sets, the data
        // keys for the rest); with a pair, the ZSK signs none of them.
        for qtype in [rtype::DNSKEY, rtype::CDS, rtype::CDNSKEY] {
            let m = s.ask_do("example.com.", qtype);
            let mut tags: Vec<u16> =
                m.answer.iter().filter(|r| r.rtype == rtype::RRSIG).map(|r| rrsig_data(&r.rdata).key_tag).collect();
            let mut want: Vec<u16> = s.ksks.iter().map(|k| key_tag(k)).collect();
            tags.sort_unstable();
            want.sort_unstable();
            assert_eq!(tags, want, "{label}: {qtype}");
        }
        // Without DO: the keys, no signatures.
        let m = s.ask("example.com.", rtype::DNSKEY, None);
        assert_eq!(m.values(rtype::DNSKEY), all, "{label}");
        assert!(m.all().all(|r| r.rtype != rtype::RRSIG), "{label}");
    }
}

#[test]
fn negative_answers_prove_what_is_absent() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        // NXDOMAIN: the name covered, and the wildcard at its closest encloser.
        for (name, encloser) in [
            ("nope.example.com.", "example.com."),
            ("a.b.nope.example.com.", "example.com."),
            ("zzzz.example.com.", "example.com."),
            ("0.example.com.", "example.com."),
            ("x.a.b.ent.example.com.", "a.b.ent.example.com."),
            ("x.b.ent.example.com.", "b.ent.example.com."),
            ("x.www.example.com.", "www.example.com."),
            ("Nope.Example.COM.", "example.com."),
        ] {
            let m = s.ask_do(name, rtype::A);
            assert!(m.answer.is_empty(), "{name}");
            assert_nxdomain(&m, &name.to_ascii_lowercase(), encloser);
        }
        // NODATA: the name's own NSEC, without the type.
        for (name, qtype) in [
            ("www.example.com.", rtype::MX),
            ("txt.example.com.", rtype::A),
            ("example.com.", rtype::A),
            ("mail.example.com.", rtype::AAAA),
            // The zone's own DS, asked of it (no parent here): its apex has none.
            ("example.com.", rtype::DS),
        ] {
            let m = s.ask_do(name, qtype);
            assert_nodata(&m, name, qtype);
        }
        // An empty non-terminal: the NSEC that covers it, whose next name is below it.
        for name in ["b.ent.example.com.", "ent.example.com.", "wild.example.com.", "target.example.com."] {
            let m = s.ask_do(name, rtype::A);
            assert_eq!(m.rcode(), 0, "{name}: an empty non-terminal exists");
            assert!(m.answer.is_empty(), "{name}");
            m.assert_soa(name);
            let nsecs = m.nsecs();
            let ent = wire(name);
            let proof = nsecs.iter().find(|(o, n, _)| covers(o, n, &ent));
            let Some((_, next, _)) = proof else { panic!("{name}: no NSEC covers it: {nsecs:?}") };
            assert!(next.len() > ent.len() && next.ends_with(&ent), "{name}: the next name {} is below", text(next));
        }
        // A CNAME to a name that does not exist: the CNAME signed, then the target denied.
        let m = s.ask_do("dangle.example.com.", rtype::A);
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::CNAME).count(), 1);
        assert_nxdomain(&m, "gone.example.com.", "example.com.");
        // A CNAME to a name without the type: NODATA for the target.
        let m = s.ask_do("alias.example.com.", rtype::MX);
        assert_nodata(&m, "www.example.com.", rtype::MX);
    }
}

#[test]
fn wildcard_answers_carry_their_label_count_and_the_nsec_that_covers_the_name() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        for (name, qtype) in [
            ("x.wild.example.com.", rtype::TXT),
            ("x.y.wild.example.com.", rtype::A),
            ("Deep.Er.Still.wild.example.com.", rtype::TXT),
        ] {
            let (m, sigs) = s.ask_do_sigs(name, qtype);
            assert_eq!(m.rcode(), 0, "{name}");
            assert_eq!(m.answer.iter().filter(|r| r.rtype == qtype).count(), 1, "{name}");
            let owner = lower(&wire(name));
            let sig = sigs.iter().find(|s| s.owner == owner && s.covered == qtype).expect("the answer's RRSIG");
            assert_eq!(sig.labels, 3, "{name}: the labels of *.wild.example.com. less the *");
            assert!(sig.labels < rrsig_labels(&owner), "{name}");
            let nsecs = m.nsecs();
            assert!(nsecs.iter().any(|(o, n, _)| covers(o, n, &owner)), "{name}: not covered: {nsecs:?}");
            assert_eq!(nsecs.len(), 1, "{name}: one NSEC proves the name absent");
        }
        // A wildcard CNAME: the CNAME's RRSIG has the wildcard's labels, the target's its own.
        let (m, sigs) = s.ask_do_sigs("foo.wc.example.com.", rtype::A);
        assert_eq!(m.answer.iter().filter(|r| r.rtype != rtype::RRSIG).count(), 2);
        let owner = wire("foo.wc.example.com.");
        let cname = sigs.iter().find(|s| s.covered == rtype::CNAME).expect("the CNAME's RRSIG");
        assert_eq!((cname.owner.clone(), cname.labels), (owner.clone(), 3));
        let target = sigs.iter().find(|s| s.covered == rtype::A).expect("the address's RRSIG");
        assert_eq!(target.labels, 3, "www.example.com. as it is");
        assert!(m.nsecs().iter().any(|(o, n, _)| covers(o, n, &owner)));
        // Wildcard NODATA: the wildcard's NSEC without the type, and the name covered.
        let m = s.ask_do("x.wild.example.com.", rtype::AAAA);
        assert_eq!(m.rcode(), 0);
        assert!(m.answer.is_empty());
        let nsecs = m.nsecs();
        let star = nsecs.iter().find(|(o, _, _)| *o == wire("*.wild.example.com.")).expect("the wildcard's NSEC");
        assert!(!star.2.contains(&rtype::AAAA) && star.2.contains(&rtype::TXT), "{:?}", star.2);
        assert!(nsecs.iter().any(|(o, n, _)| covers(o, n, &wire("x.wild.example.com."))), "{nsecs:?}");
    }
}

#[test]
fn cname_chains_and_dname_answers_are_signed() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        let m = s.ask_do("chain.example.com.", rtype::A);
        let types: Vec<u16> = m.answer.iter().filter(|r| r.rtype != rtype::RRSIG).map(|r| r.rtype).collect();
        assert_eq!(types, [rtype::CNAME, rtype::CNAME, rtype::A]);
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::RRSIG).count(), 3 * s.zsks.len());
        // DNAME: the DNAME signed, the CNAME made from it not, the target signed.
        let (m, sigs) = s.ask_do_sigs("q.dn.example.com.", rtype::A);
        let types: Vec<u16> = m.answer.iter().filter(|r| r.rtype != rtype::RRSIG).map(|r| r.rtype).collect();
        assert_eq!(types, [rtype::DNAME, rtype::CNAME, rtype::A]);
        let covered: Vec<u16> = sigs.iter().map(|s| s.covered).collect();
        assert!(covered.contains(&rtype::DNAME) && covered.contains(&rtype::A) && !covered.contains(&rtype::CNAME));
    }
}

#[test]
fn referrals_prove_whether_the_child_is_signed() {
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", "");
        // Unsigned child: NS and the cut's NSEC, which has NS and no DS; glue unsigned.
        for name in ["host.sub.example.com.", "sub.example.com.", "a.b.sub.example.com."] {
            let m = s.ask_do(name, rtype::A);
            assert_eq!(m.rcode(), 0, "{name}");
            assert!(!m.aa(), "{name}: a referral");
            assert!(m.answer.is_empty(), "{name}");
            let ns: Vec<&Record> = m.authority.iter().filter(|r| r.rtype == rtype::NS).collect();
            assert_eq!(ns.len(), 1, "{name}");
            assert_eq!(lower(&ns[0].owner), wire("sub.example.com."), "{name}");
            let nsecs = m.nsecs();
            assert_eq!(nsecs.len(), 1, "{name}: {nsecs:?}");
            let (owner, _, types) = &nsecs[0];
            assert_eq!(*owner, wire("sub.example.com."), "{name}: the cut's NSEC");
            assert!(types.contains(&rtype::NS) && !types.contains(&rtype::DS), "{name}: {types:?}");
            assert!(!types.contains(&rtype::SOA) && !types.contains(&rtype::A), "{name}: {types:?}");
            assert!(m.authority.iter().all(|r| r.rtype != rtype::DS), "{name}");
            assert_eq!(m.additional.iter().filter(|r| r.rtype == rtype::A).count(), 1, "{name}: glue");
        }
        // Signed child: NS, DS and its RRSIGs, no NSEC.
        for name in ["host.secure.example.com.", "secure.example.com."] {
            let m = s.ask_do(name, rtype::A);
            assert!(!m.aa(), "{name}");
            let types: Vec<u16> = m.authority.iter().map(|r| r.rtype).collect();
            assert_eq!(types.iter().filter(|&&t| t == rtype::DS).count(), 1, "{name}: {types:?}");
            assert_eq!(types.iter().filter(|&&t| t == rtype::RRSIG).count(), s.zsks.len(), "{name}: the DS's");
            assert!(!types.contains(&rtype::NSEC), "{name}: {types:?}");
        }
        // The DS asked of the parent: answered and signed; no DS: the cut's NSEC says so.
        let m = s.ask_do("secure.example.com.", rtype::DS);
        assert!(m.aa());
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::DS).count(), 1);
        let m = s.ask_do("sub.example.com.", rtype::DS);
        assert_nodata(&m, "sub.example.com.", rtype::DS);
    }
}

#[test]
fn queries_without_do_get_no_signatures_and_no_nsec() {
    let mut s = Signed::new(KEY_SETUPS[1], "", &multivalue("mv12", 12, 12, None, ""));
    for edns in [None, Some((4096, false))] {
        for (name, qtype) in [
            ("www.example.com.", rtype::A),
            ("mx.example.com.", rtype::MX),
            ("nope.example.com.", rtype::A),
            ("www.example.com.", rtype::MX),
            ("b.ent.example.com.", rtype::A),
            ("x.wild.example.com.", rtype::TXT),
            ("host.sub.example.com.", rtype::A),
            ("host.secure.example.com.", rtype::A),
            ("mv12.example.com.", rtype::A),
            ("chain.example.com.", rtype::A),
        ] {
            let m = s.ask(name, qtype, edns);
            assert!(m.all().all(|r| r.rtype != rtype::RRSIG), "{name} {qtype} {edns:?}");
            assert!(m.authority.iter().all(|r| r.rtype != rtype::NSEC), "{name} {qtype} {edns:?}");
            assert!(m.authority.iter().all(|r| r.rtype != rtype::DS), "{name} {qtype} {edns:?}");
        }
        // The signer's types are data any query may ask for, unsigned without DO.
        let m = s.ask("www.example.com.", rtype::NSEC, edns);
        assert_eq!(m.answer.len(), 1);
        assert_eq!(m.answer[0].rtype, rtype::NSEC);
    }
}

#[test]
fn truncation_with_do_never_leaves_a_set_without_its_signatures() {
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut s = Signed::new(keys, "", &multivalue("mv12", 12, 12, None, ""));
        let label = format!("{keys:?}");
        // Too big for 512 bytes with its RRSIGs, though it fits without them.
        let m = s.ask("fits.example.com.", rtype::TXT, Some((512, false)));
        assert!(!m.tc() && m.answer.len() == 1, "{label}: fits unsigned");
        let m = s.ask("fits.example.com.", rtype::TXT, Some((512, true)));
        assert!(m.tc(), "{label}: signed, it does not fit");
        assert!(m.answer.is_empty(), "{label}: no TXT without its RRSIG");
        let m = s.ask("big.example.com.", rtype::TXT, Some((512, true)));
        assert!(m.tc() && m.answer.is_empty(), "{label}");
        // At every size a client may ask for, each response either is truncated and empty,
        // or holds the whole answer and authority of the untruncated response, each set with
        // its RRSIGs; only optional sets (addresses in additional) may be left out, whole.
        let queries = [
            ("mx.example.com.", rtype::MX),
            ("big.example.com.", rtype::TXT),
            ("nope.example.com.", rtype::A),
            ("x.a.b.ent.example.com.", rtype::A),
            ("x.y.wild.example.com.", rtype::TXT),
            ("foo.wc.example.com.", rtype::A),
            ("host.secure.example.com.", rtype::A),
            ("host.sub.example.com.", rtype::A),
            ("mv12.example.com.", rtype::A),
            ("chain.example.com.", rtype::A),
            ("example.com.", rtype::DNSKEY),
        ];
        let types = |records: &[Record]| records.iter().map(|r| r.rtype).collect::<Vec<u16>>();
        let full: Vec<(Vec<u16>, Vec<u16>)> = queries
            .iter()
            .map(|&(name, qtype)| {
                let (m, _) = s.ask_do_sigs(name, qtype);
                (types(&m.answer), types(&m.authority))
            })
            .collect();
        let mut truncated = 0;
        for size in 512..=1300u16 {
            for (&(name, qtype), (answer, authority)) in queries.iter().zip(&full) {
                let m = s.ask(name, qtype, Some((size, true)));
                let context = format!("{label}: {name} {qtype} at {size} bytes");
                s.verify(&m, &context);
                if m.tc() {
                    truncated += 1;
                    assert!(m.answer.is_empty() && m.authority.is_empty(), "{context}: nothing partial");
                } else {
                    assert_eq!(types(&m.answer), *answer, "{context}: the whole answer");
                    assert_eq!(types(&m.authority), *authority, "{context}: the whole authority");
                }
            }
        }
        assert!(truncated > 100, "{label}: sizes small enough to truncate ({truncated})");
    }
}

/// Asks the DO query `name` A `draws` times; checks each answer, and counts each member of
/// `10.{net}.0.*` drawn. Each answer must hold `size` distinct members, all of `allowed`.
fn draw(s: &mut Signed, name: &str, net: u8, draws: usize, size: usize, allowed: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let mut counts = vec![0usize; 64];
    for _ in 0..draws {
        let (m, sigs) = s.ask_do_sigs(name, rtype::A);
        assert_eq!(m.rcode(), 0, "{name}");
        let drawn: Vec<usize> = m.values(rtype::A).iter().map(|v| member(v, net)).collect();
        let mut distinct = drawn.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), size, "{name}: {drawn:?}");
        assert!(drawn.iter().all(|&i| allowed(i)), "{name}: {drawn:?}");
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::RRSIG).count(), s.zsks.len(), "{name}");
        // The labels of `*.x.example.com.` less the `*`, or of `x.example.com.`.
        assert!(sigs.iter().filter(|s| s.covered == rtype::A).all(|s| s.labels == 3), "{name}");
        for i in drawn {
            counts[i] += 1;
        }
    }
    counts
}

/// Asserts the `n` first counts each near `expected` (within a fifth).
fn assert_uniform(counts: &[usize], n: usize, expected: f64, context: &str) {
    for (i, &c) in counts[..n].iter().enumerate() {
        let c = c as f64;
        assert!(c > expected * 0.8 && c < expected * 1.2, "{context}: member {i} drawn {c} times, {expected} expected");
    }
}

#[test]
fn exact_mode_multivalue_answers_verify_and_draw_as_without_do() {
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut records = multivalue("mv12", 12, 12, None, "");
        for i in 0..10 {
            let ttl = if i % 2 == 0 { 60 } else { 300 };
            records.push_str(&format!(
                "[[record]]\nname = \"mixed\"\ntype = \"A\"\nttl = {ttl}\nrouting = \"multivalue\"\nset_id = \"m{i}\"\nvalues = [\"10.13.0.{i}\"]\n"
            ));
        }
        let mut s = Signed::new(keys, "", &records);
        assert_eq!(s.mode("mv12.example.com.", rtype::A), Mode::Exact);
        let label = format!("{keys:?}");
        const DRAWS: usize = 2000;
        let with_do = draw(&mut s, "mv12.example.com.", 12, DRAWS, K, &|i| i < 12);
        let expected = DRAWS as f64 * K as f64 / 12.0;
        assert_uniform(&with_do, 12, expected, &format!("{label}: with DO"));
        let mut without = [0usize; 12];
        for _ in 0..DRAWS {
            let m = s.ask("mv12.example.com.", rtype::A, Some((4096, false)));
            assert!(m.all().all(|r| r.rtype != rtype::RRSIG));
            for v in m.values(rtype::A) {
                without[member(&v, 12)] += 1;
            }
        }
        assert_uniform(&without, 12, expected, &format!("{label}: without DO"));
        // Every answer's signature is a subset's, valid for a day.
        let (_, sigs) = s.ask_do_sigs("mv12.example.com.", rtype::A);
        assert!(sigs.iter().all(|s| s.expiration == DYNAMIC_EXPIRATION), "{label}");
        // Through a CNAME: the CNAME's RRSIG, then the subset's.
        for _ in 0..50 {
            let (m, sigs) = s.ask_do_sigs("tomv.example.com.", rtype::A);
            assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::A).count(), K, "{label}");
            assert_eq!(sigs.len(), 2 * s.zsks.len(), "{label}");
        }
        // Mixed TTLs: the answer's TTL is its smallest member's, and so is its RRSIG's.
        for _ in 0..200 {
            let (m, _) = s.ask_do_sigs("mixed.example.com.", rtype::A);
            let drawn: Vec<usize> = m.values(rtype::A).iter().map(|v| member(v, 13)).collect();
            let want = if drawn.iter().any(|i| i % 2 == 0) { 60 } else { 300 };
            assert!(m.answer.iter().all(|r| r.ttl == want), "{label}: {drawn:?}: {:?}", m.answer);
        }
    }
}

#[test]
fn sampled_mode_multivalue_answers_verify() {
    let records = multivalue("mv20", 20, 20, None, "") + &multivalue("mv12", 12, 12, None, "");
    for (keys, dnssec) in [(KEY_SETUPS[0], ""), (KEY_SETUPS[3], ""), (KEY_SETUPS[1], "exact_signatures = 0\n")] {
        let mut s = Signed::new(keys, dnssec, &records);
        let label = format!("{keys:?} {dnssec}");
        assert!(matches!(s.mode("mv20.example.com.", rtype::A), Mode::Sampled { count: 256, .. }), "{label}");
        let twelve = s.mode("mv12.example.com.", rtype::A);
        if dnssec.is_empty() {
            assert_eq!(twelve, Mode::Exact, "{label}");
        } else {
            assert!(matches!(twelve, Mode::Sampled { count: 256, .. }), "{label}: no exact budget");
        }
        const DRAWS: usize = 2000;
        let counts = draw(&mut s, "mv20.example.com.", 20, DRAWS, K, &|i| i < 20);
        assert_uniform(&counts, 20, DRAWS as f64 * K as f64 / 20.0, &format!("{label}: 20 members"));
        let counts = draw(&mut s, "mv12.example.com.", 12, DRAWS, K, &|i| i < 12);
        assert_uniform(&counts, 12, DRAWS as f64 * K as f64 / 12.0, &format!("{label}: 12 members"));
    }
}

/// The records of the health tests: sets of 12 members behind checks c0 to c11 (answering
/// all, nodata or the fallback when none is healthy), of 5 behind c0 to c4, of 20 behind c12
/// to c31 (answer all, nodata, fallback).
fn health_records() -> String {
    let mut records = multivalue("hc12", 12, 12, Some(0), "");
    records += &multivalue("nd12", 14, 12, Some(0), "when_all_unhealthy = \"nodata\"\n");
    records +=
        &multivalue("fb12", 15, 12, Some(0), "when_all_unhealthy = \"fallback\"\nfallback_values = [\"192.0.2.99\"]\n");
    records += &multivalue("hc5", 5, 5, Some(0), "");
    records += &multivalue("hc20", 20, 20, Some(12), "");
    records += &multivalue("nd20", 21, 20, Some(12), "when_all_unhealthy = \"nodata\"\n");
    records += &multivalue(
        "fb20",
        22,
        20,
        Some(12),
        "when_all_unhealthy = \"fallback\"\nfallback_values = [\"192.0.2.98\"]\n",
    );
    records
}

/// Checks the answers of a set of `n` members at `name` (values `10.{net}.0.*`) whose member
/// `i` is healthy when `healthy(i)`: `draws` DO answers, each verified, of healthy members
/// only (every member when none is healthy and the set answers all), as many as an answer
/// holds or the whole healthy pool; or, when none is healthy, what `when` says.
#[allow(clippy::too_many_arguments)]
fn check_health(
    s: &mut Signed,
    name: &str,
    net: u8,
    n: usize,
    healthy: &dyn Fn(usize) -> bool,
    when: WhenAllUnhealthy,
    draws: usize,
    context: &str,
) {
    let up = (0..n).filter(|&i| healthy(i)).count();
    let context = format!("{context}: {name}, {up} of {n} healthy");
    if up == 0 && when == WhenAllUnhealthy::NoData {
        let m = s.ask_do(name, rtype::A);
        assert_nodata(&m, name, rtype::A);
        let owner = wire(name);
        let nsec = m.authority.iter().find(|r| r.rtype == rtype::NSEC && lower(&r.owner) == owner).unwrap();
        let sig = m.authority.iter().find(|r| r.rtype == rtype::RRSIG && lower(&r.owner) == owner).unwrap();
        assert_eq!(rrsig_data(&sig.rdata).expiration, DYNAMIC_EXPIRATION, "{context}: the variant NSEC's");
        assert_eq!(sig.ttl, nsec.ttl, "{context}");
        return;
    }
    if up == 0 && when == WhenAllUnhealthy::Fallback {
        let (m, sigs) = s.ask_do_sigs(name, rtype::A);
        let values: Vec<Vec<u8>> = m.values(rtype::A);
        assert!(values == [a("192.0.2.99")] || values == [a("192.0.2.98")], "{context}: {values:?}");
        assert_eq!(sigs.len(), s.zsks.len(), "{context}");
        assert!(sigs.iter().all(|s| s.expiration == DYNAMIC_EXPIRATION), "{context}");
        return;
    }
    let size = if up == 0 { n.min(s.k) } else { up.min(s.k) };
    let allowed = |i: usize| up == 0 || healthy(i);
    let counts = draw(s, name, net, draws, size, &allowed);
    if up > 0 && up <= s.k {
        // The whole healthy pool each time.
        assert!((0..n).all(|i| counts[i] == if healthy(i) { draws } else { 0 }), "{context}: {counts:?}");
    } else {
        // Every candidate drawn now and then.
        let candidates = (0..n).filter(|&i| allowed(i)).count();
        let expected = draws as f64 * size as f64 / candidates as f64;
        for i in (0..n).filter(|&i| allowed(i)) {
            assert!(counts[i] as f64 > expected * 0.5, "{context}: member {i} drawn {} times of {expected}", counts[i]);
        }
    }
}

#[test]
fn health_checked_exact_and_small_sets_verify_through_health_flips() {
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut s = Signed::new(keys, "", &health_records());
        assert_eq!(s.mode("hc12.example.com.", rtype::A), Mode::Exact);
        assert_eq!(s.mode("hc5.example.com.", rtype::A), Mode::None);
        // Healthy members: all, more than an answer, exactly one answer, fewer, none; in
        // patterns that are not a prefix too.
        let patterns: Vec<(&str, Healthy)> = vec![
            ("all", Box::new(|_| true)),
            ("10", Box::new(|i| i >= 2)),
            ("9, odd and even", Box::new(|i| i % 4 != 1)),
            ("8", Box::new(|i| i >= 4)),
            ("8, spread", Box::new(|i| i % 3 != 0)),
            ("7", Box::new(|i| i >= 5)),
            ("5", Box::new(|i| i % 2 == 0 && i < 10)),
            ("3", Box::new(|i| [1, 6, 11].contains(&i))),
            ("1", Box::new(|i| i == 7)),
            ("none", Box::new(|_| false)),
        ];
        // Twice over: the second time, pools signed the first time are reused.
        for (label, healthy) in patterns.iter().chain(&patterns) {
            s.health(|c| c < 12 && !healthy(c));
            let context = format!("{keys:?}: {label}");
            check_health(&mut s, "hc12.example.com.", 12, 12, healthy, WhenAllUnhealthy::AnswerAll, 150, &context);
            check_health(&mut s, "nd12.example.com.", 14, 12, healthy, WhenAllUnhealthy::NoData, 60, &context);
            check_health(&mut s, "fb12.example.com.", 15, 12, healthy, WhenAllUnhealthy::Fallback, 60, &context);
            check_health(&mut s, "hc5.example.com.", 5, 5, healthy, WhenAllUnhealthy::AnswerAll, 40, &context);
        }
    }
}

#[test]
fn health_checked_sampled_sets_verify_through_health_flips_and_top_ups() {
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut s = Signed::new(keys, "", &health_records());
        assert!(matches!(s.mode("hc20.example.com.", rtype::A), Mode::Sampled { .. }));
        let patterns: Vec<(&str, Healthy, bool)> = vec![
            ("all", Box::new(|_| true), false),
            ("18", Box::new(|i| i >= 2), false),
            // Fewer than a quarter of the blocks avoid 6 of 20 members: more are signed.
            ("14", Box::new(|i| i >= 6), true),
            ("10, spread", Box::new(|i| i % 2 == 0), true),
            ("9", Box::new(|i| i >= 11), true),
            ("8", Box::new(|i| i >= 12), false),
            ("3", Box::new(|i| [0, 9, 19].contains(&i)), false),
            ("1", Box::new(|i| i == 13), false),
            ("none", Box::new(|_| false), false),
        ];
        for (label, healthy, topped_up) in &patterns {
            s.health(|c| c >= 12 && !healthy(c - 12));
            let context = format!("{keys:?}: {label}");
            let signed = s.view.pool_signed(s.set("hc20.example.com.", rtype::A)).expect("a pooled set");
            assert_eq!(signed.extra.is_some(), *topped_up, "{context}: usable {}", signed.usable.len());
            check_health(&mut s, "hc20.example.com.", 20, 20, healthy, WhenAllUnhealthy::AnswerAll, 300, &context);
            check_health(&mut s, "nd20.example.com.", 21, 20, healthy, WhenAllUnhealthy::NoData, 60, &context);
            check_health(&mut s, "fb20.example.com.", 22, 20, healthy, WhenAllUnhealthy::Fallback, 60, &context);
        }
    }
}

#[test]
fn sampled_twelve_member_sets_verify_through_health_flips() {
    // No budget for exact stores: the 12-member sets are sampled too, and 10 healthy leaves
    // few usable blocks (45 of 495 subsets avoid 2 members), so more are signed.
    let mut s = Signed::new(KEY_SETUPS[1], "exact_signatures = 0\n", &health_records());
    assert!(matches!(s.mode("hc12.example.com.", rtype::A), Mode::Sampled { .. }));
    let patterns: Vec<(&str, Healthy)> = vec![
        ("all", Box::new(|_| true)),
        ("11", Box::new(|i| i != 4)),
        ("10", Box::new(|i| i >= 2)),
        ("8", Box::new(|i| i >= 4)),
        ("4", Box::new(|i| i % 3 == 0)),
        ("none", Box::new(|_| false)),
    ];
    for (label, healthy) in &patterns {
        s.health(|c| c < 12 && !healthy(c));
        check_health(&mut s, "hc12.example.com.", 12, 12, healthy, WhenAllUnhealthy::AnswerAll, 200, label);
        check_health(&mut s, "nd12.example.com.", 14, 12, healthy, WhenAllUnhealthy::NoData, 40, label);
        check_health(&mut s, "fb12.example.com.", 15, 12, healthy, WhenAllUnhealthy::Fallback, 40, label);
    }
}

#[test]
fn failover_and_weighted_answers_are_signed_per_member() {
    let mut records = String::new();
    for (id, role, value, check) in [("p", "PRIMARY", "192.0.2.101", 0), ("s", "SECONDARY", "192.0.2.102", 1)] {
        records.push_str(&format!(
            "[[record]]\nname = \"fo\"\ntype = \"A\"\nrouting = \"failover\"\nset_id = \"{id}\"\nfailover = \"{role}\"\nvalues = [\"{value}\"]\nhealth_check = \"c{check}\"\n"
        ));
    }
    for (i, weight) in [1, 2, 3].into_iter().enumerate() {
        records.push_str(&format!(
            "[[record]]\nname = \"wt\"\ntype = \"A\"\nrouting = \"weighted\"\nset_id = \"w{i}\"\nweight = {weight}\nvalues = [\"192.0.2.{}\"]\nhealth_check = \"c{}\"\n",
            110 + i,
            2 + i
        ));
    }
    records.push_str(
        "[[record]]\nname = \"wtfb\"\ntype = \"TXT\"\nrouting = \"weighted\"\nset_id = \"only\"\nweight = 1\n\
         values = [\"one\", \"two\"]\nhealth_check = \"c5\"\nwhen_all_unhealthy = \"fallback\"\nfallback_values = [\"spare\"]\n",
    );
    for (role, check) in [("PRIMARY", 6), ("SECONDARY", 7)] {
        records.push_str(&format!(
            "[[record]]\nname = \"fond\"\ntype = \"A\"\nrouting = \"failover\"\nset_id = \"{role}\"\nfailover = \"{role}\"\n\
             values = [\"192.0.2.{check}\"]\nhealth_check = \"c{check}\"\nwhen_all_unhealthy = \"nodata\"\n"
        ));
    }
    for keys in KEY_SETUPS {
        let mut s = Signed::new(keys, "", &records);
        for (down, primary) in [(vec![], true), (vec![0], false), (vec![1], true), (vec![0, 1], true)] {
            s.health(|c| down.contains(&c));
            for _ in 0..20 {
                let (m, sigs) = s.ask_do_sigs("fo.example.com.", rtype::A);
                let want = if primary { a("192.0.2.101") } else { a("192.0.2.102") };
                assert_eq!(m.values(rtype::A), [want], "{keys:?}: down {down:?}");
                assert!(sigs.iter().all(|s| s.expiration == DYNAMIC_EXPIRATION));
            }
        }
        for down in [vec![], vec![4], vec![2, 3], vec![2, 3, 4]] {
            s.health(|c| down.contains(&c));
            let mut seen = [0usize; 3];
            for _ in 0..120 {
                let m = s.ask_do("wt.example.com.", rtype::A);
                let values = m.values(rtype::A);
                assert_eq!(values.len(), 1);
                seen[values[0][3] as usize - 110] += 1;
            }
            for (i, &count) in seen.iter().enumerate() {
                let healthy = !down.contains(&(2 + i)) || down.len() == 3;
                assert_eq!(count > 0, healthy, "{keys:?}: down {down:?}: {seen:?}");
            }
        }
        // A weighted member of two values, and its fallback.
        s.health(|_| false);
        let m = s.ask_do("wtfb.example.com.", rtype::TXT);
        assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::TXT).count(), 2);
        s.health(|c| c == 5);
        let m = s.ask_do("wtfb.example.com.", rtype::TXT);
        assert_eq!(m.values(rtype::TXT), [b"\x05spare".to_vec()]);
        // Failover with both down and `nodata`: the NSEC without A, signed for the purpose.
        s.health(|c| c == 6 || c == 7);
        let m = s.ask_do("fond.example.com.", rtype::A);
        assert_nodata(&m, "fond.example.com.", rtype::A);
        s.health(|c| c == 6);
        assert_eq!(s.ask_do("fond.example.com.", rtype::A).values(rtype::A), [a("192.0.2.7")]);
    }
}

#[test]
fn the_answer_cache_never_replays_drawn_rows_under_a_stale_signature() {
    let records = multivalue("mv12", 12, 12, None, "")
        + &multivalue("mv20", 20, 20, None, "")
        + &multivalue("hc12", 14, 12, Some(0), "")
        + &multivalue("hc5", 5, 5, Some(0), "")
        + "[[record]]\nname = \"solo\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"x\"\nvalues = [\"192.0.2.1\"]\n";
    let mut s = Signed::new(KEY_SETUPS[0], "", &records);
    s.responder.set_cache(1024);
    let mut scratch = vec![0u8; 4096];
    for down in [vec![], vec![1, 2], vec![0, 1, 2, 3, 4, 5, 6]] {
        s.health(|c| down.contains(&c));
        for (name, net) in [
            ("mv12.example.com.", 12),
            ("mv20.example.com.", 20),
            ("hc12.example.com.", 14),
            ("hc5.example.com.", 5),
            ("solo.example.com.", 0),
            ("www.example.com.", 0),
            ("tomv.example.com.", 12),
        ] {
            let mut seen = std::collections::HashSet::new();
            for round in 0..150 {
                let packet = query(name, rtype::A, Some((1232, true)));
                let m = if round % 2 == 0 {
                    s.ask(name, rtype::A, Some((1232, true)))
                } else {
                    let mut buf = vec![0u8; 4096];
                    buf[..packet.len()].copy_from_slice(&packet);
                    let outcome = s.responder.respond_in_place(&s.view, &mut buf, packet.len(), &mut scratch);
                    parse(&buf[..outcome.len])
                };
                s.verify(&m, &format!("{name}, down {down:?}, round {round}"));
                assert_eq!(m.answer.iter().filter(|r| r.rtype == rtype::RRSIG).count() % s.zsks.len(), 0);
                assert!(m.answer.iter().any(|r| r.rtype == rtype::RRSIG), "{name}: signed");
                if net != 0 {
                    seen.insert(m.values(rtype::A));
                }
            }
            // hc12 with 5 healthy, and hc5 always, answer a whole pool or set.
            let drawn = match name {
                "hc5.example.com." => false,
                "hc12.example.com." => down.len() <= 4,
                _ => true,
            };
            if net != 0 && drawn {
                assert!(seen.len() > 10, "{name}, down {down:?}: answers still drawn ({})", seen.len());
            }
        }
    }
    // The cache is on: unsigned answers are served from it.
    let before = s.responder.cache_hits();
    for _ in 0..4 {
        s.ask("www.example.com.", rtype::A, None);
    }
    assert!(s.responder.cache_hits() > before, "the cache answers");
}

#[test]
fn multivalue_sets_at_a_wildcard_verify() {
    // 12 members (exact) and 20 (sampled), each behind its own check.
    let records = multivalue("*.mvw", 30, 12, Some(0), "when_all_unhealthy = \"nodata\"\n")
        + &multivalue("*.mvs", 31, 20, Some(12), "when_all_unhealthy = \"nodata\"\n");
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut s = Signed::new(keys, "", &records);
        assert_eq!(s.mode("*.mvw.example.com.", rtype::A), Mode::Exact);
        assert!(matches!(s.mode("*.mvs.example.com.", rtype::A), Mode::Sampled { .. }));
        let patterns: Vec<(&str, Healthy)> = vec![
            ("all", Box::new(|_| true)),
            ("10", Box::new(|i| i >= 2)),
            ("8", Box::new(|i| i >= 4)),
            ("5", Box::new(|i| i % 2 == 1 && i < 10)),
            ("none", Box::new(|_| false)),
        ];
        for (label, healthy) in &patterns {
            s.health(|c| if c < 12 { !healthy(c) } else { !healthy(c - 12) });
            for (set, name, net, n) in [
                ("*.mvw.example.com.", "x.mvw.example.com.", 30, 12),
                ("*.mvs.example.com.", "a.b.mvs.example.com.", 31, 20),
            ] {
                let context = format!("{keys:?}: {label}: {name}");
                let up = (0..n).filter(|&i| healthy(i)).count();
                if up == 0 {
                    // NODATA from the wildcard: its NSEC without A, and the name covered.
                    let (m, _) = s.ask_do_sigs(name, rtype::A);
                    assert_eq!(m.rcode(), 0, "{context}");
                    assert!(m.answer.is_empty(), "{context}");
                    let nsecs = m.nsecs();
                    let star = nsecs.iter().find(|(o, _, _)| *o == wire(set)).expect("the wildcard's NSEC");
                    assert!(!star.2.contains(&rtype::A), "{context}: {:?}", star.2);
                    assert!(nsecs.iter().any(|(o, n, _)| covers(o, n, &wire(name))), "{context}: {nsecs:?}");
                    continue;
                }
                let counts = draw(&mut s, name, net, 120, up.min(K), &|i| healthy(i));
                assert!((0..n).all(|i| (counts[i] > 0) == healthy(i)), "{context}: {counts:?}");
                let (m, _) = s.ask_do_sigs(name, rtype::A);
                let owner = wire(name);
                assert!(m.nsecs().iter().any(|(o, n, _)| covers(o, n, &owner)), "{context}: {:?}", m.nsecs());
            }
        }
    }
}

#[test]
fn other_answer_sizes_sign_their_own_subsets() {
    let records = multivalue("mv16", 16, 16, None, "")
        + &multivalue("mv20", 20, 20, None, "")
        + &multivalue("hc16", 17, 16, Some(0), "");
    for (keys, k) in [(KEY_SETUPS[2], 3), (KEY_SETUPS[1], 1), (KEY_SETUPS[0], 16)] {
        let mut s = Signed::build(keys, k, "", "", &records);
        let context = format!("{keys:?}, {k} per answer");
        let sixteen = s.mode("mv16.example.com.", rtype::A);
        assert_eq!(sixteen, if k == 16 { Mode::None } else { Mode::Exact }, "{context}");
        assert!(matches!(s.mode("mv20.example.com.", rtype::A), Mode::Sampled { .. }), "{context}");
        let draws = 4000 / k;
        let counts = draw(&mut s, "mv16.example.com.", 16, draws, k, &|i| i < 16);
        assert_uniform(&counts, 16, (draws * k) as f64 / 16.0, &context);
        let counts = draw(&mut s, "mv20.example.com.", 20, draws, k, &|i| i < 20);
        assert_uniform(&counts, 20, (draws * k) as f64 / 20.0, &context);
        for up in [16, 10, 3, 2, 1, 0] {
            s.health(|c| c >= up);
            let healthy = |i: usize| i < up;
            let label = format!("{context}, {up} healthy");
            check_health(&mut s, "hc16.example.com.", 17, 16, &healthy, WhenAllUnhealthy::AnswerAll, 400, &label);
        }
    }
}

#[test]
fn an_unsigned_zone_beside_a_signed_one_keeps_its_own_pools() {
    // The unsigned zone's pooled sets come first: the signed zone's pool signatures must
    // still be its own sets'.
    let before = "[[zone]]\norigin = \"example.org.\"\nsoa = \"ns1 host 1 7200 900 1209600 60\"\nns = [\"ns1\"]\n";
    let records = multivalue("hc.example.org.", 40, 12, Some(0), "") + &health_records();
    let mut s = Signed::build(KEY_SETUPS[0], K, before, "", &records);
    for up in [12, 9, 8, 4, 0] {
        s.health(|c| c < 12 && c >= up);
        let healthy = |i: usize| i < up;
        let label = format!("{up} healthy");
        check_health(&mut s, "hc12.example.com.", 12, 12, &healthy, WhenAllUnhealthy::AnswerAll, 60, &label);
        check_health(&mut s, "nd12.example.com.", 14, 12, &healthy, WhenAllUnhealthy::NoData, 20, &label);
        for _ in 0..20 {
            let m = s.ask("hc.example.org.", rtype::A, Some((4096, true)));
            assert!(m.all().all(|r| r.rtype != rtype::RRSIG && r.rtype != rtype::NSEC), "{label}: unsigned");
            let drawn: Vec<usize> = m.values(rtype::A).iter().map(|v| member(v, 40)).collect();
            assert_eq!(drawn.len(), if up == 0 { K } else { up.min(K) }, "{label}");
            assert!(up == 0 || drawn.iter().all(|&i| healthy(i)), "{label}: {drawn:?}");
        }
    }
}

#[test]
fn rollover_key_setups_sign_every_answer_with_every_key() {
    let records = health_records() + &multivalue("mv12", 12, 12, None, "");
    for keys in ROLLOVER_SETUPS {
        let mut s = Signed::new(keys, "", &records);
        let label = format!("{keys:?}");
        for (name, qtype) in [
            ("www.example.com.", rtype::A),
            ("mx.example.com.", rtype::MX),
            ("example.com.", rtype::DNSKEY),
            ("example.com.", rtype::CDS),
            ("nope.example.com.", rtype::A),
            ("www.example.com.", rtype::MX),
            ("b.ent.example.com.", rtype::A),
            ("host.sub.example.com.", rtype::A),
            ("host.secure.example.com.", rtype::A),
            ("chain.example.com.", rtype::A),
            ("tomv.example.com.", rtype::A),
        ] {
            let (m, _) = s.ask_do_sigs(name, qtype);
            assert!(m.answer.len() + m.authority.len() > 0, "{label}: {name}");
        }
        let (m, sigs) = s.ask_do_sigs("x.y.wild.example.com.", rtype::TXT);
        assert_eq!(m.nsecs().len(), 1, "{label}");
        assert_eq!(sigs.len(), 2 * s.zsks.len(), "{label}: the TXT's and the NSEC's, by each key");
        let counts = draw(&mut s, "mv12.example.com.", 12, 600, K, &|i| i < 12);
        assert_uniform(&counts, 12, 400.0, &label);
        let patterns: Vec<(&str, Healthy)> = vec![
            ("10", Box::new(|i| i >= 2)),
            ("8", Box::new(|i| i >= 4)),
            ("3", Box::new(|i| i % 4 == 0)),
            ("none", Box::new(|_| false)),
            ("all", Box::new(|_| true)),
        ];
        for (pattern, healthy) in &patterns {
            s.health(|c| if c < 12 { !healthy(c) } else { !healthy(c - 12) });
            let context = format!("{label}: {pattern}");
            check_health(&mut s, "hc12.example.com.", 12, 12, healthy, WhenAllUnhealthy::AnswerAll, 80, &context);
            check_health(&mut s, "nd12.example.com.", 14, 12, healthy, WhenAllUnhealthy::NoData, 20, &context);
            check_health(&mut s, "fb12.example.com.", 15, 12, healthy, WhenAllUnhealthy::Fallback, 20, &context);
            check_health(&mut s, "hc5.example.com.", 5, 5, healthy, WhenAllUnhealthy::AnswerAll, 20, &context);
            check_health(&mut s, "hc20.example.com.", 20, 20, healthy, WhenAllUnhealthy::AnswerAll, 150, &context);
        }
    }
}

#[test]
fn an_exact_budget_shared_by_sets_signs_the_rest_sampled() {
    // Room for one 12-member set's 495 subsets (per data key), not two.
    let records = multivalue("mv12", 12, 12, None, "") + &multivalue("mw12", 13, 12, None, "");
    for keys in [KEY_SETUPS[0], KEY_SETUPS[1]] {
        let mut s = Signed::new(keys, "exact_signatures = 495\n", &records);
        let modes = [s.mode("mv12.example.com.", rtype::A), s.mode("mw12.example.com.", rtype::A)];
        assert_eq!(modes.iter().filter(|m| **m == Mode::Exact).count(), 1, "{modes:?}");
        assert_eq!(modes.iter().filter(|m| matches!(m, Mode::Sampled { .. })).count(), 1, "{modes:?}");
        for (name, net) in [("mv12.example.com.", 12), ("mw12.example.com.", 13)] {
            let counts = draw(&mut s, name, net, 1200, K, &|i| i < 12);
            assert_uniform(&counts, 12, 800.0, name);
        }
    }
}

#[test]
fn multivalue_sets_of_other_types_and_shapes_verify() {
    let mut records = String::new();
    let mut record = |name: &str, rtype: &str, id: usize, values: &str, extra: &str| {
        records.push_str(&format!(
            "[[record]]\nname = \"{name}.{ORIGIN}\"\ntype = \"{rtype}\"\nrouting = \"multivalue\"\nset_id = \"{id}\"\n\
             values = [{values}]\n{extra}"
        ));
    };
    for i in 0..12 {
        record("six", "AAAA", i, &format!("\"2001:db8::{i:x}\""), "");
        // Values of many lengths: no table of records, one stored record each.
        record("txt12", "TXT", i, &format!("\"{}\"", "t".repeat(1 + i * 7)), "");
        // Two values per member: an answer holds both of each member drawn.
        record("pairs", "A", i, &format!("\"10.50.{i}.1\", \"10.50.{i}.2\""), "");
        // Names in RDATA, some of them upper case, some in the zone (their addresses follow).
        let exchange =
            if i % 3 == 0 { format!("MX{i}.Example.NET.") } else { format!("mail{}.example.com.", i % 2 + 1) };
        let exchange = exchange.replace("mail1.", "mail.");
        record("mxs", "MX", i, &format!("\"{} {exchange}\"", 10 + i), &format!("health_check = \"c{i}\"\n"));
    }
    for keys in [KEY_SETUPS[0], KEY_SETUPS[3]] {
        let mut s = Signed::new(keys, "", &records);
        for (name, qtype, per_member) in [
            ("six.example.com.", rtype::AAAA, 1),
            ("txt12.example.com.", rtype::TXT, 1),
            ("pairs.example.com.", rtype::A, 2),
            ("mxs.example.com.", rtype::MX, 1),
        ] {
            assert_eq!(s.mode(name, qtype), Mode::Exact, "{name}");
            let mut seen = std::collections::HashSet::new();
            for _ in 0..150 {
                let (m, sigs) = s.ask_do_sigs(name, qtype);
                let values = m.values(qtype);
                assert_eq!(values.len(), K * per_member, "{keys:?}: {name}");
                assert!(sigs.iter().any(|s| s.covered == qtype), "{name}");
                if qtype == rtype::MX {
                    // The in-zone exchanges' addresses, each set signed.
                    let extra = m.additional.iter().filter(|r| r.rtype == rtype::A).count();
                    assert!((1..=2).contains(&extra), "{name}: {:?}", m.additional);
                }
                seen.insert(values);
            }
            assert!(seen.len() > 50, "{name}: drawn ({})", seen.len());
        }
        // The MX set under health flips: whole pools, subsets, fail-open.
        for up in [12, 9, 8, 5, 1, 0] {
            s.health(|c| c >= up);
            for _ in 0..40 {
                let (m, _) = s.ask_do_sigs("mxs.example.com.", rtype::MX);
                let want = if up == 0 { K } else { up.min(K) };
                assert_eq!(m.values(rtype::MX).len(), want, "{keys:?}: {up} healthy");
            }
        }
    }
}
