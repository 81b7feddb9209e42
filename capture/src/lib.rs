//! Stage one of the pipeline: where frames come from and what they say. Frame sources
//! (memory-mapped pcap/pcapng files now, AF_XDP sockets later) hand out borrowed frames,
//! the decoder turns a frame into a [`decode::Packet`] view without copying, and the flow
//! hash spreads both directions of a flow onto the same detection worker.

pub mod afxdp;
pub mod craft;
pub mod craft_encap;
pub mod craft_frag;
pub mod decode;
pub mod flowhash;
pub mod netns;
pub mod pcap;
pub mod prefetch;
pub mod xdp;
