//! Differential check of the matcher against Suricata: reads rules in a compact spec
//! (written by `gen.py` next to this file, together with the same rules in Suricata
//! syntax, the payloads and a pcap) and prints `packet-index sid` for every match, for
//! `run.sh` to compare with Suricata's fast.log.
//!
//! Spec: one rule per line, `sid<TAB>keyword ; keyword ...`, keywords:
//! `C <hex> [neg] [n] [sw] [ew] [o=N] [d=N] [dist=N] [w=N]` content,
//! `P <regex hex> <flags|-> [neg]` pcre, `I <n> <rel 0|1> <neg 0|1>` isdataat,
//! `T <op> <value> <offset> <rel> [<bytes> dec|hex|oct]` byte_test (1 binary byte, or a
//! string), `J <offset> <rel> [m=N] [al] [fb] [po=N]` byte_jump (1 byte).

use std::error::Error;

use detect::engine::{test_packet, Engine, FlowInfo, RuleBuilder, TestL4};
use detect::rules::*;

fn hex(s: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    if !s.is_ascii() || !s.len().is_multiple_of(2) {
        return Err(format!("bad hex {s:?}").into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(s.get(i..i + 2).unwrap_or(""), 16)?))
        .collect()
}

fn keyword(b: RuleBuilder, kw: &str) -> Result<RuleBuilder, Box<dyn Error>> {
    let t: Vec<&str> = kw.split(' ').collect();
    let arg = |i: usize| {
        t.get(i)
            .copied()
            .ok_or_else(|| format!("missing argument {i} in {kw:?}"))
    };
    let one = |i: usize| -> Result<bool, Box<dyn Error>> { Ok(arg(i)? == "1") };
    Ok(match arg(0)? {
        "C" => {
            let pat = hex(arg(1)?)?;
            let mut b = if t.contains(&"neg") {
                b.not_content(&pat)
            } else {
                b.content(&pat)
            };
            for m in t.iter().skip(2) {
                b = match *m {
                    "n" => b.nocase(),
                    "sw" => b.startswith(),
                    "ew" => b.endswith(),
                    "neg" => b,
                    m => match m.split_once('=') {
                        Some(("dist", v)) => b.distance(v.parse()?),
                        Some(("w", v)) => b.within(v.parse()?),
                        Some(("o", v)) => b.offset(v.parse()?),
                        Some(("d", v)) => b.depth(v.parse()?),
                        _ => return Err(format!("unknown content modifier {m:?}").into()),
                    },
                };
            }
            b
        }
        "P" => {
            let rx = String::from_utf8(hex(arg(1)?)?)?;
            let flags = if arg(2)? == "-" { "" } else { arg(2)? };
            b.pcre(&rx, flags, t.get(3) == Some(&"neg"))?
        }
        "I" => b.isdataat(arg(1)?.parse()?, one(2)?, one(3)?),
        "T" => {
            let op = match arg(1)? {
                "<" => ByteTestOp::Lt,
                ">" => ByteTestOp::Gt,
                "=" => ByteTestOp::Eq,
                "&" => ByteTestOp::And,
                o => return Err(format!("unknown byte_test operator {o:?}").into()),
            };
            let (bytes, format) = match (t.get(5), t.get(6)) {
                (Some(n), Some(base)) => {
                    let base = match *base {
                        "dec" => 10,
                        "hex" => 16,
                        "oct" => 8,
                        b => return Err(format!("unknown base {b:?}").into()),
                    };
                    (n.parse()?, NumberFormat::String(base))
                }
                _ => (1, NumberFormat::Binary(Endian::Big)),
            };
            b.byte_test(ByteTest {
                bytes,
                negated: false,
                op,
                value: arg(2)?.parse()?,
                offset: arg(3)?.parse()?,
                relative: one(4)?,
                format,
                bitmask: None,
            })
        }
        "J" => {
            let mut j = ByteJump {
                relative: one(2)?,
                ..ByteJump::new(1, arg(1)?.parse()?)
            };
            for m in t.iter().skip(3) {
                match m.split_once('=') {
                    Some(("m", v)) => j.multiplier = v.parse()?,
                    Some(("po", v)) => j.post_offset = v.parse()?,
                    _ if *m == "al" => j.align = true,
                    _ if *m == "fb" => j.from_beginning = true,
                    _ => return Err(format!("unknown byte_jump option {m:?}").into()),
                }
            }
            b.byte_jump(j)
        }
        k => return Err(format!("unknown keyword {k:?}").into()),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (spec, payloads) = match (args.next(), args.next()) {
        (Some(s), Some(p)) => (s, p),
        _ => return Err("usage: suricata_diff RULES.spec PAYLOADS.hex".into()),
    };
    let mut rules = Vec::new();
    for (n, line) in std::fs::read_to_string(&spec)?.lines().enumerate() {
        let (sid, body) = line
            .split_once('\t')
            .ok_or_else(|| format!("{spec}:{}: no tab", n + 1))?;
        let mut b = RuleBuilder::new(Proto::Udp, sid.parse()?);
        for kw in body.split(" ; ") {
            b = keyword(b, kw).map_err(|e| format!("{spec}:{}: {e}", n + 1))?;
        }
        rules.push(b.build());
    }
    let engine = Engine::build(rules)?;
    let mut scratch = engine.scratch();
    let (src, dst) = ("10.0.0.1".parse()?, "10.0.0.2".parse()?);
    for (i, line) in std::fs::read_to_string(&payloads)?.lines().enumerate() {
        let p = hex(line)?;
        let l4 = TestL4::Udp {
            sport: 10000u16.wrapping_add(i as u16),
            dport: 5000,
        };
        engine.inspect(
            &test_packet(src, dst, l4, &p),
            &FlowInfo::default(),
            &mut scratch,
        );
        for &m in scratch.matches() {
            println!("{i} {}", engine.rules()[m].sid);
        }
    }
    Ok(())
}
