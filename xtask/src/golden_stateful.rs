//! The stateful golden scenarios: flowbits across the packets of one flow (set, isset,
//! isnotset, unset, toggle, noalert, `|` groups, `&` in a name, both directions, a bit
//! set and read on one packet), `threshold` (limit, threshold, both; by_src, by_dst,
//! by_rule, by_both), `detection_filter`, and `threshold.config` suppress (all, by_src,
//! by_dst, by_either), rate_filter and a threshold replacing a rule's own. Rules are in
//! `xtask/golden/stateful/stateful.rules`, the tuning in `threshold.config` beside them.
//! Suricata's alerts on this pcap are the reference (`cargo xtask golden-stateful`).

use anyhow::{Context, Result};
use capture::craft::{FrameSpec, L4Spec};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

pub const STATEFUL_RULES_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/stateful/stateful.rules"
);
pub const STATEFUL_THRESHOLD_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/stateful/threshold.config"
);
pub const STATEFUL_EXPECTED_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/stateful/expected.json");

/// 2024-03-01T00:00:00Z.
const START_NS: u64 = 1_709_251_200_000_000_000;
const STEP_NS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const PORT: u16 = 9999;

struct Gen {
    frames: Vec<(u64, Vec<u8>)>,
    now: u64,
    next_port: u16,
}

impl Gen {
    /// One UDP datagram `src:sport -> dst:dport`.
    fn udp(&mut self, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) {
        let mut out = Vec::new();
        FrameSpec::ipv4(
            src,
            dst,
            L4Spec::Udp {
                src_port: sport,
                dst_port: dport,
            },
        )
        .payload(payload)
        .write(&mut out);
        self.now += STEP_NS;
        self.frames.push((self.now, out));
    }

    /// A flow from `client` to `server:9999` carrying `payloads` in order (`Ok` to the
    /// server, `Err` a reply from it).
    fn flow(&mut self, client: Ipv4Addr, server: Ipv4Addr, payloads: &[Result<&[u8], &[u8]>]) {
        self.next_port += 1;
        let port = self.next_port;
        for p in payloads {
            match p {
                Ok(b) => self.udp(client, port, server, PORT, b),
                Err(b) => self.udp(server, PORT, client, port, b),
            }
        }
    }

    /// `n` single-datagram flows of `payload` from `src` to `dst`.
    fn repeat(&mut self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], n: usize) {
        for _ in 0..n {
            self.flow(src, dst, &[Ok(payload)]);
        }
    }

    fn wait(&mut self, secs: u64) {
        self.now += secs * S;
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// Every frame with its timestamp, in order.
pub fn stateful_frames() -> Vec<(u64, Vec<u8>)> {
    let mut g = Gen {
        frames: Vec::new(),
        now: START_NS,
        next_port: 40000,
    };
    let (c, srv) = (ip(10, 1, 0, 1), ip(192, 0, 2, 1));
    // Flowbits. A: login, then a command (1002) and a reply (1016).
    g.flow(c, srv, &[Ok(b"LOGIN"), Ok(b"CMD"), Err(b"RESP")]);
    // B: a command without login (1003), a reply without login (nothing).
    g.flow(c, srv, &[Ok(b"CMD"), Err(b"RESP")]);
    // C: login, logout, command (1003 again, not 1002).
    g.flow(c, srv, &[Ok(b"LOGIN"), Ok(b"LOGOUT"), Ok(b"CMD")]);
    // D: toggle three times, checking after each (1006 twice).
    g.flow(
        c,
        srv,
        &[
            Ok(b"TOG"),
            Ok(b"CHK"),
            Ok(b"TOG"),
            Ok(b"CHK"),
            Ok(b"TOG"),
            Ok(b"CHK"),
        ],
    );
    // E: a set, then the OR checks (1008; 1009 since b is not set) and TWO (1017).
    g.flow(c, srv, &[Ok(b"SETA"), Ok(b"ORCHK"), Ok(b"TWO")]);
    // F: nothing set: 1009 only.
    g.flow(c, srv, &[Ok(b"ORCHK"), Ok(b"TWO")]);
    // G: a and b set; `fb.a&fb.b` is another name (no 1010); both set (1008, not 1009).
    g.flow(
        c,
        srv,
        &[
            Ok(b"SETA"),
            Ok(b"SETB"),
            Ok(b"ANDCHK"),
            Ok(b"ORCHK"),
            Ok(b"TWO"),
        ],
    );
    // H: the `&` name itself set: 1010.
    g.flow(c, srv, &[Ok(b"ANDSET"), Ok(b"ANDCHK")]);
    // I: one packet sets and another rule reads on it (1015), and again.
    g.flow(c, srv, &[Ok(b"BOTH"), Ok(b"BOTH")]);
    // J: the bit of another flow is not seen (no 1002).
    g.flow(c, srv, &[Ok(b"CMD")]);

    // Thresholds, each from its own addresses.
    let (s1, s2) = (ip(10, 2, 0, 1), ip(10, 2, 0, 2));
    g.repeat(s1, srv, b"LIM", 5); // 2001: 2 alerts
    g.repeat(s2, srv, b"LIM", 1); // 1
    let (d1, d2) = (ip(192, 0, 2, 21), ip(192, 0, 2, 22));
    g.repeat(ip(10, 3, 0, 1), d1, b"THR", 4); // 2002 by_dst: the 3rd
    g.repeat(ip(10, 3, 0, 2), d1, b"THR", 3); // with the above: the 6th
    g.repeat(ip(10, 3, 0, 3), d2, b"THR", 2); // none
    g.repeat(ip(10, 4, 0, 1), srv, b"BTH", 5); // 2003: the 2nd only
    g.repeat(ip(10, 5, 0, 1), srv, b"BYR", 2); // 2004 by_rule: 1 over both sources
    g.repeat(ip(10, 5, 0, 2), srv, b"BYR", 2);
    g.repeat(ip(10, 6, 0, 1), d1, b"BYB", 2); // 2005 by_both: 1 per pair
    g.repeat(ip(10, 6, 0, 1), d2, b"BYB", 2);
    g.repeat(d1, ip(10, 6, 0, 1), b"BYB", 1); // the pair in the other order
    g.repeat(ip(10, 7, 0, 1), srv, b"DFL", 5); // 2006: the 3rd to 5th

    // threshold.config.
    g.repeat(ip(10, 8, 0, 1), srv, b"SUPALL", 2); // 3001: none
    g.repeat(ip(10, 9, 1, 1), srv, b"SUPSRC", 2); // 3002: suppressed source
    g.repeat(ip(10, 8, 1, 1), srv, b"SUPSRC", 2); // alerts
    g.repeat(ip(10, 8, 2, 1), ip(192, 0, 2, 7), b"SUPDST", 2); // 3003: suppressed
    g.repeat(ip(10, 8, 2, 1), ip(192, 0, 2, 9), b"SUPDST", 2); // alerts
    g.repeat(ip(10, 77, 0, 1), srv, b"SUPEITHER", 1); // 3006: suppressed (src)
    g.repeat(ip(10, 8, 3, 1), ip(10, 77, 0, 1), b"SUPEITHER", 1); // suppressed (dst)
    g.repeat(ip(10, 8, 3, 1), srv, b"SUPEITHER", 1); // alerts
    g.repeat(ip(10, 10, 0, 1), srv, b"RATE", 5); // 3004: all alert, action changes
    g.repeat(ip(10, 11, 0, 1), srv, b"OVR", 4); // 3005: 1 (the config's limit)

    // Windows: past 60 s the limit and detection_filter counts start again.
    g.wait(61);
    g.repeat(s1, srv, b"LIM", 3); // 2001: 2 more
    g.repeat(ip(10, 7, 0, 1), srv, b"DFL", 3); // 2006: the 3rd only
    g.repeat(ip(10, 4, 0, 1), srv, b"BTH", 2); // 2003: 1 more
    g.frames
}

/// Writes the stateful golden pcap into any sink; returns the number of frames.
pub fn write_stateful<W: Write>(sink: W) -> Result<usize> {
    let frames = stateful_frames();
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (ts, f) in &frames {
        w.write_frame(*ts, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

pub fn write_stateful_pcap(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write_stateful(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
