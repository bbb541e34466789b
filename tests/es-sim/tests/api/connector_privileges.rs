//! Who may call the Connector API: API keys limited by role descriptors get what Elasticsearch
//! gives the same role (the rule is written down in PRIVILEGES.md).

use crate::common;
use common::*;
use es_sim::Options;
use serde_json::{json, Value};

/// Creates a key (as `elastic`) limited to one role; returns (id, encoded).
async fn key(s: &Sim, role: Value) -> (String, String) {
    let r = s
        .call(
            "POST",
            "/_security/api_key",
            Some(json!({"name": "k", "role_descriptors": {"r": role}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["encoded"].as_str().unwrap().to_string(),
    )
}

/// The role `user` of Elasticsearch's own ent-search YAML suite: secrets privileges and read
/// access on the connector indices, no connector privilege.
fn secrets_user() -> Value {
    json!({
        "cluster": ["manage_api_key", "read_connector_secrets", "write_connector_secrets"],
        "indices": [{"names": [".elastic-connectors-v1", ".elastic-connectors-sync-jobs-v1"], "privileges": ["read"]}]
    })
}

fn denied(id: &str, action: &str, privileges: &str) -> String {
    format!("action [{action}] is unauthorized for API key id [{id}] of user [elastic], this action is granted by the cluster privileges [{privileges}]")
}

async fn seed(s: &Sim) -> String {
    let r = s
        .call(
            "PUT",
            "/_connector/c1",
            Some(json!({"index_name": "music", "service_type": "postgresql"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let j = s
        .call("POST", "/_connector/_sync_job", Some(json!({"id": "c1"})))
        .await;
    assert_eq!(j.status, 201, "{}", j.body);
    j.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn secret_privileges_grant_the_secret_endpoints() {
    let mut s = start().await;
    let (id, k) = key(&s, secrets_user()).await;
    s.api_key = Some(k);

    let r = s
        .call(
            "PUT",
            "/_connector/_secret/test-secret",
            Some(json!({"value": "my-secret"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"result": "created"}));
    let r = s.get("/_connector/_secret/test-secret").await;
    assert_eq!(r.body, json!({"id": "test-secret", "value": "my-secret"}));
    let p = s
        .call("POST", "/_connector/_secret", Some(json!({"value": "v"})))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let d = s
        .call("DELETE", "/_connector/_secret/test-secret", None)
        .await;
    assert_eq!(d.body, json!({"deleted": true}));

    // The same key may not touch connectors: neither write them nor, in 9.x, read them.
    let r = s
        .call("PUT", "/_connector/c2", Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.reason(),
        denied(
            &id,
            "cluster:admin/xpack/connector/put",
            "manage_connector,manage,all"
        )
    );
}

#[tokio::test]
async fn manage_connector_excludes_the_secrets() {
    let mut s = start().await;
    let (id, k) = key(&s, json!({"cluster": ["manage_connector"]})).await;
    s.api_key = Some(k);
    assert_eq!(
        s.call("PUT", "/_connector/c1", Some(json!({"name": "x"})))
            .await
            .status,
        201
    );
    let r = s
        .call(
            "PUT",
            "/_connector/_secret/test-secret",
            Some(json!({"value": "v"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.err_type(), "security_exception");
    assert_eq!(
        r.reason(),
        denied(
            &id,
            "cluster:admin/xpack/connector/secret/put",
            "write_connector_secrets,manage,all"
        )
    );
    for (m, path, action) in [
        ("POST", "/_connector/_secret", "secret/post"),
        ("DELETE", "/_connector/_secret/x", "secret/delete"),
    ] {
        let r = s.call(m, path, Some(json!({"value": "v"}))).await;
        assert_eq!(r.status, 403, "{m} {path}");
        assert!(
            r.reason()
                .starts_with(&format!("action [cluster:admin/xpack/connector/{action}]")),
            "{}",
            r.reason()
        );
    }
    let r = s.get("/_connector/_secret/x").await;
    assert_eq!(
        r.reason(),
        denied(
            &id,
            "cluster:admin/xpack/connector/secret/get",
            "read_connector_secrets,manage,all"
        )
    );

    // read_connector_secrets alone reads but does not write.
    s.api_key = None;
    s.call(
        "PUT",
        "/_connector/_secret/s1",
        Some(json!({"value": "v1"})),
    )
    .await;
    let (_, reader) = key(&s, json!({"cluster": ["read_connector_secrets"]})).await;
    s.api_key = Some(reader);
    assert_eq!(s.get("/_connector/_secret/s1").await.body["value"], "v1");
    assert_eq!(
        s.call(
            "PUT",
            "/_connector/_secret/s1",
            Some(json!({"value": "v2"}))
        )
        .await
        .status,
        403
    );

    // `manage` covers the secrets; a key without any cluster privilege gets nothing.
    s.api_key = None;
    let (_, manage) = key(&s, json!({"cluster": ["manage"]})).await;
    let (_, none) = key(
        &s,
        json!({"indices": [{"names": ["test-*"], "privileges": ["manage", "write", "read"]}]}),
    )
    .await;
    s.api_key = Some(manage);
    assert_eq!(s.get("/_connector/_secret/s1").await.status, 200);
    s.api_key = Some(none);
    assert_eq!(s.get("/_connector/_secret/s1").await.status, 403);
}

#[tokio::test]
async fn read_only_index_access_is_not_enough_in_9x() {
    let mut s = start().await;
    let job = seed(&s).await;
    let (id, k) = key(
        &s,
        json!({"indices": [{"names": [".elastic-connectors*"], "privileges": ["read"]}]}),
    )
    .await;
    s.api_key = Some(k);
    for (path, action) in [
        ("/_connector".to_string(), "list"),
        ("/_connector/c1".to_string(), "get"),
        ("/_connector/_sync_job".to_string(), "sync_job/list"),
        (format!("/_connector/_sync_job/{job}"), "sync_job/get"),
    ] {
        let r = s.get(&path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(
            r.reason(),
            denied(
                &id,
                &format!("cluster:admin/xpack/connector/{action}"),
                "monitor_connector,manage_connector,manage,all"
            ),
            "{path}"
        );
    }
    // `monitor` is about cluster:monitor/* and grants none of it either.
    s.api_key = None;
    let (_, monitor) = key(&s, json!({"cluster": ["monitor"]})).await;
    s.api_key = Some(monitor);
    assert_eq!(s.get("/_connector").await.status, 403);
}

#[tokio::test]
async fn monitor_connector_reads_but_does_not_write() {
    let mut s = start().await;
    let job = seed(&s).await;
    let (id, k) = key(&s, json!({"cluster": ["monitor_connector"]})).await;
    s.api_key = Some(k);
    assert_eq!(s.get("/_connector").await.body["count"], 1);
    assert_eq!(s.get("/_connector/c1").await.body["id"], "c1");
    assert_eq!(s.get("/_connector/_sync_job").await.body["count"], 1);
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{job}")).await.status,
        200
    );
    let r = s
        .call("POST", "/_connector/_sync_job", Some(json!({"id": "c1"})))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.reason(),
        denied(
            &id,
            "cluster:admin/xpack/connector/sync_job/post",
            "manage_connector,manage,all"
        )
    );
    let r = s.call("PUT", "/_connector/c1/_check_in", None).await;
    assert!(
        r.reason()
            .starts_with("action [cluster:admin/xpack/connector/update_last_seen]"),
        "{}",
        r.reason()
    );
    assert_eq!(s.get("/_connector/_secret/x").await.status, 403);
    // An empty id fails validation before authorization, as in Elasticsearch.
    let r = s
        .call("PUT", "/_connector//_name", Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn has_privileges_knows_what_implies_what() {
    let mut s = start().await;
    let (_, k) = key(&s, json!({"cluster": ["manage_connector"]})).await;
    s.api_key = Some(k);
    let r = s
        .call(
            "POST",
            "/_security/user/_has_privileges",
            Some(json!({"cluster": ["monitor_connector", "manage_connector", "read_connector_secrets", "write_connector_secrets"]})),
        )
        .await;
    assert_eq!(
        r.body["cluster"],
        json!({"monitor_connector": true, "manage_connector": true,
               "read_connector_secrets": false, "write_connector_secrets": false})
    );
    assert_eq!(r.body["has_all_requested"], false);
}

/// 8.13–8.19 guard connectors and sync jobs with index privileges on the connector indices.
#[tokio::test]
async fn eight_x_uses_index_privileges() {
    let mut s = start_with(Options {
        version: "8.19.0".into(),
        ..Default::default()
    })
    .await;
    let job = seed(&s).await;
    let (id, reader) = key(
        &s,
        json!({"cluster": ["monitor"], "indices": [{"names": [".elastic-connectors*"], "privileges": ["read"]}]}),
    )
    .await;
    let (_, writer) = key(
        &s,
        json!({"cluster": ["monitor"], "indices": [{"names": [".elastic-connectors*"], "privileges": ["all"]}]}),
    )
    .await;
    let (_, managed) = key(&s, json!({"cluster": ["manage_connector"]})).await;

    s.api_key = Some(reader);
    assert_eq!(s.get("/_connector").await.body["count"], 1);
    assert_eq!(
        s.get(&format!("/_connector/_sync_job/{job}")).await.status,
        200
    );
    let r = s
        .call("PUT", "/_connector/c2", Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.reason(),
        format!("action [indices:data/write/xpack/connector/put] is unauthorized for API key id [{id}] of user [elastic] on indices [.elastic-connectors-v1], this action is granted by the index privileges [write,all]")
    );
    let r = s
        .call(
            "PUT",
            &format!("/_connector/_sync_job/{job}/_check_in"),
            None,
        )
        .await;
    assert!(
        r.reason()
            .contains("on indices [.elastic-connectors-sync-jobs-v1]"),
        "{}",
        r.reason()
    );

    s.api_key = Some(writer);
    assert_eq!(
        s.call("PUT", "/_connector/c2", Some(json!({"name": "x"})))
            .await
            .status,
        201
    );
    s.api_key = Some(managed);
    let r = s.get("/_connector").await;
    assert_eq!(r.status, 403, "manage_connector grants no 8.x action");
    assert!(r
        .reason()
        .starts_with("action [indices:data/read/xpack/connector/list]"));
}
