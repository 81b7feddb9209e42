//! The HTTP golden test: on the HTTP golden pcap (`xtask/src/golden_http.rs`: which TCP
//! flows are HTTP, when a request is parsed and inspected, requests split across
//! segments, keep-alive and pipelined requests, bodies that are not requests, URI
//! normalization, Host and header parsing, flows that are not HTTP, a request cut by the
//! flow's end, raw content on HTTP flows after a request completes, a `pass` on a URI,
//! IPv6) tidewatch raises exactly Suricata 7's alerts, alert by alert, with one worker and
//! with two.

mod common;

use common::*;
use xtask::golden_http::{write_http_pcap, HTTP_EXPECTED_PATH, HTTP_RULES_PATH};

#[test]
fn http_golden_alerts_equal_suricatas() {
    assert_golden_equal(
        "http",
        |p| write_http_pcap(p),
        HTTP_RULES_PATH,
        HTTP_EXPECTED_PATH,
        120,
    );
}
