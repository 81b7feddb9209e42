//! The DNS golden test: on the DNS golden pcap (`xtask/src/golden_dns.rs`: which UDP
//! flows are DNS, turned-round flows, `dns.query` names with pointers, several questions,
//! cut names, `dotprefix`, `bsize`, `alert dns` payload rules, a `pass` on a request)
//! tidewatch raises exactly Suricata 7's alerts, alert by alert, with one worker and with
//! two.

mod common;

use common::*;
use xtask::golden_dns::{write_dns_pcap, DNS_EXPECTED_PATH, DNS_RULES_PATH};

#[test]
fn dns_golden_alerts_equal_suricatas() {
    assert_golden_equal(
        "dns",
        |p| write_dns_pcap(p),
        DNS_RULES_PATH,
        DNS_EXPECTED_PATH,
        40,
    );
}
