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
    /// Run Suricata on the stream golden pcap (default and midstream settings) and
    /// compare with (or, with --update, rewrite) xtask/golden/stream/expected_*.json.
    GoldenStream {
        #[arg(long)]
        update: bool,
    },
    /// Run Suricata on the defrag golden pcap (its default overlap policy and five
    /// others) and compare with (or, with --update, rewrite)
    /// xtask/golden/defrag/expected_*.json.
    GoldenDefrag {
        #[arg(long)]
        update: bool,
    },
    /// Write the defrag golden pcap.
    GenGoldenDefrag {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run Suricata on the stateful golden pcap (flowbits, thresholds, threshold.config)
    /// and compare with (or, with --update, rewrite) xtask/golden/stateful/expected.json.
    GoldenStateful {
        #[arg(long)]
        update: bool,
    },
    /// Run Suricata on the DNS golden pcap and compare with (or, with --update, rewrite)
    /// xtask/golden/dns/expected.json.
    GoldenDns {
        #[arg(long)]
        update: bool,
    },
    /// Write the DNS golden pcap.
    GenGoldenDns {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run Suricata on the TLS golden pcap and compare with (or, with --update, rewrite)
    /// xtask/golden/tls/expected.json.
    GoldenTls {
        #[arg(long)]
        update: bool,
    },
    /// Write the TLS golden pcap.
    GenGoldenTls {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run Suricata on the HTTP golden pcap and compare with (or, with --update, rewrite)
    /// xtask/golden/http/expected.json.
    GoldenHttp {
        #[arg(long)]
        update: bool,
    },
    /// Write the HTTP golden pcap.
    GenGoldenHttp {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run Suricata on the TLS certificate golden pcap and compare with (or, with
    /// --update, rewrite) xtask/golden/tls-certs/expected.json.
    GoldenTlsCerts {
        #[arg(long)]
        update: bool,
    },
    /// Write the TLS certificate golden pcap.
    GenGoldenTlsCerts {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run Suricata with the ET Open rules tidewatch enforces on the 50 MB bench pcap and
    /// compare with (or, with --update, rewrite) xtask/golden/et_open/expected_bench50.json.
    GoldenEtOpen {
        #[arg(long)]
        update: bool,
    },
    /// Run Suricata on each tunnel golden pcap (GRE, ERSPAN, VXLAN, GENEVE, MPLS,
    /// IP-in-IP, nested) and compare with (or, with --update, rewrite)
    /// xtask/golden/encap/expected.json.
    GoldenEncap {
        #[arg(long)]
        update: bool,
    },
    /// Write the tunnel golden pcaps, one per scenario, into a directory.
    GenGoldenEncap {
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the stream golden pcap.
    GenGoldenStream {
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a deterministic mixed-traffic pcap for throughput runs (and, with
    /// --rules-out, the matching 100 benchmark rules).
    GenBench {
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1024)]
        size_mb: u64,
        /// Also write the benchmark rules (normally xtask/bench/100.rules).
        #[arg(long)]
        rules_out: Option<PathBuf>,
    },
    /// Time Suricata and (if built) tidewatch on the same pcap and rules.
    BenchSuricata {
        #[arg(long)]
        pcap: PathBuf,
        #[arg(long, default_value = xtask::benchgen::BENCH_RULES_PATH)]
        rules: PathBuf,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where to write the JSON report.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The built-in demo: a namespace, a collector and a sensor, traffic with attacks,
    /// the stored alerts and the metrics.
    Demo(xtask::demo::DemoArgs),
    /// The whole pipeline under load: AF_XDP traffic from a namespace into a sensor that
    /// ships to a collector; reports rates, drops by stage, alerts expected/raised/stored,
    /// latency quantiles, as text, JSON (--json) and a PNG plot (--plot).
    Loadtest(xtask::loadtest::LoadtestArgs),
    /// Run the criterion benchmarks in benches/ and compare with a saved baseline.
    Bench(xtask::criterion_cmp::BenchArgs),
    /// Run random rule sets through Suricata and tidewatch on the golden and stream
    /// pcaps and print where they differ (which rules load; alerts per packet and sid).
    RuleDiff(xtask::rule_diff::RuleDiffArgs),
    /// Compare the `stream_size` count Suricata and tidewatch give every TCP packet of the
    /// golden and stream golden pcaps (default and midstream settings).
    StreamSizeCheck,
    /// Write the golden pcap.
    GenGolden {
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Golden { update } => xtask::golden_check::run(update),
        Cmd::GoldenStream { update } => xtask::stream_check::run(update),
        Cmd::GoldenDefrag { update } => xtask::defrag_check::run(update),
        Cmd::GenGoldenDefrag { out } => {
            xtask::golden_defrag::write_defrag_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::GoldenStateful { update } => xtask::stateful_check::run(update),
        Cmd::GoldenDns { update } => xtask::dns_check::run(update),
        Cmd::GenGoldenDns { out } => {
            xtask::golden_dns::write_dns_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::GoldenTls { update } => xtask::dns_check::run_tls(update),
        Cmd::GenGoldenTls { out } => {
            xtask::golden_tls::write_tls_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::GoldenHttp { update } => xtask::dns_check::run_http(update),
        Cmd::GenGoldenHttp { out } => {
            xtask::golden_http::write_http_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::GoldenTlsCerts { update } => xtask::dns_check::run_tls_certs(update),
        Cmd::GenGoldenTlsCerts { out } => {
            xtask::golden_tls_certs::write_tls_certs_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::GoldenEtOpen { update } => xtask::et_open_check::run(update),
        Cmd::GoldenEncap { update } => xtask::encap_check::run(update),
        Cmd::GenGoldenEncap { out } => {
            std::fs::create_dir_all(&out)?;
            for sc in xtask::golden_encap::Scenario::ALL {
                let path = out.join(format!("{}.pcap", sc.name()));
                xtask::golden_encap::write_scenario_pcap(sc, &path)?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Cmd::GenGoldenStream { out } => {
            xtask::golden_stream::write_stream_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Cmd::Bench(args) => xtask::criterion_cmp::run(&args).map(|_| ()),
        Cmd::RuleDiff(args) => xtask::rule_diff::run(&args),
        Cmd::StreamSizeCheck => xtask::rule_diff::run_stream_sizes(),
        Cmd::Demo(args) => xtask::demo::run(&args),
        Cmd::Loadtest(args) => xtask::loadtest::run_and_report(&args),
        Cmd::GenBench {
            out,
            size_mb,
            rules_out,
        } => {
            if let Some(r) = rules_out {
                std::fs::write(&r, xtask::benchgen::bench_rules_text())?;
                println!("wrote {}", r.display());
            }
            if let Some(out) = out {
                let start = std::time::Instant::now();
                let s = xtask::benchgen::write_bench_pcap(&out, size_mb)?;
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "wrote {}: {} frames, {} flows, {} rule triggers, {:.1} MB of frames in {:.2} s ({:.0} MB/s)",
                    out.display(),
                    s.frames,
                    s.flows,
                    s.triggers,
                    s.frame_bytes as f64 / 1e6,
                    secs,
                    s.frame_bytes as f64 / 1e6 / secs.max(1e-9)
                );
            }
            Ok(())
        }
        Cmd::BenchSuricata {
            pcap,
            rules,
            runs,
            json,
        } => xtask::bench::run(&pcap, &rules, runs, json.as_deref()).map(|_| ()),
        Cmd::GenGolden { out } => {
            xtask::golden::write_golden_pcap(&out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}
