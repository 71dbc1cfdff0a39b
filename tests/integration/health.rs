//! Health checks against real local endpoints: answers over UDP follow the endpoints within
//! request_interval x failure_threshold plus a margin (polled, never slept blindly).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::endpoints::{eventually, Behaviour, HttpEndpoint, TcpEndpoint};
use crate::common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// Interval 1 s, threshold 2: a change shows within about 2 s; allow 2 s more.
const FOLLOW: Duration = Duration::from_secs(5);

/// A check with interval 1 s and threshold 2 unless `extra` sets the threshold.
fn check(id: &str, kind: &str, addr: std::net::SocketAddr, extra: &str) -> String {
    let threshold = if extra.contains("failure_threshold") { "" } else { "failure_threshold = 2\n" };
    format!(
        "[[health_check]]\nid = \"{id}\"\ntype = \"{kind}\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\n{threshold}{extra}",
        addr.ip(),
        addr.port()
    )
}

fn record(name: &str, routing: &str, set_id: &str, value: &str, extra: &str) -> String {
    format!(
        "[[record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 5\nrouting = \"{routing}\"\nset_id = \"{set_id}\"\nvalues = [\"{value}\"]\n{extra}"
    )
}

/// The answer's addresses as a set (order varies between queries).
fn answer_set(m: &Message) -> HashSet<Ipv4Addr> {
    addresses(m).into_iter().collect()
}

fn ips(list: &[&str]) -> HashSet<Ipv4Addr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn start(body: &str) -> TestServer {
    TestServer::start(&format!("{ZONE_BODY}{body}"), &[("example.com.zone", ZONE)])
}

#[test]
fn multivalue_follows_endpoints_down_and_back_and_fails_open() {
    let eps: Vec<HttpEndpoint> = (2..5).map(|i| HttpEndpoint::start(&format!("127.0.0.{i}"))).collect();
    let mut body = String::new();
    for (i, ep) in eps.iter().enumerate() {
        body += &check(&format!("c{i}"), "HTTP", ep.addr, "resource_path = \"/health\"\n");
        body += &record(
            "mv",
            "multivalue",
            &format!("r{i}"),
            &format!("10.0.0.{i}"),
            &format!("health_check = \"c{i}\"\n"),
        );
    }
    let s = start(&body);
    let all = ips(&["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
    assert_eq!(answer_set(&s.query("mv.example.com.", RecordType::A)), all);
    eps[1].set(Behaviour::Respond(503, "down".into()));
    assert!(
        eventually(FOLLOW, || answer_set(&s.query("mv.example.com.", RecordType::A)) == ips(&["10.0.0.0", "10.0.0.2"])),
        "record 1 leaves the answers"
    );
    eps[1].set(Behaviour::Respond(200, "OK".into()));
    assert!(eventually(FOLLOW, || answer_set(&s.query("mv.example.com.", RecordType::A)) == all), "record 1 returns");
    for ep in &eps {
        ep.set(Behaviour::Respond(500, "".into()));
    }
    // Fail-open: every record unhealthy, so all of them (at most 8) are answered.
    // One transition earlier for record 1, then one per endpoint.
    assert!(eventually(FOLLOW, || s.output().matches("endpoint is now unhealthy").count() == 4), "{}", s.output());
    for _ in 0..10 {
        assert_eq!(answer_set(&s.query("mv.example.com.", RecordType::A)), all);
    }
    assert!(eventually(FOLLOW, || s.output().contains("Failure: HTTP Status Code 500")), "{}", s.output());
    // Without an fqdn the Host header is the address, with the port since it is not 80.
    let expected = format!("127.0.0.2:{}", eps[0].addr.port());
    assert!(eps[0].hosts.lock().unwrap().iter().all(|h| *h == expected));
}

#[test]
fn unchecked_record_prevents_fail_open_and_tcp_checks_follow_listeners() {
    let a = TcpEndpoint::start("127.0.0.5");
    let b = TcpEndpoint::start("127.0.0.6");
    let body = [
        check("a", "TCP", a.addr, ""),
        check("b", "TCP", b.addr, ""),
        record("mv", "multivalue", "a", "10.1.0.1", "health_check = \"a\"\n"),
        record("mv", "multivalue", "b", "10.1.0.2", "health_check = \"b\"\n"),
        record("mv", "multivalue", "plain", "10.1.0.3", ""),
    ]
    .concat();
    let s = start(&body);
    assert_eq!(answer_set(&s.query("mv.example.com.", RecordType::A)).len(), 3);
    a.set_up(false);
    b.set_up(false);
    assert!(eventually(FOLLOW, || answer_set(&s.query("mv.example.com.", RecordType::A)) == ips(&["10.1.0.3"])));
    a.set_up(true);
    assert!(
        eventually(FOLLOW, || answer_set(&s.query("mv.example.com.", RecordType::A)) == ips(&["10.1.0.1", "10.1.0.3"]))
    );
    assert!(eventually(FOLLOW, || s.output().contains("Connection refused")), "{}", s.output());
}

#[test]
fn failover_switches_both_ways() {
    let primary = HttpEndpoint::start("127.0.0.7");
    let secondary = HttpEndpoint::start("127.0.0.8");
    let body = [
        check("p", "HTTP", primary.addr, ""),
        check("s", "HTTP", secondary.addr, ""),
        record("fo", "failover", "primary", "10.2.0.1", "failover = \"PRIMARY\"\nhealth_check = \"p\"\n"),
        record("fo", "failover", "secondary", "10.2.0.2", "failover = \"SECONDARY\"\nhealth_check = \"s\"\n"),
    ]
    .concat();
    let s = start(&body);
    let answer = || answer_set(&s.query("fo.example.com.", RecordType::A));
    assert_eq!(answer(), ips(&["10.2.0.1"]));
    primary.set(Behaviour::Respond(503, "".into()));
    assert!(eventually(FOLLOW, || answer() == ips(&["10.2.0.2"])), "secondary while the primary is down");
    secondary.set(Behaviour::Respond(503, "".into()));
    assert!(eventually(FOLLOW, || answer() == ips(&["10.2.0.1"])), "primary again when both are down");
    primary.set(Behaviour::Respond(200, "".into()));
    secondary.set(Behaviour::Respond(200, "".into()));
    assert!(eventually(FOLLOW, || s.output().matches("endpoint is now healthy").count() == 2));
    assert_eq!(answer(), ips(&["10.2.0.1"]));
}

#[test]
fn weighted_rebalances_and_keeps_proportions() {
    let blue = HttpEndpoint::start("127.0.0.9");
    let green = HttpEndpoint::start("127.0.0.10");
    let body = [
        check("blue", "HTTP", blue.addr, ""),
        check("green", "HTTP", green.addr, ""),
        record("w", "weighted", "blue", "10.3.0.1", "weight = 1\nhealth_check = \"blue\"\n"),
        record("w", "weighted", "green", "10.3.0.2", "weight = 3\nhealth_check = \"green\"\n"),
        record("w", "weighted", "zero", "10.3.0.3", "weight = 0\n"),
    ]
    .concat();
    let s = start(&body);
    let mut counts: HashMap<Ipv4Addr, usize> = HashMap::new();
    for _ in 0..400 {
        let got = answer_set(&s.query("w.example.com.", RecordType::A));
        assert_eq!(got.len(), 1, "one record set per answer");
        *counts.entry(*got.iter().next().unwrap()).or_default() += 1;
    }
    let green_share = counts.get(&"10.3.0.2".parse().unwrap()).copied().unwrap_or(0);
    assert!((250..350).contains(&green_share), "weight 3 of 4 gets about 300 of 400: {counts:?}");
    assert!(!counts.contains_key(&"10.3.0.3".parse().unwrap()), "zero weight unused while others are healthy");
    green.set(Behaviour::Respond(503, "".into()));
    assert!(eventually(FOLLOW, || (0..20)
        .all(|_| answer_set(&s.query("w.example.com.", RecordType::A)) == ips(&["10.3.0.1"]))));
    blue.set(Behaviour::Respond(503, "".into()));
    assert!(
        eventually(FOLLOW, || (0..20)
            .all(|_| answer_set(&s.query("w.example.com.", RecordType::A)) == ips(&["10.3.0.3"]))),
        "zero weight takes over"
    );
}

#[test]
fn string_match_https_self_signed_and_validation() {
    let page = HttpEndpoint::start("127.0.0.11");
    page.set(Behaviour::Respond(200, "status: all systems GO".into()));
    let (secure, pem) = HttpEndpoint::start_tls("127.0.0.12", "secure.example.com");
    let body = [
        check("match", "HTTP_STR_MATCH", page.addr, "search_string = \"GO\"\n"),
        check("tls", "HTTPS", secure.addr, "fqdn = \"secure.example.com\"\n"),
        check(
            "tls-verified",
            "HTTPS_STR_MATCH",
            secure.addr,
            "fqdn = \"secure.example.com\"\nsearch_string = \"OK\"\ntls_ca_file = \"ca.pem\"\n",
        ),
        check("tls-web-roots", "HTTPS", secure.addr, "fqdn = \"secure.example.com\"\ntls_verify = true\n"),
        record("sm", "multivalue", "a", "10.4.0.1", "health_check = \"match\"\n"),
        record("sm", "multivalue", "b", "10.4.0.2", "health_check = \"tls\"\n"),
        record("sm", "multivalue", "c", "10.4.0.3", "health_check = \"tls-verified\"\n"),
        record("sm", "multivalue", "d", "10.4.0.4", "health_check = \"tls-web-roots\"\n"),
    ]
    .concat();
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n{ZONE_BODY}{body}");
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE), ("ca.pem", &pem)], &[]);
    // The self-signed certificate is not in the web roots: only that check fails.
    assert!(
        eventually(FOLLOW, || answer_set(&s.query("sm.example.com.", RecordType::A))
            == ips(&["10.4.0.1", "10.4.0.2", "10.4.0.3"])),
        "{}",
        s.output()
    );
    page.set(Behaviour::Respond(200, "status: degraded".into()));
    assert!(
        eventually(FOLLOW, || answer_set(&s.query("sm.example.com.", RecordType::A)) == ips(&["10.4.0.2", "10.4.0.3"]))
    );
    assert!(eventually(FOLLOW, || s.output().contains("string to match was not found")), "{}", s.output());
    assert!(secure.hosts.lock().unwrap().iter().any(|h| h.starts_with("secure.example.com:")), "Host is fqdn:port");
}

#[test]
fn calculated_inverted_and_disabled() {
    let one = HttpEndpoint::start("127.0.0.13");
    let two = HttpEndpoint::start("127.0.0.14");
    let down = TcpEndpoint::start("127.0.0.15");
    down.set_up(false);
    let body = [
        check("one", "HTTP", one.addr, ""),
        check("two", "HTTP", two.addr, ""),
        "[[health_check]]\nid = \"both\"\ntype = \"CALCULATED\"\nchildren = [\"one\", \"two\"]\nhealth_threshold = 2\n"
            .to_string(),
        check("inverted-up", "HTTP", one.addr, "inverted = true\n"),
        check("disabled-down", "TCP", down.addr, "disabled = true\n"),
        record("calc", "multivalue", "calc", "10.5.0.1", "health_check = \"both\"\n"),
        record("calc", "multivalue", "inv", "10.5.0.2", "health_check = \"inverted-up\"\n"),
        record("calc", "multivalue", "dis", "10.5.0.3", "health_check = \"disabled-down\"\n"),
    ]
    .concat();
    let s = start(&body);
    let answer = || answer_set(&s.query("calc.example.com.", RecordType::A));
    // Inverted starts unhealthy; disabled is healthy whatever the endpoint does.
    assert_eq!(answer(), ips(&["10.5.0.1", "10.5.0.3"]));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(answer(), ips(&["10.5.0.1", "10.5.0.3"]));
    two.set(Behaviour::Respond(503, "".into()));
    assert!(eventually(FOLLOW, || answer() == ips(&["10.5.0.3"])), "calculated needs both children");
    one.set(Behaviour::Respond(503, "".into()));
    assert!(
        eventually(FOLLOW, || answer() == ips(&["10.5.0.2", "10.5.0.3"])),
        "inverted check of a down endpoint is healthy"
    );
}

#[test]
fn when_all_unhealthy_nodata_and_fallback() {
    let ep = HttpEndpoint::start("127.0.0.16");
    ep.set(Behaviour::Respond(503, "".into()));
    let body = [
        check("down", "HTTP", ep.addr, "failure_threshold = 1\n"),
        record("nd", "multivalue", "a", "10.6.0.1", "health_check = \"down\"\nwhen_all_unhealthy = \"nodata\"\n"),
        record("fb", "failover", "p", "10.6.0.2", "failover = \"PRIMARY\"\nhealth_check = \"down\"\nwhen_all_unhealthy = \"fallback\"\nfallback_values = [\"192.0.2.200\"]\n"),
        record("fb", "failover", "s", "10.6.0.3", "failover = \"SECONDARY\"\nhealth_check = \"down\"\n"),
    ]
    .concat();
    let s = start(&body);
    assert!(eventually(FOLLOW, || s.query("nd.example.com.", RecordType::A).answers().is_empty()));
    let m = s.query("nd.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    assert_eq!(answer_set(&s.query("fb.example.com.", RecordType::A)), ips(&["192.0.2.200"]));
    ep.set(Behaviour::Respond(200, "".into()));
    assert!(eventually(FOLLOW, || answer_set(&s.query("fb.example.com.", RecordType::A)) == ips(&["10.6.0.2"])));
    assert_eq!(answer_set(&s.query("nd.example.com.", RecordType::A)), ips(&["10.6.0.1"]));
}

#[test]
fn state_file_survives_a_restart() {
    let ep = HttpEndpoint::start("127.0.0.17");
    ep.set(Behaviour::Respond(503, "".into()));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("health-state.toml");
    let body = |interval: u32| {
        [
            format!(
                "[[health_check]]\nid = \"web\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = {interval}\nfailure_threshold = 1\n",
                ep.addr.ip(),
                ep.addr.port()
            ),
            record("st", "multivalue", "a", "10.7.0.1", "health_check = \"web\"\n"),
            record("st", "multivalue", "b", "10.7.0.2", ""),
        ]
        .concat()
    };
    let config = |interval| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\nstate_file = \"{}\"\n{ZONE_BODY}{}",
            state.display(),
            body(interval)
        )
    };
    {
        let s = TestServer::start_config(&config(1), &[("example.com.zone", ZONE)], &[]);
        assert!(eventually(FOLLOW, || answer_set(&s.query("st.example.com.", RecordType::A)) == ips(&["10.7.0.2"])));
        assert!(eventually(FOLLOW, || std::fs::read_to_string(&state).is_ok_and(|t| t.contains("healthy = false"))));
    }
    // Restart with a long interval: no probe will run soon, yet the record is still out.
    let s = TestServer::start_config(&config(600), &[("example.com.zone", ZONE)], &[]);
    assert_eq!(answer_set(&s.query("st.example.com.", RecordType::A)), ips(&["10.7.0.2"]));
    drop(s);
    // Without the state file it would start healthy.
    std::fs::remove_file(&state).unwrap();
    let s = TestServer::start_config(&config(600), &[("example.com.zone", ZONE)], &[]);
    assert_eq!(answer_set(&s.query("st.example.com.", RecordType::A)), ips(&["10.7.0.1", "10.7.0.2"]));
}

#[test]
fn misbehaving_endpoints_do_not_delay_other_checks() {
    let silent = HttpEndpoint::start("127.0.0.18");
    silent.set(Behaviour::Silent);
    let trickle = HttpEndpoint::start("127.0.0.19");
    trickle.set(Behaviour::Trickle);
    let flood = HttpEndpoint::start("127.0.0.20");
    flood.set(Behaviour::FloodHeaders);
    let flood_body = HttpEndpoint::start("127.0.0.21");
    flood_body.set(Behaviour::FloodBody);
    let good = HttpEndpoint::start("127.0.0.22");
    let body = [
        check("silent", "HTTP", silent.addr, "failure_threshold = 1\n"),
        check("trickle", "HTTP_STR_MATCH", trickle.addr, "failure_threshold = 1\nsearch_string = \"OK\"\n"),
        check("flood", "HTTP_STR_MATCH", flood.addr, "failure_threshold = 1\nsearch_string = \"never\"\n"),
        check("flood-body", "HTTP_STR_MATCH", flood_body.addr, "failure_threshold = 1\nsearch_string = \"never\"\n"),
        check("good", "HTTP", good.addr, "failure_threshold = 1\n"),
        record("bad", "multivalue", "silent", "10.8.0.1", "health_check = \"silent\"\n"),
        record("bad", "multivalue", "trickle", "10.8.0.2", "health_check = \"trickle\"\n"),
        record("bad", "multivalue", "flood", "10.8.0.3", "health_check = \"flood\"\n"),
        record("bad", "multivalue", "flood-body", "10.8.0.4", "health_check = \"flood-body\"\n"),
        record("bad", "multivalue", "good", "10.8.0.5", "health_check = \"good\"\n"),
    ]
    .concat();
    let s = start(&body);
    let before = good.hits();
    std::thread::sleep(Duration::from_secs(6));
    let probes = good.hits() - before;
    assert!(probes >= 4, "the good check kept its 1 s schedule: {probes} probes in 6 s");
    assert!(
        eventually(FOLLOW, || answer_set(&s.query("bad.example.com.", RecordType::A)) == ips(&["10.8.0.5"])),
        "{}",
        s.output()
    );
    for reason in ["No HTTP status line within", "headers were longer than 16384", "not found in the first 5120 bytes"]
    {
        assert!(eventually(FOLLOW, || s.output().contains(reason)), "{reason}: {}", s.output());
    }
}

/// A state file as the server writes it: a measured state, then an override taking `web` down.
fn state_with_override_down() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!(
        "# eightfold health states; rewritten by the server\nwritten = {now}\n\n[[check]]\nid = \"web\"\n\
         fingerprint = \"0000000000000000\"\nhealthy = true\n\n[[forced]]\nid = \"web\"\nhealthy = false\n"
    )
}

#[test]
fn a_damaged_state_file_is_kept_aside_and_its_overrides_recovered() {
    let ep = TcpEndpoint::start("127.0.0.60");
    let good = state_with_override_down();
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.splice(2..2, *b"\xff\xfe");
    let wrong_shape = "written = \"yesterday\"\n[[forced]]\nid = \"web\"\nhealthy = false\n";
    // (damage, bytes in place of the file or None for a directory, whether the override can be recovered)
    let kinds: [(&str, Option<&[u8]>, bool); 6] = [
        ("cut inside the last value", Some(&good.as_bytes()[..good.len() - 2]), true),
        ("invalid UTF-8", Some(&not_utf8), true),
        ("wrong shape", Some(wrong_shape.as_bytes()), true),
        ("garbage", Some(b"\x00\x01garbage {{{ ]]\n\xff"), false),
        ("empty", Some(b""), false),
        ("a directory", None, false),
    ];
    // Cut by its last byte (the newline), the file is still whole TOML and loads as it is.
    let cut = &good.as_bytes()[..good.len() - 1];
    for (damage, bytes, recoverable) in [("cut by one byte", Some(cut), true)].into_iter().chain(kinds) {
        let parses = damage == "cut by one byte";
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.toml");
        match bytes {
            Some(bytes) => std::fs::write(&state, bytes).unwrap(),
            None => std::fs::create_dir_all(state.join("inside")).unwrap(),
        }
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\nstate_file = \"{}\"\n{ZONE_BODY}{}",
            state.display(),
            [
                check("web", "TCP", ep.addr, ""),
                record("st", "multivalue", "a", "10.7.1.1", "health_check = \"web\"\n"),
                record("st", "multivalue", "b", "10.7.1.2", ""),
            ]
            .concat()
        );
        let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
        let answer = answer_set(&s.query("st.example.com.", RecordType::A));
        let (_, json) = s.http("GET", "/status", "", "");
        let status: serde_json::Value = serde_json::from_str(&json).unwrap();
        if recoverable {
            assert_eq!(answer, ips(&["10.7.1.2"]), "{damage}: the override still holds\n{}", s.output());
            assert_eq!(status["checks"][0]["forced"], "down", "{damage}: {json}");
        } else {
            assert_eq!(answer, ips(&["10.7.1.1", "10.7.1.2"]), "{damage}: nothing to recover");
        }
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("state.toml.damaged-"))
            .collect();
        if parses {
            assert!(aside.is_empty(), "{aside:?}");
            continue;
        }
        assert_eq!(aside.len(), 1, "{damage}: the original is kept aside: {aside:?}");
        match bytes {
            Some(bytes) => assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes, "{damage}: kept as it was"),
            None => assert!(aside[0].join("inside").is_dir(), "{damage}: the directory is kept"),
        }
        let output = s.output();
        assert!(output.contains("is damaged"), "{damage}: warned\n{output}");
        assert!(
            output.contains(&aside[0].display().to_string()),
            "{damage}: the warning names where it went\n{output}"
        );
        // The server runs on and writes a whole new file holding what it recovered.
        assert_eq!(s.query("static.example.com.", RecordType::A).response_code(), ResponseCode::NoError);
        let rewritten = std::fs::read_to_string(&state).unwrap_or_default();
        assert_eq!(rewritten.contains("[[forced]]"), recoverable, "{damage}: {rewritten}");
    }
}

#[test]
fn a_failed_state_file_write_leaves_no_temporary_file() {
    let ep = TcpEndpoint::start("127.0.0.61");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\nstate_file = \"state.toml\"\n{ZONE_BODY}{}",
        check("web", "TCP", ep.addr, "")
    );
    // Files may not grow past 0 bytes: every write of the state file fails, as on a full disk.
    let s = TestServer::start_limited(&config, &[("example.com.zone", ZONE)], &[Rlimit::FileSize(0)]);
    assert!(eventually(FOLLOW, || s.output().contains("cannot write the health state file")), "{}", s.output());
    let left: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("state"))
        .collect();
    assert!(left.is_empty(), "no temporary or partial state file left: {left:?}");
    assert_eq!(s.query("static.example.com.", RecordType::A).response_code(), ResponseCode::NoError);
}

#[test]
fn running_out_of_file_descriptors_is_no_result_for_a_check() {
    // A listener that never accepts: each probe of it holds a descriptor until its deadline.
    let hang = std::net::TcpListener::bind("127.0.0.62:0").unwrap();
    let good = TcpEndpoint::start("127.0.0.63");
    let mut body = String::new();
    for i in 0..48 {
        body += &check(&format!("hold-{i}"), "HTTP", hang.local_addr().unwrap(), "response_timeout = 3\n");
    }
    body += &check("good", "TCP", good.addr, "failure_threshold = 1\n");
    body += &record("fd", "multivalue", "good", "10.7.2.1", "health_check = \"good\"\n");
    body += &record("fd", "multivalue", "plain", "10.7.2.2", "");
    let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n{ZONE_BODY}{body}");
    // About a dozen descriptors serve; the holding probes want three dozen more than are left.
    let s = TestServer::start_limited(&config, &[("example.com.zone", ZONE)], &[Rlimit::OpenFiles(32)]);
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        let answer = answer_set(&s.query("fd.example.com.", RecordType::A));
        assert_eq!(answer, ips(&["10.7.2.1", "10.7.2.2"]), "the healthy check's record stays\n{}", s.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = s.output();
    assert!(output.contains("Too many open files"), "the limit was reached\n{output}");
    assert!(!output.contains("unhealthy check=good"), "{output}");
    assert!(output.contains("for want of local resources"), "{output}");
}

#[test]
fn fqdn_checks_resolve_through_the_pool_and_keep_their_rate() {
    let ep = TcpEndpoint::start("127.0.0.1");
    let mut body = String::new();
    for i in 0..8 {
        body += &format!(
            "[[health_check]]\nid = \"name-{i}\"\ntype = \"TCP\"\nfqdn = \"localhost\"\nport = {}\n\
             request_interval = 1\nfailure_threshold = 1\n",
            ep.addr.port()
        );
    }
    body += &record("fq", "multivalue", "a", "10.7.3.1", "health_check = \"name-0\"\n");
    body += &record("fq", "multivalue", "b", "10.7.3.2", "");
    let config =
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\n{ZONE_BODY}{body}");
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let probes = |i: usize| -> u64 {
        let prefix = format!("eightfold_health_check_probes_total{{check=\"name-{i}\"}} ");
        let (_, metrics) = s.http("GET", "/metrics", "", "");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok()).unwrap_or(0)
    };
    // Eight 1 s checks on one name: each runs about once a second, all of them healthy.
    assert!(eventually(Duration::from_secs(15), || (0..8).all(|i| probes(i) >= 4)), "{}", s.output());
    assert_eq!(answer_set(&s.query("fq.example.com.", RecordType::A)), ips(&["10.7.3.1", "10.7.3.2"]));
    assert!(!s.output().contains("unhealthy"), "{}", s.output());
}

/// Every address in `count` answers for `name`, queried back to back.
fn seen_in_answers(s: &TestServer, name: &str, count: usize) -> HashSet<Ipv4Addr> {
    (0..count).flat_map(|_| addresses(&s.query(name, RecordType::A))).collect()
}

#[test]
fn an_edited_check_keeps_its_measured_state_while_its_target_is_the_same() {
    let dead = TcpEndpoint::start("127.0.0.90");
    dead.set_up(false);
    let live = TcpEndpoint::start("127.0.0.90");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("health-state.toml");
    let config = |id: &str, port: u16, extra: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\nstate_file = \"{}\"\n{ZONE_BODY}\
             [[health_check]]\nid = \"{id}\"\ntype = \"TCP\"\nip = \"127.0.0.90\"\nport = {port}\n{extra}{}{}",
            state.display(),
            record("ed", "multivalue", "a", "10.20.0.1", &format!("health_check = \"{id}\"\n")),
            record("ed", "multivalue", "b", "10.20.0.2", ""),
        )
    };
    let s = TestServer::start_config(
        &config("dead", dead.addr.port(), "request_interval = 1\nfailure_threshold = 1\n"),
        &[("example.com.zone", ZONE)],
        &[],
    );
    assert!(eventually(FOLLOW, || s.output().contains("endpoint is now unhealthy check=dead")), "{}", s.output());
    let (up, down) = (ips(&["10.20.0.1", "10.20.0.2"]), ips(&["10.20.0.2"]));
    let status =
        |s: &TestServer| -> serde_json::Value { serde_json::from_str(&s.http("GET", "/status", "", "").1).unwrap() };
    // Each edit leaves the target alone; right after each reload, 30 answers show the state.
    let edits = [
        ("request_interval = 10\nfailure_threshold = 1\n", &down, Some(false)),
        ("request_interval = 10\nfailure_threshold = 3\n", &down, Some(false)),
        ("request_interval = 10\nfailure_threshold = 3\nconnect_timeout = 2\n", &down, Some(false)),
        // Disabled is healthy and not probed; enabled again, it is as it was measured.
        ("request_interval = 10\nfailure_threshold = 3\ndisabled = true\n", &up, None),
        ("request_interval = 10\nfailure_threshold = 3\n", &down, Some(false)),
        // Inverted flips the kept measurement; back again, the dead endpoint stays out.
        ("request_interval = 10\nfailure_threshold = 3\ninverted = true\n", &up, Some(false)),
        ("request_interval = 10\nfailure_threshold = 3\n", &down, Some(false)),
    ];
    for (n, (extra, expected, measured)) in edits.into_iter().enumerate() {
        std::fs::write(s.path("eightfold.toml"), config("dead", dead.addr.port(), extra)).unwrap();
        let (code, out) = s.cli(&["reload"]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(&seen_in_answers(&s, "ed.example.com.", 30), expected, "after edit {n}: {extra}");
        let status = status(&s);
        assert_eq!(status["checks"][0]["measured"], serde_json::json!(measured), "edit {n}: {status}");
        assert_eq!(
            s.logged("health checks reloaded kept=1 started=0 stopped=0 reset=0", n + 1),
            n + 1,
            "{}",
            s.output()
        );
        let kept = "health check changed, same target: measured state kept check=dead measured=unhealthy";
        assert_eq!(s.logged(kept, n + 1), n + 1, "{}", s.output());
    }
    // A new port is a new target: the check restarts healthy, as a new check does.
    std::fs::write(s.path("eightfold.toml"), config("dead", live.addr.port(), "request_interval = 1\n")).unwrap();
    assert_eq!(s.cli(&["reload"]).0, 0);
    assert_eq!(
        s.logged("health check target changed: restarted check=dead measured=healthy from=new", 1),
        1,
        "{}",
        s.output()
    );
    assert_eq!(s.logged("kept=0 started=0 stopped=0 reset=1", 1), 1, "{}", s.output());
    assert_eq!(seen_in_answers(&s, "ed.example.com.", 30), up);
    // Back to the dead port: the state last measured there comes back with it.
    std::fs::write(s.path("eightfold.toml"), config("dead", dead.addr.port(), "request_interval = 10\n")).unwrap();
    assert_eq!(s.cli(&["reload"]).0, 0);
    assert_eq!(
        s.logged("health check target changed: restarted check=dead measured=unhealthy from=last-measured", 1),
        1,
        "{}",
        s.output()
    );
    assert_eq!(seen_in_answers(&s, "ed.example.com.", 30), down);
    // A renamed check is stopped and started; it starts from its target's state.
    std::fs::write(s.path("eightfold.toml"), config("renamed", dead.addr.port(), "request_interval = 10\n")).unwrap();
    assert_eq!(s.cli(&["reload"]).0, 0);
    assert_eq!(s.logged("health check stopped check=dead", 1), 1, "{}", s.output());
    assert_eq!(
        s.logged("health check started check=renamed measured=unhealthy from=last-measured", 1),
        1,
        "{}",
        s.output()
    );
    assert_eq!(seen_in_answers(&s, "ed.example.com.", 30), down);
    drop(s);
    // So does a check renamed while the server was stopped, from the state file.
    let s = TestServer::start_config(
        &config("renamed-again", dead.addr.port(), "request_interval = 600\n"),
        &[("example.com.zone", ZONE)],
        &[],
    );
    assert_eq!(seen_in_answers(&s, "ed.example.com.", 30), down, "{}", std::fs::read_to_string(&state).unwrap());
}
