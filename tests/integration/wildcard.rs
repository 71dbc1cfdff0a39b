//! A server listening on the wildcard addresses (`0.0.0.0`, `::`) answers each query from the
//! address it was sent to. Tests listen on loopback only, so this one runs the server and
//! `dig` inside a network namespace of their own (`unshare --net`), where the wildcard reaches
//! nothing but that namespace's loopback. It needs `unshare`, `ip` and `dig`, which `.ci/run`
//! installs, and a kernel that allows the namespace; without them it says why and passes.

use std::process::Command;

use crate::common::{binary, have};

/// Inside the namespace: bring up loopback with two extra IPv6 addresses, serve the demo on
/// both wildcards, and ask addresses other than the one the kernel would pick as the source
/// of a reply. `dig` drops a reply from any other address than it asked, and says so.
const SCRIPT: &str = r#"
set -u
ip link set lo up || exit 90
ip -6 addr add fd00::1/128 dev lo nodad || exit 90
ip -6 addr add fd00::2/128 dev lo nodad || exit 90
"$BIN" serve --listen 0.0.0.0:5300 --listen '[::]:5300' --control 127.0.0.1:9153 >"$LOG" 2>&1 &
server=$!
ask() { dig "$@" -p 5300 +time=2 +tries=1 www.example.com A; }
for _ in $(seq 100); do
  ask @127.0.0.1 +short | grep -q . && break
  sleep 0.1
done
echo "== 127.0.0.2"; ask @127.0.0.2
echo "== 127.3.4.5"; ask @127.3.4.5
echo "== fd00::2 from fd00::1"; ask -b fd00::1 @fd00::2
echo "== tcp 127.0.0.2"; ask @127.0.0.2 +tcp
kill "$server"
wait "$server"
exit 0
"#;

#[test]
fn wildcard_listener_answers_from_the_address_asked() {
    let missing: Vec<&str> = ["unshare", "ip", "dig"].into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "{missing:?} missing under CI (.ci/run installs them)");
        eprintln!("{missing:?} not installed; skipping the wildcard test outside CI");
        return;
    }
    // SAFETY: geteuid reads the process's user id; no memory is involved.
    let root = unsafe { libc::geteuid() } == 0;
    let mut unshare = Command::new("unshare");
    unshare.arg("--net");
    if !root {
        unshare.arg("--map-root-user");
    }
    if !unshare.arg("true").status().is_ok_and(|s| s.success()) {
        // Containers often forbid new namespaces; nothing here can stand in for one.
        eprintln!("this kernel or container refuses a new network namespace; skipping the wildcard test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut command = Command::new("unshare");
    command.arg("--net");
    if !root {
        command.arg("--map-root-user");
    }
    let out = command.args(["sh", "-c", SCRIPT]).env("BIN", binary()).env("LOG", &log).output().expect("unshare runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{text}\n{}\nserver:\n{server_log}", String::from_utf8_lossy(&out.stderr));
    let sections: Vec<&str> = text.split("== ").skip(1).collect();
    assert_eq!(sections.len(), 4, "{text}");
    for section in sections {
        assert!(
            section.contains("status: NOERROR"),
            "no answer from the address asked:\n{section}\nserver:\n{server_log}"
        );
        assert!(section.contains("flags: qr aa rd;"), "{section}");
        assert!(!section.contains("unexpected source"), "{section}");
    }
}
