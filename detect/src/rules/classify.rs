//! `classification.config`: classtype name -> description and default priority.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::ast::Location;
use super::error::{LoadError, RuleError};

/// Suricata 7's stock `classification.config` (GPL-2, from the Suricata distribution).
const STOCK: &str = "\
config classification: not-suspicious,Not Suspicious Traffic,3
config classification: unknown,Unknown Traffic,3
config classification: bad-unknown,Potentially Bad Traffic, 2
config classification: attempted-recon,Attempted Information Leak,2
config classification: successful-recon-limited,Information Leak,2
config classification: successful-recon-largescale,Large Scale Information Leak,2
config classification: attempted-dos,Attempted Denial of Service,2
config classification: successful-dos,Denial of Service,2
config classification: attempted-user,Attempted User Privilege Gain,1
config classification: unsuccessful-user,Unsuccessful User Privilege Gain,1
config classification: successful-user,Successful User Privilege Gain,1
config classification: attempted-admin,Attempted Administrator Privilege Gain,1
config classification: successful-admin,Successful Administrator Privilege Gain,1
config classification: rpc-portmap-decode,Decode of an RPC Query,2
config classification: shellcode-detect,Executable code was detected,1
config classification: string-detect,A suspicious string was detected,3
config classification: suspicious-filename-detect,A suspicious filename was detected,2
config classification: suspicious-login,An attempted login using a suspicious username was detected,2
config classification: system-call-detect,A system call was detected,2
config classification: tcp-connection,A TCP connection was detected,4
config classification: trojan-activity,A Network Trojan was detected, 1
config classification: unusual-client-port-connection,A client was using an unusual port,2
config classification: network-scan,Detection of a Network Scan,3
config classification: denial-of-service,Detection of a Denial of Service Attack,2
config classification: non-standard-protocol,Detection of a non-standard protocol or event,2
config classification: protocol-command-decode,Generic Protocol Command Decode,3
config classification: web-application-activity,access to a potentially vulnerable web application,2
config classification: web-application-attack,Web Application Attack,1
config classification: misc-activity,Misc activity,3
config classification: misc-attack,Misc Attack,2
config classification: icmp-event,Generic ICMP event,3
config classification: inappropriate-content,Inappropriate Content was Detected,1
config classification: policy-violation,Potential Corporate Privacy Violation,1
config classification: default-login-attempt,Attempt to login by a default username and password,2
config classification: targeted-activity,Targeted Malicious Activity was Detected,1
config classification: exploit-kit,Exploit Kit Activity Detected,1
config classification: external-ip-check,Device Retrieving External IP Address Detected,2
config classification: domain-c2,Domain Observed Used for C2 Detected,1
config classification: pup-activity,Possibly Unwanted Program Detected,2
config classification: credential-theft,Successful Credential Theft Detected,1
config classification: social-engineering,Possible Social Engineering Attempted,2
config classification: coin-mining,Crypto Currency Mining Activity Detected,2
config classification: command-and-control,Malware Command and Control Activity Detected,1
";

/// One classtype: what EVE prints as `alert.category` and the rule's default priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub description: String,
    pub priority: u8,
}

/// The classtypes rules may name. Suricata 7 takes a rule naming another classtype too,
/// with a warning (see [`UnknownClasstypes`]); strict loading refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classifications {
    map: HashMap<String, Classification>,
}

impl Default for Classifications {
    fn default() -> Self {
        Self::parse(STOCK, "<stock classification.config>").unwrap_or_else(|_| Classifications {
            map: HashMap::new(),
        })
    }
}

impl Classifications {
    /// Parse `config classification: name,Description,priority` lines (`#` comments and
    /// blank lines ignored). Names are case-insensitive, as in Suricata.
    pub fn parse(text: &str, file: &str) -> Result<Self, RuleError> {
        let file: Arc<str> = Arc::from(file);
        let mut map = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let location = Location {
                file: file.clone(),
                line: u32::try_from(n.saturating_add(1)).unwrap_or(u32::MAX),
            };
            let err = |message: &str| RuleError {
                location: location.clone(),
                col: 1,
                keyword: Some("classification".into()),
                message: message.into(),
            };
            let rest = trimmed
                .strip_prefix("config classification:")
                .ok_or_else(|| {
                    err("expected 'config classification: name,description,priority'")
                })?;
            let mut parts = rest.splitn(3, ',');
            let name = parts.next().unwrap_or("").trim();
            let description = parts.next().map(str::trim);
            let priority = parts.next().map(str::trim);
            let (Some(description), Some(priority)) = (description, priority) else {
                return Err(err("expected three comma-separated fields"));
            };
            if name.is_empty() {
                return Err(err("empty classtype name"));
            }
            let priority: u8 = priority
                .parse()
                .map_err(|_| err(&format!("bad priority '{priority}'")))?;
            map.insert(
                name.to_ascii_lowercase(),
                Classification {
                    description: description.to_owned(),
                    priority,
                },
            );
        }
        Ok(Classifications { map })
    }

    /// Read and parse a `classification.config` file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse(&text, &path.display().to_string()).map_err(LoadError::Config)
    }

    /// Look a classtype up (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Classification> {
        self.map.get(&name.to_ascii_lowercase())
    }

    /// Number of classtypes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No classtype at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Suricata's priority for a rule with neither `priority` nor a known classtype.
pub(crate) const DEFAULT_PRIORITY: u8 = 3;

/// What Suricata 7 calls a classtype missing from `classification.config` once a rule has
/// named it.
const UNKNOWN_CLASSTYPE: &str = "Unknown Classtype";

/// Classtypes missing from `classification.config` that rules named so far. As in
/// Suricata 7, such a classtype is registered on first use with [`DEFAULT_PRIORITY`] and
/// the description "Unknown Classtype": the rule that names it first gets no category (its
/// EVE `alert.category` is empty), every later one gets that description.
#[derive(Debug, Default)]
pub(crate) struct UnknownClasstypes(HashSet<String>);

impl UnknownClasstypes {
    /// Priority and category a rule naming `lower` (lowercased, not in the configuration)
    /// gets now; registers it on first use.
    pub(crate) fn name(&mut self, lower: &str) -> (u8, Option<&'static str>) {
        if self.0.contains(lower) {
            (DEFAULT_PRIORITY, Some(UNKNOWN_CLASSTYPE))
        } else {
            self.0.insert(lower.to_owned());
            (DEFAULT_PRIORITY, None)
        }
    }
}
