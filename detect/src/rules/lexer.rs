//! Splits a rule into its header words and its `(name[:value]; ...)` options, keeping the
//! byte offset of every piece for error columns.

use super::error::{PErr, PResult};

/// A piece of rule text and where it starts (byte offset in the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span<'a> {
    pub text: &'a str,
    pub pos: usize,
}

/// One `name` or `name:value` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawOpt<'a> {
    pub name: Span<'a>,
    /// Trimmed value text, escapes still in place.
    pub value: Option<Span<'a>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawRule<'a> {
    pub header: Vec<Span<'a>>,
    pub options: Vec<RawOpt<'a>>,
}

/// Split `text` (one logical rule) into header words and options.
pub(crate) fn split(text: &str) -> PResult<RawRule<'_>> {
    let open = text
        .find('(')
        .ok_or_else(|| PErr::new(0, None, "missing '(' before the rule options"))?;
    let header = header_words(&text[..open])?;
    let trimmed_len = text.trim_end().len();
    if !text[..trimmed_len].ends_with(')') || trimmed_len <= open + 1 {
        return Err(PErr::new(
            trimmed_len,
            None,
            "missing ')' at the end of the rule",
        ));
    }
    let close = trimmed_len - 1;
    let options = options(text, open + 1, close)?;
    Ok(RawRule { header, options })
}

/// Whitespace-separated words; whitespace inside `[...]` stays in the word.
fn header_words(h: &str) -> PResult<Vec<Span<'_>>> {
    let b = h.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        let mut depth: usize = 0;
        while i < b.len() && (depth > 0 || !b[i].is_ascii_whitespace()) {
            match b[i] {
                b'[' => depth = depth.saturating_add(1),
                b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
        out.push(Span {
            text: &h[start..i],
            pos: start,
        });
    }
    Ok(out)
}

/// A value that opens a quote (`"...` or `!"...`) but does not close it.
fn unclosed_quote(v: &str) -> bool {
    let v = v.trim();
    let v = v.strip_prefix('!').map_or(v, str::trim_start);
    match v.strip_prefix('"') {
        Some(rest) => !rest.ends_with('"') || (rest.ends_with("\\\"") && !rest.ends_with("\\\\\"")),
        None => false,
    }
}

/// Whether the quoted value starting at `vstart`, still open at the ';' at `at`, ends
/// before a later unescaped ';' (before `end`).
fn closes_later(text: &str, vstart: usize, at: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let mut i = at + 1;
    while i < end.min(b.len()) {
        match b[i] {
            b'\\' => {
                i = i.saturating_add(2);
                continue;
            }
            b';' if !unclosed_quote(&text[vstart..i]) => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn options(text: &str, start: usize, end: usize) -> PResult<Vec<RawOpt<'_>>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = start;
    loop {
        while i < end && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= end {
            break;
        }
        let name_start = i;
        while i < end && b[i] != b':' && b[i] != b';' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = Span {
            text: &text[name_start..i],
            pos: name_start,
        };
        if name.text.is_empty() {
            return Err(PErr::new(name_start, None, "expected a keyword"));
        }
        while i < end && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= end {
            return Err(PErr::new(
                name_start,
                Some(name.text),
                "missing ';' after the option",
            ));
        }
        match b[i] {
            b';' => {
                out.push(RawOpt { name, value: None });
                i += 1;
            }
            b':' => {
                i += 1;
                while i < end && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                let vstart = i;
                // Values end at the first unescaped ';', quoted or not, as in Suricata 7:
                // a ';' inside quotes must be written '\;'.
                while i < end {
                    match b[i] {
                        b'\\' => {
                            i = i.saturating_add(2);
                            continue;
                        }
                        b';' => break,
                        _ => {}
                    }
                    i += 1;
                }
                let open = unclosed_quote(&text[vstart..i.min(end).min(text.len())]);
                let never_closed = open && !closes_later(text, vstart, i, end);
                if i >= end || never_closed {
                    return Err(PErr::new(
                        name_start,
                        Some(name.text),
                        if open {
                            "unterminated quoted value"
                        } else {
                            "missing ';' after the option"
                        },
                    ));
                }
                // A quote still open at the ';' that closes later in the rule: Suricata
                // cuts the value at the ';'.
                if open {
                    return Err(PErr::new(
                        i,
                        Some(name.text),
                        "unescaped ';' inside a quoted value: write it as '\\;'",
                    ));
                }
                let v = text[vstart..i].trim_end();
                out.push(RawOpt {
                    name,
                    value: Some(Span {
                        text: v,
                        pos: vstart,
                    }),
                });
                i += 1;
            }
            _ => {
                return Err(PErr::new(
                    i,
                    Some(name.text),
                    "expected ':' or ';' after the keyword",
                ))
            }
        }
    }
    Ok(out)
}
