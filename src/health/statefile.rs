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

/// Measured states from the file, by check index; `None` where nothing usable was stored.
pub fn load(
    path: &Path,
    checks: &[CheckConfig],
    max_age: Duration,
    now: SystemTime,
) -> Result<Vec<Option<bool>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![None; checks.len()]),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let age = now.duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(Duration::from_secs(file.written));
    if age > max_age {
        return Ok(vec![None; checks.len()]);
    }
    let stored: HashMap<(&str, &str), bool> =
        file.check.iter().map(|e| ((e.id.as_str(), e.fingerprint.as_str()), e.healthy)).collect();
    Ok(checks.iter().map(|c| stored.get(&(c.id.as_str(), fingerprint(c).as_str())).copied()).collect())
}

/// Writes measured states (`None` entries are left out) atomically.
pub fn save(path: &Path, checks: &[CheckConfig], measured: &[Option<bool>], now: SystemTime) -> io::Result<()> {
    let file = File {
        written: now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        check: checks
            .iter()
            .zip(measured)
            .filter_map(|(c, m)| m.map(|healthy| Entry { id: c.id.clone(), fingerprint: fingerprint(c), healthy }))
            .collect(),
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
        save(&path, &[a.clone(), b.clone()], &[Some(false), None], now).unwrap();
        assert_eq!(
            load(&path, &[a.clone(), b.clone()], Duration::from_secs(60), now).unwrap(),
            vec![Some(false), None]
        );
        let later = now + Duration::from_secs(120);
        assert_eq!(load(&path, &[a.clone(), b.clone()], Duration::from_secs(60), later).unwrap(), vec![None, None]);
        let moved = CheckConfig { port: 82, ..a };
        assert_eq!(load(&path, &[moved, b.clone()], Duration::from_secs(60), now).unwrap(), vec![None, None]);
        assert_eq!(load(&dir.path().join("absent"), &[b], Duration::from_secs(60), now).unwrap(), vec![None]);
    }
}
