//! `byte_test`, `byte_jump` and `isdataat`, following Suricata's `DetectBytetestDoMatch`,
//! `DetectBytejumpDoMatch` and the isdataat branch of its content inspection.

use crate::rules::{ByteJump, ByteTest, ByteTestOp, Endian, IsDataAt, NumberFormat};

/// Where the number to read starts and how many bytes are left from there, or `None` when
/// Suricata would not match (no relative base, before the buffer, fewer than `nbytes` left).
fn read_window(
    buf_len: u32,
    cursor: u32,
    offset: i32,
    relative: bool,
    nbytes: u8,
) -> Option<usize> {
    let (start, len) = if relative {
        let start = cursor as i64 + offset as i64;
        let len = buf_len as i64 - start;
        if len <= 0 {
            return None;
        }
        (start, len)
    } else {
        (offset as i64, buf_len as i64 - offset as i64)
    };
    if start < 0 || nbytes as i64 > len {
        return None;
    }
    usize::try_from(start).ok()
}

/// Reads the number; returns it and how many bytes it used (`nbytes` for binary, the digits
/// `strtoull` consumed for strings).
fn extract(bytes: &[u8], format: NumberFormat) -> Option<(u64, usize)> {
    match format {
        // No bytes read the value 0, as in Suricata 7.
        NumberFormat::Binary(endian) => {
            if bytes.len() > 8 {
                return None;
            }
            let mut v: u64 = 0;
            match endian {
                Endian::Big => bytes.iter().for_each(|&b| v = (v << 8) | b as u64),
                Endian::Little => bytes.iter().rev().for_each(|&b| v = (v << 8) | b as u64),
            }
            Some((v, bytes.len()))
        }
        NumberFormat::String(base) => strtoull(bytes, base),
    }
}

/// C `strtoull` over at most these bytes (Suricata copies `nbytes` into a NUL-terminated
/// buffer of 24): leading white space, an optional sign, `0x` for base 16, then digits.
/// `None` when no digit was read or the value overflows (`ERANGE`).
pub(crate) fn strtoull(bytes: &[u8], base: u32) -> Option<(u64, usize)> {
    if bytes.len() > 23 || !(2..=36).contains(&base) {
        return None;
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = bytes.get(..end)?;
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            negative = c == b'-';
            i += 1;
        }
    }
    if base == 16
        && s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x') | Some(b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        i += 2;
    }
    let digits_start = i;
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(base)) {
        v = v.checked_mul(base as u64)?.checked_add(d as u64)?;
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    Some((if negative { v.wrapping_neg() } else { v }, i))
}

fn apply_bitmask(v: u64, bitmask: Option<u32>) -> u64 {
    match bitmask {
        Some(m) => {
            let v = v & m as u64;
            if v != 0 && m != 0 {
                v >> m.trailing_zeros()
            } else {
                v
            }
        }
        None => v,
    }
}

/// `byte_test`: never moves the cursor.
pub(crate) fn byte_test(bt: &ByteTest, buf: &[u8], cursor: u32) -> bool {
    let Some(start) = read_window(buf.len() as u32, cursor, bt.offset, bt.relative, bt.bytes)
    else {
        return false;
    };
    let Some(window) = buf.get(start..start.saturating_add(bt.bytes as usize)) else {
        return false;
    };
    let Some((val, _)) = extract(window, bt.format) else {
        return false;
    };
    let val = apply_bitmask(val, bt.bitmask);
    let m = match bt.op {
        ByteTestOp::Eq => val == bt.value,
        ByteTestOp::Lt => val < bt.value,
        ByteTestOp::Gt => val > bt.value,
        ByteTestOp::Le => val <= bt.value,
        ByteTestOp::Ge => val >= bt.value,
        ByteTestOp::And => val & bt.value != 0,
        ByteTestOp::Xor => val ^ bt.value != 0,
    };
    m != bt.negated
}

/// `byte_jump`: the new cursor, or `None` when the jump lands past the end. Landing exactly
/// at the end is allowed (Suricata 7.0.10 matches `content:"H"; byte_jump:1,0,relative;` on
/// `H\x00`).
pub(crate) fn byte_jump(bj: &ByteJump, buf: &[u8], cursor: u32) -> Option<u32> {
    let buf_len = buf.len() as u32;
    let start = read_window(buf_len, cursor, bj.offset, bj.relative, bj.bytes)?;
    let window = buf.get(start..start.saturating_add(bj.bytes as usize))?;
    let (val, used) = extract(window, bj.format)?;
    let mut val = apply_bitmask(val, bj.bitmask).wrapping_mul(bj.multiplier as u64);
    if bj.align && !val.is_multiple_of(4) {
        val = val.wrapping_add(4 - val % 4);
    }
    val = val.wrapping_add(bj.post_offset as i64 as u64);
    // Suricata adds the value as a signed 64-bit pointer offset.
    let delta = val as i64 as i128;
    let jump: i128 = if bj.from_beginning {
        delta
    } else if bj.from_end {
        buf_len as i128 + delta
    } else {
        start as i128 + delta + used as i128
    };
    if jump < 0 {
        Some(0)
    } else if jump > buf_len as i128 {
        None
    } else {
        u32::try_from(jump).ok()
    }
}

/// Whether `isdataat` holds (negation included). Absolute: byte `offset` exists; relative:
/// `offset` more bytes after the cursor fit in the buffer.
pub(crate) fn isdataat(id: &IsDataAt, buf_len: u32, cursor: u32) -> bool {
    let data = if id.relative {
        cursor as u64 + id.offset as u64 <= buf_len as u64
    } else {
        id.offset < buf_len
    };
    data != id.negated
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables are tuples
mod tests {
    use super::*;

    fn bt(
        bytes: u8,
        op: ByteTestOp,
        value: u64,
        offset: i32,
        relative: bool,
        format: NumberFormat,
    ) -> ByteTest {
        ByteTest {
            bytes,
            negated: false,
            op,
            value,
            offset,
            relative,
            format,
            bitmask: None,
        }
    }

    #[test]
    fn strtoull_follows_c() {
        let rows: &[(&[u8], u32, Option<(u64, usize)>)] = &[
            (b"123", 10, Some((123, 3))),
            (b"12a", 10, Some((12, 2))),
            (b" 42", 10, Some((42, 3))),
            (b"0x1f", 16, Some((31, 4))),
            (b"1f", 16, Some((31, 2))),
            (b"0x", 16, Some((0, 1))),
            (b"017", 8, Some((15, 3))),
            (b"8", 8, None),
            (b"abc", 10, None),
            (b"", 10, None),
            (b"-1", 10, Some((u64::MAX, 2))),
            (b"99999999999999999999", 10, None),
            (b"1\x002", 10, Some((1, 1))),
        ];
        for (s, base, want) in rows {
            assert_eq!(strtoull(s, *base), *want, "{s:?} base {base}");
        }
    }

    #[test]
    fn byte_test_table() {
        let be = NumberFormat::Binary(Endian::Big);
        let le = NumberFormat::Binary(Endian::Little);
        let buf = b"\x01\x02\x03\x04123 ff";
        let rows: Vec<(ByteTest, u32, bool)> = vec![
            (bt(2, ByteTestOp::Eq, 0x0102, 0, false, be), 0, true),
            (bt(2, ByteTestOp::Eq, 0x0201, 0, false, le), 0, true),
            (bt(4, ByteTestOp::Gt, 0x01020300, 0, false, be), 0, true),
            (bt(1, ByteTestOp::Lt, 3, 1, false, be), 0, true),
            (bt(1, ByteTestOp::Le, 2, 1, false, be), 0, true),
            (bt(1, ByteTestOp::Ge, 3, 1, false, be), 0, false),
            (bt(1, ByteTestOp::And, 0x02, 1, false, be), 0, true),
            (bt(1, ByteTestOp::And, 0x01, 1, false, be), 0, false),
            (bt(1, ByteTestOp::Xor, 0x02, 1, false, be), 0, false),
            (bt(1, ByteTestOp::Eq, 4, 1, true, be), 2, true),
            (bt(1, ByteTestOp::Eq, 4, -1, true, be), 4, true),
            (bt(1, ByteTestOp::Eq, 1, -1, false, be), 0, false),
            // 0 bytes read the value 0 (Suricata 7, golden sids 4028 and 4029).
            (bt(0, ByteTestOp::Eq, 0, 3, false, be), 0, true),
            (bt(0, ByteTestOp::Gt, 0, 3, false, be), 0, false),
            (
                bt(3, ByteTestOp::Eq, 123, 4, false, NumberFormat::String(10)),
                0,
                true,
            ),
            (
                bt(2, ByteTestOp::Eq, 255, 8, false, NumberFormat::String(16)),
                0,
                true,
            ),
            (
                bt(3, ByteTestOp::Eq, 0, 8, false, NumberFormat::String(16)),
                0,
                false,
            ),
            (bt(2, ByteTestOp::Eq, 0, 9, false, be), 0, false),
            (bt(1, ByteTestOp::Eq, 0x66, 0, true, be), 9, true),
            (bt(1, ByteTestOp::Eq, 0x66, 0, true, be), 10, false),
        ];
        for (i, (t, cursor, want)) in rows.iter().enumerate() {
            assert_eq!(byte_test(t, buf, *cursor), *want, "row {i}: {t:?}");
            if *want {
                let neg = ByteTest {
                    negated: true,
                    ..*t
                };
                assert!(!byte_test(&neg, buf, *cursor), "negated row {i}");
            }
        }
        // A negated comparison that fails matches; a read that cannot happen never does.
        let neg = ByteTest {
            negated: true,
            ..bt(1, ByteTestOp::Eq, 9, 0, false, be)
        };
        assert!(byte_test(&neg, buf, 0));
        let neg_oob = ByteTest {
            negated: true,
            ..bt(2, ByteTestOp::Eq, 9, 9, false, be)
        };
        assert!(!byte_test(&neg_oob, buf, 0));
        let masked = ByteTest {
            bitmask: Some(0x0f00),
            ..bt(2, ByteTestOp::Eq, 1, 0, false, be)
        };
        assert!(byte_test(&masked, buf, 0));
    }

    fn bj(bytes: u8, offset: i32, relative: bool, format: NumberFormat) -> ByteJump {
        ByteJump {
            relative,
            format,
            ..ByteJump::new(bytes, offset)
        }
    }

    #[test]
    fn byte_jump_table() {
        let be = NumberFormat::Binary(Endian::Big);
        let buf = b"\x02\x00\x05\x00\x00\x00\x00\x00\x00\x00";
        let rows: Vec<(ByteJump, u32, Option<u32>)> = vec![
            (bj(1, 0, false, be), 0, Some(3)),
            (bj(1, 2, false, be), 0, Some(8)),
            (
                ByteJump {
                    multiplier: 2,
                    ..bj(1, 0, false, be)
                },
                0,
                Some(5),
            ),
            (
                ByteJump {
                    align: true,
                    ..bj(1, 2, false, be)
                },
                0,
                None,
            ),
            (
                ByteJump {
                    align: true,
                    ..bj(1, 0, false, be)
                },
                0,
                Some(5),
            ),
            (
                ByteJump {
                    from_beginning: true,
                    ..bj(1, 0, false, be)
                },
                0,
                Some(2),
            ),
            (
                ByteJump {
                    from_end: true,
                    post_offset: -3,
                    ..bj(1, 1, false, be)
                },
                0,
                Some(7),
            ),
            (
                ByteJump {
                    post_offset: -100,
                    ..bj(1, 0, false, be)
                },
                0,
                Some(0),
            ),
            (bj(1, 0, true, be), 2, Some(8)),
            (bj(1, 0, true, be), 9, Some(10)),
            (bj(1, 1, true, be), 8, Some(10)),
            (bj(1, 0, true, be), 10, None),
            (bj(2, 0, false, NumberFormat::String(10)), 0, None),
        ];
        for (i, (j, cursor, want)) in rows.iter().enumerate() {
            assert_eq!(byte_jump(j, buf, *cursor), *want, "row {i}: {j:?}");
        }
        let s = b"12xxxxxxxxxxxxxx";
        assert_eq!(
            byte_jump(&bj(2, 0, false, NumberFormat::String(10)), s, 0),
            Some(14)
        );
        assert_eq!(
            byte_jump(&bj(3, 0, false, NumberFormat::String(10)), s, 0),
            Some(14)
        );
    }

    #[test]
    fn isdataat_table() {
        let rows: &[(u32, bool, bool, u32, u32, bool)] = &[
            // offset, relative, negated, buf_len, cursor, want
            (4, false, false, 5, 0, true),
            (5, false, false, 5, 0, false),
            (5, false, true, 5, 0, true),
            (1, true, false, 5, 4, true),
            (2, true, false, 5, 4, false),
            (2, true, true, 5, 4, true),
            (0, true, false, 5, 5, true),
        ];
        for &(offset, relative, negated, len, cursor, want) in rows {
            let id = IsDataAt {
                offset,
                relative,
                negated,
                rawbytes: false,
            };
            assert_eq!(
                isdataat(&id, len, cursor),
                want,
                "{id:?} len {len} cursor {cursor}"
            );
        }
    }
}
