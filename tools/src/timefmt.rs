//! Suricata's EVE timestamp format; the function lives in [`store::eve`] beside the EVE
//! formatter that the collector's outputs share.

pub use store::eve::eve_timestamp;
