//! Last-known measured states, kept in a small TOML file so a restart does not forget that an
//! endpoint is down. Written atomically (temporary file, then rename); entries whose check
//! definition changed, or that are older than `state_max_age`, are ignored.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::CheckConfig;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Unix seconds when written.
    written: u64,
    #[serde(default)]
    check: Vec<Entry>,
    /// Operator overrides, kept whatever their age.
    #[serde(default)]
    forced: Vec<Forced>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Forced {
    id: String,
    healthy: bool,
}

/// What the file held that still applies.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Measured states by check index.
    pub measured: Vec<Option<bool>>,
    /// Overrides by check id.
    pub forced: HashMap<String, bool>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    fingerprint: String,
    healthy: bool,
}

/// Identifies what a check probes, so a changed definition does not inherit a state.
pub fn fingerprint(check: &CheckConfig) -> String {
    let text = format!(
        "{:?}|{:?}|{}|{}|{:?}|{:?}",
        check.kind, check.ip, check.port, check.resource_path, check.fqdn, check.search_string
    );
    // FNV-1a, 64 bits: stable across builds, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Measured states from the file, by check index (`None` where nothing usable was stored),
/// and the overrides it holds.
pub fn load(path: &Path, checks: &[CheckConfig], max_age: Duration, now: SystemTime) -> Result<Stored, String> {
    let empty = || Stored { measured: vec![None; checks.len()], forced: HashMap::new() };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let forced = file.forced.iter().map(|f| (f.id.clone(), f.healthy)).collect();
    let age = now.duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(Duration::from_secs(file.written));
    if age > max_age {
        return Ok(Stored { forced, ..empty() });
    }
    let stored: HashMap<(&str, &str), bool> =
        file.check.iter().map(|e| ((e.id.as_str(), e.fingerprint.as_str()), e.healthy)).collect();
    let measured = checks.iter().map(|c| stored.get(&(c.id.as_str(), fingerprint(c).as_str())).copied()).collect();
    Ok(Stored { measured, forced })
}

/// Writes measured states (`None` entries are left out) and overrides, atomically.
pub fn save(
    path: &Path,
    checks: &[CheckConfig],
    measured: &[Option<bool>],
    forced: &HashMap<String, bool>,
    now: SystemTime,
) -> io::Result<()> {
    let mut forced: Vec<Forced> = forced.iter().map(|(id, &healthy)| Forced { id: id.clone(), healthy }).collect();
    forced.sort_by(|a, b| a.id.cmp(&b.id));
    let file = File {
        written: now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        check: checks
            .iter()
            .zip(measured)
            .filter_map(|(c, m)| m.map(|healthy| Entry { id: c.id.clone(), fingerprint: fingerprint(c), healthy }))
            .collect(),
        forced,
    };
    let text = toml::to_string(&file).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("# eightfold health states; rewritten by the server\n{text}"))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;

    #[test]
    fn round_trip_age_and_changed_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        let a = CheckConfig { port: 81, ..CheckConfig::new("a", CheckKind::Tcp) };
        let b = CheckConfig::new("b", CheckKind::Http);
        let now = SystemTime::now();
        let forced = HashMap::from([("b".to_string(), false)]);
        save(&path, &[a.clone(), b.clone()], &[Some(false), None], &forced, now).unwrap();
        let minute = Duration::from_secs(60);
        let loaded = load(&path, &[a.clone(), b.clone()], minute, now).unwrap();
        assert_eq!(loaded, Stored { measured: vec![Some(false), None], forced: forced.clone() });
        let later = now + Duration::from_secs(120);
        let stale = load(&path, &[a.clone(), b.clone()], minute, later).unwrap();
        assert_eq!(stale, Stored { measured: vec![None, None], forced }, "overrides outlive the age bound");
        let moved = CheckConfig { port: 82, ..a };
        assert_eq!(load(&path, &[moved, b.clone()], minute, now).unwrap().measured, vec![None, None]);
        assert_eq!(load(&dir.path().join("absent"), &[b], minute, now).unwrap().measured, vec![None]);
    }
}
