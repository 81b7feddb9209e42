//! The TLS certificate golden test: on the TLS certificate golden pcap
//! (`xtask/src/golden_tls_certs.rs`: TLS 1.2 server flights carrying Certificate messages
//! in one record, split across records and across acknowledged segments, in a record of
//! their own; a chain whose first certificate is not DER; a client certificate asked for
//! by a CertificateRequest; no Certificate, an empty chain, a flow torn down before any
//! application data; other leaves, a self-signed CA the `pass` names, port 8443, IPv6)
//! tidewatch raises exactly Suricata 7's alerts for `tls.certs`, `tls.cert_subject`,
//! `tls.cert_issuer` and `tls.cert_serial` rules (with `alert tls` header and raw content
//! rules around them), alert by alert, with one worker and with two.

mod common;

use common::*;
use xtask::golden_tls_certs::{
    write_tls_certs_pcap, TLS_CERTS_EXPECTED_PATH, TLS_CERTS_RULES_PATH,
};

#[test]
fn tls_certs_golden_alerts_equal_suricatas() {
    assert_golden_equal(
        "tls-certs",
        |p| write_tls_certs_pcap(p),
        TLS_CERTS_RULES_PATH,
        TLS_CERTS_EXPECTED_PATH,
        100,
    );
}
