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
    // The generator counts the trigger frames it really sent (its template mix need not hit
    // --alert-ratio exactly); some must have gone out for the alert check to mean anything.
    assert!(r.expected_alerts > 0, "{r:?}");
    if r.socket_drops == 0 {
        assert_eq!(r.alerts, r.expected_alerts, "{r:?}");
    }
}
