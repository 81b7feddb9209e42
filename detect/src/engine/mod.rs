//! The matcher: rule groups by protocol and port, one aho-corasick prefilter per group,
//! and exact verification of every keyword of a rule the prefilter (or the group's
//! content-less list) proposes.
//!
//! INTERFACE CONTRACT (shared with the worker loop in `crate::worker`):
//! - `Engine::build(rules: Vec<Rule>) -> Result<Engine, BuildError>`
//! - `Engine::rules(&self) -> &[Rule]`
//! - `Engine::scratch(&self) -> Scratch`: per-worker state sized once; `inspect` never
//!   allocates once a scratch has warmed up.
//! - `Engine::inspect(&self, pkt: &Packet, flow: &FlowInfo, scratch: &mut Scratch) -> Verdict`
//!   fills `scratch.matches()` with the indexes (into `rules()`) of the rules that match
//!   this packet, each at most once, in Suricata's order (action order pass, drop, reject,
//!   alert; then priority; then sid). When a `pass` rule matches, inspection stops there
//!   and the verdict is `Verdict::Pass` (the worker passes the rest of the flow).
//!   `noalert` rules match but are not reported.

/// What the flow table knows about the packet's flow, for `flow:` keywords.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowInfo {
    /// The packet travels from the flow's initiator (client) to the responder.
    pub to_server: bool,
    /// TCP: the three-way handshake completed; UDP/ICMP: packets seen both ways.
    pub established: bool,
}

/// The outcome of inspecting one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Inspection ran over every candidate rule.
    Inspected,
    /// A `pass` rule matched: the packet (and, for TCP/UDP, its flow) needs no more inspection.
    Pass,
}
