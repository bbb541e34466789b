//! The connector system indices, their aliases and their code-defined mappings (9.x), and the
//! document read/write helpers the Connector API uses (always refresh-on-write, as ES does).

use crate::docs::write::{self, Cond};
use crate::http::EsError;
use crate::mapping::ObjectMapping;
use crate::router::App;
use crate::store::{Index, CONNECTORS_ALIAS, CONNECTORS_INDEX, JOBS_ALIAS, JOBS_INDEX};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn rules_mapping() -> Value {
    json!({"properties": {
        "advanced_snippet": {"properties": {"created_at": {"type": "date"}, "updated_at": {"type": "date"}, "value": {"type": "object", "enabled": false}}},
        "rules": {"properties": {
            "created_at": {"type": "date"}, "field": {"type": "keyword"}, "id": {"type": "keyword"},
            "order": {"type": "short"}, "policy": {"type": "keyword"}, "rule": {"type": "keyword"},
            "updated_at": {"type": "date"}, "value": {"type": "keyword"}
        }},
        "validation": {"properties": {
            "errors": {"properties": {"ids": {"type": "keyword"}, "messages": {"type": "text"}}},
            "state": {"type": "keyword"}
        }}
    }})
}

fn pipeline_mapping() -> Value {
    json!({"properties": {
        "extract_binary_content": {"type": "boolean"}, "name": {"type": "keyword"},
        "reduce_whitespace": {"type": "boolean"}, "run_ml_inference": {"type": "boolean"}
    }})
}

fn schedule_mapping() -> Value {
    json!({"properties": {"enabled": {"type": "boolean"}, "interval": {"type": "text"}}})
}

pub fn connectors_mapping() -> Value {
    let kw = json!({"type": "keyword"});
    let date = json!({"type": "date"});
    let obj_off = json!({"type": "object", "enabled": false});
    let enabled = json!({"properties": {"enabled": {"type": "boolean"}}});
    json!({
        "dynamic": "false",
        "_meta": {"version": 1, "pipeline": {"default_name": "search-default-ingestion", "default_extract_binary_content": true,
            "default_reduce_whitespace": true, "default_run_ml_inference": true}},
        "properties": {
            "api_key_id": kw, "api_key_secret_id": kw, "connector_id": kw, "error": kw, "index_name": kw, "language": kw,
            "name": kw, "service_type": kw, "status": kw, "last_sync_status": kw, "last_access_control_sync_status": kw,
            "last_sync_error": kw, "last_access_control_sync_error": kw,
            "description": {"type": "text"},
            "configuration": obj_off, "custom_scheduling": obj_off, "sync_cursor": obj_off,
            "features": {"properties": {
                "filtering_advanced_config": {"type": "boolean"}, "filtering_rules": {"type": "boolean"},
                "incremental_sync": enabled, "document_level_security": enabled, "native_connector_api_keys": enabled,
                "sync_rules": {"properties": {"basic": enabled, "advanced": enabled}}
            }},
            "filtering": {"properties": {"domain": kw, "active": rules_mapping(), "draft": rules_mapping()}},
            "is_native": {"type": "boolean"}, "sync_now": {"type": "boolean"}, "deleted": {"type": "boolean"},
            "last_seen": date, "last_synced": date, "last_sync_scheduled_at": date,
            "last_incremental_sync_scheduled_at": date, "last_access_control_sync_scheduled_at": date,
            "last_deleted_document_count": {"type": "long"}, "last_indexed_document_count": {"type": "long"},
            "pipeline": pipeline_mapping(),
            "scheduling": {"properties": {"access_control": schedule_mapping(), "full": schedule_mapping(), "incremental": schedule_mapping()}}
        }
    })
}

pub fn jobs_mapping() -> Value {
    let kw = json!({"type": "keyword"});
    let date = json!({"type": "date"});
    let obj_off = json!({"type": "object", "enabled": false});
    let mut filtering = rules_mapping();
    if let Some(p) = filtering
        .get_mut("properties")
        .and_then(|p| p.as_object_mut())
    {
        p.insert("domain".into(), kw.clone());
        p.insert(
            "warnings".into(),
            json!({"properties": {"ids": {"type": "keyword"}, "messages": {"type": "text"}}}),
        );
    }
    json!({
        "dynamic": "false",
        "_meta": {"version": 1},
        "properties": {
            "cancelation_requested_at": date, "canceled_at": date, "completed_at": date, "created_at": date,
            "last_seen": date, "started_at": date,
            "connector": {"properties": {
                "id": kw, "index_name": kw, "language": kw, "service_type": kw,
                "configuration": obj_off, "sync_cursor": obj_off, "filtering": filtering, "pipeline": pipeline_mapping()
            }},
            "metadata": obj_off,
            // The published mapping says integer while the code writes longs (PR #118991); es-sim maps long.
            "deleted_document_count": {"type": "long"}, "indexed_document_count": {"type": "long"},
            "indexed_document_volume": {"type": "long"}, "total_document_count": {"type": "long"},
            "error": kw, "job_type": kw, "status": kw, "trigger_method": kw, "worker_hostname": kw
        }
    })
}

/// Creates both system indices at start, as Elasticsearch 9.x manages them itself.
pub fn install(app: &App) {
    for (name, alias, mapping) in [
        (CONNECTORS_INDEX, CONNECTORS_ALIAS, connectors_mapping()),
        (JOBS_INDEX, JOBS_ALIAS, jobs_mapping()),
    ] {
        let Ok(m) = ObjectMapping::from_json(&mapping, true) else {
            continue;
        };
        let mut settings = BTreeMap::new();
        settings.insert("hidden".to_string(), "true".to_string());
        settings.insert("auto_expand_replicas".to_string(), "0-1".to_string());
        settings.insert("number_of_replicas".to_string(), "0".to_string());
        let mut aliases = BTreeMap::new();
        aliases.insert(alias.to_string(), json!({"is_hidden": true}));
        if let Ok(ix) = app.store.create(name, settings, m, aliases) {
            ix.data.write().system = true;
        }
    }
}

fn index(app: &App, name: &str) -> Result<Arc<Index>, EsError> {
    app.store
        .get(name)
        .ok_or_else(|| EsError::index_not_found(name))
}

/// A document's source and its seq_no.
pub type Loaded = (Map<String, Value>, i64);

/// Loads a document's source and its seq_no (realtime).
pub fn load(app: &App, index_name: &str, id: &str) -> Result<Option<Loaded>, EsError> {
    let ix = index(app, index_name)?;
    let d = ix.data.read();
    Ok(d.get_live(id)
        .map(|v| (serde_json::from_slice(&v.src).unwrap_or_default(), v.seq_no)))
}

/// Writes a whole document and refreshes (the Connector API writes with refresh=IMMEDIATE).
pub fn save(
    app: &App,
    index_name: &str,
    id: &str,
    doc: &Map<String, Value>,
    cond: Cond,
) -> Result<write::Done, EsError> {
    let ix = index(app, index_name)?;
    let mut d = ix.data.write();
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let done = write::index_doc(&mut d, id, &bytes, false, cond)?;
    d.refresh();
    Ok(done)
}

pub fn remove(app: &App, index_name: &str, id: &str) -> Result<bool, EsError> {
    let ix = index(app, index_name)?;
    let mut d = ix.data.write();
    let found = write::delete_doc(&mut d, id, Cond::default())?.result == "deleted";
    d.refresh();
    Ok(found)
}

/// All live documents of an index (the API reads realtime after its own refreshes).
pub fn all(app: &App, index_name: &str) -> Vec<(String, Map<String, Value>)> {
    let Ok(ix) = index(app, index_name) else {
        return vec![];
    };
    let d = ix.data.read();
    d.slots
        .iter()
        .filter_map(|s| {
            s.visible.as_ref().map(|v| {
                (
                    s.id.to_string(),
                    serde_json::from_slice(&v.src).unwrap_or_default(),
                )
            })
        })
        .collect()
}
