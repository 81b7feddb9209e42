//! A sensor-to-collector rig for the delivery benchmarks: real TLS on loopback, a real
//! redb file in a temp dir, the library's collector and link.

use std::net::IpAddr;
use std::sync::Arc;
use store::collector::{Collector, CollectorConfig};
use store::db::{Indexes, Store};
use store::link::{self, LinkConfig, LinkRx, LinkTx};
use store::record::{Action, Origin};
use store::AlertRecord;

/// An alert with a 512-byte payload; sid and addresses vary as real traffic would.
pub fn alert(sensor: &str, seq: u64, created_ns: u64) -> AlertRecord {
    AlertRecord {
        sensor: sensor.into(),
        seq,
        ts_ns: 1_700_000_000_000_000_000 + seq * 1_000,
        created_ns,
        origin: Origin::Sensor,
        gid: 1,
        sid: 2_000_000 + (seq.wrapping_mul(2_654_435_761) % 500) as u32,
        rev: 1,
        msg: "ET POLICY benchmark alert".into(),
        class: "Potentially Bad Traffic".into(),
        priority: 2,
        action: Action::Alert,
        flow_id: seq,
        src: IpAddr::from(
            (0x0a00_0000u32 + (seq.wrapping_mul(40_503) % 65_536) as u32).to_be_bytes(),
        )
        .into(),
        dst: IpAddr::from([192, 168, (seq % 7) as u8, 1]).into(),
        src_port: 40_000 + (seq % 1000) as u16,
        dst_port: 443,
        ip_proto: 6,
        icmp: None,
        vlan: vec![],
        tunnel: None,
        iface: "eth0".into(),
        payload: (0..512u32).map(|i| (i as u64 ^ seq) as u8).collect(),
        packet: vec![0x45; 128],
        packet_len: 128,
    }
}

/// The time since the epoch in ns.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A collector with its store, and one connected TLS sensor link.
pub struct Rig {
    pub collector: Collector,
    pub store: Arc<Store>,
    pub tx: LinkTx,
    pub rx: LinkRx,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Rig {
    /// Must run inside a tokio runtime.
    pub async fn start(indexes: Indexes) -> Rig {
        let pki = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir_in(
            std::env::var_os("CARGO_TARGET_TMPDIR").unwrap_or_else(|| "/var/tmp".into()),
        )
        .unwrap();
        let p = |f: &str| pki.path().join(f);
        link::generate_certs(pki.path(), &["bench".to_string()], &[]).unwrap();
        let server =
            link::server_config(&p("ca.pem"), &p("collector.pem"), &p("collector-key.pem"))
                .unwrap();
        let client = link::client_config(
            &p("ca.pem"),
            &p("sensor-bench.pem"),
            &p("sensor-bench-key.pem"),
        )
        .unwrap();
        let store = Arc::new(Store::open(&data.path().join("bench.redb"), indexes).unwrap());
        let collector = Collector::start(
            CollectorConfig::new("127.0.0.1:0", Some(server)),
            store.clone(),
        )
        .await
        .unwrap();
        let mut cfg = LinkConfig::new(collector.local_addr.to_string(), "bench", Some(client));
        cfg.server_name = Some("localhost".into());
        let (tx, rx, _) = link::connect(&cfg, 0).await.unwrap();
        Rig {
            collector,
            store,
            tx,
            rx,
            _dirs: (pki, data),
        }
    }
}
