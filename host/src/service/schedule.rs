//! Cron scheduling of sync jobs (`docs/elastic/connector-document.md#scheduling`): Quartz expressions, seconds
//! ignored (the fastest schedule is once a minute, as in Elastic's service).

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Why an interval could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid scheduling interval {interval:?}: {reason}")]
pub struct ScheduleError {
    pub interval: String,
    pub reason: String,
}

/// The next time at or after `after` (exclusive) when `interval` fires.
pub fn next_run(
    interval: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ScheduleError> {
    let mut parts: Vec<&str> = interval.split_whitespace().collect();
    if parts.len() < 6 || parts.len() > 7 {
        return Err(ScheduleError {
            interval: interval.into(),
            reason: format!(
                "expected 6 or 7 fields (Quartz: sec min hour day month weekday [year]), got {}",
                parts.len()
            ),
        });
    }
    // Elastic's service discards the seconds field.
    parts[0] = "0";
    let expr = parts.join(" ");
    let schedule = cron::Schedule::from_str(&expr).map_err(|e| ScheduleError {
        interval: interval.into(),
        reason: e.to_string(),
    })?;
    Ok(schedule.after(&after).next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn seconds_are_ignored_and_quartz_weekdays_hold() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 7).unwrap();
        // "every 5 seconds" in Quartz is once a minute here, as in Elastic's service.
        let n = next_run("0/5 * * * * ?", t).unwrap().unwrap();
        assert_eq!(n, Utc.with_ymd_and_hms(2026, 12, 1, 10, 1, 0).unwrap());
        // Quartz day-of-week 2 is Monday; 2026-12-07 is a Monday.
        let n = next_run("0 0 12 ? * 2", t).unwrap().unwrap();
        assert_eq!(n, Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap());
        let n = next_run("0 0 0 * * ?", t).unwrap().unwrap();
        assert_eq!(n, Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap());
    }

    #[test]
    fn bad_intervals_are_named() {
        let err = next_run("every day", Utc::now()).unwrap_err();
        assert!(err.to_string().contains("every day"));
        assert!(next_run("0 0 25 * * ?", Utc::now()).is_err());
    }
}
