//! The control socket: a Unix socket file the control endpoint also listens on, so local
//! tools (`eightfold status`, `reload`, `override`) reach the server with no network address
//! and no token. Its file permissions are its access control, as with knotc's and gdnsdctl's
//! sockets: mode 0660, owned by the user and group the server runs as.
//!
//! It is bound at start, before privileges drop (its folder may be root's), and handed to
//! that user. A socket file left by a server that did not stop cleanly is replaced; one a live
//! process listens on, or a file that is not a socket, is not. The file is removed when the
//! server stops.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket file's mode: read and write for its owner and group, nothing for others.
pub const MODE: u32 = 0o660;

/// The socket file while the server runs; dropping it removes the file, if it is still the
/// one this server made.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file made, so a file another server put there since is left.
    identity: (u64, u64),
}

impl SocketFile {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let same = std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if same {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the control socket");
            }
        }
    }
}

/// Binds the control socket at `path` (mode [`MODE`]; handed to `owner`, a uid and gid, when
/// the server will switch to that user); returns the listener, not blocking, and the file.
pub fn bind(path: &Path, owner: Option<(libc::uid_t, libc::gid_t)>) -> io::Result<(UnixListener, SocketFile)> {
    clear_stale(path)?;
    // Made 0600 and then opened to the group, so no one else can connect in between. umask is
    // the process's, but nothing else creates files while the server starts, and the mask
    // only ever takes permissions away.
    // SAFETY: umask changes the process's file creation mask only; it cannot fail.
    let previous = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, putting the previous mask back.
    unsafe { libc::umask(previous) };
    let listener = bound?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile { path: path.to_path_buf(), identity: (meta.dev(), meta.ino()) };
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(MODE))?;
    listener.set_nonblocking(true)?;
    Ok((listener, file))
}

/// Removes a socket file nothing listens on; refuses to touch a live socket or another file.
fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in its place; remove it, or choose another path",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another process listens on it; is another eightfold running with this config?",
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)?;
            tracing::info!(path = %path.display(), "removed a control socket left by a server that did not stop cleanly");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_0660_replaces_a_stale_socket_and_removes_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a stale socket file, as a killed server leaves");
        let (listener, file) = bind(&path, None).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, MODE);
        UnixStream::connect(&path).expect("the new socket listens");
        let error = bind(&path, None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        drop(listener);
        drop(file);
        assert!(!path.exists(), "removed when the server stops");
    }

    #[test]
    fn leaves_other_files_and_other_servers_sockets_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        std::fs::write(&path, "not a socket").unwrap();
        let error = bind(&path, None).unwrap_err();
        assert!(error.to_string().contains("not a socket"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
        std::fs::remove_file(&path).unwrap();
        let (_listener, file) = bind(&path, None).unwrap();
        // Another server's socket in its place by the time this one stops.
        std::fs::remove_file(&path).unwrap();
        let _other = UnixListener::bind(&path).unwrap();
        drop(file);
        assert!(path.exists(), "another server's socket is not removed");
    }
}
