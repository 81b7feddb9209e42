//! Rule tuning as Suricata does it: a `threshold.config` (`suppress`, `threshold`,
//! `event_filter`, `rate_filter`) applied to the loaded rules before the engine is built.
//!
//! Syntax (one entry per line, `#` comments):
//! ```text
//! suppress gen_id <gid>, sig_id <sid>[, track <by_src|by_dst|by_either>, ip <addresses>]
//! threshold gen_id <gid>, sig_id <sid>, type <limit|threshold|both>, track <by_src|by_dst|by_rule|by_both>, count <n>, seconds <s>
//! event_filter ...                      (same as threshold)
//! rate_filter gen_id <gid>, sig_id <sid>, track <by_src|by_dst|by_rule|by_both>, count <n>, seconds <s>, new_action <alert|drop|pass|reject>, timeout <s>
//! ```
//! `<addresses>` is an address expression as in a rule header (`10.0.0.0/8`,
//! `[1.2.3.4,5.6.7.0/24]`, `$HOME_NET`). `sig_id 0` (with `gen_id 0` or the rule's gid)
//! applies to every rule; a `threshold` for a specific sid replaces the rule's own
//! `threshold`/`detection_filter`, a global one applies only to rules without one.

use crate::rules::{
    Action, AddrSet, RateFilter, Rule, Suppress, SuppressTrack, ThresholdSpec, Vars,
};
use std::path::Path;

/// A bad `threshold.config` line: file, line and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: u32,
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum What {
    Suppress(Suppress),
    Threshold(ThresholdSpec),
    Rate(RateFilter),
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    gid: u32,
    sid: u32,
    what: What,
    line: u32,
}

/// A parsed `threshold.config`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tuning {
    entries: Vec<Entry>,
    file: String,
}

/// What applying a [`Tuning`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TuningReport {
    /// Entries that found at least one rule.
    pub applied: usize,
    /// `file:line: sid N` of entries naming a rule that is not loaded (a warning each).
    pub unmatched: Vec<String>,
}

impl Tuning {
    pub fn load(path: &Path, vars: &Vars) -> Result<Tuning, TuningError> {
        let text = std::fs::read_to_string(path).map_err(|source| TuningError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Tuning::parse(&text, &path.display().to_string(), vars)
    }

    pub fn parse(text: &str, file: &str, vars: &Vars) -> Result<Tuning, TuningError> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let e = parse_line(t, vars).map_err(|message| TuningError::Line {
                file: file.to_owned(),
                line,
                message,
            })?;
            entries.push(Entry { line, ..e });
        }
        Ok(Tuning {
            entries,
            file: file.to_owned(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Attaches every entry to the rules it names.
    pub fn apply(&self, rules: &mut [Rule]) -> TuningReport {
        let mut report = TuningReport::default();
        for e in &self.entries {
            let global = e.sid == 0;
            let mut hit = false;
            for r in rules.iter_mut() {
                let names = if global {
                    e.gid == 0 || e.gid == r.gid
                } else {
                    e.sid == r.sid && e.gid == r.gid
                };
                if !names {
                    continue;
                }
                hit = true;
                let f = &mut r.filters;
                match &e.what {
                    What::Suppress(s) => f.suppress.push(s.clone()),
                    What::Threshold(t) => {
                        if !global || f.threshold.is_none() {
                            f.threshold = Some(*t);
                        }
                    }
                    What::Rate(rf) => f.rate = Some(*rf),
                }
            }
            if hit {
                report.applied += 1;
            } else {
                let msg = format!(
                    "{}:{}: sid {}:{} is not loaded",
                    self.file, e.line, e.gid, e.sid
                );
                tracing::warn!(entry = %msg, "threshold.config entry names no rule");
                report.unmatched.push(msg);
            }
        }
        report
    }
}

/// Splits `a b, c [d,e], f` on commas outside brackets.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

fn parse_line(t: &str, vars: &Vars) -> Result<Entry, String> {
    let (kind, rest) = t
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("expected '<type> gen_id N, sig_id N, ...', found '{t}'"))?;
    let mut opts: Vec<(&str, &str)> = Vec::new();
    for part in split_top(rest) {
        let (k, v) = part
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .ok_or_else(|| format!("expected 'name value', found '{part}'"))?;
        if opts.iter().any(|(o, _)| *o == k) {
            return Err(format!("'{k}' given twice"));
        }
        opts.push((k, v));
    }
    let get = |k: &str| opts.iter().find(|(o, _)| *o == k).map(|&(_, v)| v);
    let num = |k: &str| -> Result<u32, String> {
        let v = get(k).ok_or_else(|| format!("{kind}: missing '{k}'"))?;
        v.parse::<u32>()
            .map_err(|_| format!("{kind}: '{k}' must be a number, not '{v}'"))
    };
    let allowed: &[&str] = match kind {
        "suppress" => &["gen_id", "sig_id", "track", "ip"],
        "threshold" | "event_filter" => &["gen_id", "sig_id", "type", "track", "count", "seconds"],
        "rate_filter" => &[
            "gen_id",
            "sig_id",
            "track",
            "count",
            "seconds",
            "new_action",
            "timeout",
        ],
        o => {
            return Err(format!(
                "unknown entry '{o}' (expected suppress, threshold, event_filter or rate_filter)"
            ))
        }
    };
    if let Some((k, _)) = opts.iter().find(|(k, _)| !allowed.contains(k)) {
        return Err(format!("{kind}: unknown option '{k}'"));
    }
    let (gid, sid) = (num("gen_id")?, num("sig_id")?);
    let track = |v: Option<&str>| -> Result<crate::rules::Track, String> {
        let v = v.ok_or_else(|| format!("{kind}: missing 'track'"))?;
        crate::rules::parse_track_public(v).map_err(|e| format!("{kind}: {e}"))
    };
    let what = match kind {
        "suppress" => {
            let track = match get("track") {
                None => SuppressTrack::All,
                Some("by_src") => SuppressTrack::BySrc,
                Some("by_dst") => SuppressTrack::ByDst,
                Some("by_either") => SuppressTrack::ByEither,
                Some(o) => return Err(format!("suppress: unknown track '{o}'")),
            };
            let addrs = match (track, get("ip")) {
                (SuppressTrack::All, None) => AddrSet::default(),
                (SuppressTrack::All, Some(_)) => {
                    return Err("suppress: 'ip' needs a 'track'".into())
                }
                (_, None) => return Err("suppress: 'track' needs an 'ip'".into()),
                (_, Some(ip)) => vars
                    .parse_addresses(ip)
                    .map_err(|e| format!("suppress: ip '{ip}': {}", e.message))?,
            };
            What::Suppress(Suppress { track, addrs })
        }
        "rate_filter" => {
            let new_action = match get("new_action") {
                Some("alert") => Action::Alert,
                Some("drop") => Action::Drop,
                Some("pass") => Action::Pass,
                Some("reject") => Action::Reject,
                Some(o) => return Err(format!("rate_filter: unknown new_action '{o}'")),
                None => return Err("rate_filter: missing 'new_action'".into()),
            };
            What::Rate(RateFilter {
                track: track(get("track"))?,
                count: num("count")?,
                seconds: num("seconds")?,
                new_action,
                timeout: num("timeout")?,
            })
        }
        _ => {
            let text = opts
                .iter()
                .filter(|(k, _)| !matches!(*k, "gen_id" | "sig_id"))
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(",");
            What::Threshold(crate::rules::parse_threshold_public(&text)?)
        }
    };
    Ok(Entry {
        gid,
        sid,
        what,
        line: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{ThresholdKind, Track};

    fn rules() -> Vec<Rule> {
        let text = "alert tcp any any -> any any (content:\"a\"; sid:1;)\n\
                    alert tcp any any -> any any (content:\"b\"; threshold:type limit, track by_src, count 3, seconds 9; sid:2;)\n";
        crate::rules::load_str(text, "t", &Vars::default(), &Default::default(), true)
            .unwrap()
            .rules
    }

    #[test]
    fn entries_attach_to_the_rules_they_name() {
        let t = Tuning::parse(
            "# comment\n\
             suppress gen_id 1, sig_id 1, track by_src, ip [10.0.0.0/8, 192.168.1.1]\n\
             suppress gen_id 1, sig_id 2\n\
             threshold gen_id 0, sig_id 0, type both, track by_dst, count 2, seconds 5\n\
             event_filter gen_id 1, sig_id 2, type threshold, track by_rule, count 4, seconds 6\n\
             rate_filter gen_id 1, sig_id 1, track by_both, count 2, seconds 3, new_action drop, timeout 7\n\
             suppress gen_id 1, sig_id 99\n",
            "threshold.config",
            &Vars::default(),
        )
        .unwrap();
        let mut r = rules();
        let rep = t.apply(&mut r);
        assert_eq!(rep.applied, 5);
        assert_eq!(
            rep.unmatched,
            ["threshold.config:7: sid 1:99 is not loaded"]
        );
        let f1 = &r[0].filters;
        assert_eq!(f1.suppress.len(), 1);
        assert!(f1.suppress[0].addrs.contains(&"10.1.2.3".parse().unwrap()));
        assert!(f1.suppress[0]
            .addrs
            .contains(&"192.168.1.1".parse().unwrap()));
        assert!(!f1.suppress[0]
            .addrs
            .contains(&"192.168.1.2".parse().unwrap()));
        // The global threshold reaches the rule without one of its own.
        assert_eq!(f1.threshold.map(|t| t.kind), Some(ThresholdKind::Both));
        let rate = f1.rate.unwrap();
        assert_eq!(
            (rate.track, rate.new_action, rate.timeout),
            (Track::ByBoth, Action::Drop, 7)
        );
        // A sid-specific entry replaces the rule's own threshold; the global one does not.
        let f2 = &r[1].filters;
        assert_eq!(
            f2.threshold.map(|t| (t.kind, t.track, t.count)),
            Some((ThresholdKind::Threshold, Track::ByRule, 4))
        );
        assert_eq!(f2.suppress[0].track, SuppressTrack::All);
    }

    #[test]
    fn bad_lines_name_file_line_and_problem() {
        for (text, want) in [
            ("limit gen_id 1, sig_id 1", "unknown entry 'limit'"),
            ("suppress gen_id 1", "missing 'sig_id'"),
            ("suppress gen_id 1, sig_id 1, track by_src", "needs an 'ip'"),
            ("suppress gen_id 1, sig_id 1, track by_src, ip nonsense", "ip 'nonsense'"),
            ("rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action x, timeout 1", "new_action 'x'"),
            ("threshold gen_id 1, sig_id 1, type limit, track by_src, count 1", "missing 'seconds'"),
            ("threshold gen_id 1, sig_id 1, colour red", "unknown option 'colour'"),
        ] {
            let e = Tuning::parse(&format!("\n{text}\n"), "th.conf", &Vars::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("th.conf:2: ") && e.contains(want), "{text}: {e}");
        }
    }
}
