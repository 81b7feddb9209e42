//! Criterion benchmarks of the hot paths (decode, prefilter, verification, flow lookup);
//! run them with `cargo bench -p benches` or `cargo xtask bench`.
