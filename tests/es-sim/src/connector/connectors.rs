//! Connector documents: create, get, list, delete (soft in 9.x), and every `PUT _connector/{id}/_*`
//! update endpoint with its validation.

use super::indices::{self, load, save};
use super::validate::*;
use crate::dates::now_iso;
use crate::docs::write::Cond;
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use crate::store::{validate_index_name, CONNECTORS_INDEX, JOBS_INDEX};
use serde_json::{json, Map, Value};

pub fn not_found(id: &str) -> EsError {
    EsError::not_found(format!("connector [{id}] not found"))
}

fn doc_missing(app: &App, id: &str) -> EsError {
    let uuid = app
        .store
        .get(CONNECTORS_INDEX)
        .map(|ix| ix.data.read().uuid.clone())
        .unwrap_or_default();
    EsError::new(
        404,
        "document_missing_exception",
        format!("[{id}]: document missing"),
    )
    .with("index_uuid", uuid)
    .with("shard", "0")
    .with("index", CONNECTORS_INDEX)
}

fn is_deleted(doc: &Map<String, Value>) -> bool {
    doc.get("deleted") == Some(&Value::Bool(true))
}

/// Loads a connector the way the API's `getConnector` does (soft-deleted ones are missing).
pub fn get_connector(
    app: &App,
    id: &str,
    include_deleted: bool,
) -> Result<Map<String, Value>, EsError> {
    match load(app, CONNECTORS_INDEX, id)? {
        Some((doc, _)) if include_deleted || !is_deleted(&doc) => Ok(doc),
        _ => Err(not_found(id)),
    }
}

/// For endpoints that do a blind partial update (no load): any existing document qualifies.
pub(super) fn get_blind(app: &App, id: &str) -> Result<Map<String, Value>, EsError> {
    match load(app, CONNECTORS_INDEX, id)? {
        Some((doc, _)) => Ok(doc),
        None => Err(doc_missing(app, id)),
    }
}

pub(super) fn commit(
    app: &App,
    id: &str,
    before: &Map<String, Value>,
    after: Map<String, Value>,
) -> Result<Resp, EsError> {
    if before == &after {
        return Ok(Resp::ok(json!({"result": "noop"})));
    }
    save(app, CONNECTORS_INDEX, id, &after, Cond::default())?;
    Ok(Resp::ok(json!({"result": "updated"})))
}

fn check_index_name_free(app: &App, index_name: &str, own_id: Option<&str>) -> Result<(), EsError> {
    for (id, doc) in indices::all(app, CONNECTORS_INDEX) {
        if Some(id.as_str()) == own_id || is_deleted(&doc) {
            continue;
        }
        if doc.get("index_name").and_then(|v| v.as_str()) == Some(index_name) {
            return Err(EsError::status_exception(format!(
                "Index name [{index_name}] is used by another connector."
            )));
        }
    }
    Ok(())
}

fn check_index_name(name: &str) -> Result<(), EsError> {
    validate_index_name(name).map_err(|e| EsError::validation(&[&e.reason]))
}

// The three refusals of a non-`content-` index for an Elastic-managed connector, each worded as
// in Elasticsearch: ConnectorActionRequest#validateManagedConnectorIndexPrefix (create) and
// ConnectorIndexService#updateConnectorIndexName / #updateConnectorNative (x-pack/plugin/
// ent-search/src/main/java/org/elasticsearch/xpack/application/connector/).
const MANAGED_PREFIX: &str = "content-";

fn check_native_prefix(is_native: bool, index_name: Option<&str>) -> Result<(), EsError> {
    match index_name {
        Some(ix) if is_native && !ix.starts_with(MANAGED_PREFIX) => Err(EsError::validation(&[&format!(
            "Index [{ix}] is invalid. Index attached to an Elastic-managed connector must start with the prefix: [{MANAGED_PREFIX}]"
        )])),
        _ => Ok(()),
    }
}

fn check_native_index_update(is_native: bool, ix: &str) -> Result<(), EsError> {
    if is_native && !ix.starts_with(MANAGED_PREFIX) {
        return Err(EsError::status_exception(format!(
            "Index attached to an Elastic-managed connector must start with the prefix: [{MANAGED_PREFIX}]. The index name in the payload [{ix}] doesn't comply with this requirement."
        )));
    }
    Ok(())
}

fn check_native_switch(id: &str, is_native: bool, ix: Option<&str>) -> Result<(), EsError> {
    match ix {
        Some(ix) if is_native && !ix.starts_with(MANAGED_PREFIX) => Err(EsError::status_exception(format!(
            "The index name [{ix}] attached to the connector [{id}] must start with the required prefix: [{MANAGED_PREFIX}] to be Elastic-managed. Please update the attached index first to comply with this requirement."
        ))),
        _ => Ok(()),
    }
}

/// `PUT /_connector/{id}`, `PUT /_connector`, `POST /_connector`.
pub fn create(app: &App, req: &Req, id: Option<&str>) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let p = "connector_put_request";
    strict(
        &body,
        p,
        &[
            "description",
            "index_name",
            "is_native",
            "language",
            "name",
            "service_type",
        ],
    )?;
    let description = opt_str(&body, p, "description")?;
    let index_name = opt_str(&body, p, "index_name")?;
    let is_native = opt_bool(&body, p, "is_native")?.unwrap_or(false);
    let language = opt_str(&body, p, "language")?;
    let name = opt_str(&body, p, "name")?;
    let service_type = opt_str(&body, p, "service_type")?;
    if let Some(ix) = &index_name {
        check_index_name(ix)?;
        check_native_prefix(is_native, Some(ix))?;
        check_index_name_free(app, ix, id)?;
    }
    let now = now_iso();
    let mut doc = Map::new();
    doc.insert("configuration".into(), json!({}));
    doc.insert("custom_scheduling".into(), json!({}));
    if let Some(d) = description {
        doc.insert("description".into(), json!(d));
    }
    doc.insert(
        "filtering".into(),
        super::filtering::default_filtering(&now),
    );
    if let Some(ix) = index_name {
        doc.insert("index_name".into(), json!(ix));
    }
    doc.insert("is_native".into(), json!(is_native));
    if let Some(l) = language {
        doc.insert("language".into(), json!(l));
    }
    doc.insert("name".into(), json!(name.unwrap_or_default()));
    let sched = json!({"enabled": false, "interval": "0 0 0 * * ?"});
    doc.insert(
        "scheduling".into(),
        json!({"access_control": sched, "full": sched, "incremental": sched}),
    );
    if let Some(s) = service_type {
        doc.insert("service_type".into(), json!(s));
    }
    doc.insert(
        "status".into(),
        json!(if is_native {
            "needs_configuration"
        } else {
            "created"
        }),
    );
    doc.insert("sync_now".into(), json!(false));
    if app.major() >= 9 {
        doc.insert("deleted".into(), json!(false));
    }
    let id = match id {
        Some(id) => id.to_string(),
        None => crate::store::new_doc_id(),
    };
    let existed = load(app, CONNECTORS_INDEX, &id)?.is_some();
    save(app, CONNECTORS_INDEX, &id, &doc, Cond::default())?;
    let (status, result) = if existed {
        (200, "updated")
    } else {
        (201, "created")
    };
    Ok(Resp::json(status, &json!({"result": result, "id": id})))
}

fn with_id(id: &str, doc: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for (k, v) in doc {
        out.insert(k, v);
    }
    Value::Object(out)
}

pub fn get(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let include_deleted = req.flag("include_deleted", false)?;
    let doc = get_connector(app, id, include_deleted)?;
    Ok(Resp::ok(with_id(id, doc)))
}

pub fn page_params(req: &Req) -> Result<(usize, usize), EsError> {
    let from = req.param_usize("from")?.unwrap_or(0);
    let size = req.param_usize("size")?.unwrap_or(100);
    if from < 0 {
        return Err(EsError::illegal_argument("Parameter [from] cannot be < 0"));
    }
    if size < 0 {
        return Err(EsError::illegal_argument("Parameter [size] cannot be < 0"));
    }
    if from + size > 10_000 {
        return Err(EsError::illegal_argument(
            "The sum of parameters [from] and [size] cannot be higher than 10000.",
        ));
    }
    Ok((from as usize, size as usize))
}

fn list_param(req: &Req, k: &str) -> Option<Vec<String>> {
    req.param(k).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

pub fn list(app: &App, req: &Req) -> Result<Resp, EsError> {
    let (from, size) = page_params(req)?;
    let include_deleted = req.flag("include_deleted", false)?;
    let index_names = list_param(req, "index_name");
    if let Some(names) = &index_names {
        for n in names {
            check_index_name(n)?;
        }
    }
    let names = list_param(req, "connector_name");
    let types = list_param(req, "service_type");
    let q = req.param("query").map(str::to_string);
    let field =
        |d: &Map<String, Value>, k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut rows: Vec<(String, Map<String, Value>)> = indices::all(app, CONNECTORS_INDEX)
        .into_iter()
        .filter(|(_, d)| include_deleted || !is_deleted(d))
        .filter(|(_, d)| {
            index_names
                .as_ref()
                .is_none_or(|l| field(d, "index_name").is_some_and(|v| l.contains(&v)))
        })
        .filter(|(_, d)| {
            names
                .as_ref()
                .is_none_or(|l| field(d, "name").is_some_and(|v| l.contains(&v)))
        })
        .filter(|(_, d)| {
            types
                .as_ref()
                .is_none_or(|l| field(d, "service_type").is_some_and(|v| l.contains(&v)))
        })
        .filter(|(_, d)| {
            q.as_ref().is_none_or(|q| {
                field(d, "index_name").is_some_and(|v| v.contains(q.as_str()))
                    || field(d, "name").is_some_and(|v| v.contains(q.as_str()))
                    || field(d, "description")
                        .is_some_and(|v| v.to_lowercase().contains(&q.to_lowercase()))
            })
        })
        .collect();
    // Sorted by index_name ascending; connectors without one come last.
    rows.sort_by(
        |a, b| match (field(&a.1, "index_name"), field(&b.1, "index_name")) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
    );
    let count = rows.len();
    let results: Vec<Value> = rows
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(id, d)| with_id(&id, d))
        .collect();
    Ok(Resp::ok(json!({"count": count, "results": results})))
}

pub fn delete(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let delete_jobs = req.flag("delete_sync_jobs", false)?;
    let hard = req.flag("hard", false)? || app.major() < 9;
    // A hard delete removes the document whatever its `deleted` flag, so a soft-deleted
    // connector can still be purged (ConnectorIndexService#deleteConnector deletes by id).
    let mut doc = get_connector(app, id, hard)?;
    if hard {
        indices::remove(app, CONNECTORS_INDEX, id)?;
    } else {
        doc.insert("deleted".into(), json!(true));
        save(app, CONNECTORS_INDEX, id, &doc, Cond::default())?;
    }
    if delete_jobs {
        for (job_id, job) in indices::all(app, JOBS_INDEX) {
            if job
                .get("connector")
                .and_then(|c| c.get("id"))
                .and_then(|v| v.as_str())
                == Some(id)
            {
                indices::remove(app, JOBS_INDEX, &job_id)?;
            }
        }
    }
    Ok(Resp::ok(json!({"acknowledged": true})))
}

// ----------------------------------------------------------------------------------- updates

pub fn update(app: &App, req: &Req, id: &str, action: &str) -> Result<Resp, EsError> {
    match action {
        "_check_in" => {
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            after.insert("last_seen".into(), json!(now_iso()));
            commit(app, id, &before, after)
        }
        "_api_key_id" => {
            let b = body(req)?;
            let p = "connector_update_api_key_id_request";
            strict(&b, p, &["api_key_id", "api_key_secret_id"])?;
            let key = opt_str(&b, p, "api_key_id")?;
            let secret = opt_str(&b, p, "api_key_secret_id")?;
            if key.is_none() && secret.is_none() {
                return Err(EsError::validation(&[
                    "[api_key_id] and [api_key_secret_id] cannot both be [null]. Please provide a value for at least one of them.",
                ]));
            }
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            if let Some(k) = key {
                after.insert("api_key_id".into(), json!(k));
            }
            if let Some(s) = secret {
                after.insert("api_key_secret_id".into(), json!(s));
            }
            commit(app, id, &before, after)
        }
        "_configuration" => super::configuration::update(app, req, id),
        "_error" => {
            let b = body(req)?;
            let p = "connector_update_error_request";
            strict(&b, p, &["error"])?;
            if !b.contains_key("error") {
                return Err(required(&["error"]));
            }
            let err = opt_str(&b, p, "error")?.filter(|e| !e.is_empty());
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            match err {
                Some(e) => {
                    after.insert("error".into(), json!(e));
                    after.insert("status".into(), json!("error"));
                }
                None => {
                    after.insert("error".into(), Value::Null);
                    after.insert("status".into(), json!("connected"));
                }
            }
            commit(app, id, &before, after)
        }
        "_features" => features(app, req, id),
        "_filtering" => super::filtering::update(app, req, id),
        "_index_name" => {
            let b = body(req)?;
            let p = "connector_update_index_name_request";
            strict(&b, p, &["index_name"])?;
            if !b.contains_key("index_name") {
                return Err(required(&["index_name"]));
            }
            let ix = opt_str(&b, p, "index_name")?;
            // Elasticsearch's order: request validation, the name in use, the connector, its prefix.
            if let Some(ix) = &ix {
                check_index_name(ix)?;
                check_index_name_free(app, ix, Some(id))?;
            }
            let before = get_connector(app, id, false)?;
            if let Some(ix) = &ix {
                check_native_index_update(before.get("is_native") == Some(&json!(true)), ix)?;
            }
            let mut after = before.clone();
            match ix {
                Some(ix) => after.insert("index_name".into(), json!(ix)),
                None => after.insert("index_name".into(), Value::Null),
            };
            if before.get("index_name").unwrap_or(&Value::Null)
                == after.get("index_name").unwrap_or(&Value::Null)
            {
                return Ok(Resp::ok(json!({"result": "noop"})));
            }
            commit(app, id, &before, after)
        }
        "_name" => {
            let b = body(req)?;
            let p = "connector_update_name_request";
            strict(&b, p, &["name", "description"])?;
            let name = opt_str(&b, p, "name")?;
            let description = opt_str(&b, p, "description")?;
            if name.is_none() && description.is_none() {
                return Err(EsError::validation(&[
                    "[name] and [description] cannot both be [null]",
                ]));
            }
            if description
                .as_ref()
                .is_some_and(|d| d.chars().count() > 8192)
            {
                return Err(EsError::validation(&[
                    "[description] cannot be longer than [8192] characters",
                ]));
            }
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            if let Some(n) = name {
                after.insert("name".into(), json!(n));
            }
            if let Some(d) = description {
                after.insert("description".into(), json!(d));
            }
            commit(app, id, &before, after)
        }
        "_native" => {
            let b = body(req)?;
            let p = "connector_update_native_request";
            strict(&b, p, &["is_native"])?;
            let native = req_bool(&b, p, "is_native")?;
            let before = get_connector(app, id, false)?;
            check_native_switch(
                id,
                native,
                before.get("index_name").and_then(|v| v.as_str()),
            )?;
            let mut after = before.clone();
            after.insert("is_native".into(), json!(native));
            // Newest behaviour: only a connected connector falls back to configured.
            if before.get("status").and_then(|v| v.as_str()) == Some("connected") {
                after.insert("status".into(), json!("configured"));
            }
            commit(app, id, &before, after)
        }
        "_pipeline" => {
            let b = body(req)?;
            let p = "connector_update_pipeline_request";
            strict(&b, p, &["pipeline"])?;
            let pl = match b.get("pipeline") {
                Some(Value::Object(pl)) => pl,
                Some(v) => return Err(unsupported(p, "pipeline", v)),
                None => return Err(required(&["pipeline"])),
            };
            // ConnectorIngestPipeline: lenient, all four fields required (x-pack/plugin/ent-search/
            // src/main/java/org/elasticsearch/xpack/application/connector/ConnectorIngestPipeline.java).
            let pipeline = || -> Result<Value, EsError> {
                let pp = "connector_ingest_pipeline";
                let fields = [
                    "extract_binary_content",
                    "name",
                    "reduce_whitespace",
                    "run_ml_inference",
                ];
                let mut out = Map::new();
                for (k, v) in pl.iter().filter(|(k, _)| fields.contains(&k.as_str())) {
                    let parsed = if k == "name" {
                        opt_str(pl, pp, k)?.map(Value::String)
                    } else {
                        opt_bool(pl, pp, k)?.map(Value::Bool)
                    };
                    out.insert(k.clone(), parsed.ok_or_else(|| unsupported(pp, k, v))?);
                }
                let missing: Vec<&str> = fields
                    .into_iter()
                    .filter(|k| !out.contains_key(*k))
                    .collect();
                if !missing.is_empty() {
                    return Err(required(&missing));
                }
                Ok(
                    json!({"extract_binary_content": out["extract_binary_content"], "name": out["name"],
                          "reduce_whitespace": out["reduce_whitespace"], "run_ml_inference": out["run_ml_inference"]}),
                )
            };
            let pipeline = pipeline().map_err(|e| nested(p, "pipeline", e))?;
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            after.insert("pipeline".into(), pipeline);
            commit(app, id, &before, after)
        }
        "_scheduling" => {
            let b = body(req)?;
            let p = "connector_update_scheduling_request";
            strict(&b, p, &["scheduling"])?;
            let s = match b.get("scheduling") {
                Some(Value::Object(s)) => s,
                Some(v) => return Err(unsupported(p, "scheduling", v)),
                None => return Err(required(&["scheduling"])),
            };
            let sp = "connector_scheduling";
            strict(s, sp, &["access_control", "full", "incremental"])
                .map_err(|e| nested(p, "scheduling", e))?;
            if s.is_empty() {
                return Err(EsError::validation(&["[scheduling] must contain at least one of [access_control], [full], [incremental]"]));
            }
            let schedule = |v: &Value| -> Result<Value, EsError> {
                let ip = "schedule_config";
                let Value::Object(o) = v else {
                    return Err(EsError::x_content(format!(
                        "[{ip}] Expected START_OBJECT but was: {}",
                        token(v)
                    )));
                };
                strict(o, ip, &["enabled", "interval"])?;
                let enabled = req_bool(o, ip, "enabled")?;
                let interval =
                    opt_str(o, ip, "interval")?.ok_or_else(|| required(&["interval"]))?;
                if !valid_cron(&interval) {
                    return Err(nested(
                        ip,
                        "interval",
                        EsError::illegal_argument(format!("invalid cron expression [{interval}]")),
                    ));
                }
                Ok(json!({"enabled": enabled, "interval": interval}))
            };
            let mut parsed = Map::new();
            for (k, v) in s {
                let one = schedule(v).map_err(|e| nested(p, "scheduling", nested(sp, k, e)))?;
                parsed.insert(k.clone(), one);
            }
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            let sched = after.entry("scheduling").or_insert_with(|| json!({}));
            if let Some(o) = sched.as_object_mut() {
                for (k, v) in parsed {
                    o.insert(k, v);
                }
            }
            commit(app, id, &before, after)
        }
        "_service_type" => {
            let b = body(req)?;
            let p = "connector_update_service_type_request";
            strict(&b, p, &["service_type"])?;
            let st = opt_str(&b, p, "service_type")?.ok_or_else(|| required(&["service_type"]))?;
            let before = get_connector(app, id, false)?;
            let mut after = before.clone();
            after.insert("service_type".into(), json!(st));
            if before.get("status").and_then(|v| v.as_str()) != Some("created") {
                after.insert("status".into(), json!("needs_configuration"));
            }
            commit(app, id, &before, after)
        }
        "_status" => {
            let b = body(req)?;
            let p = "connector_update_status_request";
            strict(&b, p, &["status"])?;
            let to = enum_str(&b, p, "status", CONNECTOR_STATUSES)?
                .ok_or_else(|| required(&["status"]))?;
            let before = get_connector(app, id, false)?;
            let from = before
                .get("status")
                .and_then(|v| v.as_str())
                .unwrap_or("created")
                .to_string();
            if !connector_transition_ok(&from, &to) {
                return Err(transition_error(&from, &to));
            }
            let mut after = before.clone();
            after.insert("status".into(), json!(to));
            commit(app, id, &before, after)
        }
        "_last_sync" => last_sync(app, req, id),
        _ => Ok(crate::router::no_handler(req)),
    }
}

fn last_sync(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let b = body(req)?;
    let p = "connector_update_last_sync_stats_request";
    let dates = [
        "last_access_control_sync_scheduled_at",
        "last_incremental_sync_scheduled_at",
        "last_seen",
        "last_sync_scheduled_at",
        "last_synced",
    ];
    let strings = ["last_access_control_sync_error", "last_sync_error"];
    let statuses = ["last_access_control_sync_status", "last_sync_status"];
    let counts = ["last_deleted_document_count", "last_indexed_document_count"];
    let mut allowed: Vec<&str> = vec!["sync_cursor"];
    allowed.extend(dates);
    allowed.extend(strings);
    allowed.extend(statuses);
    allowed.extend(counts);
    strict(&b, p, &allowed)?;
    let mut patch = Map::new();
    for k in dates {
        if let Some(v) = opt_date(&b, p, k)? {
            patch.insert(k.into(), v);
        }
    }
    for k in strings {
        if b.contains_key(k) {
            patch.insert(
                k.into(),
                opt_str(&b, p, k)?.map(Value::String).unwrap_or(Value::Null),
            );
        }
    }
    for k in statuses {
        if b.contains_key(k) {
            patch.insert(
                k.into(),
                enum_str(&b, p, k, JOB_STATUSES)?
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            );
        }
    }
    for k in counts {
        match b.get(k) {
            None => {}
            Some(Value::Null) => {
                patch.insert(k.into(), Value::Null);
            }
            Some(v) if v.as_i64().is_some() => {
                patch.insert(k.into(), v.clone());
            }
            Some(_) => return Err(bad_field(p, k)),
        }
    }
    match b.get("sync_cursor") {
        None => {}
        Some(v @ (Value::Object(_) | Value::Null)) => {
            patch.insert("sync_cursor".into(), v.clone());
        }
        Some(_) => return Err(bad_field(p, "sync_cursor")),
    }
    let before = get_blind(app, id)?;
    let mut after = before.clone();
    for (k, v) in patch {
        after.insert(k, v);
    }
    commit(app, id, &before, after)
}

fn features(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let b = body(req)?;
    strict(&b, "connector_update_features_request", &["features"])?;
    let p = "connector_update_features_request";
    let f = match b.get("features") {
        Some(Value::Object(f)) => f,
        Some(v) => return Err(unsupported(p, "features", v)),
        None => return Err(required(&["features"])),
    };
    let fp = "connector_features";
    let enabled_obj = |v: &Value| -> Result<Value, EsError> {
        let Value::Object(o) = v else {
            return Err(EsError::x_content(format!(
                "[feature_enabled] Expected START_OBJECT but was: {}",
                token(v)
            )));
        };
        strict(o, "feature_enabled", &["enabled"])?;
        Ok(json!({"enabled": req_bool(o, "feature_enabled", "enabled")?}))
    };
    let parse = || -> Result<Map<String, Value>, EsError> {
        strict(
            f,
            fp,
            &[
                "document_level_security",
                "incremental_sync",
                "native_connector_api_keys",
                "sync_rules",
            ],
        )?;
        let mut patch = Map::new();
        for (k, v) in f {
            if k == "sync_rules" {
                let Value::Object(o) = v else {
                    return Err(unsupported(fp, k, v));
                };
                let rules = || -> Result<Map<String, Value>, EsError> {
                    strict(o, "sync_rules_features", &["basic", "advanced"])?;
                    let mut sr = Map::new();
                    for (rk, rv) in o {
                        let one =
                            enabled_obj(rv).map_err(|e| nested("sync_rules_features", rk, e))?;
                        sr.insert(rk.clone(), one);
                    }
                    Ok(sr)
                };
                let sr = rules().map_err(|e| nested(fp, k, e))?;
                patch.insert(k.clone(), Value::Object(sr));
            } else {
                patch.insert(k.clone(), enabled_obj(v).map_err(|e| nested(fp, k, e))?);
            }
        }
        Ok(patch)
    };
    let patch = parse().map_err(|e| nested(p, "features", e))?;
    let before = get_blind(app, id)?;
    let mut after = before.clone();
    let slot = after.entry("features").or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    if let Some(o) = slot.as_object_mut() {
        crate::docs::write::merge(o, &patch);
    }
    commit(app, id, &before, after)
}
