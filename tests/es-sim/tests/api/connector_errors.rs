//! Connector API refusals worded, typed and nested as Elasticsearch's parsers, request
//! validation and index service produce them.

use crate::common;
use common::*;
use serde_json::{json, Value};

async fn connector(s: &Sim, id: &str, body: Value) {
    let r = s.call("PUT", format!("/_connector/{id}"), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn cause(r: &Res) -> (&str, &str) {
    let c = &r.body["error"]["caused_by"];
    (
        c["type"].as_str().unwrap_or(""),
        c["reason"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn advanced_snippet_value_must_be_an_object_or_an_array() {
    let s = start().await;
    connector(&s, "c", json!({"index_name": "music"})).await;
    let put = |body: Value| s.call("PUT", "/_connector/c/_filtering", Some(body));

    for (value, token) in [
        (json!("string literal"), "VALUE_STRING"),
        (json!(5), "VALUE_NUMBER"),
        (json!(true), "VALUE_BOOLEAN"),
        (Value::Null, "VALUE_NULL"),
    ] {
        let r = put(json!({"advanced_snippet": {"value": value}})).await;
        assert_eq!(r.status, 400, "{token}: {}", r.body);
        assert_eq!(r.err_type(), "x_content_parse_exception");
        assert_eq!(
            r.reason(),
            "[connector_update_filtering_request] failed to parse field [advanced_snippet]"
        );
        assert_eq!(
            cause(&r),
            (
                "x_content_parse_exception",
                format!("[connector_filtering_advanced_snippet] value doesn't support values of type: {token}").as_str()
            )
        );
        assert_eq!(
            r.body["error"]["root_cause"][0]["reason"],
            r.reason(),
            "the root cause is the outer error"
        );
    }
    let r = put(json!({"advanced_snippet": {"created_at": "2024-01-01T00:00:00.000Z"}})).await;
    assert_eq!(
        cause(&r),
        ("illegal_argument_exception", "Required [value]")
    );
    let r = put(json!({"advanced_snippet": null})).await;
    assert_eq!(
        r.reason(),
        "[connector_update_filtering_request] advanced_snippet doesn't support values of type: VALUE_NULL"
    );

    // Arrays and objects are taken; unknown snippet fields are ignored, not stored.
    let r = put(json!({"advanced_snippet": {"value": [{"query": "SELECT 1"}], "note": "x"}})).await;
    assert_eq!(r.body, json!({"result": "updated"}));
    let snip = &s.get("/_connector/c").await.body["filtering"][0]["draft"]["advanced_snippet"];
    assert_eq!(snip["value"], json!([{"query": "SELECT 1"}]));
    assert!(snip.get("note").is_none(), "{snip}");
    assert!(snip["created_at"].is_string() && snip["updated_at"].is_string());
}

#[tokio::test]
async fn filtering_request_validation_and_rules() {
    let s = start().await;
    connector(&s, "c", json!({"index_name": "music"})).await;
    let put = |body: Value| s.call("PUT", "/_connector/c/_filtering", Some(body));
    let rule = json!({"id": "r1", "field": "name", "policy": "exclude", "rule": "equals", "value": "x", "order": 1});

    let rules = json!({"advanced_snippet": {"value": {}}, "rules": [], "validation": {"state": "valid", "errors": []}});
    let full = json!([{"active": rules, "draft": rules}]);
    let r = put(json!({"filtering": full, "rules": [rule]})).await;
    assert_eq!(r.err_type(), "action_request_validation_exception");
    assert_eq!(r.reason(), "Validation Failed: 1: If [filtering] is specified, [rules] and [advanced_snippet] should not be present in the request body.;");
    let r = put(json!({})).await;
    assert_eq!(
        r.reason(),
        "Validation Failed: 1: [advanced_snippet] and [rules] cannot be both [null].;"
    );

    // Rules ignore unknown fields and get their timestamps; a missing one is required.
    let mut extra = rule.clone();
    extra["note"] = json!("ignored");
    let r = put(json!({"rules": [extra]})).await;
    assert_eq!(r.body, json!({"result": "updated"}), "{}", r.body);
    let draft = &s.get("/_connector/c").await.body["filtering"][0]["draft"];
    assert!(draft["rules"][0].get("note").is_none());
    assert!(draft["rules"][0]["created_at"].is_string());
    assert_eq!(draft["rules"][1]["id"], "DEFAULT");
    assert_eq!(draft["rules"][1]["order"], 2);
    let r =
        put(json!({"rules": [{"id": "r", "field": "f", "policy": "include", "rule": "equals"}]}))
            .await;
    assert_eq!(
        r.reason(),
        "[connector_update_filtering_request] failed to parse field [rules]"
    );
    assert_eq!(
        cause(&r),
        ("illegal_argument_exception", "Required [order, value]")
    );

    // The whole-list form nests its errors one level per object.
    let r = put(json!({"filtering": [{"active": {"rules": [], "validation": {"state": "valid", "errors": []},
                        "advanced_snippet": {"value": "x"}}, "draft": {}}]}))
    .await;
    assert_eq!(
        r.reason(),
        "[connector_update_filtering_request] failed to parse field [filtering]"
    );
    let c1 = &r.body["error"]["caused_by"];
    assert_eq!(
        c1["reason"],
        "[connector_filtering] failed to parse field [active]"
    );
    assert_eq!(
        c1["caused_by"]["reason"],
        "[connector_filtering_rules] failed to parse field [advanced_snippet]"
    );

    // A draft validation needs both its state and its errors.
    let r = s
        .call(
            "PUT",
            "/_connector/c/_filtering/_validation",
            Some(json!({"validation": {"state": "valid"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.reason(),
        "[connector_update_filtering_validation] failed to parse field [validation]"
    );
    assert_eq!(
        cause(&r),
        ("illegal_argument_exception", "Required [errors]")
    );
}

#[tokio::test]
async fn configuration_values_for_unknown_fields() {
    let s = start().await;
    connector(&s, "c", json!({"index_name": "music"})).await;
    s.call(
        "PUT",
        "/_connector/c/_configuration",
        Some(json!({"configuration": {"host": {"label": "Host"}}})),
    )
    .await;
    let r = s
        .call(
            "PUT",
            "/_connector/c/_configuration",
            Some(json!({"values": {"host": "db", "port": 5432}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "status_exception");
    assert_eq!(r.reason(), "Unknown [configuration] fields in the request payload: [port]. Remove them from request or register their schema first.");
    assert_eq!(
        s.get("/_connector/c").await.body["configuration"]["host"]["value"],
        Value::Null,
        "nothing written"
    );
    // A bad field schema is an error inside [configuration].
    let r = s
        .call(
            "PUT",
            "/_connector/c/_configuration",
            Some(json!({"configuration": {"port": {"display": "numeric"}}})),
        )
        .await;
    assert_eq!(
        r.reason(),
        "[connector_update_configuration_request] failed to parse field [configuration]"
    );
    assert_eq!(
        cause(&r),
        ("illegal_argument_exception", "Required [label]")
    );
}

#[tokio::test]
async fn secret_requests_use_their_own_parsers() {
    let s = start().await;
    let put = |body: Value| s.call("PUT", "/_connector/_secret/s1", Some(body));
    let r = put(json!({"value": ""})).await;
    assert_eq!(r.err_type(), "action_request_validation_exception");
    assert_eq!(
        r.reason(),
        "Validation Failed: 1: [value] cannot be [null] or [\"\"];"
    );
    let r = put(json!({})).await;
    assert_eq!(
        (r.status, r.err_type(), r.reason()),
        (400, "illegal_argument_exception", "Required [value]")
    );
    let r = put(json!({"value": null})).await;
    assert_eq!(
        (r.err_type(), r.reason()),
        (
            "x_content_parse_exception",
            "[connector_secret_put_request] value doesn't support values of type: VALUE_NULL"
        )
    );
    let post = |body: Value| s.call("POST", "/_connector/_secret", Some(body));
    let r = post(json!({})).await;
    assert_eq!(
        r.reason(),
        "Validation Failed: 1: [value] of the connector secret cannot be [null] or [\"\"];"
    );
    let r = post(json!({"value": "v", "other": 1})).await;
    assert_eq!(r.reason(), "[post_secret_request] unknown field [other]");
    assert_eq!(s.get("/_connector/_secret/s1").await.status, 404);
}

#[tokio::test]
async fn elastic_managed_connectors_need_a_content_index() {
    let s = start().await;
    let r = s
        .call(
            "PUT",
            "/_connector/n",
            Some(json!({"is_native": true, "index_name": "music"})),
        )
        .await;
    assert_eq!(r.err_type(), "action_request_validation_exception");
    assert_eq!(r.reason(), "Validation Failed: 1: Index [music] is invalid. Index attached to an Elastic-managed connector must start with the prefix: [content-];");

    connector(
        &s,
        "n",
        json!({"is_native": true, "index_name": "content-music"}),
    )
    .await;
    let r = s
        .call(
            "PUT",
            "/_connector/n/_index_name",
            Some(json!({"index_name": "music"})),
        )
        .await;
    assert_eq!(r.err_type(), "status_exception");
    assert_eq!(r.reason(), "Index attached to an Elastic-managed connector must start with the prefix: [content-]. The index name in the payload [music] doesn't comply with this requirement.");

    connector(&s, "c", json!({"index_name": "books"})).await;
    let r = s
        .call(
            "PUT",
            "/_connector/c/_native",
            Some(json!({"is_native": true})),
        )
        .await;
    assert_eq!(r.err_type(), "status_exception");
    assert_eq!(r.reason(), "The index name [books] attached to the connector [c] must start with the required prefix: [content-] to be Elastic-managed. Please update the attached index first to comply with this requirement.");
    // Validation precedes the lookup: a bad name on a missing connector is a 400, not a 404.
    let r = s
        .call(
            "PUT",
            "/_connector/nope/_index_name",
            Some(json!({"index_name": "_bad"})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn hard_delete_purges_a_soft_deleted_connector() {
    let s = start().await;
    connector(&s, "c", json!({"index_name": "music"})).await;
    assert_eq!(s.call("DELETE", "/_connector/c", None).await.status, 200);
    assert_eq!(
        s.call("DELETE", "/_connector/c", None).await.status,
        404,
        "already soft-deleted"
    );
    let r = s.call("DELETE", "/_connector/c?hard=true", None).await;
    assert_eq!(r.body, json!({"acknowledged": true}));
    assert_eq!(
        s.get("/_connector/c?include_deleted=true").await.status,
        404
    );
    assert_eq!(
        s.call("DELETE", "/_connector/c?hard=true", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn scalar_fields_of_the_wrong_type() {
    let s = start().await;
    let r = s
        .call("PUT", "/_connector/c", Some(json!({"name": 5})))
        .await;
    assert_eq!(r.err_type(), "x_content_parse_exception");
    assert_eq!(
        r.reason(),
        "[connector_put_request] name doesn't support values of type: VALUE_NUMBER"
    );
    // Booleans also come as the strings "true" / "false", and nothing else.
    connector(
        &s,
        "n",
        json!({"is_native": "true", "index_name": "content-x"}),
    )
    .await;
    assert_eq!(s.get("/_connector/n").await.body["is_native"], true);
    let r = s
        .call("PUT", "/_connector/m", Some(json!({"is_native": "yes"})))
        .await;
    assert_eq!(
        r.reason(),
        "[connector_put_request] failed to parse field [is_native]"
    );
    assert_eq!(
        cause(&r),
        (
            "illegal_argument_exception",
            "Failed to parse value [yes] as only [true] or [false] are allowed."
        )
    );
}

#[tokio::test]
async fn missing_required_fields_are_illegal_arguments() {
    let s = start().await;
    connector(&s, "c", json!({"index_name": "music", "service_type": "x"})).await;
    let r = s
        .call("PUT", "/_connector/c/_status", Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.err_type(), r.reason()),
        (400, "illegal_argument_exception", "Required [status]")
    );

    // Inside a nested object: every missing field at once, wrapped by the request parser.
    let r = s
        .call(
            "PUT",
            "/_connector/c/_pipeline",
            Some(json!({"pipeline": {"name": "p"}})),
        )
        .await;
    assert_eq!(r.err_type(), "x_content_parse_exception");
    assert_eq!(
        r.reason(),
        "[connector_update_pipeline_request] failed to parse field [pipeline]"
    );
    assert_eq!(
        cause(&r),
        (
            "illegal_argument_exception",
            "Required [extract_binary_content, reduce_whitespace, run_ml_inference]"
        )
    );
    // The pipeline object itself ignores unknown fields.
    let r = s
        .call(
            "PUT",
            "/_connector/c/_pipeline",
            Some(
                json!({"pipeline": {"name": "p", "extract_binary_content": true,
              "reduce_whitespace": true, "run_ml_inference": false, "note": 1}}),
            ),
        )
        .await;
    assert_eq!(r.body, json!({"result": "updated"}), "{}", r.body);
    assert!(s.get("/_connector/c").await.body["pipeline"]
        .get("note")
        .is_none());

    let job = s
        .call("POST", "/_connector/_sync_job", Some(json!({"id": "c"})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .call(
            "PUT",
            format!("/_connector/_sync_job/{job}/_stats"),
            Some(json!({"total_document_count": 1})),
        )
        .await;
    assert_eq!(
        (r.err_type(), r.reason()),
        (
            "illegal_argument_exception",
            "Required [deleted_document_count, indexed_document_count, indexed_document_volume]"
        )
    );
}
