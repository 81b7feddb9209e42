//! Tails a Suricata `eve.json`: reads whole lines, follows rotation (the path names a new
//! inode: the old file is read to its end first) and truncation (copytruncate), and saves
//! its position ([`super::position`]) only after the alerts up to it are committed. A
//! partial last line waits for its newline. Each alert's seq is the logical offset of its
//! line's end, so lines read again after a crash are the same alerts and stored once.

use super::lines::{Lines, Piece};
use super::position::Position;
use super::sink::{Feeder, Sink};
use super::{InputConfig, InputError, InputStats, LineError, Reject};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

struct At(u64);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line ending at offset {}", self.0)
    }
}

struct Tail {
    path: PathBuf,
    pos_path: PathBuf,
    poll: Duration,
    /// The committed position (what is on disk).
    pos: Position,
    /// The highest seq stored at start: a file whose length we do not know (rotated away
    /// or truncated while we were stopped) is followed by numbers above it, so a line
    /// committed before a crash and not in the saved position never shadows a new one.
    floor: u64,
    file: Option<File>,
    /// Bytes of the open file read so far (its length as far as we know).
    read_to: u64,
    /// When the path was first seen naming another file while the open one still had
    /// nothing new: the old file is read until it has been quiet for a grace time, as
    /// Suricata writes to it until it reopens.
    rotated_at: Option<std::time::Instant>,
    lines: Lines,
    feeder: Feeder,
    sink: Arc<Sink>,
}

fn id(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// The file in `dir` with this device and inode (where a rotation moved the file).
fn find_inode(dir: &Path, want: (u64, u64)) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_file() && id(&m) == want))
        .map(|e| e.path())
}

pub(crate) async fn start(
    c: &InputConfig,
    sink: Arc<Sink>,
    st: Arc<InputStats>,
) -> Result<(), InputError> {
    let pos_path = c
        .position
        .clone()
        .expect("validated: eve-file has a position");
    let saved = Position::load(&pos_path).map_err(|e| InputError::Position {
        input: c.name.clone(),
        path: pos_path.clone(),
        reason: e.to_string(),
    })?;
    let mut t = Tail {
        path: c.path.clone(),
        pos_path,
        poll: Duration::from_millis(c.poll_ms),
        pos: saved.unwrap_or_default(),
        floor: sink.max_seq(c).await?.unwrap_or(0),
        file: None,
        read_to: 0,
        rotated_at: None,
        lines: Lines::new(c.max_line),
        feeder: Feeder::new(c, st, None, None),
        sink: sink.clone(),
    };
    if let Some(p) = saved {
        tracing::info!(input = %c.name, offset = p.offset, inode = p.ino, "resuming the tail");
    }
    let stop = sink.stop();
    tokio::spawn(async move { t.run(stop).await });
    Ok(())
}

impl Tail {
    /// Opens the file the position names (the path, or where a rotation moved it), at the
    /// saved offset; a new or truncated file starts at 0 with `base` moved past the old.
    fn open(&mut self) -> io::Result<bool> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let saved = (self.pos.dev, self.pos.ino);
        let (path, size) = if saved == (0, 0) {
            // No saved position: start past anything stored under this name (a lost
            // position file may mean duplicates, never alerts taken for duplicates).
            self.pos = Position {
                dev: meta.dev(),
                ino: meta.ino(),
                offset: 0,
                base: self.floor,
            };
            (self.path.clone(), meta.len())
        } else if id(&meta) == saved {
            (self.path.clone(), meta.len())
        } else {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            match find_inode(dir, saved) {
                Some(old) => {
                    tracing::info!(input = %self.feeder.name, file = %old.display(), "finishing the rotated file first");
                    let len = std::fs::metadata(&old)?.len();
                    (old, len)
                }
                None => {
                    tracing::warn!(input = %self.feeder.name, "the file was rotated while stopped and the old one is gone; starting the new one");
                    self.next_file(&meta, self.pos.offset);
                    (self.path.clone(), meta.len())
                }
            }
        };
        if size < self.pos.offset {
            tracing::warn!(input = %self.feeder.name, size, offset = self.pos.offset, "file truncated; reading it from the start");
            let m = std::fs::metadata(&path)?;
            self.next_file(&m, self.pos.offset);
        }
        let mut f = File::open(&path)?;
        f.seek(SeekFrom::Start(self.pos.offset))?;
        self.lines.reset(self.pos.offset);
        self.read_to = self.pos.offset;
        self.rotated_at = None;
        self.file = Some(f);
        Ok(true)
    }

    /// Moves the position to the start of the file `m`, past `old_len` bytes of the last.
    fn next_file(&mut self, m: &std::fs::Metadata, old_len: u64) {
        self.pos = Position {
            dev: m.dev(),
            ino: m.ino(),
            offset: 0,
            base: (self.pos.base + old_len).max(self.floor),
        };
    }

    async fn save(&self) {
        let (p, path) = (self.pos, self.pos_path.clone());
        match tokio::task::spawn_blocking(move || p.save(&path)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(input = %self.feeder.name, "{e}"),
            Err(e) => tracing::error!(input = %self.feeder.name, error = %e, "saving the position"),
        }
    }

    /// Commits what the feeder holds (waiting for room and for the commit: the tail is
    /// held back, never dropping), then saves the position of the last consumed line.
    async fn commit(&mut self) {
        if let Some(b) = self.feeder.take() {
            let (count, last) = (b.count as u64, b.last);
            loop {
                let Ok(mut rx) = self.sink.submit(&self.feeder.sensor, b.clone(), true).await
                else {
                    return; // the writer is gone (shutdown): nothing saved, read again next run
                };
                match rx
                    .wait_for(|a| a.through >= last || a.failed)
                    .await
                    .map(|a| *a)
                {
                    Ok(a) if !a.failed => break,
                    Ok(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(_) => return,
                }
            }
            let st = &self.feeder.stats;
            st.committed.fetch_add(count, Relaxed);
            st.pending.fetch_sub(count, Relaxed);
        }
        if self.lines.consumed() != self.pos.offset {
            self.pos.offset = self.lines.consumed();
            self.save().await;
        }
    }

    /// Feeds the complete lines held; true when it stopped because the batch is full.
    fn drain(&mut self) -> bool {
        let base = self.pos.base;
        while let Some((p, end)) = self.lines.next_at() {
            let at = At(end);
            match p {
                Piece::Line(l) => self.feeder.line(l, Some(base + end), &at),
                Piece::TooLong(len) => {
                    self.feeder.stats.received.fetch_add(1, Relaxed);
                    let e = LineError::new(Reject::TooLong, format!("line of {len}+ bytes"));
                    self.feeder.reject(&e, &at);
                }
            }
            if self.feeder.full() {
                return true;
            }
        }
        false
    }

    /// Feeds what is held, else reads on; Ok(true) at end of file with nothing held.
    fn read_some(&mut self) -> io::Result<bool> {
        if self.drain() {
            return Ok(false);
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(true);
        };
        let n = loop {
            match f.read(self.lines.spare()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Ok(true);
        }
        self.lines.filled(n);
        self.read_to += n as u64;
        self.rotated_at = None;
        self.drain();
        Ok(false)
    }

    /// At end of file: has the path moved to a new file, or been truncated? Then the old
    /// file's unfinished line is rejected and the position moves to the new start.
    fn check_rotation(&mut self) -> io::Result<bool> {
        let Some(f) = &self.file else {
            return Ok(false);
        };
        let open = f.metadata()?;
        let named = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let read_to = self.read_to;
        let rotated = id(&named) != id(&open);
        let truncated = !rotated && named.len() < read_to;
        if !rotated && !truncated {
            return Ok(false);
        }
        if rotated {
            let since = *self.rotated_at.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < (self.poll * 2).max(Duration::from_millis(500)) {
                return Ok(false);
            }
        }
        if self.lines.partial() > 0 {
            self.feeder.stats.received.fetch_add(1, Relaxed);
            let e = LineError::new(
                Reject::Partial,
                format!(
                    "{} bytes without a newline at the end of the old file",
                    self.lines.partial()
                ),
            );
            self.feeder.reject(&e, &At(read_to));
        }
        tracing::info!(input = %self.feeder.name, rotated, truncated, "following the new file");
        self.next_file(&named, read_to);
        self.file = None;
        Ok(true)
    }

    async fn run(&mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            if self.file.is_none() {
                match self.open() {
                    Ok(true) => {
                        // A new file (or a move past a truncation) is a position too.
                        self.save().await;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(input = %self.feeder.name, file = %self.path.display(), error = %e, "opening")
                    }
                }
                if self.file.is_none() {
                    self.idle(&mut stop).await;
                    continue;
                }
            }
            let eof = match self.read_some() {
                Ok(eof) => eof,
                Err(e) => {
                    tracing::warn!(input = %self.feeder.name, error = %e, "reading");
                    self.file = None;
                    true
                }
            };
            if self.feeder.full() || eof {
                self.commit().await;
            }
            if eof {
                match self.check_rotation() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(input = %self.feeder.name, error = %e, "checking for rotation")
                    }
                }
                self.idle(&mut stop).await;
            }
        }
        self.commit().await;
    }

    async fn idle(&self, stop: &mut watch::Receiver<bool>) {
        tokio::select! {
            _ = tokio::time::sleep(self.poll) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}
