//! The defrag golden scenarios: one fragmented datagram per case (in order, reversed,
//! duplicated fragments, tiny fragments, TCP inside a session, ICMP, IPv6 with a
//! hop-by-hop header before the fragment header and destination options after it, a train
//! that never completes, one completing after the incomplete one timed out, and three
//! overlap shapes whose bytes differ per policy), each with its own pattern and sid in
//! `xtask/golden/defrag/defrag.rules`. Suricata's alerts on this pcap under each overlap
//! policy (`host-os-policy`) are the reference for tidewatch's reassembly
//! (`cargo xtask golden-defrag`).

use anyhow::{Context, Result};
use capture::craft::{tcp_flags as F, FrameSpec, Ipv6Ext, L4Spec, TcpSession};
use capture::craft_frag::{even, fragment, fragmentable_len, Piece};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The defrag rules file.
pub const DEFRAG_RULES_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/defrag/defrag.rules");

/// A Suricata run of the defrag golden set: the overlap policy (Suricata:
/// `host-os-policy` for every address, none for its default; tidewatch:
/// `defrag.policy`) and the expected alerts.
pub struct DefragVariant {
    /// tidewatch's `defrag.policy`.
    pub policy: &'static str,
    /// The `host-os-policy` OS name Suricata maps to the policy; none: Suricata's
    /// default.
    pub suricata_os: Option<&'static str>,
    pub expected_path: &'static str,
}

macro_rules! variant {
    ($p:literal, $os:expr) => {
        DefragVariant {
            policy: $p,
            suricata_os: $os,
            expected_path: concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/golden/defrag/expected_",
                $p,
                ".json"
            ),
        }
    };
}

/// Suricata's default (BSD) and each policy its `host-os-policy` can select. `last` has
/// no OS name there, so it has no golden (its unit test states the expected bytes).
pub const DEFRAG_VARIANTS: [DefragVariant; 5] = [
    variant!("bsd", None),
    variant!("linux", Some("linux")),
    variant!("first", Some("macos")),
    variant!("windows", Some("windows")),
    variant!("solaris", Some("solaris")),
];

/// The `host-os-policy` section giving every address the OS `os`.
pub fn host_os_policy_yaml(os: &str) -> String {
    format!("\nhost-os-policy:\n  {os}: [203.0.113.0/24, 198.51.100.0/24, \"2001:db8::/32\"]\n")
}

/// 2024-03-01T00:00:00Z: the first frame's timestamp.
const START_NS: u64 = 1_709_251_200_000_000_000;
const STEP_NS: u64 = 1_000_000;
/// The pause before the last case: longer than Suricata's 60 s defrag timeout.
const LATE_NS: u64 = 120_000_000_000;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 60);
/// No Suricata app-layer parser claims these ports.
const UDP_PORT: u16 = 9999;
const TCP_PORT: u16 = 7777;

struct Gen {
    frames: Vec<(u64, Vec<u8>)>,
    ts: u64,
    /// Each datagram gets its own source port and fragment id.
    n: u16,
}

impl Gen {
    fn push(&mut self, f: Vec<u8>) {
        self.ts += STEP_NS;
        self.frames.push((self.ts, f));
    }

    fn next_id(&mut self) -> (u16, u32) {
        self.n += 1;
        (40000 + self.n, 0x1000 + u32::from(self.n))
    }

    /// A UDP datagram to the server carrying `payload`, cut into `pieces` (built from
    /// the fragmentable length).
    fn udp4(&mut self, payload: &[u8], pieces: impl Fn(usize) -> Vec<Piece<'static>>) {
        let (sport, id) = self.next_id();
        let whole = udp_frame(IpAddr::V4(CLIENT), IpAddr::V4(SERVER), sport, payload, None);
        self.cut(&whole, id, &pieces(payload.len() + 8));
    }

    fn cut(&mut self, whole: &[u8], id: u32, pieces: &[Piece<'_>]) {
        for f in fragment(LinkType::Ethernet, whole, id, pieces).expect("crafted frame") {
            self.push(f);
        }
    }

    /// One overlap shape to `dst`: held bytes `old` at `old_at`, then the header, then `new` at
    /// `new_at`, then the rest; every piece covers whole 8-byte units of a 56-byte
    /// fragmentable part (UDP header and 48 payload bytes).
    fn overlap(
        &mut self,
        dst: Ipv4Addr,
        old: &[u8; 16],
        old_at: usize,
        new: &[u8; 16],
        new_at: usize,
    ) {
        let (sport, id) = self.next_id();
        let whole = udp_frame(
            IpAddr::V4(CLIENT),
            IpAddr::V4(dst),
            sport,
            &[b'.'; 48],
            None,
        );
        let mut pieces = vec![Piece::bytes(old_at, old).more(true), Piece::span(0, 8)];
        pieces.push(Piece::bytes(new_at, new).more(true));
        // The rest: what neither covers up to 40.
        let covered = old_at.max(new_at) + 16;
        if old_at.min(new_at) > 8 {
            pieces.push(Piece::span(8, old_at.min(new_at) - 8));
        }
        pieces.push(Piece::span(covered, 56 - covered));
        self.cut(&whole, id, &pieces);
    }
}

fn udp_frame(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    payload: &[u8],
    ext: Option<Ipv6Ext>,
) -> Vec<u8> {
    let mut f = Vec::new();
    let mut s = FrameSpec::ip(
        src,
        dst,
        L4Spec::Udp {
            src_port: sport,
            dst_port: UDP_PORT,
        },
    )
    .payload(payload);
    if let Some(e) = ext {
        s = s.ipv6_ext(e);
    }
    s.write(&mut f);
    f
}

/// `text` padded with filler to `len` bytes, the text in the middle.
fn padded(text: &[u8], len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| b'a' + (i % 19) as u8).collect();
    let at = (len - text.len()) / 2;
    v[at..at + text.len()].copy_from_slice(text);
    v
}

/// All defrag golden frames with their timestamps; the comment on each case names its
/// sids (see the rules file).
pub fn defrag_frames() -> Vec<(u64, Vec<u8>)> {
    let mut g = Gen {
        frames: Vec::new(),
        ts: START_NS,
        n: 0,
    };
    // 1. UDP in order, 3 fragments (1001).
    g.udp4(&padded(b"FRAG-INORDER-UDP", 120), |n| even(n, 48));
    // 2. Reversed (1002).
    g.udp4(&padded(b"FRAG-REVERSED-UDP", 120), |n| {
        let mut p = even(n, 48);
        p.reverse();
        p
    });
    // 3. Every fragment twice, the last one first (1003).
    g.udp4(&padded(b"FRAG-DUPLICATED-UDP", 120), |n| {
        let p = even(n, 48);
        vec![p[2], p[0], p[0], p[1], p[2], p[1]]
    });
    // 4. Tiny fragments: 8 bytes each, shuffled (1004).
    g.udp4(&padded(b"FRAG-TINY-PIECES", 64), |n| {
        let mut p = even(n, 8);
        let k = p.len();
        p.swap(0, k - 1);
        p.swap(2, 5);
        p
    });
    // 5. TCP: a data segment fragmented inside an established session (1005).
    {
        let (cport, id) = g.next_id();
        let mut s = TcpSession::new(
            (IpAddr::V4(CLIENT), cport),
            (IpAddr::V4(SERVER), TCP_PORT),
            0x1111_0000,
            0x2222_0000,
        );
        let mut buf = Vec::new();
        for (c, fl) in [(true, F::SYN), (false, F::SYN | F::ACK), (true, F::ACK)] {
            s.segment(&mut buf, c, fl, &[]);
            g.push(buf.clone());
        }
        s.segment(
            &mut buf,
            true,
            F::PSH | F::ACK,
            &padded(b"FRAG-TCP-ATTACK", 200),
        );
        let n = fragmentable_len(LinkType::Ethernet, &buf).expect("crafted frame");
        let mut p = even(n, 64);
        p.swap(1, 3);
        let whole = buf.clone();
        g.cut(&whole, id, &p);
        for (c, fl) in [
            (false, F::ACK),
            (true, F::FIN | F::ACK),
            (false, F::FIN | F::ACK),
            (true, F::ACK),
        ] {
            s.segment(&mut buf, c, fl, &[]);
            g.push(buf.clone());
        }
    }
    // 6. ICMP echo request, fragmented out of order (1006).
    {
        let (_, id) = g.next_id();
        let mut f = Vec::new();
        let payload = padded(b"FRAG-ICMP-ECHO", 96);
        FrameSpec::ipv4(
            CLIENT,
            SERVER,
            L4Spec::Icmp {
                icmp_type: 8,
                code: 0,
                id: 7,
                seq: 1,
            },
        )
        .payload(&payload)
        .write(&mut f);
        let mut p = even(104, 40);
        p.swap(0, 1);
        g.cut(&f, id, &p);
    }
    // 7-9. IPv6 UDP: plain and reversed (1007), hop-by-hop before the fragment header
    //      (1008), destination options after it (1009).
    let c6 = IpAddr::V6("2001:db8:60::10".parse::<Ipv6Addr>().expect("address"));
    let s6 = IpAddr::V6("2001:db8:60::60".parse::<Ipv6Addr>().expect("address"));
    for (text, ext) in [
        (&b"FRAG6-PLAIN-UDP"[..], None),
        (b"FRAG6-HOP-BY-HOP", Some(Ipv6Ext::HopByHop)),
        (b"FRAG6-DEST-OPTIONS", Some(Ipv6Ext::DestOpts)),
    ] {
        let (sport, id) = g.next_id();
        let whole = udp_frame(c6, s6, sport, &padded(text, 150), ext);
        let n = fragmentable_len(LinkType::Ethernet, &whole).expect("crafted frame");
        let mut p = even(n, 56);
        p.reverse();
        g.cut(&whole, id, &p);
    }
    // 10. A train that never completes (its middle is lost): no alert (1010), although
    //     the pattern is whole inside the first fragment.
    let mut never = b"FRAG-NEVER-DONE".to_vec();
    never.resize(40, b'-');
    g.udp4(&never, |_| vec![Piece::span(0, 24), Piece::span(40, 8)]);
    // 11. An `ip` rule without payload keywords on a fragmented datagram to its own
    //     address: once per inspected packet (1011).
    {
        let (sport, id) = g.next_id();
        let whole = udp_frame(
            IpAddr::V4(CLIENT),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99)),
            sport,
            &padded(b"IP-ONLY", 60),
            None,
        );
        g.cut(&whole, id, &even(68, 24));
    }
    // 12-14. Overlap shapes (see `detect::defrag`): the new fragment starts before the
    //        held one (1121 held bytes win, 1122 new bytes win), at its offset with its
    //        length (1131, 1132), inside it and past its end (1141, 1142).
    overlap_shapes(&mut g, SERVER);
    // 15. After a pause longer than the timeout (the train of case 10 times out), one
    //     more datagram in order (1015).
    g.ts += LATE_NS;
    g.udp4(&padded(b"FRAG-AFTER-PAUSE", 100), |n| even(n, 40));
    g.frames
}

/// The three overlap shapes (sids 1121-1142) to `dst`.
fn overlap_shapes(g: &mut Gen, dst: Ipv4Addr) {
    g.overlap(dst, b"S1OLDxxxS1OLDyyy", 24, b"S1NEWxxxS1NEWyyy", 16);
    g.overlap(dst, b"S2OLDxxxS2OLDyyy", 16, b"S2NEWxxxS2NEWyyy", 16);
    g.overlap(dst, b"S3OLDxxxS3OLDyyy", 8, b"S3NEWxxxS3NEWyyy", 16);
}

/// The per-host policy golden: `host-os-policy` gives 203.0.113.0/24 Windows and, more
/// specifically, 203.0.113.61 Linux; 198.51.100.9 is in no network (the default, BSD).
pub const HOSTS_SURICATA_YAML: &str =
    "\nhost-os-policy:\n  windows: [203.0.113.0/24]\n  linux: [203.0.113.61/32]\n";
/// The same map as tidewatch `--set`s.
pub const HOSTS_SETS: [&str; 2] = [
    "defrag.host-os-policy.windows=[203.0.113.0/24]",
    "defrag.host-os-policy.linux=[203.0.113.61/32]",
];
/// Suricata's alerts on [`host_policy_frames`] under [`HOSTS_SURICATA_YAML`].
pub const HOSTS_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/defrag/expected_hosts.json"
);
/// The destinations of [`host_policy_frames`]: Linux, Windows, the default.
pub const HOSTS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 61),
    Ipv4Addr::new(203, 0, 113, 62),
    Ipv4Addr::new(198, 51, 100, 9),
];

/// The overlap shapes sent to each of [`HOSTS`]: which bytes win depends on the
/// destination's policy.
pub fn host_policy_frames() -> Vec<(u64, Vec<u8>)> {
    let mut g = Gen {
        frames: Vec::new(),
        ts: START_NS,
        n: 0,
    };
    for dst in HOSTS {
        overlap_shapes(&mut g, dst);
    }
    g.frames
}

/// Writes frames as an Ethernet pcap to `path`.
fn write_frames(path: &Path, frames: &[(u64, Vec<u8>)]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = PcapWriter::new(BufWriter::new(file), LinkType::Ethernet)?;
    for (ts, f) in frames {
        w.write_frame(*ts, f)?;
    }
    w.into_inner()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes the per-host policy golden pcap to `path`.
pub fn write_host_policy_pcap(path: impl AsRef<Path>) -> Result<()> {
    write_frames(path.as_ref(), &host_policy_frames())
}

/// Writes the defrag golden pcap into any sink; returns the number of frames.
pub fn write_defrag<W: Write>(sink: W) -> Result<usize> {
    let frames = defrag_frames();
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (ts, f) in &frames {
        w.write_frame(*ts, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

/// Writes the defrag golden pcap to `path`.
pub fn write_defrag_pcap(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write_defrag(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
