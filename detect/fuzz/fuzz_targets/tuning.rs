//! Any bytes as a threshold.config, applied to a few rules that use flowbits and
//! thresholds: parsing and applying must never panic, only report bad lines.
#![no_main]

use detect::rules::{load_str, Classifications, Vars};
use detect::tuning::Tuning;
use libfuzzer_sys::fuzz_target;

const RULES: &str = "alert tcp any any -> any any (content:\"a\"; flowbits:set,x; sid:1;)\n\
alert udp any any -> any any (content:\"b\"; threshold:type both, track by_src, count 2, seconds 5; sid:2;)\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = Vars::default();
    if let Ok(t) = Tuning::parse(&text, "fuzz.config", &vars) {
        if let Ok(mut l) = load_str(RULES, "r", &vars, &Classifications::default(), false) {
            let _ = t.apply(&mut l.rules);
        }
    }
});
