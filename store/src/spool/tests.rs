use super::frame::{frame_len, HEADER_SIZE, OFF_TAIL};
use super::*;
use crate::record;
use crate::testkit::archived;
use std::collections::VecDeque;
use std::time::Duration;

fn opts(cap: u64) -> SpoolOptions {
    SpoolOptions {
        ship_only_synced: false,
        ..SpoolOptions::with_capacity(cap)
    }
}

/// On tmpfs when there is one: these tests reopen spools hundreds of times, and an msync
/// on a shared virtio disk costs milliseconds. (The kill -9 test runs on the disk.)
fn dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Appends `n` records of `len` payload bytes; returns their seqs.
fn fill(s: &mut Spool, n: usize, len: usize) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let mut r = archived(0, len);
            match s.writer.append(&mut r).unwrap() {
                Admit::Spooled { seq } => seq,
                other => panic!("refused: {other:?}"),
            }
        })
        .collect()
}

fn unsent_seqs(s: &mut Spool) -> Vec<u64> {
    s.reader
        .next_unsent(usize::MAX, usize::MAX)
        .map(|e| e.seq)
        .collect()
}

#[test]
fn appended_records_carry_the_spools_seq_and_read_back_valid() {
    let d = dir();
    let mut s = Spool::open(d.path().join("s"), &opts(1 << 20)).unwrap();
    assert!(s.recovery.created);
    let seqs = fill(&mut s, 10, 512);
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    let got: Vec<(u64, u64)> = s
        .reader
        .next_unsent(100, usize::MAX)
        .map(|e| (e.seq, record::access(e.bytes).unwrap().seq.to_native()))
        .collect();
    assert_eq!(got, (1..=10).map(|i| (i, i)).collect::<Vec<_>>());
    assert_eq!(
        s.reader.next_unsent(100, usize::MAX).len(),
        0,
        "nothing is sent twice"
    );
}

#[test]
fn batches_respect_record_and_byte_limits() {
    let d = dir();
    let mut s = Spool::open(d.path().join("s"), &opts(1 << 20)).unwrap();
    fill(&mut s, 10, 512);
    let b = s.reader.next_unsent(3, usize::MAX);
    assert_eq!(b.len(), 3);
    assert_eq!(b.map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    let one = s
        .reader
        .next_unsent(100, 1)
        .map(|e| e.seq)
        .collect::<Vec<_>>();
    assert_eq!(one, vec![4], "the first record goes even past max_bytes");
    s.reader.rewind_to_acked();
    assert_eq!(unsent_seqs(&mut s), (1..=10).collect::<Vec<_>>());
}

#[test]
fn by_default_only_msynced_records_are_shipped() {
    let d = dir();
    let mut o = SpoolOptions::with_capacity(1 << 20);
    o.sync = SyncPolicy {
        every_records: 5,
        every: Duration::from_secs(3600),
        background: false,
    };
    let mut s = Spool::open(d.path().join("s"), &o).unwrap();
    fill(&mut s, 3, 100);
    let before = s.stats().snapshot().syncs;
    // Nothing durable to send: the reader msyncs rather than wait for the writer.
    assert_eq!(unsent_seqs(&mut s), vec![1, 2, 3]);
    assert_eq!(s.stats().snapshot().syncs, before + 1);
    // The writer syncs on its fifth unsynced append (seq 5); 6 and 7 are not durable.
    fill(&mut s, 4, 100);
    assert_eq!(s.stats().snapshot().syncs, before + 2);
    assert_eq!(unsent_seqs(&mut s), vec![4, 5]);
    assert_eq!(unsent_seqs(&mut s), vec![6, 7]);
    assert_eq!(s.stats().snapshot().syncs, before + 3);
}

#[test]
fn the_sync_thread_makes_a_lone_alert_durable_on_its_timer() {
    let d = dir();
    let mut o = SpoolOptions::with_capacity(1 << 20);
    o.sync.every = Duration::from_millis(5);
    let mut s = Spool::open(d.path().join("s"), &o).unwrap();
    let before = s.stats().snapshot().syncs;
    fill(&mut s, 1, 100);
    let t0 = std::time::Instant::now();
    while s.stats().snapshot().syncs == before && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(s.stats().snapshot().syncs > before, "no msync within 5 s");
    // Already durable: the shipper sends it without an msync of its own.
    let syncs = s.stats().snapshot().syncs;
    assert_eq!(unsent_seqs(&mut s), vec![1]);
    assert_eq!(s.stats().snapshot().syncs, syncs);
}

#[test]
fn seq_continues_across_reopen_and_unacked_records_come_back() {
    let d = dir();
    let p = d.path().join("s");
    {
        let mut s = Spool::open(&p, &opts(1 << 20)).unwrap();
        fill(&mut s, 10, 100);
        assert_eq!(unsent_seqs(&mut s).len(), 10);
        assert_eq!(s.reader.ack(4).unwrap(), 4);
        assert_eq!(s.reader.ack(4).unwrap(), 0, "a repeated ack frees nothing");
        assert!(matches!(
            s.reader.ack(11),
            Err(SpoolError::AckUnissued { .. })
        ));
    }
    let mut s = Spool::open(&p, &opts(1 << 20)).unwrap();
    let r = &s.recovery;
    assert_eq!(
        (
            r.created,
            r.records,
            r.first_seq,
            r.last_seq,
            r.next_seq,
            r.cut
        ),
        (false, 6, Some(5), Some(10), 11, None)
    );
    assert_eq!(s.reader.acked_seq(), 4);
    assert_eq!(unsent_seqs(&mut s), (5..=10).collect::<Vec<_>>());
    assert_eq!(fill(&mut s, 1, 100), vec![11]);
}

#[test]
fn the_ring_wraps_and_only_acks_free_space() {
    let d = dir();
    let mut s = Spool::open(d.path().join("s"), &opts(64 * 1024)).unwrap();
    let per = frame_len(archived(0, 700).len());
    let mut expect = VecDeque::new();
    // Many laps of the ring, acking in batches.
    for round in 0..50u64 {
        for _ in 0..20 {
            let mut r = archived(0, 700);
            let seq = s.writer.append(&mut r).unwrap().seq();
            expect.push_back(seq);
        }
        let sent = unsent_seqs(&mut s);
        assert_eq!(
            sent,
            expect.iter().copied().collect::<Vec<_>>(),
            "round {round}"
        );
        let last = *expect.back().unwrap();
        s.reader.ack(last).unwrap();
        expect.clear();
        assert_eq!(s.writer.fill_ratio(), 0.0);
    }
    assert!(per * 1000 > 10 * 64 * 1024, "the test wraps many times");
}

#[test]
fn high_watermark_diverts_until_under_low() {
    let d = dir();
    let mut o = opts(64 * 1024);
    o.high_water = 0.5;
    o.low_water = 0.25;
    let mut s = Spool::open(d.path().join("s"), &o).unwrap();
    let mut spooled = vec![];
    let mut refused = vec![];
    for _ in 0..200 {
        let mut r = archived(0, 400);
        match s.writer.append(&mut r).unwrap() {
            Admit::Spooled { seq } => spooled.push(seq),
            Admit::Refused { seq, reason } => {
                assert_eq!(reason, DropReason::HighWater);
                assert_eq!(record::access(&r).unwrap().seq.to_native(), seq);
                refused.push(seq)
            }
        }
    }
    assert!(s.writer.fill_ratio() >= 0.5 && s.writer.fill_ratio() < 0.6);
    assert!(s.writer.dropping());
    let mut all: Vec<u64> = spooled.iter().chain(&refused).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<_>>(),
        "dropped alerts take their seq"
    );
    assert_eq!(
        s.stats().dropped(DropReason::HighWater),
        refused.len() as u64
    );
    // Free down to between the watermarks: still dropping (hysteresis).
    let sent = unsent_seqs(&mut s);
    let n = sent.len();
    s.reader.ack(sent[n / 3]).unwrap();
    assert!(s.writer.fill_ratio() > 0.25);
    assert!(matches!(
        s.writer.append(&mut archived(0, 400)).unwrap(),
        Admit::Refused { .. }
    ));
    // Under the low watermark: accepted again.
    s.reader.ack(sent[n - n / 4]).unwrap();
    assert!(s.writer.fill_ratio() < 0.25);
    assert!(matches!(
        s.writer.append(&mut archived(0, 400)).unwrap(),
        Admit::Spooled { .. }
    ));
    assert!(!s.writer.dropping());
}

#[test]
fn full_and_too_large_are_refused_with_their_reason() {
    let d = dir();
    let mut o = opts(64 * 1024);
    o.high_water = 1.0;
    o.low_water = 0.5;
    let mut s = Spool::open(d.path().join("s"), &o).unwrap();
    let mut r = archived(0, 20 * 1024);
    assert_eq!(
        s.writer.append(&mut r).unwrap(),
        Admit::Refused {
            seq: 1,
            reason: DropReason::TooLarge
        }
    );
    let mut full = 0;
    for _ in 0..200 {
        if let Admit::Refused { reason, .. } = s.writer.append(&mut archived(0, 1000)).unwrap() {
            assert_eq!(reason, DropReason::Full);
            full += 1;
        }
    }
    assert!(full > 100);
    let st = s.stats().snapshot();
    assert_eq!((st.dropped_full, st.dropped_too_large), (full, 1));
    assert_eq!(st.appended + st.dropped(), 201);
}

#[test]
fn garbage_files_and_a_second_opener_are_refused_by_name() {
    let d = dir();
    let p = d.path().join("notaspool");
    std::fs::write(&p, vec![7u8; 10_000]).unwrap();
    let e = Spool::open(&p, &opts(1 << 20)).err().unwrap().to_string();
    assert!(e.contains("notaspool") && e.contains("magic"), "{e}");
    let p = d.path().join("s");
    let _s = Spool::open(&p, &opts(1 << 20)).unwrap();
    let e = Spool::open(&p, &opts(1 << 20)).err().unwrap();
    assert!(matches!(e, SpoolError::Locked { .. }), "{e}");
}

#[test]
fn an_empty_spool_resizes_keeping_seq_but_a_full_one_refuses() {
    let d = dir();
    let p = d.path().join("s");
    {
        let mut s = Spool::open(&p, &opts(1 << 20)).unwrap();
        fill(&mut s, 5, 100);
    }
    let e = Spool::open(&p, &opts(2 << 20)).err().unwrap();
    assert!(matches!(e, SpoolError::Resize { pending: 5, .. }), "{e}");
    {
        let mut s = Spool::open(&p, &opts(1 << 20)).unwrap();
        unsent_seqs(&mut s);
        s.reader.ack(5).unwrap();
    }
    let mut s = Spool::open(&p, &opts(2 << 20)).unwrap();
    assert_eq!(s.writer.capacity(), 2 << 20);
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        HEADER_SIZE + (2 << 20)
    );
    assert_eq!(fill(&mut s, 1, 10), vec![6]);
}

/// Writes `n` records into a fresh spool, acking the first `acked`, and returns the
/// file's bytes and each record's (seq, logical offset, frame length, record length).
/// (seq, logical offset, frame length, record length)
type FrameAt = (u64, u64, u64, u64);

fn written(n: u64, acked: u64, cap: u64) -> (Vec<u8>, Vec<FrameAt>) {
    let d = dir();
    let p = d.path().join("s");
    let mut frames = vec![];
    {
        let mut s = Spool::open(&p, &opts(cap)).unwrap();
        for i in 0..n {
            let mut r = archived(0, 100 + (i as usize * 37) % 900);
            let tail = s.writer.tail;
            let seq = s.writer.append(&mut r).unwrap().seq();
            frames.push((seq, tail, frame_len(r.len()), r.len() as u64));
        }
        unsent_seqs(&mut s);
        if acked > 0 {
            s.reader.ack(acked).unwrap();
        }
    }
    (std::fs::read(&p).unwrap(), frames)
}

fn reopen(bytes: &[u8], cap: u64) -> (Spool, tempfile::TempDir) {
    let d = dir();
    let p = d.path().join("s");
    std::fs::write(&p, bytes).unwrap();
    (Spool::open(&p, &opts(cap)).unwrap(), d)
}

#[test]
fn corruption_anywhere_cuts_exactly_at_the_damaged_record() {
    let cap = 64 * 1024;
    let (bytes, frames) = written(40, 3, cap);
    let tail = frames.last().map(|f| f.1 + f.2).unwrap();
    // Every 13th byte of the written region, flipped.
    for off in (frames[3].1..tail).step_by(13) {
        let mut b = bytes.clone();
        b[(HEADER_SIZE + off) as usize] ^= 0x5a;
        let (mut s, _d) = reopen(&b, cap);
        let hit = frames
            .iter()
            .position(|f| f.1 <= off && off < f.1 + f.2)
            .unwrap();
        let (seq, start, _, len) = frames[hit];
        let r = s.recovery.clone();
        let kept = unsent_seqs(&mut s);
        if kept.len() == 40 - 3 {
            // Only possible when the flip landed in a frame's padding bytes.
            assert!(off >= start + 16 + len, "flip at {off} went unnoticed");
            assert_eq!(r.cut, None);
            continue;
        }
        assert_eq!(kept, (4..seq).collect::<Vec<_>>(), "flip at {off}");
        assert_eq!(r.cut_bytes, tail - start, "flip at {off}");
        assert!(r.cut.is_some());
        assert_eq!(r.next_seq, 41, "no seq is issued twice");
        assert_eq!(fill(&mut s, 1, 10), vec![41]);
    }
}

#[test]
fn a_torn_tail_keeps_every_whole_record_before_it() {
    let cap = 64 * 1024;
    let (bytes, frames) = written(30, 0, cap);
    let tail = frames.last().map(|f| f.1 + f.2).unwrap();
    // Zero everything from `cut` on: what a crash mid-write (or an unsynced page after a
    // power cut) leaves.
    for cut in (0..tail).step_by(29) {
        let mut b = bytes.clone();
        b[(HEADER_SIZE + cut) as usize..(HEADER_SIZE + tail) as usize].fill(0);
        let (mut s, _d) = reopen(&b, cap);
        // Whole: not one of its bytes changed (an archive may well end in zeros).
        let damaged = |f: &&FrameAt| {
            let (a, z) = (HEADER_SIZE + cut.max(f.1), HEADER_SIZE + f.1 + 16 + f.3);
            a < z && bytes[a as usize..z as usize].iter().any(|&x| x != 0)
        };
        let whole = frames.iter().take_while(|f| !damaged(f)).count() as u64;
        let kept = unsent_seqs(&mut s);
        let r = s.recovery.clone();
        assert_eq!(kept, (1..=whole).collect::<Vec<_>>(), "cut at {cut}");
        let end = frames.get(whole as usize).map_or(tail, |f| f.1);
        assert_eq!(r.cut_bytes, tail - end, "cut at {cut}");
        assert_eq!(fill(&mut s, 1, 10), vec![31]);
    }
    // A file cut short is extended; what was past the end is cut.
    let mut b = bytes.clone();
    let keep = frames[10].1 + HEADER_SIZE + 20;
    b.truncate(keep as usize);
    let (mut s, _d) = reopen(&b, cap);
    assert_eq!(unsent_seqs(&mut s), (1..=10).collect::<Vec<_>>());
    assert_eq!(s.recovery.cut_bytes, tail - frames[10].1);
}

#[test]
fn a_damaged_header_is_refused_not_reset() {
    let (bytes, _) = written(5, 0, 64 * 1024);
    for off in [0usize, 9, 17, 25] {
        let mut b = bytes.clone();
        b[off] ^= 1;
        let d = dir();
        let p = d.path().join("s");
        std::fs::write(&p, &b).unwrap();
        let e = Spool::open(&p, &opts(64 * 1024)).err().unwrap();
        assert!(matches!(e, SpoolError::Corrupt { .. }), "byte {off}: {e}");
    }
    // A blank header is an interrupted creation: started afresh.
    let (s, _d) = reopen(&vec![0u8; bytes.len()], 64 * 1024);
    assert!(s.recovery.created);
    drop(s);
    // A stale tail hint (the header lagging the data) loses nothing.
    let mut b = bytes.clone();
    b[OFF_TAIL..OFF_TAIL + 8].copy_from_slice(&0u64.to_le_bytes());
    let (mut s, _d) = reopen(&b, 64 * 1024);
    assert_eq!(unsent_seqs(&mut s), (1..=5).collect::<Vec<_>>());
}

/// Small deterministic generator for the model test (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The model: what the spool must hold, computed the simple way.
#[derive(Default)]
struct Model {
    queue: VecDeque<(u64, u64, Vec<u8>)>, // seq, frame length, bytes
    sent: usize,
    next_seq: u64,
    head: u64,
    tail: u64,
    dropping: bool,
}

#[test]
fn random_operations_match_a_simple_model() {
    let cap = 64 * 1024u64;
    let mut o = opts(cap);
    o.high_water = 0.8;
    o.low_water = 0.5;
    o.max_record = 8 * 1024;
    let (high, low) = ((cap as f64 * 0.8) as u64, (cap as f64 * 0.5) as u64);
    for seed in 0..24u64 {
        let d = dir();
        let p = d.path().join("s");
        let mut rng = Rng(seed);
        let mut s = Spool::open(&p, &o).unwrap();
        let mut m = Model {
            next_seq: 1,
            ..Model::default()
        };
        for step in 0..1500 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(100) {
                0..=54 => {
                    let len = if rng.below(50) == 0 {
                        9000
                    } else {
                        rng.below(2500) as usize
                    };
                    let mut r = archived(0, len);
                    let got = s.writer.append(&mut r).unwrap();
                    let seq = m.next_seq;
                    m.next_seq += 1;
                    let fl = frame_len(r.len());
                    let used = m.tail - m.head;
                    if m.dropping && used < low {
                        m.dropping = false;
                    }
                    if !m.dropping && used >= high {
                        m.dropping = true;
                    }
                    let room = cap - m.tail % cap;
                    let need = if fl > room { room + fl } else { fl };
                    let want = if r.len() > 8 * 1024 {
                        Admit::Refused {
                            seq,
                            reason: DropReason::TooLarge,
                        }
                    } else if m.dropping {
                        Admit::Refused {
                            seq,
                            reason: DropReason::HighWater,
                        }
                    } else if used + need > cap {
                        Admit::Refused {
                            seq,
                            reason: DropReason::Full,
                        }
                    } else {
                        m.tail += need;
                        m.queue.push_back((seq, need, r.to_vec()));
                        Admit::Spooled { seq }
                    };
                    assert_eq!(got, want, "{ctx}");
                }
                55..=74 => {
                    let max = 1 + rng.below(30) as usize;
                    let got: Vec<(u64, Vec<u8>)> = s
                        .reader
                        .next_unsent(max, usize::MAX)
                        .map(|e| (e.seq, e.bytes.to_vec()))
                        .collect();
                    let want: Vec<(u64, Vec<u8>)> = m
                        .queue
                        .iter()
                        .skip(m.sent)
                        .take(max)
                        .map(|(q, _, b)| (*q, b.clone()))
                        .collect();
                    assert_eq!(got, want, "{ctx}");
                    m.sent += want.len();
                }
                75..=89 => {
                    if m.sent > 0 {
                        let k = rng.below(m.sent as u64) as usize;
                        let seq = m.queue[k].0;
                        let freed = s.reader.ack(seq).unwrap();
                        assert_eq!(freed, k as u64 + 1, "{ctx}");
                        for _ in 0..=k {
                            let (_, fl, _) = m.queue.pop_front().unwrap();
                            m.head += fl;
                        }
                        m.sent -= k + 1;
                        if m.queue.is_empty() {
                            m.head = m.tail;
                        }
                    }
                }
                90..=94 => {
                    s.reader.rewind_to_acked();
                    m.sent = 0;
                }
                _ => {
                    drop(s);
                    s = Spool::open(&p, &o).unwrap();
                    let r = &s.recovery;
                    assert_eq!(r.records, m.queue.len() as u64, "{ctx}");
                    assert_eq!((r.cut, r.next_seq), (None, m.next_seq), "{ctx}");
                    m.sent = 0;
                    m.dropping = false;
                }
            }
            let fill = (m.tail - m.head) as f64 / cap as f64;
            assert_eq!(s.writer.fill_ratio(), fill, "{ctx}");
        }
    }
}

#[test]
fn a_writer_and_a_shipper_on_two_threads_agree_on_every_record() {
    use std::sync::atomic::AtomicBool;
    let d = dir();
    let mut o = SpoolOptions::with_capacity(256 * 1024); // small: many laps, some drops
    o.high_water = 0.9;
    o.low_water = 0.5;
    let (mut w, mut r) = Spool::open(d.path().join("s"), &o).unwrap().split();
    const N: u64 = 60_000;
    let done = Arc::new(AtomicBool::new(false));
    let writer_done = done.clone();
    // The writer holds the shipper back for a while, so the ring surely fills past its
    // high watermark and refusals interleave with shipping however fast the machine is.
    let hold = Arc::new(AtomicBool::new(false));
    let held = hold.clone();
    let shipper = std::thread::spawn(move || {
        let (mut shipped, mut last) = (Vec::new(), 0u64);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if held.load(Ordering::Acquire) {
                std::thread::yield_now();
                continue;
            }
            let finished = done.load(Ordering::Acquire);
            let mut n = 0;
            for e in r.next_unsent(500, usize::MAX) {
                let a = record::access(e.bytes).expect("shipped records validate");
                assert_eq!(a.seq.to_native(), e.seq);
                assert!(e.seq > last, "in order, once");
                last = e.seq;
                shipped.push(e.seq);
                n += 1;
            }
            if n > 0 {
                r.ack(last).unwrap();
            } else if finished && !r.has_unsent() {
                break;
            } else {
                std::thread::yield_now();
            }
        }
        shipped
    });
    let mut refused = Vec::new();
    let mut rec = archived(0, 300);
    let t0 = std::time::Instant::now();
    for i in 0..N {
        // Mostly keep under the high watermark (so the ring laps with both threads busy),
        // but for a while not (so refusals interleave too).
        let pace = !(20_000..24_000).contains(&i);
        hold.store(!pace, Ordering::Release);
        while pace && w.fill_ratio() > 0.85 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::yield_now();
        }
        if let Admit::Refused { seq, .. } = w.append(&mut rec).unwrap() {
            refused.push(seq);
        }
    }
    writer_done.store(true, Ordering::Release);
    let mut all = shipper.join().unwrap();
    println!("{} shipped, {} refused", all.len(), refused.len());
    all.extend(&refused);
    all.sort();
    assert_eq!(
        all,
        (1..=N).collect::<Vec<_>>(),
        "each seq shipped or refused, once"
    );
    assert!(!refused.is_empty());
    assert_eq!(w.stats().snapshot().acked, N - refused.len() as u64);
}
