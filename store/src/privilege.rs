//! Unix accounts for running with less privilege: the daemons drop root after binding
//! (`--user`), and the exec output runs its programs as a configured user. One lookup
//! (name → uid, gid, supplementary groups) serves both, so they agree on what a user is.

use std::ffi::{CStr, CString};

/// A user resolved from the account database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: libc::uid_t,
    /// The primary group (the user's, or the one asked for).
    pub gid: libc::gid_t,
    /// Supplementary groups (the user's, from the group database), the primary included.
    pub groups: Vec<libc::gid_t>,
}

/// Why an account could not be resolved or taken on.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("no such user `{0}`")]
    NoUser(String),
    #[error("no such group `{0}`")]
    NoGroup(String),
    #[error("`{0}` is not a valid user or group name")]
    BadName(String),
    #[error("{call} to {user}: {source} (dropping to another user needs root)")]
    Call {
        call: &'static str,
        user: String,
        #[source]
        source: std::io::Error,
    },
    #[error("still privileged after switching to {0}")]
    StillPrivileged(String),
}

/// Reads a `getpw*_r`/`getgr*_r` style entry, growing the buffer on ERANGE (bounded).
fn with_buffer<T>(
    mut f: impl FnMut(&mut Vec<libc::c_char>) -> Result<Option<T>, i32>,
) -> Option<T> {
    let mut buf = vec![0 as libc::c_char; 1024];
    for _ in 0..8 {
        match f(&mut buf) {
            Ok(v) => return v,
            Err(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Err(_) => return None,
        }
    }
    None
}

fn cname(s: &str) -> Result<CString, PrivilegeError> {
    CString::new(s).map_err(|_| PrivilegeError::BadName(s.into()))
}

/// uid, primary gid of `name`.
fn passwd(name: &str) -> Result<(libc::uid_t, libc::gid_t), PrivilegeError> {
    let c = cname(name)?;
    with_buffer(|buf| {
        // SAFETY: getpwnam_r writes into `pw` and `buf` (of the length given) only.
        unsafe {
            let mut pw: libc::passwd = std::mem::zeroed();
            let mut out: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
            if rc != 0 {
                return Err(rc);
            }
            Ok((!out.is_null()).then_some((pw.pw_uid, pw.pw_gid)))
        }
    })
    .ok_or_else(|| PrivilegeError::NoUser(name.into()))
}

/// gid of group `name` (a number is taken as a gid).
fn group(name: &str) -> Result<libc::gid_t, PrivilegeError> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = cname(name)?;
    with_buffer(|buf| {
        // SAFETY: getgrnam_r writes into `gr` and `buf` (of the length given) only.
        unsafe {
            let mut gr: libc::group = std::mem::zeroed();
            let mut out: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut out);
            if rc != 0 {
                return Err(rc);
            }
            Ok((!out.is_null()).then_some(gr.gr_gid))
        }
    })
    .ok_or_else(|| PrivilegeError::NoGroup(name.into()))
}

/// The supplementary groups of `user` with primary group `gid` (bounded retries).
fn grouplist(user: &CStr, gid: libc::gid_t) -> Vec<libc::gid_t> {
    let mut n: libc::c_int = 32;
    for _ in 0..6 {
        let mut v = vec![0 as libc::gid_t; n as usize];
        // SAFETY: `v` holds `n` entries; getgrouplist writes at most that many and sets n.
        let rc = unsafe { libc::getgrouplist(user.as_ptr(), gid, v.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            v.truncate(n.max(0) as usize);
            return v;
        }
        n = n.max(1) * 2;
    }
    vec![gid]
}

impl Account {
    /// Resolves `user` (and `group`, if given, as its primary group instead of the user's).
    pub fn lookup(user: &str, group_name: Option<&str>) -> Result<Account, PrivilegeError> {
        let (uid, user_gid) = passwd(user)?;
        let gid = match group_name {
            Some(g) => group(g)?,
            None => user_gid,
        };
        let mut groups = grouplist(&cname(user)?, gid);
        if !groups.contains(&gid) {
            groups.push(gid);
        }
        Ok(Account {
            name: user.into(),
            uid,
            gid,
            groups,
        })
    }

    /// setgroups, setgid, setuid, in that order, for the calling process (glibc applies
    /// them to every thread), then checks root cannot be regained. Only async-signal-safe
    /// calls: usable between fork and exec.
    pub fn become_user(&self) -> Result<(), std::io::Error> {
        // SAFETY: plain credential syscalls on valid arguments.
        unsafe {
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                || libc::setgid(self.gid) != 0
                || libc::setuid(self.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if self.uid != 0 && (libc::geteuid() != self.uid || libc::setuid(0) == 0) {
                return Err(std::io::Error::from_raw_os_error(libc::EPERM));
            }
        }
        Ok(())
    }
}

/// Drops this process to `user` for good: used by the daemons once their sockets are
/// bound and files open (they keep those descriptors; closing needs no privilege).
pub fn drop_privileges(user: &str) -> Result<Account, PrivilegeError> {
    let a = Account::lookup(user, None)?;
    a.become_user().map_err(|source| PrivilegeError::Call {
        call: "setgroups/setgid/setuid",
        user: user.into(),
        source,
    })?;
    // SAFETY: plain credential queries.
    if a.uid != 0 && unsafe { libc::getuid() != a.uid || libc::geteuid() != a.uid } {
        return Err(PrivilegeError::StillPrivileged(user.into()));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_users_and_groups_and_names_unknown_ones() {
        let root = Account::lookup("root", None).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        let n = Account::lookup("nobody", Some("nogroup")).unwrap();
        assert_ne!(n.uid, 0);
        assert!(n.groups.contains(&n.gid));
        assert!(matches!(
            Account::lookup("no-such-user-tw", None),
            Err(PrivilegeError::NoUser(_))
        ));
        assert!(matches!(
            Account::lookup("root", Some("no-such-group-tw")),
            Err(PrivilegeError::NoGroup(_))
        ));
    }
}
