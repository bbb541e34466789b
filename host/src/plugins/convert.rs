//! Conversions between WIT values and host types, validating everything the
//! plugin sends (the host trusts nothing a plugin says).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::bindings::wit_types as wit;
use super::error::ErrorKind;
use crate::document::{is_json_number, Document, Operation, Value};

/// Longest `_id` Elasticsearch accepts, in bytes.
const MAX_ID_BYTES: usize = 512;

/// What a plugin can do; mirrors `features` of Elastic's connector document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Features {
    pub incremental_sync: bool,
    pub basic_rules: bool,
    pub advanced_rules: bool,
    pub document_level_security: bool,
}

/// A plugin's metadata, read once at load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Elastic's `service_type`, unique among loaded plugins.
    pub service_type: String,
    /// Display name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    pub features: Features,
}

/// Checks and converts the plugin's metadata.
pub fn metadata(m: wit::Metadata) -> Result<Metadata, String> {
    let st = &m.service_type;
    if st.is_empty()
        || st.len() > 64
        || !st
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(format!(
            "service type {st:?} must be 1-64 characters of letters, digits, `_`, `-` or `.`"
        ));
    }
    Ok(Metadata {
        service_type: m.service_type,
        name: m.name,
        version: m.version,
        features: Features {
            incremental_sync: m.features.incremental_sync,
            basic_rules: m.features.basic_rules,
            advanced_rules: m.features.advanced_rules,
            document_level_security: m.features.document_level_security,
        },
    })
}

fn json_text(what: &str, key: &str, text: &str) -> Result<Json, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("field `{key}`: {what} is not JSON text ({e}): {text:?}"))
}

/// The configuration schema as Elastic registers it: an object keyed by field
/// name, each a Rich Configurable Field with every attribute.
pub fn schema(fields: Vec<wit::ConfigField>) -> Result<Map<String, Json>, String> {
    let mut out = Map::new();
    for f in fields {
        let key = f.key.clone();
        if key.is_empty() {
            return Err("a configuration field has an empty key".into());
        }
        let mut o = Map::new();
        o.insert("label".into(), Json::String(f.label));
        let ty = match f.field_type {
            wit::FieldType::Str => "str",
            wit::FieldType::Int => "int",
            wit::FieldType::List => "list",
            wit::FieldType::Bool => "bool",
        };
        o.insert("type".into(), ty.into());
        let display = match f.display {
            wit::Display::Text => "text",
            wit::Display::Textbox => "textbox",
            wit::Display::Textarea => "textarea",
            wit::Display::Numeric => "numeric",
            wit::Display::Toggle => "toggle",
            wit::Display::Dropdown => "dropdown",
        };
        o.insert("display".into(), display.into());
        o.insert("value".into(), json_text("value", &key, &f.value)?);
        o.insert(
            "default_value".into(),
            json_text("default_value", &key, &f.default_value)?,
        );
        o.insert("required".into(), f.required.into());
        o.insert("sensitive".into(), f.sensitive.into());
        o.insert("order".into(), f.order.into());
        let mut deps = Vec::new();
        for d in f.depends_on {
            let value = json_text("depends_on value", &key, &d.value)?;
            deps.push(serde_json::json!({ "field": d.field, "value": value }));
        }
        o.insert("depends_on".into(), Json::Array(deps));
        let mut validations = Vec::new();
        for v in f.validations {
            let constraint = json_text("validation constraint", &key, &v.constraint)?;
            validations.push(serde_json::json!({ "type": v.kind, "constraint": constraint }));
        }
        o.insert("validations".into(), Json::Array(validations));
        let mut options = Vec::new();
        for opt in f.options {
            let value = json_text("option value", &key, &opt.value)?;
            options.push(serde_json::json!({ "label": opt.label, "value": value }));
        }
        o.insert("options".into(), Json::Array(options));
        o.insert(
            "tooltip".into(),
            f.tooltip.map(Json::String).unwrap_or(Json::Null),
        );
        o.insert(
            "ui_restrictions".into(),
            Json::Array(f.ui_restrictions.into_iter().map(Json::String).collect()),
        );
        if out.insert(key.clone(), Json::Object(o)).is_some() {
            return Err(format!("configuration field `{key}` is defined twice"));
        }
    }
    Ok(out)
}

/// A configuration problem reported by `validate-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field to blame, if one is.
    pub key: Option<String>,
    pub message: String,
}

impl From<wit::FieldError> for FieldError {
    fn from(e: wit::FieldError) -> Self {
        FieldError {
            key: e.key,
            message: e.message,
        }
    }
}

/// Maps the WIT error kind.
pub fn error_kind(k: wit::ErrorKind) -> ErrorKind {
    match k {
        wit::ErrorKind::Config => ErrorKind::Config,
        wit::ErrorKind::Connection => ErrorKind::Connection,
        wit::ErrorKind::Source => ErrorKind::Source,
        wit::ErrorKind::Unsupported => ErrorKind::Unsupported,
        wit::ErrorKind::Internal => ErrorKind::Internal,
    }
}

fn value(v: wit::Value) -> Result<Value, String> {
    Ok(match v {
        wit::Value::Absent => Value::Absent,
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Integer(i) => Value::I64(i),
        wit::Value::Unsigned(u) => Value::U64(u),
        wit::Value::Float(f) => Value::F64(f),
        wit::Value::Number(n) => {
            if !is_json_number(&n) {
                return Err(format!(
                    "number value {:?} is not a JSON number",
                    preview(&n)
                ));
            }
            Value::Number(n)
        }
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::Json(j) => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&j) {
                return Err(format!(
                    "json value {:?} is not valid JSON: {e}",
                    preview(&j)
                ));
            }
            Value::Json(j)
        }
    })
}

fn preview(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Converts one batch, checking the contract: unique non-empty field names,
/// non-empty ids of at most 512 bytes, one value per field (a delete may carry
/// none), valid JSON and number texts.
pub fn batch(b: wit::Batch) -> Result<Vec<Document>, String> {
    let mut seen = HashSet::with_capacity(b.fields.len());
    for f in &b.fields {
        if f.is_empty() {
            return Err("a batch has an empty field name".into());
        }
        if !seen.insert(f.as_str()) {
            return Err(format!("a batch names field `{f}` twice"));
        }
    }
    let fields: Arc<[Arc<str>]> = b.fields.iter().map(|f| Arc::from(f.as_str())).collect();
    let mut docs = Vec::with_capacity(b.documents.len());
    for (i, d) in b.documents.into_iter().enumerate() {
        if d.id.is_empty() {
            return Err(format!("document {i} of a batch has an empty id"));
        }
        if d.id.len() > MAX_ID_BYTES {
            return Err(format!(
                "document {i} of a batch has an id of {} bytes (Elasticsearch allows {MAX_ID_BYTES})",
                d.id.len()
            ));
        }
        let operation = match d.operation {
            wit::Operation::Index => Operation::Index,
            wit::Operation::Update => Operation::Update,
            wit::Operation::Delete => Operation::Delete,
        };
        let deleting_without_values = operation == Operation::Delete && d.values.is_empty();
        if d.values.len() != fields.len() && !deleting_without_values {
            return Err(format!(
                "document `{}` has {} values for {} fields",
                d.id,
                d.values.len(),
                fields.len()
            ));
        }
        let mut values = Vec::with_capacity(d.values.len());
        for (j, v) in d.values.into_iter().enumerate() {
            values.push(
                value(v).map_err(|e| format!("document `{}`, field `{}`: {e}", d.id, fields[j]))?,
            );
        }
        docs.push(Document {
            id: d.id,
            operation,
            timestamp: d.timestamp,
            fields: fields.clone(),
            values,
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, values: Vec<wit::Value>) -> wit::Document {
        wit::Document {
            id: id.into(),
            operation: wit::Operation::Index,
            timestamp: None,
            values,
        }
    }

    fn batch_of(fields: &[&str], docs: Vec<wit::Document>) -> wit::Batch {
        wit::Batch {
            fields: fields.iter().map(|s| s.to_string()).collect(),
            documents: docs,
        }
    }

    #[test]
    fn converts_every_value_kind_and_shares_field_names() {
        let b = batch_of(
            &["a", "b", "c", "d", "e", "f", "g", "h", "i"],
            vec![
                doc(
                    "1",
                    vec![
                        wit::Value::Absent,
                        wit::Value::Null,
                        wit::Value::Boolean(true),
                        wit::Value::Integer(-5),
                        wit::Value::Unsigned(u64::MAX),
                        wit::Value::Float(1.5),
                        wit::Value::Number("123456789012345678901234567890.5".into()),
                        wit::Value::Text("x".into()),
                        wit::Value::Json("{\"k\": [1, 2]}".into()),
                    ],
                ),
                doc("2", (0..9).map(|_| wit::Value::Null).collect()),
            ],
        );
        let docs = batch(b).expect("valid batch");
        assert_eq!(docs.len(), 2);
        assert!(Arc::ptr_eq(&docs[0].fields, &docs[1].fields));
        let mut out = Vec::new();
        docs[0].write_json(&[], &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"b":null,"c":true,"d":-5,"e":18446744073709551615,"f":1.5,"g":123456789012345678901234567890.5,"h":"x","i":{"k": [1, 2]}}"#
        );
    }

    #[test]
    fn rejects_contract_violations() {
        let one = |v: wit::Value| batch(batch_of(&["a"], vec![doc("1", vec![v])]));
        assert!(one(wit::Value::Json("{not json".into()))
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(one(wit::Value::Json("1 2".into())).is_err());
        assert!(one(wit::Value::Number("NaN".into()))
            .unwrap_err()
            .contains("not a JSON number"));
        assert!(one(wit::Value::Number("1,5".into())).is_err());
        assert!(
            batch(batch_of(&["a"], vec![doc("", vec![wit::Value::Null])]))
                .unwrap_err()
                .contains("empty id")
        );
        assert!(batch(batch_of(
            &["a"],
            vec![doc(&"x".repeat(513), vec![wit::Value::Null])]
        ))
        .is_err());
        assert!(batch(batch_of(
            &["a", "b"],
            vec![doc("1", vec![wit::Value::Null])]
        ))
        .unwrap_err()
        .contains("1 values for 2 fields"));
        assert!(batch(batch_of(&["a", "a"], vec![]))
            .unwrap_err()
            .contains("twice"));
        assert!(batch(batch_of(&[""], vec![])).is_err());
    }

    #[test]
    fn a_delete_may_carry_no_values() {
        let mut d = doc("1", vec![]);
        d.operation = wit::Operation::Delete;
        let docs = batch(batch_of(&["a"], vec![d])).expect("delete without values");
        assert_eq!(docs[0].operation, Operation::Delete);
    }

    #[test]
    fn schema_is_keyed_by_field_with_every_attribute() {
        let f = wit::ConfigField {
            key: "port".into(),
            label: "Port".into(),
            field_type: wit::FieldType::Int,
            display: wit::Display::Numeric,
            value: "5432".into(),
            default_value: "null".into(),
            required: true,
            sensitive: false,
            order: 2,
            depends_on: vec![wit::Dependency {
                field: "ssl".into(),
                value: "true".into(),
            }],
            validations: vec![wit::Validation {
                kind: "less_than".into(),
                constraint: "65536".into(),
            }],
            options: vec![wit::FieldOption {
                label: "A".into(),
                value: "\"a\"".into(),
            }],
            tooltip: None,
            ui_restrictions: vec![],
        };
        let s = schema(vec![f.clone()]).expect("schema");
        assert_eq!(
            Json::Object(s),
            serde_json::json!({"port": {
                "label": "Port", "type": "int", "display": "numeric", "value": 5432,
                "default_value": null, "required": true, "sensitive": false, "order": 2,
                "depends_on": [{"field": "ssl", "value": true}],
                "validations": [{"type": "less_than", "constraint": 65536}],
                "options": [{"label": "A", "value": "a"}],
                "tooltip": null, "ui_restrictions": []
            }})
        );
        let mut bad = f.clone();
        bad.value = "not json".into();
        assert!(schema(vec![bad]).unwrap_err().contains("`port`"));
        assert!(schema(vec![f.clone(), f]).unwrap_err().contains("twice"));
    }
}
