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
    let day = Retention {
        max_age: Some(Duration::from_secs(86_400)),
        max_bytes: None,
    };
    assert_eq!(s.enforce_retention(&day, store::db::now_ns()).unwrap(), 0);
    let zero = Retention {
        max_age: Some(Duration::ZERO),
        max_bytes: None,
    };
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
