//! FIFO lines from host scripts (AlertR's sensor client) to alert records. Two forms
//! (DESIGN.md): `LEVEL|MESSAGE`, or a JSON object `{"level": int, "message": str,
//! "state": "triggered"|"normal", "source": str, "data": {...}}` with `state` defaulting
//! to triggered.
//!
//! Mapping, so routes and `tidewatch alerts` see these like any alert:
//! - `level` is the record's priority (1 most urgent, as Snort's priority and EVE's
//!   severity); it must be 1-255, so `priority = "1"` routes match a level-1 script alert.
//! - `message` is the msg; `source` (default: the input's name) is the `iface`.
//! - the state is the classtype: `state triggered` or `state normal`, so a "normal"
//!   (all clear) is stored like an alert, visible in EVE as `alert.category`, and a
//!   `[[route]]` with `classtype = ["state normal"]` can send the all-clears elsewhere.
//! - `data` (compact JSON) is the payload; addresses, ports and sid are 0.

use super::{foreign_record, LineError, Reject};
use crate::record::{AlertRecord, Origin};
use serde::Deserialize;
use std::borrow::Cow;

/// The classtype of a triggered state.
pub const TRIGGERED: &str = "state triggered";
/// The classtype of a normal (all clear) state.
pub const NORMAL: &str = "state normal";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    level: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

fn bad(what: impl Into<String>) -> LineError {
    LineError::new(Reject::BadField, what)
}

fn level(v: i64) -> Result<u8, LineError> {
    u8::try_from(v)
        .ok()
        .filter(|l| *l >= 1)
        .ok_or_else(|| bad(format!("level {v} is not 1-255")))
}

/// Parses one FIFO line (without its newline; a trailing `\r` is ignored).
pub fn parse_fifo(line: &[u8], input: &str) -> Result<AlertRecord, LineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut r = foreign_record(Origin::Fifo);
    r.class = TRIGGERED.into();
    r.iface = input.into();
    if line.first() == Some(&b'{') {
        let l: Line<'_> = serde_json::from_slice(line)
            .map_err(|e| LineError::new(Reject::NotJson, e.to_string()))?;
        r.priority = level(l.level)?;
        r.msg = l.message.into_owned();
        match l.state.as_deref() {
            None | Some("triggered") => {}
            Some("normal") => r.class = NORMAL.into(),
            Some(o) => return Err(bad(format!("state `{o}` is not triggered or normal"))),
        }
        if let Some(s) = l.source {
            r.iface = s.into_owned();
        }
        if let Some(d) = l.data {
            r.payload = d.to_string().into_bytes();
        }
    } else {
        let text = std::str::from_utf8(line)
            .map_err(|e| LineError::new(Reject::BadLine, format!("not UTF-8: {e}")))?;
        let (lv, msg) = text.split_once('|').ok_or_else(|| {
            LineError::new(Reject::BadLine, "neither LEVEL|MESSAGE nor a JSON object")
        })?;
        let lv: i64 = lv.trim().parse().map_err(|_| {
            LineError::new(
                Reject::BadLine,
                format!("level `{}` is not a number", lv.trim()),
            )
        })?;
        r.priority = level(lv)?;
        r.msg = msg.into();
    }
    if r.msg.is_empty() {
        return Err(bad("empty message"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_fifo_both_forms() {
        let r = parse_fifo(b"2|disk almost full\r", "host").unwrap();
        assert_eq!(
            (r.priority, r.msg.as_str(), r.class.as_str()),
            (2, "disk almost full", TRIGGERED)
        );
        assert_eq!(r.iface, "host");
        assert_eq!(r.origin, Origin::Fifo);
        let r = parse_fifo(
            br#"{"level": 1, "message": "door open", "state": "normal", "source": "door", "data": {"room": 4}}"#,
            "host",
        )
        .unwrap();
        assert_eq!(
            (r.priority, r.msg.as_str(), r.class.as_str()),
            (1, "door open", NORMAL)
        );
        assert_eq!(r.iface, "door");
        assert_eq!(r.payload, br#"{"room":4}"#);
        let r = parse_fifo(br#"{"level": 5, "message": "x"}"#, "host").unwrap();
        assert_eq!(r.class, TRIGGERED);
    }

    #[test]
    fn input_fifo_refuses_with_a_reason() {
        for (line, reason, word) in [
            (&b"no separator"[..], Reject::BadLine, "LEVEL|MESSAGE"),
            (b"x|msg", Reject::BadLine, "level"),
            (b"0|msg", Reject::BadField, "level 0"),
            (b"3|", Reject::BadField, "empty"),
            (b"{\"level\": 1}", Reject::NotJson, "message"),
            (
                b"{\"level\": 1, \"message\": \"m\", \"state\": \"odd\"}",
                Reject::BadField,
                "state",
            ),
            (b"\xff|m", Reject::BadLine, "UTF-8"),
        ] {
            let e = parse_fifo(line, "in").unwrap_err();
            assert_eq!(e.reason, reason, "{e}");
            assert!(e.to_string().contains(word), "{e}");
        }
    }
}
