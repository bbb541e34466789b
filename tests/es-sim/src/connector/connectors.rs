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
fn get_blind(app: &App, id: &str) -> Result<Map<String, Value>, EsError> {
    match load(app, CONNECTORS_INDEX, id)? {
        Some((doc, _)) => Ok(doc),
        None => Err(doc_missing(app, id)),
    }
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
    save(app, CONNECTORS_INDEX, id, &after, Cond::default())?;
    Ok(Resp::ok(json!({"result": "updated"})))
}

fn default_filtering(now: &str) -> Value {
    let rules = json!({
        "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
        "rules": [default_rule(now, 0)],
        "validation": {"state": "valid", "errors": []}
    });
    json!([{"domain": "DEFAULT", "active": rules, "draft": rules}])
}

fn default_rule(now: &str, order: i64) -> Value {
    json!({"id": "DEFAULT", "field": "_", "policy": "include", "rule": "regex", "value": ".*", "order": order,
           "created_at": now, "updated_at": now})
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

fn check_native_prefix(is_native: bool, index_name: Option<&str>) -> Result<(), EsError> {
    if let (true, Some(ix)) = (is_native, index_name) {
        if !ix.starts_with("content-") {
            return Err(EsError::validation(&[&format!(
                "Index name [{ix}] attached to an Elastic-managed connector must start with the prefix [content-]"
            )]));
        }
    }
    Ok(())
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
    doc.insert("filtering".into(), default_filtering(&now));
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
    let mut doc = get_connector(app, id, false)?;
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
        "_configuration" => configuration(app, req, id),
        "_error" => {
            let b = body(req)?;
            let p = "connector_update_error_request";
            strict(&b, p, &["error"])?;
            if !b.contains_key("error") {
                return Err(EsError::x_content("Required [error]").with("parser", p));
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
        "_filtering" => filtering(app, req, id),
        "_index_name" => {
            let b = body(req)?;
            let p = "connector_update_index_name_request";
            strict(&b, p, &["index_name"])?;
            if !b.contains_key("index_name") {
                return Err(EsError::x_content("Required [index_name]").with("parser", p));
            }
            let ix = opt_str(&b, p, "index_name")?;
            let before = get_connector(app, id, false)?;
            if let Some(ix) = &ix {
                check_index_name(ix)?;
                check_index_name_free(app, ix, Some(id))?;
                check_native_prefix(before.get("is_native") == Some(&json!(true)), Some(ix))?;
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
            check_native_prefix(native, before.get("index_name").and_then(|v| v.as_str()))?;
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
            let Some(Value::Object(pl)) = b.get("pipeline") else {
                return Err(EsError::x_content("Required [pipeline]").with("parser", p));
            };
            let pp = "connector_ingest_pipeline";
            strict(
                pl,
                pp,
                &[
                    "extract_binary_content",
                    "name",
                    "reduce_whitespace",
                    "run_ml_inference",
                ],
            )?;
            let ebc = req_bool(pl, pp, "extract_binary_content")?;
            let name = opt_str(pl, pp, "name")?
                .ok_or_else(|| EsError::x_content("Required [name]").with("parser", pp))?;
            let rw = req_bool(pl, pp, "reduce_whitespace")?;
            let ml = req_bool(pl, pp, "run_ml_inference")?;
            let before = get_blind(app, id)?;
            let mut after = before.clone();
            after.insert(
                "pipeline".into(),
                json!({"extract_binary_content": ebc, "name": name, "reduce_whitespace": rw, "run_ml_inference": ml}),
            );
            commit(app, id, &before, after)
        }
        "_scheduling" => {
            let b = body(req)?;
            let p = "connector_update_scheduling_request";
            strict(&b, p, &["scheduling"])?;
            let Some(Value::Object(s)) = b.get("scheduling") else {
                return Err(EsError::x_content("Required [scheduling]").with("parser", p));
            };
            let sp = "connector_scheduling";
            strict(s, sp, &["access_control", "full", "incremental"])?;
            if s.is_empty() {
                return Err(EsError::validation(&["[scheduling] must contain at least one of [access_control], [full], [incremental]"]));
            }
            let mut parsed = Map::new();
            for (k, v) in s {
                let Value::Object(o) = v else {
                    return Err(bad_field(sp, k));
                };
                let ip = "schedule_config";
                strict(o, ip, &["enabled", "interval"])?;
                let enabled = req_bool(o, ip, "enabled")?;
                let interval = opt_str(o, ip, "interval")?
                    .ok_or_else(|| EsError::x_content("Required [interval]").with("parser", ip))?;
                if !valid_cron(&interval) {
                    return Err(EsError::illegal_argument(format!(
                        "invalid cron expression [{interval}]"
                    )));
                }
                parsed.insert(k.clone(), json!({"enabled": enabled, "interval": interval}));
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
            let st = opt_str(&b, p, "service_type")?
                .ok_or_else(|| EsError::x_content("Required [service_type]").with("parser", p))?;
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
                .ok_or_else(|| EsError::x_content("Required [status]").with("parser", p))?;
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
    let Some(Value::Object(f)) = b.get("features") else {
        return Err(EsError::x_content("Required [features]")
            .with("parser", "connector_update_features_request"));
    };
    let fp = "connector_features";
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
    let enabled_obj = |v: &Value, name: &str| -> Result<Value, EsError> {
        let Value::Object(o) = v else {
            return Err(bad_field(fp, name));
        };
        strict(o, "feature_enabled", &["enabled"])?;
        Ok(json!({"enabled": req_bool(o, "feature_enabled", "enabled")?}))
    };
    let mut patch = Map::new();
    for (k, v) in f {
        if k == "sync_rules" {
            let Value::Object(o) = v else {
                return Err(bad_field(fp, k));
            };
            strict(o, "sync_rules_features", &["basic", "advanced"])?;
            let mut sr = Map::new();
            for (rk, rv) in o {
                sr.insert(rk.clone(), enabled_obj(rv, rk)?);
            }
            patch.insert(k.clone(), Value::Object(sr));
        } else {
            patch.insert(k.clone(), enabled_obj(v, k)?);
        }
    }
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

const DISPLAYS: &[&str] = &["textbox", "textarea", "numeric", "toggle", "dropdown"];
const FIELD_TYPES: &[&str] = &["str", "int", "list", "bool"];
const VALIDATION_TYPES: &[&str] = &[
    "less_than",
    "greater_than",
    "list_type",
    "included_in",
    "regex",
];

fn config_field(key: &str, v: &Value) -> Result<Value, EsError> {
    let p = "connector_configuration";
    let Value::Object(m) = v else {
        return Err(bad_field("connector_update_configuration_request", key));
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
    let label = opt_str(m, p, "label")?
        .ok_or_else(|| EsError::x_content("Required [label]").with("parser", p))?;
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
            enum_str(o, "config_validation", "type", VALIDATION_TYPES)?.ok_or_else(|| {
                EsError::x_content("Required [type]").with("parser", "config_validation")
            })?;
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

fn configuration(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
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
                schema.insert(k.clone(), config_field(k, v)?);
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
            if !unknown.is_empty() {
                return Err(EsError::validation(&[&format!(
                    "Unknown [configuration] fields in the request payload: [{}]. Remove them from request or register their schema first.",
                    unknown.join(", ")
                )]));
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

fn check_rules(parser: &str, v: &Value) -> Result<(), EsError> {
    let Value::Object(m) = v else {
        return Err(bad_field(parser, "rules"));
    };
    strict(
        m,
        "filtering_rules",
        &["advanced_snippet", "rules", "validation"],
    )?;
    if let Some(Value::Array(rules)) = m.get("rules") {
        for r in rules {
            check_rule(r)?;
        }
    }
    if let Some(a) = m.get("advanced_snippet") {
        check_snippet(a)?;
    }
    Ok(())
}

fn check_rule(r: &Value) -> Result<(), EsError> {
    let p = "filtering_rule";
    let Value::Object(o) = r else {
        return Err(bad_field(p, "rules"));
    };
    strict(
        o,
        p,
        &[
            "created_at",
            "field",
            "id",
            "order",
            "policy",
            "rule",
            "updated_at",
            "value",
        ],
    )?;
    enum_str(o, p, "policy", &["include", "exclude"])?;
    enum_str(
        o,
        p,
        "rule",
        &[
            "contains",
            "ends_with",
            "equals",
            "regex",
            "starts_with",
            ">",
            "<",
        ],
    )?;
    opt_date(o, p, "created_at")?;
    opt_date(o, p, "updated_at")?;
    for k in ["field", "id", "policy", "rule", "value"] {
        if !o.contains_key(k) {
            return Err(EsError::x_content(format!("Required [{k}]")).with("parser", p));
        }
    }
    if o.get("order").and_then(|v| v.as_i64()).is_none() {
        return Err(EsError::x_content("Required [order]").with("parser", p));
    }
    Ok(())
}

fn check_snippet(a: &Value) -> Result<(), EsError> {
    let p = "filtering_advanced_snippet";
    let Value::Object(o) = a else {
        return Err(bad_field(p, "advanced_snippet"));
    };
    strict(o, p, &["created_at", "updated_at", "value"])?;
    opt_date(o, p, "created_at")?;
    opt_date(o, p, "updated_at")?;
    if !o.contains_key("value") {
        return Err(EsError::x_content("Required [value]").with("parser", p));
    }
    Ok(())
}

fn filtering(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let b = body(req)?;
    let p = "connector_update_filtering_request";
    strict(&b, p, &["filtering", "rules", "advanced_snippet"])?;
    let full = b.get("filtering").filter(|v| !v.is_null());
    let rules = b.get("rules").filter(|v| !v.is_null());
    let snippet = b.get("advanced_snippet").filter(|v| !v.is_null());
    if full.is_some() && (rules.is_some() || snippet.is_some()) {
        return Err(EsError::validation(&[
            "[filtering] and [rules, advanced_snippet] cannot be provided in the same request.",
        ]));
    }
    if let Some(f) = full {
        let Value::Array(arr) = f else {
            return Err(bad_field(p, "filtering"));
        };
        let mut out = Vec::new();
        for el in arr {
            let Value::Object(o) = el else {
                return Err(bad_field(p, "filtering"));
            };
            strict(o, "connector_filtering", &["active", "domain", "draft"])?;
            let (Some(active), Some(draft)) = (o.get("active"), o.get("draft")) else {
                return Err(EsError::x_content("Required [active, draft]")
                    .with("parser", "connector_filtering"));
            };
            check_rules("connector_filtering", active)?;
            check_rules("connector_filtering", draft)?;
            // Newest code ignores a sent domain and always writes DEFAULT.
            out.push(json!({"active": active, "domain": "DEFAULT", "draft": draft}));
        }
        let before = get_blind(app, id)?;
        let mut after = before.clone();
        after.insert("filtering".into(), Value::Array(out));
        return commit(app, id, &before, after);
    }
    if rules.is_none() && snippet.is_none() {
        return Err(EsError::validation(&[
            "[advanced_snippet] and [rules] cannot be both [null].",
        ]));
    }
    if let Some(r) = rules {
        let Value::Array(a) = r else {
            return Err(bad_field(p, "rules"));
        };
        for x in a {
            check_rule(x)?;
        }
    }
    if let Some(s) = snippet {
        check_snippet(s)?;
    }
    let before = get_connector(app, id, false)?;
    let mut after = before.clone();
    let now = now_iso();
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
    if let Some(Value::Array(rs)) = rules {
        let mut rs: Vec<Value> = rs
            .iter()
            .filter(|r| r.get("id").and_then(|v| v.as_str()) != Some("DEFAULT"))
            .cloned()
            .collect();
        rs.sort_by_key(|r| r.get("order").and_then(|v| v.as_i64()).unwrap_or(0));
        let next = rs
            .last()
            .and_then(|r| r.get("order"))
            .and_then(|v| v.as_i64())
            .map_or(0, |o| o + 1);
        rs.push(default_rule(&now, next));
        d.insert("rules".into(), Value::Array(rs));
    }
    if let Some(s) = snippet {
        let mut s = s.as_object().cloned().unwrap_or_default();
        s.entry("created_at").or_insert_with(|| json!(now));
        s.entry("updated_at").or_insert_with(|| json!(now));
        d.insert("advanced_snippet".into(), Value::Object(s));
    }
    d.insert(
        "validation".into(),
        json!({"state": "edited", "errors": []}),
    );
    commit(app, id, &before, after)
}

pub fn filtering_validation(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
    let b = body(req)?;
    let p = "connector_update_filtering_validation_request";
    strict(&b, p, &["validation"])?;
    let Some(Value::Object(v)) = b.get("validation") else {
        return Err(EsError::x_content("Required [validation]").with("parser", p));
    };
    strict(v, "filtering_validation", &["state", "errors"])?;
    let state = enum_str(
        v,
        "filtering_validation",
        "state",
        &["edited", "invalid", "valid"],
    )?
    .ok_or_else(|| EsError::x_content("Required [state]").with("parser", "filtering_validation"))?;
    let errors = match v.get("errors") {
        None => json!([]),
        Some(Value::Array(a)) => Value::Array(a.clone()),
        Some(_) => return Err(bad_field("filtering_validation", "errors")),
    };
    let before = get_connector(app, id, false)?;
    let mut after = before.clone();
    if let Some(Value::Object(d)) = after
        .get_mut("filtering")
        .and_then(|f| f.as_array_mut())
        .and_then(|a| a.first_mut())
        .and_then(|f| f.get_mut("draft"))
    {
        d.insert(
            "validation".into(),
            json!({"state": state, "errors": errors}),
        );
    }
    commit(app, id, &before, after)
}

pub fn filtering_activate(app: &App, id: &str) -> Result<Resp, EsError> {
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
