//! The Connector API (`/_connector`, `/_connector/_sync_job`, `/_connector/_secret`) over the
//! documents of the connector system indices.

pub mod connectors;
pub mod indices;
pub mod sync_jobs;
pub mod validate;

use crate::http::{EsError, Req, Resp};
use crate::router::App;
use hyper::Method;
use serde_json::json;

fn empty_id(which: &str) -> EsError {
    EsError::validation(&[&format!("[{which}] cannot be [null] or [\"\"].")])
}

pub fn route(app: &App, req: &Req, segs: &[&str]) -> Result<Resp, EsError> {
    let m = &req.method;
    match segs {
        [] if m == Method::PUT || m == Method::POST => connectors::create(app, req, None),
        [] if m == Method::GET => connectors::list(app, req),
        ["_sync_job"] if m == Method::POST => sync_jobs::post(app, req),
        ["_sync_job"] if m == Method::GET => sync_jobs::list(app, req),
        ["_sync_job", "", ..] => Err(empty_id("connector_sync_job_id")),
        ["_sync_job", id] if m == Method::GET => sync_jobs::get(app, id),
        ["_sync_job", id] if m == Method::DELETE => sync_jobs::delete(app, id),
        ["_sync_job", id, action] if m == Method::PUT => sync_jobs::update(app, req, id, action),
        ["_secret"] if m == Method::POST => secret_post(app, req),
        ["_secret", id] => secret(app, req, id),
        ["", ..] => Err(empty_id("connector_id")),
        [id] if m == Method::PUT => connectors::create(app, req, Some(id)),
        [id] if m == Method::GET => connectors::get(app, req, id),
        [id] if m == Method::DELETE => connectors::delete(app, req, id),
        [id, "_filtering", "_validation"] if m == Method::PUT => {
            connectors::filtering_validation(app, req, id)
        }
        [id, "_filtering", "_activate"] if m == Method::PUT => {
            connectors::filtering_activate(app, id)
        }
        [id, action] if m == Method::PUT && action.starts_with('_') => {
            connectors::update(app, req, id, action)
        }
        _ => Ok(crate::router::no_handler(req)),
    }
}

// Secrets live in `.connector-secrets` in Elasticsearch; es-sim keeps them in memory only.
fn secret_value(req: &Req) -> Result<String, EsError> {
    let b = validate::body(req)?;
    validate::strict(&b, "connector_secret_request", &["value"])?;
    validate::opt_str(&b, "connector_secret_request", "value")?.ok_or_else(|| {
        EsError::validation(&["[value] of the connector secret cannot be [null] or [\"\"]"])
    })
}

fn secret_post(app: &App, req: &Req) -> Result<Resp, EsError> {
    let v = secret_value(req)?;
    let id = crate::store::new_doc_id();
    app.secrets.write().insert(id.clone(), v);
    Ok(Resp::ok(json!({"id": id})))
}

fn secret(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let missing = || EsError::not_found(format!("No secret with id [{id}]"));
    match req.method {
        Method::GET => {
            let s = app.secrets.read();
            let v = s.get(id).ok_or_else(missing)?;
            Ok(Resp::ok(json!({"id": id, "value": v})))
        }
        Method::PUT => {
            let v = secret_value(req)?;
            let old = app.secrets.write().insert(id.to_string(), v);
            Ok(Resp::ok(
                json!({"result": if old.is_some() { "updated" } else { "created" }}),
            ))
        }
        Method::DELETE => {
            app.secrets.write().remove(id).ok_or_else(missing)?;
            Ok(Resp::ok(json!({"deleted": true})))
        }
        _ => Ok(crate::router::no_handler(req)),
    }
}
