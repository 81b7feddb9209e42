//! File permissions as access control for the unix sockets and FIFOs the collector
//! creates (Trisul's chmod model): owner and group by name or number, and an octal mode,
//! applied right after creation under a umask that leaves no access, so the path is never
//! more open than configured. Shared by the alert socket output and the inputs.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A user's uid (`group` false) or a group's gid by name, or a number.
pub(crate) fn id_of(name: &str, group: bool) -> io::Result<u32> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = cstr(name)?;
    // SAFETY: getpwnam/getgrnam return NULL or a pointer to static storage, read at once
    // (outputs and inputs are started on one thread).
    let id = unsafe {
        if group {
            let p = libc::getgrnam(c.as_ptr());
            (!p.is_null()).then(|| (*p).gr_gid)
        } else {
            let p = libc::getpwnam(c.as_ptr());
            (!p.is_null()).then(|| (*p).pw_uid)
        }
    };
    id.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no {} `{name}`", if group { "group" } else { "user" }),
        )
    })
}

fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated path; -1 (as u32::MAX) leaves an id unchanged.
    let rc = unsafe { libc::chown(c.as_ptr(), uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX)) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Parses an octal mode such as `"0660"`.
pub(crate) fn parse_mode(s: &str) -> io::Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{s}` is not an octal mode like 0660"),
            )
        })
}

/// Runs `f` (which creates a file system object) under umask 0177, so what it creates
/// starts with no access for group and others until [`set_access`] opens it as configured.
pub(crate) fn create_private<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps the process mask.
    let old = unsafe { libc::umask(0o177) };
    let r = f();
    // SAFETY: as above, restoring it.
    unsafe { libc::umask(old) };
    r
}

/// Sets owner and group (when given) and then the mode of `path`.
pub(crate) fn set_access(
    path: &Path,
    owner: Option<&str>,
    group: Option<&str>,
    mode: u32,
) -> io::Result<()> {
    let uid = owner.map(|n| id_of(n, false)).transpose()?;
    let gid = group.map(|n| id_of(n, true)).transpose()?;
    if uid.is_some() || gid.is_some() {
        chown(path, uid, gid)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Makes `path` free for a new socket: creates its directory, refuses when a running
/// process serves it (stream or datagram), and removes a stale socket file left behind.
pub(crate) fn claim_socket_path(path: &Path) -> io::Result<()> {
    use std::os::unix::net::{UnixDatagram, UnixStream};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let dgram_live = UnixDatagram::unbound().is_ok_and(|s| s.connect(path).is_ok());
    if UnixStream::connect(path).is_ok() || dgram_live {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is served by a running process", path.display()),
        ));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
