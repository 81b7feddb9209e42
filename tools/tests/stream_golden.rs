//! The stream golden test: on the stream golden pcap (`xtask/src/golden_stream.rs`: split,
//! reordered, retransmitted and overlapping segments, gaps, midstream, a lost SYN/ACK, FIN
//! and RST teardown) tidewatch raises exactly Suricata 7's alerts — same sids, flows and
//! packet timestamps — with Suricata's default stream settings and with midstream pickup,
//! with one and two workers.

mod common;

use common::*;
use serde_json::Value;
use xtask::golden_stream::{write_stream_pcap, STREAM_RULES_PATH, STREAM_VARIANTS};

fn b64(a: &Value, field: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(a[field].as_str().unwrap_or(""))
        .unwrap()
}

#[test]
fn stream_golden_alerts_equal_suricatas() {
    let dir = scratch_dir("stream-golden");
    let pcap = dir.join("stream.pcap");
    write_stream_pcap(&pcap).unwrap();
    for v in &STREAM_VARIANTS {
        let theirs = expected_tuples(v.expected_path);
        assert!(
            theirs.len() > 25,
            "{}: the reference covers the cases",
            v.name
        );
        for workers in ["1", "2"] {
            let eve = dir.join(format!("eve-{}-{workers}.json", v.name));
            let mut cmd = tidewatch();
            cmd.arg("replay")
                .arg(&pcap)
                .args(["--rules", STREAM_RULES_PATH, "--workers", workers, "--eve"])
                .arg(&eve);
            for s in v.tidewatch_set {
                cmd.args(["--set", s]);
            }
            run_ok(&mut cmd);
            let alerts = eve_lines(&eve);
            let got = eve_tuples(&alerts);
            let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).collect();
            let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).collect();
            assert!(
                got == theirs,
                "{} with {workers} worker(s): missing {missing:?}, extra {extra:?}",
                v.name
            );
            // A stream match carries the stream window that matched, not the packet's
            // payload: the split content is whole in it, and the alert's packet is the FIN.
            let split = alerts
                .iter()
                .find(|a| a["alert"]["signature_id"] == 101)
                .unwrap();
            assert_eq!(b64(split, "payload"), b"hello SPLIT-TWO-ATTACK there");
            assert!(!b64(split, "packet").is_empty());
        }
    }
}
