//! `cargo xtask demo|loadtest` run xtask and then build the tidewatch binary in a second cargo
//! invocation. Cargo resolves features per invocation, so a shared crate whose features differ
//! between the two dependency trees is compiled twice, with everything that depends on it: a
//! fresh machine's demo then takes minutes longer. The feature-alignment lines in
//! tools/Cargo.toml and xtask/Cargo.toml prevent that; this test fails when a new dependency
//! brings a difference back, and names the crates to align.

use std::collections::BTreeSet;
use std::process::Command;

/// `crate version|features` lines of one package's normal and build dependency tree, as the
/// build of that package alone resolves them.
fn resolved(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["-f", "{p}|{f}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn name(line: &str) -> &str {
    line.split('|').next().unwrap_or(line)
}

#[test]
fn tools_and_xtask_resolve_shared_crates_with_the_same_features() {
    let tools = resolved("tools");
    let xtask = resolved("xtask");
    let names = |s: &BTreeSet<String>| {
        s.iter()
            .map(|l| name(l).to_string())
            .collect::<BTreeSet<_>>()
    };
    let shared: BTreeSet<String> = names(&tools)
        .intersection(&names(&xtask))
        .cloned()
        .collect();
    assert!(
        shared.len() > 50,
        "too few shared crates ({}): is cargo tree's output format the same?",
        shared.len()
    );
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        a.difference(b)
            .filter(|l| shared.contains(name(l)))
            .cloned()
            .collect()
    };
    let in_tools = only(&tools, &xtask);
    let in_xtask = only(&xtask, &tools);
    assert!(
        in_tools.is_empty() && in_xtask.is_empty(),
        "shared crates resolved with different features (align them in both Cargo.toml files):\n  tools: {in_tools:#?}\n  xtask: {in_xtask:#?}"
    );
}
