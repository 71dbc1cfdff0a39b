//! `eightfold sign`: a zone from a config (a zone file and a multivalue `[[record]]` set),
//! signed with eightfold's keys, checked by BIND's `dnssec-verify` and ldns's
//! `ldns-verify-zone` for both algorithms, one combined key and a KSK + ZSK pair; a changed
//! signature refused by both; the NSEC chain read back from the output; the output served by
//! NSD and validated from the key's DS by unbound and by BIND's delv.

use std::path::Path;
use std::process::{Command, Output};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::common::nsd::Nsd;
use super::common::resolver::{ad, delv, show, Resolver};
use super::common::{addresses, binary};
use super::dnssec_keys::{have, run};

/// Mixed-case names, every common type, an empty non-terminal (`b`, above `a.b`), a
/// wildcard, a delegation to an unsigned child (NS and glue) and one to a signed child (NS
/// and DS), and a TTL over a week.
const ZONE: &str = "$ORIGIN Example.COM.
$TTL 3600
@            IN SOA   NS1.Example.COM. HostMaster.Example.COM. 1 7200 900 1209600 300
@            IN NS    NS1
@            IN NS    ns2.other.example.
@            IN MX    10 Mail.EXAMPLE.com.
@            IN TXT   \"v=spf1 -all\" \"two \\\"strings\\\"\"
NS1          IN A     192.0.2.1
Mail         IN A     192.0.2.2
Mail         IN AAAA  2001:db8::2
WWW          IN CNAME Web
Web 2000000  IN A     192.0.2.4
a.B          IN A     192.0.2.5
*.Wild       IN TXT   \"wildcard\"
_sip._TCP    IN SRV   0 5 5060 SIP
SIP          IN A     192.0.2.6
Unsigned     IN NS    ns.Unsigned
ns.Unsigned  IN A     192.0.2.7
Secure       IN NS    ns.other.example.
Secure       IN DS    12345 13 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B
";

/// The config: the zone file and a multivalue set of three members.
const CONFIG: &str = "[[zone]]
origin = \"example.com.\"
file = \"example.com.zone\"

[[record]]
name = \"Pool.example.com.\"
type = \"A\"
ttl = 60
routing = \"multivalue\"
set_id = \"one\"
values = [\"198.51.100.1\"]

[[record]]
name = \"pool.example.com.\"
type = \"A\"
ttl = 60
routing = \"multivalue\"
set_id = \"two\"
values = [\"198.51.100.2\", \"198.51.100.3\"]
";

/// A folder with the config and its zone file.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eightfold.toml"), CONFIG).unwrap();
    std::fs::write(dir.path().join("example.com.zone"), ZONE).unwrap();
    dir
}

/// `eightfold keygen` in `dir`: the key's stem, as a path.
fn keygen(dir: &Path, args: &[&str]) -> String {
    let stem = run(Command::new(binary()).args(["keygen", "--dir"]).arg(dir).args(args).arg("example.com."));
    dir.join(stem.trim()).display().to_string()
}

/// `eightfold sign` of the test zone with these keys.
fn sign(dir: &Path, keys: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command.args(["sign", "--config"]).arg(dir.join("eightfold.toml")).args(["--zone", "example.com"]);
    for key in keys {
        command.args(["--key", key]);
    }
    command.output().unwrap()
}

fn signed(dir: &Path, keys: &[&str]) -> String {
    let out = sign(dir, keys);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `dnssec-verify` (with `-z` when one key signs all) and `ldns-verify-zone` accept
/// the zone text.
fn verdicts(dir: &Path, text: &str, combined: bool) -> [(bool, String); 2] {
    let file = dir.join("signed.zone");
    std::fs::write(&file, text).unwrap();
    let mut bind = Command::new("dnssec-verify");
    if combined {
        bind.arg("-z");
    }
    bind.args(["-o", "example.com."]).arg(&file);
    let mut ldns = Command::new("ldns-verify-zone");
    ldns.arg(&file);
    [bind, ldns].map(|mut c| {
        let out = c.output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    })
}

#[test]
fn signed_zones_pass_dnssec_verify_and_ldns_verify_zone() {
    if !have("dnssec-verify", "bind9-utils") || !have("ldns-verify-zone", "ldnsutils") {
        return;
    }
    for algorithm in ["13", "15"] {
        for combined in [true, false] {
            let dir = setup();
            let keys = if combined {
                vec![keygen(dir.path(), &["--ksk", "-a", algorithm])]
            } else {
                // The ZSK named by its .private, the KSK by its .key: either names the pair.
                let zsk = keygen(dir.path(), &["-a", algorithm]) + ".private";
                vec![keygen(dir.path(), &["--ksk", "-a", algorithm]) + ".key", zsk]
            };
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let text = signed(dir.path(), &keys);
            let case = format!("algorithm {algorithm}, combined key {combined}");
            for (accepted, output) in verdicts(dir.path(), &text, combined) {
                assert!(accepted, "{case}: {output}\n{text}");
            }
            // The negative control: one signature changed well inside its base64.
            let at = text.find("\tRRSIG\tMX ").unwrap();
            let inside = at + text[at..].find('\n').unwrap() - 10;
            let mut broken = text.clone().into_bytes();
            broken[inside] = if broken[inside] == b'A' { b'B' } else { b'A' };
            for (accepted, output) in verdicts(dir.path(), &String::from_utf8(broken).unwrap(), combined) {
                assert!(!accepted, "{case}: a changed signature was accepted: {output}");
            }
        }
    }
}

/// One record of the output: owner, TTL, type, RDATA fields.
struct Line {
    owner: String,
    ttl: u32,
    rtype: String,
    data: Vec<String>,
}

fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "{line}");
            assert_eq!(fields[2], "IN");
            Line {
                owner: fields[0].to_string(),
                ttl: fields[1].parse().unwrap(),
                rtype: fields[3].to_string(),
                data: fields[4].split(' ').map(str::to_string).collect(),
            }
        })
        .collect()
}

/// Labels from the right, lowercase: the canonical order's key (RFC 4034 section 6.1; no
/// escapes in these names).
fn canonical_key(name: &str) -> Vec<Vec<u8>> {
    name.trim_end_matches('.')
        .split('.')
        .rev()
        .filter(|l| !l.is_empty())
        .map(|l| l.to_ascii_lowercase().into_bytes())
        .collect()
}

#[test]
fn the_nsec_chain_is_complete_and_ordered() {
    let dir = setup();
    let key = keygen(dir.path(), &["--ksk"]);
    let lines = parse(&signed(dir.path(), &[&key]));
    let nsec: Vec<&Line> = lines.iter().filter(|l| l.rtype == "NSEC").collect();
    let owners: Vec<&str> = nsec.iter().map(|l| l.owner.as_str()).collect();
    // Every name with authoritative data, in canonical order; not `b` (an empty
    // non-terminal), not the glue `ns.unsigned`.
    assert_eq!(
        owners,
        [
            "example.com.",
            "_sip._tcp.example.com.",
            "a.b.example.com.",
            "mail.example.com.",
            "ns1.example.com.",
            "pool.example.com.",
            "secure.example.com.",
            "sip.example.com.",
            "unsigned.example.com.",
            "web.example.com.",
            "*.wild.example.com.",
            "www.example.com.",
        ]
    );
    for pair in owners.windows(2) {
        assert!(canonical_key(pair[0]) < canonical_key(pair[1]), "{pair:?}");
    }
    for (i, record) in nsec.iter().enumerate() {
        let next = owners.get(i + 1).copied().unwrap_or("example.com.");
        assert_eq!(record.data[0], next, "{} links to the next name, the last to the apex", record.owner);
        assert_eq!(record.ttl, 300, "min(SOA TTL, SOA minimum)");
        // Each name's bitmap is its types, RRSIG and NSEC.
        let mut expected: Vec<&str> = lines
            .iter()
            .filter(|l| l.owner == record.owner && l.rtype != "RRSIG")
            .map(|l| l.rtype.as_str())
            .filter(|t| !(record.owner.starts_with("unsigned") && *t == "A"))
            .collect();
        expected.push("RRSIG");
        expected.sort_unstable();
        expected.dedup();
        let mut bitmap: Vec<&str> = record.data[1..].iter().map(String::as_str).collect();
        bitmap.sort_unstable();
        assert_eq!(bitmap, expected, "{}", record.owner);
    }
    let bitmap = |owner: &str| nsec.iter().find(|l| l.owner == owner).unwrap().data[1..].join(" ");
    assert_eq!(bitmap("unsigned.example.com."), "NS RRSIG NSEC", "an unsigned delegation");
    assert_eq!(bitmap("secure.example.com."), "NS DS RRSIG NSEC", "a signed delegation");
    assert_eq!(bitmap("example.com."), "NS SOA MX TXT RRSIG NSEC DNSKEY CDS CDNSKEY");

    // Signed: every set but a delegation's NS and the glue.
    let covered = |owner: &str| -> Vec<&str> {
        let mut types: Vec<&str> =
            lines.iter().filter(|l| l.owner == owner && l.rtype == "RRSIG").map(|l| l.data[0].as_str()).collect();
        types.sort_unstable();
        types
    };
    assert_eq!(covered("unsigned.example.com."), ["NSEC"]);
    assert_eq!(covered("ns.unsigned.example.com."), Vec::<&str>::new());
    assert_eq!(covered("secure.example.com."), ["DS", "NSEC"]);
    assert_eq!(covered("example.com."), ["CDNSKEY", "CDS", "DNSKEY", "MX", "NS", "NSEC", "SOA", "TXT"]);
    // The wildcard's RRSIG counts the labels without the `*`.
    let wild = lines.iter().find(|l| l.owner == "*.wild.example.com." && l.rtype == "RRSIG").unwrap();
    assert_eq!(wild.data[2], "3");
    // The multivalue set is signed as the union of its members.
    let pool: Vec<&str> =
        lines.iter().filter(|l| l.owner == "pool.example.com." && l.rtype == "A").map(|l| l.data[0].as_str()).collect();
    assert_eq!(pool, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]);
    // A TTL over a week is cut to a week, served and signed.
    let web: Vec<&Line> = lines
        .iter()
        .filter(|l| l.owner == "web.example.com." && (l.rtype == "A" || l.rtype == "RRSIG" && l.data[0] == "A"))
        .collect();
    assert_eq!(web.len(), 2);
    assert!(web.iter().all(|l| l.ttl == 604_800));
    assert_eq!(web.iter().find(|l| l.rtype == "RRSIG" && l.data[0] == "A").unwrap().data[3], "604800");
    // The SOA comes first.
    assert_eq!((lines[0].owner.as_str(), lines[0].rtype.as_str()), ("example.com.", "SOA"));
}

#[test]
fn sign_refuses_bad_input_with_what_to_fix() {
    let dir = setup();
    let key = keygen(dir.path(), &["--ksk"]);
    let refused = |args: &[&str], expected: &str| {
        let out = Command::new(binary()).arg("sign").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let message = String::from_utf8(out.stderr).unwrap();
        assert!(message.contains(expected), "{args:?}: {message:?} lacks {expected:?}");
        assert!(out.stdout.is_empty());
    };
    let config = dir.path().join("eightfold.toml");
    let config = config.to_str().unwrap();
    refused(
        &["--config", config, "--zone", "example.org", "--key", &key],
        "has no zone example.org.; its zones: example.com.",
    );
    refused(&["--config", config, "--zone", "example.com", "--key", "nothing"], "cannot read nothing.key");
    let other = run(Command::new(binary()).args(["keygen", "--dir"]).arg(dir.path()).arg("example.org"));
    let other = dir.path().join(other.trim());
    refused(
        &["--config", config, "--zone", "example.com", "--key", other.to_str().unwrap()],
        "is for example.org., not this zone",
    );
    // DNSKEY records are made from the keys, never taken from the zone.
    std::fs::write(dir.path().join("example.com.zone"), format!("{ZONE}@ IN DNSKEY 257 3 13 AAAA\n")).unwrap();
    refused(&["--config", config, "--zone", "example.com", "--key", &key], "made by the signer");
}

#[test]
fn signed_output_served_by_nsd_validates_through_unbound_and_delv() {
    if !have("nsd", "nsd") || !have("unbound", "unbound") {
        return;
    }
    let dir = setup();
    let key = keygen(dir.path(), &["--ksk"]);
    let nsd = Nsd::start("example.com.", &signed(dir.path(), &[&key]));
    let ds = run(Command::new(binary()).arg("ds").arg(format!("{key}.key")));
    let resolver = Resolver::start("example.com.", nsd.addr.port(), &ds);
    let validated = |name: &str, qtype: RecordType, rcode: ResponseCode| {
        let answer = resolver.query(name, qtype);
        // unbound's log follows when the resolver is dropped in the panic.
        let validated = answer.response_code() == rcode && ad(&answer);
        assert!(validated, "{name} {qtype}: expected {rcode:?} with AD, got {}", show(&answer));
        answer
    };
    let web = validated("www.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(addresses(&web), ["192.0.2.4".parse::<std::net::Ipv4Addr>().unwrap()], "through the CNAME");
    let pool = validated("pool.example.com.", RecordType::A, ResponseCode::NoError);
    assert_eq!(addresses(&pool).len(), 3, "NSD serves the union of the members");
    validated("example.com.", RecordType::MX, ResponseCode::NoError);
    validated("example.com.", RecordType::DNSKEY, ResponseCode::NoError);
    validated("x.wild.example.com.", RecordType::TXT, ResponseCode::NoError);
    validated("nothing.example.com.", RecordType::A, ResponseCode::NXDomain);
    let nodata = validated("mail.example.com.", RecordType::TXT, ResponseCode::NoError);
    assert!(nodata.answers().is_empty(), "{}", show(&nodata));
    let ent = validated("b.example.com.", RecordType::A, ResponseCode::NoError);
    assert!(ent.answers().is_empty(), "an empty non-terminal: {}", show(&ent));
    let secure = validated("secure.example.com.", RecordType::DS, ResponseCode::NoError);
    assert_eq!(secure.answers().iter().filter(|r| r.record_type() == RecordType::DS).count(), 1);
    let unsigned = validated("unsigned.example.com.", RecordType::DS, ResponseCode::NoError);
    assert!(unsigned.answers().is_empty(), "no DS, proven: {}", show(&unsigned));
    drop(resolver);
    let delv_validates = |ds: &str| {
        let out = delv(nsd.addr, ds, "www.example.com.", RecordType::A);
        (out.contains("; fully validated"), out)
    };
    if have("delv", "dnsutils") {
        let (validated, out) = delv_validates(&ds);
        assert!(validated, "{out}");
    }

    // The negative control: another key's DS as the trust anchor.
    let other = keygen(dir.path(), &["--ksk"]);
    let ds = run(Command::new(binary()).arg("ds").arg(format!("{other}.key")));
    let resolver = Resolver::start("example.com.", nsd.addr.port(), &ds);
    let answer = resolver.query("www.example.com.", RecordType::A);
    assert_eq!(answer.response_code(), ResponseCode::ServFail, "{}", show(&answer));
    assert!(!ad(&answer));
    if have("delv", "dnsutils") {
        let (validated, out) = delv_validates(&ds);
        assert!(!validated && out.contains("broken trust chain"), "{out}");
    }
}
