//! The collector's inputs with real components: Suricata itself (when installed) and a
//! producer writing Suricata's EVE lines to our datagram and stream sockets, a `/bin/sh`
//! script writing to the FIFO, a tailed eve.json that is appended, restarted over and
//! rotated, and the watermark of the inputs that cannot be held back. Every check reads
//! the store (or the drop channel), not just counters.

mod common;

use common::{scratch_dir, wait_for};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use store::collector::{Collector, CollectorConfig};
use store::db::{Indexes, Query, Store};
use store::input::position::Position;
use store::input::{InputConfig, InputStats, Kind, Reject};
use store::record::Origin;
use store::AlertRecord;

/// A collector (library, plain TCP on loopback) with inputs, on its own runtime.
struct Rig {
    rt: tokio::runtime::Runtime,
    store: Arc<Store>,
    col: Option<Collector>,
}

impl Rig {
    fn start(dir: &Path, inputs: Vec<InputConfig>) -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = Arc::new(Store::open(&dir.join("alerts.redb"), Indexes::Covering).unwrap());
        Rig::start_with(rt, store, inputs)
    }

    fn start_with(rt: tokio::runtime::Runtime, store: Arc<Store>, inputs: Vec<InputConfig>) -> Rig {
        let mut cfg = CollectorConfig::new("127.0.0.1:0", None);
        cfg.inputs = inputs;
        let col = rt.block_on(Collector::start(cfg, store.clone())).unwrap();
        Rig {
            rt,
            store,
            col: Some(col),
        }
    }

    fn col(&self) -> &Collector {
        self.col.as_ref().unwrap()
    }

    fn input(&self, name: &str) -> Arc<InputStats> {
        self.col()
            .stats
            .inputs
            .get()
            .unwrap()
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .clone()
    }

    /// Stops the collector (its inputs finish what they hold); keeps the store.
    fn stop(mut self) -> (tokio::runtime::Runtime, Arc<Store>) {
        let col = self.col.take().unwrap();
        self.rt.block_on(col.shutdown());
        (self.rt, self.store)
    }

    /// Stored records of `sensor`, oldest first.
    fn stored(&self, sensor: &str) -> Vec<AlertRecord> {
        stored_in(&self.store, sensor)
    }
}

fn stored_in(store: &Store, sensor: &str) -> Vec<AlertRecord> {
    let q = Query {
        sensor: Some(sensor.into()),
        ..Query::default()
    };
    let mut v: Vec<AlertRecord> = store
        .query(&q)
        .unwrap()
        .iter()
        .map(|a| store::record::decode(&a.bytes).unwrap())
        .collect();
    v.sort_by_key(|r| r.seq);
    v
}

/// A Suricata-style alert record, as a producer would log it.
fn suricata_alert(i: u32) -> AlertRecord {
    AlertRecord {
        sensor: "suricata-host".into(),
        sid: 2_100_000 + i,
        rev: 3,
        msg: format!("ET TEST alert number {i}"),
        class: "Attempted Information Leak".into(),
        priority: 2,
        src: IpAddr::from([198, 51, 100, (i % 250) as u8]).into(),
        dst: "2001:db8::7".parse::<IpAddr>().unwrap().into(),
        src_port: 1024 + i as u16,
        dst_port: 443,
        ip_proto: 6,
        vlan: vec![100],
        tunnel: None,
        payload: format!("payload of alert {i}").into_bytes(),
        packet: vec![0x45, i as u8, 0, 40],
        packet_len: 4,
        ..common::sample_record(u64::from(i) + 1)
    }
}

/// The EVE line our formatter writes for `r` (Suricata's field names and order).
fn eve_line(r: &AlertRecord) -> String {
    let bytes = r.encode().unwrap();
    store::eve::record_eve(store::record::access(&bytes).unwrap()).to_string()
}

/// Checks a stored record against the alert it came from: every field EVE carries.
fn assert_same_alert(got: &AlertRecord, want: &AlertRecord, sensor: &str, iface: &str) {
    assert_eq!(got.sensor, sensor);
    assert_eq!(got.origin, Origin::SuricataEve);
    assert_eq!(
        (got.sid, got.gid, got.rev, got.priority),
        (want.sid, want.gid, want.rev, want.priority)
    );
    assert_eq!((&got.msg, &got.class), (&want.msg, &want.class));
    assert_eq!((got.src, got.dst), (want.src, want.dst));
    assert_eq!(
        (got.src_port, got.dst_port, got.ip_proto),
        (want.src_port, want.dst_port, want.ip_proto)
    );
    assert_eq!(
        got.ts_ns / 1000,
        want.ts_ns / 1000,
        "EVE keeps microseconds"
    );
    assert_eq!((&got.payload, &got.packet), (&want.payload, &want.packet));
    assert_eq!((&got.vlan, got.flow_id), (&want.vlan, want.flow_id));
    assert_eq!(got.iface, iface);
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn eve_producer_datagram_and_stream_sockets_store_alerts() {
    let dir = scratch_dir("inputs-eve-sockets");
    let dgram_path = dir.join("eve-dgram.sock");
    let stream_path = dir.join("eve-stream.sock");
    let mut d = InputConfig::new("dg", Kind::EveSocket, &dgram_path);
    d.mode = Some("0620".into());
    let mut s = InputConfig::new("st", Kind::EveSocket, &stream_path);
    s.datagram = Some(false);
    s.mode = Some("0660".into());
    let rig = Rig::start(&dir, vec![d, s]);
    assert_eq!(mode_of(&dgram_path), 0o620);
    assert_eq!(mode_of(&stream_path), 0o660);

    // Datagrams: 30 alerts, a flow event, a stats event, a malformed one, then a good one.
    let alerts: Vec<AlertRecord> = (0..60).map(suricata_alert).collect();
    let tx = UnixDatagram::unbound().unwrap();
    for a in &alerts[..30] {
        tx.send_to(eve_line(a).as_bytes(), &dgram_path).unwrap();
    }
    let flow = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP","flow":{"pkts_toserver":3}}"#;
    let stats = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"stats","stats":{"uptime":5}}"#;
    tx.send_to(flow.as_bytes(), &dgram_path).unwrap();
    tx.send_to(stats.as_bytes(), &dgram_path).unwrap();
    tx.send_to(b"{\"event_type\":\"alert\",\"timestamp\":", &dgram_path)
        .unwrap();
    tx.send_to(eve_line(&alerts[30]).as_bytes(), &dgram_path)
        .unwrap();

    // Stream: two writers at once, newline-delimited, lines split across writes; one
    // line with an address that is not one, then good lines again.
    let lines: Vec<String> = alerts[31..].iter().map(eve_line).collect();
    let (a, b) = lines.split_at(15);
    let writers: Vec<_> = [a.to_vec(), b.to_vec()]
        .into_iter()
        .enumerate()
        .map(|(w, mine)| {
            let path = stream_path.clone();
            std::thread::spawn(move || {
                let mut c = UnixStream::connect(&path).unwrap();
                for (i, l) in mine.iter().enumerate() {
                    let (x, y) = l.split_at(l.len() / 2);
                    c.write_all(x.as_bytes()).unwrap();
                    c.write_all(format!("{y}\n").as_bytes()).unwrap();
                    if w == 0 && i == 3 {
                        c.write_all(b"{\"event_type\":\"alert\",\"timestamp\":\"2024-01-01T00:00:00Z\",\"src_ip\":\"10.1.1.300\",\"dest_ip\":\"10.0.0.1\",\"proto\":\"TCP\",\"alert\":{\"signature_id\":9}}\n").unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }

    wait_for("31 datagram alerts stored", 20, || {
        rig.stored("eve:dg").len() == 31
    });
    wait_for("29 stream alerts stored", 20, || {
        rig.stored("eve:st").len() == 29
    });
    let got = rig.stored("eve:dg");
    for (g, w) in got.iter().zip(&alerts[..31]) {
        assert_same_alert(g, w, "eve:dg", "eth0");
    }
    let mut got = rig.stored("eve:st");
    got.sort_by_key(|r| r.sid);
    for (g, w) in got.iter().zip(&alerts[31..]) {
        assert_same_alert(g, w, "eve:st", "eth0");
    }
    let dg = rig.input("dg");
    assert_eq!(dg.received.load(Relaxed), 34);
    assert_eq!(
        dg.ignored.load(Relaxed),
        2,
        "flow and stats events are ignored"
    );
    assert_eq!(dg.rejected(Reject::NotJson), 1, "the cut datagram");
    wait_for("datagram commits counted", 10, || {
        dg.committed.load(Relaxed) == 31
    });
    let st = rig.input("st");
    assert_eq!(st.rejected(Reject::BadField), 1, "the bad address");
    assert_eq!(st.received.load(Relaxed), 30);
    wait_for("stream commits counted", 10, || {
        st.committed.load(Relaxed) == 29
    });
    rig.stop();
    assert!(
        !dgram_path.exists() && !stream_path.exists(),
        "sockets removed at stop"
    );
}

/// Real Suricata replays the golden pcap with its EVE output set to our socket, once as
/// unix_dgram and once as unix_stream; what we store equals what Suricata reported for
/// that pcap (the golden reference: timestamp, sid, addresses, ports of every alert).
/// `.ci/install-deps` installs Suricata; without it this test fails at its first run.
#[test]
fn suricata_writes_eve_to_our_datagram_and_stream_sockets() {
    let dir = scratch_dir("inputs-suricata");
    let pcap = dir.join("golden.pcap");
    xtask::golden::write_golden_pcap(&pcap).unwrap();
    // Suricata writes IPv6 in full (2001:0db8:0001:...); compare addresses, not text.
    let canon = |s: &str| s.parse::<IpAddr>().unwrap().to_string();
    let mut expected = xtask::golden::read_expected_alerts().unwrap();
    for t in &mut expected {
        t.src_ip = canon(&t.src_ip);
        t.dest_ip = canon(&t.dest_ip);
    }
    expected.sort();
    let rules = xtask::golden::rules_path();
    let yaml = PathBuf::from(xtask::golden::SURICATA_YAML_PATH);
    let (dpath, spath) = (dir.join("d.sock"), dir.join("s.sock"));
    let mut s = InputConfig::new("s", Kind::EveSocket, &spath);
    s.datagram = Some(false);
    let rig = Rig::start(
        &dir,
        vec![InputConfig::new("d", Kind::EveSocket, &dpath), s],
    );
    for (name, path, filetype) in [("d", &dpath, "unix_dgram"), ("s", &spath, "unix_stream")] {
        let run = xtask::suricata::run_with(
            &pcap,
            &rules,
            &yaml,
            false,
            &[
                "outputs.0.eve-log.enabled=yes",
                &format!("outputs.0.eve-log.filetype={filetype}"),
                &format!("outputs.0.eve-log.filename={}", path.display()),
            ],
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&run.log_dir);
        let sensor = format!("eve:{name}");
        wait_for(&format!("Suricata's {filetype} alerts"), 30, || {
            rig.stored(&sensor).len() >= expected.len()
        });
        let got = rig.stored(&sensor);
        let mut tuples: Vec<xtask::suricata::AlertTuple> = got
            .iter()
            .map(|r| xtask::suricata::AlertTuple {
                timestamp: store::eve::eve_timestamp(r.ts_ns),
                sid: r.sid.into(),
                src_ip: r.src.to_ip().unwrap().to_string(),
                src_port: r.src_port,
                dest_ip: r.dst.to_ip().unwrap().to_string(),
                dest_port: r.dst_port,
            })
            .collect();
        tuples.sort();
        assert_eq!(
            tuples, expected,
            "{filetype}: stored alerts equal Suricata's"
        );
        assert_eq!(rig.input(name).ignored.load(Relaxed), 0);
        assert!(got
            .iter()
            .all(|r| r.origin == Origin::SuricataEve && !r.msg.is_empty()));
        assert!(
            got.iter().any(|r| !r.payload.is_empty()) && got.iter().all(|r| !r.packet.is_empty())
        );
        assert_eq!(rig.input(name).rejected(Reject::NotJson), 0);
    }
    rig.stop();
}

/// Runs a `/bin/sh` script with `$1` = `path` (a host script writing to the FIFO).
fn sh(script: &str, path: &Path) {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", script, "sh"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A FIFO input at `path` with umask 0117 (so mode 0660).
fn fifo_input(name: &str, path: &Path) -> InputConfig {
    let mut f = InputConfig::new(name, Kind::Fifo, path);
    f.umask = Some("0117".into());
    f
}

#[test]
fn shell_script_writes_fifo_lines_triggered_and_normal() {
    let dir = scratch_dir("inputs-fifo");
    let fifo = dir.join("alerts.fifo");
    let rig = Rig::start(&dir, vec![fifo_input("host", &fifo)]);
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    let stat = std::process::Command::new("stat")
        .args(["-c", "%a %F"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stat.stdout).trim(), "660 fifo");
    // Three separate writers (each `>` opens and closes the FIFO): the input reopens.
    let script = r#"
set -e
printf '2|disk /var almost full\n' > "$1"
printf '{"level": 1, "message": "door opened", "source": "door-sensor", "data": {"room": 4}}\n{"level": 1, "message": "door closed", "state": "normal", "source": "door-sensor"}\n' > "$1"
printf 'no level here\n7|after the bad line\n' > "$1"
"#;
    sh(script, &fifo);
    wait_for("4 FIFO alerts stored", 20, || {
        rig.stored("fifo:host").len() == 4
    });
    let got = rig.stored("fifo:host");
    let view: Vec<(u8, &str, &str, &str, &[u8])> = got
        .iter()
        .map(|r| {
            (
                r.priority,
                r.msg.as_str(),
                r.class.as_str(),
                r.iface.as_str(),
                r.payload.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            (
                2,
                "disk /var almost full",
                "state triggered",
                "host",
                &b""[..]
            ),
            (
                1,
                "door opened",
                "state triggered",
                "door-sensor",
                &br#"{"room":4}"#[..]
            ),
            (1, "door closed", "state normal", "door-sensor", &b""[..]),
            (7, "after the bad line", "state triggered", "host", &b""[..]),
        ]
    );
    assert!(got
        .iter()
        .all(|r| r.origin == Origin::Fifo && r.src.to_ip().is_none()));
    let st = rig.input("host");
    assert_eq!(st.rejected(Reject::BadLine), 1);
    assert_eq!(st.received.load(Relaxed), 5);
    // Seqs rise and continue past a restart (the store's highest), never reused.
    let first_max = got.iter().map(|r| r.seq).max().unwrap();
    let (rt, store) = rig.stop();
    assert!(!fifo.exists(), "FIFO removed at stop");
    let rig = Rig::start_with(rt, store, vec![fifo_input("host", &fifo)]);
    sh("printf '3|after restart\\n' > \"$1\"", &fifo);
    wait_for("the alert after restart", 20, || {
        rig.stored("fifo:host").len() == 5
    });
    let last = rig.stored("fifo:host").pop().unwrap();
    assert_eq!(last.msg, "after restart");
    assert!(last.seq > first_max);
    rig.stop();
}

/// Alerts for the tail test: line `i` of the file.
fn tail_line(i: u32) -> String {
    eve_line(&suricata_alert(i)) + "\n"
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Waits until the position names `file` at `offset`, and checks it is whole.
fn wait_position(pos: &Path, file: &Path, offset: u64) {
    let ino = std::fs::metadata(file).unwrap().ino();
    wait_for(
        &format!("position at {} offset {offset}", file.display()),
        20,
        || matches!(Position::load(pos), Ok(Some(p)) if p.ino == ino && p.offset == offset),
    );
}

/// The sids stored by the tail, each with how often.
fn sid_counts(store: &Store) -> BTreeMap<u32, usize> {
    let mut m = BTreeMap::new();
    for r in stored_in(store, "eve:file") {
        *m.entry(r.sid).or_insert(0) += 1;
    }
    m
}

fn assert_exactly(store: &Store, n: u32) {
    let want: BTreeMap<u32, usize> = (0..n).map(|i| (2_100_000 + i, 1)).collect();
    assert_eq!(sid_counts(store), want, "every alert stored exactly once");
}

#[test]
fn eve_file_tail_restart_and_rotation_store_each_alert_once() {
    let dir = scratch_dir("inputs-tail");
    let eve = dir.join("eve.json");
    let pos = dir.join("eve.json.pos");
    let input = || {
        let mut c = InputConfig::new("file", Kind::EveFile, &eve);
        c.position = Some(pos.clone());
        c.poll_ms = 20;
        c.batch = 16;
        c
    };
    let text = |r: std::ops::Range<u32>| r.map(tail_line).collect::<String>();
    append(&eve, &text(0..40));
    let rig = Rig::start(&dir, vec![input()]);
    wait_for("40 alerts", 20, || rig.stored("eve:file").len() == 40);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());
    assert_exactly(&rig.store, 40);

    // Append, with a partial last line; restart the input; it must wait for the newline.
    append(&eve, &text(40..50));
    let full = std::fs::metadata(&eve).unwrap().len();
    let partial = tail_line(50);
    let (head, rest) = partial.split_at(40);
    append(&eve, head);
    wait_for("50 alerts", 20, || rig.stored("eve:file").len() == 50);
    wait_position(&pos, &eve, full);
    let (rt, store) = rig.stop();
    let rig = Rig::start_with(rt, store, vec![input()]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_exactly(&rig.store, 50);
    append(&eve, rest);
    append(&eve, &text(51..60));
    wait_for("60 alerts", 20, || rig.stored("eve:file").len() == 60);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());
    assert_exactly(&rig.store, 60);

    // A crash between commit and saving the position: the position goes back; the
    // lines read again are the same (sensor, seq) and are not stored twice.
    let (rt, store) = rig.stop();
    let mut p = Position::load(&pos).unwrap().unwrap();
    p.offset -= (tail_line(58).len() + tail_line(59).len()) as u64;
    p.save(&pos).unwrap();
    let rig = Rig::start_with(rt, store, vec![input()]);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());
    assert_eq!(
        rig.col().stats.duplicates.load(Relaxed),
        2,
        "two lines re-read, seen as duplicates"
    );
    assert_exactly(&rig.store, 60);

    // Rotation: Suricata still appends to the renamed file before it reopens; then the
    // new file fills. Both are read, the old one to its end first.
    let old = dir.join("eve.json.1");
    std::fs::rename(&eve, &old).unwrap();
    append(&old, &text(60..65));
    append(&eve, &text(65..75));
    wait_for("75 alerts", 20, || rig.stored("eve:file").len() == 75);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());
    assert_exactly(&rig.store, 75);

    // Rotation while the collector is down: the old file is found by its inode.
    let (rt, store) = rig.stop();
    append(&eve, &text(75..80));
    std::fs::rename(&eve, dir.join("eve.json.2")).unwrap();
    append(&eve, &text(80..85));
    let rig = Rig::start_with(rt, store, vec![input()]);
    wait_for("85 alerts", 20, || rig.stored("eve:file").len() == 85);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());

    // Truncation in place (copytruncate), then new lines from the start.
    std::fs::File::create(&eve).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    append(&eve, &text(85..90));
    wait_for("90 alerts", 20, || rig.stored("eve:file").len() == 90);
    wait_position(&pos, &eve, std::fs::metadata(&eve).unwrap().len());
    assert_exactly(&rig.store, 90);
    let st = rig.input("file");
    assert_eq!(
        st.rejected(Reject::Partial) + st.rejected(Reject::NotJson),
        0
    );
    rig.stop();
}

#[test]
fn malformed_lines_are_rejected_and_the_next_is_stored() {
    let dir = scratch_dir("inputs-malformed");
    let eve = dir.join("eve.json");
    let pos = dir.join("eve.pos");
    let mut c = InputConfig::new("file", Kind::EveFile, &eve);
    c.position = Some(pos.clone());
    c.poll_ms = 20;
    c.max_line = 4096;
    let mut lines = String::new();
    lines += &tail_line(0);
    lines += "this is not json\n";
    lines += &tail_line(1);
    lines += &format!("{}\n", "x".repeat(5000));
    lines += &tail_line(2);
    lines += "{\"event_type\":\"alert\",\"timestamp\":\"2024-01-01T00:00:00Z\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\"proto\":\"TCP\",\"alert\":{\"gid\":1}}\n";
    lines += &tail_line(3);
    append(&eve, &lines);
    let fifo = dir.join("f.fifo");
    let rig = Rig::start(&dir, vec![c, fifo_input("f", &fifo)]);
    wait_for("4 good EVE lines stored", 20, || {
        rig.stored("eve:file").len() == 4
    });
    assert_exactly(&rig.store, 4);
    let st = rig.input("file");
    assert_eq!(
        [Reject::NotJson, Reject::TooLong, Reject::BadField].map(|r| st.rejected(r)),
        [1, 1, 1]
    );
    wait_position(&pos, &eve, lines.len() as u64);

    sh(
        "printf '0|level zero\\n{\"level\": 1}\\n1|good after bad\\n' > \"$1\"",
        &fifo,
    );
    wait_for("the good FIFO line", 20, || rig.stored("fifo:f").len() == 1);
    assert_eq!(rig.stored("fifo:f")[0].msg, "good after bad");
    let f = rig.input("f");
    wait_for("FIFO rejects counted", 10, || {
        f.rejected(Reject::BadField) == 1 && f.rejected(Reject::NotJson) == 1
    });
    rig.stop();
}

#[test]
fn datagram_and_fifo_past_high_watermark_go_to_the_drop_channel() {
    let dir = scratch_dir("inputs-watermark");
    let drop_sock = dir.join("drop.sock");
    let mut listener = store::drop_channel::DropListener::bind(&drop_sock).unwrap();
    let (dpath, fpath) = (dir.join("d.sock"), dir.join("f.fifo"));
    let mut d = InputConfig::new("d", Kind::EveSocket, &dpath);
    let mut f = fifo_input("f", &fpath);
    for c in [&mut d, &mut f] {
        c.high_water = 20;
        c.low_water = 10;
        c.drop_socket = Some(drop_sock.clone());
        c.drop_file = Some(dir.join("drops"));
    }
    let rig = Rig::start(&dir, vec![d, f]);
    rig.col().pause_writer(true);
    let tx = UnixDatagram::unbound().unwrap();
    for i in 0..50 {
        tx.send_to(eve_line(&suricata_alert(i)).as_bytes(), &dpath)
            .unwrap();
    }
    let script =
        "i=0; while [ $i -lt 50 ]; do printf '2|host alert %d\\n' $i; i=$((i+1)); done > \"$1\"";
    sh(script, &fpath);
    let (ds, fs) = (rig.input("d"), rig.input("f"));
    wait_for("all 100 received and handled", 20, || {
        [&ds, &fs].iter().all(|st| {
            st.received.load(Relaxed) == 50
                && st.accepted.load(Relaxed) + st.dropped.load(Relaxed) == 50
                && st.drops.drop_to_socket.load(Relaxed) + st.drops.drop_to_file.load(Relaxed) == 30
        })
    });
    for st in [&ds, &fs] {
        assert_eq!(
            st.accepted.load(Relaxed),
            20,
            "{}: up to the high watermark",
            st.name
        );
        assert_eq!(
            st.dropped.load(Relaxed),
            30,
            "{}: the rest dropped",
            st.name
        );
        let (sock, file) = (&st.drops.drop_to_socket, &st.drops.drop_to_file);
        // The notifier's socket queue is short (net.unix.max_dgram_qlen); the rest go to
        // the drop file. Either way each is handed on.
        assert_eq!(sock.load(Relaxed) + file.load(Relaxed), 30, "{}", st.name);
        assert_eq!(st.drops.drop_lost.load(Relaxed), 0);
        assert_eq!(st.committed.load(Relaxed), 0, "the writer is paused");
    }
    // The drop channel (socket, then file) holds exactly the dropped alerts, whole.
    let on_socket =
        (ds.drops.drop_to_socket.load(Relaxed) + fs.drops.drop_to_socket.load(Relaxed)) as usize;
    let mut records = Vec::new();
    for _ in 0..on_socket {
        records.push(listener.recv(std::time::Duration::from_secs(5)).unwrap());
    }
    assert!(listener.try_recv().unwrap().is_none());
    let file = store::drop_channel::read_drop_file(dir.join("drops")).unwrap();
    assert_eq!(
        (file.skipped_bytes, records.len() + file.records.len()),
        (0, 60)
    );
    records.extend(file.records);
    let mut dropped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &records {
        let a = r.access().unwrap();
        dropped
            .entry(a.sensor.as_str().to_string())
            .or_default()
            .push(a.msg.as_str().to_string());
    }
    for v in dropped.values_mut() {
        v.sort_by_key(|m| m.rsplit(' ').next().unwrap().parse::<u32>().unwrap());
    }
    let want_d: Vec<String> = (20..50)
        .map(|i| format!("ET TEST alert number {i}"))
        .collect();
    let want_f: Vec<String> = (20..50).map(|i| format!("host alert {i}")).collect();
    assert_eq!(dropped["eve:d"], want_d);
    assert_eq!(dropped["fifo:f"], want_f);

    rig.col().pause_writer(false);
    wait_for("accepted alerts committed", 20, || {
        ds.committed.load(Relaxed) == 20 && fs.committed.load(Relaxed) == 20
    });
    for (sensor, st) in [("eve:d", &ds), ("fifo:f", &fs)] {
        let stored = rig.stored(sensor).len() as u64;
        assert_eq!(stored, 20);
        assert_eq!(
            st.received.load(Relaxed),
            stored + st.dropped.load(Relaxed),
            "nothing silently lost"
        );
    }
    // Under the low watermark again: new alerts are stored.
    tx.send_to(eve_line(&suricata_alert(99)).as_bytes(), &dpath)
        .unwrap();
    wait_for("storing again", 20, || rig.stored("eve:d").len() == 21);
    rig.stop();
}

/// `tidewatch collector --config` starts the inputs from `[[input]]` tables and exports
/// their counters; `tidewatch alerts` shows what they stored.
#[test]
fn collector_binary_runs_configured_inputs_and_exports_metrics() {
    let dir = scratch_dir("inputs-binary");
    let fifo = dir.join("host.fifo");
    let sock = dir.join("eve.sock");
    let metrics = common::free_addr();
    let (clear, archive) = (dir.join("clear.json"), dir.join("archive.json"));
    let conf = dir.join("tidewatch.toml");
    std::fs::write(
        &conf,
        format!(
            r#"[metrics]
listen = "{metrics}"

[[input]]
name = "host"
kind = "fifo"
path = "{fifo}"
mode = "0620"

[[input]]
name = "suricata"
kind = "eve-socket"
path = "{sock}"

[output.clear]
type = "eve_file"
path = "{clear}"

[output.archive]
type = "eve_file"
path = "{archive}"

[[route]]
classtype = ["state normal"]
outputs = ["clear"]

[[route]]
sensors = ["eve:suricata", "fifo:host"]
outputs = ["archive"]
"#,
            fifo = fifo.display(),
            sock = sock.display(),
            clear = clear.display(),
            archive = archive.display()
        ),
    )
    .unwrap();
    let (_p, _addr) = common::start_collector_with(
        &dir,
        &[
            "--config".as_ref(),
            conf.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--insecure".as_ref(),
        ],
        None,
    );
    assert_eq!(mode_of(&fifo), 0o620);
    sh(
        "printf '1|from the script\\nbad\\n{\"level\": 4, \"message\": \"all clear\", \"state\": \"normal\"}\\n' > \"$1\"",
        &fifo,
    );
    UnixDatagram::unbound()
        .unwrap()
        .send_to(eve_line(&suricata_alert(5)).as_bytes(), &sock)
        .unwrap();
    let series = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(-1.0);
    wait_for("input metrics", 20, || {
        let m = common::samples(&common::scrape(&metrics));
        series(
            &m,
            r#"tidewatch_input_committed_total{input="host",kind="fifo"}"#,
        ) == 2.0
            && series(
                &m,
                r#"tidewatch_input_committed_total{input="suricata",kind="eve-socket"}"#,
            ) == 1.0
    });
    let m = common::samples(&common::scrape(&metrics));
    assert_eq!(
        series(
            &m,
            r#"tidewatch_input_received_total{input="host",kind="fifo"}"#
        ),
        3.0
    );
    assert_eq!(
        series(
            &m,
            r#"tidewatch_input_rejected_total{input="host",kind="fifo",reason="bad_line"}"#
        ),
        1.0
    );
    assert_eq!(
        series(
            &m,
            r#"tidewatch_input_dropped_total{input="suricata",kind="eve-socket"}"#
        ),
        0.0
    );
    let out = common::run_ok(
        common::tidewatch()
            .arg("alerts")
            .arg("--db")
            .arg(dir.join("alerts.redb"))
            .arg("--control")
            .arg(dir.join("collector.sock"))
            .args(["--format", "json", "--sensor", "eve:suricata"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["alert"]["signature_id"], 2_100_005);
    assert_eq!(v["src_ip"], "198.51.100.5");
    assert_eq!(v["tidewatch"]["sensor"], "eve:suricata");
    // Routed like a sensor's alerts: the all-clear by its classtype to its own output.
    wait_for("routed EVE lines", 20, || {
        std::fs::read_to_string(&archive).is_ok_and(|t| t.lines().count() == 3)
            && std::fs::read_to_string(&clear).is_ok_and(|t| t.lines().count() == 1)
    });
    let clear = common::eve_lines(&clear);
    assert_eq!(clear[0]["alert"]["signature"], "all clear");
    assert_eq!(clear[0]["alert"]["category"], "state normal");
    assert_eq!(clear[0]["alert"]["severity"], 4);
    let sigs: Vec<String> = common::eve_lines(&archive)
        .iter()
        .map(|v| v["alert"]["signature"].as_str().unwrap().to_string())
        .collect();
    assert!(
        sigs.contains(&"from the script".to_string())
            && sigs.contains(&"ET TEST alert number 5".to_string()),
        "{sigs:?}"
    );
}

/// The FIFO's mode and group are the access control: a user in its group may write
/// (mode 0620), another user may not even open it.
#[test]
fn fifo_mode_and_group_keep_other_users_out() {
    let dir = scratch_dir("inputs-fifo-perms");
    let fifo = dir.join("perm.fifo");
    let mut c = InputConfig::new("perm", Kind::Fifo, &fifo);
    c.mode = Some("0620".into());
    c.group = Some("nogroup".into());
    let rig = Rig::start(&dir, vec![c]);
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o620, 65534));
    let as_user = |uid: u32, line: &str| {
        std::process::Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .arg("--clear-groups")
            .args([
                "/bin/sh",
                "-c",
                &format!("printf '{line}\\n' > \"$1\""),
                "sh",
            ])
            .arg(&fifo)
            .output()
            .expect("setpriv (util-linux)")
    };
    let denied = as_user(65533, "1|from an outsider");
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("ermission denied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let allowed = as_user(65534, "2|from the group");
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    wait_for("the group member's alert", 20, || {
        rig.stored("fifo:perm").len() == 1
    });
    assert_eq!(rig.stored("fifo:perm")[0].msg, "from the group");
    rig.stop();
}
