//! Typed reading of one YAML value: coercion (strings from `${VAR}` become numbers or
//! booleans) and range checks, each failure naming the key and what was wrong.

use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use super::model::{LogFormat, LogLevel};
use super::ConfigError;

/// Where a value came from: its dotted key path and the config's name.
pub(crate) struct At<'a> {
    pub key: &'a str,
    pub source: &'a str,
}

impl At<'_> {
    pub fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.source.to_owned(),
            key: self.key.to_owned(),
            message: message.into(),
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

pub(crate) fn string(v: &Value, at: &At) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        // Unquoted scalars such as `api_key: 12345` or `service_type: true` are text too.
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(at.err(format!("expected a string, got {}", describe(other)))),
    }
}

pub(crate) fn non_empty_string(v: &Value, at: &At) -> Result<String, ConfigError> {
    let s = string(v, at)?;
    if s.trim().is_empty() {
        return Err(at.err("must not be empty"));
    }
    Ok(s)
}

pub(crate) fn boolean(v: &Value, at: &At) -> Result<bool, ConfigError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(at.err(format!("expected true or false, got {s:?}"))),
        },
        other => Err(at.err(format!("expected true or false, got {}", describe(other)))),
    }
}

pub(crate) fn number(v: &Value, at: &At) -> Result<f64, ConfigError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(at.err(format!("expected a number, got {}", describe(v)))),
    }
}

/// A non-negative integer no smaller than `min`.
pub(crate) fn integer(v: &Value, at: &At, min: u64) -> Result<u64, ConfigError> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            // `10.0` is accepted; `10.5` is not.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= min => Ok(n),
        Some(n) => Err(at.err(format!("must be at least {min}, got {n}"))),
        None if matches!(v, Value::Number(n) if n.as_i64().is_some_and(|i| i < 0)) => {
            Err(at.err(format!("must be at least {min}, got {}", describe(v))))
        }
        None => Err(at.err(format!("expected a whole number, got {}", describe(v)))),
    }
}

pub(crate) fn integer_u32(v: &Value, at: &At, min: u32) -> Result<u32, ConfigError> {
    let n = integer(v, at, u64::from(min))?;
    u32::try_from(n).map_err(|_| at.err(format!("must be at most {}, got {n}", u32::MAX)))
}

/// Seconds (fractions allowed) as a duration; `allow_zero` for delays that may be 0.
pub(crate) fn seconds(v: &Value, at: &At, allow_zero: bool) -> Result<Duration, ConfigError> {
    let n = number(v, at)?;
    if n < 0.0 || (!allow_zero && n == 0.0) {
        let bound = if allow_zero {
            "0 or more"
        } else {
            "more than 0"
        };
        return Err(at.err(format!("must be {bound} seconds, got {n}")));
    }
    // One year is far beyond any sensible interval; also keeps from_secs_f64 in range.
    if n > 31_536_000.0 {
        return Err(at.err(format!("{n} seconds is more than a year")));
    }
    Ok(Duration::from_secs_f64(n))
}

pub(crate) fn ratio(v: &Value, at: &At) -> Result<f64, ConfigError> {
    let n = number(v, at)?;
    if !(0.0..=1.0).contains(&n) {
        return Err(at.err(format!("must be between 0 and 1, got {n}")));
    }
    Ok(n)
}

pub(crate) fn path(v: &Value, at: &At) -> Result<PathBuf, ConfigError> {
    Ok(PathBuf::from(non_empty_string(v, at)?))
}

pub(crate) fn string_list(v: &Value, at: &At) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = format!("{}[{i}]", at.key);
                non_empty_string(
                    item,
                    &At {
                        key: &key,
                        source: at.source,
                    },
                )
            })
            .collect(),
        // elastic-ingest accepts comma-separated strings for lists (from env vars).
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        other => Err(at.err(format!("expected a list, got {}", describe(other)))),
    }
}

/// `host:port` to listen on; `off`, `false` or an empty string → `None`.
pub(crate) fn socket_addr(v: &Value, at: &At) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    if matches!(v, Value::Bool(false)) {
        return Ok(None);
    }
    let s = string(v, at)?;
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("false") {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| {
        at.err(format!(
            "expected an address to listen on such as 127.0.0.1:9464 or [::1]:9464 (an IP address and a port), got {t:?}"
        ))
    })
}

/// `text` or `json`.
pub(crate) fn log_format(v: &Value, at: &At) -> Result<LogFormat, ConfigError> {
    let s = string(v, at)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "text" | "plain" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(at.err(format!("expected `text` or `json`, got {other:?}"))),
    }
}

pub(crate) fn log_level(v: &Value, at: &At) -> Result<LogLevel, ConfigError> {
    let s = string(v, at)?;
    LogLevel::parse(&s).ok_or_else(|| {
        at.err(format!(
            "unknown log level {s:?} (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)"
        ))
    })
}

/// `http(s)://host[:port][/path]`.
pub(crate) fn url(v: &Value, at: &At) -> Result<String, ConfigError> {
    let s = non_empty_string(v, at)?;
    let parsed =
        url::Url::parse(s.trim()).map_err(|e| at.err(format!("{s:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(at.err(format!("{s:?} must start with http:// or https://")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(at.err(format!("{s:?} has no host")));
    }
    Ok(s.trim().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At<'static> {
        At {
            key: "a.b",
            source: "t.yml",
        }
    }

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn coercions() {
        assert!(boolean(&y("\"TRUE\""), &at()).unwrap());
        assert!(!boolean(&y("no"), &at()).unwrap());
        assert_eq!(integer(&y("\"42\""), &at(), 0).unwrap(), 42);
        assert_eq!(integer(&y("10.0"), &at(), 0).unwrap(), 10);
        assert_eq!(
            seconds(&y("1.5"), &at(), false).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(string(&y("12345"), &at()).unwrap(), "12345");
        assert_eq!(
            string_list(&y("\"a, b,,c\""), &at()).unwrap(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn errors_name_key_and_problem() {
        let e = integer(&y("-3"), &at(), 1).unwrap_err().to_string();
        assert!(e.contains("`a.b`") && e.contains("at least 1"), "{e}");
        let e = integer(&y("2.5"), &at(), 0).unwrap_err().to_string();
        assert!(e.contains("whole number"), "{e}");
        let e = seconds(&y("0"), &at(), false).unwrap_err().to_string();
        assert!(e.contains("more than 0"), "{e}");
        assert!(seconds(&y("0"), &at(), true).is_ok());
        let e = boolean(&y("maybe"), &at()).unwrap_err().to_string();
        assert!(e.contains("true or false"), "{e}");
        let e = ratio(&y("1.5"), &at()).unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = string_list(&y("[a, '']"), &at()).unwrap_err().to_string();
        assert!(e.contains("a.b[1]"), "{e}");
    }

    #[test]
    fn urls() {
        assert_eq!(url(&y("http://x:9200/"), &at()).unwrap(), "http://x:9200");
        assert!(url(&y("localhost:9200"), &at()).is_err());
        assert!(url(&y("ftp://x"), &at()).is_err());
    }

    #[test]
    fn log_levels() {
        assert_eq!(log_level(&y("WARNING"), &at()).unwrap(), LogLevel::Warn);
        assert_eq!(log_level(&y("critical"), &at()).unwrap(), LogLevel::Error);
        assert!(log_level(&y("LOUD"), &at()).is_err());
    }
}
