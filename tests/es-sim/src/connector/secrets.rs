//! `/_connector/_secret`: post, put, get, delete. Elasticsearch keeps secrets in the system
//! index `.connector-secrets`; es-sim keeps them in memory only.
//!
//! The two write endpoints have different request parsers and messages in Elasticsearch
//! (x-pack/plugin/ent-search/src/main/java/org/elasticsearch/xpack/application/connector/secrets/
//! action/PostConnectorSecretRequest.java and PutConnectorSecretRequest.java).

use super::validate::{body, required, strict, unsupported};
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use hyper::Method;
use serde_json::{json, Map, Value};

/// `value` as a string field: absent is `None`, another type (null included) is refused.
fn value(b: &Map<String, Value>, parser: &str) -> Result<Option<String>, EsError> {
    match b.get("value") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(unsupported(parser, "value", v)),
    }
}

pub fn post(app: &App, req: &Req) -> Result<Resp, EsError> {
    let p = "post_secret_request";
    let b = body(req)?;
    strict(&b, p, &["value"])?;
    let v = value(&b, p)?.filter(|v| !v.is_empty()).ok_or_else(|| {
        EsError::validation(&["[value] of the connector secret cannot be [null] or [\"\"]"])
    })?;
    let id = crate::store::new_doc_id();
    app.secrets.write().insert(id.clone(), v);
    Ok(Resp::ok(json!({ "id": id })))
}

fn put(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let p = "connector_secret_put_request";
    let b = body(req)?;
    strict(&b, p, &["value"])?;
    let v = value(&b, p)?.ok_or_else(|| required(&["value"]))?;
    if v.is_empty() {
        return Err(EsError::validation(&["[value] cannot be [null] or [\"\"]"]));
    }
    let old = app.secrets.write().insert(id.to_string(), v);
    let result = if old.is_some() { "updated" } else { "created" };
    Ok(Resp::ok(json!({ "result": result })))
}

pub fn by_id(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let missing = || EsError::not_found(format!("No secret with id [{id}]"));
    match req.method {
        Method::GET => {
            let s = app.secrets.read();
            let v = s.get(id).ok_or_else(missing)?;
            Ok(Resp::ok(json!({"id": id, "value": v})))
        }
        Method::PUT => put(app, req, id),
        Method::DELETE => {
            app.secrets.write().remove(id).ok_or_else(missing)?;
            Ok(Resp::ok(json!({"deleted": true})))
        }
        _ => Ok(crate::router::no_handler(req)),
    }
}
