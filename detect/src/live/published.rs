//! Counters a worker keeps in plain fields, copied into atomics once per batch so a
//! metrics scrape or `status` can read them while capture runs. The packet path never
//! touches an atomic; a batch costs a few dozen relaxed stores.

use crate::applayer::AppStats;
use crate::defrag::DefragStats;
use crate::flow::FlowStats;
use crate::worker::WorkerStats;
use capture::decode::{DecodeReason, DecodeStats};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const REASONS: usize = DecodeReason::ALL.len();

/// The counters of [`WorkerStats`] a live scrape shows, as last published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerLive {
    pub packets: u64,
    pub bytes: u64,
    /// Packets of flows a `pass` rule passed.
    pub passed: u64,
    /// Packets of flows a `drop` or `reject` rule matched earlier (not inspected).
    pub dropped: u64,
    pub flows: FlowStats,
    /// Flows held now.
    pub flows_active: u64,
    pub stream_sessions: u64,
    /// Segments the stream engine gave up on: memcap, window, too many pieces.
    pub stream_memcap_segments: u64,
    pub stream_window_segments: u64,
    pub stream_pieces_segments: u64,
    /// Reassembly memory held now.
    pub stream_memory: u64,
    /// Fragment reassembly counters and gauges.
    pub defrag: DefragStats,
    /// Times a dispatch reader found this worker's queue full and waited (backpressure:
    /// nothing is dropped there, the socket rings fill instead).
    pub queue_full: u64,
    /// DNS requests inspected, flows turned round by their first payload.
    pub app: AppStats,
}

/// One worker's published counters.
#[derive(Default)]
pub(super) struct PublishedWorker {
    packets: AtomicU64,
    bytes: AtomicU64,
    passed: AtomicU64,
    dropped: AtomicU64,
    flows_created: AtomicU64,
    flows_timed_out: AtomicU64,
    flows_evicted: AtomicU64,
    flows_emergency: AtomicU64,
    flows_active: AtomicU64,
    stream_sessions: AtomicU64,
    stream_memcap_segments: AtomicU64,
    stream_window_segments: AtomicU64,
    stream_pieces_segments: AtomicU64,
    stream_memory: AtomicU64,
    /// [`DefragStats`] in the order of [`defrag_fields`].
    defrag: [AtomicU64; DEFRAG_FIELDS],
    /// Times a dispatch reader found this worker's queue full and waited.
    pub queue_full: AtomicU64,
    dns_requests: AtomicU64,
    reversed_flows: AtomicU64,
    tls_flows: AtomicU64,
    tls_sni: AtomicU64,
    tls_certs: AtomicU64,
    tcp_given_up: AtomicU64,
}

impl PublishedWorker {
    pub(super) fn store(&self, s: &WorkerStats, flows_active: usize) {
        self.packets.store(s.packets, Relaxed);
        self.bytes.store(s.bytes, Relaxed);
        self.passed.store(s.passed, Relaxed);
        self.dropped.store(s.dropped, Relaxed);
        self.flows_created.store(s.flows.created, Relaxed);
        self.flows_timed_out.store(s.flows.timed_out, Relaxed);
        self.flows_evicted.store(s.flows.evicted, Relaxed);
        self.flows_emergency.store(s.flows.emergency, Relaxed);
        self.flows_active.store(flows_active as u64, Relaxed);
        self.stream_sessions.store(s.stream.sessions, Relaxed);
        self.stream_memcap_segments
            .store(s.stream.memcap_segments, Relaxed);
        self.stream_window_segments
            .store(s.stream.window_segments, Relaxed);
        self.stream_pieces_segments
            .store(s.stream.pieces_segments, Relaxed);
        self.stream_memory.store(s.stream.memory, Relaxed);
        for (a, v) in self.defrag.iter().zip(defrag_fields(&s.defrag)) {
            a.store(v, Relaxed);
        }
        self.dns_requests.store(s.app.dns_requests, Relaxed);
        self.reversed_flows.store(s.app.reversed_flows, Relaxed);
        self.tls_flows.store(s.app.tls_flows, Relaxed);
        self.tls_sni.store(s.app.tls_sni, Relaxed);
        self.tls_certs.store(s.app.tls_certs, Relaxed);
        self.tcp_given_up.store(s.app.tcp_given_up, Relaxed);
    }

    pub(super) fn load(&self) -> WorkerLive {
        WorkerLive {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            passed: self.passed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            flows: FlowStats {
                created: self.flows_created.load(Relaxed),
                timed_out: self.flows_timed_out.load(Relaxed),
                evicted: self.flows_evicted.load(Relaxed),
                emergency: self.flows_emergency.load(Relaxed),
            },
            flows_active: self.flows_active.load(Relaxed),
            stream_sessions: self.stream_sessions.load(Relaxed),
            stream_memcap_segments: self.stream_memcap_segments.load(Relaxed),
            stream_window_segments: self.stream_window_segments.load(Relaxed),
            stream_pieces_segments: self.stream_pieces_segments.load(Relaxed),
            stream_memory: self.stream_memory.load(Relaxed),
            defrag: {
                let v: [u64; DEFRAG_FIELDS] = std::array::from_fn(|i| self.defrag[i].load(Relaxed));
                DefragStats {
                    fragments: v[0],
                    reassembled: v[1],
                    timeouts: v[2],
                    expired_fragments: v[3],
                    memcap_drops: v[4],
                    tracker_drops: v[5],
                    overlaps: v[6],
                    invalid: v[7],
                    memory: v[8],
                    trackers: v[9],
                    ..DefragStats::default()
                }
            },
            queue_full: self.queue_full.load(Relaxed),
            app: AppStats {
                dns_requests: self.dns_requests.load(Relaxed),
                reversed_flows: self.reversed_flows.load(Relaxed),
                tls_flows: self.tls_flows.load(Relaxed),
                tls_sni: self.tls_sni.load(Relaxed),
                tls_certs: self.tls_certs.load(Relaxed),
                tcp_given_up: self.tcp_given_up.load(Relaxed),
                ..AppStats::default()
            },
        }
    }
}

const DEFRAG_FIELDS: usize = 10;

/// The [`DefragStats`] fields a scrape shows, in a fixed order.
fn defrag_fields(d: &DefragStats) -> [u64; DEFRAG_FIELDS] {
    [
        d.fragments,
        d.reassembled,
        d.timeouts,
        d.expired_fragments,
        d.memcap_drops,
        d.tracker_drops,
        d.overlaps,
        d.invalid,
        d.memory,
        d.trackers,
    ]
}

/// Frames of one queue that did not decode, by reason (stored by whoever decodes them).
pub(super) struct PublishedDecode {
    by_reason: [AtomicU64; REASONS],
}

impl Default for PublishedDecode {
    fn default() -> Self {
        PublishedDecode {
            by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PublishedDecode {
    pub(super) fn store(&self, d: &DecodeStats) {
        for (a, v) in self.by_reason.iter().zip(d.by_reason.iter()) {
            a.store(*v, Relaxed);
        }
    }

    pub(super) fn load(&self) -> DecodeStats {
        DecodeStats {
            by_reason: std::array::from_fn(|i| self.by_reason[i].load(Relaxed)),
            fragments: 0,
        }
    }
}
