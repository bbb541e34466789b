//! Cluster info, license, and the security endpoints a connector service calls.

use crate::auth::{b64, ApiKey};
use crate::http::{now_millis, EsError, Req, Resp};
use crate::router::App;
use serde_json::{json, Map, Value};

pub fn root(app: &App) -> Resp {
    Resp::ok(json!({
        "name": "es-sim",
        "cluster_name": "es-sim",
        "cluster_uuid": app.cluster_uuid,
        "version": {
            "number": app.opts.version,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "0000000000000000000000000000000000000000",
            "build_date": "2025-07-01T00:00:00.000000000Z",
            "build_snapshot": false,
            "lucene_version": "10.2.2",
            "minimum_wire_compatibility_version": "8.19.0",
            "minimum_index_compatibility_version": "8.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

pub fn license(app: &App) -> Resp {
    let ty = app.license_type.read().clone();
    Resp::ok(json!({"license": {
        "status": "active",
        "uid": "00000000-0000-0000-0000-000000000000",
        "type": ty,
        "issue_date": "2025-01-01T00:00:00.000Z",
        "issue_date_in_millis": 1735689600000i64,
        "max_nodes": 1000,
        "max_resource_units": null,
        "issued_to": "es-sim",
        "issuer": "elasticsearch",
        "start_date_in_millis": -1
    }}))
}

pub fn start_trial(app: &App) -> Resp {
    *app.license_type.write() = "trial".into();
    Resp::ok(json!({"acknowledged": true, "trial_was_started": true, "type": "trial"}))
}

pub fn health(app: &App) -> Resp {
    let n = app.store.all().len();
    Resp::ok(json!({
        "cluster_name": "es-sim", "status": "yellow", "timed_out": false, "number_of_nodes": 1,
        "number_of_data_nodes": 1, "active_primary_shards": n, "active_shards": n, "relocating_shards": 0,
        "initializing_shards": 0, "unassigned_shards": n, "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 50.0
    }))
}

pub fn authenticate(req: &Req) -> Resp {
    let p = &req.principal;
    match &p.api_key {
        None => Resp::ok(json!({
            "username": p.username, "roles": ["superuser"], "full_name": null, "email": null,
            "metadata": {"_reserved": true}, "enabled": true,
            "authentication_realm": {"name": "reserved", "type": "reserved"},
            "lookup_realm": {"name": "reserved", "type": "reserved"},
            "authentication_type": "realm"
        })),
        Some((id, name)) => Resp::ok(json!({
            "username": p.username, "roles": [], "full_name": null, "email": null, "metadata": {}, "enabled": true,
            "authentication_realm": {"name": "_es_api_key", "type": "_es_api_key"},
            "lookup_realm": {"name": "_es_api_key", "type": "_es_api_key"},
            "authentication_type": "api_key",
            "api_key": {"id": id, "name": name, "managed_by": "elasticsearch", "internal": false}
        })),
    }
}

pub fn create_api_key(app: &App, req: &Req) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(EsError::validation(&["api key name is required"])),
    };
    let expiration = match body.get("expiration") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match crate::store::parse_duration_ms(s) {
            Some(ms) => Some(now_millis() + ms as i64),
            None => return Err(EsError::new(400, "parse_exception", format!("failed to parse setting [expiration] with value [{s}] as a time value: unit is missing or unrecognized"))),
        },
        Some(_) => return Err(EsError::x_content("[api_key_request] failed to parse field [expiration]")),
    };
    let id = crate::store::new_doc_id();
    let key = crate::store::new_uuid();
    let encoded = b64(format!("{id}:{key}").as_bytes());
    let role_descriptors = body.get("role_descriptors").cloned().unwrap_or(json!({}));
    // A key made by a limited key keeps its maker's limits when it names none of its own.
    let grants = match crate::privileges::Grants::from_role_descriptors(&role_descriptors) {
        Some(g) => Some(std::sync::Arc::new(g)),
        None => req.principal.grants.clone(),
    };
    let k = ApiKey {
        id: id.clone(),
        name: name.clone(),
        key: key.clone(),
        owner: req.principal.username.clone(),
        creation: now_millis(),
        expiration,
        invalidated: false,
        metadata: body.get("metadata").cloned().unwrap_or(json!({})),
        role_descriptors,
        grants,
    };
    app.auth.keys.write().insert(id.clone(), k);
    let mut out = json!({"id": id, "name": name, "api_key": key, "encoded": encoded});
    if let (Some(e), Some(o)) = (expiration, out.as_object_mut()) {
        o.insert("expiration".into(), json!(e));
    }
    Ok(Resp::ok(out))
}

pub fn get_api_keys(app: &App, req: &Req) -> Resp {
    let keys = app.auth.keys.read();
    let list: Vec<Value> = keys
        .values()
        .filter(|k| req.param("id").is_none_or(|id| id == k.id))
        .filter(|k| {
            req.param("name")
                .is_none_or(|n| crate::store::glob(n, &k.name))
        })
        .map(|k| {
            json!({"id": k.id, "name": k.name, "creation": k.creation, "expiration": k.expiration,
                   "invalidated": k.invalidated, "username": k.owner, "realm": "reserved",
                   "metadata": k.metadata, "role_descriptors": k.role_descriptors})
        })
        .collect();
    Resp::ok(json!({"api_keys": list}))
}

pub fn invalidate_api_keys(app: &App, req: &Req) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    if let Some(Value::Array(a)) = body.get("ids") {
        ids.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    if let Some(Value::String(s)) = body.get("id") {
        ids.push(s.clone());
    }
    let name = body
        .get("name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut keys = app.auth.keys.write();
    let (mut done, mut already) = (Vec::new(), Vec::new());
    for k in keys.values_mut() {
        if ids.contains(&k.id)
            || name
                .as_deref()
                .is_some_and(|n| crate::store::glob(n, &k.name))
        {
            if k.invalidated {
                already.push(k.id.clone());
            } else {
                k.invalidated = true;
                done.push(k.id.clone());
            }
        }
    }
    Ok(Resp::ok(
        json!({"invalidated_api_keys": done, "previously_invalidated_api_keys": already, "error_count": 0}),
    ))
}

/// A superuser has every privilege; a role-limited API key has what its descriptors grant.
pub fn has_privileges(req: &Req) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let grants = req.principal.grants.as_deref();
    let mut all = true;
    let mut cluster = Map::new();
    if let Some(Value::Array(a)) = body.get("cluster") {
        for p in a.iter().filter_map(|v| v.as_str()) {
            let ok = grants.is_none_or(|g| g.has_cluster(&crate::privileges::granted_by(p)));
            all &= ok;
            cluster.insert(p.to_string(), json!(ok));
        }
    }
    let mut index = Map::new();
    if let Some(Value::Array(a)) = body.get("index") {
        for entry in a {
            let names = crate::privileges::strings(entry.get("names"));
            let privs = crate::privileges::strings(entry.get("privileges"));
            for n in names {
                let e = index.entry(n.clone()).or_insert_with(|| json!({}));
                for p in &privs {
                    let ok =
                        grants.is_none_or(|g| g.has_index(&n, &crate::privileges::granted_by(p)));
                    all &= ok;
                    if let Some(o) = e.as_object_mut() {
                        o.insert(p.clone(), json!(ok));
                    }
                }
            }
        }
    }
    Ok(Resp::ok(json!({
        "username": req.principal.username, "has_all_requested": all,
        "cluster": cluster, "index": index, "application": {}
    })))
}
