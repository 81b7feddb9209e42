//! Build time and lookup cost at ruleset scale: 30 000 synthetic TCP/UDP content rules,
//! two thirds on any port, the rest spread over 300 destination ports (ET Open's shape).
//! Run with `cargo run --release -p detect --example engine_build`.

use std::time::Instant;

use capture::decode::tcp_flags::ACK;
use detect::engine::{test_packet, Engine, FlowInfo, RuleBuilder, TestL4};
use detect::rules::Proto;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rules = Vec::new();
    for i in 0..30_000u32 {
        let proto = if i % 5 == 0 { Proto::Udp } else { Proto::Tcp };
        let mut b = RuleBuilder::new(proto, i + 1);
        if i % 3 == 0 {
            let port = 1000 + (i % 300) as u16;
            b = b.dst_ports(&[(port, port)], &[]);
        }
        let pat = format!("pat{:05x}-{}", i.wrapping_mul(2_654_435_761) >> 12, i % 97);
        b = b.content(pat.as_bytes());
        if i % 2 == 0 {
            b = b.nocase();
        }
        rules.push(b.build());
    }
    let before = rss_kib();
    let t = Instant::now();
    let engine = Engine::build(rules)?;
    let build = t.elapsed();
    let stats = engine.stats();
    println!(
        "{} rules -> {} groups in {:.2?}, RSS +{} MiB",
        stats.rules,
        stats.groups,
        build,
        (rss_kib().saturating_sub(before)) / 1024
    );
    let mut scratch = engine.scratch();
    let payload: Vec<u8> = (0..1024u32)
        .map(|i| b"abcdefghij klmnop=&/\r\n"[(i * 7 % 22) as usize])
        .collect();
    let flow = FlowInfo::default();
    for dport in [80u16, 1005, 5555] {
        let pkt = test_packet(
            "10.0.0.1".parse()?,
            "10.0.0.2".parse()?,
            TestL4::Tcp {
                sport: 40000,
                dport,
                flags: ACK,
            },
            &payload,
        );
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..2000 {
                engine.inspect(&pkt, &flow, &mut scratch);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / 2000.0);
        }
        println!(
            "tcp dport {dport}: {best:.0} ns per 1 KB packet, {} matches",
            scratch.matches().len()
        );
    }
    Ok(())
}
