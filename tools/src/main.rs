//! The `tidewatch` binary.
fn main() {}
