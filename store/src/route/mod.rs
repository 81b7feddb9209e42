//! Routing committed alerts to the people and tools that must act on them: routes in the
//! collector's config match alerts (priority, classtype, sid ranges, sensor) and send them
//! to named outputs (syslog, e-mail digests, the alert socket, EVE files, and active
//! response: a program run per alert, a block at the sensors' XDP), with AlertR's
//! levels switched per profile at run time. The collector's writer only counts commits
//! for the router ([`Router::committed`]); everything else runs on the router's threads.
//! See [`config`] for the TOML syntax.

mod alert_socket;
pub mod block;
pub mod config;
mod eve_file;
pub mod exec;
pub mod mail;
mod router;
pub mod syslog;

pub use config::{ConfigError, RouterConfig};
pub use router::{OutputStats, ResponseStats, Router, RouterError, RouterStats};

use crate::ArchivedAlertRecord;

/// One EVE JSON line (no newline) for a record, tagged `tidewatch: {id, seq, sensor}`.
pub fn eve_line(id: Option<u64>, r: &ArchivedAlertRecord) -> String {
    crate::eve::record_eve_tagged(id, r).to_string()
}
