//! Config strictness: every table rejects unknown keys, and rejections name file, line and key.

use std::path::Path;

use super::*;
use crate::tsig::Algorithm;

fn parse_with_zone(text: &str, zone: &str) -> Result<Config, ConfigError> {
    let zone = zone.to_string();
    Config::parse(text, Path::new("dir/c.toml"), &move |_| Ok(zone.clone()))
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_with_zone(text, "@ SOA ns host 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
}

const BASE: &str =
    "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 hostmaster 1 7200 900 1209600 60\"\nns = [\"ns1\"]\n";

fn first_problem(text: &str) -> Problem {
    parse(text).unwrap_err().problems.remove(0)
}

#[test]
fn demo_parses() {
    let demo = Config::demo();
    assert_eq!(demo.zones.len(), 1);
    assert_eq!(demo.server.listen, vec!["127.0.0.1:5353".parse().unwrap()]);
}

#[test]
fn unknown_keys_rejected_in_every_table() {
    let tables = [
        "[server]\nbogus = 1\n".to_string(),
        "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 h 1 2 3 4 5\"\nns = [\"ns1\"]\nbogus = 1\n".to_string(),
        format!("{BASE}[[health_check]]\nid = \"a\"\ntype = \"TCP\"\nip = \"192.0.2.1\"\nport = 1\nbogus = 1\n"),
        format!("{BASE}[[record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\nbogus = 1\n"),
        format!("{BASE}[[tsig_key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"AAAA\"\nbogus = 1\n"),
        format!("{BASE}bogus = 1\n"),
    ];
    for text in tables {
        let p = first_problem(&text);
        assert!(p.reason.contains("unknown key") && p.key.as_deref() == Some("bogus"), "{p}");
        assert!(p.line.is_some(), "{p}");
    }
}

#[test]
fn problems_name_key_and_line() {
    let text = format!("{BASE}\n[[record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"multivalue\"\nset_id = \"a\"\nvalues = [\"192.0.2.1\"]\nhealth_check = \"nope\"\n");
    let p = first_problem(&text);
    assert_eq!(p.key.as_deref(), Some("health_check"));
    // The line of the key itself, not of its table's header.
    assert_eq!(p.line, Some(12));
    let shown = p.to_string();
    assert!(shown.starts_with("dir/c.toml:12: record \"www\" A (set_id \"a\"): key `health_check`"), "{shown}");
}

fn record(name: &str, rtype: &str, routing: &str, set_id: Option<&str>, extra: &str) -> String {
    let set_id = set_id.map(|s| format!("set_id = \"{s}\"\n")).unwrap_or_default();
    format!("[[record]]\nname = \"{name}\"\ntype = \"{rtype}\"\nrouting = \"{routing}\"\n{set_id}{extra}")
}

#[test]
fn route53_rules_are_enforced() {
    let v = "values = [\"192.0.2.1\"]\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (record("www", "A", "multivalue", None, v), "set_id", "required"),
        (
            record("www", "CNAME", "multivalue", Some("a"), "values = [\"x.example.com.\"]\n"),
            "routing",
            "not allowed for CNAME",
        ),
        (
            record("www", "NS", "multivalue", Some("a"), "values = [\"x.example.com.\"]\n"),
            "routing",
            "not allowed for NS",
        ),
        (
            record("www", "A", "multivalue", Some("a"), v) + &record("www", "A", "multivalue", Some("a"), v),
            "set_id",
            "already used",
        ),
        (
            record("www", "A", "multivalue", Some("a"), v)
                + &record("www", "A", "weighted", Some("b"), &format!("weight = 1\n{v}")),
            "routing",
            "cannot be mixed",
        ),
        (record("www", "A", "simple", None, v) + &record("www", "A", "simple", None, v), "routing", "already defined"),
        (record("www", "A", "weighted", Some("a"), &format!("weight = 300\n{v}")), "weight", "outside"),
        (
            record("www", "A", "failover", Some("a"), &format!("failover = \"TERTIARY\"\n{v}")),
            "failover",
            "PRIMARY or SECONDARY",
        ),
        (
            record("www", "A", "simple", None, &format!("health_check = \"x\"\n{v}")),
            "health_check",
            "not health checked",
        ),
        (record("www", "A", "simple", None, "values = [\"300.1.1.1\"]\n"), "values", "bad A value"),
        (record("www.example.org.", "A", "simple", None, v), "name", "outside every configured zone"),
        (record("www", "BOGUS", "simple", None, v), "type", "unknown record type"),
    ];
    for (records, key, reason) in cases {
        let text = format!("{BASE}{records}");
        let problems = parse(&text).unwrap_err().problems;
        assert!(
            problems.iter().any(|p| p.key.as_deref() == Some(key) && p.reason.contains(reason)),
            "expected `{key}`: {reason} in {problems:?}"
        );
    }
}

#[test]
fn cname_conflicts_and_delegation_rules() {
    let text = format!(
        "{BASE}{}{}",
        record("www", "CNAME", "simple", None, "values = [\"other.example.com.\"]\n"),
        record("www", "TXT", "simple", None, "values = [\"x\"]\n")
    );
    let problems = parse(&text).unwrap_err().problems;
    assert!(problems.iter().any(|p| p.reason.contains("cannot share its name")), "{problems:?}");
    let text = format!(
        "{BASE}{}{}",
        record("sub", "NS", "simple", None, "values = [\"ns.sub.example.com.\"]\n"),
        record("x.sub", "TXT", "simple", None, "values = [\"x\"]\n")
    );
    let problems = parse(&text).unwrap_err().problems;
    assert!(problems.iter().any(|p| p.reason.contains("below the delegation")), "{problems:?}");
}

#[test]
fn health_check_rules() {
    let check = |body: &str| format!("{BASE}[[health_check]]\nid = \"c\"\n{body}");
    let cases = [
        ("type = \"PING\"\nip = \"192.0.2.1\"\n", "type"),
        ("type = \"TCP\"\nip = \"192.0.2.1\"\n", "port"),
        ("type = \"HTTP\"\nip = \"nope\"\n", "ip"),
        ("type = \"HTTP_STR_MATCH\"\nip = \"192.0.2.1\"\n", "search_string"),
        ("type = \"HTTP\"\nip = \"192.0.2.1\"\nfailure_threshold = 11\n", "failure_threshold"),
        ("type = \"HTTP\"\nip = \"192.0.2.1\"\nrequest_interval = 0\n", "request_interval"),
        ("type = \"CALCULATED\"\nchildren = [\"missing\"]\n", "children"),
        ("type = \"CALCULATED\"\nchildren = [\"c\"]\n", "children"),
        ("type = \"CALCULATED\"\nip = \"192.0.2.1\"\n", "ip"),
        ("type = \"TCP\"\nip = \"192.0.2.1\"\nport = 1\nsearch_string = \"x\"\n", "search_string"),
    ];
    for (body, key) in cases {
        let problems = parse(&check(body)).unwrap_err().problems;
        assert!(problems.iter().any(|p| p.key.as_deref() == Some(key)), "{key}: {problems:?}");
    }
    let ok = parse(&check("type = \"HTTPS\"\nip = \"192.0.2.1\"\nresource_path = \"health\"\n")).unwrap();
    assert_eq!(ok.checks[0].resource_path, "/health");
    assert_eq!(ok.checks[0].port, 443);
    assert!(ok.checks[0].enable_sni);
}

#[test]
fn zone_file_errors_name_the_file_and_line() {
    let text = "[[zone]]\norigin = \"example.com.\"\nfile = \"z.zone\"\n";
    let err = parse_with_zone(text, "@ SOA ns host 1 2 3 4 5\n@ NS ns\nwww A 999.1.1.1\n").unwrap_err();
    let p = &err.problems[0];
    assert_eq!(p.file, Path::new("dir/z.zone"));
    assert_eq!(p.line, Some(3));
    let err = parse_with_zone(text, "www A 192.0.2.1\n").unwrap_err();
    assert!(err.problems.iter().any(|p| p.reason.contains("no SOA")));
    let missing = Config::parse(text, Path::new("c.toml"), &|_| Err(io::Error::new(io::ErrorKind::NotFound, "gone")))
        .unwrap_err();
    assert!(missing.problems[0].reason.contains("cannot read zone file"));
}

#[test]
fn toml_syntax_errors_have_lines() {
    let p = first_problem("[server]\nlisten = [\n");
    assert!(p.line.is_some());
    let p = first_problem("[server]\nworkers = \"many\"\n");
    assert_eq!(p.line, Some(2));
}

#[test]
fn zone_origins_are_unique_and_records_go_to_the_longest() {
    // The same origin twice, spelled in another case, is one zone defined twice (line 6).
    let text = format!("{BASE}{}", BASE.replace("example.com.", "EXAMPLE.com."));
    let problems = parse(&text).unwrap_err().problems;
    assert!(
        problems.iter().any(|p| p.key.as_deref() == Some("origin")
            && p.reason.contains("defined more than once")
            && p.line == Some(6)),
        "{problems:?}"
    );
    // Nested zones: a record belongs to the deepest; DS at the child's apex to the parent.
    let child = BASE.replace("example.com.", "sub.example.com.");
    let records = "[[record]]\nname = \"a.sub.example.com.\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n\
                   [[record]]\nname = \"b.example.com.\"\ntype = \"A\"\nvalues = [\"192.0.2.2\"]\n\
                   [[record]]\nname = \"sub.example.com.\"\ntype = \"DS\"\nvalues = [\"1 13 2 00FF\"]\n\
                   [[record]]\nname = \"sub.example.com.\"\ntype = \"TXT\"\nvalues = [\"child\"]\n";
    let config = parse(&format!("{BASE}{child}{records}")).unwrap();
    let owners = |zone: &ZoneConfig| {
        let mut owners: Vec<String> =
            zone.rrsets.iter().map(|s| format!("{} {}", s.owner, text::rtype_name(s.rtype))).collect();
        owners.sort();
        owners
    };
    let (parent, child) = (&config.zones[0], &config.zones[1]);
    assert!(owners(parent).contains(&"b.example.com. A".to_string()), "{:?}", owners(parent));
    assert!(owners(parent).contains(&"sub.example.com. DS".to_string()), "{:?}", owners(parent));
    assert!(owners(child).contains(&"a.sub.example.com. A".to_string()), "{:?}", owners(child));
    assert!(owners(child).contains(&"sub.example.com. TXT".to_string()), "{:?}", owners(child));
    assert!(!owners(child).iter().any(|o| o.ends_with(" DS")), "{:?}", owners(child));
}

#[test]
fn a_record_set_no_response_can_hold_is_rejected() {
    // 4,093 A records fit a 65,535-byte message (12 + 17 + 4 + 11 + 16 each); 4,094 do not.
    let zone = |count: u32| {
        let mut z = String::from("@ SOA ns host 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
        for i in 0..count {
            z.push_str(&format!("big A 10.0.{}.{}\n", i >> 8, i & 255));
        }
        // Repeats are one value.
        z.push_str("big A 10.0.0.0\nbig A 10.0.0.1\n");
        z
    };
    let text = "[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n";
    let config = parse_with_zone(text, &zone(4093)).unwrap();
    let big = config.zones[0].records.iter().find(|s| s.owner() == b"\x03big\x07example\x03com\x00").unwrap();
    assert_eq!(big.len(), 4093);
    let p = parse_with_zone(text, &zone(4094)).unwrap_err().problems.remove(0);
    assert!(p.reason.contains("big.example.com. A") && p.reason.contains("4094 records, takes 65548 bytes"), "{p}");
    // Multivalue answers hold up to `max_answers` members: many members are fine, a few large
    // ones are not.
    let members: String = (0..5000)
        .map(|i| {
            record(
                "mv",
                "A",
                "multivalue",
                Some(&format!("m{i}")),
                &format!("values = [\"10.1.{}.{}\"]\n", i >> 8, i & 255),
            )
        })
        .collect();
    assert!(parse(&format!("{BASE}{members}")).is_ok());
    let wide = |id: &str| {
        let values: Vec<String> = (0..300).map(|i| format!("\"{id}{i:03}{}\"", "t".repeat(150))).collect();
        record("mvt", "TXT", "multivalue", Some(id), &format!("values = [{}]\n", values.join(", ")))
    };
    assert!(parse(&format!("{BASE}{}", wide("a"))).is_ok(), "one member of 300 records of 167 bytes fits");
    let p = first_problem(&format!("{BASE}{}{}", wide("a"), wide("b")));
    assert!(p.reason.contains("mvt.example.com. TXT") && p.reason.contains("600 records"), "{p}");
    // A value listed twice in one `values` list, among many, is named.
    let mut values: Vec<String> = (0..3000).map(|i| format!("\"10.2.{}.{}\"", i >> 8, i & 255)).collect();
    values.push("\"10.2.3.4\"".into());
    let p = first_problem(&format!(
        "{BASE}{}",
        record("dup", "A", "simple", None, &format!("values = [{}]\n", values.join(", ")))
    ));
    assert_eq!(p.key.as_deref(), Some("values"));
    assert!(p.reason.contains("\"10.2.3.4\" is listed twice"), "{p}");
    let one_at_a_time = format!("[server]\nmax_answers = 1\n{BASE}{}{}", wide("a"), wide("b"));
    assert!(parse(&one_at_a_time).is_ok(), "with max_answers = 1, one member at a time fits");
}

#[test]
fn a_record_table_may_not_redefine_a_zone_file_record_set() {
    let zone = "@ SOA ns host 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.7\n";
    let file = "[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n";
    let v = "values = [\"192.0.2.9\"]\n";
    for (routing, set_id, says) in [
        ("simple", None, "is already defined in the zone file dir/z"),
        ("multivalue", Some("a"), "already has simple records (in the zone file dir/z)"),
    ] {
        let text = format!("{file}{}", record("www", "A", routing, set_id, v));
        let problems = parse_with_zone(&text, zone).unwrap_err().problems;
        assert!(
            problems.iter().any(|p| p.key.as_deref() == Some("routing") && p.reason.contains(says)),
            "{routing}: {problems:?}"
        );
    }
    // Another type at the same name is another record set.
    let text = format!("{file}{}", record("www", "TXT", "simple", None, "values = [\"hello\"]\n"));
    let config = parse_with_zone(&text, zone).unwrap();
    assert_eq!(config.zones[0].records.len(), 4);
    assert_eq!(config.zones[0].rrsets.len(), 1);
    assert_eq!(config.zones[0].rrset_count(), 5);
}

/// The secret of the TSIG tests: 32 bytes, 0 to 31, in base64.
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn tsig_key(name: &str, algorithm: &str, secret: &str) -> String {
    format!("[[tsig_key]]\nname = \"{name}\"\nalgorithm = \"{algorithm}\"\n{secret}\n")
}

#[test]
fn tsig_keys_are_read_from_the_table_or_a_file() {
    let files = |path: &Path| match path.to_str() {
        Some("dir/keys/transfer.key") => Ok(format!("{}\n{}\n", &SECRET[..20], &SECRET[20..])),
        Some("dir/keys/empty.key") => Ok("\n".to_string()),
        Some("dir/keys/bad.key") => Ok("not-base64!\n".to_string()),
        _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")),
    };
    let parse = |text: &str| Config::parse(&format!("{BASE}{text}"), Path::new("dir/c.toml"), &files);
    let text = [
        tsig_key("Update.Example.", "hmac-sha256", &format!("secret = \"{SECRET}\"")),
        tsig_key("transfer", "HMAC-SHA512", "secret_file = \"keys/transfer.key\""),
    ]
    .concat();
    let config = parse(&text).unwrap();
    let keys: Vec<(String, Algorithm, usize)> =
        config.tsig_keys.iter().map(|k| (k.name.to_string(), k.algorithm, k.secret.len())).collect();
    assert_eq!(
        keys,
        [("update.example.".into(), Algorithm::HmacSha256, 32), ("transfer.".into(), Algorithm::HmacSha512, 32)]
    );
    // Without padding too.
    let unpadded = tsig_key("k.", "hmac-sha256", &format!("secret = \"{}\"", SECRET.trim_end_matches('=')));
    assert_eq!(parse(&unpadded).unwrap().tsig_keys[0].secret.len(), 32);
    // The secret never shows, not in Debug output.
    let shown = format!("{config:?}");
    assert!(!shown.contains(SECRET) && !shown.contains("0, 1, 2, 3"), "{shown}");
    assert!(shown.contains("Secret(32 bytes)"), "{shown}");

    let problem = |text: &str| {
        let e = parse(text).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        let shown = e.to_string();
        assert!(!shown.contains(&SECRET[..10]), "the secret is quoted: {shown}");
        (e.problems[0].key.clone().unwrap_or_default(), shown)
    };
    let secret = format!("secret = \"{SECRET}\"");
    for (text, key, says) in [
        (tsig_key("k.", "hmac-md5", &secret), "algorithm", "\"hmac-md5\" is not one of hmac-sha256, hmac-sha512"),
        (tsig_key("k..", "hmac-sha256", &secret), "name", "empty label"),
        (
            [tsig_key("K.", "hmac-sha256", &secret), tsig_key("k", "hmac-sha512", &secret)].concat(),
            "name",
            "k. is defined more than once",
        ),
        (tsig_key("k.", "hmac-sha256", ""), "secret", "give `secret` (base64) or `secret_file`"),
        (
            tsig_key("k.", "hmac-sha256", &format!("{secret}\nsecret_file = \"keys/transfer.key\"")),
            "secret",
            "not both",
        ),
        (
            tsig_key("k.", "hmac-sha256", &format!("secret = \"{}*\"", &SECRET[..12])),
            "secret",
            "not base64: a character that is not base64 at offset 12",
        ),
        (tsig_key("k.", "hmac-sha256", "secret = \"\""), "secret", "it is empty"),
        (tsig_key("k.", "hmac-sha256", "secret = \"AAB\""), "secret", "bits left over"),
        (
            tsig_key("k.", "hmac-sha256", "secret_file = \"keys/none.key\""),
            "secret_file",
            "cannot read dir/keys/none.key: No such file",
        ),
        (
            tsig_key("k.", "hmac-sha256", "secret_file = \"keys/empty.key\""),
            "secret_file",
            "dir/keys/empty.key does not hold a base64 secret: it is empty",
        ),
        (
            tsig_key("k.", "hmac-sha256", "secret_file = \"keys/bad.key\""),
            "secret_file",
            "dir/keys/bad.key does not hold a base64 secret",
        ),
    ] {
        let (got, shown) = problem(&text);
        assert_eq!(got, key, "{shown}");
        assert!(shown.contains(says), "{shown}");
        assert!(shown.contains("tsig_key \""), "{shown}");
    }
}

#[test]
fn an_instance_keeps_its_own_server_and_cluster_and_reads_the_rest_from_a_pushed_file() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.toml");
    // Zones that are not there: the local part does not read them.
    let local_text = "[server]\nlisten = [\"127.0.0.1:5300\"]\nmax_answers = 2\n\n[cluster]\nendpoints = \
                      [\"http://127.0.0.1:2379\"]\ninstance = \"ns1\"\n\n[[zone]]\norigin = \"gone.test.\"\nfile = \
                      \"gone.zone\"\n";
    std::fs::write(&local, local_text).unwrap();
    let mine = Config::load_local(&local).unwrap();
    assert!(mine.zones.is_empty());
    assert_eq!(mine.server.listen, vec!["127.0.0.1:5300".parse().unwrap()]);
    assert_eq!(mine.cluster.as_ref().unwrap().instance, "ns1");
    assert!(Config::load(&local).is_err(), "the whole file names a zone file that is not there");

    // The local part still refuses what is wrong in it.
    std::fs::write(&local, "[server]\nbogus = 1\n").unwrap();
    let error = Config::load_local(&local).unwrap_err().to_string();
    assert!(error.contains("bogus"), "{error}");

    // The pushed text's own [server] and [cluster] are ignored (its password_file is not read).
    let pushed = format!(
        "[server]\nlisten = [\"192.0.2.1:53\"]\n\n[cluster]\nendpoints = [\"http://127.0.0.1:2379\"]\ninstance = \
         \"pusher\"\nusername = \"u\"\npassword_file = \"nowhere\"\n\n{BASE}"
    );
    let zone = "@ SOA ns host 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n".to_string();
    let read = move |p: &Path| {
        assert!(!p.ends_with("nowhere"), "the pushed [cluster] is not read");
        Ok(zone.clone())
    };
    let shared = Config::parse_shared(&pushed, Path::new("dir/c.toml"), &read, &mine).unwrap();
    assert_eq!(shared.server, mine.server);
    assert_eq!(shared.cluster, mine.cluster);
    assert_eq!(shared.zones.len(), 1);
    // Its zones are checked as ever.
    let broken = format!("{BASE}[[record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"not an address\"]\n");
    assert!(Config::parse_shared(&broken, Path::new("dir/c.toml"), &read, &mine).is_err());
}

#[test]
fn xdp_names_interfaces_each_once_within_the_kernel_length() {
    let config = parse(&format!("[server]\nxdp = [\"eth0\", \"veth-dns1\"]\n{BASE}")).unwrap();
    assert_eq!(config.server.xdp, ["eth0", "veth-dns1"]);
    assert!(parse(BASE).unwrap().server.xdp.is_empty(), "off by default");
    for (names, reason) in
        [("\"\"", "1 to 15 bytes"), ("\"abcdefghijklmnop\"", "1 to 15 bytes"), ("\"eth0\", \"eth0\"", "named twice")]
    {
        let problems = parse(&format!("[server]\nxdp = [{names}]\n{BASE}")).unwrap_err().problems;
        assert!(
            problems.iter().any(|p| p.key.as_deref() == Some("xdp") && p.reason.contains(reason)),
            "{names}: expected {reason} in {problems:?}"
        );
    }
    // 15 bytes, the kernel's most, is accepted.
    assert!(parse(&format!("[server]\nxdp = [\"abcdefghijklmno\"]\n{BASE}")).is_ok());
}
