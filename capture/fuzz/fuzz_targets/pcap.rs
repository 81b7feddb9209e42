//! Writes the input to a temporary file, opens it as pcap/pcapng and reads every frame.
//! The reader must never panic, must stop after at most one error, and every frame must
//! lie inside the file.
#![no_main]

use capture::pcap::PcapFile;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // tmpfs when there is one: a disk-backed /tmp makes each execution a disk write.
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("tidewatch-fuzz-pcap-{}.bin", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("write the fuzz input to a temp file");
    let Ok(file) = PcapFile::open(path) else {
        return;
    };
    assert_eq!(file.len(), data.len() as u64);
    let mut errors = 0;
    let mut frames = file.frames();
    for item in frames.by_ref() {
        match item {
            Ok(f) => {
                assert_eq!(errors, 0, "frame after an error");
                assert!(f.offset < data.len() as u64);
                assert!(f.data.len() <= data.len());
            }
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1);
    assert!(frames.next().is_none());
});
