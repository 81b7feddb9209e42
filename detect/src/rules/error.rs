//! Errors of rule parsing and loading, each naming where (file:line:col) and which keyword.

use std::path::PathBuf;

use super::ast::Location;

/// A broken rule: `file:line:col: keyword: message`, as a rule writer needs to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}:{col}: {}{message}", keyword_prefix(.keyword))]
pub struct RuleError {
    pub location: Location,
    /// 1-based column (in characters) in the rule text where the offending token starts.
    pub col: u32,
    /// The keyword being parsed when known (`content`, `sid`, `header`...).
    pub keyword: Option<String>,
    pub message: String,
}

fn keyword_prefix(keyword: &Option<String>) -> String {
    match keyword {
        Some(k) => format!("{k}: "),
        None => String::new(),
    }
}

/// Why `load_files` gave up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read rule file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A broken configuration line (`classification.config`).
    #[error(transparent)]
    Config(RuleError),
    /// `strict` load with skipped or broken rules: the first few are listed.
    #[error("strict rule loading failed: {errors} broken and {skipped} skipped rule(s); first: {}", first.join("; "))]
    Strict {
        errors: usize,
        skipped: usize,
        first: Vec<String>,
    },
}

/// An error inside one rule before the location is attached: byte offset in the rule text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PErr {
    pub pos: usize,
    pub keyword: Option<String>,
    pub message: String,
}

impl PErr {
    pub fn new(pos: usize, keyword: Option<&str>, message: impl Into<String>) -> Self {
        PErr {
            pos,
            keyword: keyword.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Attach the location; the column counts characters of `text` before `pos`.
    pub fn at(self, text: &str, location: &Location) -> RuleError {
        let pos = self.pos.min(text.len());
        let col = text
            .char_indices()
            .take_while(|&(i, _)| i < pos)
            .count()
            .saturating_add(1);
        RuleError {
            location: location.clone(),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            keyword: self.keyword,
            message: self.message,
        }
    }
}

pub(crate) type PResult<T> = Result<T, PErr>;
