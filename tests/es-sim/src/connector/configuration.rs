//! `PUT _connector/{id}/_configuration`: replace the whole configuration schema, or set the
//! values of fields that already have one.

use super::connectors::{commit, get_connector};
use super::validate::*;
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use serde_json::{json, Map, Value};

const DISPLAYS: &[&str] = &["textbox", "textarea", "numeric", "toggle", "dropdown"];
const FIELD_TYPES: &[&str] = &["str", "int", "list", "bool"];
const VALIDATION_TYPES: &[&str] = &[
    "less_than",
    "greater_than",
    "list_type",
    "included_in",
    "regex",
];

/// One field's schema (ConnectorConfiguration), written back with its defaults filled.
fn config_field(v: &Value) -> Result<Value, EsError> {
    let p = "connector_configuration";
    let Value::Object(m) = v else {
        return Err(EsError::x_content(format!(
            "[{p}] Expected START_OBJECT but was: {}",
            token(v)
        )));
    };
    strict(
        m,
        p,
        &[
            "category",
            "default_value",
            "depends_on",
            "display",
            "label",
            "options",
            "order",
            "placeholder",
            "required",
            "sensitive",
            "tooltip",
            "type",
            "ui_restrictions",
            "validations",
            "value",
        ],
    )?;
    let label = opt_str(m, p, "label")?.ok_or_else(|| required(&["label"]))?;
    enum_str(m, p, "display", DISPLAYS)?;
    enum_str(m, p, "type", FIELD_TYPES)?;
    if let Some(vals) = m.get("validations") {
        let Value::Array(a) = vals else {
            return Err(bad_field(p, "validations"));
        };
        for val in a {
            let Value::Object(o) = val else {
                return Err(bad_field(p, "validations"));
            };
            strict(o, "config_validation", &["type", "constraint"])?;
            enum_str(o, "config_validation", "type", VALIDATION_TYPES)?
                .ok_or_else(|| required(&["type"]))?;
        }
    }
    for k in ["category", "placeholder", "tooltip"] {
        opt_str(m, p, k)?;
    }
    for k in ["required", "sensitive"] {
        opt_bool(m, p, k)?;
    }
    if let Some(o) = m.get("order") {
        if !o.is_null() && o.as_i64().is_none() {
            return Err(bad_field(p, "order"));
        }
    }
    if matches!(
        m.get("default_value"),
        Some(Value::Array(_) | Value::Object(_))
    ) {
        return Err(bad_field(p, "default_value"));
    }
    // Written back with default_value, label, required, sensitive and value always present.
    let mut out = Map::new();
    for k in [
        "category",
        "depends_on",
        "display",
        "options",
        "order",
        "placeholder",
        "tooltip",
        "type",
        "ui_restrictions",
        "validations",
    ] {
        if let Some(v) = m.get(k) {
            if !v.is_null() || k == "tooltip" {
                out.insert(k.into(), v.clone());
            }
        }
    }
    out.insert(
        "default_value".into(),
        m.get("default_value").cloned().unwrap_or(Value::Null),
    );
    out.insert("label".into(), json!(label));
    out.insert(
        "required".into(),
        json!(m.get("required").and_then(|v| v.as_bool()).unwrap_or(false)),
    );
    out.insert(
        "sensitive".into(),
        json!(m
            .get("sensitive")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)),
    );
    out.insert(
        "value".into(),
        m.get("value").cloned().unwrap_or(Value::Null),
    );
    Ok(Value::Object(out))
}

pub fn update(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let b = body(req)?;
    let p = "connector_update_configuration_request";
    strict(&b, p, &["configuration", "values"])?;
    let conf = b.get("configuration").filter(|v| !v.is_null());
    let values = b.get("values").filter(|v| !v.is_null());
    match (conf, values) {
        (Some(_), Some(_)) => Err(EsError::validation(&[
            "[configuration] and [values] cannot both be provided in the same request.",
        ])),
        (None, None) => Err(EsError::validation(&[
            "[configuration] and [values] cannot both be null.",
        ])),
        (Some(c), None) => {
            let Value::Object(cm) = c else {
                return Err(bad_field(p, "configuration"));
            };
            let mut schema = Map::new();
            for (k, v) in cm {
                let field = config_field(v).map_err(|e| nested(p, "configuration", e))?;
                schema.insert(k.clone(), field);
            }
            let before = get_connector(app, id, false)?;
            let mut after = before.clone();
            after.insert("configuration".into(), Value::Object(schema));
            after.insert("status".into(), json!("configured"));
            commit(app, id, &before, after)
        }
        (None, Some(v)) => {
            let Value::Object(vm) = v else {
                return Err(bad_field(p, "values"));
            };
            let before = get_connector(app, id, false)?;
            let current = before
                .get("configuration")
                .and_then(|c| c.as_object())
                .cloned()
                .unwrap_or_default();
            let unknown: Vec<&str> = vm
                .keys()
                .filter(|k| !current.contains_key(*k))
                .map(|k| k.as_str())
                .collect();
            // A 400 ElasticsearchStatusException from ConnectorIndexService#updateConnectorConfiguration
            // (x-pack/plugin/ent-search/src/main/java/org/elasticsearch/xpack/application/connector/
            // ConnectorIndexService.java), raised after the request passed validation.
            if !unknown.is_empty() {
                return Err(EsError::status_exception(format!(
                    "Unknown [configuration] fields in the request payload: [{}]. Remove them from request or register their schema first.",
                    unknown.join(", ")
                )));
            }
            let mut after = before.clone();
            if let Some(Value::Object(conf)) = after.get_mut("configuration") {
                for (k, val) in vm {
                    if let Some(Value::Object(field)) = conf.get_mut(k) {
                        field.insert("value".into(), val.clone());
                    }
                }
            }
            after.insert("status".into(), json!("configured"));
            commit(app, id, &before, after)
        }
    }
}
