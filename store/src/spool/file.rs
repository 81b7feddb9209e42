//! Getting the spool's bytes onto the disk up front: the file is locked (one sensor per
//! spool), allocated in full with `posix_fallocate` and written once with zeros, so a disk
//! that cannot hold it fails here with the path and size, not later with SIGBUS inside a
//! memory-mapped store in the middle of capture.

use super::SpoolError;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Opens (creating if absent) and locks the spool file. Returns the file and its length.
pub fn open_locked(path: &Path) -> Result<(File, u64), SpoolError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| SpoolError::io(path, "open", source))?;
    // SAFETY: flock on a valid descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            SpoolError::Locked {
                path: path.to_owned(),
            }
        } else {
            SpoolError::io(path, "lock", e)
        });
    }
    let len = file
        .metadata()
        .map_err(|source| SpoolError::io(path, "stat", source))?
        .len();
    Ok((file, len))
}

/// Reserves `size` bytes on disk. With `zero_from = Some(off)`, also writes zeros from `off`
/// to the end, so ext4's unwritten extents are converted now rather than on the first
/// msync of each page (and filesystems without fallocate still fail cleanly here).
pub fn allocate(file: &File, size: u64, zero_from: Option<u64>) -> io::Result<()> {
    let len = libc::off_t::try_from(size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size too large"))?;
    // SAFETY: plain syscall on a valid descriptor.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    let zero_from = match r {
        0 => zero_from,
        libc::EOPNOTSUPP | libc::EINVAL => {
            // No fallocate here: writing zeros both allocates and touches.
            Some(zero_from.unwrap_or(file.metadata()?.len()))
        }
        e => return Err(io::Error::from_raw_os_error(e)),
    };
    if let Some(mut off) = zero_from {
        let zeros = vec![0u8; 1 << 20];
        while off < size {
            let n = (size - off).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], off)?;
            off += n as u64;
        }
    }
    Ok(())
}
