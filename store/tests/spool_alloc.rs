//! A spool the disk cannot hold fails at open, with the path and the size, before any
//! alert is taken, and leaves no half-made file behind. The small disk is a real 1 MiB
//! tmpfs mounted for the test (needs root, as the capture tests do).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use store::spool::{Spool, SpoolError, SpoolOptions};

/// Unmounts on drop, also when an assertion fails.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> std::io::Result<Mount> {
        let c = |s: &[u8]| CString::new(s).unwrap();
        let (src, dir, fs) = (
            c(b"tidewatch-test"),
            c(at.as_os_str().as_bytes()),
            c(b"tmpfs"),
        );
        let data = c(format!("size={size}").as_bytes());
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dir.as_ptr(),
                fs.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mount(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: as above.
        unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_spool_the_disk_cannot_hold_fails_at_open_naming_path_and_size() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test mounts a tmpfs: run as root"
    );
    let d = tempfile::tempdir().unwrap();
    let _m = Mount::tmpfs(d.path(), "1m").expect("mount a 1 MiB tmpfs");
    let path = d.path().join("spool");
    let err = Spool::open(&path, &SpoolOptions::with_capacity(8 << 20))
        .err()
        .expect("8 MiB does not fit in 1 MiB");
    let msg = err.to_string();
    assert!(
        matches!(err, SpoolError::Allocate { size, .. } if size == 4096 + (8 << 20)),
        "{msg}"
    );
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("8392704"),
        "{msg}"
    );
    assert!(!path.exists(), "no half-allocated spool is left behind");
    // One that fits opens.
    let small = SpoolOptions::with_capacity(256 << 10);
    let mut s = Spool::open(&path, &small).unwrap();
    assert!(s.recovery.created);
    for _ in 0..3 {
        s.writer
            .append(&mut store::testkit::archived(0, 100))
            .unwrap();
    }
    s.reader.next_unsent(10, usize::MAX).for_each(drop);
    s.reader.ack(3).unwrap();
    drop(s);
    // Growing the (drained) spool past the disk fails the same way, and keeps its seq.
    let err = Spool::open(&path, &SpoolOptions::with_capacity(8 << 20))
        .err()
        .unwrap();
    assert!(matches!(err, SpoolError::Allocate { .. }), "{err}");
    let mut s = Spool::open(&path, &small).unwrap();
    assert_eq!(
        s.writer
            .append(&mut store::testkit::archived(0, 100))
            .unwrap()
            .seq(),
        4
    );
}
