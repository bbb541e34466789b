//! The Connector API (`/_connector`, `/_connector/_sync_job`, `/_connector/_secret`) over the
//! documents of the connector system indices.

pub mod configuration;
pub mod connectors;
pub mod filtering;
pub mod indices;
pub mod secrets;
pub mod sync_jobs;
pub mod validate;

use crate::http::{EsError, Req, Resp};
use crate::router::App;
use hyper::Method;

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
        ["_secret"] if m == Method::POST => secrets::post(app, req),
        ["_secret", id] => secrets::by_id(app, req, id),
        ["", ..] => Err(empty_id("connector_id")),
        [id] if m == Method::PUT => connectors::create(app, req, Some(id)),
        [id] if m == Method::GET => connectors::get(app, req, id),
        [id] if m == Method::DELETE => connectors::delete(app, req, id),
        [id, "_filtering", "_validation"] if m == Method::PUT => {
            filtering::validation(app, req, id)
        }
        [id, "_filtering", "_activate"] if m == Method::PUT => filtering::activate(app, id),
        [id, action] if m == Method::PUT && action.starts_with('_') => {
            connectors::update(app, req, id, action)
        }
        _ => Ok(crate::router::no_handler(req)),
    }
}
