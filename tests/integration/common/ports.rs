//! Loopback ports for peer servers (etcd, NSD, unbound) that cannot be told to bind port 0
//! and report it, and for addresses where nothing answers.

use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

/// How many times a peer server is started on fresh ports when a port chosen for it was taken.
pub const PORT_TRIES: usize = 5;

/// Whether a peer server's log says a port it was given was taken.
pub fn port_taken(log: &str) -> bool {
    log.to_ascii_lowercase().contains("address already in use")
}

/// A loopback port free for both UDP and TCP, for a peer server that cannot be told to bind
/// port 0 and report it, or for an address where nothing answers. It lies below the kernel's
/// ephemeral range, which every port-0 bind (each `eightfold` the tests start, each client
/// socket) draws from, so none of those can take it before its user binds it; and no two
/// calls in this process return the same port.
pub fn free_port() -> u16 {
    /// The lowest port drawn.
    const LOWEST: u16 = 10_000;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        // When the ephemeral range starts too low to leave room below it, a port the kernel
        // hands out instead: one a port-0 bind may then take first, which the retries of the
        // peer servers' starters cover.
        let port = if ephemeral_low >= LOWEST + 1000 {
            fastrand::u16(LOWEST..ephemeral_low)
        } else {
            UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
        };
        let free = UdpSocket::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free && given.insert(port) {
            return port;
        }
    }
}
