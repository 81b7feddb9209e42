//! The alert socket (FLoP's /tmp/alert): high-priority alerts with their store id, one EVE
//! JSON line each, for a local program that must act at once. Stream mode: we listen on
//! the path, created with the configured owner, group and mode (the file permissions are
//! the access control, as Trisul uses them). Datagram mode: we send to a path the reader
//! bound, as Suricata's unix_dgram output does. Nothing here waits for a reader: all
//! sockets are non-blocking, a slow stream reader has a bounded buffer, and whatever a
//! reader cannot take now (or no reader is there) is counted as missed.

use super::config::AlertSocketConfig;
use super::router::{Delivery, Output, OutputStats};
use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
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

impl AlertSocket {
    pub fn open(c: &AlertSocketConfig) -> io::Result<AlertSocket> {
        let mode = if c.mode == "stream" {
            crate::perms::claim_socket_path(&c.path)?;
            // Bind with no access, then open it up as configured, so there is no moment
            // when the socket is more open than asked.
            let listener = crate::perms::create_private(|| UnixListener::bind(&c.path))?;
            crate::perms::set_access(
                &c.path,
                c.owner.as_deref(),
                c.group.as_deref(),
                crate::perms::parse_mode(&c.socket_mode)?,
            )?;
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
