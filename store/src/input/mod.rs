//! Inputs: alerts from sources other than our sensors, stored and routed exactly like
//! theirs (they go through the collector's writer, so de-duplication, commit, routing and
//! metrics stay in one place).
//!
//! - `eve-socket`: Suricata EVE JSON over a unix socket we create, in Suricata's
//!   `unix_dgram` mode (one object per datagram) or `unix_stream` mode (newline-delimited,
//!   several writers); owner, group and mode of the path are the access control.
//! - `eve-file`: tails a Suricata `eve.json`, following rotation and truncation, with its
//!   read position kept atomically in a position file ([`position`]).
//! - `fifo`: a FIFO for host scripts (AlertR's sensor client), lines `LEVEL|MESSAGE` or
//!   JSON ([`fifo`] documents the mapping).
//!
//! Identity: each input is its own sensor, `eve:NAME` or `fifo:NAME` (a `:` no real
//! sensor name may contain). Sockets and the FIFO number alerts from the clock (ns,
//! strictly rising, and past the highest seq the store holds for that name), so a restart
//! never reuses a seq; the file tail numbers each alert by the logical byte offset of its
//! line's end in the stream of files it followed, so a line read twice (a crash between
//! commit and saving the position) is the same `(sensor, seq)` and stored once.
//!
//! Nothing is lost silently: a malformed line is rejected with its reason (counted, and
//! logged with the input's name and where it was); inputs that cannot be held back
//! (datagrams, the FIFO) have a watermark on their alerts waiting for commit, past which
//! new alerts go to the drop channel (counted) until they are back under the low mark;
//! the stream socket and the file tail are held back instead (they stop reading).

pub mod eve;
pub mod fifo;
mod lines;
pub mod position;
mod sink;
mod socket;
mod tail;

pub use eve::{parse_eve, Eve};
pub use fifo::parse_fifo;

use crate::record::{Action, Addr, AlertRecord, Origin};
use crate::route::config::{key_err, ConfigError};
use crate::spool::SpoolStats;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// The one place a foreign alert record is made (every field has a value here; parsers
/// fill in what their source gives). `sensor` and `seq` are stamped by the input.
pub(crate) fn foreign_record(origin: Origin) -> AlertRecord {
    AlertRecord {
        sensor: String::new(),
        seq: 0,
        ts_ns: crate::latency::now_ns(),
        created_ns: crate::latency::now_ns(),
        origin,
        gid: 0,
        sid: 0,
        rev: 0,
        msg: String::new(),
        class: String::new(),
        priority: 3,
        action: Action::Alert,
        flow_id: 0,
        src: Addr::NONE,
        dst: Addr::NONE,
        src_port: 0,
        dst_port: 0,
        ip_proto: 0,
        icmp: None,
        vlan: Vec::new(),
        tunnel: None,
        iface: String::new(),
        payload: Vec::new(),
        packet: Vec::new(),
        packet_len: 0,
    }
}

/// Why a line (or datagram) was rejected: the `reason` label of
/// `tidewatch_input_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not JSON, or JSON of the wrong shape.
    NotJson,
    /// A field missing or invalid (named in the detail).
    BadField,
    /// A FIFO line that is neither `LEVEL|MESSAGE` nor JSON.
    BadLine,
    /// Longer than the input's `max_line`.
    TooLong,
    /// A last line without its newline in a file that was rotated away or truncated.
    Partial,
}

impl Reject {
    pub const ALL: [Reject; 5] = [
        Reject::NotJson,
        Reject::BadField,
        Reject::BadLine,
        Reject::TooLong,
        Reject::Partial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::NotJson => "not_json",
            Reject::BadField => "bad_field",
            Reject::BadLine => "bad_line",
            Reject::TooLong => "too_long",
            Reject::Partial => "partial",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected line: the counted reason and what exactly was wrong.
#[derive(Debug, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct LineError {
    pub reason: Reject,
    pub detail: String,
}

impl LineError {
    pub fn new(reason: Reject, detail: impl Into<String>) -> LineError {
        LineError {
            reason,
            detail: detail.into(),
        }
    }
}

/// Why an input could not start.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input {input}: {what} {path}: {source}")]
    Io {
        input: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input {input}: position file {path}: {reason}")]
    Position {
        input: String,
        path: PathBuf,
        reason: String,
    },
    #[error("input {input}: reading the store: {source}")]
    Store {
        input: String,
        #[source]
        source: crate::db::StoreError,
    },
}

/// The kind of an input (`kind` in its config table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    EveSocket,
    EveFile,
    Fifo,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EveSocket => "eve-socket",
            Kind::EveFile => "eve-file",
            Kind::Fifo => "fifo",
        }
    }
}

/// One `[[input]]` table of the collector's config:
///
/// ```toml
/// [[input]]
/// name = "suricata"            # the input's sensor name is eve:suricata
/// kind = "eve-socket"          # eve-socket | eve-file | fifo
/// path = "/run/tidewatch/eve.sock"
/// datagram = true              # eve-socket: unix_dgram (default) or unix_stream (false)
/// mode = "0660"                # socket or FIFO mode after creation (default 0600)
/// owner = "root"               # optional, name or number
/// group = "suricata"           # optional, name or number
/// high_water = 10000           # datagram and FIFO: alerts waiting for commit before new
/// low_water = 5000             #   ones go to the drop channel, until back under low_water
/// max_line = 1048576           # longest line or datagram accepted, bytes
///
/// [[input]]
/// name = "host"
/// kind = "fifo"
/// path = "/run/tidewatch/alerts.fifo"
/// umask = "0117"               # FIFO mode is 0666 & !umask (instead of `mode`)
///
/// [[input]]
/// name = "suricata-file"
/// kind = "eve-file"
/// path = "/var/log/suricata/eve.json"
/// position = "/var/lib/tidewatch/eve.json.pos"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    #[serde(default)]
    pub datagram: Option<bool>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub umask: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub position: Option<PathBuf>,
    #[serde(default = "default_high")]
    pub high_water: u64,
    #[serde(default = "default_low")]
    pub low_water: u64,
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Most alerts per batch handed to the writer.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// eve-file: how often to look for new lines and rotation, ms.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Drop channel of this input (default: beside the store, `<db>.drop.sock` and
    /// `<db>.drops`, as the sensor's are beside its spool).
    #[serde(default)]
    pub drop_socket: Option<PathBuf>,
    #[serde(default)]
    pub drop_file: Option<PathBuf>,
}

fn default_high() -> u64 {
    10_000
}
fn default_low() -> u64 {
    5_000
}
fn default_max_line() -> usize {
    1 << 20
}
fn default_batch() -> usize {
    512
}
fn default_poll() -> u64 {
    200
}

impl InputConfig {
    /// A config with defaults for `kind` at `path` (tests, and the TOML defaults).
    pub fn new(name: &str, kind: Kind, path: impl Into<PathBuf>) -> InputConfig {
        InputConfig {
            name: name.into(),
            kind,
            path: path.into(),
            datagram: None,
            mode: None,
            umask: None,
            owner: None,
            group: None,
            position: None,
            high_water: default_high(),
            low_water: default_low(),
            max_line: default_max_line(),
            batch: default_batch(),
            poll_ms: default_poll(),
            drop_socket: None,
            drop_file: None,
        }
    }

    /// The sensor name its alerts are stored under.
    pub fn sensor(&self) -> String {
        match self.kind {
            Kind::Fifo => format!("fifo:{}", self.name),
            Kind::EveSocket | Kind::EveFile => format!("eve:{}", self.name),
        }
    }

    /// The mode the socket or FIFO gets: `mode`, else `0666 & !umask` (FIFO), else 0600.
    pub fn file_mode(&self) -> u32 {
        match (&self.mode, &self.umask) {
            (Some(m), _) => crate::perms::parse_mode(m).unwrap_or(0o600),
            (None, Some(u)) => 0o666 & !crate::perms::parse_mode(u).unwrap_or(0o177),
            (None, None) => 0o600,
        }
    }

    /// Checks one table; errors name the key as `input.NAME.KEY`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("input.{}.{k}", self.name);
        if !crate::wire::valid_sensor_name(&self.name) {
            return Err(key_err(
                "input.name",
                format!("`{}` must be 1-64 of A-Z a-z 0-9 . _ -", self.name),
            ));
        }
        if self.path.as_os_str().is_empty() {
            return Err(key_err(key("path"), "must not be empty"));
        }
        for (k, v) in [("mode", &self.mode), ("umask", &self.umask)] {
            if let Some(v) = v {
                crate::perms::parse_mode(v).map_err(|e| key_err(key(k), e.to_string()))?;
            }
        }
        if self.mode.is_some() && self.umask.is_some() {
            return Err(key_err(key("umask"), "give mode or umask, not both"));
        }
        let file = self.kind == Kind::EveFile;
        match (file, &self.position) {
            (true, None) => {
                return Err(key_err(
                    key("position"),
                    "required for kind eve-file (where the read position is kept)",
                ))
            }
            (false, Some(_)) => return Err(key_err(key("position"), "only for kind eve-file")),
            _ => {}
        }
        if file {
            for (k, given) in [
                ("mode", self.mode.is_some()),
                ("umask", self.umask.is_some()),
                ("owner", self.owner.is_some()),
                ("group", self.group.is_some()),
            ] {
                if given {
                    return Err(key_err(key(k), "not for kind eve-file (we read that file)"));
                }
            }
        }
        if self.datagram.is_some() && self.kind != Kind::EveSocket {
            return Err(key_err(key("datagram"), "only for kind eve-socket"));
        }
        if self.high_water == 0 || self.low_water >= self.high_water {
            return Err(key_err(
                key("low_water"),
                format!(
                    "{} must be below high_water {} (at least 1)",
                    self.low_water, self.high_water
                ),
            ));
        }
        if !(64..=16 << 20).contains(&self.max_line) {
            return Err(key_err(key("max_line"), "must be 64 bytes to 16 MiB"));
        }
        if !(1..=8192).contains(&self.batch) {
            return Err(key_err(key("batch"), "must be 1 to 8192"));
        }
        if self.poll_ms == 0 {
            return Err(key_err(key("poll_ms"), "must be at least 1"));
        }
        Ok(())
    }

    /// Whether this input can be held back (it stops reading) rather than dropping.
    pub fn holdable(&self) -> bool {
        match self.kind {
            Kind::EveFile => true,
            Kind::EveSocket => self.datagram == Some(false),
            Kind::Fifo => false,
        }
    }
}

/// Checks every `[[input]]` table, and that names are unique.
pub fn validate_all(inputs: &[InputConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for i in inputs {
        i.validate()?;
        if !seen.insert(&i.name) {
            return Err(key_err(
                format!("input.{}.name", i.name),
                "two inputs have this name",
            ));
        }
    }
    Ok(())
}

/// Counters of one input (the `tidewatch_input_*` metrics).
#[derive(Debug)]
pub struct InputStats {
    pub name: String,
    pub kind: Kind,
    /// Lines, datagrams or events read (all of them, good or not).
    pub received: AtomicU64,
    /// Events that are not alerts (EVE `event_type` other than alert).
    pub ignored: AtomicU64,
    /// Alerts handed to the collector's writer.
    pub accepted: AtomicU64,
    /// Alerts the writer committed (or found already stored).
    pub committed: AtomicU64,
    /// Alerts sent to the drop channel past the high watermark.
    pub dropped: AtomicU64,
    rejected: [AtomicU64; 5],
    /// Alerts accepted and not yet committed (what the watermarks look at).
    pub pending: AtomicU64,
    /// Open stream connections (eve-socket in stream mode).
    pub connections: AtomicU64,
    /// The drop channel's own counters (to socket, to file, lost).
    pub drops: Arc<SpoolStats>,
}

impl InputStats {
    pub fn new(name: &str, kind: Kind) -> InputStats {
        InputStats {
            name: name.into(),
            kind,
            received: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: Default::default(),
            pending: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            drops: Arc::new(SpoolStats::default()),
        }
    }

    pub fn rejected(&self, r: Reject) -> u64 {
        self.rejected[r as usize].load(Relaxed)
    }

    /// Counts a rejection; returns how many of this reason so far (for log thinning).
    pub(crate) fn reject(&self, r: Reject) -> u64 {
        self.rejected[r as usize].fetch_add(1, Relaxed) + 1
    }
}

/// The running inputs of a collector (they stop with it).
pub struct Inputs {
    pub stats: Vec<Arc<InputStats>>,
}

pub(crate) use sink::Sink;

/// Starts every configured input: binds or opens its path and spawns its task.
pub(crate) async fn start(cfgs: &[InputConfig], sink: Arc<Sink>) -> Result<Inputs, InputError> {
    let mut stats = Vec::new();
    for c in cfgs {
        let st = Arc::new(InputStats::new(&c.name, c.kind));
        match c.kind {
            Kind::EveSocket | Kind::Fifo => socket::start(c, sink.clone(), st.clone()).await?,
            Kind::EveFile => tail::start(c, sink.clone(), st.clone()).await?,
        }
        tracing::info!(input = %c.name, kind = c.kind.as_str(), path = %c.path.display(), sensor = %c.sensor(), "input started");
        stats.push(st);
    }
    Ok(Inputs { stats })
}
