//! Developer tasks shared by `cargo xtask` and the test suite: deterministic traffic
//! generation and the golden scenarios checked against Suricata.

pub mod bench;
pub mod benchgen;
pub mod cargo;
pub mod criterion_cmp;
pub mod defrag_check;
pub mod demo;
pub mod dns_check;
pub mod encap_check;
pub mod et_open_check;
pub mod et_open_http;
pub mod golden;
pub mod golden_check;
pub mod golden_defrag;
pub mod golden_dns;
pub mod golden_encap;
pub mod golden_http;
pub mod golden_stateful;
pub mod golden_stream;
pub mod golden_tls;
pub mod golden_tls_certs;
pub mod loadtest;
pub mod pipeline;
pub mod plot;
pub mod rule_diff;
pub mod stateful_check;
pub mod stream_check;
pub mod suricata;
