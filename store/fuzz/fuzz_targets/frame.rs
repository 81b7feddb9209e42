//! The collector's frame decoder over arbitrary bytes: frames one after another as a
//! stream would bring them, each decoded (batches fully validated) or refused, never a
//! panic. Small limits so the fuzzer reaches the size checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store::wire::{decode_frame, Limits, Message};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame: 1 << 16,
        max_record: 1 << 14,
        max_records: 64,
    };
    let mut scratch = rkyv::util::AlignedVec::<16>::new();
    let mut rest = data;
    while !rest.is_empty() {
        match decode_frame(rest, &limits, &mut scratch) {
            Ok((msg, used)) => {
                if let Message::Batch(b) = msg {
                    for e in b.entries() {
                        let e = e.expect("a validated batch re-validates");
                        assert_eq!(e.record.seq.to_native(), e.seq);
                    }
                }
                rest = &rest[used..];
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
