//! Inspect cost per packet: 100 content rules (a mix of plain, nocase and relative
//! chains, a few with pcre) over 1 KB payloads, some of which contain rule patterns.
//! Run with `cargo run --release -p detect --example engine_cost`.

use std::net::IpAddr;
use std::time::Instant;

use capture::decode::tcp_flags::{ACK, PSH};
use detect::engine::{test_packet, Engine, FlowInfo, RuleBuilder, TestL4};
use detect::rules::Proto;

/// Deterministic xorshift so runs compare.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let words = [
        "login", "passwd", "select", "union", "script", "cmd.exe", "wget", "curl", "base64", "eval",
    ];
    let mut rules = Vec::new();
    for i in 0..100u32 {
        let w = words[i as usize % words.len()];
        let pat = format!("{w}_{i:03}");
        let mut b = RuleBuilder::new(Proto::Tcp, 1000 + i);
        if i % 4 == 0 {
            b = b.dst_ports(&[(80, 80)], &[]);
        }
        b = b.content(pat.as_bytes());
        if i % 3 == 0 {
            b = b.nocase();
        }
        if i % 5 == 0 {
            b = b.content(b"=").distance(0).within(8);
        }
        if i % 10 == 0 {
            b = b.pcre("[0-9]{2,}", "R", false)?;
        }
        rules.push(b.build());
    }
    let engine = Engine::build(rules)?;
    let mut scratch = engine.scratch();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 =&/?.-_ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let payloads: Vec<Vec<u8>> = (0..1024)
        .map(|n| {
            let mut p: Vec<u8> = (0..1024)
                .map(|_| alphabet[(rng(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            if n % 16 == 0 {
                let i = (rng(&mut state) % 100) as usize;
                let pat = format!("{}_{i:03}=42", words[i % words.len()]);
                let at = (rng(&mut state) % 900) as usize;
                p[at..at + pat.len()].copy_from_slice(pat.as_bytes());
            }
            p
        })
        .collect();
    let (src, dst): (IpAddr, IpAddr) = ("10.0.0.1".parse()?, "10.0.0.2".parse()?);
    let flow = FlowInfo {
        to_server: true,
        established: true,
        first_in_direction: true,
        flowless: false,
        header_only: false,
        stream_data: false,
        stream_size: None,
        app: Default::default(),
        payload_unread: false,
    };
    let l4 = TestL4::Tcp {
        sport: 40000,
        dport: 80,
        flags: ACK | PSH,
    };
    let rounds = 40;
    let mut hits = 0usize;
    for p in &payloads {
        engine.inspect(&test_packet(src, dst, l4, p), &flow, &mut scratch);
    }
    // Best of several trials: the build machine is shared, the minimum is the least disturbed.
    let mut elapsed = std::time::Duration::MAX;
    for _ in 0..7 {
        hits = 0;
        let start = Instant::now();
        for _ in 0..rounds {
            for p in &payloads {
                engine.inspect(&test_packet(src, dst, l4, p), &flow, &mut scratch);
                hits += scratch.matches().len();
            }
        }
        elapsed = elapsed.min(start.elapsed());
    }
    let packets = rounds * payloads.len();
    let ns = elapsed.as_nanos() as f64 / packets as f64;
    println!(
        "{} rules, {} groups, {packets} packets of 1024 bytes: {ns:.0} ns/packet ({:.2} Gbit/s payload), {hits} matches",
        engine.rules().len(),
        engine.stats().groups,
        1024.0 * 8.0 / ns
    );
    Ok(())
}
