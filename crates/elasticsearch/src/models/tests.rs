use super::*;
use serde_json::json;

#[test]
fn connector_from_api_defaults() {
    // What `PUT _connector/x` + GET returns on a fresh connector.
    let c: Connector = serde_json::from_value(json!({
        "id": "my-connector-id",
        "name": "Music catalog",
        "index_name": "music",
        "service_type": "postgresql",
        "status": "created",
        "is_native": false,
        "sync_now": false,
        "deleted": false,
        "configuration": {},
        "custom_scheduling": {},
        "filtering": [{
            "domain": "DEFAULT",
            "active": {
                "advanced_snippet": {"created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z", "value": {}},
                "rules": [{"id": "DEFAULT", "field": "_", "policy": "include", "rule": "regex", "value": ".*", "order": 0,
                           "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}],
                "validation": {"state": "valid", "errors": []}
            },
            "draft": {"rules": [], "validation": {"state": "edited", "errors": []}}
        }],
        "scheduling": {
            "full": {"enabled": false, "interval": "0 0 0 * * ?"},
            "incremental": {"enabled": false, "interval": "0 0 0 * * ?"},
            "access_control": {"enabled": false, "interval": "0 0 0 * * ?"}
        },
        "a_future_field": {"x": 1}
    }))
    .unwrap();
    assert_eq!(c.status, Some(ConnectorStatus::Created));
    assert!(c.configuration.is_empty());
    assert_eq!(c.filtering[0].active.rules[0].id, "DEFAULT");
    assert_eq!(c.filtering[0].draft.validation.state, "edited");
    assert_eq!(c.scheduling.full.as_ref().unwrap().interval, "0 0 0 * * ?");
    assert_eq!(c.pipeline_or_default().name, "search-default-ingestion");
    assert_eq!(c.other["a_future_field"], json!({"x": 1}));
}

#[test]
fn connector_tolerates_odd_values() {
    let c: Connector = serde_json::from_value(json!({
        "status": "hibernating",
        "last_seen": "2026-12-01T10:00:00.123456789Z",
        "last_synced": "2026-12-01T10:00:00+00:00",
        "last_sync_scheduled_at": "not a date",
        "last_sync_status": null,
        "last_indexed_document_count": 5.0,
        "configuration": {"host": {"label": "Host", "value": "db"}, "broken": null},
        "pipeline": {"name": "p"},
        "features": {"incremental_sync": {"enabled": true}, "sync_rules": {"basic": {"enabled": true}}}
    }))
    .unwrap();
    assert_eq!(c.status, Some(ConnectorStatus::Unknown));
    assert!(c.last_seen.is_some() && c.last_synced.is_some());
    assert!(c.last_sync_scheduled_at.is_none());
    assert_eq!(c.last_indexed_document_count, Some(5));
    assert_eq!(c.config_value("host"), Some(&json!("db")));
    assert!(!c.configuration.contains_key("broken"));
    let map = c.configuration_map();
    assert_eq!(map["host"]["label"], json!("Host"));
    assert_eq!(map["host"]["value"], json!("db"));
    let p = c.pipeline_or_default();
    assert!(p.name == "p" && p.reduce_whitespace);
    let f = c.features_or_default();
    assert!(f.incremental_sync_enabled() && f.basic_rules_enabled() && !f.advanced_rules_enabled());
}

#[test]
fn sync_job_from_api() {
    let j: SyncJob = serde_json::from_value(json!({
        "id": "job-1",
        "connector": {
            "id": "c", "index_name": "music", "service_type": "postgresql", "language": null,
            "configuration": {"tables": {"label": "Tables", "type": "list", "value": "album,artist"}},
            "filtering": {"rules": [], "advanced_snippet": {"value": {}}, "validation": {"state": "valid", "errors": []}},
            "pipeline": {"name": "search-default-ingestion", "extract_binary_content": true, "reduce_whitespace": true, "run_ml_inference": false}
        },
        "status": "pending",
        "job_type": "full",
        "trigger_method": "on_demand",
        "created_at": "2026-12-01T10:00:00.000Z",
        "last_seen": "2026-12-01T10:00:00.000Z",
        "indexed_document_count": 0,
        "indexed_document_volume": 0,
        "deleted_document_count": 0,
        "total_document_count": 0,
        "metadata": {}
    }))
    .unwrap();
    assert_eq!(j.status, JobStatus::Pending);
    assert_eq!(j.job_type, JobType::Full);
    assert_eq!(j.connector.index_name.as_deref(), Some("music"));
    assert!(!j.connector.pipeline_or_default().run_ml_inference);
    assert!(j.connector.filtering.is_some());
    assert!(j.started_at.is_none());
}

#[test]
fn sync_job_legacy_filtering_array_and_missing_fields() {
    let j: SyncJob = serde_json::from_value(json!({
        "connector": {"id": "c", "filtering": [{"domain": "DEFAULT", "rules": [{"id": "r", "policy": "exclude", "field": "f", "rule": "equals", "value": 3, "order": 1}], "advanced_snippet": {}, "warnings": []}]},
        "status": "retired",
        "indexed_document_count": 7.0
    }))
    .unwrap();
    assert_eq!(j.status, JobStatus::Unknown);
    assert_eq!(j.indexed_document_count, 7);
    let rules = j.connector.filtering.unwrap().rules;
    assert_eq!(rules[0].value, "3");
    assert_eq!(rules[0].policy, "exclude");
}

#[test]
fn dates_round_trip_in_es_format() {
    let d = parse_date("2026-12-01T10:00:00.5Z").unwrap();
    assert_eq!(format_date(&d), "2026-12-01T10:00:00.500Z");
    assert_eq!(
        parse_date("2026-12-01T10:00:00"),
        parse_date("2026-12-01T10:00:00Z")
    );
    assert!(parse_date("1764583200000").is_some());
}

#[test]
fn enums_serialize_snake_case() {
    assert_eq!(
        serde_json::to_value(JobStatus::InProgress).unwrap(),
        json!("in_progress")
    );
    assert_eq!(
        serde_json::to_value(ConnectorStatus::NeedsConfiguration).unwrap(),
        json!("needs_configuration")
    );
    assert_eq!(JobType::AccessControl.as_str(), "access_control");
}
