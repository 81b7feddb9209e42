//! The redb store on real files: filters agree across both index layouts, duplicates are
//! stored once, retention removes the oldest by size and by age, compaction runs.

use std::net::IpAddr;
use std::time::Duration;
use store::db::{Incoming, Indexes, Query, Retention, Store};
use store::record::{Action, Origin};
use store::wire::{Batch, BatchEncoder, Limits, HEADER_LEN};
use store::AlertRecord;

fn record(sensor: &str, seq: u64) -> AlertRecord {
    AlertRecord {
        sensor: sensor.into(),
        seq,
        ts_ns: 1_000_000 * (seq % 50) + seq,
        created_ns: 0,
        origin: Origin::Sensor,
        gid: 1,
        sid: 100 + (seq % 5) as u32,
        rev: 1,
        msg: "m".into(),
        class: String::new(),
        priority: 1,
        action: Action::Alert,
        flow_id: seq,
        src: if seq.is_multiple_of(2) {
            IpAddr::from([10, 1, (seq % 3) as u8, 9]).into()
        } else {
            "2001:db8::5".parse::<IpAddr>().unwrap().into()
        },
        dst: IpAddr::from([192, 0, 2, (seq % 4) as u8]).into(),
        src_port: 1,
        dst_port: 2,
        ip_proto: 17,
        icmp: None,
        vlan: vec![],
        tunnel: None,
        iface: String::new(),
        payload: vec![1; 100],
        packet: vec![2; 100],
        packet_len: 100,
    }
}

fn frame(sensor: &str, seqs: impl Iterator<Item = u64>) -> rkyv::util::AlignedVec<16> {
    let mut e = BatchEncoder::new();
    for s in seqs {
        e.push(s, &record(sensor, s).encode().unwrap());
    }
    let mut v = rkyv::util::AlignedVec::<16>::new();
    v.extend_from_slice(&e.frame()[HEADER_LEN..]);
    v
}

fn commit(store: &Store, sensor: &str, seqs: impl Iterator<Item = u64>) -> store::db::Committed {
    let f = frame(sensor, seqs);
    let batch = Batch::parse(&f, &Limits::default()).unwrap();
    store.commit(&[Incoming { sensor, batch }]).unwrap()
}

fn ids(store: &Store, q: Query) -> Vec<(String, u64)> {
    store
        .query(&q)
        .unwrap()
        .iter()
        .map(|a| {
            let r = a.record().unwrap();
            (r.sensor.to_string(), r.seq.to_native())
        })
        .collect()
}

#[test]
fn both_layouts_answer_every_filter_alike_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(&dir.path().join("a.redb"), Indexes::Covering).unwrap();
    let b = Store::open(&dir.path().join("b.redb"), Indexes::PerField).unwrap();
    for s in [&a, &b] {
        assert_eq!(commit(s, "x", 1..=200).stored, 200);
        assert_eq!(commit(s, "y", 1..=100).stored, 100);
        // A resend and new records in one batch: only the new ones are stored.
        let c = commit(s, "y", 90..=120);
        assert_eq!((c.stored, c.duplicates), (20, 11));
        assert_eq!(s.max_seq("y").unwrap(), Some(120));
        assert_eq!(s.max_seq("nobody").unwrap(), None);
    }
    let queries = [
        Query::default(),
        Query {
            sid: Some(102),
            ..Default::default()
        },
        Query {
            src: Some("10.1.0.0/16".parse().unwrap()),
            ..Default::default()
        },
        Query {
            src: Some("2001:db8::/32".parse().unwrap()),
            sid: Some(101),
            ..Default::default()
        },
        Query {
            dst: Some("192.0.2.3".parse().unwrap()),
            sensor: Some("y".into()),
            ..Default::default()
        },
        Query {
            since_ns: Some(10_000_000),
            until_ns: Some(20_000_000),
            ..Default::default()
        },
        Query {
            sid: Some(104),
            since_ns: Some(30_000_000),
            limit: 7,
            ..Default::default()
        },
        Query {
            sensor: Some("x".into()),
            limit: 5,
            ..Default::default()
        },
    ];
    for q in queries {
        let (ra, rb) = (ids(&a, q.clone()), ids(&b, q.clone()));
        assert_eq!(ra, rb, "{q:?}");
        // Check against a plain filter of what was committed.
        let mut want: Vec<(u64, String, u64)> = [("x", 200u64), ("y", 120)]
            .iter()
            .flat_map(|&(s, n)| (1..=n).map(move |i| (s, i)))
            .map(|(s, i)| (record(s, i), s))
            .filter(|(r, _)| {
                let (src, dst) = (r.src, r.dst);
                q.sid.is_none_or(|v| v == r.sid)
                    && q.since_ns.is_none_or(|v| r.ts_ns >= v)
                    && q.until_ns.is_none_or(|v| r.ts_ns < v)
                    && q.sensor.as_deref().is_none_or(|v| v == r.sensor)
                    && q.src.is_none_or(|c| c.contains_key(&key(&src)))
                    && q.dst.is_none_or(|c| c.contains_key(&key(&dst)))
            })
            .map(|(r, s)| (r.ts_ns, s.to_string(), r.seq))
            .collect();
        want.sort_by_key(|x| std::cmp::Reverse(x.0));
        if q.limit > 0 {
            want.truncate(q.limit);
        }
        let want: Vec<(String, u64)> = want.into_iter().map(|(_, s, q)| (s, q)).collect();
        let mut got_sorted = ra.clone();
        let mut want_sorted = want.clone();
        got_sorted.sort();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "{q:?}");
    }
}

/// Retention by age alone.
fn by_age(max_age: Duration) -> Retention {
    Retention {
        max_age: Some(max_age),
        max_bytes: None,
    }
}

fn key(a: &store::record::Addr) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = a.family;
    k[1..].copy_from_slice(&a.octets);
    k
}

#[test]
fn retention_removes_the_oldest_by_size_and_by_age_and_compaction_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("r.redb"), Indexes::PerField).unwrap();
    commit(&s, "x", 1..=100);
    commit(&s, "x", 101..=300);
    let (n, bytes) = s.counts().unwrap();
    assert_eq!(n, 300);
    let per = bytes / 300;
    let keep = Retention {
        max_age: None,
        max_bytes: Some(per * 120),
    };
    assert_eq!(
        s.enforce_retention(&keep, store::db::now_ns()).unwrap(),
        180
    );
    let left = ids(&s, Query::default());
    assert_eq!(left.len(), 120);
    assert!(left.iter().all(|(_, q)| *q > 180), "oldest went first");
    // Removed records leave no index entries behind.
    assert!(ids(
        &s,
        Query {
            sid: Some(100),
            ..Default::default()
        }
    )
    .iter()
    .all(|(_, q)| *q > 180));
    assert_eq!(s.max_seq("x").unwrap(), Some(300));
    // Nothing arrived a day ago; seen from a minute ahead, everything is older than zero.
    let day = by_age(Duration::from_secs(86_400));
    assert_eq!(s.enforce_retention(&day, store::db::now_ns()).unwrap(), 0);
    let zero = by_age(Duration::ZERO);
    assert_eq!(
        s.enforce_retention(&zero, store::db::now_ns() + 60_000_000_000)
            .unwrap(),
        120
    );
    assert_eq!(s.counts().unwrap(), (0, 0));
    s.compact().unwrap();
    // The store keeps working after compaction.
    assert_eq!(commit(&s, "x", 301..=310).stored, 10);
    assert_eq!(ids(&s, Query::default()).len(), 10);
}

#[test]
fn a_store_held_by_one_process_is_reported_busy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("busy.redb");
    let _held = Store::open(&p, Indexes::Covering).unwrap();
    let err = Store::open(&p, Indexes::Covering)
        .err()
        .expect("second open must fail");
    assert!(matches!(err, store::db::StoreError::Busy(_)), "{err}");
}

/// (sensor, seq) of every alert held, by asking for all of them newest first.
fn held(store: &Store) -> Vec<(String, u64)> {
    let mut v = ids(store, Query::default());
    v.sort();
    v
}

fn seqs(sensor: &str, s: impl IntoIterator<Item = u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = s.into_iter().map(|q| (sensor.to_string(), q)).collect();
    v.sort();
    v
}

#[test]
fn duplicates_are_found_across_segments_and_in_a_resend_that_overlaps_partly() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("d.redb"), Indexes::Covering).unwrap();
    // 200 records: segments of 64, 64, 64 and 8.
    assert_eq!(commit(&s, "x", 1..=200).stored, 200);
    // Overlaps the third and fourth segments partly, then goes past everything held.
    let c = commit(&s, "x", 150..=260);
    assert_eq!((c.stored, c.duplicates), (60, 51));
    // Everything again, with 40 new at the end.
    let c = commit(&s, "x", 1..=300);
    assert_eq!((c.stored, c.duplicates), (40, 260));
    // Two batches of one sensor in one commit, the second repeating part of the first.
    let (f1, f2) = (frame("x", 301..=340), frame("x", 320..=350));
    let c = s
        .commit(&[
            Incoming {
                sensor: "x",
                batch: Batch::parse(&f1, &Limits::default()).unwrap(),
            },
            Incoming {
                sensor: "x",
                batch: Batch::parse(&f2, &Limits::default()).unwrap(),
            },
        ])
        .unwrap();
    assert_eq!((c.stored, c.duplicates), (50, 21));
    // Another sensor's seqs are its own.
    assert_eq!(commit(&s, "y", 100..=110).stored, 11);
    assert_eq!(s.max_seq("x").unwrap(), Some(350));
    assert_eq!(s.max_seq("y").unwrap(), Some(110));
    let mut want = seqs("x", 1..=350);
    want.extend(seqs("y", 100..=110));
    want.sort();
    assert_eq!(held(&s), want);
    assert_eq!(s.counts().unwrap().0, 361);
    // Ids are consecutive in commit order across segment boundaries, and `max` holds.
    assert_eq!(s.last_id().unwrap(), 361);
    let some = s.alerts_in(60, 130, 10).unwrap();
    assert_eq!(
        some.iter().map(|a| a.id).collect::<Vec<_>>(),
        (60..70).collect::<Vec<_>>()
    );
    let all = s.alerts_in(1, 361, 1000).unwrap();
    assert_eq!(all.len(), 361);
    for (i, a) in all.iter().enumerate() {
        assert_eq!(a.id, i as u64 + 1);
        let r = a.record().unwrap();
        let want = if a.id <= 350 {
            ("x", a.id)
        } else {
            ("y", a.id - 351 + 100)
        };
        assert_eq!((r.sensor.as_str(), r.seq.to_native()), want, "id {}", a.id);
    }
}

#[test]
fn a_hole_inside_a_held_segments_seq_span_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("h.redb"), Indexes::PerField).unwrap();
    // Odd seqs 1..=127: one segment whose seq span [1, 127] has 63 holes.
    let odd = (0..64).map(|i| 2 * i + 1);
    assert_eq!(commit(&s, "x", odd.clone()).stored, 64);
    // 1..=10: the evens are holes (stored), the odds are held.
    let c = commit(&s, "x", 1..=10);
    assert_eq!((c.stored, c.duplicates), (5, 5));
    // Again: now all held, the evens in their own segments nested in the first's span.
    let c = commit(&s, "x", 1..=10);
    assert_eq!((c.stored, c.duplicates), (0, 10));
    // The last BY_SEQ row now starts at 10 but the highest held is still 127.
    assert_eq!(s.max_seq("x").unwrap(), Some(127));
    // A hole next to a filled one, and seqs past everything.
    let c = commit(&s, "x", [11, 12, 13, 126, 127, 128, 129].into_iter());
    assert_eq!((c.stored, c.duplicates), (4, 3));
    // Below the highest held but in no segment's span: stored, then held.
    assert_eq!(commit(&s, "x", 200..=201).stored, 2);
    let c = commit(&s, "x", [150, 199, 200].into_iter());
    assert_eq!((c.stored, c.duplicates), (2, 1));
    let c = commit(&s, "x", [150, 199].into_iter());
    assert_eq!((c.stored, c.duplicates), (0, 2));
    assert_eq!(s.max_seq("x").unwrap(), Some(201));
    let mut want: Vec<u64> = odd.collect();
    want.extend([2, 4, 6, 8, 10, 12, 126, 128, 129, 200, 201, 150, 199]);
    assert_eq!(held(&s), seqs("x", want.iter().copied()));
    assert_eq!(s.counts().unwrap().0, want.len() as u64);
    // A hole's record is found by id and by the per-field indexes like any other.
    assert_eq!(
        ids(
            &s,
            Query {
                sid: Some(100 + (126 % 5) as u32),
                since_ns: Some(record("x", 126).ts_ns),
                until_ns: Some(record("x", 126).ts_ns + 1),
                ..Default::default()
            }
        ),
        vec![("x".to_string(), 126)]
    );
}

#[test]
fn retention_removes_whole_segments_and_their_index_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.redb");
    let s = Store::open(&path, Indexes::PerField).unwrap();
    // Segments: ids 1-64, 65-100 (first commit), 101-150 (second).
    commit(&s, "x", 1..=100);
    commit(&s, "x", 101..=150);
    let (_, bytes) = s.counts().unwrap();
    let per = bytes / 150;
    // Down to 86 records: exactly the first segment goes.
    let r = Retention {
        max_age: None,
        max_bytes: Some(per * 86),
    };
    assert_eq!(s.enforce_retention(&r, store::db::now_ns()).unwrap(), 64);
    assert_eq!(s.counts().unwrap(), (86, per * 86));
    assert!(s.alerts_in(1, 64, 100).unwrap().is_empty());
    let left: Vec<u64> = s
        .alerts_in(1, 150, 1000)
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(left, (65..=150).collect::<Vec<_>>());
    // Down to 80: the next segment loses its first 6 and keeps the rest.
    let r = Retention {
        max_age: None,
        max_bytes: Some(per * 80),
    };
    assert_eq!(s.enforce_retention(&r, store::db::now_ns()).unwrap(), 6);
    assert_eq!(held(&s), seqs("x", 71..=150));
    // The removed seqs are no longer held, so they would be stored again; the kept ones
    // of the shortened segment still are.
    let c = commit(&s, "x", 69..=72);
    assert_eq!((c.stored, c.duplicates), (2, 2));
    // Everything that arrived before a minute from now is too old: all segments go.
    let zero = by_age(Duration::ZERO);
    assert_eq!(
        s.enforce_retention(&zero, store::db::now_ns() + 60_000_000_000)
            .unwrap(),
        82
    );
    assert_eq!(s.counts().unwrap(), (0, 0));
    assert_eq!(s.max_seq("x").unwrap(), None);
    assert_eq!(s.last_id().unwrap(), 152, "ids are never reused");
    drop(s);
    // No index row of a removed alert is left in the file.
    let raw = redb::Database::open(&path).unwrap();
    let tx = raw.begin_read().unwrap();
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    let n = |name: &str| {
        tx.open_untyped_table(TableDefinition::<u64, ()>::new(name))
            .unwrap()
            .len()
            .unwrap()
    };
    for t in [
        "segments",
        "seq_segments",
        "by_time",
        "by_sid",
        "by_src",
        "by_dst",
    ] {
        assert_eq!(n(t), 0, "{t}");
    }
}

#[test]
fn a_store_of_the_older_layout_is_refused_with_a_clear_error() {
    use redb::{ReadableDatabase, TableDefinition};
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
    const BY_SEQ: TableDefinition<u128, u64> = TableDefinition::new("by_seq");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    // What the per-alert layout wrote: layout and counters in META, a row per alert.
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(META).unwrap();
            meta.insert("layout", 0).unwrap();
            meta.insert("next_id", 2).unwrap();
            meta.insert("bytes", 3).unwrap();
            tx.open_table(ALERTS)
                .unwrap()
                .insert(1, [1u8, 2, 3].as_slice())
                .unwrap();
            tx.open_table(BY_SEQ)
                .unwrap()
                .insert((1u128 << 64) | 7, 1)
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let err = Store::open(&path, Indexes::Covering)
        .err()
        .expect("an old layout must be refused");
    assert!(
        matches!(
            err,
            store::db::StoreError::OldLayout {
                found: 1,
                want: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    for part in ["older tidewatch", "layout 1", "move it aside", "old.redb"] {
        assert!(msg.contains(part), "{part:?} not in {msg:?}");
    }
    // Refused, not changed: still the old file.
    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    assert!(tx
        .open_table(META)
        .unwrap()
        .get("format")
        .unwrap()
        .is_none());
    assert!(tx.open_table(ALERTS).unwrap().get(1).unwrap().is_some());
    drop((tx, db));
    // A store of this layout opens again as itself.
    let fresh = dir.path().join("new.redb");
    commit(&Store::open(&fresh, Indexes::Covering).unwrap(), "x", 1..=3);
    let again = Store::open(&fresh, Indexes::PerField).unwrap();
    assert_eq!(again.indexes(), Indexes::Covering);
    assert_eq!(again.counts().unwrap().0, 3);
}
