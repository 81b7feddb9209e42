//! Reading rule files: joining continuation lines, skipping comments, parsing every rule
//! and collecting enforced, skipped and broken rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{Location, Rule};
use super::classify::{Classifications, UnknownClasstypes};
use super::error::{LoadError, PErr, RuleError};
use super::parse::{parse_rule_ext, Context, Parsed, ParsedExt};
use super::vars::Vars;

/// A valid rule the engine cannot enforce yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub location: Location,
    pub sid: u32,
    /// Every unsupported keyword of the rule, in rule order.
    pub keywords: Vec<String>,
}

/// Everything the rule files held.
#[derive(Clone, Debug, Default)]
pub struct LoadedRules {
    /// Rules the engine enforces, in file order.
    pub rules: Vec<Rule>,
    /// Valid rules not enforced, with their unsupported keywords.
    pub skipped: Vec<Skipped>,
    /// Skipped rules per unsupported keyword (a rule counts once under each of its keywords).
    pub skipped_by_keyword: BTreeMap<String, usize>,
    /// Broken rules (also duplicate sids), one error each.
    pub errors: Vec<RuleError>,
    /// Enforced rules per classtype missing from `classification.config` (lowercased):
    /// loaded with priority 3, as Suricata 7 does, unless the load is strict.
    pub unknown_classtypes: BTreeMap<String, usize>,
    /// Number of files read.
    pub files: usize,
    /// Rules left out by [`Selection::disable_sids`].
    pub disabled: usize,
    /// Rule files left out by [`Selection::disable_files`].
    pub disabled_files: usize,
    /// Commented-out rules loaded by [`Selection::enable_sids`] or `enable_files`.
    pub enabled: usize,
}

/// Which rules to take, as `suricata-update`'s enable/disable lists and Suricata's
/// rule-files list would: by sid (any gid) or by file. Files match by full path as
/// given or by file name alone.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Load these sids even where the rule line is commented out (`# alert ...`).
    pub enable_sids: HashSet<u32>,
    /// Leave these sids out.
    pub disable_sids: HashSet<u32>,
    /// Load every commented-out rule of these files too.
    pub enable_files: Vec<String>,
    /// Do not read these files at all.
    pub disable_files: Vec<String>,
}

impl Selection {
    fn names(list: &[String], path: &str) -> bool {
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        list.iter().any(|f| f == path || *f == name)
    }

    fn wants_commented(&self, file: &str) -> bool {
        !self.enable_sids.is_empty() || Self::names(&self.enable_files, file)
    }
}

/// How many problems a strict failure lists.
const STRICT_LIST: usize = 10;

/// Load every rule file. I/O errors fail the load; rule problems are collected, and fail
/// the load only with `strict`.
pub fn load_files(
    paths: &[PathBuf],
    vars: &Vars,
    classes: &Classifications,
    strict: bool,
) -> Result<LoadedRules, LoadError> {
    load_files_selected(paths, vars, classes, strict, &Selection::default())
}

/// [`load_files`] taking only the rules `sel` selects.
pub fn load_files_selected(
    paths: &[PathBuf],
    vars: &Vars,
    classes: &Classifications,
    strict: bool,
    sel: &Selection,
) -> Result<LoadedRules, LoadError> {
    let mut state = State {
        sel: sel.clone(),
        strict,
        ..State::default()
    };
    for path in paths {
        if Selection::names(&sel.disable_files, &file_name(path)) {
            tracing::info!(file = %path.display(), "rule file disabled");
            state.out.disabled_files += 1;
            continue;
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        state.file(&text, &file_name(path), vars, classes);
    }
    finish(state, strict)
}

/// Load rules from a string as if it were a file called `file` (tests, fuzzing, stdin).
pub fn load_str(
    text: &str,
    file: &str,
    vars: &Vars,
    classes: &Classifications,
    strict: bool,
) -> Result<LoadedRules, LoadError> {
    let mut state = State {
        strict,
        ..State::default()
    };
    state.file(text, file, vars, classes);
    finish(state, strict)
}

fn file_name(path: &Path) -> String {
    path.display().to_string()
}

fn finish(state: State, strict: bool) -> Result<LoadedRules, LoadError> {
    let out = state.out;
    if strict && (!out.errors.is_empty() || !out.skipped.is_empty()) {
        let mut first: Vec<String> = out
            .errors
            .iter()
            .take(STRICT_LIST)
            .map(ToString::to_string)
            .collect();
        first.extend(
            out.skipped
                .iter()
                .take(STRICT_LIST.saturating_sub(first.len()))
                .map(|s| {
                    format!(
                        "{}: sid {} skipped, unsupported: {}",
                        s.location,
                        s.sid,
                        s.keywords.join(", ")
                    )
                }),
        );
        return Err(LoadError::Strict {
            errors: out.errors.len(),
            skipped: out.skipped.len(),
            first,
        });
    }
    Ok(out)
}

#[derive(Default)]
struct State {
    out: LoadedRules,
    /// (gid, sid) -> where it was first defined.
    sids: HashMap<(u32, u32), Location>,
    sel: Selection,
    strict: bool,
    /// Classtypes missing from the configuration that rules named so far.
    unknown: UnknownClasstypes,
}

impl State {
    fn file(&mut self, text: &str, name: &str, vars: &Vars, classes: &Classifications) {
        self.out.files += 1;
        let file: Arc<str> = Arc::from(name);
        let mut pending = String::new();
        let mut start_line = 0u32;
        let commented = self.sel.wants_commented(name);
        let whole_file = Selection::names(&self.sel.enable_files, name);
        for (n, line) in text.lines().enumerate() {
            let line_no = u32::try_from(n.saturating_add(1)).unwrap_or(u32::MAX);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if pending.is_empty() {
                let t = line.trim();
                if t.is_empty() {
                    continue;
                }
                if let Some(c) = t.strip_prefix('#') {
                    if commented {
                        self.commented(c, &file, line_no, whole_file, vars, classes);
                    }
                    continue;
                }
                start_line = line_no;
            }
            match line.trim_end().strip_suffix('\\') {
                Some(head) => pending.push_str(head),
                None => {
                    pending.push_str(line);
                    self.rule(&pending, &file, start_line, vars, classes);
                    pending.clear();
                }
            }
        }
        if !pending.is_empty() {
            self.rule(&pending, &file, start_line, vars, classes);
        }
    }

    /// A commented-out line: loaded when it is a rule the selection enables.
    fn commented(
        &mut self,
        text: &str,
        file: &Arc<str>,
        line: u32,
        whole_file: bool,
        vars: &Vars,
        classes: &Classifications,
    ) {
        let t = text.trim_start_matches('#').trim();
        let action = t.split_whitespace().next().unwrap_or("");
        if !matches!(
            action,
            "alert" | "pass" | "drop" | "reject" | "rejectsrc" | "rejectdst" | "rejectboth"
        ) {
            return;
        }
        let location = Location {
            file: file.clone(),
            line,
        };
        // Only the sid is wanted here: classtypes first named here are not registered
        // (the rule is parsed again below when it is taken).
        let mut ctx = Context {
            classes,
            unknown: &mut UnknownClasstypes::default(),
            strict: self.strict,
        };
        let sid = match parse_rule_ext(t, &location, vars, &mut ctx).map(|p| p.parsed) {
            Ok(Parsed::Rule(r)) => r.sid,
            Ok(Parsed::Unsupported { sid, .. }) => sid,
            // Commented-out text that is not a rule is a comment, unless the whole file
            // was asked for: then the broken rule is reported like any other.
            Err(_) if !whole_file => return,
            Err(_) => 0,
        };
        if whole_file || self.sel.enable_sids.contains(&sid) {
            self.out.enabled += 1;
            self.rule(t, file, line, vars, classes);
        }
    }

    fn rule(
        &mut self,
        text: &str,
        file: &Arc<str>,
        line: u32,
        vars: &Vars,
        classes: &Classifications,
    ) {
        let location = Location {
            file: file.clone(),
            line,
        };
        let mut ctx = Context {
            classes,
            unknown: &mut self.unknown,
            strict: self.strict,
        };
        let ParsedExt {
            parsed,
            gid,
            sid_pos,
            unknown_classtypes,
        } = match parse_rule_ext(text, &location, vars, &mut ctx) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(file = %location.file, line, error = %e, "broken rule");
                self.out.errors.push(e);
                return;
            }
        };
        let sid = match &parsed {
            Parsed::Rule(r) => r.sid,
            Parsed::Unsupported { sid, .. } => *sid,
        };
        if self.sel.disable_sids.contains(&sid) {
            self.out.disabled += 1;
            return;
        }
        if let Some(first) = self.sids.get(&(gid, sid)) {
            let e = PErr::new(
                sid_pos,
                Some("sid"),
                format!("duplicate signature {gid}:{sid}, first defined at {first}"),
            )
            .at(text, &location);
            tracing::warn!(file = %location.file, line, error = %e, "broken rule");
            self.out.errors.push(e);
            return;
        }
        self.sids.insert((gid, sid), location.clone());
        match parsed {
            Parsed::Rule(r) => {
                for name in unknown_classtypes {
                    let n = self.out.unknown_classtypes.entry(name.clone()).or_insert(0);
                    *n += 1;
                    if *n == 1 {
                        tracing::warn!(
                            file = %location.file,
                            line,
                            sid,
                            classtype = %name,
                            "unknown classtype: loaded with priority 3, as Suricata does (not \
                             repeated for this classtype); add it to classification.config"
                        );
                    }
                }
                self.out.rules.push(*r)
            }
            Parsed::Unsupported {
                sid,
                location,
                keywords,
            } => {
                tracing::warn!(
                    file = %location.file,
                    line = location.line,
                    sid,
                    keywords = %keywords.join(","),
                    "rule skipped: unsupported keywords"
                );
                for k in &keywords {
                    *self.out.skipped_by_keyword.entry(k.clone()).or_insert(0) += 1;
                }
                self.out.skipped.push(Skipped {
                    location,
                    sid,
                    keywords,
                });
            }
        }
    }
}
