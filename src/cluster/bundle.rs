//! A pushed configuration: the config text and every file it reads (zone files and their
//! `$INCLUDE`s, TSIG `secret_file`s, HTTPS checks' `tls_ca_file`s), as one deterministic
//! blob stored in etcd by its SHA-256, in chunks, and switched in with a compare-and-swap of
//! `config/current`.
//!
//! ```text
//!   push:      config file --Bundle::collect--> Bundle --encode--> bytes --store--> etcd
//!                           (validated as `check` does)              config/blob/<hash>/0000, 0001, ...
//!                                                                    config/current (CAS)
//!   instance:  config/current --fetch--> Bundle --config_for(local)--> Config --reload
//! ```
//!
//! What travels is what the configuration shares between instances: zones, records, health
//! checks and TSIG keys. What stays with each instance is its own file's `[server]` and
//! `[cluster]` (listen addresses, instance id, state file, etcd credentials): the files only
//! those read (`password_file`) do not travel, so etcd never holds its own password.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::keys::{self, Current};
use super::store::{Compare, KeyRange, Op, Order, Revision, Store, StoreError, Target, Txn};
use crate::config::{Config, ConfigError, Problem};

/// The largest chunk of a bundle stored under one key: etcd's default request limit is
/// 1.5 MiB, and the JSON gateway carries values in base64 (a third larger).
pub const CHUNK_SIZE: usize = 512 * 1024;
/// The largest bundle pushed: every instance holds it, and etcd keeps the current one and
/// [`HISTORY`] before it (etcd's default space quota is 2 GiB, its history included).
pub const MAX_SIZE: usize = 64 << 20;
/// How many configurations pushed before the current one keep their blobs.
pub const HISTORY: usize = 5;
/// The encoding's version, written into every bundle.
const FORMAT: u32 = 1;

/// A configuration as pushed: its text and the files it reads, by the path the validator
/// asked for (joined to the config's folder).
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Where the config file was when pushed (paths in it are relative to its folder).
    pub source: PathBuf,
    /// The config file's text.
    pub config: String,
    /// Every file the configuration reads, by path.
    pub files: BTreeMap<PathBuf, String>,
}

impl fmt::Debug for Bundle {
    // Names and sizes only: files may hold TSIG secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: BTreeMap<_, _> = self.files.iter().map(|(path, text)| (path, text.len())).collect();
        f.debug_struct("Bundle")
            .field("source", &self.source)
            .field("config_bytes", &self.config.len())
            .field("files", &files)
            .finish()
    }
}

/// The bytes a bundle is stored as: JSON, keys in order, so the same files give the same hash.
#[derive(Serialize, Deserialize)]
struct Encoded {
    format: u32,
    source: String,
    config: String,
    files: BTreeMap<String, String>,
}

impl Bundle {
    /// Reads and validates a config file as `eightfold check` does, and collects it with every
    /// file its shared part reads; every problem when it does not validate.
    pub fn collect(config_path: &Path) -> Result<(Bundle, Config), ConfigError> {
        let problem = |file: &Path, reason: String| ConfigError {
            problems: vec![Problem { file: file.to_path_buf(), line: None, context: String::new(), key: None, reason }],
        };
        let text = std::fs::read_to_string(config_path)
            .map_err(|e| problem(config_path, format!("cannot read config: {e}")))?;
        let config = Config::parse(&text, config_path, &|p| std::fs::read_to_string(p))?;
        // Again, recording what the part that travels reads: exactly what an instance asks for.
        let files = Mutex::new(BTreeMap::new());
        let record = |path: &Path| {
            let text = std::fs::read_to_string(path)?;
            files.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), text.clone());
            Ok(text)
        };
        Config::parse_shared(&text, config_path, &record, &config)?;
        let files = files.into_inner().unwrap_or_else(|e| e.into_inner());
        for path in std::iter::once(config_path).chain(files.keys().map(PathBuf::as_path)) {
            if path.to_str().is_none() {
                return Err(problem(path, "a file pushed to a fleet needs a UTF-8 path: rename it".to_string()));
            }
        }
        let bundle = Bundle { source: config_path.to_path_buf(), config: text, files };
        let size = bundle.encode().len();
        if size > MAX_SIZE {
            let reason = format!(
                "the configuration and its files take {size} bytes, more than the {} MiB a push may carry",
                MAX_SIZE >> 20
            );
            return Err(problem(config_path, reason));
        }
        Ok((bundle, config))
    }

    /// The bytes stored: the same bundle always gives the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let text = |path: &Path| path.to_string_lossy().into_owned();
        let encoded = Encoded {
            format: FORMAT,
            source: text(&self.source),
            config: self.config.clone(),
            files: self.files.iter().map(|(path, body)| (text(path), body.clone())).collect(),
        };
        serde_json::to_vec(&encoded).expect("strings and maps always encode")
    }

    /// A bundle from its stored bytes, or what is wrong with them.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, String> {
        let encoded: Encoded =
            serde_json::from_slice(bytes).map_err(|e| format!("a pushed configuration not understood: {e}"))?;
        if encoded.format != FORMAT {
            return Err(format!(
                "a pushed configuration in format {} (this version of eightfold reads format {FORMAT}; upgrade it)",
                encoded.format
            ));
        }
        Ok(Bundle {
            source: PathBuf::from(encoded.source),
            config: encoded.config,
            files: encoded.files.into_iter().map(|(path, body)| (PathBuf::from(path), body)).collect(),
        })
    }

    /// The SHA-256 of [`Bundle::encode`], lowercase hex: the name it is stored and served by.
    pub fn hash(&self) -> String {
        hex(ring::digest::digest(&ring::digest::SHA256, &self.encode()).as_ref())
    }

    /// The configuration as pushed, validated whole with the bundle's files only.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::parse(&self.config, &self.source, &|path| self.read(path))
    }

    /// The configuration as an instance serves it: the bundle's zones, records, health checks
    /// and TSIG keys with `local`'s `[server]` and `[cluster]`.
    pub fn config_for(&self, local: &Config) -> Result<Config, ConfigError> {
        Config::parse_shared(&self.config, &self.source, &|path| self.read(path), local)
    }

    /// A file of the bundle, or an error saying it was not pushed.
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.files.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not in the pushed configuration (only files the zones, health checks and TSIG keys read are pushed)",
            )
        })
    }
}

/// Why a push did not switch the fleet's configuration.
#[derive(Debug)]
pub enum PushError {
    /// etcd could not be reached or refused a request.
    Store(StoreError),
    /// Another push switched `config/current` between this one's read and its switch.
    Conflict,
    /// `config/current` holds something that is not a pushed configuration's description.
    Malformed(String),
    /// The bundle is larger than [`MAX_SIZE`].
    TooLarge(usize),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Store(e) => write!(f, "{e}"),
            PushError::Conflict => write!(f, "config/current changed while pushing; run push again"),
            PushError::Malformed(e) => write!(
                f,
                "config/current holds something not understood ({e}); if nothing but eightfold writes it, delete it \
                 with `etcdctl del` and push again"
            ),
            PushError::TooLarge(size) => {
                write!(f, "the configuration takes {size} bytes, more than the {} MiB a push may carry", MAX_SIZE >> 20)
            }
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for PushError {
    fn from(e: StoreError) -> PushError {
        PushError::Store(e)
    }
}

/// What [`store`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `config/current` now.
    pub current: Current,
    /// Whether the bundle was current already, so nothing was written.
    pub unchanged: bool,
    /// The store's revision after the switch (or when it was read, when unchanged): a watch
    /// from the next one sees what the instances make of it.
    pub revision: Revision,
}

/// `config/current` as read: its value, when there is one, and the revision of its last change
/// (0 when absent).
pub fn read_current<S: Store>(store: &S, cluster: &str) -> Result<(Option<Current>, Revision), PushError> {
    let range = store.range(&KeyRange::key(keys::current(cluster)), None, None)?;
    match range.kvs.first() {
        None => Ok((None, 0)),
        Some(kv) => {
            let current: Current =
                serde_json::from_slice(&kv.value).map_err(|e| PushError::Malformed(e.to_string()))?;
            Ok((Some(current), kv.mod_revision))
        }
    }
}

/// Stores `bundle` under its hash and makes it the fleet's `config/current`, if that was
/// last changed at `expected` (`None`: whatever it was when read here). Chunks already stored
/// are left as they are; the blobs of configurations that fall out of the history are deleted
/// with the switch. Pushing the current configuration again writes nothing.
pub fn store<S: Store>(
    store: &S,
    cluster: &str,
    bundle: &Bundle,
    expected: Option<Revision>,
    pushed_by: &str,
) -> Result<Stored, PushError> {
    let bytes = bundle.encode();
    if bytes.len() > MAX_SIZE {
        return Err(PushError::TooLarge(bytes.len()));
    }
    let hash = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    let (old, read_at) = read_current(store, cluster)?;
    if expected.is_some_and(|expected| expected != read_at) {
        return Err(PushError::Conflict);
    }
    if let Some(old) = old.as_ref().filter(|old| old.hash == hash) {
        let revision = store.range(&KeyRange::key(keys::current(cluster)), None, Some(1))?.revision;
        return Ok(Stored { current: old.clone(), unchanged: true, revision });
    }
    let prefix = keys::blob(cluster, &hash);
    let chunks: Vec<&[u8]> = bytes.chunks(CHUNK_SIZE).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        let key = format!("{prefix}{n:04}");
        let absent = Compare { key: key.clone().into_bytes(), order: Order::Equal, target: Target::CreateRevision(0) };
        let put = Op::Put { key: key.into_bytes(), value: chunk.to_vec(), lease: None };
        store.txn(&Txn { compares: vec![absent], success: vec![put], failure: Vec::new() })?;
    }
    let mut history: Vec<String> = Vec::new();
    if let Some(old) = &old {
        for earlier in std::iter::once(&old.hash).chain(&old.history) {
            if *earlier != hash && !history.contains(earlier) {
                history.push(earlier.clone());
            }
        }
    }
    let dropped: Vec<String> = history.split_off(history.len().min(HISTORY));
    let current = Current {
        hash: hash.clone(),
        chunks: chunks.len() as u32,
        size: bytes.len() as u64,
        history,
        pushed_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(),
        pushed_by: pushed_by.to_string(),
    };
    let value = serde_json::to_vec(&current).expect("a Current always encodes");
    let mut success = vec![Op::Put { key: keys::current(cluster).into_bytes(), value, lease: None }];
    success.extend(dropped.iter().map(|gone| Op::Delete(KeyRange::prefix(keys::blob(cluster, gone)))));
    let txn =
        Txn { compares: vec![Compare::mod_revision(keys::current(cluster), read_at)], success, failure: Vec::new() };
    let outcome = store.txn(&txn)?;
    if !outcome.succeeded {
        return Err(PushError::Conflict);
    }
    Ok(Stored { current, unchanged: false, revision: outcome.revision })
}

/// Reads the bundle `current` names from its chunks, checking their count, their size and
/// the hash; an error names what is wrong.
pub fn fetch<S: Store>(store: &S, cluster: &str, current: &Current) -> Result<Bundle, String> {
    let prefix = keys::blob(cluster, &current.hash);
    let range = store.range_all(&KeyRange::prefix(prefix.clone()), None, 16).map_err(|e| e.to_string())?;
    if range.kvs.len() != current.chunks as usize {
        return Err(format!(
            "{prefix} holds {} chunks, config/current says {} (its blob was deleted or is damaged; push again)",
            range.kvs.len(),
            current.chunks
        ));
    }
    let mut bytes = Vec::with_capacity(current.size.min(MAX_SIZE as u64) as usize);
    for (n, kv) in range.kvs.iter().enumerate() {
        let expected = format!("{prefix}{n:04}");
        if kv.key != expected.as_bytes() {
            return Err(format!("{expected} is missing (found {}); push again", String::from_utf8_lossy(&kv.key)));
        }
        bytes.extend_from_slice(&kv.value);
    }
    if bytes.len() as u64 != current.size {
        return Err(format!(
            "{prefix} holds {} bytes, config/current says {} (damaged; push again)",
            bytes.len(),
            current.size
        ));
    }
    let hash = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    if hash != current.hash {
        return Err(format!("{prefix} holds bytes whose SHA-256 is {hash}, not its name (damaged; push again)"));
    }
    Bundle::decode(&bytes)
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        let mut files = BTreeMap::new();
        files
            .insert(PathBuf::from("dir/example.com.zone"), "@ SOA ns host 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n".into());
        let config = "[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n".to_string();
        Bundle { source: PathBuf::from("dir/c.toml"), config, files }
    }

    #[test]
    fn a_bundle_encodes_the_same_way_each_time_and_decodes_back() {
        let b = bundle();
        assert_eq!(b.encode(), b.clone().encode());
        assert_eq!(Bundle::decode(&b.encode()).unwrap(), b);
        assert_eq!(b.hash().len(), 64);
        let mut other = b.clone();
        other.files.values_mut().for_each(|text| text.push_str("www A 192.0.2.2\n"));
        assert_ne!(other.hash(), b.hash());
        assert!(Bundle::decode(b"{}").unwrap_err().contains("not understood"));
        let later = br#"{"format":2,"source":"","config":"","files":{}}"#;
        assert!(Bundle::decode(later).unwrap_err().contains("upgrade"));
    }

    #[test]
    fn a_bundle_validates_with_its_own_files_only() {
        let b = bundle();
        assert_eq!(b.config().unwrap().zones.len(), 1);
        let mut missing = b.clone();
        missing.files.clear();
        let error = missing.config().unwrap_err().to_string();
        assert!(error.contains("dir/example.com.zone") && error.contains("not in the pushed configuration"), "{error}");
    }

    #[test]
    fn debug_shows_sizes_not_contents() {
        let mut b = bundle();
        b.files.insert(PathBuf::from("dir/key"), "c2VjcmV0".into());
        assert!(!format!("{b:?}").contains("c2VjcmV0"));
    }
}
