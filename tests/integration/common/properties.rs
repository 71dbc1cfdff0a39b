//! Properties shared by the bounded property tests (`tests/integration/properties.rs`) and the
//! cargo-fuzz targets (`fuzz/`), which include this file by path (each uses part of it, so
//! they allow dead code where they include it):
//! - any bytes into the answer path: no panic; every response parses with hickory-proto,
//!   echoes the ID and (when the query's question could be read) the question byte for byte,
//!   and fits the transport's size limit (the fixture has a TSIG key, so signed queries,
//!   well or badly, take the signed path);
//! - selection against an oracle: never more than `max_answers`, never an unhealthy member
//!   while a healthy one exists, each member from the set, no repeats;
//! - the answer cache changes nothing: a responder with one and a responder without, seeded
//!   alike, answer every packet byte for byte alike, while zones and health change under them;
//! - compressing names inside RDATA changes nothing but the size: a responder that writes them
//!   in full, seeded alike, answers with the same records, never in fewer bytes.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use eightfold::answer::{Responder, Transport};
use eightfold::config::Config;
use eightfold::health::HealthSnapshot;
use eightfold::policy::{self, Member, Selection};
use eightfold::view::View;
use eightfold::zone::Catalog;

/// A zone with every feature the answer path has.
pub const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 900 1209600 60
@ NS ns1
@ NS ns2.example.net.
@ MX 10 mail
ns1 A 192.0.2.53
mail A 192.0.2.25
mail AAAA 2001:db8::25
alias CNAME mail
loop1 CNAME loop2
loop2 CNAME loop1
out CNAME www.example.net.
*.wild TXT \"wildcard\"
a.b.ent A 192.0.2.9
sub NS ns.sub
ns.sub A 192.0.2.10
hosted NS ns1.provider.net.
hosted NS ns2.provider.net.
hosted NS ns.example.net.
gmx MX 1 aspmx.l.google.com.
gmx MX 5 alt1.aspmx.l.google.com.
gmx MX 5 alt2.aspmx.l.google.com.
gmx MX 9 mail
ptr PTR mail.example.com.
mx.deep MX 10 mail.mx.deep
mx.deep MX 20 mx.deep
mail.mx.deep A 192.0.2.27
*.wild MX 10 mail
chain CNAME alias
deepalias CNAME mx.deep
minfo MINFO host.provider.net. mail.provider.net.
_sip._tcp SRV 10 60 5060 mail
old DNAME example.com.
far DNAME example.net.
long DNAME a0123456789012345678901234567890123456789012345678901234567890.b0123456789012345678901234567890123456789012345678901234567890.c0123456789012345678901234567890123456789012345678901234567890.d.
big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

/// The secret of the fixture's TSIG key, `fixture-key.` (hmac-sha256): the bytes 0 to 31.
/// Responders start at time 0, so a query signed at time 0 is in time.
pub const FIXTURE_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The catalog and health every query property runs against (built once).
pub fn fixture() -> &'static View {
    static FIXTURE: OnceLock<View> = OnceLock::new();
    FIXTURE.get_or_init(|| build_fixture(ZONE, None))
}

/// What the cache property switches between: the fixture; the fixture's zones with every
/// check healthy; the same config with one address changed (a reload) and its health.
pub fn fixture_variants() -> &'static [View] {
    static VARIANTS: OnceLock<Vec<View>> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        let all_up = build_fixture(ZONE, Some(true));
        let reloaded = ZONE.replace("mail A 192.0.2.25", "mail A 192.0.2.26");
        vec![build_fixture(ZONE, None), all_up, build_fixture(&reloaded, None)]
    })
}

/// The fixture's catalog from `zone`, with the check in its initial state (down) or `up`.
fn build_fixture(zone: &str, up: Option<bool>) -> View {
    {
        let mut text = format!(
            "[server]\nidentity = \"fixture\"\nversion = \"0\"\nnsid = \"0x00ff\"\n\
             [[tsig_key]]\nname = \"fixture-key.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{FIXTURE_SECRET}\"\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"z.zone\"\n\
             [[health_check]]\nid = \"down\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\ninverted = true\n",
        );
        for i in 0..20 {
            let check = if i % 3 == 0 { "health_check = \"down\"\n" } else { "" };
            text.push_str(&format!(
                "[[record]]\nname = \"mv.example.com.\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"m{i}\"\nvalues = [\"10.0.0.{i}\"]\n{check}"
            ));
            // Mixed TTLs: the served TTL is the least of the chosen members'.
            text.push_str(&format!(
                "[[record]]\nname = \"mv.example.com.\"\ntype = \"AAAA\"\nttl = {}\nrouting = \"multivalue\"\nset_id = \"m{i}\"\nvalues = [\"2001:db8::{i}\"]\n{check}",
                60 + i
            ));
        }
        // More zones than a catalog compares one by one (so it finds them by hash), one of
        // them nested in example.com.: answers from zones after the first, cached too.
        let origins = ["child.example.com."].into_iter().chain(NET_ZONES);
        for (i, origin) in origins.enumerate() {
            text.push_str(&format!(
                "[[zone]]\norigin = \"{origin}\"\nsoa = \"ns1 host 1 7200 900 1209600 60\"\nns = [\"ns1\"]\n\
                 [[record]]\nname = \"www.{origin}\"\ntype = \"A\"\nvalues = [\"10.9.0.{i}\"]\n"
            ));
            for m in 0..(i % 3) * 6 {
                text.push_str(&format!(
                    "[[record]]\nname = \"mv.{origin}\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"z{m}\"\nvalues = [\"10.9.{i}.{m}\"]\n"
                ));
            }
        }
        // Small sets, one TTL each: a cached answer draws again from the candidates it
        // keeps (checked A, some down; unchecked AAAA).
        for i in 0..10 {
            let check = if i % 4 == 1 { "health_check = \"down\"\n" } else { "" };
            text.push_str(&format!(
                "[[record]]\nname = \"small.example.com.\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"s{i}\"\nvalues = [\"10.3.0.{i}\"]\n{check}"
            ));
        }
        for i in 0..6 {
            text.push_str(&format!(
                "[[record]]\nname = \"small.example.com.\"\ntype = \"AAAA\"\nrouting = \"multivalue\"\nset_id = \"s{i}\"\nvalues = [\"2001:db8:3::{i}\"]\n"
            ));
        }
        for (i, weight) in [0, 1, 5].into_iter().enumerate() {
            text.push_str(&format!(
                "[[record]]\nname = \"weighted.example.com.\"\ntype = \"A\"\nrouting = \"weighted\"\nset_id = \"w{i}\"\nweight = {weight}\nvalues = [\"10.1.0.{i}\"]\n"
            ));
        }
        for (role, check) in [("PRIMARY", "health_check = \"down\"\n"), ("SECONDARY", "")] {
            text.push_str(&format!(
                "[[record]]\nname = \"failover.example.com.\"\ntype = \"A\"\nrouting = \"failover\"\nset_id = \"{role}\"\nfailover = \"{role}\"\nvalues = [\"10.2.0.1\", \"10.2.0.2\"]\n{check}"
            ));
        }
        let zone = zone.to_string();
        let read = move |_: &Path| Ok(zone.clone());
        let config = Config::parse(&text, Path::new("fuzz.toml"), &read).expect("fixture config");
        let catalog = Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog"));
        // With healthy pools, as the server publishes its health.
        let health = match up {
            None => HealthSnapshot::initial(&config.checks),
            Some(up) => HealthSnapshot::from_states(vec![up; config.checks.len()]),
        };
        View::new(catalog, health)
    }
}

/// The fixture's zones besides example.com. and child.example.com.
const NET_ZONES: [&str; 9] = [
    "z0.example.net.",
    "z1.example.net.",
    "z2.example.net.",
    "z3.example.net.",
    "z4.example.net.",
    "z5.example.net.",
    "z6.example.net.",
    "z7.example.net.",
    "a.b.z7.example.net.",
];

/// Names worth asking about in the fixture.
pub const NAMES: &[&str] = &[
    "www.child.example.com.",
    "mv.child.example.com.",
    "child.example.com.",
    "nothing.child.example.com.",
    "www.z3.example.net.",
    "mv.z4.example.net.",
    "mv.a.b.z7.example.net.",
    "x.b.z7.example.net.",
    "z7.example.net.",
    "www.example.net.",
    "example.com.",
    "mail.example.com.",
    "alias.example.com.",
    "loop1.example.com.",
    "out.example.com.",
    "x.wild.example.com.",
    "b.ent.example.com.",
    "host.sub.example.com.",
    "sub.example.com.",
    "x.hosted.example.com.",
    "gmx.example.com.",
    "ptr.example.com.",
    "mx.deep.example.com.",
    "chain.example.com.",
    "deepalias.example.com.",
    "minfo.example.com.",
    "gmx.old.example.com.",
    "mx.deep.old.example.com.",
    "_sip._tcp.example.com.",
    "big.example.com.",
    "mv.example.com.",
    "small.example.com.",
    "weighted.example.com.",
    "failover.example.com.",
    "nothing.example.com.",
    "example.org.",
    "MAIL.EXAMPLE.COM.",
    "mail.old.example.com.",
    "x.y.old.example.com.",
    "a.far.example.com.",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.long.example.com.",
    "id.server.",
    "version.bind.",
];

/// Answers `packet` over `transport` and checks the response's properties.
pub fn check_query(responder: &mut Responder, packet: &[u8], transport: Transport) -> Result<(), String> {
    let view = fixture();
    let mut out = vec![0u8; 65_535];
    let outcome = responder.respond(view, packet, transport, &mut out);
    if outcome.len == 0 {
        // Dropped: only responses (QR=1) and packets shorter than a header.
        if packet.len() >= 12 && packet[2] & 0x80 == 0 {
            return Err("a query with a readable header was dropped".into());
        }
        return Ok(());
    }
    let response = &out[..outcome.len];
    let parsed = hickory_proto::op::Message::from_vec(response).map_err(|e| format!("response does not parse: {e}"))?;
    if response[..2] != packet[..2] {
        return Err("ID not echoed".into());
    }
    if response[2] & 0x80 == 0 {
        return Err("QR not set".into());
    }
    let edns_limit = parsed.extensions().as_ref().map(|_| 4096usize);
    let limit = match transport {
        Transport::Udp => edns_limit.unwrap_or(512),
        Transport::Tcp => 65_535,
    };
    if response.len() > limit {
        return Err(format!("{} bytes over a {limit}-byte limit", response.len()));
    }
    // When the question was echoed, it is the query's, byte for byte.
    if parsed.queries().len() == 1 {
        let question_len = response.len().min(packet.len());
        let end = question_end(response).ok_or("echoed question unreadable")?;
        if end > question_len || response[12..end] != packet[12..end] {
            return Err("question not echoed byte for byte".into());
        }
    }
    Ok(())
}

/// Answers `packets` in order over UDP with a cached and an uncached responder seeded alike,
/// switching between [`fixture_variants`] every `switch_every` packets, and fails at the
/// first response that differs. The cached responder answers as the UDP workers do, over
/// the query in its buffer (`respond_in_place`; `respond` for the few longer than a worker
/// reads). Returns its hits.
pub fn check_cache_agrees(packets: &[Vec<u8>], switch_every: usize, seed: u64) -> Result<u64, String> {
    let variants = fixture_variants();
    let mut cached = Responder::with_seed(seed);
    cached.set_cache(256);
    let mut plain = Responder::with_seed(seed);
    let (mut a, mut b, mut scratch) = (vec![0u8; 4096], vec![0u8; 4096], vec![0u8; 4096]);
    for (i, packet) in packets.iter().enumerate() {
        let view = &variants[(i / switch_every.max(1)) % variants.len()];
        let x = match a.get_mut(..packet.len()) {
            Some(query) => {
                query.copy_from_slice(packet);
                cached.respond_in_place(view, &mut a, packet.len(), &mut scratch)
            }
            None => cached.respond(view, packet, Transport::Udp, &mut a),
        };
        let y = plain.respond(view, packet, Transport::Udp, &mut b);
        if x != y || a[..x.len] != b[..y.len] {
            return Err(format!(
                "packet {i}: cached {x:?} {:02x?}\nuncached {y:?} {:02x?}\npacket: {packet:02x?}",
                &a[..x.len],
                &b[..y.len]
            ));
        }
    }
    Ok(cached.cache_hits())
}

/// Answers `packet` over `transport` with two responders seeded alike, one compressing names
/// inside RDATA (as the server does) and one writing them in full, and checks that both
/// responses parse to the same records and the compressed one is no longer. Over UDP the
/// compressed one may hold more (and be longer): what the other left out for room (the
/// optional NS set, addresses, or everything when it had to truncate).
pub fn check_compression_agrees(packet: &[u8], transport: Transport, seed: u64) -> Result<(), String> {
    let view = fixture();
    let mut compressed = Responder::with_seed(seed);
    let mut full = Responder::with_seed(seed);
    full.set_compression(false);
    let (mut a, mut b) = (vec![0u8; 65_535], vec![0u8; 65_535]);
    let x = compressed.respond(view, packet, transport, &mut a);
    let y = full.respond(view, packet, transport, &mut b);
    if x.len == 0 || y.len == 0 {
        return if x.len == y.len { Ok(()) } else { Err(format!("one answered, one did not: {x:?} {y:?}")) };
    }
    let show = || format!("compressed {:02x?}\nin full {:02x?}", &a[..x.len], &b[..y.len]);
    if (x.rcode, x.qtype, x.zone_at) != (y.rcode, y.qtype, y.zone_at) || (x.truncated && !y.truncated) {
        return Err(format!("outcomes differ: {x:?} {y:?}"));
    }
    let parse = |bytes: &[u8]| {
        hickory_proto::op::Message::from_vec(bytes).map_err(|e| format!("response does not parse: {e}\n{}", show()))
    };
    parse(&a[..x.len])?;
    parse(&b[..y.len])?;
    if y.truncated {
        // Truncated in full: the compressed answer may have fit.
        return Ok(());
    }
    let (sx, sy) = (expanded_records(&a[..x.len])?, expanded_records(&b[..y.len])?);
    for (i, (cx, cy)) in sx.iter().zip(&sy).enumerate() {
        let same = if transport == Transport::Tcp || i == 0 { cx == cy } else { is_subsequence(cy, cx) };
        if !same {
            return Err(format!("section {i} differs:\ncompressed {cx:?}\nin full {cy:?}"));
        }
    }
    if sx == sy && x.len > y.len {
        return Err(format!("compressed is longer: {} > {} bytes\n{}", x.len, y.len, show()));
    }
    Ok(())
}

/// The records of each section of `message`, each as text with every name in full and in
/// lower case: its owner and, for the types whose RDATA names may be compressed (RFC 3597
/// section 4), those names; any other RDATA as it lies (so a name compressed where it must
/// not be shows).
fn expanded_records(message: &[u8]) -> Result<[Vec<String>; 3], String> {
    let count = |i: usize| u16::from_be_bytes([message[4 + 2 * i], message[5 + 2 * i]]) as usize;
    let mut at = if count(0) == 0 { 12 } else { expanded_name(message, 12)?.1 + 4 };
    let mut sections: [Vec<String>; 3] = Default::default();
    for (section, records) in sections.iter_mut().enumerate() {
        for _ in 0..count(section + 1) {
            let (owner, end) = expanded_name(message, at)?;
            let fixed = message.get(end..end + 10).ok_or("record cut short")?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdata = end + 10..end + 10 + u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
            let raw = message.get(rdata.clone()).ok_or("RDATA cut short")?;
            if rtype == 250 {
                // A TSIG's MAC covers the message's bytes, which compression changes: compared
                // as present (the TSIG tests check that every signature verifies).
                records.push(format!("{owner} {rtype} {:02x?} (signed)", &fixed[2..8]));
                at = rdata.end;
                continue;
            }
            // Where the names are: one at the start, after a preference, or two.
            let (first, two, tail) = match rtype {
                2..=5 | 7..=9 | 12 => (0, false, 0),
                15 => (2, false, 0),
                6 => (0, true, 20),
                14 => (0, true, 0),
                _ => (raw.len(), false, 0),
            };
            let mut data = format!("{:02x?}", &raw[..first.min(raw.len())]);
            if first < raw.len() {
                let (name, next) = expanded_name(message, rdata.start + first)?;
                data.push_str(&name);
                let next = if two {
                    let (name, next) = expanded_name(message, next)?;
                    data.push(' ');
                    data.push_str(&name);
                    next
                } else {
                    next
                };
                if next + tail != rdata.end {
                    return Err(format!(
                        "type {rtype} RDATA is not its names{}",
                        if tail > 0 { " and fields" } else { "" }
                    ));
                }
                data.push_str(&format!(" {:02x?}", &message[next..rdata.end]));
            }
            records.push(format!("{owner} {rtype} {:02x?} {data}", &fixed[2..8]));
            at = rdata.end;
        }
    }
    Ok(sections)
}

/// The name at `at` in `message` in full, lower case, as text; the offset past it where it
/// lies; whether it ends in a pointer. An error when a pointer does not point back, or the
/// name runs off the message.
pub fn read_name(message: &[u8], mut at: usize) -> Result<(String, usize, bool), String> {
    let (mut text, mut end, mut pointer) = (String::new(), None, false);
    loop {
        let len = *message.get(at).ok_or("name past the end")? as usize;
        if len >= 0xC0 {
            let target = (len & 0x3F) << 8 | *message.get(at + 1).ok_or("pointer past the end")? as usize;
            if target >= at {
                return Err(format!("pointer at {at} to {target}, not back"));
            }
            end.get_or_insert(at + 2);
            pointer = true;
            at = target;
        } else if len == 0 {
            let text = if text.is_empty() { ".".to_string() } else { text.to_lowercase() };
            return Ok((text, end.unwrap_or(at + 1), pointer));
        } else {
            let label = message.get(at + 1..at + 1 + len).ok_or("label past the end")?;
            text.push_str(&format!("{}.", String::from_utf8_lossy(label)));
            at += 1 + len;
        }
    }
}

/// [`read_name`] without whether it ends in a pointer.
fn expanded_name(message: &[u8], at: usize) -> Result<(String, usize), String> {
    read_name(message, at).map(|(text, end, _)| (text, end))
}

/// Whether `part` is `whole` with some of its items left out, the rest in order.
fn is_subsequence(part: &[String], whole: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|item| rest.any(|w| w == item))
}

/// Flips the case of random letters in `packet`'s question name, as resolvers that use 0x20
/// randomization do; a name that cannot be read is left alone.
pub fn randomize_case(packet: &mut [u8], rng: &mut fastrand::Rng) {
    let Some(end) = question_end(packet) else { return };
    let mut pos = 12;
    while pos < end.saturating_sub(5) && pos < packet.len() {
        let len = packet[pos] as usize;
        if len == 0 || len > 63 {
            return;
        }
        for byte in packet.iter_mut().skip(pos + 1).take(len) {
            if byte.is_ascii_alphabetic() && rng.bool() {
                *byte ^= 0x20;
            }
        }
        pos += 1 + len;
    }
}

fn question_end(message: &[u8]) -> Option<usize> {
    let mut pos = 12;
    loop {
        let len = *message.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 5);
        }
        pos += 1 + len;
    }
}

/// A member for the selection oracle.
#[derive(Debug, Clone, Copy)]
pub struct TestMember {
    /// Check index, if any.
    pub check: Option<u32>,
    /// Weight.
    pub weight: u8,
    /// PRIMARY.
    pub primary: bool,
}

impl Member for TestMember {
    fn check(&self) -> Option<u32> {
        self.check
    }
    fn weight(&self) -> u8 {
        self.weight
    }
    fn is_primary(&self) -> bool {
        self.primary
    }
}

/// Checks multivalue, failover and weighted selection on one set against the rules.
pub fn check_selection(members: &[TestMember], states: &[bool], max: usize, seed: u64) -> Result<(), String> {
    let health = HealthSnapshot::from_states(states.to_vec());
    let healthy = |m: &TestMember| m.check.is_none_or(|c| states.get(c as usize).copied().unwrap_or(true));
    let healthy_count = members.iter().filter(|m| healthy(m)).count();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Selection::default();
    policy::multivalue(members, &health, max, &mut rng, &mut out);
    let chosen = out.as_slice();
    let mut seen = std::collections::HashSet::new();
    for &i in chosen {
        if i as usize >= members.len() || !seen.insert(i) {
            return Err(format!("bad or repeated member {i} in {chosen:?}"));
        }
    }
    if chosen.len() > max {
        return Err(format!("{} chosen, max {max}", chosen.len()));
    }
    if healthy_count > 0 {
        if chosen.iter().any(|&i| !healthy(&members[i as usize])) {
            return Err("an unhealthy member chosen while a healthy one exists".into());
        }
        if chosen.len() != healthy_count.min(max) {
            return Err(format!("{} chosen of {healthy_count} healthy, max {max}", chosen.len()));
        }
    } else if chosen.len() != members.len().min(max) {
        return Err(format!("fail-open chose {} of {}", chosen.len(), members.len()));
    }
    if members.is_empty() {
        return Ok(());
    }
    policy::weighted(members, &health, &mut rng, &mut out);
    let [w] = out.as_slice() else { return Err("weighted must choose exactly one".into()) };
    let pick = &members[*w as usize];
    let healthy_weighted = members.iter().any(|m| healthy(m) && m.weight > 0);
    if healthy_weighted && (!healthy(pick) || pick.weight == 0) {
        return Err("weighted chose an unhealthy or zero-weight member while a healthy weighted one exists".into());
    }
    if !healthy_weighted && healthy_count > 0 && !healthy(pick) {
        return Err("weighted chose an unhealthy member while a healthy zero-weight one exists".into());
    }
    policy::failover(members, &health, &mut out);
    if out.as_slice().len() != 1 {
        return Err("failover must choose exactly one".into());
    }
    Ok(())
}
