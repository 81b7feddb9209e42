//! Any bytes as a rules file: the loader must never panic, only report broken rules.
#![no_main]

use detect::rules::{load_str, Classifications, Vars};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = Vars::default();
    let classes = Classifications::default();
    let _ = load_str(&text, "fuzz.rules", &vars, &classes, false);
});
