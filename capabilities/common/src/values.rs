//! Connection values from a connector's configuration, read leniently the way
//! Elastic's connectors read them (trimmed text, `"true"`/`"1"` flags, a port as
//! a number or a text).

use serde_json::{Map, Value};

/// A configuration value the capability cannot use; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("configuration value '{0}' is missing")]
    Missing(String),
    #[error("configuration value 'port' is not a port number")]
    Port,
}

/// A non-empty, trimmed text value.
pub fn text<'a>(values: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    values
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// [`text`], or [`BadValue::Missing`].
pub fn required<'a>(values: &'a Map<String, Value>, key: &str) -> Result<&'a str, BadValue> {
    text(values, key).ok_or_else(|| BadValue::Missing(key.to_string()))
}

/// The `port` value; `default` when absent, null or empty.
pub fn port(values: &Map<String, Value>, default: u16) -> Result<u16, BadValue> {
    match values.get("port") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(BadValue::Port),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(default),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| BadValue::Port),
        Some(_) => Err(BadValue::Port),
    }
}

/// A toggle: `true`, or a text such as `"true"`, `"1"`, `"yes"`, `"on"`, or a
/// non-zero number.
pub fn flag(values: &Map<String, Value>, key: &str) -> bool {
    match values.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        ),
        Some(Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn ports() {
        assert_eq!(port(&map(json!({})), 5432), Ok(5432));
        assert_eq!(port(&map(json!({"port": " "})), 3306), Ok(3306));
        assert_eq!(port(&map(json!({"port": "6380"})), 6379), Ok(6380));
        assert_eq!(port(&map(json!({"port": 70000})), 1), Err(BadValue::Port));
        assert_eq!(port(&map(json!({"port": true})), 1), Err(BadValue::Port));
    }

    #[test]
    fn texts_and_flags() {
        let v = map(json!({"host": "  db ", "empty": "  ", "a": "Yes", "b": 0, "c": true}));
        assert_eq!(text(&v, "host"), Some("db"));
        assert_eq!(text(&v, "empty"), None);
        assert_eq!(
            required(&v, "user").unwrap_err().to_string(),
            "configuration value 'user' is missing"
        );
        assert!(flag(&v, "a") && !flag(&v, "b") && flag(&v, "c") && !flag(&v, "none"));
    }
}
