//! Loading rules as every daemon and `check` do: variables and classifications from the
//! config, every rule file, a summary of what is enforced and what is skipped and why.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use detect::engine::Engine;
use detect::rules::{self, Classifications, LoadedRules, Selection, Vars};
use detect::tuning::Tuning;
use std::path::PathBuf;
use std::sync::Arc;

/// A built rule set and what loading it said.
pub struct RuleSet {
    pub engine: Arc<Engine>,
    pub loaded: LoadedRulesSummary,
}

/// Counts kept after the rules themselves moved into the engine.
pub struct LoadedRulesSummary {
    pub files: Vec<PathBuf>,
    pub enforced: usize,
    pub skipped: usize,
    pub errors: usize,
    pub skipped_by_keyword: Vec<(String, usize)>,
    /// Enforced rules per classtype missing from `classification.config` (priority 3).
    pub unknown_classtypes: Vec<(String, usize)>,
    /// Rules left out by `rules.disable_sids`, files by `rules.disable_files`.
    pub disabled: usize,
    pub disabled_files: usize,
    /// Commented-out rules loaded by `rules.enable_sids`/`enable_files`.
    pub enabled: usize,
    /// `threshold.config` entries applied, and those naming no loaded rule.
    pub tuning_applied: usize,
    pub tuning_unmatched: usize,
    /// Enforced rules that need a DNS flow (`alert dns`, `dns.query`).
    pub dns: usize,
    /// Enforced rules that need a TLS flow (`alert tls`, `tls.sni`).
    pub tls: usize,
    /// Rules on HTTP requests.
    pub http: usize,
}

impl LoadedRulesSummary {
    /// The lines `check` and `replay` print.
    pub fn render(&self) -> String {
        let mut s = format!(
            "rules: {} enforced, {} skipped, {} invalid, from {} file(s)\n",
            self.enforced,
            self.skipped,
            self.errors,
            self.files.len()
        );
        if self.disabled + self.disabled_files + self.enabled > 0 {
            s.push_str(&format!(
                "selection: {} rule(s) disabled, {} file(s) disabled, {} commented-out rule(s) enabled\n",
                self.disabled, self.disabled_files, self.enabled
            ));
        }
        if self.tuning_applied + self.tuning_unmatched > 0 {
            s.push_str(&format!(
                "threshold.config: {} entries applied, {} naming no loaded rule\n",
                self.tuning_applied, self.tuning_unmatched
            ));
        }
        if self.dns > 0 {
            s.push_str(&format!(
                "dns: {} rule(s) on DNS over UDP (DNS over TCP is not parsed)\n",
                self.dns
            ));
        }
        if self.tls > 0 {
            s.push_str(&format!(
                "tls: {} rule(s) on TLS over TCP (the hellos' server name, JA3 and JA3S; certificates)\n",
                self.tls
            ));
        }
        if self.http > 0 {
            s.push_str(&format!(
                "http: {} rule(s) on HTTP (request buffers: method, URI, host, headers, body; responses: status code, body (file.data); raw content both ways; other response headers are not parsed)\n",
                self.http
            ));
        }
        if !self.unknown_classtypes.is_empty() {
            s.push_str("rules naming a classtype classification.config lacks (priority 3):\n");
            for (k, n) in &self.unknown_classtypes {
                s.push_str(&format!("  {n:>7}  {k}\n"));
            }
        }
        if !self.skipped_by_keyword.is_empty() {
            s.push_str("skipped rules by unsupported keyword:\n");
            for (k, n) in &self.skipped_by_keyword {
                s.push_str(&format!("  {n:>7}  {k}\n"));
            }
        }
        s
    }
}

fn classification_path(config: &Config, files: &[PathBuf]) -> Option<PathBuf> {
    if let Some(p) = &config.rules.classification_file {
        return Some(p.clone());
    }
    let beside = files.first()?.parent()?.join("classification.config");
    beside.exists().then_some(beside)
}

/// Loads the rule files named on the command line and in the config.
pub fn load(config: &Config, cli_files: &[PathBuf], strict: bool) -> Result<RuleSet> {
    let mut files: Vec<PathBuf> = cli_files.to_vec();
    files.extend(config.rules.files.iter().cloned());
    if files.is_empty() {
        bail!("no rule files: give --rules FILE or set rules.files in the config");
    }
    let mut vars = Vars::default();
    for (k, v) in &config.vars.address {
        vars.set_address(k, v);
    }
    for (k, v) in &config.vars.port {
        vars.set_port(k, v);
    }
    let classes = match classification_path(config, &files) {
        Some(p) => {
            tracing::info!(path = %p.display(), "classifications");
            Classifications::load(&p)
                .with_context(|| format!("classification file {}", p.display()))?
        }
        None => Classifications::default(),
    };
    let strict = strict || config.rules.strict;
    let sel = Selection {
        enable_sids: config.rules.enable_sids.iter().copied().collect(),
        disable_sids: config.rules.disable_sids.iter().copied().collect(),
        enable_files: config.rules.enable_files.clone(),
        disable_files: config.rules.disable_files.clone(),
    };
    let LoadedRules {
        mut rules,
        skipped,
        skipped_by_keyword,
        unknown_classtypes,
        errors,
        disabled,
        disabled_files,
        enabled,
        ..
    } = rules::load_files_selected(&files, &vars, &classes, strict, &sel)?;
    let report = match &config.rules.threshold_file {
        Some(p) => {
            let t = Tuning::load(p, &vars).context("threshold file")?;
            t.apply(&mut rules)
        }
        None => Default::default(),
    };
    if strict && !report.unmatched.is_empty() {
        bail!(
            "threshold.config entries name rules that are not loaded: {}",
            report.unmatched.join("; ")
        );
    }
    let mut by_kw: Vec<(String, usize)> = skipped_by_keyword.into_iter().collect();
    by_kw.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Rules on a protocol's flows: naming it, or inspecting one of its buffers.
    let needs = |proto: rules::Proto| {
        rules
            .iter()
            .filter(|r| {
                r.proto == proto
                    || r.app_buffer
                        .as_ref()
                        .is_some_and(|b| b.kind.proto() == proto)
            })
            .count()
    };
    let summary = LoadedRulesSummary {
        dns: needs(rules::Proto::Dns),
        tls: needs(rules::Proto::Tls),
        http: needs(rules::Proto::Http),
        files,
        enforced: rules.len(),
        skipped: skipped.len(),
        errors: errors.len(),
        skipped_by_keyword: by_kw,
        unknown_classtypes: unknown_classtypes.into_iter().collect(),
        disabled,
        disabled_files,
        enabled,
        tuning_applied: report.applied,
        tuning_unmatched: report.unmatched.len(),
    };
    for e in &errors {
        eprintln!("error: {e}");
    }
    let engine = Engine::build(rules).context("building the rule groups")?;
    Ok(RuleSet {
        engine: Arc::new(engine),
        loaded: summary,
    })
}

/// For messages: `a.rules, b.rules`.
pub fn display_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
