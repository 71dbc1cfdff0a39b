//! The command line: `check` on every shipped example and on broken configs, `--help`, and
//! serving on IPv6.

use std::process::Command;
use std::time::Duration;

use crate::common::ports::free_port;
use crate::common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

#[test]
fn every_example_passes_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (code, out) = check_path(&path);
            assert_eq!(code, 0, "{}: {out}", path.display());
            assert!(out.contains("OK"), "{out}");
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

#[test]
fn unknown_key_in_each_table_is_rejected_by_the_binary() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.toml")).unwrap();
    let zone = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/example.com.zone")).unwrap();
    for table in ["[server]", "[[zone]]", "[[health_check]]", "[[record]]"] {
        let at = example.find(&format!("\n{table}\n")).unwrap_or_else(|| panic!("{table} in demo")) + table.len() + 2;
        let mut broken = example.clone();
        broken.insert_str(at, "surprise_key = 1\n");
        let line = broken[..at].lines().count() + 1;
        let (code, out) = check(&broken, &[("example.com.zone", &zone)]);
        assert_eq!(code, 1, "{table}: {out}");
        assert!(out.contains("surprise_key"), "{table}: {out}");
        assert!(out.contains(&format!("eightfold.toml:{line}")), "{table} should name line {line}: {out}");
    }
}

#[test]
fn bad_configs_fail_with_file_key_and_reason() {
    let zone_body = "[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n";
    let cases: Vec<(String, &str)> = vec![
        ("[server]\nlisten = [\"nowhere\"]\n".into(), "key `listen`"),
        (format!("{zone_body}[[record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"multivalue\"\nvalues = [\"192.0.2.1\"]\n"), "key `set_id`"),
        (format!("{zone_body}[[record]]\nname = \"www\"\ntype = \"CNAME\"\nrouting = \"multivalue\"\nset_id = \"a\"\nvalues = [\"x.example.com.\"]\n"), "key `routing`"),
        (format!("{zone_body}[[record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"weighted\"\nset_id = \"a\"\nweight = 1\nvalues = [\"192.0.2.1\"]\nhealth_check = \"ghost\"\n"), "no health_check with id \"ghost\""),
        ("[[zone]]\norigin = \"example.com.\"\nfile = \"absent.zone\"\n".into(), "cannot read zone file"),
        ("this is not toml".into(), "eightfold.toml:1"),
    ];
    for (config, expected) in cases {
        let (code, out) = check(&config, &[("example.com.zone", ZONE)]);
        assert_eq!(code, 1, "{config}\n{out}");
        assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
        assert!(out.contains("eightfold.toml") || out.contains(".zone"), "{out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    // A zone file error names the zone file and its line.
    let (code, out) =
        check(zone_body, &[("example.com.zone", "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 300.0.0.1\n")]);
    assert_eq!(code, 1);
    assert!(out.contains("example.com.zone:4"), "{out}");
    // serve refuses it the same way, before binding anything.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "[server]\nworkers = -1\n").unwrap();
    let out = Command::new(binary()).args(["serve", "--config"]).arg(dir.path().join("c.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("c.toml:2"));
}

#[test]
fn help_explains_serve_and_check() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("check"), "{text}");
    let out = Command::new(binary()).args(["check", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
}

#[test]
fn serves_ipv6_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; IPv6 serving not exercised");
        return;
    }
    let config = format!("[server]\nlisten = [\"[::1]:0\"]\nworkers = 1\n{ZONE_BODY}");
    let s = TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[]);
    assert!(s.addr.is_ipv6());
    assert_eq!(s.query("static.example.com.", RecordType::A).response_code(), ResponseCode::NoError);
    assert_eq!(s.tcp(&message("static.example.com.", RecordType::A, None)).answers().len(), 1);
}

#[test]
fn systemd_unit_serves_port_53_without_root_and_reloads_with_sighup() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/eightfold.service")).unwrap();
    for line in [
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/local/bin/eightfold serve --config /etc/eightfold/eightfold.toml",
        "ProtectSystem=strict",
        "StateDirectory=eightfold",
        "Type=notify",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "{line} missing from the unit");
    }
}

/// `eightfold status | head` and the like: the reader closes the pipe before the command
/// writes. The command ends quietly with exit 0, as other Unix tools do, not with a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let s = TestServer::start_demo();
    let control = s.control.expect("the demo has a control endpoint").to_string();
    for args in [&["status"][..], &["status", "--json"], &["reload"]] {
        // Several runs: whether the reader is gone by the first write is a race.
        for _ in 0..5 {
            let mut child = Command::new(binary())
                .args(args)
                .args(["--control", &control])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take());
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        }
    }
    let mut check = Command::new(binary())
        .args(["check", "--config", "examples/demo.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(check.stdout.take());
    let out = check.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A state file the server could not write would lose every override at the next restart, so
/// it is an error at `check` and at start, naming the key and the folder, not a warning.
#[test]
fn a_state_file_the_server_cannot_write_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.com.zone"), ZONE).unwrap();
    let write_config = |server: &str| {
        let config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n{server}{ZONE_BODY}");
        let path = dir.path().join("eightfold.toml");
        std::fs::write(&path, config).unwrap();
        path
    };
    // A folder that does not exist.
    let config = write_config("state_file = \"missing/state.toml\"\n");
    let (code, out) = check_path(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state_file") && out.contains("missing"), "{out}");
    let (code, log) = serve_refusal(&config, Duration::from_secs(30));
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("missing"), "{log}");
    // SAFETY: geteuid reads the process's user id; no memory is involved.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the `user` case is left out");
        return;
    }
    // Root with `user = "nobody"`: a folder only root may write.
    let folder = dir.path().join("root-only");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = write_config(&format!("user = \"nobody\"\nstate_file = \"{}/state.toml\"\n", folder.display()));
    let (code, out) = check_path(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state_file") && out.contains("nobody"), "{out}");
    let (code, log) = serve_refusal(&config, Duration::from_secs(30));
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("root-only"), "{log}");
}

/// `eightfold --version` says which build it is: the version, the commit (from git when the
/// source is a checkout) and the optional features.
#[test]
fn version_names_the_commit_and_the_features() {
    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected_start = format!("eightfold {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected_start), "{text}");
    let rest = &text[expected_start.len()..];
    let (commit, features) = rest.trim_end().trim_end_matches(')').split_once("; features: ").expect("both parts");
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match git {
        Some(head) => assert!(commit.starts_with(&head), "{commit} is not HEAD {head}"),
        None => assert_eq!(commit, "unknown"),
    }
    assert!(["none", "answer-timing"].contains(&features), "{features}");
}

/// A config file that stopped validating (an edit half done) still tells `status`, `override`
/// and `reload` where the running server is; `reload` prints every problem and says the old
/// configuration keeps serving. Exit codes: 0 done, 1 refused, 3 not reached.
#[test]
fn a_broken_config_file_does_not_blind_the_control_commands() {
    let port = free_port();
    let server = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:{port}\"\ncontrol_token = \"open-sesame-0123456789\"\n"
    );
    let zone = "[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n";
    let check = "[[health_check]]\nid = \"web\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\nrequest_interval = 30\n";
    let s = TestServer::start_config(&format!("{server}{zone}{check}"), &[("example.com.zone", ZONE)], &[]);
    let config = s.path("eightfold.toml");
    // Mid-edit: a misspelt key, a value of the wrong type and a missing zone file.
    let broken = format!(
        "{server}max_answer = 8\n{}{check}failure_threshold = \"3\"\n",
        zone.replace("example.com.zone", "gone.zone")
    );
    std::fs::write(&config, broken).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(binary()).args(args).arg("--config").arg(&config).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    };

    let (code, out) = run(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("web"), "{out}");
    // The token came from the broken file too: an override needs it.
    let (code, out) = run(&["override", "web", "up"]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = run(&["reload"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the previous configuration keeps serving"), "{out}");
    for problem in ["key `max_answer`", "key `failure_threshold`", "gone.zone"] {
        assert!(out.contains(problem), "{problem} missing from:\n{out}");
    }
    let m = s.query("static.example.com.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(addresses(&m), ["192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()]);

    // A control address the file cannot give is a config problem (1); a server that is not
    // there is not (3).
    std::fs::write(&config, "[server]\ncontrol = \"nowhere\"\n").unwrap();
    let (code, out) = run(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key `control`") && out.contains("nowhere"), "{out}");
    let closed = format!("127.0.0.1:{}", free_port());
    let out = Command::new(binary()).args(["status", "--control", &closed]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
