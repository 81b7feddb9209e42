//! A short, paced `cargo xtask loadtest` on a real veth: every frame the generator
//! offered is seen by XDP, and every seen frame is either inspected or counted as a
//! socket drop; with no drop, alerts equal the trigger frames offered. Needs root.

use xtask::loadtest::{run, LoadtestArgs};

#[test]
fn paced_loadtest_accounts_for_every_frame() {
    let args = LoadtestArgs {
        pps: 50_000,
        duration: 5.0,
        count: 20_000,
        size: 128,
        alert_ratio: 0.05,
        rules: xtask::benchgen::BENCH_RULES_PATH.into(),
        workers: 1,
        max_loss: None,
        frames: 32768,
        block_all: false,
        json: None,
    };
    let r = run(&args).expect("loadtest runs (root needed)");
    assert_eq!(r.rules, 100);
    assert_eq!(r.offered, 20_000, "{r:?}");
    assert_eq!(r.seen, r.offered, "{r:?}");
    assert_eq!(r.redirected, r.seen, "{r:?}");
    assert_eq!(r.inspected + r.socket_drops, r.seen, "{r:?}");
    // The generator rotates through its templates, so the trigger frames it sent are
    // --alert-ratio of the offered (51 of every 1,024 templates: 996 of 20,000), give or
    // take the last partial rotation.
    assert!(
        (940..=1050).contains(&r.expected_alerts),
        "trigger frames sent should be about 5% of 20,000: {r:?}"
    );
    if r.socket_drops == 0 {
        assert_eq!(r.alerts, r.expected_alerts, "{r:?}");
    }
}
