//! Turning a connector's stored configuration (a map of Rich Configurable Fields)
//! into the plain values a plugin receives, as Elastic's framework does
//! (`docs/elastic/connector-document.md#value-coercion`: coercion by declared type, `default_value` for empty optional
//! fields, the plugin's own default for keys missing from the stored document).

use serde_json::{Map, Value};

/// Whether a value counts as empty (Elastic's `is_value_empty`).
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items
            .iter()
            .all(|i| i.is_null() || i.as_str().is_some_and(str::is_empty)),
        _ => false,
    }
}

/// Coerces a stored value to the field's declared type. Unlike Elastic we do not
/// use host-language truthiness for booleans: the string "false" stays false.
fn coerce(kind: &str, v: &Value) -> Value {
    match (kind, v) {
        ("int", Value::String(s)) if s.trim().is_empty() => Value::Null,
        ("int", Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        ("int", Value::Number(n)) if n.is_f64() => n
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| Value::from(f as i64))
            .unwrap_or_else(|| v.clone()),
        ("bool", Value::String(s)) if s.is_empty() => Value::Null,
        ("bool", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Value::Bool(true),
            "false" | "no" | "0" | "off" => Value::Bool(false),
            _ => v.clone(),
        },
        // Lists stay as the user wrote them (Elastic splits "a,b" itself when reading;
        // plugins such as PostgreSQL accept both forms).
        _ => v.clone(),
    }
}

/// The values a plugin receives: `{key: effective value}` for every stored field,
/// plus the plugin's defaults for declared fields the document lacks.
pub fn effective_values(
    stored: &Map<String, Value>,
    schema: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, field) in stored {
        let declared = schema.get(key);
        let kind = declared
            .and_then(|d| d.get("type"))
            .or_else(|| field.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("str");
        let raw = match field {
            // Either an RCF object or (tolerated) a bare value.
            Value::Object(f) => f.get("value").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let required = field
            .get("required")
            .and_then(Value::as_bool)
            .or_else(|| {
                declared
                    .and_then(|d| d.get("required"))
                    .and_then(Value::as_bool)
            })
            .unwrap_or(true);
        let value = if !required && is_empty(&raw) {
            field
                .get("default_value")
                .filter(|d| !d.is_null())
                .or_else(|| declared.and_then(|d| d.get("default_value")))
                .cloned()
                .unwrap_or(raw)
        } else {
            raw
        };
        out.insert(key.clone(), coerce(kind, &value));
    }
    for (key, declared) in schema {
        if !out.contains_key(key) {
            let kind = declared
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("str");
            let v = declared.get("value").cloned().unwrap_or(Value::Null);
            out.insert(key.clone(), coerce(kind, &v));
        }
    }
    out
}

/// The keys the stored configuration marks `sensitive` (whatever the plugin's
/// schema says: the connector document is what Kibana and the user see).
pub fn sensitive_keys(stored: &Map<String, Value>) -> Vec<String> {
    stored
        .iter()
        .filter(|(_, f)| f.get("sensitive").and_then(Value::as_bool) == Some(true))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The keys the plugin declares that the stored configuration lacks (Elastic:
/// "Connector has missing configuration fields: …").
pub fn missing_fields(stored: &Map<String, Value>, schema: &Map<String, Value>) -> Vec<String> {
    schema
        .keys()
        .filter(|k| !stored.contains_key(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn applies_defaults_and_coercion() {
        let schema = obj(json!({
            "port": {"type": "int", "value": "", "required": true},
            "fetch_size": {"type": "int", "value": "", "required": false, "default_value": 50},
            "ssl_enabled": {"type": "bool", "value": false},
            "schema": {"type": "str", "value": "public"}
        }));
        let stored = obj(json!({
            "port": {"type": "int", "value": "5432", "required": true},
            "fetch_size": {"type": "int", "value": "", "required": false, "default_value": 50},
            "ssl_enabled": {"type": "bool", "value": "false"}
        }));
        let v = effective_values(&stored, &schema);
        assert_eq!(v["port"], json!(5432));
        assert_eq!(v["fetch_size"], json!(50));
        assert_eq!(v["ssl_enabled"], json!(false));
        assert_eq!(
            v["schema"],
            json!("public"),
            "declared field missing from the doc takes the plugin default"
        );
        assert_eq!(missing_fields(&stored, &schema), vec!["schema".to_string()]);
    }

    #[test]
    fn emptiness_rules() {
        assert!(is_empty(&json!("")));
        assert!(is_empty(&json!(null)));
        assert!(is_empty(&json!(["", null])));
        assert!(!is_empty(&json!(0)));
        assert!(!is_empty(&json!(false)));
        assert!(!is_empty(&json!(["a"])));
    }
}
