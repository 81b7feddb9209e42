//! The defrag golden test: on the defrag golden pcap (`xtask/src/golden_defrag.rs`:
//! in-order, reversed, duplicated and tiny fragments, TCP in a session, ICMP, IPv6 with
//! extension headers before and after the fragment header, a train that never completes,
//! an `ip` rule, three overlap shapes) tidewatch raises exactly Suricata 7's alerts —
//! same sids, addresses, ports and packet timestamps — under Suricata's default overlap
//! policy (BSD) and under each policy Suricata's `host-os-policy` selects (linux, first,
//! windows, solaris), with one, two and three workers. It also checks the replay summary's
//! defrag counters for the default run.

mod common;

use common::*;
use xtask::golden_defrag::{write_defrag_pcap, DEFRAG_RULES_PATH, DEFRAG_VARIANTS};

#[test]
fn defrag_golden_alerts_equal_suricatas_under_each_policy() {
    let dir = scratch_dir("defrag-golden");
    let pcap = dir.join("defrag.pcap");
    write_defrag_pcap(&pcap).unwrap();
    let mut policies_differ = std::collections::BTreeSet::new();
    for v in &DEFRAG_VARIANTS {
        let theirs = expected_tuples(v.expected_path);
        assert!(
            theirs.len() >= 17,
            "{}: the reference covers the cases",
            v.policy
        );
        assert!(
            !theirs.iter().any(|t| t.1 == 1010),
            "the incomplete train never alerts"
        );
        policies_differ.insert(
            theirs
                .iter()
                .map(|t| t.1)
                .filter(|s| *s > 1100)
                .collect::<Vec<_>>(),
        );
        for workers in ["1", "2", "3"] {
            let eve = dir.join(format!("eve-{}-{workers}.json", v.policy));
            let mut cmd = tidewatch();
            cmd.arg("replay")
                .arg(&pcap)
                .args(["--rules", DEFRAG_RULES_PATH, "--workers", workers, "--eve"])
                .arg(&eve)
                .args(["--set", &format!("defrag.policy={}", v.policy)]);
            let out = run_ok(&mut cmd);
            // With several workers the reader sends every fragment to the worker of its
            // datagram's flow (named by the first fragment's ports), so the TCP case's
            // stream match (1005) is found there with the handshake and teardown.
            let got = eve_tuples(&eve_lines(&eve));
            let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).collect();
            let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).collect();
            assert!(
                got == theirs,
                "{} with {workers} worker(s): missing {missing:?}, extra {extra:?}",
                v.policy
            );
            if v.policy == "bsd" && workers == "1" {
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                let line = err
                    .lines()
                    .find(|l| l.starts_with("defrag:"))
                    .unwrap_or_else(|| panic!("no defrag summary in:\n{err}"));
                // 14 datagrams rebuilt. Two trains time out when the last case comes
                // after the pause: the incomplete one, and the two duplicates that came
                // after their datagram was complete (a new train without a first
                // fragment). Overlaps: the three shapes and one duplicate.
                assert!(
                    line.contains(" 14 datagrams reassembled (53 fragments)"),
                    "{line}"
                );
                assert!(line.contains(" 4 overlaps"), "{line}");
                assert!(line.contains("2 timeouts (4 fragments)"), "{line}");
                assert!(line.contains("memcap 0, trackers 0, invalid 0"), "{line}");
            }
        }
    }
    assert!(
        policies_differ.len() >= 3,
        "the overlap shapes tell the policies apart: {policies_differ:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per-host policies (`defrag.host-os-policy`, Suricata's `host-os-policy`): the same
/// overlap shapes sent to a host of a /32 (Linux) inside a /24 (Windows), to another host
/// of the /24, and to a host in neither (the default, BSD) are rebuilt as each host's
/// policy says, alert by alert as Suricata's.
#[test]
fn defrag_host_os_policy_picks_each_destinations_policy_as_suricata() {
    use xtask::golden_defrag::{write_host_policy_pcap, HOSTS, HOSTS_EXPECTED_PATH, HOSTS_SETS};
    let dir = scratch_dir("defrag-hosts");
    let pcap = dir.join("hosts.pcap");
    write_host_policy_pcap(&pcap).unwrap();
    let theirs = expected_tuples(HOSTS_EXPECTED_PATH);
    // Each host's winners differ from the others' (else the map would not be tested).
    let per_host: std::collections::BTreeSet<Vec<u64>> = HOSTS
        .iter()
        .map(|h| {
            theirs
                .iter()
                .filter(|t| t.4 == std::net::IpAddr::V4(*h))
                .map(|t| t.1)
                .collect()
        })
        .collect();
    assert_eq!(per_host.len(), 3, "{per_host:?}");
    for workers in ["1", "2"] {
        let eve = dir.join(format!("eve-{workers}.json"));
        let mut cmd = tidewatch();
        cmd.arg("replay")
            .arg(&pcap)
            .args(["--rules", DEFRAG_RULES_PATH, "--workers", workers, "--eve"])
            .arg(&eve);
        for set in HOSTS_SETS {
            cmd.args(["--set", set]);
        }
        run_ok(&mut cmd);
        let got = eve_tuples(&eve_lines(&eve));
        assert_eq!(got, theirs, "{workers} worker(s)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
