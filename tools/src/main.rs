//! The `tidewatch` binary: one command, a subcommand per job.

mod check;
mod config;
mod eve;
mod replay;
mod ruleset;
mod timefmt;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Network sensor and alert pipeline with Suricata-compatible rules"
)]
struct Cli {
    /// TOML configuration file; every option can be set there.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override a config key, e.g. `--set vars.address.HOME_NET=[10.0.0.0/8]` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    sets: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run detection over a pcap/pcapng file through the same workers as live capture.
    Replay {
        pcap: PathBuf,
        /// Rule file (repeatable).
        #[arg(long, short = 'r', required = true)]
        rules: Vec<PathBuf>,
        /// Detection workers (default: config `detect.workers`, 1).
        #[arg(long)]
        workers: Option<usize>,
        /// Where EVE JSON alerts go: a path, or `-` for stdout (the default).
        #[arg(long)]
        eve: Option<PathBuf>,
        /// Suricata's checksum-checks: auto, all or none.
        #[arg(long, value_parser = ["auto", "all", "none"])]
        checksum_checks: Option<String>,
        /// Any skipped (unsupported) or invalid rule is an error.
        #[arg(long)]
        strict: bool,
    },
    /// Load config and rules as a daemon would, print the rule summary, fail on any error.
    Check {
        #[arg(long, short = 'r')]
        rules: Vec<PathBuf>,
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let mut sets = cli.sets.clone();
    match cli.command {
        Command::Replay {
            pcap,
            rules,
            workers,
            eve,
            checksum_checks,
            strict,
        } => {
            if let Some(c) = checksum_checks {
                sets.push(format!("detect.checksum_checks={c}"));
            }
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            let complete = replay::run(
                replay::ReplayArgs {
                    pcap,
                    rules,
                    eve,
                    workers,
                    strict,
                },
                &config,
            )?;
            Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Check { rules, strict } => {
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            check::run(&config, &rules, strict)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
