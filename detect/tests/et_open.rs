//! Loads the full ET Open ruleset: no broken rule, no panic, every active rule either
//! enforced or skipped with its unsupported keywords named.

use std::path::PathBuf;
use std::time::Instant;

use detect::rules::{load_files, Classifications, Vars};

/// Active (uncommented) rules in the ET Open snapshot in shared/rules.
const ACTIVE_RULES: usize = 24795;

#[test]
fn et_open_loads_without_errors() {
    let path = std::env::var_os("TIDEWATCH_ET_OPEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/rules/et-open/et-open.rules")
        });
    if !path.exists() {
        println!("skipping: ET Open rules not found at {}", path.display());
        return;
    }
    let started = Instant::now();
    let loaded = load_files(
        &[path],
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .expect("ET Open must be readable");
    let elapsed = started.elapsed();
    for e in loaded.errors.iter().take(20) {
        println!("error: {e}");
    }
    assert_eq!(loaded.errors.len(), 0, "ET Open rules must all parse");
    assert_eq!(loaded.rules.len() + loaded.skipped.len(), ACTIVE_RULES);
    println!(
        "ET Open: {} enforced, {} skipped, loaded in {:.2?}",
        loaded.rules.len(),
        loaded.skipped.len(),
        elapsed
    );
    let mut by_kw: Vec<(&String, &usize)> = loaded.skipped_by_keyword.iter().collect();
    by_kw.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("skipped rules per unsupported keyword (top 30):");
    for (k, n) in by_kw.iter().take(30) {
        println!("{n:>7}  {k}");
    }
    let mut alone = std::collections::BTreeMap::<&str, usize>::new();
    for s in loaded.skipped.iter().filter(|s| s.keywords.len() == 1) {
        *alone.entry(s.keywords[0].as_str()).or_insert(0) += 1;
    }
    let mut alone: Vec<_> = alone.into_iter().collect();
    alone.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!("rules skipped for one keyword only (top 15):");
    for (k, n) in alone.iter().take(15) {
        println!("{n:>7}  {k}");
    }
}
