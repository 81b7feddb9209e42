//! EVE JSON file output for Splunk, Elastic, Trisul and friends: one line per alert (with
//! `store_id`), written a batch at a time. Rotates by size and by age: the file is renamed
//! to `PATH.UNIXSECS` (`.N` added if that exists) and a new one opened. On SIGHUP it is
//! reopened by name, so an external logrotate can move it away first.

use super::config::EveFileConfig;
use super::router::{Delivery, Output, OutputStats};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) struct EveFile {
    cfg: EveFileConfig,
    file: Option<File>,
    size: u64,
    opened: Instant,
    buf: Vec<u8>,
}

impl EveFile {
    pub fn open(cfg: &EveFileConfig) -> io::Result<EveFile> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = EveFile {
            cfg: cfg.clone(),
            file: None,
            size: 0,
            opened: Instant::now(),
            buf: Vec::new(),
        };
        f.reopen_now()?;
        Ok(f)
    }

    fn reopen_now(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        self.opened = Instant::now();
        Ok(())
    }

    fn rotated_name(&self) -> PathBuf {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let base = format!("{}.{secs}", self.cfg.path.display());
        let mut p = PathBuf::from(&base);
        // Bounded: a second rotation within one second takes the next free suffix.
        for n in 1..10_000 {
            if !p.exists() {
                break;
            }
            p = PathBuf::from(format!("{base}.{n}"));
        }
        p
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let to = self.rotated_name();
        std::fs::rename(&self.cfg.path, &to)?;
        tracing::info!(from = %self.cfg.path.display(), to = %to.display(), "EVE file rotated");
        self.reopen_now()
    }

    fn due(&self) -> bool {
        (self.cfg.rotate_bytes > 0 && self.size >= self.cfg.rotate_bytes)
            || (self.cfg.rotate_secs > 0
                && self.size > 0
                && self.opened.elapsed() >= Duration::from_secs(self.cfg.rotate_secs))
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.reopen_now()?;
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(&self.buf)?;
        self.size += self.buf.len() as u64;
        Ok(())
    }
}

impl Output for EveFile {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        self.buf.clear();
        for (id, r) in &recs {
            self.buf
                .extend_from_slice(super::eve_line(Some(*id), r).as_bytes());
            self.buf.push(b'\n');
        }
        match self.write_buf() {
            Ok(()) => {
                stats.sent.fetch_add(recs.len() as u64, Relaxed);
            }
            Err(e) => {
                self.file = None;
                stats.failed.fetch_add(recs.len() as u64, Relaxed);
                tracing::error!(path = %self.cfg.path.display(), error = %e, alerts = recs.len(),
                    "EVE file write failed; these alerts are in the store");
            }
        }
    }

    fn tick(&mut self, _stats: &OutputStats, _last: bool) {
        if self.due() {
            if let Err(e) = self.rotate() {
                tracing::error!(path = %self.cfg.path.display(), error = %e, "EVE file rotation failed");
                // Try again a whole period later rather than every tick.
                self.opened = Instant::now();
                self.size = 0;
            }
        }
    }

    fn reopen(&mut self) {
        if let Err(e) = self.reopen_now() {
            tracing::error!(path = %self.cfg.path.display(), error = %e, "EVE file reopen failed");
            self.file = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(ids: std::ops::Range<u64>) -> Delivery {
        Delivery::sample(ids.map(|id| (id, crate::testkit::alert(id, 100))))
    }

    fn ids_in(path: &std::path::Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["event_type"], "alert");
                v["tidewatch"]["id"].as_u64().unwrap()
            })
            .collect()
    }

    #[test]
    fn rotates_by_size_and_reopens_after_a_move() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        let cfg = EveFileConfig {
            path: path.clone(),
            rotate_bytes: 4096,
            rotate_secs: 0,
        };
        let stats = OutputStats::default();
        let mut f = EveFile::open(&cfg).unwrap();
        f.deliver(&delivery(1..11), &stats);
        f.tick(&stats, false);
        // Past 4 KiB: the ten lines moved to PATH.SECS, a fresh file is open.
        let rotated: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        assert_eq!(ids_in(&rotated[0]), (1..11).collect::<Vec<_>>());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        f.deliver(&delivery(11..12), &stats);
        // logrotate moves the file away, then SIGHUP: the next line goes to a new file.
        let moved = dir.path().join("moved.json");
        std::fs::rename(&path, &moved).unwrap();
        f.reopen();
        f.deliver(&delivery(12..13), &stats);
        assert_eq!(ids_in(&moved), vec![11]);
        assert_eq!(ids_in(&path), vec![12]);
        assert_eq!(stats.sent.load(Relaxed), 12);
        assert_eq!(stats.failed.load(Relaxed), 0);
    }
}
