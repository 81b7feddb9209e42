//! `cargo xtask gen-bench`: a deterministic, mixed throughput pcap (TCP sessions with real
//! handshakes, UDP, ICMP; hundreds of thousands of flows interleaved; a realistic frame
//! size mix) and the 100 content rules (`xtask/bench/100.rules`) whose triggers a small
//! fraction of the payloads carry.
//!
//! Everything derives from one fixed-seed PRNG, so the same `--size-mb` gives the same file.

use anyhow::{Context, Result};
use capture::craft::{tcp_flags as F, FrameSpec, L4Spec, TcpSession};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The checked-in benchmark rules, rendered by [`bench_rules_text`].
pub const BENCH_RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/100.rules");

/// First frame timestamp: 2024-01-01T00:00:00Z.
const START_NS: u64 = 1_704_067_200_000_000_000;
/// Probability (per mille) that a client data segment carries a rule trigger.
const TRIGGER_PER_MILLE: u64 = 5;
/// Flows in progress at once; frames of these are interleaved.
const ACTIVE_FLOWS: usize = 512;

/// SplitMix64: a tiny, fixed-seed generator (no external crate, same output everywhere).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi` (hi >= lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn per_mille(&mut self, p: u64) -> bool {
        self.next_u64() % 1000 < p
    }
}

/// One benchmark rule: protocol, destination port, content and options.
#[derive(Clone, Copy, Debug)]
pub struct BenchRule {
    pub sid: u32,
    pub tcp: bool,
    /// Destination port, or 0 for `any`.
    pub port: u16,
    pub content: &'static str,
    pub nocase: bool,
    /// `offset` (the generator places the content exactly there).
    pub offset: Option<u16>,
    /// `depth` (the generator places the content at the offset, or at 0).
    pub depth: Option<u16>,
    /// A pcre after the content and the bytes the generator appends so it matches.
    pub pcre: Option<(&'static str, &'static str)>,
}

const CONTENTS: [&str; 100] = [
    "/etc/passwd",
    "cmd.exe /c",
    "UNION SELECT",
    "<script>alert(",
    "/bin/sh -i",
    "powershell -enc",
    "wget http://",
    "curl -s http://",
    "../../../../",
    "xp_cmdshell",
    "User-Agent: sqlmap",
    "eval(base64_decode(",
    "Nikto/2.",
    "/wp-login.php",
    "/phpmyadmin/",
    "javascript:eval",
    "document.cookie",
    "onerror=alert",
    "SELECT * FROM users",
    "DROP TABLE",
    "/cgi-bin/test-cgi",
    "/.git/config",
    "/.env",
    "/actuator/env",
    "${jndi:ldap://",
    "/manager/html",
    "/solr/admin",
    "/boaform/admin",
    "/HNAP1/",
    "/shell?cd+/tmp",
    "chmod 777",
    "nc -e /bin/sh",
    "mshta http",
    "certutil -urlcache",
    "regsvr32 /s /n",
    "rundll32.exe",
    "Invoke-Mimikatz",
    "IEX(New-Object",
    "DownloadString(",
    "bitsadmin /transfer",
    "vssadmin delete",
    "whoami /priv",
    "net user /add",
    "schtasks /create",
    "reg add HKLM",
    "mimikatz",
    "meterpreter",
    "cobaltstrike",
    "beacon.dll",
    "x-powered-by: ",
    "MZ\u{90}\u{0}",
    "This program cannot",
    "PK\u{3}\u{4}",
    "%PDF-1.",
    "AUTH LOGIN",
    "MAIL FROM:<>",
    "RCPT TO:<root",
    "USER anonymous",
    "PASS guest",
    "SITE EXEC",
    "STOR ../",
    "RETR /etc/shadow",
    "SSH-2.0-libssh",
    "SSH-1.5-",
    "HELO evil",
    "EHLO attacker",
    "GET /admin HTTP",
    "POST /upload.php",
    "PUT /shell.jsp",
    "Content-Type: application/x-sh",
    "X-Forwarded-For: 127.0.0.1",
    "Authorization: Basic YWRtaW46",
    "Cookie: PHPSESSID=",
    "/api/v1/exec",
    "cmd=cat",
    "passwd=admin",
    "login=root",
    "/jmx-console",
    "/axis2/",
    "version.bind",
    "\u{7}version\u{4}bind",
    "dnscat",
    "iodine",
    "tunnel.example",
    "\u{1}\u{0}\u{0}\u{1}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{4}evil",
    "monlist",
    "public\u{a0}",
    "private-snmp",
    "SNMPv3-probe",
    "syslog-inject",
    "ZmFrZS1rZXk",
    "BEGIN RSA PRIVATE",
    "ssh-rsa AAAAB3",
    "aws_secret_access",
    "password=",
    "api_key=",
    "stratum+tcp://",
    "mining.subscribe",
    "xmrig",
    "/tmp/.X11-unix/",
];

/// The 100 benchmark rules, derived from [`CONTENTS`] by index: TCP ports 80, 443, 8080,
/// 21, 25, 22 or any for most, UDP 53, 123, 161, 514 for the DNS/NTP/SNMP/syslog-flavoured
/// ones; every 4th nocase, every 5th with a depth (every 10th also an offset), two with a pcre after the content.
pub fn bench_rules() -> Vec<BenchRule> {
    let tcp_ports = [80u16, 443, 8080, 21, 25, 22, 0];
    let udp_ports = [53u16, 123, 161, 514];
    CONTENTS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let udp = (78..=91).contains(&i);
            let port = if udp {
                udp_ports[i % udp_ports.len()]
            } else {
                tcp_ports[i % tcp_ports.len()]
            };
            let pcre = match *c {
                "UNION SELECT" => Some(("/UNION SELECT\\s+\\w+/", " password")),
                "/.git/config" => Some(("/\\.git\\/config\\s*HTTP\\/1\\.[01]/", " HTTP/1.1")),
                _ => None,
            };
            BenchRule {
                sid: 9_000_001 + i as u32,
                tcp: !udp,
                port,
                content: c,
                nocase: i % 4 == 3 && pcre.is_none(),
                offset: if i % 10 == 9 { Some(2) } else { None },
                depth: if i % 5 == 4 && pcre.is_none() {
                    Some(64)
                } else {
                    None
                },
                pcre,
            }
        })
        .collect()
}

/// Renders a content for a rule: printable ASCII as is, other bytes and `"|;\` in hex.
fn rule_content(s: &str) -> String {
    let mut out = String::new();
    let mut in_hex = false;
    for ch in s.chars() {
        let b = ch as u32;
        let plain = (0x20..0x7f).contains(&b) && !matches!(ch, '"' | '|' | ';' | '\\');
        if plain {
            if in_hex {
                out.push('|');
                in_hex = false;
            }
            out.push(ch);
        } else {
            out.push(if in_hex { ' ' } else { '|' });
            in_hex = true;
            out.push_str(&format!("{:02X}", b & 0xff));
        }
    }
    if in_hex {
        out.push('|');
    }
    out
}

/// Bytes the generator puts into a payload for a content (chars are code points < 256).
pub fn content_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| (c as u32 & 0xff) as u8).collect()
}

/// The text of `xtask/bench/100.rules`.
pub fn bench_rules_text() -> String {
    let mut out = String::from(
        "# 100 content rules for throughput comparisons (generated by `cargo xtask gen-bench --rules-out`\n\
         # from xtask/src/benchgen.rs; the generated pcap carries their triggers in a few payloads).\n",
    );
    for r in bench_rules() {
        // Suricata inspects a `tcp` content with offset/depth on the packet and again on
        // the reassembled stream (two alerts); until stream reassembly lands, such rules
        // are `tcp-pkt` so both engines do the same packet inspection.
        let proto = match (r.tcp, r.offset.is_some() || r.depth.is_some()) {
            (true, true) => "tcp-pkt",
            (true, false) => "tcp",
            (false, _) => "udp",
        };
        let port = if r.port == 0 {
            "any".to_string()
        } else {
            r.port.to_string()
        };
        let flow = if r.tcp {
            "flow:established,to_server; "
        } else {
            "flow:to_server; "
        };
        let mut opts = format!("content:\"{}\";", rule_content(r.content));
        if r.nocase {
            opts.push_str(" nocase;");
        }
        if let Some(o) = r.offset {
            opts.push_str(&format!(" offset:{o};"));
        }
        if let Some(d) = r.depth {
            opts.push_str(&format!(" depth:{d};"));
        }
        if let Some((p, _)) = r.pcre {
            opts.push_str(&format!(" pcre:\"{p}\";"));
        }
        out.push_str(&format!(
            "alert {proto} $HOME_NET any -> $EXTERNAL_NET {port} (msg:\"BENCH {}\"; {flow}{opts} classtype:misc-activity; sid:{}; rev:1;)\n",
            rule_content(r.content).replace('"', ""),
            r.sid
        ));
    }
    out
}

/// Summary of a generated file.
#[derive(Debug, Default, Clone, Copy)]
pub struct GenStats {
    pub frames: u64,
    pub frame_bytes: u64,
    pub flows: u64,
    pub triggers: u64,
}

/// Writes about `size_mb` MiB of mixed traffic to `path`.
pub fn write_bench_pcap(path: &Path, size_mb: u64) -> Result<GenStats> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let w = BufWriter::with_capacity(1 << 20, file);
    generate(w, size_mb.saturating_mul(1 << 20))
        .with_context(|| format!("writing {}", path.display()))
}

/// One flow in progress.
enum FlowState {
    Tcp {
        s: TcpSession,
        port: u16,
        step: u32,
        segments: u32,
        /// A trigger was placed already: Suricata inspects a TCP stream as a whole and
        /// alerts once per inspection, so a second match in one flow would count
        /// differently until stream reassembly lands; one trigger per flow keeps the
        /// comparison exact.
        triggered: bool,
    },
    Udp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        left: u32,
    },
    Icmp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        left: u16,
    },
}

struct Generator {
    rng: Rng,
    rules: Vec<BenchRule>,
    filler: Vec<u8>,
    payload: Vec<u8>,
    buf: Vec<u8>,
    /// Reused list of rule indices applicable to the current payload.
    scratch: Vec<usize>,
    flow_no: u64,
    stats: GenStats,
}

const TCP_PORTS: [u16; 7] = [80, 443, 8080, 21, 25, 22, 3306];
const UDP_PORTS: [u16; 4] = [53, 123, 161, 514];

impl Generator {
    fn client_ip(&mut self) -> Ipv4Addr {
        let r = self.rng.next_u64();
        Ipv4Addr::new(10, (r >> 8) as u8, (r >> 16) as u8, 1 + (r % 250) as u8)
    }
    fn server_ip(&mut self) -> Ipv4Addr {
        let r = self.rng.range(0, 4999) as u32;
        Ipv4Addr::new(
            203 - (r / 2000) as u8 * 10,
            0,
            (r / 250 % 8) as u8 + 113,
            (r % 250) as u8 + 1,
        )
    }

    fn new_flow(&mut self) -> FlowState {
        self.flow_no += 1;
        self.stats.flows += 1;
        let kind = self.rng.range(0, 99);
        let c = self.client_ip();
        let s = self.server_ip();
        let sport = self.rng.range(1024, 65000) as u16;
        if kind < 70 {
            let port = TCP_PORTS[self.rng.range(0, TCP_PORTS.len() as u64 - 1) as usize];
            let isn_c = self.rng.next_u64() as u32;
            let isn_s = self.rng.next_u64() as u32;
            let sess = TcpSession::new((IpAddr::V4(c), sport), (IpAddr::V4(s), port), isn_c, isn_s);
            let segments = self.rng.range(1, 12) as u32;
            FlowState::Tcp {
                s: sess,
                port,
                step: 0,
                segments,
                triggered: false,
            }
        } else if kind < 92 {
            let dport = UDP_PORTS[self.rng.range(0, UDP_PORTS.len() as u64 - 1) as usize];
            FlowState::Udp {
                src: IpAddr::V4(c),
                dst: IpAddr::V4(s),
                sport,
                dport,
                left: self.rng.range(1, 4) as u32,
            }
        } else {
            FlowState::Icmp {
                src: c,
                dst: s,
                id: sport,
                left: 2,
            }
        }
    }

    /// Payload length for a data frame so frame sizes follow the mix: 40% 64-128 B,
    /// 20% about 600 B, 40% 1400-1514 B (54 bytes of Ethernet/IPv4/TCP headers).
    fn data_len(&mut self) -> usize {
        let r = self.rng.range(0, 99);
        let frame = if r < 40 {
            self.rng.range(64, 128)
        } else if r < 60 {
            self.rng.range(560, 640)
        } else {
            self.rng.range(1400, 1514)
        };
        (frame as usize).saturating_sub(54).max(1)
    }

    /// Fills `self.payload` with `len` filler bytes and, rarely, one trigger of a rule that
    /// applies to `target` (protocol is TCP, destination port); `None` for traffic the
    /// rules cannot see (server to client, ICMP).
    fn fill_payload(&mut self, len: usize, target: Option<(bool, u16)>) -> bool {
        let start = self.rng.range(0, (self.filler.len() - 1600) as u64) as usize;
        self.payload.clear();
        self.payload
            .extend_from_slice(&self.filler[start..start + len]);
        let Some((tcp, port)) = target else {
            return false;
        };
        if !self.rng.per_mille(TRIGGER_PER_MILLE) {
            return false;
        }
        // Uniform among the rules that apply to this protocol and port.
        self.scratch.clear();
        for (i, r) in self.rules.iter().enumerate() {
            if r.tcp == tcp && (r.port == 0 || r.port == port) {
                self.scratch.push(i);
            }
        }
        if self.scratch.is_empty() {
            return false;
        }
        let pick = self.scratch[(self.rng.next_u64() % self.scratch.len() as u64) as usize];
        let r = self.rules[pick];
        let mut trig = content_bytes(r.content);
        if let Some((_, tail)) = r.pcre {
            trig.extend_from_slice(tail.as_bytes());
        }
        let fixed = r.offset.map(usize::from).or(r.depth.map(|_| 0));
        if trig.len() + fixed.unwrap_or(0) > self.payload.len() {
            return false;
        }
        let at = if let Some(at) = fixed {
            at
        } else {
            self.rng.range(0, (self.payload.len() - trig.len()) as u64) as usize
        };
        self.payload[at..at + trig.len()].copy_from_slice(&trig);
        self.stats.triggers += 1;
        true
    }

    /// Emits the next frame of `flow` into `self.buf`; returns false when the flow is done
    /// (no frame written).
    fn step(&mut self, flow: &mut FlowState) -> bool {
        match flow {
            FlowState::Tcp {
                s,
                port,
                step,
                segments,
                triggered,
            } => {
                let st = *step;
                *step += 1;
                let data_end = 3 + *segments * 2;
                if st < 3 {
                    let (from_client, flags) = match st {
                        0 => (true, F::SYN),
                        1 => (false, F::SYN | F::ACK),
                        _ => (true, F::ACK),
                    };
                    s.segment(&mut self.buf, from_client, flags, &[]);
                } else if st < data_end {
                    let i = st - 3;
                    // Even steps carry data (mostly client to server early, server later),
                    // odd steps acknowledge it.
                    let from_client_data = (i / 2) % 3 != 2;
                    if i % 2 == 0 {
                        let len = self.data_len();
                        let target = (from_client_data && !*triggered).then_some((true, *port));
                        *triggered |= self.fill_payload(len, target);
                        let p = std::mem::take(&mut self.payload);
                        s.segment(&mut self.buf, from_client_data, F::PSH | F::ACK, &p);
                        self.payload = p;
                    } else {
                        s.segment(&mut self.buf, !from_client_data, F::ACK, &[]);
                    }
                } else if st < data_end + 3 {
                    let (from_client, flags) = match st - data_end {
                        0 => (true, F::FIN | F::ACK),
                        1 => (false, F::FIN | F::ACK),
                        _ => (true, F::ACK),
                    };
                    s.segment(&mut self.buf, from_client, flags, &[]);
                } else {
                    return false;
                }
            }
            FlowState::Udp {
                src,
                dst,
                sport,
                dport,
                left,
            } => {
                if *left == 0 {
                    return false;
                }
                *left -= 1;
                let len = if *dport == 53 {
                    self.rng.range(20, 120) as usize
                } else {
                    self.data_len()
                };
                let reply = *left % 2 == 1;
                let _ = self.fill_payload(len, (!reply).then_some((false, *dport)));
                let spec = if reply {
                    FrameSpec::ip(
                        *dst,
                        *src,
                        L4Spec::Udp {
                            src_port: *dport,
                            dst_port: *sport,
                        },
                    )
                } else {
                    FrameSpec::ip(
                        *src,
                        *dst,
                        L4Spec::Udp {
                            src_port: *sport,
                            dst_port: *dport,
                        },
                    )
                };
                spec.payload(&self.payload).write(&mut self.buf);
            }
            FlowState::Icmp { src, dst, id, left } => {
                if *left == 0 {
                    return false;
                }
                *left -= 1;
                let seq = 2 - *left;
                let len = self.rng.range(16, 56) as usize;
                let _ = self.fill_payload(len, None);
                let spec = if *left == 1 {
                    FrameSpec::ipv4(
                        *src,
                        *dst,
                        L4Spec::Icmp {
                            icmp_type: 8,
                            code: 0,
                            id: *id,
                            seq,
                        },
                    )
                } else {
                    FrameSpec::ipv4(
                        *dst,
                        *src,
                        L4Spec::Icmp {
                            icmp_type: 0,
                            code: 0,
                            id: *id,
                            seq,
                        },
                    )
                };
                spec.payload(&self.payload).write(&mut self.buf);
            }
        }
        true
    }
}

/// Generates frames into `sink` until about `target_bytes` of file have been written.
pub fn generate<W: Write>(sink: W, target_bytes: u64) -> Result<GenStats> {
    let mut rng = Rng::new(0x7469_6465_7761_7463);
    // Filler: lowercase letters, digits and spaces, so rule contents (mostly with
    // punctuation or capitals) do not match by accident.
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789      ";
    let filler: Vec<u8> = (0..256 * 1024)
        .map(|_| ALPHA[(rng.next_u64() % ALPHA.len() as u64) as usize])
        .collect();
    let mut g = Generator {
        rng,
        rules: bench_rules(),
        filler,
        payload: Vec::with_capacity(2048),
        buf: Vec::with_capacity(2048),
        scratch: Vec::with_capacity(128),
        flow_no: 0,
        stats: GenStats::default(),
    };
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    let mut active: Vec<FlowState> = (0..ACTIVE_FLOWS).map(|_| g.new_flow()).collect();
    let mut written: u64 = 24;
    let mut ts = START_NS;
    while written < target_bytes {
        let slot = (g.rng.next_u64() % ACTIVE_FLOWS as u64) as usize;
        let mut flow = std::mem::replace(
            &mut active[slot],
            FlowState::Icmp {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::UNSPECIFIED,
                id: 0,
                left: 0,
            },
        );
        while !g.step(&mut flow) {
            flow = g.new_flow();
        }
        active[slot] = flow;
        ts += g.rng.range(1_000, 20_000);
        w.write_frame(ts, &g.buf)?;
        g.stats.frames += 1;
        g.stats.frame_bytes += g.buf.len() as u64;
        written += 16 + g.buf.len() as u64;
    }
    w.into_inner()?;
    Ok(g.stats)
}

/// Sum of captured frame bytes and frame count of a classic pcap, read sequentially (for
/// Gbit/s figures). Supports both byte orders and both timestamp resolutions.
pub fn pcap_frame_bytes(path: &Path) -> Result<(u64, u64)> {
    use std::io::Read;
    let mut f = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
    );
    let mut hdr = [0u8; 24];
    f.read_exact(&mut hdr)
        .with_context(|| format!("{}: no pcap header", path.display()))?;
    let le = match u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => anyhow::bail!("{}: not a classic pcap (magic {m:#010x})", path.display()),
    };
    let (mut bytes, mut frames) = (0u64, 0u64);
    let mut rec = [0u8; 16];
    let mut skip = vec![0u8; 1 << 16];
    loop {
        match f.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let b = [rec[8], rec[9], rec[10], rec[11]];
        let incl = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize;
        let mut left = incl;
        while left > 0 {
            let n = left.min(skip.len());
            f.read_exact(&mut skip[..n]).with_context(|| {
                format!("{}: truncated record at frame {frames}", path.display())
            })?;
            left -= n;
        }
        bytes += incl as u64;
        frames += 1;
    }
    Ok((bytes, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_rules_match_the_table() {
        let file = std::fs::read_to_string(BENCH_RULES_PATH).unwrap();
        assert_eq!(
            file,
            bench_rules_text(),
            "run `cargo xtask gen-bench --rules-out {BENCH_RULES_PATH}`"
        );
        assert_eq!(bench_rules().len(), 100);
    }

    #[test]
    fn rule_content_escapes() {
        assert_eq!(rule_content("a;b"), "a|3B|b");
        assert_eq!(rule_content("MZ\u{90}\u{0}x"), "MZ|90 00|x");
        assert_eq!(content_bytes("MZ\u{90}"), vec![b'M', b'Z', 0x90]);
    }

    #[test]
    fn deterministic_with_mix_and_triggers() {
        let mut a = Vec::new();
        let s = generate(&mut a, 4 << 20).unwrap();
        let mut b = Vec::new();
        generate(&mut b, 4 << 20).unwrap();
        assert_eq!(a, b);
        assert!(s.flows > 500, "{s:?}");
        assert!(s.triggers > 0, "{s:?}");
        // Walk records and classify frame sizes.
        let (mut small, mut mid, mut big, mut n) = (0u64, 0u64, 0u64, 0u64);
        let mut off = 24;
        while off < a.len() {
            let len = u32::from_le_bytes(a[off + 8..off + 12].try_into().unwrap()) as usize;
            match len {
                0..=128 => small += 1,
                500..=700 => mid += 1,
                1400..=1514 => big += 1,
                _ => {}
            }
            n += 1;
            off += 16 + len;
        }
        assert_eq!(n, s.frames);
        assert!(
            small > mid && big > mid && mid > 0,
            "small {small} mid {mid} big {big}"
        );
    }
}
