//! The daemon control socket (DESIGN.md: a unix stream socket, mode 0600): one request
//! line per connection, one reply line. The daemon side hands each request to its main
//! loop and writes back what the main loop answered; the client side is what `tidewatch
//! reload` and `tidewatch block` run.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// A request from the control socket, with where the answer goes.
pub struct Request {
    pub line: String,
    pub reply: mpsc::Sender<String>,
}

/// The listening side; removes its socket file when dropped.
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` (replacing a stale socket file, creating the directory), mode 0600,
    /// and serves it on a thread; requests arrive on the returned receiver.
    pub fn start(path: &Path) -> Result<(ControlServer, mpsc::Receiver<Request>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating control socket directory {}", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!(
                    "control socket {} is in use: another daemon runs with it (stop it, or set sensor.control_socket)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale control socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("binding control socket {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tw-control".into())
            .spawn(move || serve(listener, tx, &stop2))?;
        Ok((
            ControlServer {
                path: path.to_path_buf(),
                stop,
                thread: Some(thread),
            },
            rx,
        ))
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, tx: mpsc::Sender<Request>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Err(e) = handle(conn, &tx) {
                    tracing::warn!(error = %e, "control connection");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn handle(conn: UnixStream, tx: &mpsc::Sender<Request>) -> Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).take(4096).read_line(&mut line)?;
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.send(Request {
        line: line.trim().to_string(),
        reply: reply_tx,
    })
    .map_err(|_| anyhow!("daemon main loop gone"))?;
    let answer = reply_rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| "error: no answer from the daemon".into());
    let mut w = &conn;
    w.write_all(answer.trim_end().as_bytes())?;
    w.write_all(b"\n")?;
    Ok(())
}

use std::io::Read as _;

/// Sends one request line to a daemon and returns its answer; an `error` answer is an
/// error.
pub fn request(path: &Path, line: &str) -> Result<String> {
    let mut conn = UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to control socket {} (is the daemon running? root needed for the default path)",
            path.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(130)))?;
    conn.write_all(line.as_bytes())?;
    conn.write_all(b"\n")?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let answer = answer.trim().to_string();
    if answer.is_empty() {
        bail!("the daemon closed the control connection without answering");
    }
    if let Some(e) = answer.strip_prefix("error: ") {
        bail!("{e}");
    }
    Ok(answer)
}

/// `90`, `90s`, `15m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow!("`{s}` is not a duration (e.g. 90, 90s, 15m, 2h, 1d)"))?;
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn request_reply_over_a_real_socket() {
        let dir = std::env::temp_dir().join(format!("tw-ctl-{}", std::process::id()));
        let path = dir.join("t.sock");
        let (server, rx) = ControlServer::start(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
                let answer = if r.line == "ping" {
                    "ok pong".to_string()
                } else {
                    format!("error: unknown request `{}`", r.line)
                };
                r.reply.send(answer).unwrap();
            }
        });
        assert_eq!(request(&path, "ping").unwrap(), "ok pong");
        let e = request(&path, "nope").unwrap_err();
        assert!(e.to_string().contains("unknown request `nope`"), "{e}");
        t.join().unwrap();
        assert!(
            ControlServer::start(&path).is_err(),
            "second daemon on the same socket"
        );
        drop(server);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
