//! Text forms: ISO-8601 dates and times, durations, UUIDs and addresses as
//! PostgreSQL prints them, and the calendar arithmetic behind them.

use std::fmt;

use crate::types::{Date, Inet, Interval, Time, TimeTz, Timestamp, TimestampTz, Uuid};

/// Days between 1970-01-01 and 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;
const USECS_PER_DAY: i64 = 86_400_000_000;

/// `(year, month, day)` (proleptic Gregorian, astronomical years) for days since 2000-01-01.
pub fn civil_from_pg_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + UNIX_TO_PG_DAYS + 719_468;
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

/// Days since 2000-01-01 for a proleptic Gregorian date.
pub fn pg_days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - UNIX_TO_PG_DAYS
}

fn write_year(f: &mut fmt::Formatter<'_>, y: i64) -> fmt::Result {
    // ISO 8601 expanded years outside 0000..=9999.
    if (0..=9999).contains(&y) {
        write!(f, "{y:04}")
    } else if y < 0 {
        write!(f, "-{:04}", -y)
    } else {
        write!(f, "+{y}")
    }
}

fn write_time_of_day(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    write!(
        f,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )?;
    // Like Python's isoformat (what Elastic's connector emits): fraction only when non-zero.
    if frac != 0 {
        write!(f, ".{frac:06}")?;
    }
    Ok(())
}

fn write_offset(f: &mut fmt::Formatter<'_>, secs: i32) -> fmt::Result {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    write!(f, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60)?;
    if !a.is_multiple_of(60) {
        write!(f, ":{:02}", a % 60)?;
    }
    Ok(())
}

impl fmt::Display for Date {
    /// ISO 8601 `YYYY-MM-DD`; `infinity` / `-infinity` as PostgreSQL spells them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            i32::MAX => f.write_str("infinity"),
            i32::MIN => f.write_str("-infinity"),
            d => {
                let (y, m, d) = civil_from_pg_days(d as i64);
                write_year(f, y)?;
                write!(f, "-{m:02}-{d:02}")
            }
        }
    }
}

impl fmt::Display for Time {
    /// `HH:MM:SS[.ffffff]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time_of_day(f, self.0)
    }
}

impl fmt::Display for TimeTz {
    /// `HH:MM:SS[.ffffff]+HH:MM`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time_of_day(f, self.micros)?;
        write_offset(f, self.offset_secs)
    }
}

fn write_timestamp(f: &mut fmt::Formatter<'_>, us: i64, utc: bool) -> fmt::Result {
    match us {
        i64::MAX => return f.write_str("infinity"),
        i64::MIN => return f.write_str("-infinity"),
        _ => {}
    }
    let days = us.div_euclid(USECS_PER_DAY);
    let tod = us.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_pg_days(days);
    write_year(f, y)?;
    write!(f, "-{m:02}-{d:02}T")?;
    write_time_of_day(f, tod)?;
    if utc {
        f.write_str("+00:00")?;
    }
    Ok(())
}

impl fmt::Display for Timestamp {
    /// ISO 8601 without offset (the value has no zone), e.g. `2024-01-02T03:04:05.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_timestamp(f, self.0, false)
    }
}

impl fmt::Display for TimestampTz {
    /// ISO 8601 in UTC with offset, e.g. `2024-01-02T03:04:05+00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_timestamp(f, self.0, true)
    }
}

impl fmt::Display for Interval {
    /// ISO 8601 duration as PostgreSQL's `intervalstyle = iso_8601` writes it,
    /// e.g. `P1Y2M3DT4H5M6.5S`, `PT0S`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (years, months) = (self.months / 12, self.months % 12);
        let days = self.days;
        let hours = self.micros / 3_600_000_000;
        let rem = self.micros % 3_600_000_000;
        let mins = rem / 60_000_000;
        let usecs = rem % 60_000_000;
        if years == 0 && months == 0 && days == 0 && self.micros == 0 {
            return f.write_str("PT0S");
        }
        f.write_str("P")?;
        if years != 0 {
            write!(f, "{years}Y")?;
        }
        if months != 0 {
            write!(f, "{months}M")?;
        }
        if days != 0 {
            write!(f, "{days}D")?;
        }
        if self.micros != 0 {
            f.write_str("T")?;
            if hours != 0 {
                write!(f, "{hours}H")?;
            }
            if mins != 0 {
                write!(f, "{mins}M")?;
            }
            if usecs != 0 {
                let sign = if usecs < 0 { "-" } else { "" };
                let a = usecs.unsigned_abs();
                write!(f, "{sign}{}", a / 1_000_000)?;
                let frac = a % 1_000_000;
                if frac != 0 {
                    let s = format!("{frac:06}");
                    write!(f, ".{}", s.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Uuid {
    /// Lower-case hyphenated form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Inet {
    /// PostgreSQL's text form: `/bits` omitted for a full-length `inet` host address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = if self.v6 { 128 } else { 32 };
        if self.v6 {
            write!(f, "{}", std::net::Ipv6Addr::from(self.addr))?;
        } else {
            let a = &self.addr;
            write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3])?;
        }
        if self.cidr || self.bits != full {
            write!(f, "/{}", self.bits)?;
        }
        Ok(())
    }
}
