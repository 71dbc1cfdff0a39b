//! Operating a running server: reload (under load, and rejected), the control endpoint
//! (metrics, status, overrides, tokens), the control CLI, the query log, graceful stop.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::endpoints::{eventually, HttpEndpoint};
use crate::common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const CONTROL: &str = "control = \"127.0.0.1:0\"\n";

fn server_table(extra: &str) -> String {
    format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\n{CONTROL}{extra}")
}

/// Version `v` of a config whose check order differs between versions, so zone data and
/// health from different versions would give a different answer.
fn versioned(v: u8, ep: &HttpEndpoint) -> String {
    let ok = format!(
        "[[health_check]]\nid = \"ok\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = 30\n",
        ep.addr.ip(),
        ep.addr.port()
    );
    let bad = "[[health_check]]\nid = \"bad\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\ninverted = true\nrequest_interval = 30\n";
    let checks = if v == 1 { format!("{bad}{ok}") } else { format!("{ok}{bad}") };
    let records = format!(
        "[[record]]\nname = \"v\"\ntype = \"A\"\nvalues = [\"10.9.0.{v}\"]\n\
         [[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"good\"\nvalues = [\"10.9.1.1\"]\nhealth_check = \"ok\"\n\
         [[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"down\"\nvalues = [\"10.9.1.2\"]\nhealth_check = \"bad\"\n"
    );
    format!("{}{ZONE_BODY}{checks}{records}", server_table(""))
}

#[test]
fn reloads_under_load_answer_every_query_from_a_whole_config() {
    let ep = HttpEndpoint::start("127.0.0.30");
    let s = TestServer::start_config(&versioned(1, &ep), &[("example.com.zone", ZONE)], &[]);
    let path = s.path("eightfold.toml");
    let stop = Arc::new(AtomicBool::new(false));
    let addr = s.addr;
    let stop_load = stop.clone();
    let load = std::thread::spawn(move || {
        let (mut sent, mut answered, mut bad) = (0usize, 0usize, Vec::new());
        let started = Instant::now();
        while !stop_load.load(Ordering::Relaxed) && sent < 20_000 && started.elapsed() < Duration::from_secs(60) {
            for (name, expect) in [("v.example.com.", None), ("mv.example.com.", Some(Ipv4Addr::new(10, 9, 1, 1)))] {
                let q = message(name, RecordType::A, None);
                sent += 1;
                let Some(bytes) = udp_exchange(addr, &q.to_vec().unwrap(), Duration::from_secs(3)) else { continue };
                answered += 1;
                let m = hickory_proto::op::Message::from_vec(&bytes).unwrap();
                let got = addresses(&m);
                let ok = m.response_code() == ResponseCode::NoError
                    && match expect {
                        Some(a) => got == vec![a],
                        None => {
                            got.len() == 1 && [Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2)].contains(&got[0])
                        }
                    };
                if !ok {
                    bad.push(format!("{name}: {:?} {got:?}", m.response_code()));
                }
            }
        }
        (sent, answered, bad)
    });
    let mut reloads = 0;
    for round in 0..20u8 {
        std::fs::write(&path, versioned(1 + round % 2, &ep)).unwrap();
        if round % 2 == 0 {
            let (code, out) = s.cli(&["reload"]);
            assert_eq!(code, 0, "{out}");
        } else {
            s.signal(libc::SIGHUP);
        }
        reloads += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(eventually(Duration::from_secs(10), || s.output().matches("configuration reloaded").count() == reloads));
    stop.store(true, Ordering::Relaxed);
    let (sent, answered, bad) = load.join().unwrap();
    assert!(sent > 100, "the load loop ran: {sent}");
    assert_eq!(answered, sent, "every query answered during {reloads} reloads");
    assert!(bad.is_empty(), "answers from a mixed or half-built state: {bad:?}");
}

#[test]
fn a_reload_of_a_large_zone_needs_little_more_than_the_old_and_the_new_data() {
    // 150,000 names: an A record each, every tenth an AAAA and a TXT as well.
    let mut zone = String::from("$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n");
    for i in 0..150_000u32 {
        let [_, a, b, c] = i.to_be_bytes();
        zone.push_str(&format!("h{i} A 10.{a}.{b}.{c}\n"));
        if i % 10 == 0 {
            zone.push_str(&format!("h{i} AAAA 2001:db8::{:x}:{:x}\nh{i} TXT \"record {i}\"\n", i >> 16, i & 0xffff));
        }
    }
    let config = format!("{}[[zone]]\norigin = \"big.test.\"\nfile = \"big.zone\"\n", server_table(""));
    let s = TestServer::start_config(&config, &[("big.zone", &zone)], &[]);
    drop(zone);
    assert_eq!(addresses(&s.query("h149999.big.test.", RecordType::A)), vec![Ipv4Addr::new(10, 2, 73, 239)]);
    let steady = proc_status_kib(s.pid(), "VmRSS");
    // Writing 5 to clear_refs resets the high-water mark to the current resident set, so the
    // mark read after the reload is the reload's peak.
    std::fs::write(format!("/proc/{}/clear_refs", s.pid()), "5").unwrap();
    let (code, out) = s.cli(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(addresses(&s.query("h7.big.test.", RecordType::A)), vec![Ipv4Addr::new(10, 0, 0, 7)]);
    let peak = proc_status_kib(s.pid(), "VmHWM");
    // The old and the new zone data take twice the steady set, and the zone file's records,
    // packed until the new data is built, a third of one more (here: 2.0 times, in a debug
    // build). Before they were packed, the reload peaked at over four times the steady set.
    assert!(steady > 0 && peak > steady, "steady {steady} KiB, peak {peak} KiB");
    assert!(peak * 10 < steady * 25, "a reload peaked at {peak} KiB, over 2.5 times the steady {steady} KiB");
}

#[test]
fn invalid_reload_is_reported_and_the_old_config_keeps_serving() {
    let s = TestServer::start_config(&format!("{}{ZONE_BODY}", server_table("")), &[("example.com.zone", ZONE)], &[]);
    std::fs::write(
        s.path("eightfold.toml"),
        format!(
            "{}{ZONE_BODY}[[record]]\nname = \"x\"\ntype = \"A\"\nvalues = [\"not-an-address\"]\n",
            server_table("")
        ),
    )
    .unwrap();
    let (code, out) = s.cli(&["reload"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key `values`") && out.contains("eightfold.toml:"), "{out}");
    std::fs::write(s.path("example.com.zone"), "this is not a zone file").unwrap();
    s.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || s.output().contains("reload failed")), "{}", s.output());
    assert_eq!(s.query("static.example.com.", RecordType::A).answers().len(), 1, "old data still served");
    let (_, metrics) = s.http("GET", "/metrics", "", "");
    assert!(
        metrics.contains("eightfold_reload_failures_total 1") || metrics.contains("eightfold_reload_failures_total 2"),
        "{metrics}"
    );
}

#[test]
fn reload_keeps_unchanged_checks_and_starts_new_ones() {
    let a = HttpEndpoint::start("127.0.0.31");
    let b = HttpEndpoint::start("127.0.0.32");
    let check = |id: &str, ep: &HttpEndpoint, interval: u32| {
        format!("[[health_check]]\nid = \"{id}\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = {interval}\nfailure_threshold = 1\n", ep.addr.ip(), ep.addr.port())
    };
    a.set(crate::common::endpoints::Behaviour::Respond(503, String::new()));
    let first = format!("{}{ZONE_BODY}{}", server_table(""), check("a", &a, 1));
    let s = TestServer::start_config(&first, &[("example.com.zone", ZONE)], &[]);
    assert!(eventually(Duration::from_secs(5), || s.output().contains("endpoint is now unhealthy check=a")));
    let probes_before = a.hits();
    // Same definition for `a` (keeps its unhealthy state), a new check `b`.
    std::fs::write(s.path("eightfold.toml"), format!("{first}{}", check("b", &b, 1))).unwrap();
    let (code, out) = s.cli(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        eventually(Duration::from_secs(3), || s.output().contains("health checks reloaded kept=1 started=1 stopped=0")),
        "{}",
        s.output()
    );
    let (_, status) = s.http("GET", "/status", "", "");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let checks = status["checks"].as_array().unwrap();
    assert_eq!(checks[0]["id"], "a");
    assert_eq!(checks[0]["healthy"], false, "kept its state");
    assert!(a.hits() >= probes_before);
    assert!(eventually(Duration::from_secs(5), || b.hits() > 0), "the new check is probed");
    // Removing `a` stops its probes.
    std::fs::write(s.path("eightfold.toml"), format!("{}{ZONE_BODY}{}", server_table(""), check("b", &b, 1))).unwrap();
    assert_eq!(s.cli(&["reload"]).0, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let after = a.hits();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(a.hits(), after, "a removed check is no longer probed");
}

#[test]
fn metrics_status_and_overrides() {
    let ep = HttpEndpoint::start("127.0.0.33");
    let body = format!(
        "{}{ZONE_BODY}[[health_check]]\nid = \"web\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\n\
         [[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"a\"\nvalues = [\"10.10.0.1\"]\nhealth_check = \"web\"\n\
         [[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"b\"\nvalues = [\"10.10.0.2\"]\n",
        server_table(""),
        ep.addr.ip(),
        ep.addr.port()
    );
    let s = TestServer::start_config(&body, &[("example.com.zone", ZONE)], &[]);
    for _ in 0..3 {
        s.query("static.example.com.", RecordType::A);
    }
    s.query("nope.example.com.", RecordType::A);
    s.tcp(&message("static.example.com.", RecordType::AAAA, None));
    assert!(eventually(Duration::from_secs(5), || s
        .http("GET", "/metrics", "", "")
        .1
        .contains("eightfold_health_check_probes_total{check=\"web\"} 1")));
    let (code, metrics) = s.http("GET", "/metrics", "", "");
    assert_eq!(code, 200);
    for line in [
        "eightfold_queries_total{transport=\"udp\",qtype=\"A\",rcode=\"NOERROR\"} 3",
        "eightfold_queries_total{transport=\"udp\",qtype=\"A\",rcode=\"NXDOMAIN\"} 1",
        "eightfold_queries_total{transport=\"tcp\",qtype=\"AAAA\",rcode=\"NOERROR\"} 1",
        "eightfold_health_check_healthy{check=\"web\"} 1",
        "eightfold_health_check_forced{check=\"web\"} 0",
        "eightfold_health_check_last_result{check=\"web\"} 1",
        "eightfold_build_info{version=",
        "# TYPE eightfold_queries_total counter",
        "eightfold_truncated_total{transport=\"udp\"} 0",
        "eightfold_dropped_total{transport=\"udp\"} 0",
        "eightfold_health_check_latency_seconds{check=\"web\"}",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    // Force down: shown as forced in status and metrics, answers follow, kept across a reload.
    let (code, out) = s.cli(&["override", "web", "down"]);
    assert_eq!(code, 0, "{out}");
    let answer = || addresses(&s.query("mv.example.com.", RecordType::A)).into_iter().collect::<HashSet<_>>();
    assert_eq!(answer(), HashSet::from([Ipv4Addr::new(10, 10, 0, 2)]));
    assert_eq!(s.cli(&["reload"]).0, 0);
    assert_eq!(answer(), HashSet::from([Ipv4Addr::new(10, 10, 0, 2)]), "override kept across reload");
    let (code, table) = s.cli(&["status"]);
    assert_eq!(code, 0);
    assert!(table.contains("forced down"), "{table}");
    assert!(!table.contains('\x1b'), "no colour when not on a terminal");
    assert!(table.contains("mv.example.com. A multivalue"), "{table}");
    assert!(s.http("GET", "/metrics", "", "").1.contains("eightfold_health_check_forced{check=\"web\"} 1"));
    let (_, json) = s.http("GET", "/status", "", "");
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["checks"][0]["forced"], "down");
    assert_eq!(status["checks"][0]["last_result"], "success");
    assert_eq!(status["record_sets"][0]["members"][0]["healthy"], false);
    assert_eq!(s.cli(&["override", "web", "auto"]).0, 0);
    assert_eq!(answer().len(), 2);
    let (code, out) = s.cli(&["override", "ghost", "up"]);
    assert_ne!(code, 0);
    assert!(out.contains("no health check with id \"ghost\""), "{out}");
}

#[test]
fn a_control_token_guards_changes() {
    let token = "s3cret-token-0123456789";
    let config = format!("{}{ZONE_BODY}", server_table(&format!("control_token = \"{token}\"\n")));
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    assert_eq!(s.http("POST", "/reload", "", "").0, 403);
    assert_eq!(s.http("POST", "/reload", "Authorization: Bearer wrong-token-000000000\r\n", "").0, 403);
    assert_eq!(s.http("POST", "/reload", &format!("Authorization: Bearer {token}\r\n"), "").0, 200);
    assert_eq!(s.http("GET", "/status", "", "").0, 200, "reading needs no token");
    assert_ne!(s.cli(&["reload"]).0, 0);
    assert_eq!(s.cli(&["reload", "--token", token]).0, 0);
}

#[test]
fn query_log_and_graceful_stop() {
    let state = "state_file = \"state.toml\"\nquery_log = true\n";
    let config = format!("{}{ZONE_BODY}[[health_check]]\nid = \"t\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\nrequest_interval = 1\n", server_table(state));
    let mut s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    s.query("Static.Example.com.", RecordType::A);
    s.tcp(&message("nope.example.com.", RecordType::MX, None));
    assert!(
        eventually(Duration::from_secs(3), || s.output().contains("qname=static.example.com. qtype=A rcode=NOERROR")),
        "{}",
        s.output()
    );
    // Answers from the answer cache, written over their queries, are logged with their own
    // questions: two names in turn, each kept by a worker once it misses there twice.
    for _ in 0..10 {
        s.query("static.example.com.", RecordType::A);
        s.query("ns1.example.com.", RecordType::A);
    }
    let logged = |name: &str| s.output().matches(&format!("transport=udp qname={name}.example.com. qtype=A ")).count();
    assert!(eventually(Duration::from_secs(3), || logged("static") == 11 && logged("ns1") == 10), "{}", s.output());
    assert!(
        eventually(Duration::from_secs(3), || s
            .output()
            .contains("transport=tcp qname=nope.example.com. qtype=MX rcode=NXDOMAIN")),
        "{}",
        s.output()
    );
    // The check has measured something for the state file to keep.
    assert!(
        eventually(Duration::from_secs(5), || s
            .http("GET", "/status", "", "")
            .1
            .contains("\"last_result\": \"failure\"")),
        "{}",
        s.output()
    );
    // A TCP client with a query in flight still gets its answer when SIGTERM arrives.
    let mut stream = s.connect();
    write_framed(&mut stream, &message("static.example.com.", RecordType::A, None).to_vec().unwrap());
    s.signal(libc::SIGTERM);
    assert!(read_framed(&mut stream).is_some(), "in-flight TCP answer written");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0), "{}", s.output());
    assert!(eventually(Duration::from_secs(3), || s.output().contains("stopped")), "{}", s.output());
    assert!(
        std::fs::read_to_string(s.path("state.toml")).is_ok_and(|t| t.contains("id = \"t\"")),
        "state file written at exit"
    );
}

/// The value of the unlabelled metric `name` in `metrics`.
/// `--log-format json` writes one JSON object a line, and the query log names the records
/// each multivalue answer drew: the same addresses the client got, over UDP and TCP.
#[test]
fn json_logs_and_a_query_log_that_names_the_records_drawn() {
    let config = format!("{}{ZONE_BODY}{}", server_table("query_log = true\n"), multivalue_records("mv", 12));
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &["--log-format", "json"]);
    let mut answered: Vec<(&str, Vec<Ipv4Addr>)> = Vec::new();
    for _ in 0..3 {
        answered.push(("udp", addresses(&s.query("mv.example.com.", RecordType::A))));
    }
    answered.push(("tcp", addresses(&s.tcp(&message("mv.example.com.", RecordType::A, None)))));
    let logged = || -> Vec<serde_json::Value> {
        s.output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .filter(|v: &serde_json::Value| v["target"] == "eightfold::query")
            .collect()
    };
    assert!(eventually(Duration::from_secs(3), || logged().len() == 4), "{}", s.output());
    // Every line is JSON, the server's own lines too.
    assert!(s.output().lines().all(|l| l.starts_with('{')), "{}", s.output());
    assert!(s.output().contains("\"message\":\"loaded configuration\""), "{}", s.output());
    for (entry, (transport, addresses)) in logged().iter().zip(&answered) {
        assert_eq!(entry["transport"], *transport, "{entry}");
        assert_eq!(entry["qname"], "mv.example.com.", "{entry}");
        assert_eq!(entry["rcode"], "NOERROR", "{entry}");
        assert_eq!(addresses.len(), 8, "{entry}");
        let drawn: Vec<String> = addresses.iter().map(|a| format!("A {a}")).collect();
        assert_eq!(entry["answers"], drawn.join("; "), "{entry}");
    }
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[test]
fn cached_answers_stay_random_and_follow_health_and_reloads() {
    // Sixteen members, four of them on one check; workers answer repeated questions from
    // their answer caches.
    let check = "[[health_check]]\nid = \"four\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\ndisabled = true\n";
    let members: String = (1..=16)
        .map(|i| {
            let checked = if i <= 4 { "health_check = \"four\"\n" } else { "" };
            format!(
                "[[record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"r{i}\"\nvalues = [\"10.0.0.{i}\"]\n{checked}"
            )
        })
        .collect();
    let config = |static_a: &str| {
        format!(
            "{}{ZONE_BODY}{check}{members}[[record]]\nname = \"fixed\"\ntype = \"A\"\nvalues = [\"{static_a}\"]\n",
            server_table("")
        )
    };
    let s = TestServer::start_config(&config("10.1.0.1"), &[("example.com.zone", ZONE)], &[]);
    let mut distinct = HashSet::new();
    for _ in 0..300 {
        let got = addresses(&s.query("mv.example.com.", RecordType::A));
        assert_eq!(got.len(), 8, "{got:?}");
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 8, "no repeats: {got:?}");
        distinct.insert(got);
    }
    assert!(distinct.len() > 250, "{} distinct answers in 300", distinct.len());
    let hits = metric(&s.http("GET", "/metrics", "", "").1, "eightfold_answer_cache_hits_total");
    assert!(hits >= 250, "{hits} of 300 answers from the caches");

    // Health: once the override returns, no answer holds a member that is down.
    assert_eq!(s.cli(&["override", "four", "down"]).0, 0);
    let down: HashSet<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    for _ in 0..100 {
        let got = addresses(&s.query("mv.example.com.", RecordType::A));
        assert_eq!(got.len(), 8);
        assert!(got.iter().all(|a| !down.contains(a)), "a member that is down: {got:?}");
    }
    assert_eq!(s.cli(&["override", "four", "auto"]).0, 0);
    let mut seen = HashSet::new();
    for _ in 0..100 {
        seen.extend(addresses(&s.query("mv.example.com.", RecordType::A)));
    }
    assert_eq!(seen.len(), 16, "every member back: {seen:?}");

    // A reload: the first answer after it comes from the new data.
    for _ in 0..5 {
        assert_eq!(addresses(&s.query("fixed.example.com.", RecordType::A)), [Ipv4Addr::new(10, 1, 0, 1)]);
    }
    std::fs::write(s.path("eightfold.toml"), config("10.1.0.2")).unwrap();
    assert_eq!(s.cli(&["reload"]).0, 0);
    assert_eq!(addresses(&s.query("fixed.example.com.", RecordType::A)), [Ipv4Addr::new(10, 1, 0, 2)]);
}

#[test]
fn names_in_random_case_are_answered_from_the_cache_as_spelled() {
    // Resolvers using 0x20 spell each query differently; the workers' caches still answer
    // them, each answer random and its question spelled as asked, byte for byte.
    let config = format!("{}{ZONE_BODY}{}", server_table(""), multivalue_records("mv", 16));
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let mut rng = fastrand::Rng::with_seed(0x20);
    let mut distinct = HashSet::new();
    for _ in 0..200 {
        let spelled: String =
            "mv.example.com.".chars().map(|c| if rng.bool() { c.to_ascii_uppercase() } else { c }).collect();
        let query = message(&spelled, RecordType::A, None);
        let sent = query.to_vec().unwrap();
        let bytes = s.udp_raw(&sent).expect("an answer");
        assert_eq!(bytes[12..12 + 16], sent[12..12 + 16], "question echoed as spelled: {spelled}");
        let got = addresses(&hickory_proto::op::Message::from_vec(&bytes).unwrap());
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 8, "{got:?}");
        distinct.insert(got);
    }
    assert!(distinct.len() > 150, "{} distinct answers in 200", distinct.len());
    let hits = metric(&s.http("GET", "/metrics", "", "").1, "eightfold_answer_cache_hits_total");
    assert!(hits >= 150, "{hits} of 200 answers from the caches");
}

#[test]
fn the_answer_cache_can_be_turned_off() {
    let config = format!("{}{ZONE_BODY}{}", server_table("answer_cache = 0\n"), multivalue_records("mv", 16));
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    let distinct: HashSet<_> = (0..50).map(|_| addresses(&s.query("mv.example.com.", RecordType::A))).collect();
    assert!(distinct.len() > 40, "{} distinct answers in 50", distinct.len());
    assert_eq!(metric(&s.http("GET", "/metrics", "", "").1, "eightfold_answer_cache_hits_total"), 0);
    let bad = format!("{}{ZONE_BODY}", server_table("answer_cache = 1000\n"));
    let (code, out) = check(&bad, &[("example.com.zone", ZONE)]);
    assert_ne!(code, 0);
    assert!(out.contains("answer_cache") && out.contains("power of two"), "{out}");
}

/// Opens the FIFO at `path` for writing as soon as the server opens it for reading (it is then
/// loading the zone and waits for the text).
fn open_fifo(path: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        // Without a reader, a non-blocking open for writing fails (ENXIO).
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path) {
            Ok(fifo) => return Ok(fifo),
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("no reader for the zone file: {e}")),
        }
    }
}

#[test]
fn sighup_while_the_first_load_runs_reloads_once_serving() {
    use std::io::Write;
    // The zone file is a FIFO, so the server's first load waits, mid-load, until the test
    // writes the zone: a SIGHUP sent then must not end the process (SIGHUP's default).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("example.com.zone");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    std::fs::write(dir.path().join("eightfold.toml"), format!("{}{ZONE_BODY}", server_table(""))).unwrap();
    let log = dir.path().join("log");
    let mut child = std::process::Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(dir.path().join("eightfold.toml"))
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    struct Stop<'a>(&'a mut std::process::Child);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Stop(&mut child);
    let output = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut writer = open_fifo(&fifo).unwrap_or_else(|e| panic!("{e}\n{}", output()));
    // SAFETY: kill with a child's pid and a valid signal number has no memory effects.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.0.try_wait().unwrap().is_none(), "SIGHUP during the first load ended the server:\n{}", output());
    writer.write_all(ZONE.as_bytes()).unwrap();
    drop(writer);

    // The held SIGHUP reloads once the server runs, which reads the zone file again (after
    // the first load has closed it, or this would be more of the same file).
    assert!(eventually(Duration::from_secs(10), || output().contains("listening on")), "{}", output());
    let mut writer = open_fifo(&fifo).unwrap_or_else(|e| panic!("{e}\n{}", output()));
    writer.write_all(ZONE.as_bytes()).unwrap();
    drop(writer);
    assert!(
        eventually(Duration::from_secs(10), || output().contains("configuration reloaded")),
        "no reload after the held SIGHUP:\n{}",
        output()
    );
    assert!(child.0.try_wait().unwrap().is_none(), "{}", output());
    let text = output();
    let addr: std::net::SocketAddr = text
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no listening line:\n{text}"));
    let query = message("static.example.com.", RecordType::A, None).to_vec().unwrap();
    let reply = udp_exchange(addr, &query, Duration::from_secs(2)).expect("an answer after the reload");
    let reply = hickory_proto::op::Message::from_vec(&reply).unwrap();
    assert_eq!(reply.answers().len(), 1, "{reply:?}");
}

/// The messages the server sends to a `NOTIFY_SOCKET` bound by the test, one at a time.
fn next_notification(socket: &std::os::unix::net::UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf).expect("a notification within the read timeout");
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// systemd's readiness protocol (`Type=notify`): READY=1 once the server answers, with its
/// pid; RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a reload, by signal or over the
/// control endpoint; STOPPING=1 when it stops. Over a path and over an abstract socket name.
#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let abstract_name = format!("eightfold-test-{}-{}", std::process::id(), fastrand::u64(..));
    for (socket, value) in [
        (UnixDatagram::bind(&path).unwrap(), path.display().to_string()),
        (
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap()).unwrap(),
            format!("@{abstract_name}"),
        ),
    ] {
        socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let config = format!("{}{ZONE_BODY}", server_table(""));
        let mut s = TestServer::start_config_with(&config, &[("example.com.zone", ZONE)], &[], |command| {
            command.env("NOTIFY_SOCKET", &value);
        });
        let ready = next_notification(&socket);
        assert!(ready.contains("READY=1"), "{ready}");
        assert!(ready.contains(&format!("MAINPID={}", s.pid())), "{ready}");
        // Ready means answering.
        assert_eq!(s.query("example.com.", RecordType::SOA).response_code(), ResponseCode::NoError);
        s.signal(libc::SIGHUP);
        let reloading = next_notification(&socket);
        assert!(reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="), "{reloading}");
        assert!(next_notification(&socket).contains("READY=1"));
        let (code, _) = s.http("POST", "/reload", "", "");
        assert_eq!(code, 200);
        assert!(next_notification(&socket).contains("RELOADING=1"));
        assert!(next_notification(&socket).contains("READY=1"));
        s.signal(libc::SIGTERM);
        assert!(next_notification(&socket).contains("STOPPING=1"));
        assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0), "{}", s.output());
    }
}
