//! Suricata rule syntax: parsing, variables, classifications and loading of rule files.
//!
//! INTERFACE CONTRACT (shared with tools/ and the matcher):
//! - [`Vars`]: address and port variables; `Vars::default()` has Suricata's defaults
//!   (`HOME_NET` = the RFC 1918 networks, `EXTERNAL_NET` = `!$HOME_NET`, the server
//!   variables = `$HOME_NET`, `HTTP_PORTS` = 80, ...); `Vars::set_address`/`set_port` override.
//! - [`Classifications`]: `Classifications::parse(text, file)` / `load(path)` for a
//!   `classification.config`; `Classifications::default()` has Suricata's stock table.
//! - `parse_rule(text, &Location, &Vars, &Classifications) -> Result<Parsed, RuleError>`
//! - `load_files(paths, &Vars, &Classifications, strict) -> Result<LoadedRules, LoadError>`:
//!   reads every file (multi-line rules with a trailing `\`, `#` comments, blank lines),
//!   keeps every good rule, records each skipped rule (one `tracing::warn!` each naming
//!   file, line, sid and every unsupported keyword) and each broken rule (a [`RuleError`]);
//!   with `strict`, any skip or error fails the load.

pub mod ast;
mod classify;
mod error;
mod keywords;
mod lexer;
mod load;
mod parse;
mod values;
pub(crate) mod vars;

pub use ast::*;
pub use classify::{Classification, Classifications};
pub use error::{LoadError, RuleError};
pub use load::{load_files, load_files_selected, load_str, LoadedRules, Selection, Skipped};
pub use parse::{parse_rule, Parsed};
pub use vars::{HeaderError, Vars};

#[cfg(test)]
mod tests;

/// The `threshold` keyword's value syntax, shared with `threshold.config`.
pub fn parse_threshold_public(v: &str) -> Result<ThresholdSpec, String> {
    parse::threshold(v, false)
}

/// A `track` value, shared with `threshold.config`.
pub fn parse_track_public(v: &str) -> Result<Track, String> {
    parse::parse_track(v)
}
