//! The alert socket (FLoP's /tmp/alert): high-priority alerts with their store id, one EVE
//! JSON line each, for a local program that must act at once. Stream mode: we listen on
//! the path, created with the configured owner, group and mode (the file permissions are
//! the access control, as Trisul uses them). Datagram mode: we send to a path the reader
//! bound, as Suricata's unix_dgram output does. Nothing here waits for a reader: all
//! sockets are non-blocking, a slow stream reader has a bounded buffer, and whatever a
//! reader cannot take now (or no reader is there) is counted as missed.

use super::config::AlertSocketConfig;
use super::router::{Delivery, Output, OutputStats};
use std::ffi::CString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

struct Client {
    s: UnixStream,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    done: usize,
}

enum Mode {
    Stream {
        listener: UnixListener,
        clients: Vec<Client>,
        limit: usize,
    },
    Dgram {
        sock: UnixDatagram,
    },
}

pub(crate) struct AlertSocket {
    path: PathBuf,
    mode: Mode,
    line: Vec<u8>,
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A user's uid (`group` false) or a group's gid by name, or a number.
fn id_of(name: &str, group: bool) -> io::Result<u32> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = cstr(name)?;
    // SAFETY: getpwnam/getgrnam return NULL or a pointer to static storage, read at once
    // (the router starts its outputs on one thread).
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

impl AlertSocket {
    pub fn open(c: &AlertSocketConfig) -> io::Result<AlertSocket> {
        let mode = if c.mode == "stream" {
            if let Some(dir) = c.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            if UnixStream::connect(&c.path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is served by a running process", c.path.display()),
                ));
            }
            let _ = std::fs::remove_file(&c.path);
            // Bind under a umask that leaves no access, then open it up as configured,
            // so there is no moment when the socket is more open than asked.
            // SAFETY: umask only swaps the process mask.
            let old = unsafe { libc::umask(0o177) };
            let bound = UnixListener::bind(&c.path);
            unsafe { libc::umask(old) };
            let listener = bound?;
            let uid = c.owner.as_deref().map(|n| id_of(n, false)).transpose()?;
            let gid = c.group.as_deref().map(|n| id_of(n, true)).transpose()?;
            if uid.is_some() || gid.is_some() {
                chown(&c.path, uid, gid)?;
            }
            let m = u32::from_str_radix(&c.socket_mode, 8)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            std::fs::set_permissions(&c.path, std::fs::Permissions::from_mode(m))?;
            listener.set_nonblocking(true)?;
            Mode::Stream {
                listener,
                clients: Vec::new(),
                limit: c.client_buffer.max(4096),
            }
        } else {
            let sock = UnixDatagram::unbound()?;
            sock.set_nonblocking(true)?;
            Mode::Dgram { sock }
        };
        Ok(AlertSocket {
            path: c.path.clone(),
            mode,
            line: Vec::new(),
        })
    }

    fn accept(&mut self) {
        if let Mode::Stream {
            listener, clients, ..
        } = &mut self.mode
        {
            // Bounded: at most 64 new readers per call.
            for _ in 0..64 {
                match listener.accept() {
                    Ok((s, _)) => {
                        if s.set_nonblocking(true).is_ok() {
                            clients.push(Client {
                                s,
                                out: Vec::new(),
                                done: 0,
                            });
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// Writes what a client has waiting; false when the client is gone.
fn flush(c: &mut Client) -> bool {
    while c.done < c.out.len() {
        match c.s.write(&c.out[c.done..]) {
            Ok(0) => return false,
            Ok(n) => c.done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if c.done == c.out.len() {
        c.out.clear();
        c.done = 0;
    } else if c.done > c.out.len() / 2 {
        c.out.drain(..c.done);
        c.done = 0;
    }
    true
}

impl Output for AlertSocket {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        self.accept();
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        let path = &self.path;
        match &mut self.mode {
            Mode::Stream { clients, limit, .. } => {
                if clients.is_empty() {
                    stats.missed.fetch_add(recs.len() as u64, Relaxed);
                    return;
                }
                let (mut sent, mut missed) = (0u64, 0u64);
                for (id, r) in &recs {
                    self.line.clear();
                    self.line
                        .extend_from_slice(super::eve_line(Some(*id), r).as_bytes());
                    self.line.push(b'\n');
                    for c in clients.iter_mut() {
                        if c.out.len() - c.done + self.line.len() > *limit {
                            missed += 1;
                        } else {
                            c.out.extend_from_slice(&self.line);
                            sent += 1;
                        }
                    }
                }
                clients.retain_mut(flush);
                stats.sent.fetch_add(sent, Relaxed);
                stats.missed.fetch_add(missed, Relaxed);
            }
            Mode::Dgram { sock } => {
                let (mut sent, mut missed) = (0u64, 0u64);
                for (id, r) in &recs {
                    let line = super::eve_line(Some(*id), r);
                    match sock.send_to(line.as_bytes(), path) {
                        Ok(_) => sent += 1,
                        Err(_) => missed += 1,
                    }
                }
                stats.sent.fetch_add(sent, Relaxed);
                stats.missed.fetch_add(missed, Relaxed);
            }
        }
    }

    fn tick(&mut self, _stats: &OutputStats, _last: bool) {
        self.accept();
        if let Mode::Stream { clients, .. } = &mut self.mode {
            clients.retain_mut(flush);
        }
    }
}

impl Drop for AlertSocket {
    fn drop(&mut self) {
        if matches!(self.mode, Mode::Stream { .. }) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
