//! The DNS golden test: on the DNS golden pcap (`xtask/src/golden_dns.rs`: which UDP
//! flows are DNS, turned-round flows, `dns.query` names with pointers, several questions,
//! cut names, `dotprefix`, `bsize`, `alert dns` payload rules, a `pass` on a request)
//! tidewatch raises exactly Suricata 7's alerts, alert by alert, with one worker and with
//! two.

mod common;

use common::*;
use xtask::golden_dns::{write_dns_pcap, DNS_EXPECTED_PATH, DNS_RULES_PATH};

fn replay(dir: &std::path::Path, pcap: &std::path::Path, workers: &str) -> Vec<Tuple> {
    let eve = dir.join(format!("eve-{workers}.json"));
    let mut cmd = tidewatch();
    cmd.arg("replay")
        .arg(pcap)
        .args(["--rules", DNS_RULES_PATH, "--workers", workers, "--eve"])
        .arg(&eve);
    run_ok(&mut cmd);
    eve_tuples(&eve_lines(&eve))
}

#[test]
fn dns_golden_alerts_equal_suricatas() {
    let dir = scratch_dir("dns-golden");
    let pcap = dir.join("dns.pcap");
    write_dns_pcap(&pcap).unwrap();
    let theirs = expected_tuples(DNS_EXPECTED_PATH);
    assert!(theirs.len() > 40, "the reference covers the cases");
    for workers in ["1", "2"] {
        let got = replay(&dir, &pcap, workers);
        let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).collect();
        let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).collect();
        assert!(
            got == theirs,
            "{workers} worker(s): missing {missing:?}, extra {extra:?}"
        );
    }
}
