//! Decoding of option values: quoted strings, `content` bytes, numbers and comparisons.

/// Strip one pair of surrounding double quotes, if present.
pub(crate) fn unquote(v: &str) -> Result<&str, String> {
    let v = v.trim();
    match v.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !inner.ends_with('\\') || inner.ends_with("\\\\") => Ok(inner),
            _ => Err("missing closing '\"'".into()),
        },
        None => Ok(v),
    }
}

/// `msg`-style text: quotes removed, `\x` becomes `x`.
pub(crate) fn unescape_text(v: &str) -> Result<String, String> {
    let inner = unquote(v)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => return Err("dangling '\\' at the end".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A `content` value: `[!]"text|41 42|text"` -> (negated, bytes).
pub(crate) fn content_bytes(v: &str) -> Result<(bool, Vec<u8>), String> {
    let v = v.trim();
    let (negated, v) = match v.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, v),
    };
    if !v.starts_with('"') {
        return Err("content must be a quoted string".into());
    }
    let inner = unquote(v)?;
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut hex = false;
    let mut nibble: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if hex {
            match c {
                b'|' => {
                    if nibble.is_some() {
                        return Err("incomplete hex byte before '|'".into());
                    }
                    hex = false;
                }
                c if c.is_ascii_whitespace() => {
                    if nibble.is_some() {
                        return Err("incomplete hex byte".into());
                    }
                }
                c if c.is_ascii_hexdigit() => {
                    let d = hex_val(c);
                    match nibble.take() {
                        Some(h) => out.push((h << 4) | d),
                        None => nibble = Some(d),
                    }
                }
                c => return Err(format!("invalid hex character '{}'", c as char)),
            }
        } else {
            match c {
                b'|' => hex = true,
                b'\\' => {
                    let n = b.get(i + 1).copied();
                    match n {
                        Some(e @ (b'"' | b';' | b'\\' | b':')) => {
                            out.push(e);
                            i += 1;
                        }
                        _ => return Err("'\\' has to be escaped as '\\\\'".into()),
                    }
                }
                b'"' => return Err("unescaped '\"' inside content".into()),
                c => out.push(c),
            }
        }
        i += 1;
    }
    if hex {
        return Err("unterminated '|' hex block".into());
    }
    if out.is_empty() {
        return Err("empty content".into());
    }
    Ok((negated, out))
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// A decimal (or `0x` hex) unsigned number.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A decimal signed number.
pub(crate) fn parse_i64(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .strip_prefix('-')
        .or_else(|| s.strip_prefix('+'))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
