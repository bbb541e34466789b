//! Sync-job documents: create (with the connector snapshot), get, list, delete, and the
//! `_cancel`, `_check_in`, `_claim`, `_error`, `_stats` mutations.

use super::connectors::{get_connector, page_params};
use super::indices::{self, load, save};
use super::validate::*;
use crate::dates::now_iso;
use crate::docs::write::Cond;
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use crate::store::JOBS_INDEX;
use serde_json::{json, Map, Value};

// Two wordings of a missing job in ConnectorSyncJobIndexService (x-pack/plugin/ent-search/src/
// main/java/org/elasticsearch/xpack/application/connector/syncjob/ConnectorSyncJobIndexService.java):
// a get or delete that finds nothing fails with `ResourceNotFoundException(id)`, the id alone;
// a partial update of a missing document (check-in, stats) is translated from
// DocumentMissingException into "connector sync job [id] not found".
fn get_job(app: &App, id: &str) -> Result<Map<String, Value>, EsError> {
    load(app, JOBS_INDEX, id)?
        .map(|(d, _)| d)
        .ok_or_else(|| EsError::not_found(id))
}

/// For the blind partial updates (check-in, stats).
fn get_job_to_update(app: &App, id: &str) -> Result<Map<String, Value>, EsError> {
    load(app, JOBS_INDEX, id)?
        .map(|(d, _)| d)
        .ok_or_else(|| EsError::not_found(format!("connector sync job [{id}] not found")))
}

fn commit(
    app: &App,
    id: &str,
    before: &Map<String, Value>,
    after: Map<String, Value>,
) -> Result<Resp, EsError> {
    if before == &after {
        return Ok(Resp::ok(json!({"result": "noop"})));
    }
    save(app, JOBS_INDEX, id, &after, Cond::default())?;
    Ok(Resp::ok(json!({"result": "updated"})))
}

pub fn post(app: &App, req: &Req) -> Result<Resp, EsError> {
    let b = body(req)?;
    let p = "connector_sync_job_post_request";
    strict(&b, p, &["id", "job_type", "trigger_method"])?;
    let connector_id = opt_str(&b, p, "id")?.filter(|s| !s.is_empty());
    let Some(connector_id) = connector_id else {
        return Err(EsError::validation(&[
            "[id] of the connector cannot be [null] or [\"\"].",
        ]));
    };
    let job_type = enum_str(&b, p, "job_type", JOB_TYPES)?.unwrap_or_else(|| "full".into());
    let trigger =
        enum_str(&b, p, "trigger_method", TRIGGER_METHODS)?.unwrap_or_else(|| "on_demand".into());
    let connector = get_connector(app, &connector_id, false).map_err(|_| {
        EsError::not_found(format!(
            "Connector with id '{connector_id}' does not exist."
        ))
    })?;
    let Some(index_name) = connector
        .get("index_name")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    else {
        return Err(EsError::status_exception(format!(
            "Cannot start a sync for connector [{connector_id}] with no index attached. Set the [index_name] property for the connector to enable syncing data."
        )));
    };
    if connector
        .get("service_type")
        .and_then(|v| v.as_str())
        .is_none_or(|s| s.is_empty())
    {
        return Err(EsError::status_exception(format!(
            "Cannot start a sync for connector [{connector_id}] with [service_type] not defined. Set the service type of your connector before starting the sync."
        )));
    }
    let target = if job_type == "access_control" {
        format!(".search-acl-filter-{index_name}")
    } else {
        index_name.to_string()
    };
    let mut snap = Map::new();
    snap.insert("id".into(), json!(connector_id));
    if let Some(active) = connector
        .get("filtering")
        .and_then(|f| f.get(0))
        .and_then(|f| f.get("active"))
    {
        snap.insert("filtering".into(), active.clone());
    }
    snap.insert("index_name".into(), json!(target));
    for k in ["language", "pipeline", "service_type"] {
        if let Some(v) = connector.get(k).filter(|v| !v.is_null()) {
            snap.insert(k.into(), v.clone());
        }
    }
    snap.insert(
        "configuration".into(),
        connector.get("configuration").cloned().unwrap_or(json!({})),
    );
    let now = now_iso();
    let mut job = Map::new();
    job.insert("connector".into(), Value::Object(snap));
    job.insert("created_at".into(), json!(now));
    job.insert("deleted_document_count".into(), json!(0));
    job.insert("indexed_document_count".into(), json!(0));
    job.insert("indexed_document_volume".into(), json!(0));
    job.insert("job_type".into(), json!(job_type));
    job.insert("last_seen".into(), json!(now));
    job.insert("metadata".into(), json!({}));
    job.insert("status".into(), json!("pending"));
    job.insert("total_document_count".into(), json!(0));
    job.insert("trigger_method".into(), json!(trigger));
    let id = crate::store::new_doc_id();
    save(app, JOBS_INDEX, &id, &job, Cond::default())?;
    Ok(Resp::json(201, &json!({"id": id})))
}

fn with_id(id: &str, doc: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.extend(doc);
    Value::Object(out)
}

pub fn get(app: &App, id: &str) -> Result<Resp, EsError> {
    Ok(Resp::ok(with_id(id, get_job(app, id)?)))
}

pub fn list(app: &App, req: &Req) -> Result<Resp, EsError> {
    let (from, size) = page_params(req)?;
    let connector_id = req.param("connector_id").map(str::to_string);
    let status = match req.param("status") {
        None => None,
        Some(s) if JOB_STATUSES.contains(&s) => Some(s.to_string()),
        Some(s) => {
            return Err(EsError::illegal_argument(format!(
                "Unknown ConnectorSyncStatus [{s}]."
            )))
        }
    };
    let job_types: Option<Vec<String>> = match req.param("job_type") {
        None => None,
        Some(list) => {
            let v: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(bad) = v.iter().find(|t| !JOB_TYPES.contains(&t.as_str())) {
                return Err(EsError::illegal_argument(format!(
                    "Unknown ConnectorSyncJobType [{bad}]."
                )));
            }
            Some(v)
        }
    };
    let s = |d: &Map<String, Value>, k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut rows: Vec<(String, Map<String, Value>, i64)> = Vec::new();
    if let Some(ix) = app.store.get(JOBS_INDEX) {
        let d = ix.data.read();
        for slot in &d.slots {
            if let Some(v) = &slot.visible {
                let doc: Map<String, Value> = serde_json::from_slice(&v.src).unwrap_or_default();
                rows.push((slot.id.to_string(), doc, v.seq_no));
            }
        }
    }
    rows.retain(|(_, d, _)| {
        connector_id.as_ref().is_none_or(|c| {
            d.get("connector")
                .and_then(|x| x.get("id"))
                .and_then(|v| v.as_str())
                == Some(c)
        }) && status
            .as_ref()
            .is_none_or(|st| s(d, "status").as_ref() == Some(st))
            && job_types
                .as_ref()
                .is_none_or(|t| s(d, "job_type").is_some_and(|j| t.contains(&j)))
    });
    // Newest first; jobs created within one millisecond keep their creation order.
    rows.sort_by(|a, b| {
        let ka = a.1.get("created_at").and_then(crate::dates::to_millis);
        let kb = b.1.get("created_at").and_then(crate::dates::to_millis);
        kb.cmp(&ka).then(b.2.cmp(&a.2))
    });
    let count = rows.len();
    let results: Vec<Value> = rows
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(id, d, _)| with_id(&id, d))
        .collect();
    Ok(Resp::ok(json!({"count": count, "results": results})))
}

pub fn delete(app: &App, id: &str) -> Result<Resp, EsError> {
    get_job(app, id)?;
    indices::remove(app, JOBS_INDEX, id)?;
    Ok(Resp::ok(json!({"acknowledged": true})))
}

pub fn update(app: &App, req: &Req, id: &str, action: &str) -> Result<Resp, EsError> {
    match action {
        "_cancel" => {
            let before = get_job(app, id)?;
            let status = before
                .get("status")
                .and_then(|v| v.as_str())
                .unwrap_or("pending")
                .to_string();
            let now = now_iso();
            let mut after = before.clone();
            if status == "pending" || status == "suspended" {
                after.insert("status".into(), json!("canceled"));
                after.insert("cancelation_requested_at".into(), json!(now));
                after.insert("canceled_at".into(), json!(now));
                after.insert("completed_at".into(), json!(now));
            } else if job_transition_ok(&status, "canceling") {
                after.insert("status".into(), json!("canceling"));
                after.insert("cancelation_requested_at".into(), json!(now));
            } else {
                return Err(transition_error(&status, "canceling"));
            }
            commit(app, id, &before, after)
        }
        "_check_in" => {
            let before = get_job_to_update(app, id)?;
            let mut after = before.clone();
            after.insert("last_seen".into(), json!(now_iso()));
            commit(app, id, &before, after)
        }
        "_claim" => {
            let b = body(req)?;
            let p = "connector_sync_job_claim_request";
            strict(&b, p, &["worker_hostname", "sync_cursor"])?;
            let host = opt_str(&b, p, "worker_hostname")?.ok_or_else(|| {
                EsError::validation(&[
                    "[worker_hostname] of the connector sync job cannot be [null].",
                ])
            })?;
            let cursor = match b.get("sync_cursor") {
                None | Some(Value::Null) => None,
                Some(v @ Value::Object(_)) => Some(v.clone()),
                Some(_) => return Err(bad_field(p, "sync_cursor")),
            };
            let before = get_job(app, id)?;
            let now = now_iso();
            let mut after = before.clone();
            after.insert("status".into(), json!("in_progress"));
            after.insert("worker_hostname".into(), json!(host));
            after.insert("started_at".into(), json!(now));
            after.insert("last_seen".into(), json!(now));
            if let (Some(c), Some(Value::Object(conn))) = (cursor, after.get_mut("connector")) {
                conn.insert("sync_cursor".into(), c);
            }
            commit(app, id, &before, after)
        }
        "_error" => {
            let b = body(req)?;
            let p = "connector_sync_job_error_request";
            strict(&b, p, &["error"])?;
            let err = opt_str(&b, p, "error")?.ok_or_else(|| {
                EsError::validation(&["[error] of the connector sync job cannot be [null]."])
            })?;
            let before = get_job(app, id)?;
            let status = before
                .get("status")
                .and_then(|v| v.as_str())
                .unwrap_or("pending")
                .to_string();
            if !job_transition_ok(&status, "error") {
                return Err(transition_error(&status, "error"));
            }
            let mut after = before.clone();
            after.insert("error".into(), json!(err));
            after.insert("status".into(), json!("error"));
            commit(app, id, &before, after)
        }
        "_stats" => {
            let b = body(req)?;
            let p = "connector_sync_job_update_stats_request";
            strict(
                &b,
                p,
                &[
                    "deleted_document_count",
                    "indexed_document_count",
                    "indexed_document_volume",
                    "total_document_count",
                    "last_seen",
                    "metadata",
                ],
            )?;
            let mut patch = Map::new();
            let mut missing = Vec::new();
            for k in [
                "deleted_document_count",
                "indexed_document_count",
                "indexed_document_volume",
                "total_document_count",
            ] {
                match b.get(k) {
                    None | Some(Value::Null) => {
                        if k != "total_document_count" {
                            missing.push(k);
                        }
                    }
                    Some(v) => {
                        let n = v.as_i64().ok_or_else(|| bad_field(p, k))?;
                        if n < 0 {
                            return Err(EsError::validation(&[&format!(
                                "[{k}] cannot be negative."
                            )]));
                        }
                        patch.insert(k.into(), json!(n));
                    }
                }
            }
            if !missing.is_empty() {
                return Err(required(&missing));
            }
            match opt_date(&b, p, "last_seen")? {
                Some(v) if !v.is_null() => patch.insert("last_seen".into(), v),
                _ => patch.insert("last_seen".into(), json!(now_iso())),
            };
            let before = get_job_to_update(app, id)?;
            let mut after = before.clone();
            match b.get("metadata") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    let slot = after.entry("metadata").or_insert_with(|| json!({}));
                    if !slot.is_object() {
                        *slot = json!({});
                    }
                    if let Some(o) = slot.as_object_mut() {
                        crate::docs::write::merge(o, m);
                    }
                }
                Some(_) => return Err(bad_field(p, "metadata")),
            }
            after.extend(patch);
            commit(app, id, &before, after)
        }
        _ => Ok(crate::router::no_handler(req)),
    }
}
