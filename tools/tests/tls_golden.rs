//! The TLS golden test: on the TLS golden pcap (`xtask/src/golden_tls.rs`: which TCP
//! flows are TLS, when the ClientHello is parsed and `tls.sni` inspected, hellos split
//! across segments and records, several or no server names, raw content on TLS flows
//! until the handshake ends, `alert tls` header rules, a `pass` on a server name, IPv6)
//! tidewatch raises exactly Suricata 7's alerts, alert by alert, with one worker and with
//! two.

mod common;

use common::*;
use xtask::golden_tls::{write_tls_pcap, TLS_EXPECTED_PATH, TLS_RULES_PATH};

#[test]
fn tls_golden_alerts_equal_suricatas() {
    assert_golden_equal(
        "tls",
        |p| write_tls_pcap(p),
        TLS_RULES_PATH,
        TLS_EXPECTED_PATH,
        100,
    );
}
