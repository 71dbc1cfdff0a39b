//! The same answers seen by `dig`, the client users reach for. `.ci/run` installs dnsutils;
//! elsewhere these tests say so and pass only when dig is absent and CI is unset.

use std::process::Command;

use crate::common::*;

fn dig(s: &TestServer, args: &[&str]) -> Option<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", s.addr.ip()))
        .arg("-p")
        .arg(s.addr.port().to_string())
        .args(["+time=3", "+tries=1"])
        .args(args)
        .output();
    match out {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("dig is not installed (apt-get install dnsutils); skipping dig checks outside CI");
            None
        }
        Err(e) => panic!("dig is required under CI: {e}"),
    }
}

fn server() -> TestServer {
    let body = format!("{ZONE_BODY}{}", multivalue_records("mv.example.com.", 16));
    let txt: String = (0..20).map(|i| format!("big TXT \"{i:02}{}\"\n", "y".repeat(60))).collect();
    TestServer::start(&body, &[("example.com.zone", &format!("{ZONE}{txt}"))])
}

#[test]
fn dig_sees_authoritative_answers() {
    let s = server();
    let Some(out) = dig(&s, &["static.example.com", "A"]) else { return };
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr aa rd;"), "{out}");
    assert!(out.contains("192.0.2.7"), "{out}");
    let out = dig(&s, &["nope.example.com", "A"]).unwrap();
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("SOA"), "{out}");
    let out = dig(&s, &["example.net", "A"]).unwrap();
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = dig(&s, &["+short", "mv.example.com", "A"]).unwrap();
    assert_eq!(out.lines().count(), 8, "{out}");
}

#[test]
fn dig_retries_a_truncated_answer_over_tcp() {
    let s = server();
    // Without EDNS the answer exceeds 512 bytes; dig sees TC and retries over TCP by itself.
    let Some(out) = dig(&s, &["+noedns", "big.example.com", "TXT"]) else { return };
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("ANSWER: 20"), "{out}");
    let out = dig(&s, &["+noedns", "+ignore", "big.example.com", "TXT"]).unwrap();
    assert!(out.contains(" tc"), "{out}");
    let out = dig(&s, &["+tcp", "+keepopen", "static.example.com", "alias.example.com"]).unwrap();
    assert_eq!(out.matches("status: NOERROR").count(), 2, "{out}");
}

#[test]
fn dig_sees_edns_and_badvers() {
    let s = server();
    let Some(out) = dig(&s, &["+edns=0", "static.example.com"]) else { return };
    assert!(out.contains("EDNS: version: 0"), "{out}");
    assert!(out.contains("udp: 1232"), "{out}");
    let out = dig(&s, &["+edns=1", "+noednsneg", "static.example.com"]).unwrap();
    assert!(out.contains("status: BADVERS"), "{out}");
}

#[test]
fn dig_without_cookies_gets_fresh_multivalue_answers_from_the_cache() {
    // Without a cookie every dig sends the same question, so after the first few the workers
    // answer from their caches: still 8 distinct members each time, drawn anew.
    let body = format!("{ZONE_BODY}{}", multivalue_records("mv.example.com.", 16));
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\n{body}");
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let mut answers = std::collections::HashSet::new();
    for _ in 0..20 {
        let Some(out) = dig(&s, &["+nocookie", "+short", "mv.example.com", "A"]) else { return };
        let mut lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 8, "{out}");
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 8, "no repeats: {out}");
        answers.insert(out);
    }
    assert!(answers.len() >= 15, "{} distinct answers in 20", answers.len());
    let (_, metrics) = s.http("GET", "/metrics", "", "");
    assert!(!metrics.contains("eightfold_answer_cache_hits_total 0\n"), "{metrics}");
}

#[test]
fn dig_reads_names_compressed_inside_record_data() {
    let s = server();
    // The apex NS set, its names `ns1` and `ns2` each followed by a pointer to the question's
    // `example.com.`, and their addresses: 97 bytes without EDNS (119 with the names in full).
    let Some(out) = dig(&s, &["+noedns", "+norec", "example.com", "NS"]) else { return };
    assert!(out.contains("ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 2"), "{out}");
    assert!(out.contains("NS\tns1.example.com.") && out.contains("NS\tns2.example.com."), "{out}");
    assert!(!out.to_lowercase().contains("malformed"), "{out}");
    assert!(out.contains("MSG SIZE  rcvd: 97"), "{out}");
}
