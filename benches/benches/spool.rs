//! Alert delivery on the sensor: appending archived alerts (512-byte payloads) to the
//! memory-mapped spool in batches, with the shipper taking and acknowledging each batch
//! so the ring keeps turning; a bare copy-and-crc into memory as the floor; and the rkyv
//! costs around it (encode into a reused buffer, validated access, stamping the seq).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use store::spool::{stamp_seq, Admit, Spool, SpoolOptions};
use store::testkit::{alert, archived};

const PAYLOAD: usize = 512;

fn spool(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let mut g = c.benchmark_group("spool");
    let rec = archived(0, PAYLOAD);
    println!(
        "archived alert with a {PAYLOAD}-byte payload: {} bytes",
        rec.len()
    );
    // tmpfs isolates the spool's own cost from the disk's (page faults after writeback,
    // msync).
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    for (name, only_synced, batches, dir) in [
        ("append_ack", false, &[1usize, 64, 1024][..], dir.path()),
        (
            "append_ack_ship_synced",
            true,
            &[1, 64, 1024][..],
            dir.path(),
        ),
        ("append_ack_tmpfs", false, &[64][..], shm.path()),
    ] {
        for &batch in batches {
            let path = dir.join(format!("{name}-{batch}"));
            let opts = SpoolOptions {
                capacity: 64 << 20,
                ship_only_synced: only_synced,
                ..SpoolOptions::default()
            };
            let mut s = Spool::open(&path, &opts).unwrap();
            let mut r = rec.clone();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(format!("{name}/{batch}"), |b| {
                b.iter(|| {
                    for _ in 0..batch {
                        s.writer.append(&mut r).unwrap();
                    }
                    let last = s
                        .reader
                        .next_unsent(usize::MAX, usize::MAX)
                        .map(|e| e.seq)
                        .last();
                    s.reader.ack(last.unwrap()).unwrap()
                })
            });
        }
    }
    // Both threads as on a sensor: the output thread appends (holding back at 80% fill so
    // nothing is refused) while the shipper takes only msynced records and acknowledges
    // them; timed until every record is acknowledged. This is the sustained rate at which
    // alerts become durable against power loss and leave the spool.
    let path = dir.path().join("pipeline");
    let (mut w, mut r) = Spool::open(&path, &SpoolOptions::with_capacity(64 << 20))
        .unwrap()
        .split();
    let mut rec2 = rec.clone();
    g.throughput(Throughput::Elements(1));
    g.bench_function("pipeline_durable", |b| {
        b.iter_custom(|iters| {
            let t0 = std::time::Instant::now();
            let first = w.next_seq();
            let last = first + iters - 1;
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    while r.acked_seq() < last {
                        let l = r.next_unsent(4096, usize::MAX).map(|e| e.seq).last();
                        match l {
                            Some(l) => {
                                r.ack(l).unwrap();
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                });
                for _ in 0..iters {
                    while w.fill_ratio() > 0.8 {
                        std::thread::yield_now();
                    }
                    assert!(matches!(
                        w.append(&mut rec2).unwrap(),
                        Admit::Spooled { .. }
                    ));
                }
            });
            t0.elapsed()
        })
    });
    drop((w, r));
    // The baseline: a bare memmap2 ring on the same disk, length + crc32c per record and
    // an inline msync every 1,000 (how MACHINE-FACTS measured 327k records/s).
    let path = dir.path().join("bare-ring");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.set_len(64 << 20).unwrap();
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    map.fill(0);
    map.flush().unwrap();
    let (mut at, mut n) = (0usize, 0u32);
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare_mmap_ring/1", |b| {
        b.iter(|| {
            let len = 8 + rec.len();
            if at + len > map.len() {
                at = 0;
            }
            map[at + 8..at + len].copy_from_slice(&rec);
            let crc = crc32c::crc32c(&rec);
            map[at..at + 4].copy_from_slice(&(rec.len() as u32).to_le_bytes());
            map[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
            at += len.next_multiple_of(16);
            n += 1;
            if n % 1000 == 0 {
                map.flush_range(0, map.len()).unwrap();
            }
        })
    });
    // The floor: what one append must do at least (copy into a ring in memory, crc32c).
    let mut ring = vec![0u8; 64 << 20];
    let mut at = 0usize;
    g.throughput(Throughput::Elements(1));
    g.bench_function("copy_crc_floor/1", |b| {
        b.iter(|| {
            if at + rec.len() > ring.len() {
                at = 0;
            }
            ring[at..at + rec.len()].copy_from_slice(&rec);
            let crc = crc32c::crc32c(&ring[at..at + rec.len()]);
            at += rec.len().next_multiple_of(16);
            crc
        })
    });
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let a = alert(1, PAYLOAD);
    let mut buf = Some(a.encode().unwrap());
    g.bench_function("encode_into", |b| {
        b.iter(|| {
            let out = a.encode_into(buf.take().unwrap()).unwrap();
            let n = out.len();
            buf = Some(out);
            n
        })
    });
    let bytes = a.encode().unwrap();
    g.bench_function("access_validated", |b| {
        b.iter(|| store::record::access(&bytes).unwrap().sid.to_native())
    });
    g.bench_function("stamp_seq", |b| {
        b.iter_batched_ref(
            || bytes.clone(),
            |r| stamp_seq(r, 7).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, spool, record);
criterion_main!(benches);
