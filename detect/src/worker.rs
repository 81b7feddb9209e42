//! The detection worker: one per core, owning its flow table and matcher scratch. The same
//! code runs for pcap replay and live capture; only the frame source differs.

use crate::engine::{Engine, FlowInfo, Scratch, Verdict};
use crate::flow::{FlowConfig, FlowStats, FlowTable};
use capture::decode::{self, DecodeStats, Packet, L4};
use std::net::IpAddr;
use std::sync::Arc;

/// Suricata's `checksum-checks`. As in Suricata 7 (checked on crafted pcaps), a bad
/// checksum never keeps a packet from detection: checksums are counted, and matter to
/// the TCP stream engine (the stream issue), which ignores such segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Check the first packets and warn when more than a tenth are bad (checksum
    /// offloading on the capture host), then stop checking, as Suricata does for pcaps.
    #[default]
    Auto,
    /// Check every packet's transport checksum and count the bad ones.
    All,
    None,
}

/// Packets sampled by [`ChecksumMode::Auto`] before deciding.
const CHECKSUM_SAMPLE: u64 = 1000;

/// Counters of one worker, merged into the run summary.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub packets: u64,
    pub bytes: u64,
    pub alerts: u64,
    /// Packets not inspected because their flow was passed by a `pass` rule.
    pub passed: u64,
    /// Packets whose transport checksum was wrong (while checksum checks were on).
    pub bad_checksum: u64,
    pub decode: DecodeStats,
    pub flows: FlowStats,
}

impl WorkerStats {
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.alerts += o.alerts;
        self.passed += o.passed;
        self.bad_checksum += o.bad_checksum;
        self.decode.merge(&o.decode);
        self.flows.merge(&o.flows);
    }
}

/// An alert as a worker raises it: the rule (by index into `engine.rules()`), the packet's
/// addresses, and copies of the matched payload and the whole packet. This is the only copy
/// on the packet path, and it happens only for packets that alert.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    pub engine: Arc<Engine>,
    pub rule: u32,
    pub ts_ns: u64,
    pub flow_id: u64,
    pub to_server: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_proto: u8,
    /// ICMP/ICMPv6 type and code, when the packet is ICMP.
    pub icmp: Option<(u8, u8)>,
    pub vlan: Vec<u16>,
    pub payload: Vec<u8>,
    pub packet: Vec<u8>,
    /// 1-based position of the packet in its capture file (EVE `pcap_cnt`), 0 when live.
    pub pcap_cnt: u64,
}

impl AlertEvent {
    pub fn rule(&self) -> &crate::rules::Rule {
        &self.engine.rules()[self.rule as usize]
    }
}

/// Per-worker settings.
#[derive(Clone, Debug, Default)]
pub struct WorkerConfig {
    pub flow: FlowConfig,
    pub checksums: ChecksumMode,
}

/// One detection worker. Not `Sync`: each thread owns one.
pub struct Worker {
    engine: Arc<Engine>,
    scratch: Scratch,
    flows: FlowTable,
    checksums: ChecksumMode,
    checked: u64,
    bad_sampled: u64,
    stats: WorkerStats,
}

impl Worker {
    pub fn new(engine: Arc<Engine>, config: &WorkerConfig, id: usize) -> Worker {
        Worker {
            scratch: engine.scratch(),
            engine,
            flows: FlowTable::new(&config.flow, id),
            checksums: config.checksums,
            checked: 0,
            bad_sampled: 0,
            stats: WorkerStats::default(),
        }
    }

    /// Swaps in a new rule set (live reload, between batches); flows and counters
    /// carry over.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.scratch = engine.scratch();
        self.engine = engine;
    }

    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats.clone();
        s.flows = self.flows.stats();
        s
    }

    /// Counts a bad transport checksum; in `Auto` mode only over the first packets.
    fn check_checksum(&mut self, p: &Packet<'_>) {
        if self.checksums == ChecksumMode::None || p.fragment.is_some() {
            return;
        }
        let ok = decode::transport_checksum_ok(p);
        if !ok {
            self.stats.bad_checksum += 1;
        }
        if self.checksums == ChecksumMode::Auto {
            self.checked += 1;
            if !ok {
                self.bad_sampled += 1;
            }
            if self.checked == CHECKSUM_SAMPLE {
                if self.bad_sampled * 10 > CHECKSUM_SAMPLE {
                    tracing::warn!(
                        bad = self.bad_sampled,
                        sampled = CHECKSUM_SAMPLE,
                        "many bad checksums: checksum offloading on the capture host?"
                    );
                }
                self.checksums = ChecksumMode::None;
            }
        }
    }

    /// Inspects a decoded packet (in dispatch mode the reader decodes).
    pub fn handle_packet(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        self.stats.packets += 1;
        self.stats.bytes += p.frame.len() as u64;
        if p.fragment.is_some() {
            self.stats.decode.fragments += 1;
        }
        self.check_checksum(p);
        let view = self.flows.update(p, ts_ns);
        if view.passed {
            self.stats.passed += 1;
            return;
        }
        let info = FlowInfo {
            to_server: view.to_server,
            established: view.established,
            first_in_direction: view.first_in_direction,
        };
        let verdict = self.engine.inspect(p, &info, &mut self.scratch);
        for &rule in self.scratch.matches() {
            self.stats.alerts += 1;
            sink(self.alert(rule as u32, ts_ns, p, view.id, view.to_server, pcap_cnt));
        }
        if verdict == Verdict::Pass {
            self.flows.mark_passed(view.slot);
        }
    }

    fn alert(
        &self,
        rule: u32,
        ts_ns: u64,
        p: &Packet<'_>,
        flow_id: u64,
        to_server: bool,
        pcap_cnt: u64,
    ) -> AlertEvent {
        let icmp = match p.l4 {
            L4::Icmp(h) | L4::Icmpv6(h) => Some((h.icmp_type, h.code)),
            _ => None,
        };
        AlertEvent {
            engine: self.engine.clone(),
            rule,
            ts_ns,
            flow_id,
            to_server,
            src: p.src,
            dst: p.dst,
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            ip_proto: p.ip_proto,
            icmp,
            vlan: p.vlan[..(p.vlan_count as usize).min(2)].to_vec(),
            payload: p.payload.to_vec(),
            packet: p.frame.to_vec(),
            pcap_cnt,
        }
    }
}
