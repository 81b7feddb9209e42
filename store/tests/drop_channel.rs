//! The drop channel with a real bound unix datagram reader, without one, and with one
//! that stops reading; and the outbox (spool + drop channel) past its high watermark:
//! every alert is either in the spool or handed on exactly once, and counted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use store::drop_channel::{parse_drop_file, read_drop_file, Delivered, DropChannel, DropListener};
use store::outbox::{Outbox, Outcome};
use store::spool::{DropReason, Spool, SpoolOptions, SpoolStats};
use store::testkit::archived;

fn seq_of(r: &store::drop_channel::DropRecord) -> u64 {
    r.access().unwrap().seq.to_native()
}

#[test]
fn a_listening_notifier_gets_the_alert_and_a_missing_one_gets_the_file() {
    let d = tempfile::tempdir().unwrap();
    let (sock, file) = (d.path().join("drop.sock"), d.path().join("drop.log"));
    let stats = Arc::new(SpoolStats::default());
    let mut ch = DropChannel::new(&sock, &file, stats.clone()).unwrap();
    let mut rec = archived(0, 512);
    store::spool::stamp_seq(&mut rec, 41).unwrap();

    // No one listens: the file takes it.
    assert_eq!(
        ch.deliver(&rec, 41, DropReason::HighWater).unwrap(),
        Delivered::File
    );
    // A notifier binds the socket: it gets the next one.
    let mut l = DropListener::bind(&sock).unwrap();
    store::spool::stamp_seq(&mut rec, 42).unwrap();
    assert_eq!(
        ch.deliver(&rec, 42, DropReason::Full).unwrap(),
        Delivered::Socket
    );
    let got = l.recv(Duration::from_secs(5)).unwrap();
    assert_eq!((seq_of(&got), got.reason), (42, DropReason::Full));
    assert_eq!(got.access().unwrap().payload.len(), 512);
    // It goes away (its socket file is removed): back to the file.
    drop(l);
    store::spool::stamp_seq(&mut rec, 43).unwrap();
    assert_eq!(
        ch.deliver(&rec, 43, DropReason::TooLarge).unwrap(),
        Delivered::File
    );

    let f = read_drop_file(&file).unwrap();
    let seqs: Vec<(u64, DropReason)> = f.records.iter().map(|r| (seq_of(r), r.reason)).collect();
    assert_eq!(
        seqs,
        vec![(41, DropReason::HighWater), (43, DropReason::TooLarge)]
    );
    assert_eq!((f.skipped_bytes, f.first_error), (0, None));
    let st = stats.snapshot();
    assert_eq!(
        (st.drop_to_socket, st.drop_to_file, st.drop_lost),
        (1, 2, 0)
    );
}

#[test]
fn a_notifier_that_stops_reading_sends_the_overflow_to_the_file() {
    let d = tempfile::tempdir().unwrap();
    let (sock, file) = (d.path().join("drop.sock"), d.path().join("drop.log"));
    let stats = Arc::new(SpoolStats::default());
    let mut ch = DropChannel::new(&sock, &file, stats.clone()).unwrap();
    let mut l = DropListener::bind(&sock).unwrap();
    let mut rec = archived(0, 1000);
    let mut where_ = vec![];
    for seq in 1..=2000u64 {
        store::spool::stamp_seq(&mut rec, seq).unwrap();
        where_.push(ch.deliver(&rec, seq, DropReason::HighWater).unwrap());
    }
    let to_sock = where_.iter().filter(|w| **w == Delivered::Socket).count();
    assert!(
        to_sock > 0 && to_sock < 2000,
        "the socket's queue fills: {to_sock}"
    );
    let mut seen = BTreeSet::new();
    for _ in 0..to_sock {
        assert!(seen.insert(seq_of(&l.recv(Duration::from_secs(5)).unwrap())));
    }
    for r in read_drop_file(&file).unwrap().records {
        assert!(seen.insert(seq_of(&r)), "delivered twice");
    }
    assert_eq!(seen, (1..=2000).collect(), "each once, none lost");
    let st = stats.snapshot();
    assert_eq!(st.drop_to_socket + st.drop_to_file, 2000);
}

#[test]
fn a_torn_or_damaged_drop_file_still_yields_every_whole_frame() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("drop.log");
    let mut ch = DropChannel::new(d.path().join("none.sock"), &file, Arc::default()).unwrap();
    for seq in 1..=5 {
        let mut rec = archived(0, 100);
        store::spool::stamp_seq(&mut rec, seq).unwrap();
        ch.deliver(&rec, seq, DropReason::HighWater).unwrap();
    }
    let bytes = std::fs::read(&file).unwrap();
    let one = bytes.len() / 5;
    // Damage the second frame's payload and tear the last one.
    let mut b = bytes.clone();
    b[one + 40] ^= 0xff;
    b.truncate(bytes.len() - 7);
    let f = parse_drop_file(&b);
    let seqs: Vec<u64> = f.records.iter().map(seq_of).collect();
    assert_eq!(seqs, vec![1, 3, 4]);
    assert_eq!(f.skipped_bytes as usize, one + (one - 7));
    assert!(f.first_error.is_some());
    // Random garbage is refused without panicking.
    let g: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(parse_drop_file(&g).records.is_empty());
}

#[test]
fn past_the_high_watermark_every_alert_is_spooled_or_handed_on_exactly_once() {
    let d = tempfile::tempdir().unwrap();
    let stats = Arc::new(SpoolStats::default());
    let o = SpoolOptions {
        capacity: 256 * 1024,
        high_water: 0.6,
        low_water: 0.3,
        ship_only_synced: false,
        ..SpoolOptions::default()
    };
    let spool = Spool::open_with_stats(d.path().join("spool"), &o, stats.clone()).unwrap();
    let (writer, mut reader) = spool.split();
    let (sock, file) = (d.path().join("drop.sock"), d.path().join("drop.log"));
    let mut out = Outbox::new(
        writer,
        DropChannel::new(&sock, &file, stats.clone()).unwrap(),
    );
    let mut l = DropListener::bind(&sock).unwrap();
    let (mut spooled, mut on_sock, mut to_file) = (BTreeSet::new(), BTreeSet::new(), 0);
    let n = 3000u64;
    for i in 0..n {
        if i == n / 2 {
            // The notifier goes away half way.
            while let Some(r) = l.try_recv().unwrap() {
                on_sock.insert(seq_of(&r));
            }
            l = DropListener::bind(d.path().join("elsewhere.sock")).unwrap();
        }
        // Drain on_sock as we go so the socket queue never overflows.
        while let Some(r) = l.try_recv().unwrap() {
            on_sock.insert(seq_of(&r));
        }
        let mut rec = archived(0, 512);
        match out.submit(&mut rec).unwrap() {
            Outcome::Spooled { seq } => assert!(spooled.insert(seq)),
            Outcome::Dropped {
                to: Delivered::File,
                ..
            } => to_file += 1,
            Outcome::Dropped { .. } => {}
        }
        // A slow shipper: acknowledges a little now and then.
        if i % 97 == 0 {
            let last = reader.next_unsent(5, usize::MAX).map(|e| e.seq).last();
            if let Some(s) = last {
                reader.ack(s).unwrap();
            }
        }
    }
    let file_seqs: BTreeSet<u64> = read_drop_file(&file)
        .unwrap()
        .records
        .iter()
        .map(seq_of)
        .collect();
    assert_eq!(file_seqs.len(), to_file);
    assert!(!on_sock.is_empty() && to_file > 0, "both ways were used");
    let mut all = spooled.clone();
    for s in on_sock.iter().chain(&file_seqs) {
        assert!(all.insert(*s), "seq {s} placed twice");
    }
    assert_eq!(all, (1..=n).collect(), "every seq is accounted for");
    let st = stats.snapshot();
    assert_eq!(st.appended, spooled.len() as u64);
    assert_eq!(st.dropped(), st.drop_to_socket + st.drop_to_file);
    assert_eq!(st.appended + st.dropped(), n);
    assert!(st.dropped_high_water > 0);
    println!(
        "spooled {}, to socket {}, to file {}",
        spooled.len(),
        on_sock.len(),
        to_file
    );
}
