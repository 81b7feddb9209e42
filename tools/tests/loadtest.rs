//! A short, paced `cargo xtask loadtest` of the whole pipeline on a real veth: this
//! package's `tidewatch` binary runs as sensor and collector, the AF_XDP generator sends
//! from a namespace. Every frame offered is seen and inspected, every expected alert is
//! raised and stored, no stage counts a drop, and the JSON and PNG are written. Needs root.

use clap::Parser;
use xtask::loadtest::{run_and_report, LoadtestArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadtestArgs,
}

/// Stages the report must always carry (every stage the pipeline counts).
const STAGES: [&str; 13] = [
    "link",
    "xdp",
    "rx_ring",
    "fill_ring",
    "socket",
    "decode",
    "stream",
    "worker_queue",
    "flow",
    "detect",
    "spool",
    "drop_channel",
    "collector",
];

#[test]
fn paced_loadtest_stores_every_expected_alert_with_no_loss() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lt.json");
    let png = dir.path().join("lt.png");
    let cli = Cli::try_parse_from([
        "loadtest",
        "--pps",
        "20000",
        "--duration",
        "5",
        "--count",
        "20000",
        "--size",
        "128",
        "--flows",
        "100",
        "--alert-ratio",
        "0.05",
        "--max-loss",
        "0",
        "--sample-ms",
        "100",
        "--bin",
        env!("CARGO_BIN_EXE_tidewatch"),
        "--json",
        json.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ])
    .unwrap();
    // Fails (non-zero) when any stage lost anything or stored < expected.
    run_and_report(&cli.args).expect("loadtest passes --max-loss 0 (root needed)");

    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert_eq!(n("offered"), 20_000, "{r}");
    assert_eq!(n("seen"), 20_000);
    assert_eq!(n("inspected"), 20_000);
    assert_eq!(n("rules"), 100);
    // 51 of every 1,024 templates are triggers (5%); the generator rotates through
    // them, so about 1,000 of the 20,000 frames, each raising one alert.
    let expected = n("alerts_expected");
    assert!((940..=1060).contains(&expected), "expected {expected}");
    assert_eq!(n("alerts_raised"), expected);
    assert_eq!(n("alerts_stored"), expected);
    let drops = r["drops"].as_array().unwrap();
    for s in STAGES {
        assert!(
            drops.iter().any(|d| d["stage"] == s),
            "stage {s} missing from {drops:?}"
        );
    }
    for d in drops
        .iter()
        .filter(|d| d["unit"] == "packets" || d["unit"] == "alerts")
    {
        assert_eq!(d["count"], 0, "a drop: {d}");
    }
    for stage in ["latency_detect", "latency_deliver"] {
        let q = &r[stage];
        assert_eq!(q["count"].as_u64(), Some(expected), "{stage}: {q}");
        for k in ["p50", "p90", "p99", "p999"] {
            let v = q[k].as_f64().unwrap();
            assert!(v > 0.0 && v < 10.0, "{stage} {k} = {v}");
        }
    }
    assert!(
        r["latency_detect"]["max"].as_f64().unwrap()
            >= r["latency_detect"]["p999"].as_f64().unwrap()
    );
    assert!(r["samples"].as_array().unwrap().len() >= 5, "samples");
    assert!(!r["detect_series"].as_array().unwrap().is_empty());

    let img = std::fs::read(&png).unwrap();
    assert_eq!(&img[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&img[12..16], b"IHDR");
    let w = u32::from_be_bytes(img[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(img[20..24].try_into().unwrap());
    assert_eq!((w, h), (xtask::plot::WIDTH, xtask::plot::HEIGHT));
    assert!(
        img.len() > 10_000,
        "a plot with lines and text, not a blank image: {} bytes",
        img.len()
    );
    assert_eq!(&img[img.len() - 8..img.len() - 4], b"IEND", "complete PNG");
}
