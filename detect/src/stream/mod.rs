//! TCP stream reassembly, per worker and per flow slot, the way Suricata 7 does it in IDS
//! mode, so `tcp` payload rules see what the receiver saw and alert when Suricata does.
//!
//! Each flow slot of the worker's flow table has a [`reassembly`] session: the handshake
//! state and, per direction, the sequence base, the highest acknowledged offset, the raw
//! inspection progress and a [`segments`] buffer holding copies of the payload bytes not
//! yet inspected. Overlapping bytes are resolved by the [`policy`] module (Suricata's
//! default, BSD: a segment starting before a held one wins, otherwise held bytes stay).
//! Buffers come from a per-worker pool and are charged to a [`memcap`]; what cannot be
//! stored (past `stream.reassembly.depth`, the per-direction window, the memcap) is
//! counted by reason in [`StreamStats`] and its packet is inspected on its own, as
//! Suricata does for segments it did not add to the stream.
//!
//! When data is inspected (measured against Suricata 7.0.10, `xtask/golden/stream/`):
//! - only acknowledged bytes, once at least `chunk_size` of them are waiting, or at once
//!   when the session is closing in Suricata's sense (the client sent the first FIN, a
//!   RST was seen, or both FINs were acknowledged), or the depth was reached;
//! - on a packet travelling in the data's direction (the client's FIN, for example), which
//!   is the packet the alert is stamped with;
//! - each run of bytes without holes is inspected as its own buffer; after a hole the
//!   progress moves only to the start of the run that follows it, so that run is
//!   inspected again by the next inspection (Suricata's gap handling);
//! - at the end of the capture, or when its slot is reused, a flow's remaining bytes
//!   are inspected whether acknowledged or not.
//!
//! Sessions are tracked from a SYN; without one, only with `midstream` (the first packet
//! seen picks the session up). A SYN followed by the client's ACK without the SYN/ACK
//! stays unestablished unless `async_oneside` is set. Untracked packets are inspected one
//! by one.

mod memcap;
mod policy;
pub(crate) mod reassembly;
mod segments;

pub use reassembly::{Endpoints, Outcome, StreamTable};

/// `stream.*` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Pick up sessions without a handshake (`stream.midstream`).
    pub midstream: bool,
    /// Accept a session whose SYN/ACK was not seen (`stream.async-oneside`).
    pub async_oneside: bool,
    /// Reassembly memory of one worker, in bytes (`stream.memcap` is the total; the
    /// caller gives each worker its share).
    pub memcap: u64,
    /// Bytes per direction reassembled; later data is inspected per packet
    /// (`stream.reassembly.depth`, 0 for unlimited).
    pub depth: u64,
    /// Acknowledged bytes waiting before an inspection (Suricata's
    /// `stream.reassembly.toserver-chunk-size`, taken without randomisation).
    pub chunk_size: u64,
    /// Bytes one direction may hold between inspections (out of order or unacknowledged).
    pub window: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            midstream: false,
            async_oneside: false,
            memcap: 256 << 20,
            depth: 1 << 20,
            chunk_size: 2560,
            window: 256 << 10,
        }
    }
}

/// Counters of one worker's stream engine. Everything given up is counted by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Sessions tracked (from a SYN or picked up midstream).
    pub sessions: u64,
    pub midstream_pickups: u64,
    /// Data segments stored (wholly or partly).
    pub segments: u64,
    /// New bytes stored.
    pub bytes: u64,
    /// Bytes received again with the same value (retransmissions).
    pub retransmitted_bytes: u64,
    /// Bytes received again with another value; the overlap policy chose.
    pub overlap_different_bytes: u64,
    /// Bytes received again after they were inspected and released.
    pub stale_bytes: u64,
    /// Stream inspections, and holes skipped by them.
    pub inspections: u64,
    pub gaps: u64,
    /// Data segments of packets without a tracked session (inspected per packet).
    pub untracked_segments: u64,
    /// Bytes of directions no rule inspects as a stream (the port group has no stream
    /// rule): tracked but not copied.
    pub unkept_bytes: u64,
    /// Given up: bytes past `stream.reassembly.depth`.
    pub depth_bytes: u64,
    /// Given up: segments (and their bytes) refused by the memcap.
    pub memcap_segments: u64,
    pub memcap_bytes: u64,
    /// Given up: segments ending past the per-direction window.
    pub window_segments: u64,
    pub window_bytes: u64,
    /// Given up: segments that would split a direction into too many separate runs.
    pub pieces_segments: u64,
    pub pieces_bytes: u64,
    /// Reassembly memory held now and at most (bytes, buffers in use and pooled).
    pub memory: u64,
    pub memory_peak: u64,
}

impl StreamStats {
    pub fn merge(&mut self, o: &StreamStats) {
        self.sessions += o.sessions;
        self.midstream_pickups += o.midstream_pickups;
        self.segments += o.segments;
        self.bytes += o.bytes;
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.overlap_different_bytes += o.overlap_different_bytes;
        self.stale_bytes += o.stale_bytes;
        self.inspections += o.inspections;
        self.gaps += o.gaps;
        self.untracked_segments += o.untracked_segments;
        self.unkept_bytes += o.unkept_bytes;
        self.depth_bytes += o.depth_bytes;
        self.memcap_segments += o.memcap_segments;
        self.memcap_bytes += o.memcap_bytes;
        self.window_segments += o.window_segments;
        self.window_bytes += o.window_bytes;
        self.pieces_segments += o.pieces_segments;
        self.pieces_bytes += o.pieces_bytes;
        self.memory += o.memory;
        self.memory_peak += o.memory_peak;
    }
}
