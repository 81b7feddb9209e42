//! The collector's input parsers on untrusted lines: EVE JSON (sockets and the file tail)
//! and FIFO lines (`LEVEL|MESSAGE` or JSON). They must never panic, and what they accept
//! must archive as a valid record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store::input::{parse_eve, parse_fifo, Eve};

fuzz_target!(|data: &[u8]| {
    if let Ok(Eve::Alert(r)) = parse_eve(data, "fuzz") {
        let bytes = r.encode().expect("a parsed EVE alert archives");
        store::record::access(&bytes).expect("and validates");
    }
    if let Ok(r) = parse_fifo(data, "fuzz") {
        let bytes = r.encode().expect("a parsed FIFO line archives");
        store::record::access(&bytes).expect("and validates");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = store::input::eve::parse_timestamp(s);
    }
});
