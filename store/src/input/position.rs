//! The file tail's read position, kept so a restart neither loses nor re-reads a line
//! (Barnyard2's "waldo" file, without its corruption): written to a temporary file,
//! fsynced, renamed over the old one and the directory fsynced, so the file on disk is
//! always one whole position, old or new. Saved only after the alerts up to it are
//! committed.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the tail is: the file (device and inode), the offset just past the last line
/// fully consumed in it, and `base`, the logical offset of that file's first byte in the
/// stream of every file followed so far (each rotation or truncation adds the old
/// file's length), so `base + offset` never goes back and numbers alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    pub base: u64,
}

/// Why a position file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("position file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("position file {path} is not a position ({reason}); move it away to start over")]
    Invalid { path: PathBuf, reason: String },
}

impl Position {
    /// The logical offset of the next byte to read.
    pub fn logical(&self) -> u64 {
        self.base + self.offset
    }

    /// Reads the position; None when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Position>, PositionError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PositionError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PositionError::Invalid {
                path: path.into(),
                reason: e.to_string(),
            })
    }

    /// Replaces the position on disk atomically and durably.
    pub fn save(&self, path: &Path) -> Result<(), PositionError> {
        let err = |source| PositionError::Io {
            path: path.into(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        let mut line = serde_json::to_vec(self).map_err(|e| err(io::Error::other(e)))?;
        line.push(b'\n');
        f.write_all(&line).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err)?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_position_saves_atomically_and_refuses_garbage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("eve.pos");
        assert_eq!(Position::load(&p).unwrap(), None);
        let pos = Position {
            dev: 1,
            ino: 2,
            offset: 300,
            base: 4000,
        };
        pos.save(&p).unwrap();
        assert_eq!(Position::load(&p).unwrap(), Some(pos));
        assert_eq!(pos.logical(), 4300);
        assert!(!d.path().join("eve.pos.tmp").exists());
        std::fs::write(&p, "{\"dev\":1,").unwrap();
        let e = Position::load(&p).unwrap_err();
        assert!(e.to_string().contains("eve.pos"), "{e}");
    }
}
