//! DNSSEC keys and signatures against independent implementations (BIND's `bind9-utils` and
//! `ldnsutils`, which `.ci/run` installs): `eightfold keygen` and `eightfold ds` beside
//! dnssec-keygen, ldns-keygen, dnssec-dsfromkey and ldns-key2ds; a zone BIND signs with an
//! eightfold key, its RRSIGs checked by eightfold's verifier, then signed again by eightfold
//! and checked by dnssec-verify and ldns-verify-zone.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use domain::base::rdata::ComposeRecordData;
use domain::base::ToName;
use domain::zonefile::inplace::{Entry, Zonefile};
use eightfold::dnssec::{sign_rrset, verify_rrset, Algorithm, RrsigFields, Scratch, SigningKey};

use super::common::binary;

/// Whether `program` is on the PATH; outside CI a missing one skips the test, under CI
/// (where `.ci/run` installs `package`) it fails it.
pub(crate) fn have(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{program} is required under CI (apt-get install {package})");
        eprintln!("{program} is not installed (apt-get install {package}); skipping this test outside CI");
    }
    found
}

/// Runs a command that must succeed; its standard output.
pub(crate) fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn eightfold(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

/// `eightfold keygen ARGS --dir DIR`: the stem it printed.
fn keygen(dir: &Path, args: &[&str]) -> String {
    run(Command::new(binary()).args(["keygen", "--dir"]).arg(dir).args(args)).trim().to_string()
}

/// The key tag a BIND stem (`Kexample.com.+013+01234`) ends with.
fn stem_tag(stem: &str) -> u16 {
    stem.rsplit('+').next().unwrap().parse().unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// The fields of a DS line, the owner and hex in lowercase, however the tool spaces them,
/// without the TTL ldns-key2ds adds.
fn ds_fields(line: &str) -> Vec<String> {
    let mut fields: Vec<String> = line.split_whitespace().map(str::to_ascii_lowercase).collect();
    if fields.get(1).is_some_and(|f| f.parse::<u32>().is_ok()) {
        fields.remove(1);
    }
    fields
}

#[test]
fn keygen_writes_bind_files_whose_ds_matches_dnssec_dsfromkey_and_ldns_key2ds() {
    if !have("dnssec-dsfromkey", "bind9-utils") || !have("ldns-key2ds", "ldnsutils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, number) in [("13", 13), ("ECDSAP256SHA256", 13), ("15", 15), ("ed25519", 15)] {
        let stem = keygen(dir.path(), &["--ksk", "--algorithm", algorithm, "Example.COM"]);
        let prefix = format!("Kexample.com.+{number:03}+");
        assert!(stem.starts_with(&prefix) && stem.len() == prefix.len() + 5, "{stem}");
        let private = dir.path().join(format!("{stem}.private"));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&private).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{stem}.private is for its owner only");

        let key = dir.path().join(format!("{stem}.key"));
        let ours = eightfold(&["ds", key.to_str().unwrap()]);
        assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
        let ours = String::from_utf8(ours.stdout).unwrap();
        let bind = run(Command::new("dnssec-dsfromkey").arg("-2").arg(&key));
        assert_eq!(ours, bind, "eightfold ds and dnssec-dsfromkey -2 for {stem}");
        let ldns = run(Command::new("ldns-key2ds").args(["-n", "-2"]).arg(&key).current_dir(dir.path()));
        assert_eq!(ds_fields(&ours), ds_fields(&ldns), "eightfold ds and ldns-key2ds -2 for {stem}");
        assert_eq!(ds_fields(&ours)[3], stem_tag(&stem).to_string(), "the DS's tag is the file name's");
        // The stem and the .private name the same key.
        let by_stem = eightfold(&["ds", dir.path().join(&stem).to_str().unwrap()]);
        assert_eq!(String::from_utf8(by_stem.stdout).unwrap(), ours);
        let by_private = eightfold(&["ds", private.to_str().unwrap()]);
        assert_eq!(String::from_utf8(by_private.stdout).unwrap(), ours);
    }
}

#[test]
fn keys_from_dnssec_keygen_and_ldns_keygen_load_sign_and_give_bind_s_ds() {
    if !have("dnssec-keygen", "bind9-utils") || !have("ldns-keygen", "ldnsutils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made: [&[&str]; 4] = [
        &["dnssec-keygen", "-a", "ECDSAP256SHA256", "-f", "KSK", "Example.COM"],
        &["dnssec-keygen", "-a", "ED25519", "-f", "KSK", "example.com"],
        &["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "example.org"],
        &["ldns-keygen", "-a", "ED25519", "-k", "Example.ORG"],
    ];
    let mut scratch = Scratch::new();
    for tool in made {
        let stem = run(Command::new(tool[0]).args(&tool[1..]).current_dir(dir.path())).trim().to_string();
        let key = SigningKey::from_bind(
            &read(dir.path(), &format!("{stem}.key")),
            &read(dir.path(), &format!("{stem}.private")),
        )
        .unwrap_or_else(|e| panic!("{tool:?} made {stem}: {e}"));
        assert_eq!(key.dnskey().key_tag(), stem_tag(&stem), "{tool:?}");
        assert!(key.dnskey().is_ksk());

        let file = dir.path().join(format!("{stem}.key"));
        let ours = eightfold(&["ds", file.to_str().unwrap()]);
        assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
        let bind = run(Command::new("dnssec-dsfromkey").arg("-2").arg(&file));
        assert_eq!(ds_fields(&String::from_utf8(ours.stdout).unwrap()), ds_fields(&bind), "{tool:?}");

        // It signs, and what it signs verifies.
        let owner = [b"\x03WWW", key.dnskey().owner().as_wire()].concat();
        let fields = RrsigFields::new(&key, 1, &owner, 300, 1, 2);
        let records: [&[u8]; 2] = [&[192, 0, 2, 1], &[192, 0, 2, 2]];
        let rrsig = sign_rrset(&key, &fields, &owner, 1, &records, &mut scratch).unwrap();
        verify_rrset(key.dnskey().rdata(), &rrsig, &owner, 1, &records, &mut scratch).unwrap();
    }
}

/// ldns-keygen writes an ECDSA private key without its leading zero bytes (one key in 256 is 31
/// bytes long): such a key loads, is the key its `.key` names, and signs.
#[test]
fn an_ldns_ecdsa_key_written_short_loads_and_signs() {
    if !have("ldns-keygen", "ldnsutils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let short = (0..5000).find_map(|_| {
        let stem = run(Command::new("ldns-keygen")
            .args(["-a", "ECDSAP256SHA256", "-k", "example.org"])
            .current_dir(dir.path()));
        let stem = stem.trim().to_string();
        let private = read(dir.path(), &format!("{stem}.private"));
        let encoded = private.lines().find_map(|l| l.strip_prefix("PrivateKey: ")).unwrap().trim().to_string();
        // Base64 of 32 bytes is 44 characters, one `=`; of 31, 44 with `==`.
        if encoded.ends_with("==") {
            return Some((stem, private));
        }
        std::fs::remove_file(dir.path().join(format!("{stem}.key"))).unwrap();
        std::fs::remove_file(dir.path().join(format!("{stem}.private"))).unwrap();
        None
    });
    let (stem, private) = short.expect("5,000 keys from ldns-keygen, none 31 bytes long: has ldns started padding?");
    let key = SigningKey::from_bind(&read(dir.path(), &format!("{stem}.key")), &private)
        .unwrap_or_else(|e| panic!("{stem}: {e}\n{private}"));
    assert_eq!(key.dnskey().key_tag(), stem_tag(&stem));
    let owner = [b"\x03WWW", key.dnskey().owner().as_wire()].concat();
    let fields = RrsigFields::new(&key, 1, &owner, 300, 1, 2);
    let records: [&[u8]; 1] = [&[192, 0, 2, 1]];
    let mut scratch = Scratch::new();
    let rrsig = sign_rrset(&key, &fields, &owner, 1, &records, &mut scratch).unwrap();
    verify_rrset(key.dnskey().rdata(), &rrsig, &owner, 1, &records, &mut scratch).unwrap();
}

#[test]
fn ds_refuses_a_zone_signing_key_unless_told_all() {
    if !have("dnssec-keygen", "bind9-utils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stem =
        run(Command::new("dnssec-keygen").args(["-a", "ECDSAP256SHA256", "example.com"]).current_dir(dir.path()));
    let file = dir.path().join(format!("{}.key", stem.trim()));
    let refused = eightfold(&["ds", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(message.contains("a zone-signing key (flags 256") && message.contains("--all"), "{message}");
    assert!(refused.stdout.is_empty());
    let all = eightfold(&["ds", "--all", file.to_str().unwrap()]);
    assert!(all.status.success());
    let bind = run(Command::new("dnssec-dsfromkey").arg("-2").arg(&file));
    assert_eq!(String::from_utf8(all.stdout).unwrap(), bind);
}

#[test]
fn keygen_and_ds_refuse_bad_input_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = eightfold(&["keygen", "--algorithm", "RSASHA256", "example.com"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let message = String::from_utf8(out.stderr).unwrap();
    assert!(message.contains("give 13 (ECDSAP256SHA256) or 15 (ED25519)"), "{message}");
    let out = eightfold(&["keygen", "--dir", dir.path().join("none").to_str().unwrap(), "example.com"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8(out.stderr).unwrap().contains("cannot write"));

    let stem = keygen(dir.path(), &["--ksk", "example.com"]);
    let key_text = read(dir.path(), &format!("{stem}.key"));
    let cases = [
        (key_text.replace(" 13 ", " 8 "), "line 5: algorithm 8 (RSASHA256) is not one eightfold signs with"),
        (key_text[..key_text.len() - 6].to_string(), "line 5: the public key is not valid base64"),
        (key_text.replace(" 257 ", " 2 "), "line 5: flags 2: a zone's key has 256 (zone-signing) or 257"),
        (String::from("; empty\n"), "no DNSKEY record"),
    ];
    for (text, expected) in cases {
        let file = dir.path().join("bad.key");
        std::fs::write(&file, text).unwrap();
        let out = eightfold(&["ds", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let message = String::from_utf8(out.stderr).unwrap();
        assert!(message.contains(&format!("{}: {expected}", file.display())), "{message:?} lacks {expected:?}");
    }
}

/// A zone with mixed-case owners and names inside RDATA (SOA, NS, MX, CNAME, SRV), an RRset
/// of several records given out of order, and a wildcard.
const ZONE: &str = "$TTL 300
@          IN SOA   NS1.Example.COM. HostMaster.EXAMPLE.com. 1 7200 900 1209600 300
@          IN NS    NS1.Example.COM.
@          IN NS    ns2.OTHER.example.
@          IN MX    10 Mail.EXAMPLE.com.
@          IN MX    20 backup.Example.Com.
NS1        IN A     192.0.2.1
Mail       IN A     192.0.2.2
WWW        IN CNAME Web.Example.COM.
Web        IN A     192.0.2.4
Web        IN A     192.0.2.3
Web        IN A     10.0.0.1
*.Wild     IN A     192.0.2.5
*.Wild     IN TXT   \"Mixed Case Text\"
_sip._TCP  IN SRV   0 5 5060 SIP.Example.COM.
";

/// One record of a zone file: owner (wire form, case kept), type, TTL and RDATA, read by the
/// `domain` crate's zone file scanner.
struct Record {
    owner: Vec<u8>,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

fn parse_record(line: &str) -> Record {
    let mut zonefile = Zonefile::from(format!("{line}\n").as_bytes());
    let Ok(Some(Entry::Record(record))) = zonefile.next_entry() else { panic!("cannot read {line:?}") };
    let mut owner = Vec::new();
    record.owner().compose(&mut owner).unwrap();
    let mut rdata = Vec::new();
    record.data().compose_rdata(&mut rdata).unwrap();
    Record { owner, rtype: record.rtype().to_int(), ttl: record.ttl().as_secs(), rdata }
}

/// Names compare without case, as DNS names do.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[test]
fn rrsigs_cross_check_with_bind_and_ldns() {
    for tool in
        [("dnssec-signzone", "bind9-utils"), ("dnssec-verify", "bind9-utils"), ("ldns-verify-zone", "ldnsutils")]
    {
        if !have(tool.0, tool.1) {
            return;
        }
    }
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        cross_check(algorithm);
    }
}

/// Signs [`ZONE`] with BIND and an eightfold key, checks BIND's RRSIGs with eightfold's
/// verifier, replaces each with eightfold's own and has BIND's and ldns's verifiers check
/// the zone.
fn cross_check(algorithm: Algorithm) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let stem = keygen(path, &["--ksk", "--algorithm", &algorithm.number().to_string(), "Example.COM."]);
    let key_text = read(path, &format!("{stem}.key"));
    let key = SigningKey::from_bind(&key_text, &read(path, &format!("{stem}.private"))).unwrap();
    let dnskey_line = key_text.lines().find(|l| !l.starts_with(';')).unwrap();
    std::fs::write(path.join("zone"), format!("{ZONE}{dnskey_line}\n")).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (inception, expiration) = ((now - 3600) as u32, (now + 86_400) as u32);
    // One key signs everything (-z: it is a KSK); full format: a record a line, names whole.
    run(Command::new("dnssec-signzone")
        .args(["-z", "-O", "full", "-N", "keep", "-o", "Example.COM.", "-K", "."])
        .args(["-s", &inception.to_string(), "-e", &expiration.to_string(), "-f", "bind.signed", "zone", &stem])
        .current_dir(path));
    let signed = read(path, "bind.signed");
    let lines: Vec<&str> = signed.lines().filter(|l| !l.trim().is_empty() && !l.starts_with(';')).collect();
    let records: Vec<Record> = lines.iter().map(|l| parse_record(l)).collect();
    let covered = |r: &Record| u16::from_be_bytes([r.rdata[0], r.rdata[1]]);
    let set = |rrsig: &Record| -> Vec<&[u8]> {
        records
            .iter()
            .filter(|r| r.rtype == covered(rrsig) && same_name(&r.owner, &rrsig.owner))
            .map(|r| &r.rdata[..])
            .collect()
    };

    let mut scratch = Scratch::new();
    let (mut rewritten, mut checked, mut wildcard) = (String::new(), 0, false);
    for (line, record) in lines.iter().zip(&records) {
        if record.rtype != 46 {
            rewritten += &format!("{line}\n");
            continue;
        }
        let rdatas = set(record);
        assert!(!rdatas.is_empty(), "{line}");
        // BIND signed it; eightfold's verifier agrees.
        verify_rrset(key.dnskey().rdata(), &record.rdata, &record.owner, 1, &rdatas, &mut scratch)
            .unwrap_or_else(|e| panic!("BIND's {line}: {e}"));
        // eightfold signs it with the fields it works out itself: they are BIND's.
        let fields = RrsigFields::new(&key, covered(record), &record.owner, record.ttl, inception, expiration);
        wildcard |= record.owner.starts_with(b"\x01*") && fields.labels == 3;
        let ours = sign_rrset(&key, &fields, &record.owner, 1, &rdatas, &mut scratch).unwrap();
        let prefix = ours.len() - 64;
        assert_eq!(ours[..prefix], record.rdata[..prefix], "the RRSIG fields of {line}");
        match algorithm {
            // Ed25519 is deterministic: the same signed data gives BIND's very signature.
            Algorithm::Ed25519 => assert_eq!(ours, record.rdata, "{line}"),
            Algorithm::EcdsaP256Sha256 => assert_ne!(ours, record.rdata, "a fresh nonce, another signature"),
        }
        use base64::Engine;
        let signature = base64::engine::general_purpose::STANDARD.encode(&ours[prefix..]);
        // The signature is the line's last field(s), after the signer's name.
        let signer_at = line.find(" example.com. ").or_else(|| line.find(" Example.COM. ")).expect("the signer");
        rewritten += &format!("{} {signature}\n", &line[..signer_at + " example.com.".len()]);
        checked += 1;
    }
    assert!(checked == 18 && wildcard, "{checked} RRSIGs checked, wildcard {wildcard}");
    assert!(rewritten.contains("Mail.EXAMPLE.com.") && rewritten.contains("*.Wild.Example.COM."), "case is kept");

    std::fs::write(path.join("ours.signed"), &rewritten).unwrap();
    run(Command::new("dnssec-verify").args(["-z", "-o", "example.com.", "ours.signed"]).current_dir(path));
    run(Command::new("ldns-verify-zone").arg("ours.signed").current_dir(path));

    // The verifiers do check: one signature changed, both refuse the zone.
    let at = rewritten.find("RRSIG\tMX").unwrap();
    // Well inside the base64 (its last characters hold padding bits a decoder may ignore).
    let inside = at + rewritten[at..].find('\n').unwrap() - 10;
    let mut broken = rewritten.clone().into_bytes();
    broken[inside] = if broken[inside] == b'A' { b'B' } else { b'A' };
    std::fs::write(path.join("broken.signed"), broken).unwrap();
    for verifier in
        [&["dnssec-verify", "-z", "-o", "example.com.", "broken.signed"][..], &["ldns-verify-zone", "broken.signed"]]
    {
        let out = Command::new(verifier[0]).args(&verifier[1..]).current_dir(path).output().unwrap();
        assert!(!out.status.success(), "{verifier:?} accepted a changed signature");
    }
}
