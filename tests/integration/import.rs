//! `eightfold import route53` on a fixture with every shape the AWS CLI prints, then the
//! result checked and served.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use crate::common::endpoints::{eventually, TcpEndpoint};
use crate::common::ports::free_port;
use crate::common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn data(name: &str) -> String {
    format!("{}/tests/data/route53/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn imports_every_shape_reports_the_rest_and_serves_it() {
    let out = Command::new(binary())
        .args([
            "import",
            "route53",
            "--record-sets",
            &data("record-sets-page1.json"),
            "--record-sets",
            &data("record-sets-page2.json"),
        ])
        .args(["--health-checks", &data("health-checks.json"), "--health-checks", &data("get-health-check.json")])
        .output()
        .unwrap();
    let config = String::from_utf8(out.stdout).unwrap();
    let report = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{report}");
    for name in [
        "not imported: record set cdn.example.com. A: alias",
        "not imported: record set geo.example.com. A (us): geolocation routing without health checks",
        "not imported: record set lat.example.com. A (east): latency routing without health checks",
        "not imported: record set near.example.com. A (near-east): geoproximity",
        "not imported: record set cidr.example.com. A (office): IP-based",
        "not imported: health check cw000000-1111-2222-3333-444444444444 (CLOUDWATCH_METRIC)",
        "not imported: record set elsewhere.example.org. A: outside the zone",
        "empty name: lat.example.com. (A: latency) was not imported",
    ] {
        assert!(report.contains(name), "{name} not reported:\n{report}");
    }
    for fragment in [
        "origin = \"example.com.\"",
        "ns_ttl = 172800",
        "routing = \"multivalue\"\nset_id = \"web-1\"",
        "routing = \"weighted\"\nset_id = \"green\"\nweight = 0",
        "routing = \"failover\"\nset_id = \"Ohio region\"\nfailover = \"PRIMARY\"",
        "name = \"*.example.com.\"",
        "type = \"HTTPS_STR_MATCH\"",
        "search_string = \"OK\"",
        "type = \"CALCULATED\"",
        "health_check = \"www-primary\"",
        "# Route 53 health check ffff0000-2222-3333-4444-555555fedcba (CallerReference \"www-primary\")",
        "control = \"127.0.0.1:9153\"",
    ] {
        assert!(config.contains(fragment), "{fragment:?} missing from:\n{config}");
    }
    let (code, checked) = check(&config, &[]);
    assert_eq!(code, 0, "{checked}");
    let s = TestServer::start_config(&config, &[], &["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"]);
    let api: HashSet<_> = addresses(&s.query("api.example.com.", RecordType::A)).into_iter().collect();
    assert_eq!(api.len(), 2);
    assert_eq!(
        addresses(&s.query("www.example.com.", RecordType::A)),
        vec!["192.0.2.44".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(
        addresses(&s.query("app.example.com.", RecordType::A)),
        vec!["198.51.100.1".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(
        addresses(&s.query("pool.example.com.", RecordType::A)).len(),
        2,
        "a multi-value record set answers whole"
    );
    assert_eq!(s.query("anything.example.com.", RecordType::TXT).answers().len(), 2, "\\052 became a wildcard");
    // The alias was not imported; the name is one of empty_names, so the wildcard does not
    // cover it: NODATA for every type, the wildcard's TXT included.
    for qtype in [RecordType::A, RecordType::TXT] {
        let cdn = s.query("cdn.example.com.", qtype);
        assert_eq!(cdn.response_code(), ResponseCode::NoError);
        assert!(cdn.answers().is_empty(), "{qtype}: {:?}", cdn.answers());
    }
    let referral = s.query("host.sub.example.com.", RecordType::A);
    assert!(!referral.authoritative());
    assert_eq!(referral.additionals().len(), 1);
    let soa = s.query("example.com.", RecordType::SOA);
    assert_eq!(soa.answers()[0].ttl(), 900);
    assert_eq!(s.query("example.com.", RecordType::NS).answers()[0].ttl(), 172800);
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let out = Command::new(binary()).args(["import", "route53", "--record-sets"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
    let no_soa = dir.path().join("no-soa.json");
    std::fs::write(&no_soa, r#"{"ResourceRecordSets": [{"Name": "a.example.com.", "Type": "A", "TTL": 1, "ResourceRecords": [{"Value": "192.0.2.1"}]}]}"#).unwrap();
    let out = Command::new(binary()).args(["import", "route53", "--record-sets"]).arg(&no_soa).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--zone"));
    let out = Command::new(binary())
        .args(["import", "route53", "--record-sets", &data("shop-record-sets.json"), "--ns", "ns1..shop.example."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(shown.contains("--ns \"ns1..shop.example.\": empty label"), "{shown}");
}

/// Runs `eightfold import route53` on `shop-record-sets.json` and `health_checks` (JSON
/// text) with `args`; (exit code, the config on stdout, the notes on stderr).
fn import_shop(dir: &std::path::Path, health_checks: &str, args: &[&str]) -> (i32, String, String) {
    let checks = dir.join("checks.json");
    std::fs::write(&checks, health_checks).unwrap();
    let out = Command::new(binary())
        .args(["import", "route53", "--record-sets", &data("shop-record-sets.json"), "--health-checks"])
        .arg(&checks)
        .args(args)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// A hand-written Route 53 export of `shop.example.`: a wildcard CNAME with an alias (A and
/// AAAA to CloudFront) and a geolocation set without checks under it, a latency set with four
/// checks (two endpoints up, one check disabled and inverted, one endpoint refusing), and
/// Route 53's own NS and SOA. The import must keep the skipped names from the wildcard, serve
/// the latency set as multivalue of its healthy members, put --ns and --soa-mname into the
/// served NS and SOA, and give `eightfold status --config` the server's control endpoint.
#[test]
fn skipped_names_never_match_a_wildcard_and_latency_with_checks_is_multivalue() {
    let dir = tempfile::tempdir().unwrap();
    let (east, west) = (TcpEndpoint::start("127.0.0.1"), TcpEndpoint::start("127.0.0.1"));
    // The checks' ports, by Route 53 id: the fixture's are placeholders.
    let mut checks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("shop-health-checks.json")).unwrap()).unwrap();
    for check in checks["HealthChecks"].as_array_mut().unwrap() {
        let port = match check["CallerReference"].as_str().unwrap() {
            "lat-east" => east.addr.port(),
            "Lat AP" => free_port(),
            // lat-eu is disabled and inverted: never probed, always unhealthy.
            "2024-05-01T10:00:00.000Z" => free_port(),
            _ => west.addr.port(),
        };
        check["HealthCheckConfig"]["Port"] = port.into();
    }
    let checks = checks.to_string();

    // As exported, the zone names Route 53's servers: the import says so, loudly.
    let (code, _, notes) = import_shop(dir.path(), &checks, &[]);
    assert_eq!(code, 0, "{notes}");
    for warning in [
        "WARNING: the apex NS records name Route 53's name servers (ns-1536.awsdns-00.co.uk.",
        "WARNING: the SOA names Route 53's ns-1536.awsdns-00.co.uk. as the primary server (MNAME); set this server's \
         name with --soa-mname NAME",
    ] {
        assert!(notes.contains(warning), "{warning:?} missing from:\n{notes}");
    }

    let control = format!("127.0.0.1:{}", free_port());
    let (code, config, notes) = import_shop(
        dir.path(),
        &checks,
        &[
            "--ns",
            "ns1.shop.example.",
            "--ns",
            "ns2.shop.example",
            "--soa-mname",
            "ns2.shop.example.",
            "--soa-rname",
            "hostmaster.shop.example.",
            "--control",
            &control,
        ],
    );
    assert_eq!(code, 0, "{notes}");
    assert!(!notes.contains("WARNING"), "{notes}");
    for note in [
        "empty name: cdn.shop.example. (A: alias; AAAA: alias) was not imported; it is listed in empty_names, so it \
         answers NODATA for every type, never the data of the wildcard *.shop.example.",
        "empty name: geo.shop.example. (A: geolocation) was not imported",
        "imported with a change: record sets lat.shop.example. A (ap, east, eu, west): latency routing with health \
         checks, imported as multivalue, each member with its check",
    ] {
        assert!(notes.contains(note), "{note:?} missing from:\n{notes}");
    }
    assert!(!notes.contains("empty name: shop.example."), "the apex exists anyway:\n{notes}");
    // Readable check ids: the CallerReference when it reads as words, else the record and set
    // id; the Route 53 id in a comment above each.
    for (route53, id) in [("f01", "lat-east"), ("f02", "lat-west"), ("f03", "lat-eu"), ("f04", "lat-ap")] {
        let table = format!("# Route 53 health check 4d2a9f10-0c1b-4e55-9a7e-3b8c6d5e4{route53} ");
        let at = config.find(&table).unwrap_or_else(|| panic!("{table:?} missing from:\n{config}"));
        let next = &config[at..config[at..].find("type =").map_or(config.len(), |end| at + end)];
        assert!(next.contains(&format!("[[health_check]]\nid = \"{id}\"\n")), "{next}");
        assert!(config.contains(&format!("health_check = \"{id}\"")), "{id} unused:\n{config}");
    }
    let (code, checked) = check(&config, &[]);
    assert_eq!(code, 0, "{checked}");

    let s = TestServer::start_config(&config, &[], &["--listen", "127.0.0.1:0"]);
    assert_eq!(s.control.map(|c| c.to_string()), Some(control.clone()), "the imported [server] control");
    // The wildcard still answers names that do not exist...
    let other = s.query("other.shop.example.", RecordType::A);
    assert_eq!(other.answers()[0].record_type(), RecordType::CNAME);
    // ...but never the names whose records were skipped: NODATA with the SOA.
    for (name, qtype) in [
        ("cdn.shop.example.", RecordType::A),
        ("cdn.shop.example.", RecordType::AAAA),
        ("cdn.shop.example.", RecordType::CNAME),
        ("cdn.shop.example.", RecordType::TXT),
        ("geo.shop.example.", RecordType::A),
        ("shop.example.", RecordType::A),
    ] {
        let m = s.query(name, qtype);
        assert_eq!(m.response_code(), ResponseCode::NoError, "{name} {qtype}");
        assert!(m.answers().is_empty(), "{name} {qtype} answered {:?}", m.answers());
        assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA, "{name} {qtype}");
    }
    // The latency set answers as multivalue from its healthy members: east and west (the
    // refusing ap endpoint fails its first probe, within one 10 s interval).
    let healthy: HashSet<std::net::Ipv4Addr> = ["192.0.2.11", "192.0.2.12"].map(|a| a.parse().unwrap()).into();
    let mut last = HashSet::new();
    let settled = eventually(Duration::from_secs(30), || {
        last = addresses(&s.query("lat.shop.example.", RecordType::A)).into_iter().collect();
        last == healthy
    });
    assert!(settled, "lat.shop.example. A answered {last:?}");
    // The NS and SOA are the ones given on the command line.
    let ns = s.query("shop.example.", RecordType::NS);
    let mut names: Vec<String> = ns.answers().iter().map(|r| r.data().to_string()).collect();
    names.sort();
    assert_eq!(names, ["ns1.shop.example.", "ns2.shop.example."]);
    let soa = s.query("shop.example.", RecordType::SOA);
    let soa = soa.answers()[0].data().to_string();
    assert!(soa.starts_with("ns2.shop.example. hostmaster.shop.example. 1 "), "{soa}");
    // `eightfold status` finds the server through the imported config's control address.
    let status = Command::new(binary()).args(["status", "--config"]).arg(s.path("eightfold.toml")).output().unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{shown}{}", String::from_utf8_lossy(&status.stderr));
    for (id, state) in
        [("lat-east", "healthy"), ("lat-west", "healthy"), ("lat-eu", "unhealthy"), ("lat-ap", "unhealthy")]
    {
        let line = shown.lines().find(|l| l.split_whitespace().next() == Some(id));
        assert!(line.is_some_and(|l| l.split_whitespace().nth(3) == Some(state)), "{id} {state}:\n{shown}");
    }
}
