//! Degraded and fail-open record sets made visible: the prober's log lines when a set starts
//! or stops answering from unhealthy members or falls below `max_answers` healthy, the marks
//! and streaks in `eightfold status` (text and JSON, and its filters), and the per-set metrics.

use std::time::Duration;

use crate::common::endpoints::{eventually, Behaviour, HttpEndpoint, TcpEndpoint};
use crate::common::*;

/// Interval 1 s, threshold 1: a change shows within about 1 s; allow 4 s more.
const FOLLOW: Duration = Duration::from_secs(5);

fn tcp_check(id: &str, ep: &TcpEndpoint) -> String {
    format!(
        "[[health_check]]\nid = \"{id}\"\ntype = \"TCP\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\nfailure_threshold = 1\n",
        ep.addr.ip(),
        ep.addr.port()
    )
}

fn member(name: &str, set_id: &str, value: &str, check: &str, extra: &str) -> String {
    format!(
        "[[record]]\nname = \"{name}\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"{set_id}\"\nvalues = [\"{value}\"]\nhealth_check = \"{check}\"\n{extra}"
    )
}

/// The value of `family{zone="example.com.",name="NAME",type="A"}` in the metrics.
fn set_metric(s: &TestServer, family: &str, name: &str) -> Option<u64> {
    let series = format!("{family}{{zone=\"example.com.\",name=\"{name}\",type=\"A\"}} ");
    let metrics = s.http("GET", "/metrics", "", "").1;
    metrics.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.parse().ok())
}

fn status_json(s: &TestServer, args: &[&str]) -> serde_json::Value {
    let (code, out) = s.cli(&[&["status", "--json"], args].concat());
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}

fn ids(list: &serde_json::Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn degraded_and_failing_open_sets_are_logged_shown_and_measured() {
    let eps: Vec<TcpEndpoint> = (0..3).map(|_| TcpEndpoint::start("127.0.0.95")).collect();
    let flaky = HttpEndpoint::start("127.0.0.96");
    flaky.set(Behaviour::Respond(503, String::new()));
    let mut body = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\ncontrol = \"127.0.0.1:0\"\nmax_answers = 2\n{ZONE_BODY}"
    );
    for (i, ep) in eps.iter().enumerate() {
        body += &tcp_check(&format!("c{i}"), ep);
        body += &member("mv", &format!("m{i}"), &format!("10.30.0.{i}"), &format!("c{i}"), "");
    }
    // Ten failures to go down, one every 2 s: it stays healthy, with a streak, for this test.
    body += &format!(
        "[[health_check]]\nid = \"flaky\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = 2\nfailure_threshold = 10\n",
        flaky.addr.ip(),
        flaky.addr.port()
    );
    body += &member("other", "x", "10.30.1.1", "flaky", "");
    body += &member("nd", "x", "10.30.2.1", "c2", "when_all_unhealthy = \"nodata\"\n");
    let s = TestServer::start_config(&body, &[("example.com.zone", ZONE)], &[]);
    assert_eq!(set_metric(&s, "eightfold_record_set_healthy", "mv.example.com."), Some(3));
    assert_eq!(set_metric(&s, "eightfold_record_set_members", "mv.example.com."), Some(3));
    assert_eq!(set_metric(&s, "eightfold_record_set_failing_open", "mv.example.com."), Some(0));
    assert_eq!(set_metric(&s, "eightfold_record_set_members", "other.example.com."), Some(1));

    // Two of three healthy still fill an answer of max_answers = 2; one does not.
    eps[0].set_up(false);
    eps[1].set_up(false);
    let below = "record set below max_answers healthy name=mv.example.com. type=A healthy=1 members=3 max_answers=2";
    assert!(eventually(FOLLOW, || s.output().contains(below)), "{}", s.output());
    let (code, text) = s.cli(&["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("mv.example.com. A multivalue (1/3 healthy, below max_answers 2)\n"), "{text}");

    eps[2].set_up(false);
    let failing = "record set failing open: no member is healthy, answering from unhealthy members \
                   name=mv.example.com. type=A members=3";
    assert!(eventually(FOLLOW, || s.output().contains(failing)), "{}", s.output());
    let nodata = "record set has no healthy member: answering NODATA name=nd.example.com. type=A members=1";
    assert!(eventually(FOLLOW, || s.output().contains(nodata)), "{}", s.output());
    assert_eq!(s.output().matches("record set failing open").count(), 1, "logged once");
    assert_eq!(set_metric(&s, "eightfold_record_set_failing_open", "mv.example.com."), Some(1));
    assert_eq!(set_metric(&s, "eightfold_record_set_healthy", "mv.example.com."), Some(0));
    assert_eq!(set_metric(&s, "eightfold_record_set_failing_open", "nd.example.com."), Some(0), "NODATA, not open");
    let (_, text) = s.cli(&["status"]);
    assert!(
        text.contains("mv.example.com. A multivalue (0/3 healthy)  FAILING OPEN: answering from unhealthy members\n"),
        "{text}"
    );
    assert!(
        text.contains("nd.example.com. A multivalue (0/1 healthy)  no healthy member: answering NODATA\n"),
        "{text}"
    );
    assert!(text.contains("0 of 1 successes"), "{text}");
    let all = status_json(&s, &[]);
    let mv = all["record_sets"].as_array().unwrap().iter().find(|r| r["name"] == "mv.example.com.").unwrap().clone();
    assert_eq!((mv["failing_open"].clone(), mv["healthy"].clone()), (true.into(), 0.into()), "{mv}");

    // The flaky check is still healthy, on its way down: its streak shows.
    let streak_shown = || {
        let flaky = status_json(&s, &["flaky"])["checks"][0].clone();
        let streak = flaky["streak"].as_str().unwrap_or_default().to_string();
        let n: u64 = streak.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (1..10).contains(&n) && streak == format!("{n} of 10 failures") && flaky["healthy"] == true
    };
    assert!(eventually(FOLLOW, streak_shown), "{}", s.cli(&["status", "flaky"]).1);

    // Filters: what is unhealthy, one set by name, one check by id.
    let unhealthy = status_json(&s, &["--unhealthy"]);
    assert_eq!(ids(&unhealthy["checks"], "id"), ["c0", "c1", "c2"]);
    assert_eq!(ids(&unhealthy["record_sets"], "name"), ["mv.example.com.", "nd.example.com."]);
    let by_name = status_json(&s, &["MV.example.com"]);
    assert_eq!(ids(&by_name["record_sets"], "name"), ["mv.example.com."]);
    assert_eq!(ids(&by_name["checks"], "id"), ["c0", "c1", "c2"]);
    let by_check = status_json(&s, &["c2"]);
    assert_eq!(ids(&by_check["record_sets"], "name"), ["mv.example.com.", "nd.example.com."]);
    assert_eq!(ids(&by_check["checks"], "id"), ["c2"]);
    let healthy_only_other = status_json(&s, &["other.example.com.", "--unhealthy"]);
    assert_eq!(healthy_only_other["record_sets"], serde_json::json!([]));
    let (code, text) = s.cli(&["status", "flaky"]);
    assert_eq!(code, 0);
    assert!(text.contains("filter: flaky\n"), "{text}");
    assert!(text.contains("other.example.com. A multivalue (1/1 healthy)") && !text.contains("c0"), "{text}");
    let (code, out) = s.cli(&["status", "ghost"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no record set or health check named \"ghost\""), "{out}");
    let (code, out) = s.http("GET", "/status?zone=example.com", "", "");
    assert_eq!(code, 400, "{out}");
    assert!(out.contains("unknown parameter \\\"zone\\\""), "{out}");

    // Back: the set stops failing open, then has max_answers healthy again.
    eps[2].set_up(true);
    let open_no_more = "record set no longer failing open name=mv.example.com. type=A healthy=1 members=3";
    assert!(eventually(FOLLOW, || s.output().contains(open_no_more)), "{}", s.output());
    let again = "record set has a healthy member again name=nd.example.com. type=A healthy=1";
    assert_eq!(s.logged(again, 1), 1, "{}", s.output());
    assert_eq!(set_metric(&s, "eightfold_record_set_failing_open", "mv.example.com."), Some(0));
    eps[0].set_up(true);
    let full = "record set no longer below max_answers healthy name=mv.example.com. type=A healthy=2 members=3";
    assert!(eventually(FOLLOW, || s.output().contains(full)), "{}", s.output());
}
