//! Last-known measured states, kept in a small TOML file so a restart does not forget that an
//! endpoint is down. Written atomically (a temporary file, synced, then renamed over the old
//! one, and the folder synced); a write that fails removes its temporary file.
//!
//! States belong to targets, not to check ids: each entry names the check that measured it,
//! the [`fingerprint`] of what it probed, the state, the streak, and when it was last
//! measured. A check starts from the entry for its own id and target, else from the newest
//! entry for its target; entries measured longer ago than `state_max_age` are ignored. The
//! [`Memory`] keeps the states of targets no check probes any more (a check removed, or moved
//! to another target), so moving a check back, or renaming it, does not lose what was measured.
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

/// Most states the [`Memory`] keeps for targets no check probes (the oldest go first).
pub const RETIRED_MAX: usize = 4096;

/// The file as read.
#[derive(Deserialize)]
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

/// The file as written, borrowing what it writes.
#[derive(Serialize)]
struct FileOut<'a> {
    written: u64,
    forced: Vec<Forced>,
    check: Vec<EntryOut<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Forced {
    id: String,
    healthy: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    fingerprint: String,
    healthy: bool,
    /// Consecutive results disagreeing with `healthy`.
    #[serde(default)]
    streak: u8,
    /// Unix seconds when last measured (the file's `written` when absent).
    at: Option<u64>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    id: &'a str,
    fingerprint: &'a str,
    healthy: bool,
    streak: u8,
    at: u64,
}

/// One target's last measured state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The check that measured it.
    pub id: String,
    /// What it probed ([`fingerprint`]).
    pub fingerprint: String,
    /// The measured state (before `inverted`).
    pub healthy: bool,
    /// Consecutive results disagreeing with it.
    pub streak: u8,
    /// Unix seconds when it was last measured.
    pub at: u64,
}

/// What the file held that still applies.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Measured states not older than the age bound, in file order.
    pub states: Vec<Remembered>,
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

/// Measured states by target: where a check that starts (at start-up, new at a reload, or
/// moved to another target) looks for what was last measured there.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    by_target: HashMap<String, Vec<Remembered>>,
    len: usize,
}

impl Memory {
    /// A memory holding `states` (a later entry for the same check and target wins).
    pub fn from_states(states: Vec<Remembered>) -> Self {
        let mut memory = Memory::default();
        for state in states {
            memory.insert(state);
        }
        memory
    }

    /// Keeps `state`, replacing what the same check measured at the same target.
    pub fn insert(&mut self, state: Remembered) {
        let entries = self.by_target.entry(state.fingerprint.clone()).or_default();
        match entries.iter_mut().find(|e| e.id == state.id) {
            Some(entry) => *entry = state,
            None => {
                entries.push(state);
                self.len += 1;
            }
        }
    }

    /// The state for check `id` at `fingerprint`: its own entry, else the newest any check
    /// measured at that target.
    pub fn recall(&self, id: &str, fingerprint: &str) -> Option<&Remembered> {
        let entries = self.by_target.get(fingerprint)?;
        entries.iter().find(|e| e.id == id).or_else(|| entries.iter().max_by_key(|e| e.at))
    }

    /// Forgets what check `id` measured at `fingerprint` (it is probing there again).
    pub fn remove(&mut self, id: &str, fingerprint: &str) {
        if let Some(entries) = self.by_target.get_mut(fingerprint) {
            let before = entries.len();
            entries.retain(|e| e.id != id);
            self.len -= before - entries.len();
            if entries.is_empty() {
                self.by_target.remove(fingerprint);
            }
        }
    }

    /// Drops states measured before `oldest` (Unix seconds), then the oldest beyond `most`.
    pub fn prune(&mut self, oldest: u64, most: usize) {
        for entries in self.by_target.values_mut() {
            entries.retain(|e| e.at >= oldest);
        }
        self.by_target.retain(|_, entries| !entries.is_empty());
        self.len = self.by_target.values().map(Vec::len).sum();
        if self.len > most {
            let mut by_age: Vec<(u64, String, String)> =
                self.states().map(|e| (e.at, e.fingerprint.clone(), e.id.clone())).collect();
            by_age.sort_unstable();
            for (_, fingerprint, id) in by_age.into_iter().take(self.len - most) {
                self.remove(&id, &fingerprint);
            }
        }
    }

    /// Every state held.
    pub fn states(&self) -> impl Iterator<Item = &Remembered> {
        self.by_target.values().flatten()
    }

    /// How many states it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Identifies what a check probes: its type, address, port, path, host name, search string
/// and TLS settings. A check whose fingerprint changed is probing something else, so its
/// measured state no longer applies; timing, thresholds, `inverted`, `disabled` and children
/// are not part of it.
pub fn fingerprint(check: &CheckConfig) -> String {
    let text = format!(
        "{:?}|{:?}|{}|{}|{:?}|{:?}|sni {}|verify {}|",
        check.kind,
        check.ip,
        check.port,
        check.resource_path,
        check.fqdn,
        check.search_string,
        check.enable_sni,
        check.tls_verify
    );
    // FNV-1a, 64 bits: stable across builds, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let ca = check.tls_ca.as_deref().unwrap_or_default();
    for &byte in text.as_bytes().iter().chain(ca) {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Unix seconds of `time`.
pub fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The measured states from the file that are not older than `max_age`, and the overrides
/// it holds. A damaged file is moved aside and its overrides recovered (see
/// [`Stored::damage`]); an error means the file could not be read at all (it is left where
/// it is).
pub fn load(path: &Path, max_age: Duration, now: SystemTime) -> Result<Stored, String> {
    if path.is_dir() {
        let damage = Damage { reason: "it is a directory".into(), kept_as: move_aside(path, now) };
        return Ok(Stored { damage: Some(damage), ..Stored::default() });
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stored::default()),
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
            return Ok(Stored { forced, damage: Some(damage), ..Stored::default() });
        }
    };
    let forced = file.forced.iter().map(|f| (f.id.clone(), f.healthy)).collect();
    let oldest = unix(now).saturating_sub(max_age.as_secs());
    let states = file
        .check
        .into_iter()
        .map(|e| Remembered {
            at: e.at.unwrap_or(file.written),
            id: e.id,
            fingerprint: e.fingerprint,
            healthy: e.healthy,
            streak: e.streak,
        })
        .filter(|e| e.at >= oldest)
        .collect();
    Ok(Stored { states, forced, damage: None })
}

/// Writes measured states and overrides, atomically: the temporary file is synced before
/// the rename and the folder after it, and removed when anything before the rename fails.
pub fn save<'a>(
    path: &Path,
    states: impl Iterator<Item = &'a Remembered>,
    forced: &HashMap<String, bool>,
    now: SystemTime,
) -> io::Result<()> {
    let mut forced: Vec<Forced> = forced.iter().map(|(id, &healthy)| Forced { id: id.clone(), healthy }).collect();
    forced.sort_by(|a, b| a.id.cmp(&b.id));
    let file = FileOut {
        written: unix(now),
        forced,
        check: states
            .map(|e| EntryOut {
                id: &e.id,
                fingerprint: &e.fingerprint,
                healthy: e.healthy,
                streak: e.streak,
                at: e.at,
            })
            .collect(),
    };
    let text = toml::to_string(&file).map_err(io::Error::other)?;
    replace_synced(path, format!("# eightfold health states; rewritten by the server\n{text}").as_bytes())
}

/// Replaces `path` with `bytes` atomically: a temporary file beside it (`.tmp` added to its
/// name), synced, renamed over it, and the folder synced, so a crash leaves the old file or
/// the new one, never a part of either.
pub fn replace_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let written = write_synced(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
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

    fn state(id: &str, check: &CheckConfig, healthy: bool, at: u64) -> Remembered {
        Remembered { id: id.into(), fingerprint: fingerprint(check), healthy, streak: 1, at }
    }

    #[test]
    fn round_trip_and_age_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        let a = CheckConfig { port: 81, ..CheckConfig::new("a", CheckKind::Tcp) };
        let b = CheckConfig::new("b", CheckKind::Http);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let fresh = state("a", &a, false, 1_700_000_000);
        let old = state("b", &b, false, 1_700_000_000 - 120);
        let forced = HashMap::from([("b".to_string(), false)]);
        save(&path, [&fresh, &old].into_iter(), &forced, now).unwrap();
        let minute = Duration::from_secs(60);
        let loaded = load(&path, minute, now).unwrap();
        assert_eq!(loaded, Stored { states: vec![fresh], forced: forced.clone(), damage: None }, "b is too old");
        let stale = load(&path, minute, now + Duration::from_secs(120)).unwrap();
        assert_eq!(stale, Stored { states: vec![], forced, damage: None }, "overrides outlive the age bound");
        assert_eq!(load(&dir.path().join("absent"), minute, now).unwrap(), Stored::default());
        // A file from before entries had a streak and a time: the file's time is theirs.
        std::fs::write(&path, "written = 1700000000\n[[check]]\nid = \"a\"\nfingerprint = \"f\"\nhealthy = false\n")
            .unwrap();
        let states = load(&path, minute, now).unwrap().states;
        assert_eq!(states[0].at, 1_700_000_000);
    }

    /// A fingerprint is what a fleet's reports name a target by (hashed once more): if this
    /// changes, instances of two versions stop counting each other's reports.
    #[test]
    fn a_fingerprint_is_pinned() {
        let tcp =
            CheckConfig { ip: Some("127.0.0.1".parse().unwrap()), port: 1, ..CheckConfig::new("c0", CheckKind::Tcp) };
        assert_eq!(fingerprint(&tcp), "6557cf94e07273eb");
        assert_eq!(crate::cluster::fleet::target_hash(&fingerprint(&tcp)), 0xe55a_5b02_1df6_a22d);
    }

    #[test]
    fn fingerprints_change_with_the_target_only() {
        let a = CheckConfig { port: 443, ..CheckConfig::new("a", CheckKind::Https) };
        let same = [
            CheckConfig { request_interval: Duration::from_secs(10), failure_threshold: 1, ..a.clone() },
            CheckConfig { inverted: true, disabled: true, ..a.clone() },
            CheckConfig { connect_timeout: Duration::from_secs(1), ..a.clone() },
            CheckConfig { id: "renamed".into(), ..a.clone() },
        ];
        for check in &same {
            assert_eq!(fingerprint(check), fingerprint(&a), "{check:?}");
        }
        let other = [
            CheckConfig { port: 8443, ..a.clone() },
            CheckConfig { kind: CheckKind::HttpsStrMatch, ..a.clone() },
            CheckConfig { resource_path: "/health".into(), ..a.clone() },
            CheckConfig { fqdn: Some("www.example.com".into()), ..a.clone() },
            CheckConfig { search_string: Some("ok".into()), ..a.clone() },
            CheckConfig { enable_sni: false, ..a.clone() },
            CheckConfig { tls_verify: true, ..a.clone() },
            CheckConfig { tls_ca: Some(b"PEM".to_vec()), ..a.clone() },
            CheckConfig { ip: Some([127, 0, 0, 1].into()), ..a.clone() },
        ];
        for check in &other {
            assert_ne!(fingerprint(check), fingerprint(&a), "{check:?}");
        }
    }

    #[test]
    fn memory_recalls_by_check_then_by_target_and_stays_bounded() {
        let a = CheckConfig { port: 81, ..CheckConfig::new("a", CheckKind::Tcp) };
        let b = CheckConfig { port: 82, ..CheckConfig::new("b", CheckKind::Tcp) };
        let mut memory = Memory::from_states(vec![state("a", &a, false, 10), state("x", &a, true, 20)]);
        assert_eq!(memory.len(), 2);
        assert!(!memory.recall("a", &fingerprint(&a)).unwrap().healthy, "its own entry first");
        assert!(memory.recall("new", &fingerprint(&a)).unwrap().healthy, "else the newest for the target");
        assert_eq!(memory.recall("a", &fingerprint(&b)), None);
        memory.insert(state("a", &a, true, 30));
        assert_eq!(memory.len(), 2, "replaced, not added");
        memory.remove("x", &fingerprint(&a));
        assert_eq!(memory.states().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["a"]);
        memory.insert(state("b", &b, false, 40));
        memory.prune(31, usize::MAX);
        assert_eq!(memory.states().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["b"], "older than the bound");
        for i in 0..10 {
            memory.insert(state(&format!("c{i}"), &b, false, 50 + i));
        }
        memory.prune(0, 4);
        let mut kept: Vec<u64> = memory.states().map(|e| e.at).collect();
        kept.sort();
        assert_eq!(kept, [56, 57, 58, 59], "the newest kept");
        assert_eq!(memory.len(), 4);
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
            let stored = load(&path, Duration::from_secs(60), now).unwrap();
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
        assert!(save(&path, std::iter::empty(), &HashMap::new(), SystemTime::now()).is_err());
        assert!(!dir.path().join("state.toml.tmp").exists());
    }
}
