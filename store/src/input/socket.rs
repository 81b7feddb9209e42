//! The inputs fed by other processes: Suricata EVE over a unix socket (datagram or
//! stream) and the FIFO for host scripts. Each creates its path with the configured
//! owner, group and mode (the access control), removes it when it stops, and runs as
//! tokio tasks that end when the collector stops.

use super::lines::{Lines, Piece};
use super::sink::{drop_channel, Feeder, Sender, SeqClock, Sink};
use super::{InputConfig, InputError, InputStats, Kind, LineError, Reject};
use crate::perms;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// Where a line came from, for the log.
struct Loc<'a> {
    src: &'a str,
    n: u64,
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.src, self.n)
    }
}

/// Removes the socket or FIFO when its input stops.
struct Unlink(PathBuf);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) async fn start(
    c: &InputConfig,
    sink: Arc<Sink>,
    st: Arc<InputStats>,
) -> Result<(), InputError> {
    let io_err = |what: &'static str| {
        let (input, path) = (c.name.clone(), c.path.clone());
        move |source| InputError::Io {
            input,
            what,
            path,
            source,
        }
    };
    let stored = sink.max_seq(c).await?;
    let clock = Arc::new(SeqClock::after(stored));
    let drops = || drop_channel(c, sink.store(), &st).map_err(io_err("drop channel for"));
    let sender = Sender::start(sink.clone(), c.sensor().into(), st.clone(), drops()?);
    // Inputs that cannot be held back get the watermark and their own drop channel.
    let guard = if c.holdable() { None } else { Some(drops()?) };
    let feeder = Feeder::new(c, st.clone(), Some(clock.clone()), guard);
    let stop = sink.stop();
    let access =
        |p: &Path| perms::set_access(p, c.owner.as_deref(), c.group.as_deref(), c.file_mode());
    match c.kind {
        Kind::Fifo => {
            make_fifo(&c.path).map_err(io_err("creating the FIFO"))?;
            let unlink = Unlink(c.path.clone());
            access(&c.path).map_err(io_err("setting owner and mode of"))?;
            let rx = open_fifo(&c.path).map_err(io_err("opening the FIFO"))?;
            let (path, max) = (c.path.clone(), c.max_line);
            tokio::spawn(async move {
                let _unlink = unlink;
                fifo(rx, path, max, feeder, sender, stop).await
            });
        }
        Kind::EveSocket | Kind::EveFile if c.datagram != Some(false) => {
            perms::claim_socket_path(&c.path).map_err(io_err("claiming the socket"))?;
            let sock = perms::create_private(|| std::os::unix::net::UnixDatagram::bind(&c.path))
                .map_err(io_err("binding the socket"))?;
            let unlink = Unlink(c.path.clone());
            access(&c.path).map_err(io_err("setting owner and mode of"))?;
            sock.set_nonblocking(true)
                .map_err(io_err("setting up the socket"))?;
            let sock = tokio::net::UnixDatagram::from_std(sock)
                .map_err(io_err("setting up the socket"))?;
            let max = c.max_line;
            tokio::spawn(async move {
                let _unlink = unlink;
                dgram(sock, max, feeder, sender, stop).await
            });
        }
        Kind::EveSocket | Kind::EveFile => {
            perms::claim_socket_path(&c.path).map_err(io_err("claiming the socket"))?;
            let l = perms::create_private(|| std::os::unix::net::UnixListener::bind(&c.path))
                .map_err(io_err("binding the socket"))?;
            let unlink = Unlink(c.path.clone());
            access(&c.path).map_err(io_err("setting owner and mode of"))?;
            l.set_nonblocking(true)
                .map_err(io_err("setting up the socket"))?;
            let l =
                tokio::net::UnixListener::from_std(l).map_err(io_err("setting up the socket"))?;
            let (c, st) = (c.clone(), st.clone());
            tokio::spawn(async move {
                let _unlink = unlink;
                accept(l, c, st, clock, sender, stop).await
            });
        }
    }
    Ok(())
}

/// Suricata's `unix_dgram`: one EVE object per datagram. What is queued is read in one
/// go (up to a batch) and handed on as one batch.
async fn dgram(
    sock: tokio::net::UnixDatagram,
    max: usize,
    mut f: Feeder,
    sender: Sender,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; max + 1];
    let mut n = 0u64;
    loop {
        let mut got = tokio::select! {
            r = sock.recv(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        loop {
            match got {
                Ok(len) => {
                    n += 1;
                    let at = Loc { src: "datagram", n };
                    if len > max {
                        f.stats.received.fetch_add(1, Relaxed);
                        f.reject(
                            &LineError::new(
                                Reject::TooLong,
                                format!("datagram over max_line {max} bytes"),
                            ),
                            &at,
                        );
                    } else {
                        let d = &buf[..len];
                        let d = d.strip_suffix(b"\n").unwrap_or(d);
                        f.line(d, None, &at);
                    }
                }
                Err(e) => {
                    tracing::warn!(input = %f.name, error = %e, "receiving a datagram");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    break;
                }
            }
            if f.full() {
                break;
            }
            got = match sock.try_recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                r => r,
            };
        }
        sender.send(&mut f, false).await;
    }
    sender.send(&mut f, false).await;
}

/// Suricata's `unix_stream`: several writers, newline-delimited. Held back, not dropped:
/// a connection stops being read while the collector's buffer is full or the input's
/// alerts waiting for commit are past its high watermark.
async fn accept(
    l: tokio::net::UnixListener,
    c: InputConfig,
    st: Arc<InputStats>,
    clock: Arc<SeqClock>,
    sender: Sender,
    mut stop: watch::Receiver<bool>,
) {
    let mut id = 0u64;
    loop {
        let s = tokio::select! {
            r = l.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match s {
            Ok((mut s, _)) => {
                id += 1;
                let mut f = Feeder::new(&c, st.clone(), Some(clock.clone()), None);
                let (sender, mut stop, max) = (sender.clone(), stop.clone(), c.max_line);
                let hold = (c.high_water, c.low_water);
                st.connections.fetch_add(1, Relaxed);
                tokio::spawn(async move {
                    let src = format!("connection {id} line");
                    let mut lines = Lines::new(max);
                    let r = read_lines(
                        &mut s,
                        &mut lines,
                        &mut f,
                        &sender,
                        Some(hold),
                        &mut stop,
                        &src,
                    )
                    .await;
                    if let Err(e) = r {
                        tracing::warn!(input = %f.name, error = %e, "reading connection {id}");
                    }
                    f.stats.connections.fetch_sub(1, Relaxed);
                });
            }
            Err(e) => {
                tracing::warn!(input = %c.name, error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads lines until end of file (Ok(false)) or the collector stops (Ok(true)). A line
/// left unfinished at end of file is rejected as `partial`. `hold`: (high, low) to stop
/// reading while that many alerts wait for commit; None: the input cannot be held back.
async fn read_lines<R: AsyncRead + Unpin>(
    r: &mut R,
    lines: &mut Lines,
    f: &mut Feeder,
    sender: &Sender,
    hold: Option<(u64, u64)>,
    stop: &mut watch::Receiver<bool>,
    src: &str,
) -> io::Result<bool> {
    let mut n = 0u64;
    let stopped = loop {
        let got = tokio::select! {
            r = r.read(lines.spare()) => r?,
            _ = stop.wait_for(|s| *s) => break true,
        };
        if got == 0 {
            break false;
        }
        lines.filled(got);
        while let Some(p) = lines.next_piece() {
            n += 1;
            let at = Loc { src, n };
            match p {
                Piece::Line(l) => f.line(l, None, &at),
                Piece::TooLong(len) => {
                    f.stats.received.fetch_add(1, Relaxed);
                    f.reject(
                        &LineError::new(Reject::TooLong, format!("line of {len}+ bytes")),
                        &at,
                    );
                }
            }
            if f.full() {
                sender.send(f, hold.is_some()).await;
            }
        }
        sender.send(f, hold.is_some()).await;
        if let Some((high, low)) = hold {
            if f.stats.pending.load(Relaxed) >= high {
                // Bounded by the stop signal; commits bring `pending` down.
                while f.stats.pending.load(Relaxed) >= low && !*stop.borrow() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    if !stopped && lines.partial() > 0 {
        f.stats.received.fetch_add(1, Relaxed);
        let e = LineError::new(
            Reject::Partial,
            format!(
                "writer closed after {} bytes without a newline",
                lines.partial()
            ),
        );
        f.reject(&e, &Loc { src, n: n + 1 });
        lines.reset(0);
    }
    sender.send(f, hold.is_some()).await;
    Ok(stopped)
}

/// Creates the FIFO (replacing an old FIFO, refusing to replace anything else).
fn make_fifo(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a FIFO",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated path.
    let rc = perms::create_private(|| unsafe { libc::mkfifo(c.as_ptr(), 0o600) });
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the FIFO for reading only, so the last writer closing is an end of file (then
/// it is opened again; a fresh open waits for the next writer instead of spinning).
fn open_fifo(path: &Path) -> io::Result<tokio::net::unix::pipe::Receiver> {
    tokio::net::unix::pipe::OpenOptions::new().open_receiver(path)
}

/// The FIFO: lines until every writer has closed, then reopened (the new open before the
/// old is closed, so a writer never finds no reader).
async fn fifo(
    mut rx: tokio::net::unix::pipe::Receiver,
    path: PathBuf,
    max: usize,
    mut f: Feeder,
    sender: Sender,
    mut stop: watch::Receiver<bool>,
) {
    let mut lines = Lines::new(max);
    let mut opened = 0u64;
    loop {
        opened += 1;
        let src = format!("open {opened} line");
        match read_lines(&mut rx, &mut lines, &mut f, &sender, None, &mut stop, &src).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(input = %f.name, error = %e, "reading the FIFO");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        match open_fifo(&path) {
            Ok(new) => rx = new,
            Err(e) => {
                tracing::error!(input = %f.name, path = %path.display(), error = %e, "reopening the FIFO failed; input stopped");
                break;
            }
        }
    }
}
