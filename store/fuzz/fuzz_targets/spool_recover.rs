//! Spool recovery on damaged files. The input either damages a valid spool (a list of
//! (offset, xor) edits and an optional truncation, mode byte even) or supplies the header
//! counters and ring bytes itself behind a valid geometry (odd). Opening must never
//! panic; what it recovers must validate, carry the seq its frame claims, be in
//! increasing order, and survive a second open unchanged; and a record appended after
//! recovery must get a seq above every recovered one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use store::spool::frame::{geometry, HEADER_SIZE};
use store::spool::{Spool, SpoolOptions, SyncPolicy};
use store::testkit::archived;

const CAP: u64 = 64 * 1024;

fn opts() -> SpoolOptions {
    SpoolOptions {
        capacity: CAP,
        ship_only_synced: false,
        // Recovery is under test, not the sync thread: no thread per execution.
        sync: SyncPolicy {
            background: false,
            ..SyncPolicy::default()
        },
        ..SpoolOptions::default()
    }
}

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() { shm } else { std::env::temp_dir() };
        dir.join(format!("tidewatch-fuzz-spool-{}.bin", std::process::id()))
    })
}

/// A valid spool image whose ring has wrapped, with some records acknowledged.
fn valid_image() -> &'static Vec<u8> {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = path();
        let _ = std::fs::remove_file(p);
        {
            let mut s = Spool::open(p, &opts()).unwrap();
            for i in 0..150usize {
                s.writer.append(&mut archived(0, 50 + (i * 97) % 1500)).unwrap();
                if i % 10 == 9 {
                    let last = s.reader.next_unsent(usize::MAX, usize::MAX).map(|e| e.seq).last();
                    s.reader.ack(last.unwrap() - 3).unwrap();
                }
            }
        }
        std::fs::read(p).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let img = if mode % 2 == 0 {
        let mut img = valid_image().clone();
        let mut edits = rest.chunks_exact(4);
        for e in edits.by_ref() {
            let off = u32::from_le_bytes([e[0], e[1], e[2], 0]) as usize % img.len();
            img[off] ^= e[3];
        }
        if mode & 2 != 0 {
            let cut = u16::from_le_bytes([mode, *rest.first().unwrap_or(&0)]) as usize * 2;
            img.truncate(cut.max(64));
        }
        img
    } else {
        let mut img = geometry(CAP).to_vec();
        img.extend_from_slice(&rest[..rest.len().min(32)]);
        img.resize(HEADER_SIZE as usize, 0);
        img.extend_from_slice(rest.get(32..).unwrap_or(&[]));
        img
    };
    let p = path();
    std::fs::write(p, &img).unwrap();
    let Ok(mut s) = Spool::open(p, &opts()) else {
        return;
    };
    let r = s.recovery.clone();
    let mut seqs = vec![];
    for e in s.reader.next_unsent(usize::MAX, usize::MAX) {
        let a = store::record::access(e.bytes).expect("recovered records validate");
        assert_eq!(a.seq.to_native(), e.seq);
        assert!(seqs.last().is_none_or(|&l| l < e.seq), "increasing");
        seqs.push(e.seq);
    }
    assert_eq!(seqs.len() as u64, r.records);
    assert_eq!(seqs.first().copied(), r.first_seq);
    drop(s);
    // Recovery is idempotent: a second open finds the same records and cuts nothing.
    let mut s = Spool::open(p, &opts()).expect("a recovered spool reopens");
    assert_eq!(s.recovery.cut, None, "second open cut again: {:?} then {:?}", r, s.recovery);
    let again: Vec<u64> = s.reader.next_unsent(usize::MAX, usize::MAX).map(|e| e.seq).collect();
    assert_eq!(again, seqs);
    let seq = s.writer.append(&mut archived(0, 100)).unwrap().seq();
    assert!(seqs.last().is_none_or(|&l| seq > l));
});
