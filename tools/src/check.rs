//! `tidewatch check`: load config and rules as a daemon would and report (Suricata's `-T`).

use crate::config::Config;
use crate::ruleset;
use anyhow::{bail, Result};
use std::path::PathBuf;

pub fn run(config: &Config, rules: &[PathBuf], strict: bool) -> Result<()> {
    let set = ruleset::load(config, rules, strict)?;
    print!("{}", set.loaded.render());
    println!("rule files: {}", ruleset::display_files(&set.loaded.files));
    if set.loaded.errors > 0 {
        bail!(
            "{} invalid rule(s); see the errors above",
            set.loaded.errors
        );
    }
    println!("configuration OK");
    Ok(())
}
