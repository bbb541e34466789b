//! Connector filtering: the default, `PUT _connector/{id}/_filtering` (the whole list, or the
//! draft's rules and advanced snippet), `_filtering/_validation` and `_filtering/_activate`.
//!
//! Bodies are read the way Elasticsearch's nested parsers read them: the request parser is
//! strict, the filtering objects inside it ignore unknown fields, a missing required field is an
//! `IllegalArgumentException` and an error inside a nested object comes back wrapped as
//! `[outer] failed to parse field [field]` with the inner error as `caused_by`. Parser names and
//! fields are those of x-pack/plugin/ent-search/src/main/java/org/elasticsearch/xpack/application/
//! connector/filtering/*.java and connector/action/UpdateConnectorFiltering*Action.java.

use super::connectors::{commit, get_blind, get_connector};
use super::validate::{bad_field, enum_str, nested as wrap, required, strict, token, unsupported};
use crate::dates::now_iso;
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use serde_json::{json, Map, Value};

const POLICIES: &[&str] = &["include", "exclude"];
const CONDITIONS: &[&str] = &[
    "contains",
    "ends_with",
    "equals",
    "regex",
    "starts_with",
    ">",
    "<",
];
const VALIDATION_STATES: &[&str] = &["edited", "invalid", "valid"];

pub fn default_filtering(now: &str) -> Value {
    let rules = json!({
        "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
        "rules": [default_rule(now, 0)],
        "validation": {"state": "valid", "errors": []}
    });
    json!([{"domain": "DEFAULT", "active": rules, "draft": rules}])
}

fn default_rule(created: &str, order: i64) -> Value {
    json!({"created_at": created, "field": "_", "id": "DEFAULT", "order": order, "policy": "include",
           "rule": "regex", "updated_at": created, "value": ".*"})
}

fn object<'a>(parser: &str, v: &'a Value) -> Result<&'a Map<String, Value>, EsError> {
    v.as_object().ok_or_else(|| {
        EsError::x_content(format!(
            "[{parser}] Expected START_OBJECT but was: {}",
            token(v)
        ))
    })
}

/// A timestamp field (a string in a date format); absent means now, as the builders default it.
fn timestamp(o: &Map<String, Value>, p: &str, k: &str, now: &str) -> Result<Value, EsError> {
    match o.get(k) {
        None => Ok(json!(now)),
        Some(Value::String(s)) if crate::dates::parse_date(s).is_some() => Ok(json!(s)),
        Some(Value::String(_)) => Err(bad_field(p, k)),
        Some(v) => Err(unsupported(p, k, v)),
    }
}

/// FilteringAdvancedSnippet: `value` must be an object or an array.
fn snippet(v: &Value, now: &str) -> Result<Value, EsError> {
    let p = "connector_filtering_advanced_snippet";
    let o = object(p, v)?;
    let created = timestamp(o, p, "created_at", now)?;
    let updated = timestamp(o, p, "updated_at", now)?;
    let value = match o.get("value") {
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.clone(),
        Some(v) => return Err(unsupported(p, "value", v)),
        None => return Err(required(&["value"])),
    };
    Ok(json!({"created_at": created, "updated_at": updated, "value": value}))
}

/// FilteringRule, written back in Elasticsearch's field order with its timestamps filled.
fn rule(v: &Value, now: &str) -> Result<Value, EsError> {
    let p = "connector_filtering_rule";
    let o = object(p, v)?;
    let string = |k: &str| match o.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(unsupported(p, k, v)),
    };
    let created = timestamp(o, p, "created_at", now)?;
    let field = string("field")?;
    let id = string("id")?;
    let order = match o.get("order") {
        None => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| bad_field(p, "order"))?),
        Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| bad_field(p, "order"))?),
        Some(v) => return Err(unsupported(p, "order", v)),
    };
    for k in ["policy", "rule"] {
        if let Some(v @ Value::Null) = o.get(k) {
            return Err(unsupported(p, k, v));
        }
    }
    let policy = enum_str(o, p, "policy", POLICIES)?;
    let condition = enum_str(o, p, "rule", CONDITIONS)?;
    let updated = timestamp(o, p, "updated_at", now)?;
    let value = string("value")?;
    let (Some(field), Some(id), Some(order), Some(policy), Some(condition), Some(value)) =
        (&field, &id, order, &policy, &condition, &value)
    else {
        let missing: Vec<&str> = [
            ("field", field.is_none()),
            ("id", id.is_none()),
            ("order", order.is_none()),
            ("policy", policy.is_none()),
            ("rule", condition.is_none()),
            ("value", value.is_none()),
        ]
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(k, _)| k)
        .collect();
        return Err(required(&missing));
    };
    Ok(
        json!({"created_at": created, "field": field, "id": id, "order": order, "policy": policy,
              "rule": condition, "updated_at": updated, "value": value}),
    )
}

/// An object array field; ObjectParser also takes a single object for it.
fn rules(outer: &str, v: &Value, now: &str) -> Result<Vec<Value>, EsError> {
    let items = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return Err(unsupported(outer, "rules", v)),
    };
    items
        .into_iter()
        .map(|r| rule(r, now))
        .collect::<Result<_, _>>()
        .map_err(|e| wrap(outer, "rules", e))
}

/// FilteringValidationInfo: `errors` and `state` are both required.
fn validation_info(v: &Value) -> Result<Value, EsError> {
    let p = "filtering_validation_info";
    let o = object(p, v)?;
    let errors = match o.get("errors") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(validation_error)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| wrap(p, "errors", e))?,
        ),
        Some(v) => return Err(unsupported(p, "errors", v)),
    };
    if let Some(v @ Value::Null) = o.get("state") {
        return Err(unsupported(p, "state", v));
    }
    let state = enum_str(o, p, "state", VALIDATION_STATES)?;
    match (errors, state) {
        (Some(errors), Some(state)) => Ok(json!({"errors": errors, "state": state})),
        (errors, state) => {
            let mut missing = vec![];
            if errors.is_none() {
                missing.push("errors");
            }
            if state.is_none() {
                missing.push("state");
            }
            Err(required(&missing))
        }
    }
}

/// FilteringValidation: string arrays `ids` and `messages`.
fn validation_error(v: &Value) -> Result<Value, EsError> {
    let p = "connector_filtering_validation";
    let o = object(p, v)?;
    let mut out = Map::new();
    for k in ["ids", "messages"] {
        match o.get(k) {
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                out.insert(k.into(), Value::Array(a.clone()));
            }
            Some(v @ Value::String(_)) => {
                out.insert(k.into(), json!([v]));
            }
            Some(v) => return Err(unsupported(p, k, v)),
            None => {}
        }
    }
    if out.len() < 2 {
        let missing: Vec<&str> = ["ids", "messages"]
            .into_iter()
            .filter(|k| !out.contains_key(*k))
            .collect();
        return Err(required(&missing));
    }
    Ok(Value::Object(out))
}

/// FilteringRules (`active` / `draft` of the whole-list form): all three parts required.
fn filtering_rules(v: &Value, now: &str) -> Result<Value, EsError> {
    let p = "connector_filtering_rules";
    let o = object(p, v)?;
    let snip = match o.get("advanced_snippet") {
        None => None,
        Some(s @ Value::Object(_)) => {
            Some(snippet(s, now).map_err(|e| wrap(p, "advanced_snippet", e))?)
        }
        Some(s) => return Err(unsupported(p, "advanced_snippet", s)),
    };
    let rs = o.get("rules").map(|r| rules(p, r, now)).transpose()?;
    let val = match o.get("validation") {
        None => None,
        Some(s @ Value::Object(_)) => {
            Some(validation_info(s).map_err(|e| wrap(p, "validation", e))?)
        }
        Some(s) => return Err(unsupported(p, "validation", s)),
    };
    match (snip, rs, val) {
        (Some(s), Some(r), Some(v)) => {
            Ok(json!({"advanced_snippet": s, "rules": r, "validation": v}))
        }
        (s, r, v) => {
            let missing: Vec<&str> = [
                ("advanced_snippet", s.is_none()),
                ("rules", r.is_none()),
                ("validation", v.is_none()),
            ]
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(k, _)| k)
            .collect();
            Err(required(&missing))
        }
    }
}

/// ConnectorFiltering: `active` and `draft` required; the domain is always written as DEFAULT.
fn connector_filtering(v: &Value, now: &str) -> Result<Value, EsError> {
    let p = "connector_filtering";
    let o = object(p, v)?;
    let mut parts = Map::new();
    for k in ["active", "draft"] {
        match o.get(k) {
            None => {}
            Some(r @ Value::Object(_)) => {
                parts.insert(
                    k.into(),
                    filtering_rules(r, now).map_err(|e| wrap(p, k, e))?,
                );
            }
            Some(r) => return Err(unsupported(p, k, r)),
        }
    }
    match (parts.remove("active"), parts.remove("draft")) {
        (Some(active), Some(draft)) => {
            Ok(json!({"active": active, "domain": "DEFAULT", "draft": draft}))
        }
        (a, d) => {
            let missing: Vec<&str> = [("active", a.is_none()), ("draft", d.is_none())]
                .into_iter()
                .filter(|(_, m)| *m)
                .map(|(k, _)| k)
                .collect();
            Err(required(&missing))
        }
    }
}

/// Non-default rules by order, then the default rule one past the last (it keeps the
/// creation time of a default rule sent along); ConnectorFiltering.sortFilteringRulesByOrder.
fn sort_rules(rules: Vec<Value>, now: &str) -> Vec<Value> {
    let is_default = |r: &Value| {
        r["field"] == "_"
            && r["id"] == "DEFAULT"
            && r["policy"] == "include"
            && r["rule"] == "regex"
            && r["value"] == ".*"
    };
    let created = rules
        .iter()
        .find(|r| is_default(r))
        .and_then(|r| r["created_at"].as_str())
        .unwrap_or(now)
        .to_string();
    let mut out: Vec<Value> = rules.into_iter().filter(|r| !is_default(r)).collect();
    out.sort_by_key(|r| r["order"].as_i64().unwrap_or(0));
    let next = out
        .last()
        .and_then(|r| r["order"].as_i64())
        .map_or(0, |o| o + 1);
    out.push(default_rule(&created, next));
    out
}

pub fn update(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let p = "connector_update_filtering_request";
    let b = super::validate::body(req)?;
    strict(&b, p, &["filtering", "rules", "advanced_snippet"])?;
    let now = now_iso();
    let full = match b.get("filtering") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|f| connector_filtering(f, &now))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| wrap(p, "filtering", e))?,
        ),
        Some(v @ Value::Object(_)) => Some(vec![
            connector_filtering(v, &now).map_err(|e| wrap(p, "filtering", e))?
        ]),
        Some(v) => return Err(unsupported(p, "filtering", v)),
    };
    let snip = match b.get("advanced_snippet") {
        None => None,
        Some(v @ Value::Object(_)) => {
            Some(snippet(v, &now).map_err(|e| wrap(p, "advanced_snippet", e))?)
        }
        Some(v) => return Err(unsupported(p, "advanced_snippet", v)),
    };
    let draft_rules = b.get("rules").map(|r| rules(p, r, &now)).transpose()?;

    // UpdateConnectorFilteringAction.Request#validate
    match (&full, &snip, &draft_rules) {
        (Some(_), None, None) | (None, Some(_), _) | (None, _, Some(_)) => {}
        (Some(_), _, _) => {
            return Err(EsError::validation(&[
                "If [filtering] is specified, [rules] and [advanced_snippet] should not be present in the request body.",
            ]))
        }
        (None, None, None) => {
            return Err(EsError::validation(&[
                "[advanced_snippet] and [rules] cannot be both [null].",
            ]))
        }
    }
    if let Some(list) = full {
        let before = get_blind(app, id)?;
        let mut after = before.clone();
        after.insert("filtering".into(), Value::Array(list));
        return commit(app, id, &before, after);
    }

    let before = get_connector(app, id, false)?;
    let mut after = before.clone();
    let fl = after
        .entry("filtering")
        .or_insert_with(|| default_filtering(&now));
    let Some(first) = fl
        .as_array_mut()
        .and_then(|a| a.first_mut())
        .and_then(|f| f.as_object_mut())
    else {
        return Err(EsError::status_exception(format!(
            "Filtering of connector [{id}] is empty"
        )));
    };
    let draft = first.entry("draft").or_insert_with(|| json!({}));
    let Some(d) = draft.as_object_mut() else {
        return Err(EsError::status_exception("malformed draft filtering"));
    };
    if let Some(rs) = draft_rules {
        d.insert("rules".into(), Value::Array(sort_rules(rs, &now)));
    }
    if let Some(s) = snip {
        d.insert("advanced_snippet".into(), s);
    }
    d.insert(
        "validation".into(),
        json!({"state": "edited", "errors": []}),
    );
    commit(app, id, &before, after)
}

pub fn validation(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let p = "connector_update_filtering_validation";
    let b = super::validate::body(req)?;
    strict(&b, p, &["validation"])?;
    let info = match b.get("validation") {
        None => return Err(required(&["validation"])),
        Some(v @ Value::Object(_)) => validation_info(v).map_err(|e| wrap(p, "validation", e))?,
        Some(v) => return Err(unsupported(p, "validation", v)),
    };
    let before = get_connector(app, id, false)?;
    let mut after = before.clone();
    if let Some(Value::Object(d)) = after
        .get_mut("filtering")
        .and_then(|f| f.as_array_mut())
        .and_then(|a| a.first_mut())
        .and_then(|f| f.get_mut("draft"))
    {
        d.insert("validation".into(), info);
    }
    commit(app, id, &before, after)
}

pub fn activate(app: &App, id: &str) -> Result<Resp, EsError> {
    let before = get_connector(app, id, false)?;
    let mut after = before.clone();
    let Some(first) = after
        .get_mut("filtering")
        .and_then(|f| f.as_array_mut())
        .and_then(|a| a.first_mut())
    else {
        return Err(EsError::status_exception(format!(
            "Filtering of connector [{id}] is empty"
        )));
    };
    let draft = first.get("draft").cloned().unwrap_or(json!({}));
    let state = draft
        .get("validation")
        .and_then(|v| v.get("state"))
        .and_then(|s| s.as_str())
        .unwrap_or("edited");
    if state != "valid" {
        return Err(EsError::status_exception(format!(
            "Filtering draft needs to be validated by the connector service before activation. Current filtering draft validation state [{state}] is not equal to [valid]."
        )));
    }
    if let Some(o) = first.as_object_mut() {
        o.insert("active".into(), draft);
    }
    commit(app, id, &before, after)
}
