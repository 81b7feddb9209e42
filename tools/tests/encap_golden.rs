//! The tunnel golden test: on one pcap per encapsulation (`xtask/src/golden_encap.rs`:
//! GRE with IPv4/IPv6/Ethernet inside and with checksum+key+sequence, GRE over IPv6,
//! ERSPAN I/II/III, VXLAN, GENEVE with options, MPLS with one and three labels and as an
//! Ethernet pseudowire, IPv4/IPv6 in IPv4/IPv6, VXLAN inside GRE) tidewatch raises exactly
//! Suricata 7's alerts on the inner flow — same sids, inner 5-tuples and packet timestamps
//! — and writes the same EVE `tunnel` object (outer addresses, ports, protocol, depth).
//!
//! Two encapsulations Suricata 7.0.10 does not decode, so its reference for them is empty
//! and our count is asserted on its own: ERSPAN type III (GRE 0x22EB has no decoder in
//! Suricata 7) and IPv4-in-IPv4 (Suricata decodes IP protocol 4 inside IPv6 only). There
//! tidewatch raises the four inner alerts (one per rule) with the tunnel recorded.
//!
//! MPLS is no tunnel to Suricata (no `tunnel` object); it is none in our EVE either.
//!
//! Outer packets: Suricata also inspects each outer (and middle) packet of a tunnel, with
//! header keywords only, and so does tidewatch; sids 5101-5111 of `encap.rules` match
//! them (flow-less GRE and IP-in-IP, VXLAN/GENEVE/6in4 outer flows, no content or
//! payload-needing dsize, flowbits, a threshold), and must give Suricata's alerts too,
//! in the two scenarios Suricata does not decode as well.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use xtask::encap_check::read_expected;
use xtask::golden_encap::{
    encap_alert, write_scenario_pcap, EncapAlert, Scenario, ENCAP_RULES_PATH,
};

/// (timestamp, sid, src, sport, dst, dport, tunnel (src, sport, dst, dport, proto, depth)).
type Tuple = (
    String,
    u64,
    IpAddr,
    u16,
    IpAddr,
    u16,
    Option<(IpAddr, u16, IpAddr, u16, String, u64)>,
);

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("address {s:?} in an alert: {e}"))
}

/// Addresses parsed, so Suricata's expanded IPv6 and our compressed form compare equal.
fn tuple(a: &EncapAlert) -> Tuple {
    (
        a.timestamp.clone(),
        a.sid,
        ip(&a.src_ip),
        a.src_port,
        ip(&a.dest_ip),
        a.dest_port,
        a.tunnel.as_ref().map(|t| {
            (
                ip(&t.src_ip),
                t.src_port,
                ip(&t.dest_ip),
                t.dest_port,
                t.proto.clone(),
                t.depth,
            )
        }),
    )
}

/// Scenarios Suricata 7 does not decode, with the kind and outer protocol we record.
const NOT_IN_SURICATA: [(&str, &str, &str); 2] = [
    ("erspan_type3", "erspan3", "GRE"),
    ("ipv4_in_ipv4", "ipip", "IP-in-IP"),
];

/// The rules that match the inner flows; the others match outer packets.
const INNER_SIDS: std::ops::RangeInclusive<u64> = 5001..=5004;

fn is_inner(a: &Value) -> bool {
    a["alert"]["signature_id"]
        .as_u64()
        .is_some_and(|s| INNER_SIDS.contains(&s))
}

#[test]
fn tunnel_golden_alerts_equal_suricatas() {
    let expected = read_expected().unwrap();
    assert_eq!(
        expected.len(),
        Scenario::ALL.len(),
        "one reference per scenario"
    );
    let dir = scratch_dir("encap-golden");
    let mut ours_by_scenario: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for sc in Scenario::ALL {
        let name = sc.name();
        let pcap = dir.join(format!("{name}.pcap"));
        write_scenario_pcap(sc, &pcap).unwrap();
        let eve = dir.join(format!("{name}.json"));
        run_ok(
            tidewatch()
                .arg("replay")
                .arg(&pcap)
                .args(["--rules", ENCAP_RULES_PATH, "--workers", "1", "--eve"])
                .arg(&eve),
        );
        ours_by_scenario.insert(name, eve_lines(&eve));
    }
    for sc in Scenario::ALL {
        let name = sc.name();
        let alerts = &ours_by_scenario[name];
        let mut got: Vec<Tuple> = alerts
            .iter()
            .filter_map(encap_alert)
            .map(|a| tuple(&a))
            .collect();
        got.sort();
        let theirs = &expected[name];
        let mut want: Vec<Tuple> = theirs.iter().map(tuple).collect();
        want.sort();
        if let Some((_, kind, proto)) = NOT_IN_SURICATA.iter().find(|(n, _, _)| *n == name) {
            assert!(
                !want.iter().any(|t| INNER_SIDS.contains(&t.1)),
                "{name}: Suricata now decodes it; make it an ordinary golden case"
            );
            // Suricata inspects the outer packets alone: ours must equal its alerts there.
            let (inner, outer): (Vec<Tuple>, Vec<Tuple>) =
                got.into_iter().partition(|t| INNER_SIDS.contains(&t.1));
            assert_eq!(outer, want, "{name}: the outer packets' alerts");
            let sids: Vec<u64> = inner.iter().map(|t| t.1).collect();
            assert_eq!(sids.len(), 4, "{name}: {inner:?}");
            for sid in INNER_SIDS {
                assert!(sids.contains(&sid), "{name}: sid {sid} missing: {inner:?}");
            }
            for a in alerts.iter().filter(|a| is_inner(a)) {
                assert_eq!(a["tunnel"]["kind"], *kind, "{name}");
                assert_eq!(a["tunnel"]["proto"], *proto, "{name}");
                assert_eq!(a["tunnel"]["depth"], 1, "{name}");
            }
            continue;
        }
        let inner = want.iter().filter(|t| INNER_SIDS.contains(&t.1)).count();
        assert_eq!(inner, 4, "{name}: the reference has the four inner alerts");
        let missing: Vec<_> = want.iter().filter(|t| !got.contains(t)).collect();
        let extra: Vec<_> = got.iter().filter(|t| !want.contains(t)).collect();
        assert!(got == want, "{name}: missing {missing:?}, extra {extra:?}");
    }
    // tidewatch's own tunnel fields: the kind and the id (VNI, key, session) it decoded.
    let first = |n: &str| {
        let a = ours_by_scenario[n].iter().find(|a| is_inner(a));
        a.map(|a| a["tunnel"].clone()).unwrap_or_default()
    };
    for (n, kind, id) in [
        ("vxlan", "vxlan", Some(0x1234)),
        ("geneve", "geneve", Some(0x5678)),
        ("gre_key_seq_checksum", "gre", Some(0x0102_0304)),
        ("erspan_type2", "erspan2", Some(100)),
        ("erspan_type1", "erspan1", None),
        ("vxlan_in_gre", "gre", None),
        ("ipv6_in_ipv4", "ipv6inip", None),
    ] {
        let t = first(n);
        assert_eq!(t["kind"], kind, "{n}");
        assert_eq!(t["id"].as_u64(), id, "{n}");
    }
    for n in ["mpls_single", "mpls_stacked", "mpls_pseudowire"] {
        assert!(
            ours_by_scenario[n]
                .iter()
                .all(|a| a.get("tunnel").is_none()),
            "{n}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
