//! Stage two of the pipeline: deciding which packets raise alerts. Suricata/Snort rules are
//! parsed into [`rules::Rule`]s, grouped by protocol and port, prefiltered with one
//! aho-corasick automaton per group and verified keyword by keyword; each worker owns its
//! flow table and scratch so nothing on the packet path is shared or locked.

pub mod applayer;
pub mod defrag;
pub mod dispatch;
pub mod engine;
pub mod flow;
mod hugepage;
pub mod live;
pub mod rules;
pub mod stream;
pub mod threshold;
pub mod tuning;
pub mod worker;
