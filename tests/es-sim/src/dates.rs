//! Dates: parse the `strict_date_optional_time||epoch_millis` forms to epoch millis, format
//! instants the way the Connector API writes them, and resolve simple date math (`now-5m`).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ISO-8601 with millisecond precision and `Z`, e.g. `2025-01-31T10:00:00.123Z`.
pub fn format_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        y,
        m,
        d,
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000
    )
}

/// Now, as Elasticsearch writes an `Instant` (`strict_date_optional_time_nanos`: 3 to 9 fraction
/// digits, trailing zeros dropped). Java's clock ticks in microseconds on Linux, so two writes in
/// one millisecond still differ; with millisecond stamps a `_check_in` right after `_stats`
/// would come back `noop` where Elasticsearch says `updated`.
pub fn now_iso() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    format_micros(micros)
}

/// ISO-8601 from epoch microseconds, fraction as `strict_date_optional_time_nanos` prints it.
pub fn format_micros(us: i64) -> String {
    let ms_part = format_millis(us.div_euclid(1000));
    let sub = us.rem_euclid(1000);
    if sub == 0 {
        return ms_part;
    }
    let extra = format!("{sub:03}");
    let extra = extra.trim_end_matches('0');
    // `format_millis` ends in `.SSSZ`; the extra digits go before the `Z`.
    format!("{}{}Z", &ms_part[..ms_part.len() - 1], extra)
}

fn num(b: &[u8], from: usize, len: usize) -> Option<i64> {
    let s = b.get(from..from + len)?;
    if !s.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses `yyyy-MM-dd['T'HH[:mm[:ss[.fraction]]]][Z|±HH:mm|±HHmm]` (strict_date_optional_time)
/// and the `yyyy/MM/dd[ HH:mm:ss]` forms of the dynamic date detection.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let sep = b[4];
    if (sep != b'-' && sep != b'/') || b[7] != sep {
        return None;
    }
    let y = num(b, 0, 4)?;
    let mo = num(b, 5, 2)?;
    let d = num(b, 8, 2)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let mut i = 10;
    if i == b.len() {
        return Some(ms);
    }
    let t = b[i];
    if (sep == b'-' && t != b'T') || (sep == b'/' && t != b' ') {
        return None;
    }
    i += 1;
    let h = num(b, i, 2)?;
    i += 2;
    let mut mi = 0;
    let mut sec = 0;
    let mut frac = 0i64;
    if b.get(i) == Some(&b':') {
        mi = num(b, i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b':') {
            sec = num(b, i + 1, 2)?;
            i += 3;
            if matches!(b.get(i), Some(b'.') | Some(b',')) {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                let digits = &s[start..i.min(start + 3)];
                frac = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
            }
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += h * 3_600_000 + mi * 60_000 + sec * 1000 + frac;
    match b.get(i) {
        None => Some(ms),
        Some(b'Z') if i + 1 == b.len() => Some(ms),
        Some(c @ (b'+' | b'-')) => {
            let sign = if *c == b'+' { 1 } else { -1 };
            let oh = num(b, i + 1, 2)?;
            let om = match b.get(i + 3) {
                Some(b':') => num(b, i + 4, 2)?,
                Some(_) => num(b, i + 3, 2)?,
                None => 0,
            };
            Some(ms - sign * (oh * 3_600_000 + om * 60_000))
        }
        Some(b' ') if sep == b'/' => Some(ms), // "yyyy/MM/dd HH:mm:ss Z" zone suffix ignored
        _ => None,
    }
}

/// A date value as Elasticsearch reads it for a `date` field: a string date, date math based on
/// `now`, or epoch millis given as a number or a numeric string.
pub fn to_millis(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => parse_date_math(s),
        _ => None,
    }
}

/// `now`, `now-5m`, `now+1d/d`, `<date>||-1h`, or a plain date / epoch millis.
pub fn parse_date_math(s: &str) -> Option<i64> {
    let (base, math) = if let Some(rest) = s.strip_prefix("now") {
        (crate::http::now_millis(), rest)
    } else if let Some((d, m)) = s.split_once("||") {
        (parse_date(d).or_else(|| d.parse().ok())?, m)
    } else {
        return parse_date(s).or_else(|| s.parse::<i64>().ok());
    };
    let mut t = base;
    let b = math.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let op = b[i];
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = if i == start {
            1
        } else {
            math[start..i].parse().ok()?
        };
        let unit = *b.get(i)?;
        i += 1;
        let ms = match unit {
            b's' => 1000,
            b'm' => 60_000,
            b'h' | b'H' => 3_600_000,
            b'd' => 86_400_000,
            b'w' => 7 * 86_400_000,
            b'M' => 30 * 86_400_000,
            b'y' => 365 * 86_400_000,
            _ => return None,
        };
        match op {
            b'+' => t += n * ms,
            b'-' => t -= n * ms,
            b'/' => t -= t.rem_euclid(ms),
            _ => return None,
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forms() {
        let t = parse_date("2024-02-29T13:14:15.678Z").unwrap();
        assert_eq!(format_millis(t), "2024-02-29T13:14:15.678Z");
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(format_micros(t * 1000), "2024-02-29T13:14:15.678Z");
        assert_eq!(format_micros(t * 1000 + 120), "2024-02-29T13:14:15.67812Z");
        assert_eq!(format_micros(t * 1000 + 5), "2024-02-29T13:14:15.678005Z");
        assert_eq!(parse_date(&format_micros(t * 1000 + 999)), Some(t));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("2024/01/02 00:00:00"), parse_date("2024-01-02"));
        assert_eq!(parse_date("hello world"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date_math("1000"), Some(1000));
        let now = crate::http::now_millis();
        let five = parse_date_math("now-5m").unwrap();
        assert!((now - 300_000 - five).abs() < 5_000);
    }
}
