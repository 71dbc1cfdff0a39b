//! The fleet's keys in etcd and what their values hold. Every key lives under
//! `/eightfold/<cluster>/`:
//!
//! ```text
//!   members/<instance>        leased   Member: version, listen addresses, config in force
//!   obs/<check>/<instance>    leased   Report: the instance's thresholded state of the check
//!   config/current                     Current: the pushed configuration's hash and chunks
//!   config/blob/<hash>/<n>             the bundle's bytes, in chunks (etcd keeps values small)
//!   status/<instance>         leased   Applied: the last pushed configuration and its outcome
//! ```
//!
//! Values are JSON, so that `etcdctl get --prefix /eightfold/` shows what a fleet thinks.
//! Check ids are written as they are: the instance id (which holds no `/`) comes last, so
//! a `/` in a check id still splits right.

use serde::{Deserialize, Serialize};

/// The prefix every key of `cluster` starts with.
pub fn prefix(cluster: &str) -> String {
    format!("/eightfold/{cluster}/")
}

/// `members/<instance>`.
pub fn member(cluster: &str, instance: &str) -> String {
    format!("{}members/{instance}", prefix(cluster))
}

/// `obs/<check>/<instance>`.
pub fn report(cluster: &str, check: &str, instance: &str) -> String {
    format!("{}obs/{check}/{instance}", prefix(cluster))
}

/// `config/current`.
pub fn current(cluster: &str) -> String {
    format!("{}config/current", prefix(cluster))
}

/// `config/blob/<hash>/` (the chunks follow: `0000`, `0001`, …).
pub fn blob(cluster: &str, hash: &str) -> String {
    format!("{}config/blob/{hash}/", prefix(cluster))
}

/// `status/<instance>`.
pub fn status(cluster: &str, instance: &str) -> String {
    format!("{}status/{instance}", prefix(cluster))
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `members/<instance>`.
    Member(&'a str),
    /// `obs/<check>/<instance>`.
    Report {
        /// The check's id.
        check: &'a str,
        /// The instance reporting.
        instance: &'a str,
    },
    /// `config/current`.
    Current,
    /// `status/<instance>`.
    Status(&'a str),
    /// Anything else (blobs, keys of later versions).
    Other,
}

/// Sorts a key (its part after the prefix) into what it is.
pub fn parse(rest: &[u8]) -> Parsed<'_> {
    let Ok(rest) = std::str::from_utf8(rest) else { return Parsed::Other };
    if let Some(instance) = rest.strip_prefix("members/") {
        return Parsed::Member(instance);
    }
    if let Some(obs) = rest.strip_prefix("obs/") {
        return match obs.rsplit_once('/') {
            Some((check, instance)) => Parsed::Report { check, instance },
            None => Parsed::Other,
        };
    }
    if rest == "config/current" {
        return Parsed::Current;
    }
    if let Some(instance) = rest.strip_prefix("status/") {
        return Parsed::Status(instance);
    }
    Parsed::Other
}

/// `members/<instance>`: a live instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// eightfold's version.
    pub version: String,
    /// The addresses it answers on.
    pub listen: Vec<String>,
    /// The pushed configuration it serves (its hash), or `None` for its own file's.
    pub config: Option<String>,
    /// When it joined, Unix seconds.
    pub started: u64,
}

/// `obs/<check>/<instance>`: one observer's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The thresholded state: healthy or not.
    pub healthy: bool,
    /// The check's target as the observer probes it (a hash of its fingerprint): reports
    /// for another target (a fleet mid-push) are not counted.
    pub target: String,
    /// When it was measured, Unix seconds.
    pub at: u64,
}

/// `config/current`: the configuration the fleet serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// The bundle's SHA-256, hex.
    pub hash: String,
    /// How many chunks `config/blob/<hash>/` holds.
    pub chunks: u32,
    /// The bundle's size, bytes.
    pub size: u64,
    /// The hashes pushed before, newest first (their blobs are kept, older ones deleted).
    #[serde(default)]
    pub history: Vec<String>,
    /// When it was pushed, Unix seconds.
    pub pushed_at: u64,
    /// Who pushed it (`user@host`).
    #[serde(default)]
    pub pushed_by: String,
}

/// `status/<instance>`: what became of the last pushed configuration on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The pushed configuration's hash.
    pub hash: String,
    /// `None` when it serves it; else why it refused it (and serves its previous one).
    pub error: Option<String>,
    /// When, Unix seconds.
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_into_what_they_are() {
        let p = prefix("prod");
        let rest = |key: &str| key.strip_prefix(&p).unwrap().as_bytes().to_vec();
        assert_eq!(parse(&rest(&member("prod", "ns1"))), Parsed::Member("ns1"));
        assert_eq!(parse(&rest(&report("prod", "web/1", "ns1"))), Parsed::Report { check: "web/1", instance: "ns1" });
        assert_eq!(parse(&rest(&current("prod"))), Parsed::Current);
        assert_eq!(parse(&rest(&status("prod", "ns2"))), Parsed::Status("ns2"));
        assert_eq!(parse(&rest(&format!("{}0000", blob("prod", "ab")))), Parsed::Other);
        assert_eq!(parse(b"obs/nothing"), Parsed::Other);
    }
}
