//! `eightfold import route53` on a fixture with every shape the AWS CLI prints, then the
//! result checked and served.

use std::collections::HashSet;
use std::process::Command;

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
        "cdn.example.com. A: alias",
        "geo.example.com. A (us): geolocation",
        "lat.example.com. A (east): latency",
        "near.example.com. A (near-east): geoproximity",
        "cidr.example.com. A (office): IP-based",
        "cw000000-1111-2222-3333-444444444444 (CLOUDWATCH_METRIC): not imported",
        "elsewhere.example.org. A: outside the zone",
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
        "health_check = \"ffff0000-2222-3333-4444-555555fedcba\"",
    ] {
        assert!(config.contains(fragment), "{fragment:?} missing from:\n{config}");
    }
    let (code, checked) = check(&config, &[]);
    assert_eq!(code, 0, "{checked}");
    let s = TestServer::start_config(&config, &[], &["--listen", "127.0.0.1:0"]);
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
    // The alias was not imported; the imported wildcard now covers the name (NODATA for A).
    let cdn = s.query("cdn.example.com.", RecordType::A);
    assert_eq!(cdn.response_code(), ResponseCode::NoError);
    assert!(cdn.answers().is_empty());
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
}
