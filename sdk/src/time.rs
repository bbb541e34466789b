//! Timestamps as Elastic's connectors write them: Python's
//! `datetime.fromtimestamp(t, tz=timezone.utc).isoformat()` (`iso_utc` in
//! `connectors_sdk.utils`).

/// Now, as Elastic's `iso_utc()` writes it.
pub fn now_iso() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    iso_utc(t)
}

/// `t` (seconds since the epoch, a float as `os.stat` gives it) as
/// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`: microseconds rounded half to even, the
/// fraction left out when it is zero — as Python prints it.
pub fn iso_utc(t: f64) -> String {
    let mut secs = t.floor();
    let mut micros = ((t - secs) * 1e6).round_ties_even();
    if micros >= 1e6 {
        secs += 1.0;
        micros -= 1e6;
    }
    let secs = secs as i64;
    let micros = micros as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if micros == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}+00:00")
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
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
    fn matches_python_isoformat() {
        // datetime.fromtimestamp(0, tz=timezone.utc).isoformat()
        assert_eq!(iso_utc(0.0), "1970-01-01T00:00:00+00:00");
        // datetime.fromtimestamp(1733467200.25, tz=timezone.utc).isoformat()
        assert_eq!(
            iso_utc(1_733_467_200.25),
            "2024-12-06T06:40:00.250000+00:00"
        );
        assert_eq!(iso_utc(951_782_400.0), "2000-02-29T00:00:00+00:00");
        assert_eq!(
            iso_utc(1_700_000_000.123_456_7),
            "2023-11-14T22:13:20.123457+00:00"
        );
    }
}
