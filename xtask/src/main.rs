//! `cargo xtask`: golden tests against Suricata, traffic generation and benchmarks.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "xtask", about = "tidewatch developer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run Suricata on the golden pcap and compare with (or, with --update, rewrite)
    /// xtask/golden/expected.json and expected_alerts.json.
    Golden {
        #[arg(long)]
        update: bool,
    },
    /// Write the golden pcap.
    GenGolden {
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Golden { update } => xtask::golden_check::run(update),
        Cmd::GenGolden { out } => {
            xtask::golden::write_golden_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}
