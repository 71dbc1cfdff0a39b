//! The control socket: the control endpoint also listens on a Unix socket (mode 0660, beside
//! the state file by default) that takes every command without a token, which the commands
//! prefer; a stale socket file is replaced at start, a live one is not, and the file goes
//! when the server stops. Without a token, only that socket and loopback callers may change
//! state: that rule is tested from another address inside a network namespace of its own
//! (`unshare --net`, as the wildcard test does).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const TOKEN: &str = "0123456789abcdef0123";

/// A config with a closed-port check `web`, probed rarely, and `extra` in `[server]`.
fn config(extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n{extra}{ZONE_BODY}\
         [[health_check]]\nid = \"web\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\nrequest_interval = 30\n"
    )
}

/// Runs `eightfold ARGS`; (exit code, stdout and stderr).
fn eightfold(args: &[&str], socket: Option<&Path>) -> (i32, String) {
    let mut command = Command::new(binary());
    command.args(args);
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    let out = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_control_socket_takes_commands_without_a_token_and_goes_with_the_server() {
    let extra = format!("control = \"127.0.0.1:0\"\ncontrol_token = \"{TOKEN}\"\nstate_file = \"state.toml\"\n");
    let mut s = TestServer::start_config(&config(&extra), &[("example.com.zone", ZONE)], &[]);
    let socket = s.path("eightfold.sock");
    let meta = std::fs::symlink_metadata(&socket).unwrap_or_else(|e| panic!("no socket beside the state file: {e}"));
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert!(s.output().contains(&format!("control socket on {}", socket.display())), "{}", s.output());

    let (code, out) = eightfold(&["status"], Some(&socket));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("web ") && out.contains("TCP"), "{out}");
    let (code, out) = eightfold(&["override", "web", "down"], Some(&socket));
    assert_eq!((code, out.trim()), (0, "web: down"));
    let (code, out) = eightfold(&["status", "web", "--json"], Some(&socket));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"forced\": \"down\""), "{out}");
    // Over TCP the token is still needed, and the refusal points at the socket.
    let (code, body) = s.http("POST", "/reload", "", "");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("control socket"), "{body}");
    // The commands prefer the socket the config names: this config's `control` is port 0,
    // which no command could reach over TCP.
    let config = s.path("eightfold.toml");
    let (code, out) = eightfold(&["reload", "--config", config.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("reloaded: 1 zones, 1 health checks"), "{out}");
    let (code, out) = eightfold(&["override", "web", "auto", "--config", config.to_str().unwrap()], None);
    assert_eq!((code, out.trim()), (0, "web: auto"));

    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0), "{}", s.output());
    assert!(!socket.exists(), "the socket is removed when the server stops");
    let (code, out) = eightfold(&["status"], Some(&socket));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("cannot reach the control socket") && out.contains("is the server running?"), "{out}");
}

#[test]
fn started_as_root_the_socket_belongs_to_the_user_the_server_becomes() {
    // SAFETY: geteuid reads the process's user id; no memory is involved.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the socket's owner after `user` is left out");
        return;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a user nobody")
    };
    let (uid, gid) = (id("-u"), id("-g"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(uid), Some(gid)).unwrap();
    let extra = format!("user = \"nobody\"\nstate_file = \"{}/state.toml\"\n", state.display());
    let mut s = TestServer::start_config(&config(&extra), &[("example.com.zone", ZONE)], &[]);
    let socket = state.join("eightfold.sock");
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (uid, gid, 0o660));
    let (code, out) = eightfold(&["override", "web", "down"], Some(&socket));
    assert_eq!(code, 0, "{out}");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0), "{}", s.output());
    assert!(!socket.exists(), "the server, no longer root, removed its socket: {}", s.output());
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_or_another_file_is_not() {
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("ctl.sock");
    // What a server killed with SIGKILL leaves: a socket file nothing listens on.
    drop(UnixListener::bind(&socket).unwrap());
    let extra = format!("control_socket = \"{}\"\n", socket.display());
    let s = TestServer::start_config(&config(&extra), &[("example.com.zone", ZONE)], &[]);
    assert!(s.output().contains("removed a control socket left by a server"), "{}", s.output());
    let (code, out) = eightfold(&["status"], Some(&socket));
    assert_eq!(code, 0, "the socket alone serves the control endpoint: {out}");

    // A second server with the same socket refuses to start and leaves the first one's.
    let second = sockets.path().join("second.toml");
    std::fs::write(&second, config(&extra)).unwrap();
    std::fs::write(sockets.path().join("example.com.zone"), ZONE).unwrap();
    let (code, log) = serve_refusal(&second, Duration::from_secs(20));
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("cannot make the control socket") && log.contains("another process listens on it"), "{log}");
    assert_eq!(eightfold(&["status"], Some(&socket)).0, 0, "the first server's socket still works");
    drop(s);

    let file = sockets.path().join("not-a-socket");
    std::fs::write(&file, "keep me").unwrap();
    std::fs::write(&second, config(&format!("control_socket = \"{}\"\n", file.display()))).unwrap();
    let (code, log) = serve_refusal(&second, Duration::from_secs(20));
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("not a socket"), "{log}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn an_empty_control_socket_turns_it_off_and_a_long_path_is_refused() {
    let s = TestServer::start_config(
        &config("state_file = \"state.toml\"\ncontrol_socket = \"\"\n"),
        &[("example.com.zone", ZONE)],
        &[],
    );
    assert!(s.path("state.toml").exists(), "{}", s.output());
    assert!(!s.path("eightfold.sock").exists(), "{}", s.output());
    drop(s);

    let long = format!("/tmp/{}/ctl.sock", "d".repeat(100));
    let (code, out) = check(&config(&format!("control_socket = \"{long}\"\n")), &[("example.com.zone", ZONE)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key `control_socket`") && out.contains("more than the 107"), "{out}");
    let deep = format!("{}/state.toml", "d".repeat(100));
    let (code, out) = check(&config(&format!("state_file = \"/tmp/{deep}\"\n")), &[("example.com.zone", ZONE)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the default, beside `state_file`"), "{out}");
}

/// Inside the namespace: loopback up, with 192.0.2.1 on it as the address of "another host";
/// serve on the dual-stack wildcard without a token, then change state from each kind of
/// caller.
const SCRIPT: &str = r#"
set -u
ip link set lo up || exit 90
ip addr add 192.0.2.1/32 dev lo || exit 90
"$BIN" serve --config "$CONFIG" --control '[::]:9153' >"$LOG" 2>&1 &
server=$!
for _ in $(seq 100); do
  "$BIN" status --socket "$SOCK" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "== reload from 192.0.2.1"; "$BIN" reload --control 192.0.2.1:9153 2>&1; echo "exit $?"
echo "== status from 192.0.2.1"; "$BIN" status --control 192.0.2.1:9153 >/dev/null 2>&1; echo "exit $?"
echo "== reload from 127.0.0.1"; "$BIN" reload --control 127.0.0.1:9153 2>&1; echo "exit $?"
echo "== reload from ::1"; "$BIN" reload --control '[::1]:9153' 2>&1; echo "exit $?"
echo "== reload over the socket"; "$BIN" reload --socket "$SOCK" 2>&1; echo "exit $?"
kill "$server"
wait "$server"
exit 0
"#;

#[test]
fn without_a_token_only_the_socket_and_loopback_change_state() {
    let missing: Vec<&str> = ["unshare", "ip"].into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "{missing:?} missing under CI (.ci/run installs them)");
        eprintln!("{missing:?} not installed; skipping the control peer test outside CI");
        return;
    }
    // SAFETY: geteuid reads the process's user id; no memory is involved.
    let root = unsafe { libc::geteuid() } == 0;
    let namespace = || {
        let mut unshare = Command::new("unshare");
        unshare.arg("--net");
        if !root {
            unshare.arg("--map-root-user");
        }
        unshare
    };
    if !namespace().arg("true").status().is_ok_and(|s| s.success()) {
        // Containers often forbid new namespaces; nothing here can stand in for one.
        eprintln!("this kernel or container refuses a new network namespace; skipping the control peer test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, socket, log) =
        (dir.path().join("eightfold.toml"), dir.path().join("ctl.sock"), dir.path().join("log"));
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\nworkers = 1\ncontrol_socket = \"{}\"\n{ZONE_BODY}",
        socket.display()
    );
    std::fs::write(&config, text).unwrap();
    std::fs::write(dir.path().join("example.com.zone"), ZONE).unwrap();
    let out = namespace()
        .args(["sh", "-c", SCRIPT])
        .env("BIN", binary())
        .env("CONFIG", &config)
        .env("SOCK", &socket)
        .env("LOG", &log)
        .output()
        .expect("unshare runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    let context = format!("{text}\n{}\nserver:\n{server_log}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{context}");
    let sections: Vec<&str> = text.split("== ").skip(1).collect();
    assert_eq!(sections.len(), 5, "{context}");
    let (refused, rest) = sections.split_first().unwrap();
    assert!(refused.contains("exit 1"), "{context}");
    assert!(refused.contains("(403)") && refused.contains("set `control_token`"), "{context}");
    assert!(rest[0].contains("exit 0"), "reading needs no token: {context}");
    for section in &rest[1..] {
        assert!(section.contains("reloaded: 1 zones") && section.contains("exit 0"), "{context}");
    }
}
