//! systemd's readiness protocol (sd_notify): with `Type=notify`, systemd passes a datagram
//! socket in `NOTIFY_SOCKET`, and `systemctl start` returns once the service says `READY=1`.
//! eightfold says so once every socket is bound and the first view is published, says
//! `RELOADING=1` and `READY=1` around a reload, and `STOPPING=1` when it stops. Without
//! `NOTIFY_SOCKET` (not under systemd, or another `Type`) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where the service manager listens, from `NOTIFY_SOCKET`: a path, or an abstract socket
/// name after `@`.
fn address() -> Option<SocketAddr> {
    let value = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = value.as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name).ok(),
        None => SocketAddr::from_pathname(std::path::Path::new(&value)).ok(),
    }
}

/// Sends `state` (newline-separated `KEY=value` lines) to the service manager, if there is
/// one; a failure is logged and otherwise ignored, as readiness is advice.
pub fn send(state: &str) {
    let Some(address) = address() else { return };
    let sent = UnixDatagram::unbound().and_then(|socket| socket.send_to_addr(state.as_bytes(), &address));
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// `READY=1`, with the process id (systemd then knows the main process for certain).
pub fn ready(status: &str) {
    send(&format!("READY=1\nMAINPID={}\nSTATUS={status}", std::process::id()));
}

/// `RELOADING=1` with the monotonic clock's time, as systemd 253 and later ask for.
pub fn reloading() {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a pointer to a local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000;
    send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading"));
}

/// `STOPPING=1`.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}
