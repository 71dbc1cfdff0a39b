//! Last-known measured states, kept in a small TOML file so a restart does not forget that an
//! endpoint is down. Written atomically (a temporary file, synced, then renamed over the old
//! one, and the folder synced); a write that fails removes its temporary file. Entries whose
//! check definition changed, or that are older than `state_max_age`, are ignored.
//!
//! A file that does not parse is never silently dropped: [`load`] moves it aside to
//! `<name>.damaged-<unix seconds>`, recovers every override it can still read entry by entry,
//! and says so in [`Stored::damage`], so the caller can warn with both paths. Overrides are
//! written before the measured states, so a file cut short loses the latter first.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::CheckConfig;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Unix seconds when written.
    written: u64,
    /// Operator overrides, kept whatever their age (first, so a cut-short file keeps them).
    #[serde(default)]
    forced: Vec<Forced>,
    #[serde(default)]
    check: Vec<Entry>,
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
    /// Set when the file was damaged: what was wrong and where the original went.
    pub damage: Option<Damage>,
}

/// A state file that could not be read as written: kept aside, overrides recovered.
#[derive(Debug, PartialEq, Eq)]
pub struct Damage {
    /// Why the file did not load.
    pub reason: String,
    /// Where the damaged original now is, or why it could not be moved there (it is then
    /// still in place, and the next save replaces it).
    pub kept_as: Result<PathBuf, String>,
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
/// and the overrides it holds. A damaged file is moved aside and its overrides recovered
/// (see [`Stored::damage`]); an error means the file could not be read at all (it is left
/// where it is).
pub fn load(path: &Path, checks: &[CheckConfig], max_age: Duration, now: SystemTime) -> Result<Stored, String> {
    let empty = || Stored { measured: vec![None; checks.len()], ..Stored::default() };
    if path.is_dir() {
        let damage = Damage { reason: "it is a directory".into(), kept_as: move_aside(path, now) };
        return Ok(Stored { damage: Some(damage), ..empty() });
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let parsed = std::str::from_utf8(&bytes)
        .map_err(|e| format!("not UTF-8: {e}"))
        .and_then(|text| toml::from_str::<File>(text).map_err(|e| e.message().to_string()));
    let file = match parsed {
        Ok(file) => file,
        Err(reason) => {
            let forced = recover_overrides(&String::from_utf8_lossy(&bytes));
            let damage = Damage { reason, kept_as: move_aside(path, now) };
            return Ok(Stored { forced, damage: Some(damage), ..empty() });
        }
    };
    let forced = file.forced.iter().map(|f| (f.id.clone(), f.healthy)).collect();
    let age = now.duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(Duration::from_secs(file.written));
    if age > max_age {
        return Ok(Stored { forced, ..empty() });
    }
    let stored: HashMap<(&str, &str), bool> =
        file.check.iter().map(|e| ((e.id.as_str(), e.fingerprint.as_str()), e.healthy)).collect();
    let measured = checks.iter().map(|c| stored.get(&(c.id.as_str(), fingerprint(c).as_str())).copied()).collect();
    Ok(Stored { measured, forced, damage: None })
}

/// Writes measured states (`None` entries are left out) and overrides, atomically: the
/// temporary file is synced before the rename and the folder after it, and removed when
/// anything before the rename fails.
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
        forced,
        check: checks
            .iter()
            .zip(measured)
            .filter_map(|(c, m)| m.map(|healthy| Entry { id: c.id.clone(), fingerprint: fingerprint(c), healthy }))
            .collect(),
    };
    let text = toml::to_string(&file).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let written = write_synced(&tmp, format!("# eightfold health states; rewritten by the server\n{text}").as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the folder is synced.
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)?.sync_all()
}

/// Creates (or truncates) `path`, writes `bytes` and syncs them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Renames a damaged state file to `<name>.damaged-<unix seconds>` (with `-2`, `-3`… when
/// that name is taken); the new path, or why it could not be moved.
fn move_aside(path: &Path, now: SystemTime) -> Result<PathBuf, String> {
    let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{seconds}"));
    let base = path.with_file_name(&name);
    let mut aside = base.clone();
    for n in 2..100 {
        if std::fs::symlink_metadata(&aside).is_err() {
            break;
        }
        let mut numbered = name.clone();
        numbered.push(format!("-{n}"));
        aside = path.with_file_name(numbered);
    }
    std::fs::rename(path, &aside).map(|()| aside).map_err(|e| e.to_string())
}

/// The overrides still readable in a damaged file, entry by entry: from a well-formed TOML
/// document of the wrong shape, else line by line from each `[[forced]]` table. A value cut
/// short at the very end of the file (`healthy = fals`) is read as the only word it can be.
fn recover_overrides(text: &str) -> HashMap<String, bool> {
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        let entries = table.get("forced").and_then(toml::Value::as_array).map(Vec::as_slice).unwrap_or_default();
        return entries
            .iter()
            .filter_map(|v| Some((v.get("id")?.as_str()?.to_string(), v.get("healthy")?.as_bool()?)))
            .collect();
    }
    let mut forced = HashMap::new();
    let mut in_forced = false;
    let (mut id, mut healthy) = (None, None);
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            if let (Some(id), Some(healthy)) = (id.take(), healthy.take()) {
                forced.insert(id, healthy);
            }
            (id, healthy) = (None, None);
            in_forced =
                line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")).is_some_and(|l| l.trim() == "forced");
            continue;
        }
        if !in_forced {
            continue;
        }
        let last = n + 1 == lines.len() && !text.ends_with('\n');
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("id", _)) => {
                id = toml::from_str::<toml::Table>(line)
                    .ok()
                    .and_then(|t| t.get("id").and_then(|v| v.as_str().map(str::to_string)))
            }
            Some(("healthy", "true")) => healthy = Some(true),
            Some(("healthy", "false")) => healthy = Some(false),
            Some(("healthy", cut)) if last && !cut.is_empty() && "false".starts_with(cut) => healthy = Some(false),
            Some(("healthy", cut)) if last && !cut.is_empty() && "true".starts_with(cut) => healthy = Some(true),
            _ => {}
        }
    }
    if let (Some(id), Some(healthy)) = (id, healthy) {
        forced.insert(id, healthy);
    }
    forced
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
        assert_eq!(loaded, Stored { measured: vec![Some(false), None], forced: forced.clone(), damage: None });
        let later = now + Duration::from_secs(120);
        let stale = load(&path, &[a.clone(), b.clone()], minute, later).unwrap();
        assert_eq!(
            stale,
            Stored { measured: vec![None, None], forced, damage: None },
            "overrides outlive the age bound"
        );
        let moved = CheckConfig { port: 82, ..a };
        assert_eq!(load(&path, &[moved, b.clone()], minute, now).unwrap().measured, vec![None, None]);
        assert_eq!(load(&dir.path().join("absent"), &[b], minute, now).unwrap().measured, vec![None]);
    }

    #[test]
    fn damaged_files_are_kept_aside_and_their_overrides_recovered() {
        let good = "written = 1\n[[check]]\nid = \"a\"\nfingerprint = \"0\"\nhealthy = true\n\n\
                    [[forced]]\nid = \"up\"\nhealthy = true\n\n[[forced]]\nid = \"web\"\nhealthy = false\n";
        let cut = &good[..good.len() - 2];
        let wrong_shape = "written = \"yesterday\"\nforced = [{ id = \"web\", healthy = false }, { id = 3 }]\n";
        let mut not_utf8 = good.as_bytes().to_vec();
        not_utf8.splice(0..0, *b"# \xff\xfe\n");
        let web_down = HashMap::from([("web".to_string(), false)]);
        let both = HashMap::from([("web".to_string(), false), ("up".to_string(), true)]);
        for (bytes, recovered) in [
            (cut.as_bytes(), &both),
            (wrong_shape.as_bytes(), &web_down),
            (&not_utf8[..], &both),
            (b"\x00garbage{{{", &HashMap::new()),
            (b"", &HashMap::new()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.toml");
            std::fs::write(&path, bytes).unwrap();
            let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let stored = load(&path, &[], Duration::from_secs(60), now).unwrap();
            assert_eq!(&stored.forced, recovered, "{:?}", String::from_utf8_lossy(bytes));
            let damage = stored.damage.expect("reported as damaged");
            let aside = dir.path().join("state.toml.damaged-1700000000");
            assert_eq!(damage.kept_as, Ok(aside.clone()));
            assert_eq!(std::fs::read(&aside).unwrap(), bytes, "the original is kept as it was");
            assert!(!path.exists());
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: a non-empty directory stands where the file goes.
        let path = dir.path().join("state.toml");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        assert!(save(&path, &[], &[], &HashMap::new(), SystemTime::now()).is_err());
        assert!(!dir.path().join("state.tmp").exists());
    }
}
