//! The routing configuration, read from the collector's TOML (the `[routing]` table, the
//! `[[route]]` array and the `[output.NAME]` tables):
//!
//! ```toml
//! [routing]
//! profile = "normal"                  # profile active at start (default: the first listed)
//! queue = 256                         # batches waiting per output before misses are counted
//! max_lag = 100000                    # alerts the router may fall behind the store
//! [routing.profiles]                  # AlertR-style: the levels active under each profile
//! normal = ["high", "low"]
//! quiet = ["high"]
//!
//! [[route]]
//! name = "urgent"                     # in logs and `status`
//! level = "high"                      # active when the current profile lists it; omit: always
//! priority = "1-2"                    # a number or range; `severity` is the same (EVE's name)
//! classtype = ["A Network Trojan was detected"]  # EVE alert.category, any case
//! sids = ["2000000-2099999", 1234]
//! sensors = ["edge-1"]
//! outputs = ["siem", "ops", "hot"]    # names of [output.NAME] tables
//!
//! [output.siem]
//! type = "syslog"                     # syslog | mail | alert_socket | eve_file | exec | block
//! ...                                 # the type's keys: see SyslogConfig, MailConfig, ...
//! ```
//!
//! A route matches when every condition it gives holds. An `alert_socket` output that no
//! route names receives the priority-1 alerts (the issue's default for "high priority"), and
//! the priority-0 ones a rule's explicit `priority:0` gives.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why a routing configuration was refused; the message names the config key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config key {key}: {reason}")]
    Key { key: String, reason: String },
}

pub(crate) fn key_err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        reason: reason.into(),
    }
}

/// `[routing]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    pub profile: Option<String>,
    pub profiles: BTreeMap<String, Vec<String>>,
    pub queue: usize,
    pub max_lag: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            profile: None,
            profiles: BTreeMap::new(),
            queue: 256,
            max_lag: 100_000,
        }
    }
}

/// One `[[route]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    pub name: Option<String>,
    pub level: Option<String>,
    #[serde(alias = "severity")]
    pub priority: Option<Range>,
    pub classtype: Vec<String>,
    pub sids: Vec<Range>,
    pub sensors: Vec<String>,
    pub outputs: Vec<String>,
}

/// An inclusive range written as a number (`5`) or a string (`"1-3"`, `"7"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub lo: u64,
    pub hi: u64,
}

impl Range {
    pub fn contains(&self, v: u64) -> bool {
        self.lo <= v && v <= self.hi
    }

    fn parse(s: &str) -> Option<Range> {
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let v = s.trim().parse().ok()?;
                (v, v)
            }
        };
        (lo <= hi).then_some(Range { lo, hi })
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Range { lo: n, hi: n }),
            Raw::S(s) => Range::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a number or an inclusive range like 1-3"
                ))
            }),
        }
    }
}

/// `[output.NAME]`: one destination, chosen by `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    Syslog(SyslogConfig),
    Mail(MailConfig),
    AlertSocket(AlertSocketConfig),
    EveFile(EveFileConfig),
    Exec(ExecConfig),
    Block(BlockConfig),
}

/// `type = "syslog"`: RFC 5424 to a syslog server (OSSEC's csyslogd).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp`, `tcp` (RFC 6587 octet counting), `tls` (the same over TLS, RFC 5425) or
    /// `unix` (a local datagram socket such as /dev/log).
    pub transport: String,
    /// `HOST:PORT`, or the socket path for `unix`.
    pub address: String,
    /// A name (`local0`, `auth`, `daemon`, ...) or the number 0-23.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// `sd`: the alert as structured data with the signature as message; `json`: the EVE
    /// object as message.
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default = "default_app")]
    pub app_name: String,
    /// HOSTNAME field; default: this host's name.
    pub hostname: Option<String>,
    /// TLS: PEM file of the CA that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// TLS: the name on the server's certificate (default: the host part of `address`).
    pub server_name: Option<String>,
}

/// `type = "mail"`: digests by SMTP (FLoP's `alert`, OSSEC's maild).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server `HOST:PORT`.
    pub server: String,
    /// `none`, `starttls` (required) or `tls` (implicit TLS, port 465 style).
    #[serde(default = "default_tls")]
    pub tls: String,
    /// PEM CA file for the server's certificate (default: the web PKI roots).
    pub ca: Option<PathBuf>,
    pub username: Option<String>,
    /// The password, or better `password_file` (first line is used).
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    /// Send when this many alerts have gathered...
    #[serde(default = "default_max_alerts")]
    pub max_alerts: usize,
    /// ...or this many seconds after the first one arrived, whichever is first.
    #[serde(default = "default_period")]
    pub period_secs: u64,
    /// Consecutive failed sends after which a digest's alerts are logged instead.
    #[serde(default = "default_fail_after")]
    pub fail_after: u32,
    /// Seconds per SMTP attempt.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_subject")]
    pub subject_prefix: String,
}

/// `type = "alert_socket"`: EVE JSON lines with the store id (FLoP's /tmp/alert).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSocketConfig {
    /// `stream`: we listen on `path`; `dgram`: we send to `path`, which the reader bound.
    pub mode: String,
    pub path: PathBuf,
    /// Stream mode: the socket's owner, group and mode (octal string, default "0660").
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(default = "default_sock_mode")]
    pub socket_mode: String,
    /// Stream mode: bytes a slow reader may have waiting before its alerts are missed.
    #[serde(default = "default_client_buffer")]
    pub client_buffer: usize,
}

/// `type = "eve_file"`: EVE JSON lines to a file, rotated by size and time, reopened on
/// SIGHUP (for logrotate, Splunk, Elastic, Trisul).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveFileConfig {
    pub path: PathBuf,
    /// Rotate when the file reaches this many bytes (0: never).
    #[serde(default)]
    pub rotate_bytes: u64,
    /// Rotate this many seconds after opening (0: never).
    #[serde(default)]
    pub rotate_secs: u64,
}

/// `type = "exec"`: active response (OSSEC's execd): runs a program per alert with the
/// alert as one EVE JSON line on stdin.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// The program (absolute path) and its arguments, run directly: no shell, so `;`,
    /// `$(...)` and quotes reach it literally.
    pub command: Vec<String>,
    /// The unprivileged user it runs as (required; root only with `allow_root`).
    pub user: Option<String>,
    /// Its primary group (default: the user's); supplementary groups are the user's.
    pub group: Option<String>,
    #[serde(default)]
    pub allow_root: bool,
    /// Seconds before the program's whole process group is killed (SIGKILL).
    #[serde(default = "default_exec_timeout")]
    pub timeout_secs: f64,
    /// Programs running at once; an alert arriving when all are busy is missed (counted
    /// and logged; it is in the store).
    #[serde(default = "default_max_running")]
    pub max_running: usize,
}

/// `type = "block"`: asks sensors to drop an alert's source (or destination) at XDP for
/// a time, over the authenticated sensor link.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockConfig {
    /// `src` or `dst`: which address of the alert is blocked.
    #[serde(default = "default_target")]
    pub target: String,
    /// How long the sensor keeps the block (it lifts it itself).
    pub duration_secs: u32,
    /// `origin`: only the sensor that raised the alert; `all`: every connected sensor.
    #[serde(default = "default_block_sensors")]
    pub sensors: String,
    /// Prefix lengths blocked around the address (default: the single address).
    #[serde(default = "default_prefix_v4")]
    pub prefix_v4: u8,
    #[serde(default = "default_prefix_v6")]
    pub prefix_v6: u8,
    /// Networks never blocked (`"10.0.0.0/8"`, `"2001:db8::/32"`): your own servers, the
    /// collector, gateways.
    #[serde(default)]
    pub never: Vec<String>,
}

/// `ADDR/LEN` (or a bare address) as an address and prefix length.
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let ip: std::net::IpAddr = a.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = if l.is_empty() {
        max
    } else {
        l.trim().parse().ok()?
    };
    (len <= max).then_some((ip, len))
}

fn default_exec_timeout() -> f64 {
    30.0
}
fn default_max_running() -> usize {
    4
}
fn default_target() -> String {
    "src".into()
}
fn default_block_sensors() -> String {
    "origin".into()
}
fn default_prefix_v4() -> u8 {
    32
}
fn default_prefix_v6() -> u8 {
    128
}
fn default_facility() -> String {
    "local0".into()
}
fn default_format() -> String {
    "sd".into()
}
fn default_app() -> String {
    "tidewatch".into()
}
fn default_tls() -> String {
    "starttls".into()
}
fn default_max_alerts() -> usize {
    100
}
fn default_period() -> u64 {
    300
}
fn default_fail_after() -> u32 {
    3
}
fn default_timeout() -> u64 {
    30
}
fn default_subject() -> String {
    "[tidewatch]".into()
}
fn default_sock_mode() -> String {
    "0660".into()
}
fn default_client_buffer() -> usize {
    1 << 20
}

/// Everything the router needs: `[routing]`, `[[route]]`, `[output.*]`.
#[derive(Clone, Debug, Default)]
pub struct RouterConfig {
    pub routing: RoutingConfig,
    pub routes: Vec<RouteConfig>,
    pub outputs: BTreeMap<String, OutputConfig>,
}

impl RouterConfig {
    /// True when nothing is configured (no router runs).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.outputs.is_empty()
    }

    /// Checks cross-references; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let levels: std::collections::BTreeSet<&str> = self
            .routing
            .profiles
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        if let Some(p) = &self.routing.profile {
            if !self.routing.profiles.contains_key(p) {
                return Err(key_err(
                    "routing.profile",
                    format!("no profile `{p}` in [routing.profiles]"),
                ));
            }
        }
        if self.routing.queue == 0 {
            return Err(key_err("routing.queue", "must be at least 1"));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.outputs.is_empty() {
                return Err(key_err(format!("route[{i}].outputs"), "names no output"));
            }
            for o in &r.outputs {
                if !self.outputs.contains_key(o) {
                    return Err(key_err(
                        format!("route[{i}].outputs"),
                        format!("no [output.{o}] table"),
                    ));
                }
            }
            if let Some(l) = &r.level {
                if !levels.contains(l.as_str()) {
                    return Err(key_err(
                        format!("route[{i}].level"),
                        format!("level `{l}` is in no profile of [routing.profiles]"),
                    ));
                }
            }
        }
        for (name, o) in &self.outputs {
            o.validate(&format!("output.{name}"))?;
        }
        Ok(())
    }
}

impl OutputConfig {
    /// The `type` key's value.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputConfig::Syslog(_) => "syslog",
            OutputConfig::Mail(_) => "mail",
            OutputConfig::AlertSocket(_) => "alert_socket",
            OutputConfig::EveFile(_) => "eve_file",
            OutputConfig::Exec(_) => "exec",
            OutputConfig::Block(_) => "block",
        }
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            OutputConfig::Syslog(s) => {
                if !matches!(s.transport.as_str(), "udp" | "tcp" | "tls" | "unix") {
                    return Err(key_err(
                        format!("{key}.transport"),
                        format!("`{}` is not one of udp, tcp, tls, unix", s.transport),
                    ));
                }
                if !matches!(s.format.as_str(), "sd" | "json") {
                    return Err(key_err(
                        format!("{key}.format"),
                        format!("`{}` is not one of sd, json", s.format),
                    ));
                }
                super::syslog::facility_code(&s.facility).ok_or_else(|| {
                    key_err(
                        format!("{key}.facility"),
                        format!("`{}` is not a syslog facility", s.facility),
                    )
                })?;
            }
            OutputConfig::Mail(m) => {
                if !matches!(m.tls.as_str(), "none" | "starttls" | "tls") {
                    return Err(key_err(
                        format!("{key}.tls"),
                        format!("`{}` is not one of none, starttls, tls", m.tls),
                    ));
                }
                if m.to.is_empty() {
                    return Err(key_err(format!("{key}.to"), "names no recipient"));
                }
                if m.max_alerts == 0 || m.fail_after == 0 {
                    return Err(key_err(
                        format!("{key}.max_alerts / fail_after"),
                        "must be at least 1",
                    ));
                }
            }
            OutputConfig::AlertSocket(a) => {
                if !matches!(a.mode.as_str(), "stream" | "dgram") {
                    return Err(key_err(
                        format!("{key}.mode"),
                        format!("`{}` is not one of stream, dgram", a.mode),
                    ));
                }
                if u32::from_str_radix(&a.socket_mode, 8).map_or(true, |m| m > 0o777) {
                    return Err(key_err(
                        format!("{key}.socket_mode"),
                        format!("`{}` is not an octal mode like 0660", a.socket_mode),
                    ));
                }
            }
            OutputConfig::EveFile(_) => {}
            OutputConfig::Exec(e) => {
                match e.command.first() {
                    None => return Err(key_err(format!("{key}.command"), "is empty")),
                    Some(p) if !p.starts_with('/') => {
                        return Err(key_err(
                            format!("{key}.command"),
                            format!("`{p}` is not an absolute path (no PATH search, no shell)"),
                        ))
                    }
                    Some(_) => {}
                }
                if e.command.iter().any(|a| a.contains('\0')) {
                    return Err(key_err(format!("{key}.command"), "contains a NUL byte"));
                }
                if e.user.is_none() {
                    return Err(key_err(
                        format!("{key}.user"),
                        "is required: the unprivileged user the program runs as",
                    ));
                }
                if !(e.timeout_secs > 0.0 && e.timeout_secs <= 86_400.0) {
                    return Err(key_err(
                        format!("{key}.timeout_secs"),
                        format!("{} is not between 0 and 86400", e.timeout_secs),
                    ));
                }
                if e.max_running == 0 || e.max_running > 1024 {
                    return Err(key_err(format!("{key}.max_running"), "must be 1 to 1024"));
                }
            }
            OutputConfig::Block(b) => {
                if !matches!(b.target.as_str(), "src" | "dst") {
                    return Err(key_err(
                        format!("{key}.target"),
                        format!("`{}` is not one of src, dst", b.target),
                    ));
                }
                if !matches!(b.sensors.as_str(), "origin" | "all") {
                    return Err(key_err(
                        format!("{key}.sensors"),
                        format!("`{}` is not one of origin, all", b.sensors),
                    ));
                }
                if b.duration_secs == 0 {
                    return Err(key_err(
                        format!("{key}.duration_secs"),
                        "must be at least 1 (a route never blocks for ever)",
                    ));
                }
                if b.prefix_v4 > 32 || b.prefix_v4 == 0 {
                    return Err(key_err(format!("{key}.prefix_v4"), "must be 1 to 32"));
                }
                if b.prefix_v6 > 128 || b.prefix_v6 == 0 {
                    return Err(key_err(format!("{key}.prefix_v6"), "must be 1 to 128"));
                }
                if let Some(n) = b.never.iter().find(|n| parse_cidr(n).is_none()) {
                    return Err(key_err(
                        format!("{key}.never"),
                        format!("`{n}` is not an address or ADDR/LEN"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RouterConfig, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[serde(default)]
            routing: RoutingConfig,
            #[serde(default)]
            route: Vec<RouteConfig>,
            #[serde(default)]
            output: BTreeMap<String, OutputConfig>,
        }
        let d: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        let c = RouterConfig {
            routing: d.routing,
            routes: d.route,
            outputs: d.output,
        };
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    const GOOD: &str = r#"
        [routing]
        profile = "quiet"
        profiles = { normal = ["high", "low"], quiet = ["high"] }
        [[route]]
        level = "low"
        severity = "1-2"
        sids = ["2000000-2099999", 7]
        outputs = ["f"]
        [output.f]
        type = "eve_file"
        path = "/tmp/x.json"
    "#;

    #[test]
    fn ranges_levels_and_outputs_parse() {
        let c = parse(GOOD).unwrap();
        let r = &c.routes[0];
        assert_eq!(r.priority, Some(Range { lo: 1, hi: 2 }));
        assert!(r.sids[0].contains(2_050_000) && !r.sids[0].contains(2_100_000));
        assert_eq!(r.sids[1], Range { lo: 7, hi: 7 });
        assert!(matches!(c.outputs["f"], OutputConfig::EveFile(_)));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                GOOD.replace("outputs = [\"f\"]", "outputs = [\"g\"]"),
                "route[0].outputs",
            ),
            (
                GOOD.replace("level = \"low\"", "level = \"mid\""),
                "route[0].level",
            ),
            (
                GOOD.replace("profile = \"quiet\"", "profile = \"loud\""),
                "routing.profile",
            ),
            (GOOD.replace("\"1-2\"", "\"2-1\""), "2-1"),
            (
                GOOD.replace("path = \"/tmp/x.json\"", "path = \"/x\"\nbogus = 1"),
                "bogus",
            ),
            (GOOD.replace("eve_file", "pigeon"), "pigeon"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        let syslog = r#"
            [output.s]
            type = "syslog"
            transport = "udp"
            address = "127.0.0.1:514"
            facility = "local9"
        "#;
        let e = parse(syslog).unwrap_err();
        assert!(e.contains("output.s.facility"), "{e}");
    }
}
