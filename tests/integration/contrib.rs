//! `contrib/`: the Grafana dashboard and the Prometheus alert rules ask only for what the
//! server exports. A server with a health check and rate limiting is started and asked
//! queries, its `/metrics` is scraped, and every metric (and every label) that an expression
//! of the dashboard or the rules names must be in that scrape. With promtool (which `.ci/run`
//! unpacks from Debian's prometheus package) the rules also pass `promtool check rules` and
//! their unit tests, and the dashboard's expressions parse as PromQL.

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use hickory_proto::rr::RecordType;

const DASHBOARD: &str = "contrib/grafana/eightfold.json";
const RULES: &str = "contrib/prometheus/eightfold-alerts.yml";
const RULE_TESTS: &str = "contrib/prometheus/eightfold-alerts.test.yml";

/// Labels Prometheus adds to every scraped series itself.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

fn repository(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What `/metrics` exports: each family by name, with the label names its samples carry.
struct Exposition {
    families: BTreeMap<String, BTreeSet<String>>,
}

impl Exposition {
    /// Reads `# TYPE` lines (a histogram or summary also exports `_bucket`, `_sum` and
    /// `_count`, with `le` or `quantile`) and the label names of the sample lines.
    fn parse(text: &str) -> Exposition {
        let mut families = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_whitespace();
                let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
                families.entry(name.to_string()).or_insert_with(BTreeSet::new);
                let (suffixes, bound): (&[&str], &str) = match kind {
                    "histogram" => (&["_bucket", "_sum", "_count"], "le"),
                    "summary" => (&["_sum", "_count"], "quantile"),
                    _ => (&[], ""),
                };
                for suffix in suffixes {
                    families.entry(format!("{name}{suffix}")).or_insert_with(BTreeSet::new);
                }
                if !bound.is_empty() {
                    families.entry(format!("{name}_bucket")).or_default().insert(bound.to_string());
                    families.entry(name.to_string()).or_default().insert(bound.to_string());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let name_end = line.find(['{', ' ']).unwrap_or(line.len());
                let labels = sample_labels(&line[name_end..]);
                families.entry(line[..name_end].to_string()).or_default().extend(labels);
            }
        }
        Exposition { families }
    }
}

/// The label names of a sample line's `{a="x",b="y"} 1` part (values may hold escaped quotes).
fn sample_labels(rest: &str) -> Vec<String> {
    let Some(body) = rest.strip_prefix('{') else { return Vec::new() };
    let mut names = Vec::new();
    let mut chars = body.chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '=' => {
                names.push(std::mem::take(&mut name).trim().trim_start_matches(',').trim().to_string());
                // Skip the quoted value.
                chars.next();
                let mut escaped = false;
                for v in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if v == '\\' {
                        escaped = true;
                    } else if v == '"' {
                        break;
                    }
                }
            }
            '}' => break,
            _ => name.push(c),
        }
    }
    names
}

/// The metric and label names a PromQL expression uses. Strings are skipped, as are Grafana
/// variables (`$instance`, `$__rate_interval`); metrics are the `eightfold_` names; labels
/// are the names matched in a selector's braces and listed after `by`, `without`, `on`,
/// `ignoring`, `group_left` and `group_right`.
fn references(expression: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            let mut escaped = false;
            for v in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if v == '\\' {
                    escaped = true;
                } else if v == c {
                    break;
                }
            }
            tokens.push("\"\"".into());
        } else if c == '$' {
            // A Grafana variable: `$name` or `${name}`.
            while chars.peek().is_some_and(|v| v.is_ascii_alphanumeric() || "_{}".contains(*v)) {
                chars.next();
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut word = c.to_string();
            while let Some(&v) = chars.peek().filter(|v| v.is_ascii_alphanumeric() || **v == '_' || **v == ':') {
                word.push(v);
                chars.next();
            }
            tokens.push(word);
        } else if c.is_ascii_digit() {
            // A number or a duration such as 5m.
            while chars.peek().is_some_and(|v| v.is_ascii_alphanumeric() || *v == '.') {
                chars.next();
            }
            tokens.push("0".into());
        } else if !c.is_whitespace() {
            let mut op = c.to_string();
            if let Some(&v) = chars.peek().filter(|v| "=~".contains(**v) && "=!".contains(c)) {
                op.push(v);
                chars.next();
            }
            tokens.push(op);
        }
    }
    let mut metrics = BTreeSet::new();
    let mut labels = BTreeSet::new();
    let mut in_braces = false;
    let mut in_grouping = false;
    for (i, token) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).map(String::as_str);
        match token.as_str() {
            "{" => in_braces = true,
            "}" => in_braces = false,
            "(" if i > 0
                && ["by", "without", "on", "ignoring", "group_left", "group_right"]
                    .contains(&tokens[i - 1].as_str()) =>
            {
                in_grouping = true
            }
            ")" => in_grouping = false,
            word if in_braces && matches!(next, Some("=" | "!=" | "=~" | "!~")) => {
                labels.insert(word.to_string());
            }
            word if in_grouping && word != "," => {
                labels.insert(word.to_string());
            }
            word if word.starts_with("eightfold_") => {
                metrics.insert(word.to_string());
            }
            _ => {}
        }
    }
    (metrics, labels)
}

/// Every PromQL expression of the dashboard: panel targets, at any depth (rows hold panels),
/// and the metric selectors of its `label_values(SELECTOR, LABEL)` variables, with the label
/// each variable lists.
fn dashboard_expressions(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item.as_str()) {
                        ("expr", Some(expr)) => found.push(expr.to_string()),
                        ("definition", Some(query)) => {
                            let inner = query
                                .strip_prefix("label_values(")
                                .and_then(|q| q.strip_suffix(')'))
                                .unwrap_or_else(|| panic!("a variable that is not label_values(...): {query}"));
                            let (selector, label) = inner.rsplit_once(',').expect("label_values(SELECTOR, LABEL)");
                            // As `by (LABEL)`, so the label is checked against the selector's metric.
                            found.push(format!("count by ({}) ({selector})", label.trim()));
                        }
                        _ => walk(item, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(dashboard, &mut found);
    found
}

/// Every alert of the rules file: its name and expression. The file's `expr:` values are
/// one line or a `|` block, the two forms it uses.
fn alert_rules(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut alerts = Vec::new();
    let mut name = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(alert) = trimmed.strip_prefix("- alert:") {
            name = Some(alert.trim().to_string());
        } else if let Some(value) = trimmed.strip_prefix("expr:") {
            let indent = line.len() - trimmed.len();
            let expression = match value.trim() {
                "|" | ">" | "|-" | ">-" => lines[i + 1..]
                    .iter()
                    .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(" "),
                inline => inline.to_string(),
            };
            let alert = name.take().unwrap_or_else(|| panic!("{RULES}: an expr before its alert name, line {}", i + 1));
            alerts.push((alert, expression));
        }
    }
    alerts
}

/// A server with a health check (to a closed port) and rate limiting at one response a
/// second, after UDP queries enough to be limited and a probe: its `/metrics`, once every
/// family has a sample.
fn scrape() -> Exposition {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\nrrl_responses_per_second = 1\nrrl_slip = 2\n\
         {ZONE_BODY}\
         [[health_check]]\nid = \"web-a\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\n\
         request_interval = 1\nfailure_threshold = 1\nconnect_timeout = 0.5\n\
         [[record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"a\"\n\
         values = [\"192.0.2.1\"]\nhealth_check = \"web-a\"\n"
    );
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &["--control", "127.0.0.1:0"]);
    // Twenty queries at once from one address: rate limiting drops or slips all but the first.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..20 {
        socket.send_to(&message("www.example.com.", RecordType::A, None).to_vec().unwrap(), s.addr).unwrap();
    }
    s.tcp(&message("www.example.com.", RecordType::A, None));
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = s.http("GET", "/metrics", "", "");
        assert_eq!(code, 200, "{body}");
        // Ready when every family has a sample (so its labels are known) and rate limiting
        // has dropped a response.
        let sampled: BTreeSet<&str> =
            body.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
        let mut declared = body.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split_whitespace().next());
        let ready = declared.all(|f| sampled.contains(f)) && !body.contains("eightfold_rrl_dropped_total 0");
        if ready || Instant::now() > until {
            assert!(ready, "not every family sampled, or no rate-limited response, within 15 s:\n{body}");
            return Exposition::parse(&body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The names an expression uses that the scrape lacks: metrics not exported, labels that
/// none of the expression's metrics carries (nor Prometheus adds).
fn missing(expression: &str, scraped: &Exposition) -> Vec<String> {
    let (metrics, labels) = references(expression);
    let mut missing: Vec<String> =
        metrics.iter().filter(|m| !scraped.families.contains_key(*m)).map(|m| format!("metric {m}")).collect();
    let carried: BTreeSet<&str> = metrics
        .iter()
        .filter_map(|m| scraped.families.get(m))
        .flatten()
        .map(String::as_str)
        .chain(TARGET_LABELS)
        .collect();
    missing.extend(labels.iter().filter(|l| !carried.contains(l.as_str())).map(|l| format!("label {l}")));
    if metrics.is_empty() {
        missing.push("any eightfold metric at all".into());
    }
    missing
}

#[test]
fn every_metric_the_dashboard_and_alert_rules_name_is_exported() {
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repository(DASHBOARD)).unwrap())
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"));
    let panels = dashboard_expressions(&dashboard);
    let alerts = alert_rules(&std::fs::read_to_string(repository(RULES)).unwrap());
    assert!(panels.len() >= 15, "{DASHBOARD}: only {} expressions found", panels.len());
    assert!(alerts.len() >= 3, "{RULES}: only {} alerts found", alerts.len());

    let scraped = scrape();
    let mut wrong = Vec::new();
    let mut used = BTreeSet::new();
    let named = panels.iter().map(|e| (DASHBOARD, e.as_str())).chain(alerts.iter().map(|(_, e)| (RULES, e.as_str())));
    for (file, expression) in named {
        used.extend(references(expression).0);
        for name in missing(expression, &scraped) {
            wrong.push(format!("{file}: `{expression}` names {name}, which the server does not export"));
        }
    }
    assert!(wrong.is_empty(), "{}\n\nexported: {:?}", wrong.join("\n"), scraped.families);
    // The dashboard shows every family the server exports.
    let unshown: Vec<&String> = scraped.families.keys().filter(|f| !used.contains(*f)).collect();
    assert!(unshown.is_empty(), "exported but on no panel or alert: {unshown:?}");
}

#[test]
fn the_reference_reader_finds_metrics_and_labels_and_skips_strings_and_variables() {
    let (metrics, labels) = references(
        "sum by (instance, transport) (rate(eightfold_queries_total{instance=~\"$instance\", transport=\"udp\"}\
         [$__rate_interval])) / on (instance) group_left eightfold_build_info{version!=\"eightfold_x\"} > 0.5",
    );
    assert_eq!(metrics, BTreeSet::from(["eightfold_queries_total".into(), "eightfold_build_info".into()]));
    assert_eq!(labels, BTreeSet::from(["instance".into(), "transport".into(), "version".into()]));
    let scraped = Exposition::parse(
        "# TYPE eightfold_queries_total counter\neightfold_queries_total{transport=\"udp\",qtype=\"A\"} 1\n\
         # TYPE eightfold_build_info gauge\neightfold_build_info{version=\"0\\\"1\"} 1\n",
    );
    assert_eq!(scraped.families["eightfold_build_info"], BTreeSet::from(["version".to_string()]));
    assert!(missing("rate(eightfold_queries_total{transport=\"udp\"}[5m])", &scraped).is_empty());
    assert_eq!(missing("eightfold_queries_total{zone=\"a\"}", &scraped), ["label zone"]);
    assert_eq!(missing("eightfold_nothing", &scraped), ["metric eightfold_nothing"]);
}

/// promtool: on the PATH, else none (a failure under CI).
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("promtool")).find(|tool| tool.is_file()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "promtool is required under CI (.ci/run unpacks it)");
        eprintln!("promtool is not on the PATH (Debian's prometheus package has it); skipping its checks outside CI");
    }
    found
}

fn promtool_run(tool: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
    text
}

#[test]
fn promtool_accepts_the_rules_their_unit_tests_pass_and_the_dashboard_parses() {
    let Some(tool) = promtool() else { return };
    let contrib = repository("contrib/prometheus");
    let rules = Path::new(RULES).file_name().unwrap().to_str().unwrap();
    let tests = Path::new(RULE_TESTS).file_name().unwrap().to_str().unwrap();
    let checked = promtool_run(&tool, &["check", "rules", rules], &contrib);
    let alerts = alert_rules(&std::fs::read_to_string(repository(RULES)).unwrap());
    assert!(checked.contains(&format!("SUCCESS: {} rules found", alerts.len())), "{checked}");
    promtool_run(&tool, &["test", "rules", tests], &contrib);
    // Every alert is exercised by the unit tests.
    let unit_tests = std::fs::read_to_string(repository(RULE_TESTS)).unwrap();
    for (alert, _) in &alerts {
        assert!(unit_tests.contains(&format!("alertname: {alert}\n")), "{RULE_TESTS} does not test {alert}");
    }

    // The dashboard's expressions, with Grafana's variables given values, as recording rules.
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repository(DASHBOARD)).unwrap()).unwrap();
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expression) in dashboard_expressions(&dashboard).iter().enumerate() {
        let concrete = expression
            .replace("$__rate_interval", "5m")
            .replace("$__range", "6h")
            .replace("$instance", ".*")
            .replace("$check", ".*");
        file +=
            &format!("      - record: dashboard:expression_{i}\n        expr: '{}'\n", concrete.replace('\'', "''"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.yml"), &file).unwrap();
    promtool_run(&tool, &["check", "rules", "dashboard.yml"], dir.path());
}

/// The restrictions `systemd-analyze security --offline` finds in the unit, with the AF_XDP
/// drop-in beside it or not: each check's JSON field, and whether the restriction is set.
fn unit_restrictions(drop_in: bool) -> BTreeMap<String, bool> {
    let dir = tempfile::tempdir().unwrap();
    // verify wants the unit's programs to exist: the binary under test stands in for them.
    let unit = std::fs::read_to_string(repository("contrib/eightfold.service"))
        .unwrap()
        .replace("/usr/local/bin/eightfold", &binary().display().to_string());
    std::fs::write(dir.path().join("eightfold.service"), unit).unwrap();
    if drop_in {
        std::fs::create_dir(dir.path().join("eightfold.service.d")).unwrap();
        std::fs::copy(repository("contrib/eightfold-xdp.conf"), dir.path().join("eightfold.service.d/xdp.conf"))
            .unwrap();
    }
    // The trailing colon keeps systemd's own unit folders after this one.
    let unit_path = format!("{}:", dir.path().display());
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "eightfold.service"])
        .env("SYSTEMD_UNIT_PATH", &unit_path)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr).into_owned();
    assert!(verify.status.success() && complaints.trim().is_empty(), "systemd-analyze verify: {complaints}");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--json=short", "eightfold.service"])
        .env("SYSTEMD_UNIT_PATH", &unit_path)
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("systemd-analyze security: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    checks
        .as_array()
        .expect("a list of checks")
        .iter()
        .filter_map(|c| Some((c["json_field"].as_str()?.to_string(), c["set"].as_bool()?)))
        .collect()
}

#[test]
fn the_xdp_drop_in_grants_what_af_xdp_needs_and_the_unit_alone_does_not() {
    if !have("systemd-analyze") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze missing under CI (.ci/run installs systemd)"
        );
        eprintln!("systemd-analyze not installed; the unit's drop-in is not checked");
        return;
    }
    // systemd's reading of the unit: a restriction `set` is a thing the service may not do.
    // AF_XDP is among the "exotic" address families (`RestrictAddressFamilies_OTHER`).
    const LIFTED: [&str; 6] = [
        "CapabilityBoundingSet_CAP_BPF",
        "CapabilityBoundingSet_CAP_NET_ADMIN",
        "CapabilityBoundingSet_CAP_IPC_LOCK",
        "SystemCallFilter_privileged",
        "RestrictAddressFamilies_AF_NETLINK",
        "RestrictAddressFamilies_OTHER",
    ];
    let plain = unit_restrictions(false);
    let xdp = unit_restrictions(true);
    for field in LIFTED {
        assert_eq!(plain.get(field), Some(&true), "the unit alone restricts {field}: {plain:?}");
        assert_eq!(xdp.get(field), Some(&false), "the drop-in lifts {field}: {xdp:?}");
    }
    for (field, set) in &plain {
        if *set && !LIFTED.contains(&field.as_str()) {
            assert_eq!(xdp.get(field), Some(&true), "the drop-in leaves {field} restricted");
        }
    }
    // The capabilities it grants are the ones the server asks for in its errors and docs.
    let drop_in = std::fs::read_to_string(repository("contrib/eightfold-xdp.conf")).unwrap();
    for line in ["AmbientCapabilities=", "CapabilityBoundingSet="] {
        let caps: BTreeSet<&str> = drop_in
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("the drop-in has {line}"))
            .split_whitespace()
            .collect();
        assert_eq!(caps, BTreeSet::from(["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK"]), "{line}");
    }
}
