//! The TOML configuration shared by every subcommand, with Suricata-style `--set KEY=VALUE`
//! overrides. Unknown keys are errors that name the key, so a typo never silently falls
//! back to a default.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub vars: Vars,
    pub rules: RulesConfig,
    pub detect: DetectConfig,
    pub flow: FlowConfig,
    pub sensor: SensorConfig,
    pub stream: StreamConfig,
    pub defrag: DefragConfig,
    pub metrics: MetricsConfig,
    pub collector: CollectorConfig,
    /// The collector's routing (`store::route::config` documents these three).
    pub routing: store::route::config::RoutingConfig,
    pub route: Vec<store::route::config::RouteConfig>,
    pub output: BTreeMap<String, store::route::config::OutputConfig>,
    /// The collector's inputs (`[[input]]`; `store::input::InputConfig` documents them).
    pub input: Vec<store::input::InputConfig>,
}

/// `[metrics]`: the Prometheus endpoint of a daemon (`--metrics` overrides).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address to serve `/metrics` on, e.g. `127.0.0.1:9717`; none: no endpoint.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vars {
    /// Address variables (`HOME_NET = "[10.0.0.0/8]"`), over Suricata's defaults.
    pub address: BTreeMap<String, String>,
    /// Port variables (`HTTP_PORTS = "[80,8080]"`).
    pub port: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule files loaded in addition to those given with `--rules`.
    pub files: Vec<PathBuf>,
    /// `classification.config`; default: one beside the first rule file, else Suricata's table.
    pub classification_file: Option<PathBuf>,
    /// Any skipped or broken rule is an error.
    pub strict: bool,
    /// Suricata's `threshold.config`: suppress, threshold/event_filter, rate_filter.
    pub threshold_file: Option<PathBuf>,
    /// Sids to load even where their rule line is commented out.
    pub enable_sids: Vec<u32>,
    /// Sids to leave out.
    pub disable_sids: Vec<u32>,
    /// Rule files whose commented-out rules are loaded too (path or file name).
    pub enable_files: Vec<String>,
    /// Rule files not read at all (path or file name).
    pub disable_files: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub workers: usize,
    /// `auto`, `all` or `none` (Suricata's `checksum-checks`).
    pub checksum_checks: String,
    /// Packets waiting per replay worker (see `DispatchConfig::queue_depth`).
    pub queue_depth: usize,
    pub pin_workers: bool,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            workers: 1,
            checksum_checks: "auto".into(),
            queue_depth: detect::dispatch::DispatchConfig::default().queue_depth,
            pin_workers: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Flows per worker before the least recently seen is evicted.
    pub max_flows: usize,
    /// Bytes of flow state over all workers (flow entries, stream sessions, flowbits);
    /// each worker's table is sized to stay within its share. Unset: `max_flows` alone.
    pub memcap: Option<ByteSize>,
    pub timeout_tcp_new: u64,
    pub timeout_tcp_established: u64,
    pub timeout_tcp_closed: u64,
    pub timeout_udp_new: u64,
    pub timeout_udp_established: u64,
    pub timeout_other_new: u64,
    pub timeout_other_established: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        let t = detect::flow::Timeouts::default();
        const S: u64 = 1_000_000_000;
        FlowConfig {
            max_flows: detect::flow::FlowConfig::default().max_flows,
            memcap: None,
            timeout_tcp_new: t.tcp_new / S,
            timeout_tcp_established: t.tcp_established / S,
            timeout_tcp_closed: t.tcp_closed / S,
            timeout_udp_new: t.udp_new / S,
            timeout_udp_established: t.udp_established / S,
            timeout_other_new: t.other_new / S,
            timeout_other_established: t.other_established / S,
        }
    }
}

impl FlowConfig {
    /// The engine's settings for one of `workers` workers (an equal `memcap` share each).
    pub fn to_detect_for(&self, workers: usize) -> detect::flow::FlowConfig {
        detect::flow::FlowConfig {
            memcap: self.memcap.map(|m| m.0 / workers.max(1) as u64),
            ..self.to_detect()
        }
    }

    /// The engine's settings with the whole `memcap` for one worker.
    pub fn to_detect(&self) -> detect::flow::FlowConfig {
        const S: u64 = 1_000_000_000;
        detect::flow::FlowConfig {
            memcap: self.memcap.map(|m| m.0),
            emergency_timeouts: detect::flow::Timeouts::emergency(),
            emergency_recovery: 30,
            max_flows: self.max_flows,
            timeouts: detect::flow::Timeouts {
                tcp_new: self.timeout_tcp_new.saturating_mul(S),
                tcp_established: self.timeout_tcp_established.saturating_mul(S),
                tcp_closed: self.timeout_tcp_closed.saturating_mul(S),
                udp_new: self.timeout_udp_new.saturating_mul(S),
                udp_established: self.timeout_udp_established.saturating_mul(S),
                other_new: self.timeout_other_new.saturating_mul(S),
                other_established: self.timeout_other_established.saturating_mul(S),
            },
        }
    }
}

/// `tidewatch sensor` settings; command-line options override them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    pub iface: Option<String>,
    /// RX queues to capture, from queue 0 (one AF_XDP socket each).
    pub queues: u32,
    /// Detection workers; more than `queues` selects dispatch mode. Default: one per queue.
    pub workers: Option<usize>,
    /// EVE JSON output: a path or `-` for stdout.
    pub eve: Option<PathBuf>,
    /// Drop root to this user once capture is set up.
    pub user: Option<String>,
    /// Unix socket for `tidewatch reload` / `block` (mode 0600).
    pub control_socket: PathBuf,
    /// `auto` (driver, else generic), `driver` or `skb`.
    pub xdp_mode: String,
    /// UMEM frames per queue, all in the fill ring (power of two).
    pub frames: u32,
    /// Frames read from a socket at once.
    pub batch: usize,
    /// `SO_BUSY_POLL` microseconds; 0 = off.
    pub busy_poll_us: u32,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            iface: None,
            queues: 1,
            workers: None,
            eve: None,
            user: None,
            control_socket: PathBuf::from("/run/tidewatch/sensor.sock"),
            xdp_mode: "auto".into(),
            frames: 8192,
            batch: 64,
            busy_poll_us: 0,
        }
    }
}

/// `tidewatch collector` settings; command-line options override them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address sensors connect to, e.g. `0.0.0.0:4700`.
    pub listen: Option<String>,
    /// The redb alert store.
    pub db: Option<PathBuf>,
    /// Directory of `tidewatch certs` output.
    pub certs: Option<PathBuf>,
    /// Plain TCP without TLS (loopback tests only).
    pub insecure: bool,
    /// Unix socket for `tidewatch alerts` and `tidewatch block --collector-socket`.
    pub control_socket: PathBuf,
    /// Report a sensor not heard from for this many seconds.
    pub silence_secs: u64,
    /// Received batches that may wait for the writer before sockets stop being read.
    pub buffer: ByteSize,
    /// Most records per durable commit.
    pub max_commit_records: usize,
    /// Remove alerts older than this many days (by arrival).
    pub retention_days: Option<u64>,
    /// Keep at most this much alert data (oldest go first), e.g. `20gb`.
    pub retention_size: Option<ByteSize>,
    /// Index sid, source and destination in their own B-trees (new stores only).
    pub per_field_indexes: bool,
    /// Drop root to this user once sockets are bound and the store is open.
    pub user: Option<String>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: None,
            db: None,
            certs: None,
            insecure: false,
            control_socket: PathBuf::from("/run/tidewatch/collector.sock"),
            silence_secs: 60,
            buffer: ByteSize(64 << 20),
            max_commit_records: 8192,
            retention_days: None,
            retention_size: None,
            per_field_indexes: false,
            user: None,
        }
    }
}

/// `stream.*`: TCP reassembly (Suricata's keys and defaults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Pick up TCP sessions whose handshake was not seen.
    pub midstream: bool,
    /// Accept sessions whose SYN/ACK was not seen (one-sided capture).
    #[serde(rename = "async-oneside", alias = "async_oneside")]
    pub async_oneside: bool,
    /// Reassembly memory over all workers: bytes, or a string like `256mb`.
    pub memcap: ByteSize,
    pub reassembly: ReassemblyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReassemblyConfig {
    /// Bytes per direction reassembled (0: unlimited); later data is inspected per packet.
    pub depth: ByteSize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        let d = detect::stream::StreamConfig::default();
        StreamConfig {
            midstream: d.midstream,
            async_oneside: d.async_oneside,
            memcap: ByteSize(d.memcap),
            reassembly: ReassemblyConfig::default(),
        }
    }
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            depth: ByteSize(detect::stream::StreamConfig::default().depth),
        }
    }
}

impl StreamConfig {
    /// The engine's settings for one of `workers` workers (each gets an equal memcap share).
    pub fn to_detect(&self, workers: usize) -> detect::stream::StreamConfig {
        detect::stream::StreamConfig {
            midstream: self.midstream,
            async_oneside: self.async_oneside,
            memcap: self.memcap.0 / workers.max(1) as u64,
            depth: self.reassembly.depth.0,
            ..detect::stream::StreamConfig::default()
        }
    }
}

/// `defrag.*`: IPv4/IPv6 fragment reassembly (Suricata's keys and defaults; the overlap
/// policy, which Suricata takes from its top-level `host-os-policy`, is `policy` for every
/// host and `host-os-policy` per network here, because only the defragmenter follows it:
/// the stream engine keeps Suricata's default overlap handling).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefragConfig {
    /// Bytes of held fragments over all workers: bytes, or a string like `32mb`.
    pub memcap: ByteSize,
    /// Datagrams in reassembly at once, over all workers.
    #[serde(alias = "max-trackers", alias = "max_trackers")]
    pub trackers: u64,
    /// Seconds of packet time a datagram waits for its next fragment.
    pub timeout: u64,
    /// Overlap policy of hosts `host-os-policy` does not name: bsd (Suricata's default),
    /// bsd-right, linux, windows, solaris, first, last.
    pub policy: String,
    /// Overlap policy per destination network, Suricata's `host-os-policy`: an OS or
    /// policy name to its networks (`windows = ["10.1.0.0/16", "2001:db8::/32"]`, or
    /// Suricata's `"[10.1.0.0/16, 2001:db8::/32]"`); the most specific network wins.
    #[serde(rename = "host-os-policy", alias = "host_os_policy")]
    pub host_os_policy: BTreeMap<String, HostList>,
}

/// The networks of one `defrag.host-os-policy` entry: a TOML list or one string in
/// Suricata's bracketed form.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum HostList {
    List(Vec<String>),
    One(String),
}

impl HostList {
    fn nets(&self) -> Vec<String> {
        match self {
            HostList::List(v) => v.clone(),
            HostList::One(s) => s
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }
}

impl Default for DefragConfig {
    fn default() -> Self {
        let d = detect::defrag::DefragConfig::default();
        DefragConfig {
            memcap: ByteSize(d.memcap),
            trackers: d.max_trackers as u64,
            timeout: d.timeout_ns / 1_000_000_000,
            policy: d.policy.name().into(),
            host_os_policy: BTreeMap::new(),
        }
    }
}

impl DefragConfig {
    /// The engine's settings for one of `workers` workers (an equal share of the memcap
    /// and trackers each).
    pub fn to_detect(&self, workers: usize) -> detect::defrag::DefragConfig {
        let w = workers.max(1) as u64;
        detect::defrag::DefragConfig {
            memcap: self.memcap.0 / w,
            max_trackers: (self.trackers / w).max(1) as usize,
            timeout_ns: self.timeout.saturating_mul(1_000_000_000),
            policy: detect::defrag::Policy::parse(&self.policy).unwrap_or_default(),
            hosts: self.hosts().unwrap_or_default(),
        }
    }

    /// The parsed `host-os-policy`; `Err` names the entry.
    pub fn hosts(&self) -> Result<detect::defrag::HostPolicies> {
        let lists: Vec<(&str, Vec<String>)> = self
            .host_os_policy
            .iter()
            .map(|(os, l)| (os.as_str(), l.nets()))
            .collect();
        detect::defrag::HostPolicies::parse(lists.iter().map(|(os, l)| (*os, l.as_slice())))
            .map_err(|e| anyhow!("config key defrag.host-os-policy: {e}"))
    }
}

/// A byte count written as a number or as Suricata writes sizes (`64kb`, `256mb`, `1gb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Option<ByteSize> {
        let t = text.trim().to_ascii_lowercase();
        let (num, mult) = [
            ("gb", 1u64 << 30),
            ("mb", 1 << 20),
            ("kb", 1 << 10),
            ("b", 1),
        ]
        .iter()
        .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((t.clone(), 1));
        num.parse::<u64>().ok()?.checked_mul(mult).map(ByteSize)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a size (a number of bytes, or like 64kb, 256mb, 1gb)"
                ))
            }),
        }
    }
}

/// Parses one `--set` value: TOML syntax when it parses (numbers, booleans, arrays), a
/// plain string otherwise, so `--set vars.address.HOME_NET=[10.0.0.0/8]` just works.
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

fn set_path(root: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {key}: empty key component");
    }
    let mut table = root;
    for part in &parts[..parts.len() - 1] {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| anyhow!("--set {key}: `{part}` is not a table"))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

impl Config {
    /// Reads `path` (if given) and applies `sets` (`KEY=VALUE`) on top.
    pub fn load(path: Option<&Path>, sets: &[String]) -> Result<Config> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config {}", p.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("config {}", p.display()))?
            }
            None => toml::Table::new(),
        };
        for s in sets {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("--set {s}: expected KEY=VALUE"))?;
            set_path(&mut table, k.trim(), parse_value(v.trim()))?;
        }
        let origin = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "--set".into());
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e| anyhow!("config ({origin}): {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if !matches!(
            self.detect.checksum_checks.as_str(),
            "auto" | "all" | "none"
        ) {
            bail!(
                "config key detect.checksum_checks: `{}` is not one of auto, all, none",
                self.detect.checksum_checks
            );
        }
        if self.detect.workers == 0 {
            bail!("config key detect.workers: must be at least 1");
        }
        if !matches!(self.sensor.xdp_mode.as_str(), "auto" | "driver" | "skb") {
            bail!(
                "config key sensor.xdp_mode: `{}` is not one of auto, driver, skb",
                self.sensor.xdp_mode
            );
        }
        if !self.sensor.frames.is_power_of_two() || self.sensor.frames < 64 {
            bail!(
                "config key sensor.frames: {} must be a power of two, at least 64",
                self.sensor.frames
            );
        }
        if self.sensor.queues == 0 || self.sensor.batch == 0 {
            bail!("config keys sensor.queues and sensor.batch: must be at least 1");
        }
        if let Some(m) = self.flow.memcap {
            // A floor well above any worker's minimal table (a few KiB).
            if m.0 < 1 << 20 {
                bail!(
                    "config key flow.memcap: {} bytes is below the 1mb minimum",
                    m.0
                );
            }
        }
        if self.flow.max_flows == 0 {
            bail!("config key flow.max_flows: must be at least 1");
        }
        let c = &self.collector;
        if c.silence_secs == 0 || c.max_commit_records == 0 {
            bail!("config keys collector.silence_secs and collector.max_commit_records: must be at least 1");
        }
        if c.buffer.0 == 0 || c.buffer.0 > u32::MAX as u64 {
            bail!(
                "config key collector.buffer: {} must be 1 byte to 4gb",
                c.buffer.0
            );
        }
        self.router_config().validate()?;
        store::input::validate_all(&self.input)?;
        if detect::defrag::Policy::parse(&self.defrag.policy).is_none() {
            bail!(
                "config key defrag.policy: `{}` is not one of bsd, bsd-right, linux, windows, solaris, first, last",
                self.defrag.policy
            );
        }
        self.defrag.hosts()?;
        if self.defrag.timeout == 0 || self.defrag.timeout > 86_400 {
            bail!(
                "config key defrag.timeout: {} must be 1 to 86400 seconds",
                self.defrag.timeout
            );
        }
        if self.defrag.trackers == 0 {
            bail!("config key defrag.trackers: must be at least 1");
        }
        if self.stream.reassembly.depth.0 > 1 << 30 {
            bail!("config key stream.reassembly.depth: at most 1gb");
        }
        Ok(())
    }

    /// The routing sections, for `store::route::Router`.
    pub fn router_config(&self) -> store::route::RouterConfig {
        store::route::RouterConfig {
            routing: self.routing.clone(),
            routes: self.route.clone(),
            outputs: self.output.clone(),
        }
    }

    pub fn checksum_mode(&self) -> detect::worker::ChecksumMode {
        match self.detect.checksum_checks.as_str() {
            "all" => detect::worker::ChecksumMode::All,
            "none" => detect::worker::ChecksumMode::None,
            _ => detect::worker::ChecksumMode::Auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defrag_keys_take_suricata_names_sizes_and_policies() {
        let c = Config::load(
            None,
            &[
                "defrag.memcap=8mb".into(),
                "defrag.trackers=1000".into(),
                "defrag.timeout=10".into(),
                "defrag.policy=linux".into(),
            ],
        )
        .unwrap();
        let d = c.defrag.to_detect(2);
        assert_eq!(d.memcap, 4 << 20);
        assert_eq!(d.max_trackers, 500);
        assert_eq!(d.timeout_ns, 10_000_000_000);
        assert_eq!(d.policy, detect::defrag::Policy::Linux);
        let d = Config::load(None, &[]).unwrap().defrag.to_detect(1);
        assert_eq!(d, detect::defrag::DefragConfig::default());
        let e = Config::load(None, &["defrag.policy=beos".into()]).unwrap_err();
        assert!(e.to_string().contains("defrag.policy"), "{e}");
        let e = Config::load(None, &["defrag.memcap=lots".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("not a size"), "{e:#}");
    }

    #[test]
    fn defrag_host_os_policy_takes_lists_and_suricatas_bracketed_form() {
        let c = Config::load(
            None,
            &[
                r#"defrag.host-os-policy.windows=["10.0.0.0/8", "2001:db8::/32"]"#.into(),
                "defrag.host-os-policy.linux=[10.1.0.0/16, 10.2.0.1]".into(),
            ],
        )
        .unwrap();
        let d = c.defrag.to_detect(1);
        let policy = |a: &str| d.hosts.lookup(&a.parse().unwrap());
        use detect::defrag::Policy::*;
        assert_eq!(policy("10.1.2.3"), Some(Linux));
        assert_eq!(policy("10.2.0.1"), Some(Linux));
        assert_eq!(policy("10.3.0.1"), Some(Windows));
        assert_eq!(policy("2001:db8::1"), Some(Windows));
        assert_eq!(policy("192.0.2.1"), None);
        let text = "[defrag.host-os-policy]\nsolaris = \"[192.0.2.0/24]\"\n";
        let dir = std::env::temp_dir().join(format!("tw-hostos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        std::fs::write(&path, text).unwrap();
        let c = Config::load(Some(&path), &[]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let d = c.defrag.to_detect(1);
        assert_eq!(d.hosts.lookup(&"192.0.2.9".parse().unwrap()), Some(Solaris));
        for (set, names) in [
            ("defrag.host-os-policy.beos=[10.0.0.0/8]", "`beos`"),
            ("defrag.host-os-policy.linux=[10.0.0.0/40]", "10.0.0.0/40"),
        ] {
            let e = Config::load(None, &[set.into()]).unwrap_err().to_string();
            assert!(
                e.contains("defrag.host-os-policy") && e.contains(names),
                "{e}"
            );
        }
    }

    #[test]
    fn stream_keys_take_suricata_names_and_sizes() {
        let c = Config::load(
            None,
            &[
                "stream.midstream=true".into(),
                "stream.async-oneside=true".into(),
                "stream.memcap=64mb".into(),
                "stream.reassembly.depth=4096".into(),
            ],
        )
        .unwrap();
        let d = c.stream.to_detect(2);
        assert!(d.midstream && d.async_oneside);
        assert_eq!((d.memcap, d.depth), (32 << 20, 4096));
        let e = Config::load(None, &["stream.memcap=lots".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("lots"), "{e:#}");
    }

    #[test]
    fn input_tables_load_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tidewatch.toml");
        std::fs::write(
            &path,
            r#"
[[input]]
name = "suricata"
kind = "eve-socket"
path = "/run/tidewatch/eve.sock"
datagram = false
mode = "0660"
group = "suricata"

[[input]]
name = "host"
kind = "fifo"
path = "/run/tidewatch/alerts.fifo"
umask = "0117"
high_water = 100
low_water = 50

[[input]]
name = "suricata-file"
kind = "eve-file"
path = "/var/log/suricata/eve.json"
position = "/var/lib/tidewatch/eve.json.pos"
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path), &[]).unwrap();
        assert_eq!(c.input.len(), 3);
        assert_eq!(c.input[0].sensor(), "eve:suricata");
        assert!(c.input[0].holdable());
        assert_eq!(c.input[1].file_mode(), 0o660);
        assert!(!c.input[1].holdable());
        for (bad, key) in [
            ("name = \"a\"\nkind = \"eve-file\"\npath = \"/x\"", "input.a.position"),
            ("name = \"a\"\nkind = \"fifo\"\npath = \"/x\"\nmode = \"999\"", "input.a.mode"),
            ("name = \"a\"\nkind = \"fifo\"\npath = \"/x\"\ndatagram = true", "input.a.datagram"),
            ("name = \"a\"\nkind = \"fifo\"\npath = \"/x\"\nlow_water = 10\nhigh_water = 5", "input.a.low_water"),
            ("name = \"a b\"\nkind = \"fifo\"\npath = \"/x\"", "input.name"),
            ("name = \"a\"\nkind = \"pipe\"\npath = \"/x\"", "pipe"),
            ("name = \"a\"\nkind = \"fifo\"\npath = \"/x\"\n[[input]]\nname = \"a\"\nkind = \"fifo\"\npath = \"/y\"", "input.a.name"),
        ] {
            std::fs::write(&path, format!("[[input]]\n{bad}\n")).unwrap();
            let e = Config::load(Some(&path), &[]).unwrap_err();
            assert!(format!("{e:#}").contains(key), "{bad}: {e:#}");
        }
    }

    #[test]
    fn collector_keys_load_and_are_checked() {
        let c = Config::load(
            None,
            &[
                "collector.listen=0.0.0.0:4700".into(),
                "collector.db=/var/lib/tidewatch/alerts.redb".into(),
                "collector.buffer=16mb".into(),
                "collector.retention_size=2gb".into(),
                "collector.retention_days=30".into(),
            ],
        )
        .unwrap();
        let k = &c.collector;
        assert_eq!(k.listen.as_deref(), Some("0.0.0.0:4700"));
        assert_eq!(k.buffer.0, 16 << 20);
        assert_eq!(k.retention_size, Some(ByteSize(2 << 30)));
        assert_eq!((k.retention_days, k.silence_secs), (Some(30), 60));
        let e = Config::load(None, &["collector.buffer=0".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("collector.buffer"), "{e:#}");
        let e = Config::load(None, &["collector.lisen=x".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("lisen"), "{e:#}");
    }

    #[test]
    fn flow_memcap_and_rule_tuning_keys() {
        let c = Config::load(
            None,
            &[
                "flow.memcap=64mb".into(),
                "rules.threshold_file=\"/etc/tw/threshold.config\"".into(),
                "rules.disable_sids=[2000001,2000002]".into(),
                "rules.enable_sids=[2100498]".into(),
                "rules.enable_files=[\"emerging-scan.rules\"]".into(),
                "rules.disable_files=[\"emerging-games.rules\"]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.flow.to_detect_for(4).memcap, Some(16 << 20));
        assert_eq!(c.flow.to_detect().memcap, Some(64 << 20));
        assert_eq!(c.rules.disable_sids, [2000001, 2000002]);
        assert_eq!(c.rules.enable_sids, [2100498]);
        assert_eq!(c.rules.enable_files, ["emerging-scan.rules"]);
        assert_eq!(c.rules.disable_files, ["emerging-games.rules"]);
        assert!(c.rules.threshold_file.is_some());
        let e = Config::load(None, &["flow.memcap=4kb".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("flow.memcap"), "{e:#}");
    }

    #[test]
    fn sets_override_and_typos_name_the_key() {
        let c = Config::load(
            None,
            &[
                "detect.workers=3".into(),
                "vars.address.HOME_NET=[10.0.0.0/8,!10.1.0.0/16]".into(),
                "flow.max_flows=1024".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.detect.workers, 3);
        assert_eq!(c.flow.max_flows, 1024);
        assert_eq!(c.vars.address["HOME_NET"], "[10.0.0.0/8,!10.1.0.0/16]");

        let e = Config::load(None, &["detect.wokers=3".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("wokers"), "{e:#}");
        let e = Config::load(None, &["detect.checksum_checks=maybe".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("detect.checksum_checks"), "{e:#}");
        let e = Config::load(None, &["noequals".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("KEY=VALUE"));
    }
}
