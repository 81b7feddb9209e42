//! Suricata's EVE timestamp format (`2024-01-01T00:00:00.000123+0000`) without a date
//! library: civil-from-days is a dozen lines (Howard Hinnant's algorithm).

/// Formats nanoseconds since the epoch as UTC with microseconds, as Suricata writes it.
pub fn eve_timestamp(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let micros = (ts_ns % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            eve_timestamp(1_704_067_200_000_123_456),
            "2024-01-01T00:00:00.000123+0000"
        );
        // 2024-02-29 12:34:56.5
        assert_eq!(
            eve_timestamp(1_709_210_096_500_000_000),
            "2024-02-29T12:34:56.500000+0000"
        );
    }
}
