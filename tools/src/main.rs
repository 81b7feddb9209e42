//! The `tidewatch` binary: one command, a subcommand per job.

mod alerts;
mod certs;
mod check;
mod collector;
mod config;
mod control;
mod deliver;
mod errtext;
mod eve;
mod metrics;
mod notify;
mod replay;
mod ruleset;
mod sensor;
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
        #[command(flatten)]
        delivery: DeliveryFlags,
        /// With --collector: serve the delivery's Prometheus metrics at http://ADDR/metrics
        /// while the replay runs.
        #[arg(long, value_name = "ADDR", requires = "collector")]
        metrics: Option<String>,
    },
    /// Live capture on an interface (XDP + AF_XDP), alerts as EVE JSON; SIGHUP reloads
    /// rules, SIGINT/SIGTERM stops with a summary.
    Sensor(sensor::SensorArgs),
    /// Make a running daemon reload its rules (a broken rule file keeps the old set).
    Reload {
        /// Control socket (default: config `sensor.control_socket`).
        #[arg(long)]
        control_socket: Option<PathBuf>,
    },
    /// Drop traffic from or to CIDR at the sensor's XDP program.
    Block {
        cidr: String,
        /// Lift the block after this long (e.g. 90s, 15m, 2h, 1d).
        #[arg(long = "for")]
        duration: Option<String>,
        /// Lift an earlier block instead.
        #[arg(long)]
        remove: bool,
        #[arg(long)]
        control_socket: Option<PathBuf>,
        /// Send the block through this collector's control socket to its sensors' XDP
        /// programs instead of to a local sensor.
        #[arg(long, conflicts_with_all = ["control_socket", "remove"])]
        collector_socket: Option<PathBuf>,
        /// With --collector-socket: only this sensor (default: every connected one).
        #[arg(long, requires = "collector_socket")]
        sensor: Option<String>,
    },
    /// Load config and rules as a daemon would, print the rule summary, fail on any error.
    Check {
        #[arg(long, short = 'r')]
        rules: Vec<PathBuf>,
        #[arg(long)]
        strict: bool,
    },
    /// Receive alerts from sensors over TLS and store them in redb.
    Collector(collector::CollectorArgs),
    /// Query stored alerts.
    Alerts(alerts::AlertsArgs),
    /// Switch a running collector's routing profile (the alert levels active).
    Profile(notify::ProfileArgs),
    /// Notifiers that run beside a daemon (`notify drop`: mail the drop channel).
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Create a CA and certificates for the collector and each sensor.
    Certs {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// A sensor to make a certificate for (repeatable).
        #[arg(long)]
        sensor: Vec<String>,
        /// A name or address the collector is reached by (repeatable; default localhost,
        /// 127.0.0.1, ::1).
        #[arg(long)]
        collector_name: Vec<String>,
    },
}

/// Delivery to a collector, shared by the commands that raise alerts.
#[derive(clap::Args)]
struct DeliveryFlags {
    /// Send alerts to this collector (`HOST:PORT`) through the spool; `replay` exits once
    /// the collector acknowledged every alert.
    #[arg(long, value_name = "HOST:PORT", requires = "spool")]
    collector: Option<String>,
    /// The spool file: alerts wait here, durable, until the collector acknowledges them.
    #[arg(long, requires = "collector")]
    spool: Option<PathBuf>,
    /// Spool size in MiB (allocated in full at start).
    #[arg(long, default_value_t = 256)]
    spool_mb: u64,
    /// Directory of `tidewatch certs` output (ca.pem, sensor-ID.pem, sensor-ID-key.pem).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Plain TCP instead of TLS (loopback tests only).
    #[arg(long)]
    insecure: bool,
    /// This sensor's id (default: the host name); also its certificate's name.
    #[arg(long)]
    sensor_id: Option<String>,
    /// The name on the collector's certificate (default: the host part of --collector).
    #[arg(long)]
    server_name: Option<String>,
}

impl DeliveryFlags {
    fn into_args(self) -> Result<Option<deliver::DeliveryArgs>> {
        Ok(match (self.collector, self.spool) {
            (Some(collector), Some(spool)) => Some(deliver::DeliveryArgs {
                collector,
                spool,
                spool_mb: self.spool_mb,
                insecure: self.insecure,
                certs: self.certs,
                sensor: self.sensor_id,
                server_name: self.server_name,
            }),
            _ => None,
        })
    }
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
            eprintln!("error: {}", errtext::one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The control socket a client command talks to: `--control-socket`, else the config's.
fn control_path(
    config: Option<&std::path::Path>,
    sets: &[String],
    given: Option<PathBuf>,
) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(config::Config::load(config, sets)?.sensor.control_socket),
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
            delivery,
            metrics,
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
                    delivery: delivery.into_args()?,
                    metrics,
                },
                &config,
            )?;
            Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Sensor(args) => {
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            sensor::run(args, &config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload { control_socket } => {
            let path = control_path(cli.config.as_deref(), &sets, control_socket)?;
            println!("{}", control::request(&path, "reload")?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Block {
            cidr,
            duration,
            remove,
            control_socket,
            collector_socket,
            sensor,
        } => {
            let prefix: capture::xdp::Prefix = cidr.parse()?;
            if let Some(path) = collector_socket {
                let secs = duration.map(|d| control::parse_duration(&d)).transpose()?;
                let secs = secs.map_or(0, |d| d.as_secs().clamp(1, u32::MAX as u64));
                let mut line = format!("block {prefix} {secs}");
                if let Some(s) = sensor {
                    line = format!("{line} {s}");
                }
                let answer = store::collector::request_via_socket(&path, &line)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{answer}");
                return Ok(ExitCode::SUCCESS);
            }
            let path = control_path(cli.config.as_deref(), &sets, control_socket)?;
            let line = match (remove, duration) {
                (true, _) => format!("unblock {prefix}"),
                (false, Some(d)) => {
                    format!("block {prefix} {}", control::parse_duration(&d)?.as_secs())
                }
                (false, None) => format!("block {prefix}"),
            };
            println!("{}", control::request(&path, &line)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Collector(args) => {
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            collector::run(args, &config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile(args) => {
            println!("{}", notify::profile(args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify(cmd) => {
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            notify::run(cmd, &config)
        }
        Command::Alerts(args) => {
            alerts::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs {
            out,
            sensor,
            collector_name,
        } => {
            certs::run(&out, &sensor, &collector_name)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { rules, strict } => {
            let config = config::Config::load(cli.config.as_deref(), &sets)?;
            check::run(&config, &rules, strict)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
