//! `cargo xtask demo`: the README's main-job command, the whole pipeline on one machine.
//! It builds tidewatch, makes a network namespace joined to the host by a veth pair, makes
//! a CA and certificates, starts a collector and a sensor on the host end (XDP + AF_XDP,
//! delivering over TLS, metrics on), sends traffic with known attacks from inside the
//! namespace with the AF_XDP generator, waits until every alert is stored, then shows the
//! stored alerts, the metrics, and the numbers that must agree. Everything it started is
//! stopped and the namespace removed when it ends, also on error. Needs root.

use crate::loadtest::{generate, templates, triggers_sent, Pace, TxFrom};
use crate::pipeline::{
    build_tidewatch, metric, run_ok, scrape, target_dir, workspace_root, Pipeline, PipelineConfig,
};
use anyhow::{anyhow, bail, Context, Result};
use capture::netns::VethLab;
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Demo options.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Frames to send.
    #[arg(long, default_value_t = 200_000)]
    pub frames: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 50_000)]
    pub pps: u64,
    /// Share of frames carrying an attack the demo rules detect.
    #[arg(long, default_value_t = 0.02)]
    pub alert_ratio: f64,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    println!("==> building tidewatch (release)");
    let bin = build_tidewatch()?;
    let dir = target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let rules = workspace_root().join(crate::benchgen::BENCH_RULES_PATH);

    println!("==> a namespace joined to this host by a veth pair (IPv6 off)");
    let lab = VethLab::new("demo", 1).context("making the demo namespace (run as root)")?;
    println!(
        "    namespace {}, sensor on {}, traffic from {}",
        lab.ns, lab.host_if, lab.peer_if
    );

    println!("==> tidewatch certs (a CA, the collector's and the sensor's certificates), a TLS");
    println!(
        "    collector with a redb store, and a sensor on {} (XDP + AF_XDP, 100 rules,",
        lab.host_if
    );
    println!("    spool, TLS to the collector), both with metrics");
    let pipe = Pipeline::start(&PipelineConfig {
        bin: &bin,
        dir: &dir,
        iface: &lab.host_if,
        rules: &rules,
        sensor_id: "demo-sensor",
        workers: 1,
        spool_mb: 64,
        eve: dir.join("eve.json"),
        echo: true,
    })?;
    let db = pipe.db.clone();
    let col_sock = pipe.collector_socket.clone();
    let sensor_metrics = pipe.sensor_metrics.clone();
    let col_metrics = pipe.collector_metrics.clone();

    println!(
        "==> sending {} frames at {} frames/s from the namespace, {:.0}% carrying attacks",
        args.frames,
        args.pps,
        args.alert_ratio * 100.0
    );
    let pace = Pace {
        pps: args.pps,
        duration: Duration::from_secs_f64(
            (args.frames as f64 / args.pps.max(1) as f64 + 30.0).min(3600.0),
        ),
        count: args.frames,
    };
    let from = TxFrom {
        netns: Some(lab.ns.clone()),
        iface: lab.peer_if.clone(),
    };
    let (frames, is_trigger) = templates(256, args.alert_ratio, 64)?;
    let progress = AtomicU64::new(0);
    let (tx, secs) = std::thread::scope(|s| {
        s.spawn(|| generate(&from, &pace, &frames, &progress))
            .join()
            .map_err(|_| anyhow!("generator thread panicked"))?
    })?;
    let expected = triggers_sent(&tx, &is_trigger);
    println!(
        "    sent {} frames in {secs:.1} s, {expected} of them attacks",
        tx.completed
    );

    println!("==> waiting until the collector has stored every alert (at most 30 s)");
    let end = Instant::now() + Duration::from_secs(30);
    let (s_text, c_text) = loop {
        let s_text = scrape(&sensor_metrics)?;
        let c_text = scrape(&col_metrics)?;
        let raised = metric(&s_text, "tidewatch_alerts_total");
        let stored = metric(&c_text, "tidewatch_collector_records_stored_total");
        if (raised >= expected as f64 && stored >= raised) || Instant::now() > end {
            break (s_text, c_text);
        }
        std::thread::sleep(Duration::from_millis(250));
    };

    println!("\n==> tidewatch alerts --limit 10 (asked through the collector's control socket)");
    let table = run_ok(
        Command::new(&bin)
            .args(["alerts", "--limit", "10", "--db"])
            .arg(&db)
            .arg("--control")
            .arg(&col_sock),
    )?;
    print!("{table}");

    let seen = metric(&s_text, "tidewatch_packets_total");
    let raised = metric(&s_text, "tidewatch_alerts_total");
    let stored = metric(&c_text, "tidewatch_collector_records_stored_total");
    let drops = metric(&s_text, "tidewatch_drops_total");
    let alert_drops = metric(&s_text, "tidewatch_alerts_dropped_total");
    println!("\n==> the numbers (from the metrics endpoints)");
    for (what, n) in [
        ("frames sent", tx.completed as f64),
        ("frames the sensor received", seen),
        ("packet drops", drops),
        ("attacks sent", expected as f64),
        ("alerts raised", raised),
        ("alerts stored", stored),
        ("alerts dropped", alert_drops),
    ] {
        println!("    {what:<28}{n:>10}");
    }
    for (who, text) in [("sensor", &s_text), ("collector", &c_text)] {
        for l in text
            .lines()
            .filter(|l| l.starts_with("tidewatch_alert_latency_seconds{"))
        {
            println!("    {who:<10} {l}");
        }
    }
    println!(
        "\n    while running: sensor metrics at http://{sensor_metrics}/metrics, collector at http://{col_metrics}/metrics"
    );
    println!(
        "    kept in {}: alerts.redb (try `{} alerts --db {} --format json --payload --limit 3`), eve.json, pki/",
        dir.display(),
        bin.display(),
        db.display()
    );
    println!("    Grafana: tools/grafana/tidewatch.json with tools/grafana/provisioning/*.yaml");

    pipe.stop();
    drop(lab);
    if stored as u64 != raised as u64 || raised as u64 != expected {
        bail!(
            "alerts raised {raised}, stored {stored}, attacks sent {expected}: they should agree"
        );
    }
    println!("\n==> every attack raised one alert and every alert was stored once; demo done");
    Ok(())
}
