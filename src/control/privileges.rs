//! Least privilege: after the sockets (port 53 included) are bound and before any thread
//! starts, a server started as root switches to `[server] user`. Without root it keeps the
//! identity it has (the systemd unit gives it CAP_NET_BIND_SERVICE instead).

use std::ffi::CString;

/// Switches to `user` (and `group`, default the user's primary group) if running as root.
pub fn drop_to(user: &str, group: Option<&str>) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        tracing::warn!(user, "not started as root; `user` is ignored");
        return Ok(());
    }
    let (uid, user_gid) = lookup_user(user)?;
    let gid = match group {
        Some(name) => lookup_group(name)?,
        None => user_gid,
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

/// Raises the soft limit on open files to the hard limit (many TCP clients, many checks).
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn lookup_user(name: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    let c_name = CString::new(name).map_err(|_| format!("bad user name {name:?}"))?;
    let mut entry: libc::passwd = unsafe_zeroed();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live local storage of the sizes given.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err(format!("no such user {name:?}"));
    }
    Ok((entry.pw_uid, entry.pw_gid))
}

fn lookup_group(name: &str) -> Result<libc::gid_t, String> {
    let c_name = CString::new(name).map_err(|_| format!("bad group name {name:?}"))?;
    let mut entry: libc::group = unsafe_zeroed();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to live local storage of the sizes given.
    let rc = unsafe { libc::getgrnam_r(c_name.as_ptr(), &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Err(format!("no such group {name:?}"));
    }
    Ok(entry.gr_gid)
}

fn unsafe_zeroed<T>() -> T {
    // SAFETY: only used for libc's passwd and group structs, plain C data for which all-zero
    // (null pointers, zero ids) is valid; they are filled by the *_r calls before use.
    unsafe { std::mem::zeroed() }
}
