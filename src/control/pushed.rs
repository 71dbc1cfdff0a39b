//! The copy of the last pushed configuration an instance applied, kept beside its state
//! file, so that a restart while etcd is unreachable serves the last push rather than the
//! instance's own file. Written atomically: a temporary file, synced, renamed over the old
//! one, and the folder synced.

use std::io;
use std::path::{Path, PathBuf};

use crate::cluster::bundle::Bundle;
use crate::prober::statefile;

/// The kept copy's file name, in the state file's folder.
pub const FILE_NAME: &str = "pushed-config.json";

/// Where the copy is kept for this state file.
pub fn path(state_file: &Path) -> PathBuf {
    state_file.with_file_name(FILE_NAME)
}

/// Writes `bundle` to `path`, replacing the copy there only once the new one is on disk.
pub fn save(path: &Path, bundle: &Bundle) -> io::Result<()> {
    statefile::replace_synced(path, &bundle.encode())
}

/// The copy at `path`: `None` when there is none, else the bundle or why it cannot be read.
pub fn load(path: &Path) -> Option<Result<Bundle, String>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(Bundle::decode(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_copy_reads_back_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let at = path(&dir.path().join("state.toml"));
        assert_eq!(at, dir.path().join(FILE_NAME));
        assert!(load(&at).is_none());
        let mut bundle = Bundle { source: "c.toml".into(), config: "# nothing\n".into(), files: Default::default() };
        bundle.files.insert("z.zone".into(), "@ SOA ns h 1 2 3 4 5\n".into());
        save(&at, &bundle).unwrap();
        assert_eq!(load(&at).unwrap().unwrap(), bundle);
        std::fs::write(&at, "not json").unwrap();
        assert!(load(&at).unwrap().is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }
}
