//! The stream golden scenarios: one TCP flow per reassembly case (split content, out of
//! order, retransmissions with equal and different bytes, gaps, midstream pickup, a lost
//! SYN/ACK, FIN and RST teardown), each with its own pattern and sid in
//! `xtask/golden/stream/stream.rules`. Suricata's alerts on this pcap, with its default
//! stream settings and with `stream.midstream=true`, are the reference for tidewatch's
//! stream reassembly (`cargo xtask golden-stream`).

use anyhow::{Context, Result};
use capture::craft::{tcp_flags as F, TcpSession};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The stream rules file.
pub const STREAM_RULES_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/stream/stream.rules");

/// A Suricata run configuration of the stream golden set: its name, the `--set`
/// overrides, the tidewatch `--set` overrides meaning the same, and the expected alerts.
pub struct StreamVariant {
    pub name: &'static str,
    pub suricata_set: &'static [&'static str],
    pub tidewatch_set: &'static [&'static str],
    pub expected_path: &'static str,
}

/// Default stream settings, and midstream pickup enabled.
pub const STREAM_VARIANTS: [StreamVariant; 2] = [
    StreamVariant {
        name: "default",
        suricata_set: &[],
        tidewatch_set: &[],
        expected_path: concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/golden/stream/expected_default.json"
        ),
    },
    StreamVariant {
        name: "midstream",
        suricata_set: &["stream.midstream=true"],
        tidewatch_set: &["stream.midstream=true"],
        expected_path: concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/golden/stream/expected_midstream.json"
        ),
    },
];

/// 2024-02-01T00:00:00Z: the first frame's timestamp.
const START_NS: u64 = 1_706_745_600_000_000_000;
const STEP_NS: u64 = 1_000_000;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
/// No Suricata app-layer parser claims this port, so stream inspection points depend on
/// the TCP stream alone.
const PORT: u16 = 7777;

/// One step of a flow script.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    /// SYN, SYN/ACK, ACK.
    Handshake,
    /// SYN and the client's ACK; the SYN/ACK is lost (its sequence number is used).
    HandshakeLostSynAck,
    /// A PSH/ACK data segment at the sender's next sequence number.
    Data(bool, &'a [u8]),
    /// A data segment at `offset` bytes past the sender's initial sequence number,
    /// not moving the sender's next sequence number (reordering, retransmission).
    At(bool, u32, &'a [u8]),
    /// The sender's next `n` bytes are never captured.
    Lost(bool, u32),
    /// A pure ACK of everything the peer sent so far.
    Ack(bool),
    /// Client FIN/ACK, server FIN/ACK, client ACK.
    Teardown,
    /// A RST/ACK from that side.
    Rst(bool),
    /// Server FIN/ACK, client ACK, client FIN/ACK, server ACK.
    ServerFirstTeardown,
}

/// Frames of scripted TCP flows from `CLIENT` to `server:port`.
pub(crate) struct Gen {
    pub(crate) frames: Vec<Vec<u8>>,
    buf: Vec<u8>,
    flows: u16,
    pub(crate) server: IpAddr,
    pub(crate) port: u16,
}

impl Gen {
    pub(crate) fn new() -> Gen {
        Gen {
            frames: Vec::new(),
            buf: Vec::new(),
            flows: 0,
            server: IpAddr::V4(SERVER),
            port: PORT,
        }
    }

    pub(crate) fn flow(&mut self, ops: &[Op<'_>]) {
        self.flows += 1;
        let n = u32::from(self.flows);
        let cport = 41000 + self.flows;
        let (cisn, sisn) = (
            0x1000_0000u32.wrapping_mul(n),
            0x9000_0000u32.wrapping_add(n * 7919),
        );
        let client = match self.server {
            IpAddr::V4(_) => IpAddr::V4(CLIENT),
            IpAddr::V6(_) => IpAddr::V6(CLIENT.to_ipv6_mapped()),
        };
        let mut s = TcpSession::new((client, cport), (self.server, self.port), cisn, sisn);
        // First data byte of each side (ISN + 1 when a handshake runs, else the ISN).
        let (mut cbase, mut sbase) = (cisn, sisn);
        for op in ops {
            match *op {
                Op::Handshake => {
                    (cbase, sbase) = (cisn.wrapping_add(1), sisn.wrapping_add(1));
                    for (c, fl) in [(true, F::SYN), (false, F::SYN | F::ACK), (true, F::ACK)] {
                        self.seg(&mut s, c, fl, &[]);
                    }
                }
                Op::HandshakeLostSynAck => {
                    (cbase, sbase) = (cisn.wrapping_add(1), sisn.wrapping_add(1));
                    self.seg(&mut s, true, F::SYN, &[]);
                    s.server_seq = s.server_seq.wrapping_add(1);
                    self.seg(&mut s, true, F::ACK, &[]);
                }
                Op::Data(c, p) => self.seg(&mut s, c, F::PSH | F::ACK, p),
                Op::At(c, off, p) => {
                    let base = if c { cbase } else { sbase };
                    let saved = if c { s.client_seq } else { s.server_seq };
                    set_seq(&mut s, c, base.wrapping_add(off));
                    self.seg(&mut s, c, F::PSH | F::ACK, p);
                    set_seq(&mut s, c, saved);
                }
                Op::Lost(c, len) => {
                    let next = if c { s.client_seq } else { s.server_seq };
                    set_seq(&mut s, c, next.wrapping_add(len));
                }
                Op::Ack(c) => self.seg(&mut s, c, F::ACK, &[]),
                Op::Teardown => {
                    for (c, fl) in [
                        (true, F::FIN | F::ACK),
                        (false, F::FIN | F::ACK),
                        (true, F::ACK),
                    ] {
                        self.seg(&mut s, c, fl, &[]);
                    }
                }
                Op::ServerFirstTeardown => {
                    for (c, fl) in [
                        (false, F::FIN | F::ACK),
                        (true, F::ACK),
                        (true, F::FIN | F::ACK),
                        (false, F::ACK),
                    ] {
                        self.seg(&mut s, c, fl, &[]);
                    }
                }
                Op::Rst(c) => self.seg(&mut s, c, F::RST | F::ACK, &[]),
            }
        }
    }

    fn seg(&mut self, s: &mut TcpSession, from_client: bool, flags: u8, payload: &[u8]) {
        s.segment(&mut self.buf, from_client, flags, payload);
        self.frames.push(self.buf.clone());
    }
}

fn set_seq(s: &mut TcpSession, client: bool, seq: u32) {
    if client {
        s.client_seq = seq;
    } else {
        s.server_seq = seq;
    }
}

/// All stream golden frames in order; the comment on each flow names its case and sids.
pub fn stream_frames() -> Vec<Vec<u8>> {
    use Op::*;
    let mut g = Gen::new();
    // 1. Content split across two segments (sid 101 tcp, 201 tcp-pkt, 301 tcp-stream).
    g.flow(&[
        Handshake,
        Data(true, b"hello SPLIT-TW"),
        Ack(false),
        Data(true, b"O-ATTACK there"),
        Ack(false),
        Teardown,
    ]);
    // 2. Across three segments (102).
    g.flow(&[
        Handshake,
        Data(true, b"aaa THREE-"),
        Ack(false),
        Data(true, b"SEGMENT"),
        Ack(false),
        Data(true, b"-ATTACK bbb"),
        Ack(false),
        Teardown,
    ]);
    // 3. Out of order: the third part arrives before the second (103).
    g.flow(&[
        Handshake,
        At(true, 0, b"xx OUT-OF-"),
        At(true, 16, b"ATTACK yy"),
        At(true, 10, b"ORDER-"),
        Lost(true, 25),
        Ack(false),
        Teardown,
    ]);
    // 4. Retransmission with identical bytes after the ACK (104 tcp, 204 tcp-pkt).
    g.flow(&[
        Handshake,
        Data(true, b"a RETRANS-SAME-ATTACK b"),
        Ack(false),
        At(true, 0, b"a RETRANS-SAME-ATTACK b"),
        Ack(false),
        Data(true, b"more"),
        Ack(false),
        Teardown,
    ]);
    // 5. Retransmission with different bytes before the ACK (105 original, 106 new).
    g.flow(&[
        Handshake,
        Data(true, b"OVERLAP-ORIG-DATA"),
        At(true, 0, b"OVERLAP-EVIL-DATA"),
        Ack(false),
        Teardown,
    ]);
    // 6. A segment arriving ahead, then one covering it and both sides of it (107 old
    //    bytes kept inside, 108 new bytes everywhere).
    g.flow(&[
        Handshake,
        At(true, 10, b"XXXXXXXXXX"),
        At(true, 0, b"YYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"),
        Lost(true, 30),
        Ack(false),
        Teardown,
    ]);
    // 7. A retransmission starting inside an in-order segment and going past its end
    //    (109 old bytes kept, 110 new bytes win).
    g.flow(&[
        Handshake,
        Data(true, b"AAAAAAAAAA"),
        At(true, 5, b"BBBBBBBBBBBBBBB"),
        Lost(true, 10),
        Ack(false),
        Teardown,
    ]);
    // 8. Leading gap: the first data segment is never captured (111).
    g.flow(&[
        Handshake,
        Lost(true, 20),
        Data(true, b"zz LEADING-GAP-ATTACK zz"),
        Ack(false),
        Teardown,
    ]);
    // 9. Mid-flow gap: data after it still matches (112), nothing matches across it (113).
    g.flow(&[
        Handshake,
        Data(true, b"first part GAP"),
        Ack(false),
        Lost(true, 30),
        Data(true, b"SPAN then MID-GAP-ATTACK"),
        Ack(false),
        Teardown,
    ]);
    // 10. Midstream: no handshake at all (114).
    g.flow(&[
        Data(true, b"mm MIDSTREAM-ATTACK mm"),
        Ack(false),
        Data(true, b"later"),
        Ack(false),
        Teardown,
    ]);
    // 11. The SYN/ACK is lost (115).
    g.flow(&[
        HandshakeLostSynAck,
        Data(true, b"ls LOST-SYNACK-ATTACK ls"),
        Ack(false),
        Teardown,
    ]);
    // 12. Both directions, FIN/ACK teardown (116 to server, 117 to client).
    g.flow(&[
        Handshake,
        Data(true, b"request CLIENT-SIDE-ATTACK"),
        Ack(false),
        Data(false, b"response SERVER-SIDE-ATTACK"),
        Ack(true),
        Teardown,
    ]);
    // 13. RST after acknowledged data (118).
    g.flow(&[
        Handshake,
        Data(true, b"r RST-CLOSE-ATTACK r"),
        Ack(false),
        Rst(true),
    ]);
    // 14. RST from the server right after unacknowledged data (119).
    g.flow(&[Handshake, Data(true, b"u RST-UNACKED-ATTACK u"), Rst(false)]);
    // 15. Two matches in one inspection window (120).
    g.flow(&[
        Handshake,
        Data(true, b"1 DOUBLE-ATTACK 1"),
        Ack(false),
        Data(true, b"2 DOUBLE-ATTACK 2"),
        Ack(false),
        Teardown,
    ]);
    // 16. depth/startswith on a `tcp` rule: packet and stream inspection (121, 122).
    g.flow(&[
        Handshake,
        Data(true, b"HDR1 header bytes"),
        Ack(false),
        Teardown,
    ]);
    // 17. A flow longer than the chunk size: two inspections, two matches (123).
    let big_a = big_segment(b"BIGFLOW-ATTACK", 0);
    let big_b = big_segment(b"", 1);
    let big_c = big_segment(b"", 2);
    let big_d = big_segment(b"BIGFLOW-ATTACK", 3);
    g.flow(&[
        Handshake,
        Data(true, &big_a),
        Ack(false),
        Data(true, &big_b),
        Ack(false),
        Data(true, &big_c),
        Ack(false),
        Data(true, &big_d),
        Ack(false),
        Teardown,
    ]);
    // 18. A segment arriving ahead, then one starting before it and ending inside it
    //     (124 new bytes win the overlap, 125 old bytes kept).
    g.flow(&[
        Handshake,
        At(true, 10, b"CCCCCCCCCC"),
        At(true, 0, b"DDDDDDDDDDDDDDD"),
        Lost(true, 20),
        Ack(false),
        Teardown,
    ]);
    // 19. The server closes first: FIN from the server, then the client (126, 127).
    g.flow(&[
        Handshake,
        Data(true, b"c SRVFIN-CLIENT-ATTACK c"),
        Ack(false),
        Data(false, b"s SRVFIN-SERVER-ATTACK s"),
        Ack(true),
        ServerFirstTeardown,
    ]);
    // 20. A retransmission of acknowledged data with different bytes (128 original,
    //     129 new).
    g.flow(&[
        Handshake,
        Data(true, b"RETRANS-DIFF-ORIG"),
        Ack(false),
        At(true, 0, b"RETRANS-DIFF-EVIL"),
        Ack(false),
        Teardown,
    ]);
    // 21. Two runs of stream bytes inspected at one packet, a gap between them: a pass
    //     rule matching the second drops the first's alert of that packet (303, 401).
    g.flow(&[
        Handshake,
        Data(true, b"first HELD-RUN"),
        Ack(false),
        Lost(true, 10),
        Data(true, b"then PASS-RUN here"),
        Ack(false),
        Teardown,
    ]);
    // 22. A drop matching the stream and a pass matching the packet's own payload at one
    //     packet: the pass sorts first, so neither the drop's alert nor its verdict
    //     happens, and as that pass covers the packet alone the flow goes on (304, 402,
    //     305).
    let (d1, d2, d3) = (
        big_segment(b"DROP-IN-STREAM", 1),
        big_segment(b"d2", 2),
        big_segment(b"d3", 3),
    );
    g.flow(&[
        Handshake,
        Data(true, &d1),
        Data(true, &d2),
        Data(true, &d3),
        Ack(false),
        Data(true, b"PASS-IN-PACKET"),
        Ack(false),
        Data(false, b"AFTER-THE-VERDICT"),
        Ack(true),
        Teardown,
    ]);
    // 23. As 21 with a drop rule matching the first run: the pass in the second wins, so
    //     the drop does not alert (306, 401).
    g.flow(&[
        Handshake,
        Data(true, b"first DROP-RUN"),
        Ack(false),
        Lost(true, 10),
        Data(true, b"then PASS-RUN here"),
        Ack(false),
        Teardown,
    ]);
    // 24. A session still open when the capture ends: Suricata sends each direction a
    //     pseudo packet (no payload, no flags), and the "like IP-only" rules of that
    //     direction alert on it once more, without a `pcap_cnt` (307, 308).
    g.flow(&[
        Handshake,
        Data(true, b"still open"),
        Ack(false),
        Data(false, b"so it is"),
        Ack(true),
    ]);
    g.frames
}

/// A 1000-byte segment of filler starting with `head`.
fn big_segment(head: &[u8], n: u8) -> Vec<u8> {
    let mut v = head.to_vec();
    v.extend((0..1000 - head.len()).map(|i| b'a' + ((i + n as usize) % 23) as u8));
    v
}

/// Writes Ethernet `frames` as a pcap into any sink, the first at `start_ns` and each
/// next one `step_ns` later; returns the number of frames.
pub(crate) fn write_frames<W: Write>(
    sink: W,
    frames: &[Vec<u8>],
    start_ns: u64,
    step_ns: u64,
) -> Result<usize> {
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (i, f) in frames.iter().enumerate() {
        w.write_frame(start_ns + (i as u64) * step_ns, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

/// Creates `path` and hands `write` a buffered writer on it; errors name the file.
pub(crate) fn write_file(
    path: &Path,
    write: impl FnOnce(BufWriter<std::fs::File>) -> Result<usize>,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes the stream golden pcap into any sink; returns the number of frames.
pub fn write_stream<W: Write>(sink: W) -> Result<usize> {
    write_frames(sink, &stream_frames(), START_NS, STEP_NS)
}

/// Writes the stream golden pcap to `path`.
pub fn write_stream_pcap(path: impl AsRef<Path>) -> Result<()> {
    write_file(path.as_ref(), write_stream)
}
