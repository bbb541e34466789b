//! Bad configurations to feed `validate-config`: for each field in effect (its
//! `depends_on` holds under the given values), an empty value when it is
//! required and a non-number when it is an `int`. A conforming plugin answers
//! each with an error whose `key` names that field, so Kibana can show it there.

use serde_json::{Map, Value};

/// One bad configuration and the field it must be blamed on.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The field whose value was spoiled.
    pub field: String,
    /// What was done to it, e.g. `empty` or `"not-a-number"`.
    pub what: &'static str,
    /// The whole configuration with that one value spoiled.
    pub values: Map<String, Value>,
}

/// Equality of a configured value and a `depends_on` value, tolerant of
/// `"true"` vs `true` and `"5"` vs `5` (as Elastic's and the SDK's validation).
fn loosely_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_ascii_lowercase(),
        v => v.to_string(),
    };
    a == b || text(a) == text(b)
}

/// The value a field has under `values` (its schema `value` when not given).
fn value_of<'a>(
    key: &str,
    schema: &'a Map<String, Value>,
    values: &'a Map<String, Value>,
) -> &'a Value {
    values
        .get(key)
        .or_else(|| schema.get(key).and_then(|f| f.get("value")))
        .unwrap_or(&Value::Null)
}

/// Whether every `depends_on` of `field` holds under `values`.
pub fn in_effect(field: &Value, schema: &Map<String, Value>, values: &Map<String, Value>) -> bool {
    field
        .get("depends_on")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|d| {
            let target = d.get("field").and_then(Value::as_str).unwrap_or_default();
            let want = d.get("value").unwrap_or(&Value::Null);
            loosely_equal(value_of(target, schema, values), want)
        })
}

/// Every probe for this schema and these (valid) values, in schema order.
pub fn probes(schema: &Map<String, Value>, values: &Map<String, Value>) -> Vec<Probe> {
    let mut out = Vec::new();
    let mut fields: Vec<(&String, &Value)> = schema.iter().collect();
    fields.sort_by_key(|(_, f)| f.get("order").and_then(Value::as_u64).unwrap_or(u64::MAX));
    for (key, f) in fields {
        if !in_effect(f, schema, values) {
            continue;
        }
        let mut spoil = |what: &'static str, v: Value| {
            let mut values = values.clone();
            values.insert(key.clone(), v);
            out.push(Probe {
                field: key.clone(),
                what,
                values,
            });
        };
        if f.get("required").and_then(Value::as_bool).unwrap_or(true) {
            spoil("empty", Value::String(String::new()));
        }
        if f.get("type").and_then(Value::as_str) == Some("int") {
            spoil("\"not-a-number\"", Value::String("not-a-number".into()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_and_int_fields_in_effect_are_probed() {
        let schema = json!({
            "host": {"type": "str", "required": true, "order": 1, "value": ""},
            "port": {"type": "int", "required": true, "order": 2, "value": ""},
            "ssl": {"type": "bool", "required": true, "order": 3, "value": false},
            "ca": {"type": "str", "required": true, "order": 4, "value": "",
                   "depends_on": [{"field": "ssl", "value": true}]},
            "size": {"type": "int", "required": false, "order": 5, "value": ""}
        });
        let schema = schema.as_object().expect("object");
        let values = json!({"host": "h", "port": 1, "ssl": "false"});
        let values = values.as_object().expect("object");
        let got: Vec<(String, &str)> = probes(schema, values)
            .into_iter()
            .map(|p| (p.field, p.what))
            .collect();
        let want = [
            ("host", "empty"),
            ("port", "empty"),
            ("port", "\"not-a-number\""),
            ("ssl", "empty"),
            ("size", "\"not-a-number\""),
        ];
        assert_eq!(
            got,
            want.map(|(f, w)| (f.to_string(), w)).to_vec(),
            "`ca` is not in effect while ssl is false"
        );
        let mut on = values.clone();
        on.insert("ssl".into(), json!(true));
        assert!(probes(schema, &on).iter().any(|p| p.field == "ca"));
    }
}
