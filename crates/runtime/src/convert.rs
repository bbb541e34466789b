//! Conversions between WIT values and host types, validating everything the
//! plugin sends (the host trusts nothing a plugin says).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::bindings::wit_types as wit;
use super::error::ErrorKind;
use tributary_sync::document::field_name::{self, is_unprintable};
use tributary_sync::document::{is_json_number, json_text, timestamp, Document, Operation, Value};

/// Longest id accepted from a plugin, in bytes. Ids over Elasticsearch's 512 bytes
/// are replaced by their MD5 digest when indexed, as Elastic's service does.
const MAX_ID_BYTES: usize = 32 * 1024;
/// Longest display name and version a plugin may declare.
const MAX_NAME_CHARS: usize = 128;
const MAX_VERSION_CHARS: usize = 64;

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
    let name = &m.name;
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(is_unprintable)
    {
        return Err(format!(
            "name {name:?} must be 1-{MAX_NAME_CHARS} printable characters"
        ));
    }
    let v = &m.version;
    if v.is_empty()
        || v.len() > MAX_VERSION_CHARS
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    {
        return Err(format!(
            "version {v:?} must be 1-{MAX_VERSION_CHARS} characters of letters, digits, `.`, `-` or `+` (semver)"
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

impl FieldError {
    /// The error with the job's secrets masked.
    pub fn masked(self, secrets: &super::secrets::Secrets) -> Self {
        FieldError {
            key: self.key,
            message: secrets.mask_owned(self.message),
        }
    }
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

/// A plugin value as the host writes it, checked ([`checked_value`]).
pub(crate) fn value(v: wit::Value) -> Result<Value, String> {
    checked_value(match v {
        wit::Value::Absent => Value::Absent,
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Integer(i) => Value::I64(i),
        wit::Value::Unsigned(u) => Value::U64(u),
        wit::Value::Float(f) => Value::F64(f),
        wit::Value::Number(n) => Value::Number(n),
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::Json(j) => Value::Json(j),
    })
}

/// A value as it may be written: numbers must be JSON numbers, and JSON texts
/// are re-encoded, never copied (the result is one JSON value on one line).
pub(crate) fn checked_value(v: Value) -> Result<Value, String> {
    Ok(match v {
        Value::Number(n) => {
            if !is_json_number(&n) {
                return Err(format!(
                    "number value {:?} is not a JSON number",
                    preview(&n)
                ));
            }
            Value::Number(n)
        }
        Value::Json(j) => match json_text::compact(&j) {
            Ok(compact) => Value::Json(compact),
            Err(e) => {
                return Err(format!(
                    "json value {:?} is not exactly one JSON value: {e}",
                    preview(&j)
                ))
            }
        },
        v => v,
    })
}

fn preview(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Name of the field that carries Elastic's document timestamp.
const TIMESTAMP_FIELD: &str = "_timestamp";

/// Converts one batch, checking the contract: unique field names that
/// Elasticsearch and the host allow in a document ([`field_name::check`]), non-empty
/// ids, ISO-8601 timestamps, one value per field (a delete may carry none), valid
/// numbers, and JSON texts re-encoded compactly. Nothing the plugin sends reaches
/// the output unchecked or unescaped.
pub fn batch(b: wit::Batch) -> Result<Vec<Document>, String> {
    let fields = checked_fields(&b.fields)?;
    let timestamp_field = timestamp_field(&fields);
    let mut docs = Vec::with_capacity(b.documents.len());
    for (i, d) in b.documents.into_iter().enumerate() {
        check_id(i, &d.id)?;
        check_timestamp(&d.id, d.timestamp.as_deref())?;
        let operation = operation(d.operation);
        let deleting_without_values = operation == Operation::Delete && d.values.is_empty();
        if d.values.len() != fields.len() && !deleting_without_values {
            return Err(format!(
                "document `{}` has {} values for {} fields",
                d.id,
                d.values.len(),
                fields.len()
            ));
        }
        // Collected in place: the lifted vector's buffer is reused (same layout),
        // one allocation and one free fewer per document.
        let id = &d.id;
        let values = d
            .values
            .into_iter()
            .enumerate()
            .map(|(j, v)| {
                value(v).map_err(|e| {
                    format!(
                        "document `{}`, field `{}`: {e}",
                        id.escape_debug(),
                        fields[j]
                    )
                })
            })
            .collect::<Result<Vec<Value>, String>>()?;
        let timestamp = timestamp_from_field(&d.id, timestamp_field, &values, d.timestamp)?;
        docs.push(Document {
            id: d.id,
            operation,
            timestamp,
            fields: fields.clone(),
            values,
        });
    }
    Ok(docs)
}

/// Field names a document may carry ([`field_name::check`]), each once, shared by
/// every document of a batch.
pub(crate) fn checked_fields(names: &[String]) -> Result<Arc<[Arc<str>]>, String> {
    let mut seen = HashSet::with_capacity(names.len());
    for f in names {
        if let Err(e) = field_name::check(f) {
            return Err(format!("field name {:?} {e}", preview(f)));
        }
        if !seen.insert(f.as_str()) {
            return Err(format!("a batch names field `{f}` twice"));
        }
    }
    Ok(names.iter().map(|f| Arc::from(f.as_str())).collect())
}

/// Where the `_timestamp` field is, if a batch has one.
pub(crate) fn timestamp_field(fields: &[Arc<str>]) -> Option<usize> {
    fields.iter().position(|f| &**f == TIMESTAMP_FIELD)
}

/// A document id: not empty, not absurdly long.
pub(crate) fn check_id(i: usize, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("document {i} of a batch has an empty id"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "document {i} of a batch has an id of {} bytes (at most {MAX_ID_BYTES})",
            id.len()
        ));
    }
    Ok(())
}

/// A document's `_timestamp`, when given, is an ISO-8601 date-time.
pub(crate) fn check_timestamp(id: &str, ts: Option<&str>) -> Result<(), String> {
    match ts {
        Some(ts) if !timestamp::is_iso8601(ts) => Err(format!(
            "document `{}`: timestamp {:?} is not an ISO-8601 date-time",
            id.escape_debug(),
            preview(ts)
        )),
        _ => Ok(()),
    }
}

/// A `_timestamp` field keeps Elastic's meaning: the document's timestamp.
pub(crate) fn timestamp_from_field(
    id: &str,
    field: Option<usize>,
    values: &[Value],
    mut timestamp: Option<String>,
) -> Result<Option<String>, String> {
    if let Some(v) = field.and_then(|i| values.get(i)) {
        match v {
            Value::Absent | Value::Null => {}
            Value::Text(t) if timestamp::is_iso8601(t) => {
                timestamp.get_or_insert_with(|| t.clone());
            }
            _ => {
                return Err(format!(
                    "document `{}`, field `{TIMESTAMP_FIELD}`: must be an ISO-8601 date-time text",
                    id.escape_debug()
                ))
            }
        }
    }
    Ok(timestamp)
}

/// The host's operation for a WIT one.
pub(crate) fn operation(o: wit::Operation) -> Operation {
    match o {
        wit::Operation::Index => Operation::Index,
        wit::Operation::Update => Operation::Update,
        wit::Operation::Delete => Operation::Delete,
    }
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
            r#"{"b":null,"c":true,"d":-5,"e":18446744073709551615,"f":1.5,"g":123456789012345678901234567890.5,"h":"x","i":{"k":[1,2]}}"#
        );
    }

    #[test]
    fn rejects_contract_violations() {
        let one = |v: wit::Value| batch(batch_of(&["a"], vec![doc("1", vec![v])]));
        assert!(one(wit::Value::Json("{not json".into()))
            .unwrap_err()
            .contains("not exactly one JSON value"));
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
            vec![doc(&"x".repeat(MAX_ID_BYTES + 1), vec![wit::Value::Null])]
        ))
        .is_err());
        // Longer than Elasticsearch's 512 bytes is fine: the sync hashes it, as Elastic does.
        assert!(batch(batch_of(
            &["a"],
            vec![doc(&"x".repeat(513), vec![wit::Value::Null])]
        ))
        .is_ok());
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
    fn json_values_are_re_encoded_on_one_line() {
        let one = |v: &str| {
            batch(batch_of(
                &["j"],
                vec![doc("1", vec![wit::Value::Json(v.into())])],
            ))
        };
        let docs = one("{\"a\":\n 1,\r\n \"b\": [true]}").expect("pretty JSON is fine");
        assert_eq!(
            docs[0].values[0],
            Value::Json(r#"{"a":1,"b":[true]}"#.into())
        );
        // A second value on the next line would be an extra bulk action line.
        let smuggled = "{\"a\":1}\n{\"delete\":{\"_index\":\"victim\",\"_id\":\"1\"}}";
        let e = one(smuggled).unwrap_err();
        assert!(
            e.contains("document `1`, field `j`") && e.contains("trailing data"),
            "{e}"
        );
    }

    #[test]
    fn reserved_and_unprintable_field_names_are_refused() {
        for bad in [
            "_id",
            "_index",
            "_source",
            "_routing",
            "_tributary_sync_id",
            "a\nb",
            "_id.x",
        ] {
            let e = batch(batch_of(&[bad], vec![])).unwrap_err();
            assert!(e.starts_with("field name"), "{bad:?}: {e}");
        }
        assert!(batch(batch_of(&["_timestamp", "_attachment"], vec![])).is_ok());
    }

    #[test]
    fn timestamps_must_be_iso8601() {
        let mut d = doc("1", vec![wit::Value::Null]);
        d.timestamp = Some("yesterday\n{}".into());
        let e = batch(batch_of(&["a"], vec![d.clone()])).unwrap_err();
        assert!(e.contains("not an ISO-8601"), "{e}");
        d.timestamp = Some("2024-05-01T10:00:00Z".into());
        assert!(batch(batch_of(&["a"], vec![d])).is_ok());
        // A `_timestamp` field becomes the document's timestamp.
        let docs = batch(batch_of(
            &["_timestamp"],
            vec![doc(
                "1",
                vec![wit::Value::Text("2024-05-01 10:00:00+02".into())],
            )],
        ))
        .unwrap();
        assert_eq!(docs[0].timestamp.as_deref(), Some("2024-05-01 10:00:00+02"));
        assert!(batch(batch_of(
            &["_timestamp"],
            vec![doc("1", vec![wit::Value::Integer(5)])]
        ))
        .is_err());
    }

    #[test]
    fn metadata_strings_are_checked() {
        let m = |name: &str, version: &str| {
            metadata(wit::Metadata {
                service_type: "x".into(),
                name: name.into(),
                version: version.into(),
                features: wit::Features {
                    incremental_sync: false,
                    basic_rules: true,
                    advanced_rules: false,
                    document_level_security: false,
                },
            })
        };
        assert!(m("PostgreSQL", "0.1.0-rc.1+build5").is_ok());
        assert!(m("forged\nrow", "1.0.0").is_err());
        assert!(m("x", "1.0.0 \u{1b}[31m").is_err());
        assert!(m("", "1.0.0").is_err());
    }

    #[test]
    fn lifted_values_convert_in_place() {
        // `batch` collects the lifted vector into document values in place, which
        // the standard library does only when both element types have one layout.
        assert_eq!(
            std::mem::size_of::<wit::Value>(),
            std::mem::size_of::<Value>()
        );
        assert_eq!(
            std::mem::align_of::<wit::Value>(),
            std::mem::align_of::<Value>()
        );
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
