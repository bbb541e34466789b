//! The configuration values a sync runs with.

use serde_json::{Map, Value};

use crate::Error;

/// Configuration values (field key → value), with Elastic's coercions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    values: Map<String, Value>,
}

impl Config {
    /// Parses the JSON object the host sends. A value given in Rich Configurable
    /// Field shape (`{"value": …}`) is unwrapped.
    pub fn from_json(json: &str) -> Result<Config, Error> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Ok(Config::from_map(map)),
            Ok(_) => Err(Error::config("the configuration is not a JSON object")),
            Err(e) => Err(Error::config(format!(
                "the configuration is not valid JSON: {e}"
            ))),
        }
    }

    /// From a map of values.
    pub fn from_map(map: Map<String, Value>) -> Config {
        let values = map
            .into_iter()
            .map(|(k, v)| match v {
                Value::Object(mut o) if o.contains_key("value") => {
                    (k, o.remove("value").unwrap_or(Value::Null))
                }
                v => (k, v),
            })
            .collect();
        Config { values }
    }

    /// The raw value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// All values.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// A string value (`None` when missing, null or not a string).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    /// An integer: a JSON integer or a numeric string; `""`/null → `None`.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.values.get(key)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean: JSON boolean or `"true"`/`"false"`; `""`/null → `None`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.values.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            Value::Number(n) => n.as_i64().map(|v| v != 0),
            _ => None,
        }
    }

    /// A list: a string is split on `,`, items trimmed, empties dropped (Elastic's
    /// `list` coercion); an array keeps its non-empty items.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.values.get(key) {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .collect(),
            Some(Value::Number(n)) => vec![n.to_string()],
            _ => Vec::new(),
        }
    }
}
