//! Least privilege: after the sockets (port 53 included) are bound and before any thread
//! starts, a server started as root switches to `[server] user`. Without root it keeps the
//! identity it has (the systemd unit gives it CAP_NET_BIND_SERVICE instead).

use std::ffi::CString;
use std::mem::MaybeUninit;

/// Switches to `user` (and `group`, default the user's primary group) if running as root.
pub fn drop_to(user: &str, group: Option<&str>) -> Result<(), String> {
    let Some((uid, gid)) = target_ids(user, group)? else {
        tracing::warn!(user, "not started as root; `user` is ignored");
        return Ok(());
    };
    // SAFETY: plain system calls on integers; the empty group list pointer is never read.
    let result = unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            Err("setgroups")
        } else if libc::setgid(gid) != 0 {
            Err("setgid")
        } else if libc::setuid(uid) != 0 {
            Err("setuid")
        } else {
            Ok(())
        }
    };
    result.map_err(|call| format!("{call} for user {user:?}: {}", std::io::Error::last_os_error()))?;
    // SAFETY: as above.
    if unsafe { libc::setuid(0) } == 0 {
        return Err(format!("still able to regain root after switching to {user:?}"));
    }
    tracing::info!(user, uid, gid, "dropped root privileges");
    Ok(())
}

/// The uid and gid [`drop_to`] switches to: `None` when not running as root, where it keeps
/// the identity it has.
pub fn target_ids(user: &str, group: Option<&str>) -> Result<Option<(libc::uid_t, libc::gid_t)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let (uid, user_gid) = lookup_user(user)?;
    let gid = match group {
        Some(name) => lookup_group(name)?,
        None => user_gid,
    };
    Ok(Some((uid, gid)))
}

/// Raises the soft limit on open files to the hard limit (many TCP clients, many checks).
/// Returns the soft limit now in force; `None` when there is none or it cannot be read.
// rlim_t is u64 on 64-bit Linux, not on every target.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

/// How many file descriptors the process has open, from `/proc/self/fd`.
pub fn open_descriptors() -> Option<usize> {
    // The directory's own descriptor is listed too.
    std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count().saturating_sub(1))
}

/// The uid and primary gid of `name` (from the system's user database).
fn lookup_user(name: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    let c_name = CString::new(name).map_err(|_| format!("bad user name {name:?}"))?;
    let mut entry = MaybeUninit::<libc::passwd>::uninit();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live local storage of the sizes given; getpwnam_r
    // writes `entry` (and strings into `buf`) and only reads the name.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), entry.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err(format!("no such user {name:?}"));
    }
    // SAFETY: on success with a match, getpwnam_r filled `entry` and pointed `found` at it.
    let entry = unsafe { entry.assume_init_ref() };
    Ok((entry.pw_uid, entry.pw_gid))
}

/// The gid of group `name`.
fn lookup_group(name: &str) -> Result<libc::gid_t, String> {
    let c_name = CString::new(name).map_err(|_| format!("bad group name {name:?}"))?;
    let mut entry = MaybeUninit::<libc::group>::uninit();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to live local storage of the sizes given; getgrnam_r
    // writes `entry` (and strings into `buf`) and only reads the name.
    let rc = unsafe { libc::getgrnam_r(c_name.as_ptr(), entry.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err(format!("no such group {name:?}"));
    }
    // SAFETY: on success with a match, getgrnam_r filled `entry` and pointed `found` at it.
    let entry = unsafe { entry.assume_init_ref() };
    Ok(entry.gr_gid)
}

/// Whether the server can keep its state file: the folder exists, and the state file (or a
/// new file beside it, when there is none yet) can be written by the user the server runs as.
/// `for_user`: when the caller is root and the server will switch to `[server] user`, the
/// answer is worked out for that user from the folder's and file's owner and mode bits;
/// otherwise it is tried for real (a temporary file is created and removed).
pub fn state_file_writable(path: &std::path::Path, for_user: Option<&str>) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let meta =
        std::fs::metadata(&folder).map_err(|e| format!("its folder {} cannot be used: {e}", folder.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", folder.display()));
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if let (true, Some(user)) = (root, for_user) {
        let (uid, gid) = lookup_user(user)?;
        let may_write = |m: &std::fs::Metadata| {
            let mode = m.mode();
            if m.uid() == uid {
                mode & 0o200 != 0
            } else if m.gid() == gid {
                mode & 0o020 != 0
            } else {
                mode & 0o002 != 0
            }
        };
        let target = match std::fs::metadata(path) {
            Ok(file) if file.is_file() => may_write(&file) && may_write(&meta),
            _ => may_write(&meta),
        };
        return if target {
            Ok(())
        } else {
            Err(format!("user {user:?} cannot write to {} (owner, group and mode bits)", folder.display()))
        };
    }
    let probe = folder.join(format!(".eightfold-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("{} cannot be written: {e}", folder.display()))?;
    let _ = std::fs::remove_file(&probe);
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{} cannot be written: {e}", path.display()))?;
    }
    Ok(())
}
