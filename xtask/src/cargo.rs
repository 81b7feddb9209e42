//! Nested cargo invocations from a running xtask.

use std::process::Command;

/// A `cargo` command without the variables `cargo run` set for this xtask process.
///
/// Some build scripts (ring's) declare `rerun-if-env-changed` on variables such as
/// `CARGO_MANIFEST_DIR`; inheriting xtask's values would make a nested `cargo build` see them
/// changed and recompile ring and everything above it, then the next plain build recompile
/// them back.
pub fn command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo_run = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || matches!(key, "CARGO_PRIMARY_PACKAGE" | "CARGO_RUSTC_CURRENT_DIR");
        if set_by_cargo_run {
            cmd.env_remove(key);
        }
    }
    cmd
}
