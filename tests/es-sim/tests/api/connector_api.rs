//! The Connector API: defaults, validation errors, state machines, soft delete, sync jobs, and
//! coherence with the document APIs over the connector indices.

use crate::common;
use common::*;
use es_sim::Options;
use serde_json::{json, Value};

async fn connector(s: &Sim, id: &str, index: &str) {
    let r = s
        .call(
            "PUT",
            &format!("/_connector/{id}"),
            Some(json!({"name": "Music", "index_name": index, "service_type": "postgresql"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn create_defaults_and_overwrite() {
    let s = start().await;
    let r = s.call("PUT", "/_connector/c1", Some(json!({"name": "Music catalog", "index_name": "music", "service_type": "postgresql"}))).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body, json!({"result": "created", "id": "c1"}));
    let g = s.get("/_connector/c1").await.body;
    assert_eq!(g["id"], "c1");
    assert_eq!(g["status"], "created");
    assert_eq!(g["configuration"], json!({}));
    assert_eq!(g["custom_scheduling"], json!({}));
    assert_eq!(g["filtering"][0]["domain"], "DEFAULT");
    assert_eq!(g["filtering"][0]["active"]["rules"][0]["id"], "DEFAULT");
    assert_eq!(g["filtering"][0]["active"]["rules"][0]["rule"], "regex");
    assert_eq!(g["filtering"][0]["draft"]["validation"]["state"], "valid");
    assert_eq!(
        g["scheduling"]["full"],
        json!({"enabled": false, "interval": "0 0 0 * * ?"})
    );
    assert_eq!(g["is_native"], false);
    assert_eq!(g["sync_now"], false);
    assert_eq!(g["deleted"], false);
    for k in [
        "api_key_id",
        "api_key_secret_id",
        "description",
        "error",
        "features",
        "last_seen",
        "sync_cursor",
        "pipeline",
    ] {
        assert!(g.get(k).is_none_or(|v| v.is_null()), "{k} must be unset");
    }
    let again = s
        .call(
            "PUT",
            "/_connector/c1",
            Some(json!({"index_name": "music"})),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["result"], "updated");
    assert_eq!(
        s.get("/_connector/c1").await.body["name"],
        "",
        "overwritten with fresh defaults"
    );
    let post = s
        .call("POST", "/_connector", Some(json!({"name": "auto"})))
        .await;
    assert_eq!(post.status, 201);
    assert!(post.body["id"].as_str().is_some_and(|i| !i.is_empty()));
    let empty = s.call("PUT", "/_connector", None).await;
    assert_eq!(empty.status, 201);
    let native = s
        .call(
            "PUT",
            "/_connector/n1",
            Some(json!({"is_native": true, "index_name": "content-x"})),
        )
        .await;
    assert_eq!(native.status, 201);
    assert_eq!(
        s.get("/_connector/n1").await.body["status"],
        "needs_configuration"
    );

    let dup = s
        .call(
            "PUT",
            "/_connector/c2",
            Some(json!({"index_name": "music"})),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        dup.reason(),
        "Index name [music] is used by another connector."
    );
    let bad = s
        .call("PUT", "/_connector/c3", Some(json!({"index_name": "_bad"})))
        .await;
    assert_eq!(bad.status, 400);
    let unknown = s
        .call("PUT", "/_connector/c3", Some(json!({"nmae": "x"})))
        .await;
    assert_eq!(unknown.status, 400);
    let wrong_type = s
        .call("PUT", "/_connector/c3", Some(json!({"name": 5})))
        .await;
    assert_eq!(wrong_type.status, 400);
    let missing = s.get("/_connector/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.err_type(), "resource_not_found_exception");
    assert_eq!(missing.reason(), "connector [nope] not found");
    let empty_id = s
        .call("PUT", "/_connector//_name", Some(json!({"name": "x"})))
        .await;
    assert_eq!(empty_id.status, 400);
    assert!(empty_id
        .reason()
        .contains("[connector_id] cannot be [null] or [\"\"]."));
}

#[tokio::test]
async fn list_filters_paging_and_soft_delete() {
    let s = start().await;
    connector(&s, "b", "index-b").await;
    connector(&s, "a", "index-c").await;
    let r = s.call("PUT", "/_connector/z", Some(json!({"name": "Other", "index_name": "index-a", "service_type": "mysql", "description": "Nice things"}))).await;
    assert_eq!(r.status, 201);
    let l = s.get("/_connector").await.body;
    assert_eq!(l["count"], 3);
    let order: Vec<&str> = l["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index_name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["index-a", "index-b", "index-c"]);
    assert_eq!(
        s.get("/_connector?service_type=postgresql").await.body["count"],
        2
    );
    assert_eq!(
        s.get("/_connector?connector_name=Other").await.body["count"],
        1
    );
    assert_eq!(
        s.get("/_connector?index_name=index-b,index-c").await.body["count"],
        2
    );
    assert_eq!(s.get("/_connector?query=nice").await.body["count"], 1);
    let p = s.get("/_connector?from=1&size=1").await.body;
    assert_eq!(p["count"], 3);
    assert_eq!(p["results"][0]["index_name"], "index-b");
    assert_eq!(s.get("/_connector?from=-1").await.status, 400);
    let big = s.get("/_connector?from=9999&size=2").await;
    assert_eq!(big.status, 400);
    assert_eq!(
        big.reason(),
        "The sum of parameters [from] and [size] cannot be higher than 10000."
    );
    assert_eq!(s.get("/_connector?index_name=_x").await.status, 400);

    // Soft delete (9.x): hidden, index name freed, visible with include_deleted.
    let d = s.call("DELETE", "/_connector/b", None).await;
    assert_eq!(d.body, json!({"acknowledged": true}));
    assert_eq!(s.get("/_connector/b").await.status, 404);
    let inc = s.get("/_connector/b?include_deleted=true").await;
    assert_eq!(inc.status, 200);
    assert_eq!(inc.body["deleted"], true);
    assert_eq!(s.get("/_connector").await.body["count"], 2);
    assert_eq!(
        s.get("/_connector?include_deleted=true").await.body["count"],
        3
    );
    assert_eq!(s.call("DELETE", "/_connector/b", None).await.status, 404);
    connector(&s, "b2", "index-b").await;
    // Hard delete with its sync jobs.
    s.call("POST", "/_connector/_sync_job", Some(json!({"id": "a"})))
        .await;
    let d = s
        .call(
            "DELETE",
            "/_connector/a?hard=true&delete_sync_jobs=true",
            None,
        )
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(
        s.get("/_connector/a?include_deleted=true").await.status,
        404
    );
    assert_eq!(
        s.get("/_connector/_sync_job?connector_id=a").await.body["count"],
        0
    );

    // 8.x: always hard delete, no `deleted` flag.
    let old = start_with(Options {
        version: "8.18.0".into(),
        ..Default::default()
    })
    .await;
    connector(&old, "x", "ix").await;
    assert!(old.get("/_connector/x").await.body.get("deleted").is_none());
    old.call("DELETE", "/_connector/x", None).await;
    assert_eq!(
        old.get("/_connector/x?include_deleted=true").await.status,
        404
    );
}

#[tokio::test]
async fn update_endpoints() {
    let s = start().await;
    connector(&s, "c", "music").await;
    let put = |path: &str, body: Value| s.call("PUT", format!("/_connector/c/{path}"), Some(body));

    let r = s.call("PUT", "/_connector/c/_check_in", None).await;
    assert_eq!(r.body, json!({"result": "updated"}));
    assert!(s.get("/_connector/c").await.body["last_seen"].is_string());
    assert_eq!(
        s.call("PUT", "/_connector/nope/_check_in", None)
            .await
            .status,
        404
    );

    let r = put(
        "_api_key_id",
        json!({"api_key_id": null, "api_key_secret_id": null}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r
        .reason()
        .contains("[api_key_id] and [api_key_secret_id] cannot both be [null]"));
    assert_eq!(
        put("_api_key_id", json!({"api_key_id": "k1"})).await.body["result"],
        "updated"
    );

    // configuration: values before schema, both, neither, schema then values.
    let r = put("_configuration", json!({"values": {"host": "db"}})).await;
    assert_eq!(r.status, 400);
    assert!(r.reason().contains("Unknown [configuration] fields in the request payload: [host]. Remove them from request or register their schema first."));
    let r = put("_configuration", json!({"values": {}, "configuration": {}})).await;
    assert_eq!(r.reason(), "Validation Failed: 1: [configuration] and [values] cannot both be provided in the same request.;");
    let r = put("_configuration", json!({})).await;
    assert_eq!(
        r.reason(),
        "Validation Failed: 1: [configuration] and [values] cannot both be null.;"
    );
    let r = put("_configuration", json!({"configuration": {"host": {"label": "Host", "display": "textbox", "type": "str", "order": 1}, "port": {"label": "Port", "type": "int"}}})).await;
    assert_eq!(r.body["result"], "updated");
    let g = s.get("/_connector/c").await.body;
    assert_eq!(g["status"], "configured");
    assert_eq!(g["configuration"]["host"]["value"], Value::Null);
    assert_eq!(g["configuration"]["host"]["required"], false);
    assert_eq!(
        put(
            "_configuration",
            json!({"configuration": {"x": {"display": "textbox"}}})
        )
        .await
        .status,
        400,
        "label required"
    );
    assert_eq!(
        put(
            "_configuration",
            json!({"configuration": {"x": {"label": "X", "display": "weird"}}})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        put(
            "_configuration",
            json!({"values": {"host": "db", "port": 5432}})
        )
        .await
        .body["result"],
        "updated"
    );
    let g = s.get("/_connector/c").await.body;
    assert_eq!(g["configuration"]["host"]["value"], "db");
    assert_eq!(g["configuration"]["host"]["label"], "Host");
    assert_eq!(g["configuration"]["port"]["value"], 5432);

    // error
    put("_error", json!({"error": "boom"})).await;
    let g = s.get("/_connector/c").await.body;
    assert_eq!(
        (g["status"].as_str(), g["error"].as_str()),
        (Some("error"), Some("boom"))
    );
    put("_error", json!({"error": null})).await;
    assert_eq!(s.get("/_connector/c").await.body["status"], "connected");
    assert_eq!(put("_error", json!({"error": 5})).await.status, 400);

    // status state machine
    let r = put("_status", json!({"status": "needs_configuration"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.reason(), "Invalid transition attempt from [connected] to [needs_configuration]. Such a status transition is not supported by the Connector Protocol.");
    assert_eq!(
        put("_status", json!({"status": "configured"})).await.body["result"],
        "updated"
    );
    assert_eq!(put("_status", json!({"status": "bogus"})).await.status, 400);

    // index name / name / native / service type
    assert_eq!(
        put("_index_name", json!({"index_name": "music"}))
            .await
            .body["result"],
        "noop"
    );
    connector(&s, "other", "taken").await;
    assert_eq!(
        put("_index_name", json!({"index_name": "taken"}))
            .await
            .status,
        400
    );
    assert_eq!(
        put("_index_name", json!({"index_name": "_bad"}))
            .await
            .status,
        400
    );
    assert_eq!(
        put("_index_name", json!({"index_name": "music2"}))
            .await
            .body["result"],
        "updated"
    );
    assert_eq!(s.get("/_connector/c").await.body["status"], "configured");
    let r = put("_name", json!({"name": null, "description": null})).await;
    assert!(r
        .reason()
        .contains("[name] and [description] cannot both be [null]"));
    put("_name", json!({"name": "New", "description": "d"})).await;
    assert_eq!(s.get("/_connector/c").await.body["name"], "New");
    assert_eq!(
        put("_native", json!({"is_native": true})).await.status,
        400,
        "native needs a content- index"
    );
    assert_eq!(
        put("_native", json!({"is_native": false})).await.status,
        200
    );
    put("_service_type", json!({"service_type": "mysql"})).await;
    assert_eq!(
        s.get("/_connector/c").await.body["status"],
        "needs_configuration"
    );

    // pipeline / scheduling / features / last_sync
    assert_eq!(put("_pipeline", json!({"pipeline": {"name": "p", "extract_binary_content": true, "run_ml_inference": false}})).await.status, 400);
    put("_pipeline", json!({"pipeline": {"name": "p", "extract_binary_content": true, "reduce_whitespace": true, "run_ml_inference": false}})).await;
    assert_eq!(s.get("/_connector/c").await.body["pipeline"]["name"], "p");
    assert_eq!(
        put("_scheduling", json!({"scheduling": {}})).await.status,
        400
    );
    assert_eq!(
        put(
            "_scheduling",
            json!({"scheduling": {"full": {"enabled": true, "interval": "61 0 0 * * ?"}}})
        )
        .await
        .status,
        400
    );
    put(
        "_scheduling",
        json!({"scheduling": {"full": {"enabled": true, "interval": "0 0/5 * * * ?"}}}),
    )
    .await;
    let g = s.get("/_connector/c").await.body;
    assert_eq!(g["scheduling"]["full"]["enabled"], true);
    assert_eq!(
        g["scheduling"]["incremental"]["enabled"], false,
        "partial merge keeps others"
    );
    assert_eq!(
        put("_features", json!({"featuresss": {}})).await.status,
        400
    );
    put("_features", json!({"features": {"incremental_sync": {"enabled": true}, "sync_rules": {"basic": {"enabled": true}}}})).await;
    assert_eq!(
        s.get("/_connector/c").await.body["features"]["incremental_sync"]["enabled"],
        true
    );
    assert_eq!(
        put("_last_sync", json!({"last_sync_status": "weird"}))
            .await
            .status,
        400
    );
    assert_eq!(
        put("_last_sync", json!({"last_synced": "not a date"}))
            .await
            .status,
        400
    );
    put("_last_sync", json!({"last_sync_status": "completed", "last_indexed_document_count": 622, "sync_cursor": {"c": 1}})).await;
    let g = s.get("/_connector/c").await.body;
    assert_eq!(g["last_sync_status"], "completed");
    assert_eq!(g["last_indexed_document_count"], 622);
    assert_eq!(g["sync_cursor"], json!({"c": 1}));
}

#[tokio::test]
async fn filtering_draft_validation_activation() {
    let s = start().await;
    connector(&s, "c", "music").await;
    let put =
        |path: &str, body: Option<Value>| s.call("PUT", format!("/_connector/c/{path}"), body);
    assert_eq!(put("_filtering", Some(json!({}))).await.status, 400);
    let rule = json!({"id": "r1", "field": "name", "policy": "exclude", "rule": "equals", "value": "x", "order": 3});
    let r = put("_filtering", Some(json!({"rules": [rule]}))).await;
    assert_eq!(r.body["result"], "updated");
    let f = &s.get("/_connector/c").await.body["filtering"][0];
    let rules = f["draft"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1]["id"], "DEFAULT");
    assert_eq!(rules[1]["order"], 4);
    assert_eq!(f["draft"]["validation"]["state"], "edited");
    assert_eq!(
        f["active"]["rules"].as_array().unwrap().len(),
        1,
        "active untouched"
    );
    let r = put("_filtering/_activate", None).await;
    assert_eq!(r.status, 400);
    assert!(r.reason().starts_with(
        "Filtering draft needs to be validated by the connector service before activation."
    ));
    assert_eq!(
        put(
            "_filtering/_validation",
            Some(json!({"validation": {"state": "nope", "errors": []}}))
        )
        .await
        .status,
        400
    );
    put(
        "_filtering/_validation",
        Some(json!({"validation": {"state": "valid", "errors": []}})),
    )
    .await;
    assert_eq!(
        put("_filtering/_activate", None).await.body["result"],
        "updated"
    );
    let f = &s.get("/_connector/c").await.body["filtering"][0];
    assert_eq!(f["active"]["rules"][0]["id"], "r1");
    let bad_rule = json!({"rules": [{"id": "r", "field": "f", "policy": "maybe", "rule": "equals", "value": "x", "order": 0}]});
    assert_eq!(put("_filtering", Some(bad_rule)).await.status, 400);
    let full = json!({"filtering": [{"domain": "TEST", "active": {"rules": [], "advanced_snippet": {"value": {}}, "validation": {"state": "valid", "errors": []}},
        "draft": {"rules": [], "advanced_snippet": {"value": {}}, "validation": {"state": "valid", "errors": []}}}]});
    assert_eq!(
        put("_filtering", Some(full)).await.body["result"],
        "updated"
    );
    assert_eq!(
        s.get("/_connector/c").await.body["filtering"][0]["domain"],
        "DEFAULT"
    );
    assert_eq!(
        put("_filtering", Some(json!({"filtering": [{"active": {}}]})))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn sync_jobs_lifecycle() {
    let s = start().await;
    connector(&s, "c", "music").await;
    s.call(
        "PUT",
        "/_connector/c/_configuration",
        Some(json!({"configuration": {"host": {"label": "Host", "value": "db"}}})),
    )
    .await;
    s.call("PUT", "/_connector/c/_pipeline", Some(json!({"pipeline": {"name": "search-default-ingestion", "extract_binary_content": true, "reduce_whitespace": true, "run_ml_inference": true}}))).await;
    let r = s
        .call(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": "c", "job_type": "full"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let job = r.body["id"].as_str().unwrap().to_string();
    let g = s.get(&format!("/_connector/_sync_job/{job}")).await.body;
    assert_eq!(g["id"], job.as_str());
    assert_eq!(g["status"], "pending");
    assert_eq!(g["job_type"], "full");
    assert_eq!(g["trigger_method"], "on_demand");
    for k in [
        "deleted_document_count",
        "indexed_document_count",
        "indexed_document_volume",
        "total_document_count",
    ] {
        assert_eq!(g[k], 0, "{k}");
    }
    assert!(g["created_at"].is_string() && g["last_seen"].is_string());
    assert_eq!(g["connector"]["id"], "c");
    assert_eq!(g["connector"]["index_name"], "music");
    assert_eq!(g["connector"]["configuration"]["host"]["value"], "db");
    assert_eq!(
        g["connector"]["pipeline"]["name"],
        "search-default-ingestion"
    );
    assert_eq!(
        g["connector"]["filtering"]["rules"][0]["id"], "DEFAULT",
        "filtering snapshot is the active object"
    );
    assert!(g.get("started_at").is_none() && g.get("worker_hostname").is_none());

    let acl = s
        .call(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": "c", "job_type": "access_control", "trigger_method": "scheduled"})),
        )
        .await;
    let acl_id = acl.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{acl_id}")).await.body["connector"]["index_name"],
        ".search-acl-filter-music"
    );
    let r = s
        .call("POST", "/_connector/_sync_job", Some(json!({"id": "nope"})))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        s.call(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": "c", "job_type": "weird"}))
        )
        .await
        .status,
        400
    );
    s.call(
        "PUT",
        "/_connector/noindex",
        Some(json!({"service_type": "x"})),
    )
    .await;
    let r = s
        .call(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": "noindex"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.reason().contains("with no index attached"));
    s.call(
        "PUT",
        "/_connector/notype",
        Some(json!({"index_name": "nt"})),
    )
    .await;
    let r = s
        .call(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": "notype"})),
        )
        .await;
    assert!(r.reason().contains("[service_type] not defined"));

    let l = s.get("/_connector/_sync_job?connector_id=c").await.body;
    assert_eq!(l["count"], 2);
    assert_eq!(l["results"][0]["id"], acl_id.as_str(), "newest first");
    assert_eq!(
        s.get("/_connector/_sync_job?job_type=full").await.body["count"],
        1
    );
    assert_eq!(
        s.get("/_connector/_sync_job?status=pending").await.body["count"],
        2
    );
    assert_eq!(
        s.get("/_connector/_sync_job?status=weird").await.status,
        400
    );
    assert_eq!(
        s.get("/_connector/_sync_job?job_type=full,weird")
            .await
            .status,
        400
    );

    // error on pending is refused; claim; stats; error.
    let e = s
        .call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_error"),
            Some(json!({"error": "x"})),
        )
        .await;
    assert_eq!(e.status, 400);
    assert!(e.reason().contains("from [pending] to [error]"));
    assert_eq!(
        s.call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_claim"),
            Some(json!({}))
        )
        .await
        .status,
        400
    );
    let c = s
        .call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_claim"),
            Some(json!({"worker_hostname": "w1", "sync_cursor": {"pos": 5}})),
        )
        .await;
    assert_eq!(c.body, json!({"result": "updated"}));
    let g = s.get(&format!("/_connector/_sync_job/{job}")).await.body;
    assert_eq!(g["status"], "in_progress");
    assert_eq!(g["worker_hostname"], "w1");
    assert!(g["started_at"].is_string());
    assert_eq!(g["connector"]["sync_cursor"], json!({"pos": 5}));
    assert!(
        s.get("/_connector/c")
            .await
            .body
            .get("sync_cursor")
            .is_none_or(|v| v.is_null()),
        "connector untouched"
    );
    let st = s.call("PUT", &format!("/_connector/_sync_job/{job}/_stats"), Some(json!({"deleted_document_count": -1, "indexed_document_count": 1, "indexed_document_volume": 1}))).await;
    assert_eq!(st.status, 400);
    assert!(st
        .reason()
        .contains("[deleted_document_count] cannot be negative."));
    assert_eq!(
        s.call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_stats"),
            Some(json!({"indexed_document_count": 1}))
        )
        .await
        .status,
        400
    );
    assert_eq!(s.call("PUT", &format!("/_connector/_sync_job/{job}/_stats"), Some(json!({"deleted_document_count": 0, "indexed_document_count": 1, "indexed_document_volume": 1, "bogus": 1}))).await.status, 400);
    let st = s
        .call("PUT", &format!("/_connector/_sync_job/{job}/_stats"), Some(json!({"deleted_document_count": 0, "indexed_document_count": 622, "indexed_document_volume": 1, "total_document_count": 622, "metadata": {"k": "v"}})))
        .await;
    assert_eq!(st.body["result"], "updated", "{:?}", st.body);
    let g = s.get(&format!("/_connector/_sync_job/{job}")).await.body;
    assert_eq!(g["indexed_document_count"], 622);
    assert_eq!(g["metadata"]["k"], "v");
    assert_eq!(
        s.call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_check_in"),
            None
        )
        .await
        .body["result"],
        "updated"
    );
    let c = s
        .call("PUT", &format!("/_connector/_sync_job/{job}/_cancel"), None)
        .await;
    assert_eq!(c.body["result"], "updated");
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{job}")).await.body["status"],
        "canceling"
    );
    let e = s
        .call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_error"),
            Some(json!({"error": "stopped"})),
        )
        .await;
    assert_eq!(e.body["result"], "updated");
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{job}")).await.body["status"],
        "error"
    );

    // cancel pending → canceled with three equal timestamps; again → 400.
    s.call(
        "PUT",
        &format!("/_connector/_sync_job/{acl_id}/_cancel"),
        None,
    )
    .await;
    let g = s.get(&format!("/_connector/_sync_job/{acl_id}")).await.body;
    assert_eq!(g["status"], "canceled");
    assert_eq!(g["canceled_at"], g["cancelation_requested_at"]);
    assert_eq!(g["completed_at"], g["canceled_at"]);
    assert_eq!(
        s.call(
            "PUT",
            &format!("/_connector/_sync_job/{acl_id}/_cancel"),
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        s.call("DELETE", &format!("/_connector/_sync_job/{acl_id}"), None)
            .await
            .body,
        json!({"acknowledged": true})
    );
    let gone = s.get(&format!("/_connector/_sync_job/{acl_id}")).await;
    assert_eq!(gone.status, 404);
    // A get that finds nothing names the id alone; an update of a missing job says more.
    assert_eq!(gone.err_type(), "resource_not_found_exception");
    assert_eq!(gone.reason(), acl_id);
    let r = s
        .call("DELETE", &format!("/_connector/_sync_job/{acl_id}"), None)
        .await;
    assert_eq!((r.status, r.reason()), (404, acl_id.as_str()));
    let r = s
        .call("PUT", "/_connector/_sync_job/none/_check_in", None)
        .await;
    assert_eq!(
        (r.status, r.reason()),
        (404, "connector sync job [none] not found")
    );
    let r = s
        .call("PUT", "/_connector/_sync_job/none/_cancel", None)
        .await;
    assert_eq!((r.status, r.reason()), (404, "none"));
}

#[tokio::test]
async fn documents_and_api_share_the_indices() {
    let s = start().await;
    connector(&s, "c", "music").await;
    // The connectors service reads through the alias with the product-origin header.
    let g = s.get("/.elastic-connectors/_doc/c").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["_index"], ".elastic-connectors-v1");
    let (seq, term) = (
        g.body["_seq_no"].as_i64().unwrap(),
        g.body["_primary_term"].as_i64().unwrap(),
    );
    let u = s
        .call(
            "POST",
            &format!("/.elastic-connectors/_update/c?if_seq_no={seq}&if_primary_term={term}"),
            Some(json!({"doc": {"status": "connected", "last_sync_status": "in_progress"}})),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(
        s.get("/_connector/c").await.body["status"],
        "connected",
        "API sees document writes"
    );
    let stale = s
        .call(
            "POST",
            &format!("/.elastic-connectors/_update/c?if_seq_no={seq}&if_primary_term={term}"),
            Some(json!({"doc": {"status": "error"}})),
        )
        .await;
    assert_eq!(stale.status, 409);

    let job = s
        .call("POST", "/_connector/_sync_job", Some(json!({"id": "c"})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = json!({"query": {"bool": {"must": [{"terms": {"status": ["pending", "suspended"]}}, {"terms": {"connector.id": ["c"]}}, {"terms": {"job_type": ["full", "incremental"]}}]}},
                   "sort": [{"created_at": "asc"}], "seq_no_primary_term": true});
    let r = s
        .call(
            "POST",
            "/.elastic-connectors-sync-jobs/_search?expand_wildcards=hidden",
            Some(q.clone()),
        )
        .await;
    assert_eq!(r.body["hits"]["total"]["value"], 1, "{}", r.body);
    let hit = &r.body["hits"]["hits"][0];
    assert_eq!(hit["_id"], job.as_str());
    let (seq, term) = (
        hit["_seq_no"].as_i64().unwrap(),
        hit["_primary_term"].as_i64().unwrap(),
    );
    // Claim by conditional update; a second claimer with the same seq_no loses.
    let claim = json!({"doc": {"status": "in_progress", "worker_hostname": "me", "started_at": "2025-01-01T00:00:00Z"}});
    let path = format!("/.elastic-connectors-sync-jobs/_update/{job}?if_seq_no={seq}&if_primary_term={term}&refresh=true");
    assert_eq!(s.call("POST", &path, Some(claim.clone())).await.status, 200);
    assert_eq!(
        s.call("POST", &path, Some(claim)).await.err_type(),
        "version_conflict_engine_exception"
    );
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{job}")).await.body["status"],
        "in_progress"
    );
    assert_eq!(
        s.call("POST", "/.elastic-connectors-sync-jobs/_search", Some(q))
            .await
            .body["hits"]["total"]["value"],
        0
    );
    // Terminate directly, as the service does; the API reads the result.
    s.call(
        "POST",
        &format!("/.elastic-connectors-sync-jobs/_update/{job}?refresh=true"),
        Some(json!({"doc": {"status": "completed", "completed_at": "2025-01-01T00:01:00Z"}})),
    )
    .await;
    assert_eq!(
        s.get("/_connector/_sync_job?status=completed").await.body["count"],
        1
    );
    // A document indexed directly is a connector for the API.
    s.call(
        "PUT",
        "/.elastic-connectors/_doc/direct?refresh=true",
        Some(
            json!({"name": "direct", "index_name": "d", "status": "created", "service_type": "x"}),
        ),
    )
    .await;
    assert_eq!(s.get("/_connector/direct").await.body["name"], "direct");
    // Connector discovery as the service queries it.
    let r = s.call("POST", "/.elastic-connectors/_search", Some(json!({"query": {"bool": {"must_not": [{"term": {"deleted": true}}], "filter": [{"terms": {"_id": ["c", "direct"]}}]}}}))).await;
    assert_eq!(r.body["hits"]["total"]["value"], 2);

    // Without the product-origin header the 9.x system indices are off limits.
    let mut plain = start().await;
    plain.origin = None;
    let r = plain.get("/.elastic-connectors/_doc/c").await;
    assert_eq!(r.status, 400);
    assert!(r
        .reason()
        .contains("use and access is reserved for system operations"));
    assert_eq!(
        plain
            .call("PUT", "/.elastic-connectors-v1", None)
            .await
            .status,
        400
    );
    assert_eq!(
        plain.get("/_connector").await.status,
        200,
        "the API itself is fine"
    );
}

#[tokio::test]
async fn secrets() {
    let s = start().await;
    let r = s
        .call("POST", "/_connector/_secret", Some(json!({"value": "enc"})))
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&format!("/_connector/_secret/{id}")).await.body,
        json!({"id": id, "value": "enc"})
    );
    assert_eq!(
        s.call(
            "PUT",
            &format!("/_connector/_secret/{id}"),
            Some(json!({"value": "v2"}))
        )
        .await
        .body["result"],
        "updated"
    );
    assert_eq!(
        s.call("DELETE", &format!("/_connector/_secret/{id}"), None)
            .await
            .body,
        json!({"deleted": true})
    );
    assert_eq!(
        s.get(&format!("/_connector/_secret/{id}")).await.status,
        404
    );
}
