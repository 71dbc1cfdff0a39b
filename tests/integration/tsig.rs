//! TSIG (RFC 8945) against the running server, with real clients: hickory-proto signs the
//! queries and verifies the answers' signatures, over UDP and TCP; `dig -y` checks them as
//! an operator would. Keys come from `[[tsig_key]]`, inline or from a secret file, and a
//! reload changes them.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::{Message, MessageVerifier, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::common::endpoints::eventually;
use crate::common::*;

/// `update.example.com.`'s secret (hmac-sha256): the bytes 0 to 31.
const UPDATE_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// `transfer-key.`'s secret (hmac-sha512, in a file of its own): the bytes 100 to 163.
const TRANSFER_SECRET: &str =
    "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow==";

/// The keys the test server knows.
fn keys(update_secret: &str) -> String {
    format!(
        "[[tsig_key]]\nname = \"update.example.com.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{update_secret}\"\n\
         [[tsig_key]]\nname = \"transfer-key\"\nalgorithm = \"hmac-sha512\"\nsecret_file = \"transfer.key\"\n"
    )
}

/// [`ZONE`] with twenty long TXT records at `big`: too much for 512 bytes.
fn zone() -> String {
    let txt: String = (0..20).map(|i| format!("big TXT \"{i:02}{}\"\n", "y".repeat(60))).collect();
    format!("{ZONE}{txt}")
}

fn config(update_secret: &str, extra_server: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\nquery_log = true\ncontrol = \"127.0.0.1:0\"\n\
         {extra_server}{ZONE_BODY}{}",
        keys(update_secret)
    )
}

fn server() -> TestServer {
    let zone = zone();
    let files = [("example.com.zone", zone.as_str()), ("transfer.key", &format!("{TRANSFER_SECRET}\n"))];
    TestServer::start_config(&config(UPDATE_SECRET, ""), &files, &[])
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn decode(base64: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bits: Vec<u8> =
        base64.bytes().filter(|&b| b != b'=').map(|b| ALPHABET.iter().position(|&a| a == b).unwrap() as u8).collect();
    bits.chunks(4)
        .flat_map(|c| {
            let word = c.iter().enumerate().fold(0u32, |w, (i, &v)| w | (v as u32) << (18 - 6 * i));
            word.to_be_bytes()[1..c.len()].to_vec()
        })
        .collect()
}

fn signer(name: &str, algorithm: TsigAlgorithm, secret: &str) -> TSigner {
    TSigner::new(decode(secret), algorithm, Name::from_ascii(name).unwrap(), 300).unwrap()
}

fn update_key() -> TSigner {
    signer("update.example.com.", TsigAlgorithm::HmacSha256, UPDATE_SECRET)
}

/// A query for `name` `qtype` signed by `signer` at `time`: its bytes, and the verifier of
/// the answer (one answer each: it reads a second as the next message of a transfer).
fn signed(name: &str, qtype: RecordType, edns: Option<u16>, signer: &TSigner, time: u64) -> (Vec<u8>, MessageVerifier) {
    let mut query = message(name, qtype, edns);
    let verifier = query.finalize(signer, time as u32).unwrap().expect("a verifier");
    (query.to_vec().unwrap(), verifier)
}

/// The fields of the TSIG record a response ends with.
#[derive(Debug, PartialEq, Eq)]
struct TsigFields {
    time: u64,
    fudge: u16,
    mac_len: usize,
    error: u16,
    other: Vec<u8>,
}

/// The TSIG record `response` ends with, read field by field (hickory does not show its
/// error); `None` when the last record is not a TSIG.
fn last_tsig(response: &[u8]) -> Option<TsigFields> {
    let skip_name = |mut at: usize| -> Option<usize> {
        loop {
            let len = *response.get(at)? as usize;
            match len {
                0 => return Some(at + 1),
                0xC0..=0xFF => return Some(at + 2),
                _ => at += 1 + len,
            }
        }
    };
    let count = |i: usize| u16::from_be_bytes([response[4 + 2 * i], response[5 + 2 * i]]) as usize;
    let mut at = 12;
    for _ in 0..count(0) {
        at = skip_name(at)? + 4;
    }
    let mut last = None;
    for _ in 0..count(1) + count(2) + count(3) {
        let fixed = skip_name(at)?;
        let rtype = u16::from_be_bytes([response[fixed], response[fixed + 1]]);
        let rdlen = u16::from_be_bytes([response[fixed + 8], response[fixed + 9]]) as usize;
        last = Some((rtype, fixed + 10));
        at = fixed + 10 + rdlen;
    }
    let (rtype, rdata) = last?;
    if rtype != 250 || at != response.len() {
        return None;
    }
    let times = skip_name(rdata)?;
    let time = response[times..times + 6].iter().fold(0u64, |t, &b| t << 8 | b as u64);
    let fudge = u16::from_be_bytes([response[times + 6], response[times + 7]]);
    let mac_len = u16::from_be_bytes([response[times + 8], response[times + 9]]) as usize;
    let after_mac = times + 10 + mac_len;
    let error = u16::from_be_bytes([response[after_mac + 2], response[after_mac + 3]]);
    Some(TsigFields { time, fudge, mac_len, error, other: response[after_mac + 6..].to_vec() })
}

/// One signed exchange over TCP.
fn tcp_exchange(s: &TestServer, packet: &[u8]) -> Vec<u8> {
    let mut stream = s.connect();
    write_framed(&mut stream, packet);
    read_framed(&mut stream).expect("a TCP answer")
}

#[test]
fn a_signed_query_gets_a_signed_answer_over_udp_and_tcp() {
    let s = server();
    for edns in [None, Some(1232)] {
        let (packet, mut verify) = signed("static.example.com.", RecordType::A, edns, &update_key(), now());
        let raw = s.udp_raw(&packet).expect("an answer");
        let answer = verify(&raw).expect("the answer's signature verifies");
        assert_eq!(answer.response_code(), ResponseCode::NoError);
        assert_eq!(addresses(&answer), ["192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()]);
        assert_eq!(answer.extensions().is_some(), edns.is_some(), "an OPT to an EDNS query, before the TSIG");
        let tsig = last_tsig(&raw).unwrap();
        assert_eq!((tsig.error, tsig.mac_len, tsig.fudge), (0, 32, 300));
        assert!(tsig.time.abs_diff(now()) < 60, "signed at the server's time: {tsig:?}");
    }
    let (packet, mut verify) = signed("alias.example.com.", RecordType::A, None, &update_key(), now());
    let answer = verify(&tcp_exchange(&s, &packet)).expect("signed over TCP");
    assert_eq!(answer.answers().len(), 2, "the CNAME and its target");
    // NXDOMAIN and REFUSED are signed too.
    for (name, code) in [("nothing.example.com.", ResponseCode::NXDomain), ("www.example.org.", ResponseCode::Refused)]
    {
        let (packet, mut verify) = signed(name, RecordType::A, Some(1232), &update_key(), now());
        assert_eq!(verify(&s.udp_raw(&packet).unwrap()).expect("signed").response_code(), code);
    }
}

#[test]
fn a_key_from_a_secret_file_signs_with_hmac_sha512() {
    let s = server();
    let key = signer("transfer-key.", TsigAlgorithm::HmacSha512, TRANSFER_SECRET);
    let (packet, mut verify) = signed("mail.example.com.", RecordType::AAAA, Some(1232), &key, now());
    let raw = s.udp_raw(&packet).unwrap();
    assert_eq!(verify(&raw).expect("signed").answers().len(), 1);
    assert_eq!(last_tsig(&raw).unwrap().mac_len, 64);
}

#[test]
fn a_wrong_secret_gets_badsig_and_an_unknown_key_badkey_unsigned() {
    let s = server();
    let wrong = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    for (key, error) in [
        (signer("update.example.com.", TsigAlgorithm::HmacSha256, wrong), 16),
        (signer("nobody.example.com.", TsigAlgorithm::HmacSha256, UPDATE_SECRET), 17),
        // The key's name with another algorithm than its own.
        (signer("update.example.com.", TsigAlgorithm::HmacSha512, UPDATE_SECRET), 17),
    ] {
        let (packet, mut verify) = signed("static.example.com.", RecordType::A, Some(1232), &key, now());
        for raw in [s.udp_raw(&packet).unwrap(), tcp_exchange(&s, &packet)] {
            assert!(verify(&raw).is_err(), "unsigned: the client cannot verify it");
            let m = Message::from_vec(&raw).unwrap();
            assert_eq!(m.response_code(), ResponseCode::NotAuth);
            assert!(m.answers().is_empty(), "no data");
            let tsig = last_tsig(&raw).unwrap();
            assert_eq!((tsig.error, tsig.mac_len), (error, 0), "{tsig:?}");
        }
    }
}

#[test]
fn a_query_signed_far_from_the_server_time_gets_badtime_with_that_time() {
    let s = server();
    for skew in [-1000i64, 1000] {
        let time = now().checked_add_signed(skew).unwrap();
        let (packet, mut verify) = signed("static.example.com.", RecordType::A, None, &update_key(), time);
        let raw = s.udp_raw(&packet).unwrap();
        // Signed, with the query's time, so the client can verify it.
        let answer = verify(&raw).expect("a BADTIME answer is signed");
        assert_eq!(answer.response_code(), ResponseCode::NotAuth);
        assert!(answer.answers().is_empty());
        let tsig = last_tsig(&raw).unwrap();
        assert_eq!((tsig.error, tsig.time, tsig.mac_len), (18, time, 32), "{tsig:?}");
        let server_time = tsig.other.iter().fold(0u64, |t, &b| t << 8 | b as u64);
        assert_eq!(tsig.other.len(), 6, "the server's time in Other Data");
        assert!(server_time.abs_diff(now()) < 60, "{server_time} is the server's clock");
    }
    // Within the fudge: answered.
    let (packet, mut verify) = signed("static.example.com.", RecordType::A, None, &update_key(), now() - 200);
    assert_eq!(verify(&s.udp_raw(&packet).unwrap()).unwrap().response_code(), ResponseCode::NoError);
}

#[test]
fn a_signed_answer_too_big_for_udp_is_truncated_signed_and_whole_over_tcp() {
    let s = server();
    let (packet, mut verify) = signed("big.example.com.", RecordType::TXT, None, &update_key(), now());
    let raw = s.udp_raw(&packet).unwrap();
    assert!(raw.len() <= 512);
    let answer = verify(&raw).expect("the truncated answer is signed");
    assert!(answer.truncated() && answer.answers().is_empty(), "question and TSIG only");
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    let (packet, mut verify) = signed("big.example.com.", RecordType::TXT, None, &update_key(), now());
    let answer = verify(&tcp_exchange(&s, &packet)).expect("signed over TCP");
    assert_eq!(answer.answers().len(), 20);
}

#[test]
fn a_reload_changes_the_keys() {
    let zone = zone();
    let files = [("example.com.zone", zone.as_str()), ("transfer.key", TRANSFER_SECRET)];
    let s = TestServer::start_config(&config(UPDATE_SECRET, ""), &files, &[]);
    let other_secret = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let ask = |key: &TSigner| {
        let (packet, mut verify) = signed("static.example.com.", RecordType::A, None, key, now());
        let raw = s.udp_raw(&packet).unwrap();
        (verify(&raw).is_ok(), last_tsig(&raw).map(|t| t.error))
    };
    let new_key = signer("new.example.com.", TsigAlgorithm::HmacSha256, other_secret);
    assert_eq!(ask(&new_key), (false, Some(17)), "not a key yet");
    // Add `new.example.com.`, and give `update.example.com.` another secret.
    let text = format!(
        "{}[[tsig_key]]\nname = \"new.example.com.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{other_secret}\"\n",
        config(other_secret, "")
    );
    std::fs::write(s.path("eightfold.toml"), text).unwrap();
    let (code, out) = s.cli(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(eventually(Duration::from_secs(5), || ask(&new_key) == (true, Some(0))), "the new key answers");
    assert_eq!(ask(&update_key()), (false, Some(16)), "the old secret no longer verifies");
    let update = signer("update.example.com.", TsigAlgorithm::HmacSha256, other_secret);
    assert_eq!(ask(&update), (true, Some(0)));
}

#[test]
fn secrets_never_show_in_logs_status_or_errors() {
    let s = server();
    let (packet, mut verify) = signed("static.example.com.", RecordType::A, None, &update_key(), now());
    verify(&s.udp_raw(&packet).unwrap()).unwrap();
    let (code, status) = s.cli(&["status", "--json"]);
    assert_eq!(code, 0, "{status}");
    let (code, reloaded) = s.cli(&["reload"]);
    assert_eq!(code, 0, "{reloaded}");
    let output = s.output();
    assert!(output.contains("static.example.com"), "the query log is on: {output}");
    // The keys are counted, never shown.
    assert!(output.contains("tsig_keys=2"), "{output}");
    let (code, checked) = check_path(&s.path("eightfold.toml"));
    assert_eq!(code, 0, "{checked}");
    assert!(checked.contains("health checks, 2 TSIG keys)"), "{checked}");
    for text in [&output, &status, &reloaded] {
        assert!(!text.contains(UPDATE_SECRET) && !text.contains(&TRANSFER_SECRET[..20]), "a secret shows:\n{text}");
    }
    // Bad keys: each error names the key, the file where there is one, and what is accepted.
    let zone = zone();
    let bad = |key: &str, files: &[(&str, &str)]| {
        let mut all = vec![("example.com.zone", zone.as_str())];
        all.extend_from_slice(files);
        let (code, out) = check(&format!("{ZONE_BODY}{key}"), &all);
        assert_eq!(code, 1, "{out}");
        assert!(!out.contains(&UPDATE_SECRET[..12]), "the secret shows: {out}");
        out
    };
    let key = |algorithm: &str, secret: &str| {
        format!("[[tsig_key]]\nname = \"k.example.\"\nalgorithm = \"{algorithm}\"\n{secret}\n")
    };
    let inline = format!("secret = \"{UPDATE_SECRET}\"");
    let out = bad(&key("hmac-md5", &inline), &[]);
    assert!(
        out.contains("tsig_key \"k.example.\": key `algorithm`: \"hmac-md5\" is not one of hmac-sha256, hmac-sha512"),
        "{out}"
    );
    let out = bad(&key("hmac-sha256", "secret_file = \"missing.key\""), &[]);
    assert!(out.contains("key `secret_file`: cannot read") && out.contains("missing.key"), "{out}");
    let damaged = format!("{}!\n", &UPDATE_SECRET[..30]);
    let out = bad(&key("hmac-sha256", "secret_file = \"bad.key\""), &[("bad.key", &damaged)]);
    assert!(out.contains("bad.key does not hold a base64 secret"), "{out}");
    let out = bad(&key("hmac-sha256", &format!("secret = \"{}#\"", &UPDATE_SECRET[..16])), &[]);
    assert!(out.contains("key `secret`: not base64"), "{out}");
}

/// `dig` with `args` against `s`, or `None` when dig is missing outside CI.
fn dig(s: &TestServer, args: &[&str]) -> Option<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", s.addr.ip()))
        .args(["-p", &s.addr.port().to_string(), "+time=3", "+tries=1"])
        .args(args)
        .output();
    match out {
        Ok(out) => Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("dig is not installed (apt-get install dnsutils); skipping dig checks outside CI");
            None
        }
        Err(e) => panic!("dig is required under CI: {e}"),
    }
}

#[test]
fn dig_verifies_the_signed_answers() {
    let s = server();
    let update = format!("hmac-sha256:update.example.com:{UPDATE_SECRET}");
    let Some(out) = dig(&s, &["-y", &update, "static.example.com", "A"]) else { return };
    // dig checks the answer's signature and says "tsig verify failure" when it does not hold.
    assert!(out.contains("status: NOERROR") && out.contains("192.0.2.7"), "{out}");
    assert!(out.contains("TSIG PSEUDOSECTION") && !out.contains("verify failure"), "{out}");
    assert!(!out.contains("Couldn't verify") && !out.contains("could not be validated"), "{out}");
    let transfer = format!("hmac-sha512:transfer-key:{TRANSFER_SECRET}");
    for args in [&["+tcp", "-y", &update][..], &["-y", &transfer]] {
        let out = dig(&s, &[args, &["mail.example.com", "AAAA"]].concat()).unwrap();
        assert!(out.contains("status: NOERROR") && out.contains("2001:db8::25"), "{out}");
        assert!(out.contains("TSIG PSEUDOSECTION") && !out.contains("verify") && !out.contains("validated"), "{out}");
    }
    // Too big for UDP: truncated and signed, then whole and signed over TCP.
    let out = dig(&s, &["-y", &update, "+noedns", "big.example.com", "TXT"]).unwrap();
    assert!(out.contains("Truncated, retrying in TCP mode") && out.contains("ANSWER: 20"), "{out}");
    assert!(!out.contains("verify") && !out.contains("validated"), "{out}");
    // Another secret: BADSIG, which dig reports.
    let wrong = "hmac-sha256:update.example.com:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let out = dig(&s, &["-y", wrong, "static.example.com", "A"]).unwrap();
    assert!(out.contains("status: NOTAUTH") && out.contains("BADSIG"), "{out}");
}
