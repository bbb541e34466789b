//! Cluster, security, document, bulk, search, refresh, index-admin, ingest and limit behaviour.

use crate::common;
use common::*;
use es_sim::Options;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn root_auth_and_product_header() {
    let s = start().await;
    let r = s.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(r.body["version"]["number"], "9.1.0");
    assert_eq!(r.body["version"]["build_flavor"], "default");
    assert_eq!(r.body["tagline"], "You Know, for Search");
    assert!(r.body["cluster_uuid"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));

    let anon = s.http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.headers()["x-elastic-product"], "Elasticsearch");
    assert!(anon
        .headers()
        .get_all("www-authenticate")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("Basic")));
    let b: serde_json::Value = anon.json().await.unwrap();
    assert_eq!(b["error"]["type"], "security_exception");
    assert_eq!(b["error"]["root_cause"][0]["type"], "security_exception");
    assert_eq!(b["status"], 401);
    assert_eq!(
        b["error"]["reason"],
        "missing authentication credentials for REST request [/]"
    );

    let bad = s
        .http
        .get(format!("{}/_count", s.base))
        .basic_auth("elastic", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let b: serde_json::Value = bad.json().await.unwrap();
    assert!(b["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("unable to authenticate user [elastic]"));

    let open = start_with(Options {
        security: false,
        ..Default::default()
    })
    .await;
    let r = open
        .http
        .get(format!("{}/_license", open.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn api_keys_license_privileges() {
    let s = start().await;
    let k = s
        .call(
            "POST",
            "/_security/api_key",
            Some(json!({"name": "tributary", "role_descriptors": {}})),
        )
        .await;
    assert_eq!(k.status, 200);
    let encoded = k.body["encoded"].as_str().unwrap().to_string();
    let r = s
        .http
        .get(format!("{}/_security/_authenticate", s.base))
        .header("Authorization", format!("ApiKey {encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["authentication_type"], "api_key");
    assert_eq!(b["api_key"]["name"], "tributary");
    let r = s.call("POST", "/_security/api_key", Some(json!({}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "action_request_validation_exception");
    let inv = s
        .call(
            "DELETE",
            "/_security/api_key",
            Some(json!({"ids": [k.body["id"]]})),
        )
        .await;
    assert_eq!(inv.body["invalidated_api_keys"][0], k.body["id"]);
    let r = s
        .http
        .get(format!("{}/", s.base))
        .header("Authorization", format!("ApiKey {encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(format!("{}/", s.base))
        .header("Authorization", "ApiKey Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let lic = s.get("/_license").await;
    assert_eq!(lic.body["license"]["status"], "active");
    assert_eq!(lic.body["license"]["type"], "basic");
    s.call("POST", "/_license/start_trial?acknowledge=true", None)
        .await;
    assert_eq!(s.get("/_license").await.body["license"]["type"], "trial");
    let hp = s
        .call("POST", "/_security/user/_has_privileges", Some(json!({"cluster": ["monitor"], "index": [{"names": ["music"], "privileges": ["all"]}]})))
        .await;
    assert_eq!(hp.body["has_all_requested"], true);
    assert_eq!(hp.body["index"]["music"]["all"], true);
    assert_eq!(hp.body["cluster"]["monitor"], true);
}

#[tokio::test]
async fn bulk_items_in_order_with_errors() {
    let s = start().await;
    let long_id = "x".repeat(513);
    let nd = format!(
        concat!(
            "{{\"index\":{{\"_index\":\"music\",\"_id\":\"1\"}}}}\n{{\"title\":\"One\",\"n\":1}}\n",
            "{{\"create\":{{\"_index\":\"music\",\"_id\":\"1\"}}}}\n{{\"title\":\"dup\"}}\n",
            "{{\"index\":{{\"_index\":\"music\",\"_id\":\"2\"}}}}\n{{\"n\":\"not a number\"}}\n",
            "{{\"update\":{{\"_index\":\"music\",\"_id\":\"404\"}}}}\n{{\"doc\":{{\"a\":1}}}}\n",
            "{{\"update\":{{\"_index\":\"music\",\"_id\":\"1\"}}}}\n{{\"doc\":{{\"n\":2}}}}\n",
            "{{\"delete\":{{\"_index\":\"music\",\"_id\":\"missing\"}}}}\n",
            "{{\"index\":{{\"_index\":\"music\",\"_id\":\"{}\"}}}}\n{{\"a\":1}}\n",
            "{{\"index\":{{\"_index\":\"music\"}}}}\n{{\"auto\":true}}\n",
            "{{\"delete\":{{\"_index\":\"music\",\"_id\":\"1\"}}}}\n"
        ),
        long_id
    );
    let r = s.bulk("/_bulk", &nd).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["errors"], true);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["result"], "created");
    assert_eq!(items[0]["index"]["_version"], 1);
    assert_eq!(items[0]["index"]["_seq_no"], 0);
    assert_eq!(items[0]["index"]["_primary_term"], 1);
    assert_eq!(items[0]["index"]["_shards"]["successful"], 1);
    assert_eq!(items[1]["create"]["status"], 409);
    assert_eq!(
        items[1]["create"]["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(items[2]["index"]["status"], 400);
    assert_eq!(
        items[2]["index"]["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(items[3]["update"]["status"], 404);
    assert_eq!(
        items[3]["update"]["error"]["type"],
        "document_missing_exception"
    );
    assert_eq!(items[4]["update"]["result"], "updated");
    assert_eq!(items[4]["update"]["_version"], 2);
    assert_eq!(items[5]["delete"]["status"], 404);
    assert_eq!(items[5]["delete"]["result"], "not_found");
    assert!(items[5]["delete"].get("error").is_none());
    assert_eq!(items[6]["index"]["status"], 400);
    assert!(items[6]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("is too long, must be no longer than 512 bytes"));
    assert_eq!(items[7]["index"]["status"], 201);
    assert_eq!(items[7]["index"]["_id"].as_str().unwrap().len(), 20);
    assert_eq!(items[8]["delete"]["result"], "deleted");
    assert_eq!(items[8]["delete"]["_version"], 3);

    let ok = s
        .bulk("/music/_bulk", "{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n")
        .await;
    assert_eq!(ok.body["errors"], false);
    assert_eq!(ok.body["items"][0]["index"]["_index"], "music");

    let r = s
        .bulk("/_bulk", "{\"index\":{\"_index\":\"music\"}}\n{\"x\":1}")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.reason(),
        "The bulk request must be terminated by a newline [\\n]"
    );
    let r = s
        .bulk("/_bulk", "{\"frobnicate\":{\"_index\":\"music\"}}\n")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "illegal_argument_exception");
    let r = s.bulk("/_bulk", "not json\n").await;
    assert_eq!(r.status, 400);
    let r = s.bulk("/_bulk", "{\"index\":{}}\n{\"x\":1}\n").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "action_request_validation_exception");
    let r = s.bulk("/_bulk", "").await;
    assert_eq!(r.status, 400);
    let r = s
        .bulk(
            "/_bulk?pipeline=nope",
            "{\"index\":{\"_index\":\"music\",\"_id\":\"p\"}}\n{\"x\":1}\n",
        )
        .await;
    assert_eq!(r.body["items"][0]["index"]["status"], 400);
    assert_eq!(
        r.body["items"][0]["index"]["error"]["reason"],
        "pipeline with id [nope] does not exist"
    );
}

/// A key created with role descriptors (as Kibana creates a connector's key) can do what they
/// grant and gets Elasticsearch's 403 for the rest, per bulk item included.
#[tokio::test]
async fn api_key_role_descriptors_limit_access() {
    let mut s = start().await;
    let k = s
        .call(
            "POST",
            "/_security/api_key",
            Some(
                json!({"name": "music-connector", "role_descriptors": {"music-role": {
                    "cluster": ["monitor"],
                    "indices": [{"names": ["music", ".elastic-connectors*"], "privileges": ["all"]}]
                }}}),
            ),
        )
        .await;
    let id = k.body["id"].as_str().unwrap().to_string();
    s.api_key = Some(k.body["encoded"].as_str().unwrap().to_string());

    let r = s
        .bulk(
            "/_bulk",
            "{\"index\":{\"_index\":\"music\",\"_id\":\"1\"}}\n{\"k\":1}\n{\"index\":{\"_index\":\"secret\",\"_id\":\"1\"}}\n{\"k\":1}\n",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["errors"], true);
    assert_eq!(r.body["items"][0]["index"]["status"], 201);
    let denied = &r.body["items"][1]["index"];
    assert_eq!(denied["status"], 403);
    assert_eq!(denied["error"]["type"], "security_exception");
    assert_eq!(
        denied["error"]["reason"],
        format!("action [indices:data/write/bulk[s]] is unauthorized for API key id [{id}] of user [elastic] on indices [secret], this action is granted by the index privileges [create_doc,create,delete,index,write,all]")
    );
    assert_eq!(s.get("/music/_count").await.status, 200);
    let r = s.get("/secret/_count").await;
    assert_eq!(r.status, 403);
    assert!(
        r.reason().contains("[indices:data/read/count]"),
        "{}",
        r.reason()
    );
    // The denied bulk item did not auto-create its index.
    s.api_key = None;
    assert_eq!(s.call("HEAD", "/secret", None).await.status, 404);
    s.api_key = Some(k.body["encoded"].as_str().unwrap().to_string());

    // No connector privilege: the Connector API answers 403 with the cluster privileges.
    let r = s
        .call(
            "PUT",
            "/_connector/c1",
            Some(json!({"index_name": "music"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.err_type(), "security_exception");
    assert!(
        r.reason().ends_with(
            "this action is granted by the cluster privileges [manage_connector,manage,all]"
        ),
        "{}",
        r.reason()
    );
    let r = s
        .call(
            "POST",
            "/_security/user/_has_privileges",
            Some(json!({"cluster": ["monitor", "manage_connector"],
                        "index": [{"names": ["music", "secret"], "privileges": ["write"]}]})),
        )
        .await;
    assert_eq!(r.body["has_all_requested"], false);
    assert_eq!(
        r.body["cluster"],
        json!({"monitor": true, "manage_connector": false})
    );
    assert_eq!(r.body["index"]["music"]["write"], true);
    assert_eq!(r.body["index"]["secret"]["write"], false);
}

#[tokio::test]
async fn refresh_visibility_rules() {
    // `start()` refreshes only every hour, so "not yet visible" cannot race a tick.
    let s = start().await;
    s.bulk(
        "/_bulk",
        "{\"index\":{\"_index\":\"v\",\"_id\":\"1\"}}\n{\"k\":\"a\"}\n",
    )
    .await;
    assert_eq!(
        s.get("/v/_count").await.body["count"],
        0,
        "not searchable before refresh"
    );
    assert_eq!(
        s.call("POST", "/v/_search", Some(json!({}))).await.body["hits"]["total"]["value"],
        0
    );
    assert_eq!(
        s.get("/v/_doc/1").await.body["found"],
        true,
        "GET is realtime"
    );
    assert_eq!(s.get("/v/_doc/1?realtime=false").await.status, 404);
    let r = s.call("POST", "/v/_refresh", None).await;
    assert_eq!(r.body["_shards"]["successful"], 1);
    assert_eq!(s.get("/v/_count").await.body["count"], 1);
    // A delete is also invisible until refresh.
    s.call("DELETE", "/v/_doc/1", None).await;
    assert_eq!(s.get("/v/_count").await.body["count"], 1);
    assert_eq!(s.get("/v/_doc/1").await.status, 404);
    s.call("POST", "/v/_refresh", None).await;
    assert_eq!(s.get("/v/_count").await.body["count"], 0);
    // refresh=true makes the write visible before answering.
    let r = s
        .bulk(
            "/_bulk?refresh=true",
            "{\"index\":{\"_index\":\"v\",\"_id\":\"2\"}}\n{\"k\":\"b\"}\n",
        )
        .await;
    assert_eq!(r.body["errors"], false);
    assert_eq!(s.get("/v/_count").await.body["count"], 1);
    let r = s
        .call("PUT", "/v/_doc/3?refresh=true", Some(json!({"k": "c"})))
        .await;
    assert_eq!(r.body["forced_refresh"], true);
    assert_eq!(s.get("/v/_count").await.body["count"], 2);
    let r = s
        .call("PUT", "/v/_doc/4?refresh=bogus", Some(json!({"k": "c"})))
        .await;
    assert_eq!(r.status, 400);

    let fast = start_with(Options {
        refresh_interval: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    fast.bulk(
        "/_bulk",
        "{\"index\":{\"_index\":\"v\",\"_id\":\"1\"}}\n{\"k\":\"a\"}\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        fast.get("/v/_count").await.body["count"],
        1,
        "automatic refresh"
    );
    let r = fast
        .bulk(
            "/_bulk?refresh=wait_for",
            "{\"index\":{\"_index\":\"v\",\"_id\":\"2\"}}\n{\"k\":\"a\"}\n",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        fast.get("/v/_count").await.body["count"],
        2,
        "wait_for returns after a refresh"
    );
    // An index with refresh_interval -1 is only refreshed explicitly.
    fast.call(
        "PUT",
        "/frozen",
        Some(json!({"settings": {"index": {"refresh_interval": "-1"}}})),
    )
    .await;
    fast.bulk(
        "/_bulk",
        "{\"index\":{\"_index\":\"frozen\",\"_id\":\"1\"}}\n{\"k\":\"a\"}\n",
    )
    .await;
    // An index's own interval overrides the default: "1h" is not refreshed by the 150 ms ticker.
    fast.call(
        "PUT",
        "/slow",
        Some(json!({"settings": {"index": {"refresh_interval": "1h"}}})),
    )
    .await;
    fast.bulk(
        "/_bulk",
        "{\"index\":{\"_index\":\"slow\",\"_id\":\"1\"}}\n{\"k\":\"a\"}\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fast.get("/frozen/_count").await.body["count"], 0);
    assert_eq!(fast.get("/slow/_count").await.body["count"], 0);
    fast.call("POST", "/slow/_refresh", None).await;
    assert_eq!(fast.get("/slow/_count").await.body["count"], 1);
}

#[tokio::test]
async fn doc_and_update_apis() {
    let s = start().await;
    let r = s
        .call("PUT", "/d/_doc/1", Some(json!({"a": 1, "o": {"x": 1}})))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["result"], "created");
    let r = s
        .call("PUT", "/d/_doc/1", Some(json!({"a": 2, "o": {"x": 1}})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["result"], "updated");
    assert_eq!(r.body["_version"], 2);
    let seq = r.body["_seq_no"].as_i64().unwrap();
    let r = s.call("PUT", "/d/_create/1", Some(json!({"a": 3}))).await;
    assert_eq!(r.status, 409);
    let r = s.call("POST", "/d/_doc", Some(json!({"auto": 1}))).await;
    assert_eq!(r.status, 201);
    let g = s.get("/d/_doc/1?_source_includes=o").await;
    assert_eq!(g.body["_source"], json!({"o": {"x": 1}}));
    assert_eq!(g.body["_seq_no"], seq);
    assert_eq!(
        s.get("/d/_source/1").await.body,
        json!({"a": 2, "o": {"x": 1}})
    );
    assert_eq!(s.get("/d/_doc/none").await.body["found"], false);
    assert_eq!(
        s.get("/nope/_doc/1").await.err_type(),
        "index_not_found_exception"
    );

    let u = s
        .call(
            "POST",
            &format!("/d/_update/1?if_seq_no={seq}&if_primary_term=1"),
            Some(json!({"doc": {"o": {"y": 2}}})),
        )
        .await;
    assert_eq!(u.status, 200);
    assert_eq!(u.body["result"], "updated");
    assert_eq!(
        s.get("/d/_source/1").await.body,
        json!({"a": 2, "o": {"x": 1, "y": 2}})
    );
    let stale = s
        .call(
            "POST",
            &format!("/d/_update/1?if_seq_no={seq}&if_primary_term=1"),
            Some(json!({"doc": {"a": 9}})),
        )
        .await;
    assert_eq!(stale.status, 409);
    assert_eq!(stale.err_type(), "version_conflict_engine_exception");
    assert!(stale
        .reason()
        .contains(&format!("required seqNo [{seq}], primary term [1]")));
    let noop = s
        .call("POST", "/d/_update/1", Some(json!({"doc": {"a": 2}})))
        .await;
    assert_eq!(noop.body["result"], "noop");
    let missing = s
        .call("POST", "/d/_update/zz", Some(json!({"doc": {"a": 1}})))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.err_type(), "document_missing_exception");
    assert_eq!(missing.reason(), "[zz]: document missing");
    let ups = s
        .call(
            "POST",
            "/d/_update/zz",
            Some(json!({"doc": {"a": 1}, "doc_as_upsert": true})),
        )
        .await;
    assert_eq!(ups.status, 201);
    assert_eq!(ups.body["result"], "created");
    let bad = s
        .call("POST", "/d/_update/zz", Some(json!({"docc": {}})))
        .await;
    assert_eq!(bad.status, 400);
    let del = s.call("DELETE", "/d/_doc/zz", None).await;
    assert_eq!(del.body["result"], "deleted");
    let del = s.call("DELETE", "/d/_doc/zz", None).await;
    assert_eq!(del.status, 404);
    assert_eq!(del.body["result"], "not_found");
    let conflict = s
        .call("PUT", "/d/_doc/1", Some(json!({"a": "text now"})))
        .await;
    assert_eq!(conflict.status, 400);
    assert_eq!(conflict.err_type(), "document_parsing_exception");
    let meta = s.call("PUT", "/d/_doc/m", Some(json!({"_id": "x"}))).await;
    assert_eq!(meta.status, 400);
    let long = s
        .call(
            "PUT",
            &format!("/d/_doc/{}", "y".repeat(600)),
            Some(json!({"a": 1})),
        )
        .await;
    assert_eq!(long.status, 400);
}

async fn seed_search(s: &Sim) {
    let mut nd = String::new();
    for i in 0..30 {
        nd.push_str(&format!(
            "{{\"index\":{{\"_index\":\"s\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i},\"tag\":\"{}\",\"title\":\"song number {i}\",\"at\":\"2024-01-{:02}T00:00:00Z\",\"stamp\":\"{}\"}}\n",
            if i % 2 == 0 { "even" } else { "odd" },
            i % 28 + 1,
            if i < 20 { "new" } else { "old" }
        ));
    }
    let r = s.bulk("/_bulk?refresh=true", &nd).await;
    assert_eq!(r.body["errors"], false);
}

#[tokio::test]
async fn search_queries_sort_paging() {
    let s = start().await;
    seed_search(&s).await;
    let q = |body: serde_json::Value| s.call("POST", "/s/_search", Some(body));
    let r = q(json!({"query": {"term": {"tag.keyword": "even"}}, "size": 0})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 15);
    let r = q(json!({"query": {"bool": {"filter": [{"range": {"n": {"gte": 10, "lt": 20}}}], "must_not": [{"term": {"n": 15}}]}}})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 9);
    let r = q(json!({"query": {"terms": {"_id": ["1", "2", "nope"]}}})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 2);
    let r = q(json!({"query": {"ids": {"values": ["3"]}}})).await;
    assert_eq!(r.body["hits"]["hits"][0]["_id"], "3");
    let r = q(json!({"query": {"match": {"title": "number 7"}}, "size": 100})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 30);
    let r = q(json!({"query": {"match": {"title": {"query": "song 7", "operator": "and"}}}})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 1);
    let r = q(json!({"query": {"exists": {"field": "nope"}}})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 0);
    let r = q(json!({"query": {"range": {"at": {"gte": "2024-01-28"}}}})).await;
    assert_eq!(
        r.body["hits"]["total"]["value"], 1,
        "only i=27 is on the 28th"
    );
    let r = s.get("/s/_search?q=tag:odd").await;
    assert_eq!(r.body["hits"]["total"]["value"], 15);
    let r = q(json!({"query": {"query_string": {"query": "title:song AND tag:odd"}}})).await;
    assert_eq!(r.body["hits"]["total"]["value"], 15);

    // sort + _source filtering + seq_no_primary_term + search_after
    let r = q(
        json!({"sort": [{"n": "desc"}], "size": 3, "_source": ["n"], "seq_no_primary_term": true}),
    )
    .await;
    let hits = r.body["hits"]["hits"].as_array().unwrap();
    assert_eq!(hits[0]["_source"], json!({"n": 29}));
    assert_eq!(hits[0]["sort"], json!([29]));
    assert!(hits[0]["_seq_no"].is_number());
    assert_eq!(hits[0]["_primary_term"], 1);
    assert!(hits[0]["_score"].is_null());
    let r = q(json!({"sort": [{"n": "desc"}], "size": 3, "search_after": [27]})).await;
    assert_eq!(r.body["hits"]["hits"][0]["_id"], "26");
    let r =
        q(json!({"sort": ["tag.keyword", {"n": {"order": "asc"}}], "size": 1, "_source": false}))
            .await;
    assert_eq!(r.body["hits"]["hits"][0]["_id"], "0");
    assert!(r.body["hits"]["hits"][0].get("_source").is_none());
    let r = q(json!({"sort": [{"title": "asc"}]})).await;
    assert_eq!(r.status, 400, "sorting on text is refused");
    assert_eq!(
        r.body["error"]["root_cause"][0]["type"],
        "illegal_argument_exception"
    );
    let r = q(json!({"sort": [{"unmapped": "asc"}]})).await;
    assert_eq!(r.status, 400);
    let r =
        q(json!({"sort": [{"unmapped": {"order": "asc", "unmapped_type": "long"}}], "size": 1}))
            .await;
    assert_eq!(r.status, 200);

    let r = q(json!({"from": 9990, "size": 11})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "search_phase_execution_exception");
    assert!(r.body["error"]["root_cause"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Result window is too large"));
    let r = q(json!({"from": 28, "size": 5})).await;
    assert_eq!(r.body["hits"]["hits"].as_array().unwrap().len(), 2);
    let r = q(json!({"track_total_hits": false})).await;
    assert!(r.body["hits"].get("total").is_none());
    let r = q(json!({"track_total_hits": 10})).await;
    assert_eq!(
        r.body["hits"]["total"],
        json!({"value": 10, "relation": "gte"})
    );
    let r = q(json!({"query": {"bogus": {}}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err_type(), "parsing_exception");
    let r = s.call("POST", "/missing/_search", Some(json!({}))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.err_type(), "index_not_found_exception");
    let r = s
        .call(
            "POST",
            "/missing/_search?ignore_unavailable=true",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .call(
            "POST",
            "/s/_count",
            Some(json!({"query": {"term": {"stamp.keyword": "old"}}})),
        )
        .await;
    assert_eq!(r.body["count"], 10);
}

#[tokio::test]
async fn scroll_pit_and_delete_by_query() {
    let s = start().await;
    seed_search(&s).await;
    let r = s
        .call(
            "POST",
            "/s/_search?scroll=1m",
            Some(json!({"size": 12, "sort": ["_doc"]})),
        )
        .await;
    let sid = r.body["_scroll_id"].as_str().unwrap().to_string();
    let mut seen = r.body["hits"]["hits"].as_array().unwrap().len();
    loop {
        let p = s
            .call(
                "POST",
                "/_search/scroll",
                Some(json!({"scroll": "1m", "scroll_id": sid})),
            )
            .await;
        assert_eq!(p.body["hits"]["total"]["value"], 30);
        let n = p.body["hits"]["hits"].as_array().unwrap().len();
        if n == 0 {
            break;
        }
        seen += n;
    }
    assert_eq!(seen, 30);
    let c = s
        .call(
            "DELETE",
            "/_search/scroll",
            Some(json!({"scroll_id": [sid.clone()]})),
        )
        .await;
    assert_eq!(c.body, json!({"succeeded": true, "num_freed": 1}));
    let gone = s
        .call(
            "POST",
            "/_search/scroll",
            Some(json!({"scroll": "1m", "scroll_id": sid})),
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.body["error"]["root_cause"][0]["type"],
        "search_context_missing_exception"
    );

    let pit = s.call("POST", "/s/_pit?keep_alive=1m", None).await;
    let pit_id = pit.body["id"].as_str().unwrap().to_string();
    // Writes after the PIT opened are invisible to it.
    s.bulk(
        "/_bulk?refresh=true",
        "{\"index\":{\"_index\":\"s\",\"_id\":\"late\"}}\n{\"n\":99}\n",
    )
    .await;
    let mut after: Option<serde_json::Value> = None;
    let mut total = 0;
    loop {
        let mut body = json!({"pit": {"id": pit_id, "keep_alive": "1m"}, "size": 7, "sort": [{"_shard_doc": "asc"}]});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let p = s.call("POST", "/_search", Some(body)).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert_eq!(p.body["pit_id"], pit_id.as_str());
        let hits = p.body["hits"]["hits"].as_array().unwrap().clone();
        if hits.is_empty() {
            break;
        }
        total += hits.len();
        after = Some(hits.last().unwrap()["sort"].clone());
    }
    assert_eq!(total, 30);
    let r = s
        .call("POST", "/s/_search", Some(json!({"pit": {"id": pit_id}})))
        .await;
    assert_eq!(r.status, 400);
    let c = s.call("DELETE", "/_pit", Some(json!({"id": pit_id}))).await;
    assert_eq!(c.body, json!({"succeeded": true, "num_freed": 1}));
    let c = s.call("DELETE", "/_pit", Some(json!({"id": pit_id}))).await;
    assert_eq!(c.status, 404);

    let d = s
        .call(
            "POST",
            "/s/_delete_by_query?refresh=true",
            Some(json!({"query": {"bool": {"must_not": {"term": {"stamp.keyword": "new"}}}}})),
        )
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.body["deleted"], 11,
        "10 old + the late doc without a stamp"
    );
    assert_eq!(s.get("/s/_count").await.body["count"], 20);
}

#[tokio::test]
async fn index_admin_and_mappings() {
    let s = start().await;
    let r = s.call("PUT", "/music", Some(json!({"settings": {"number_of_replicas": 0}, "mappings": {"properties": {"id": {"type": "keyword"}}}}))).await;
    assert_eq!(
        r.body,
        json!({"acknowledged": true, "shards_acknowledged": true, "index": "music"})
    );
    let again = s.call("PUT", "/music", None).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.err_type(), "resource_already_exists_exception");
    assert_eq!(
        s.call("PUT", "/Music", None).await.err_type(),
        "invalid_index_name_exception"
    );
    assert_eq!(s.call("HEAD", "/music", None).await.status, 200);
    assert_eq!(s.call("HEAD", "/nothing", None).await.status, 404);
    let g = s.get("/music").await;
    assert_eq!(
        g.body["music"]["mappings"]["properties"]["id"]["type"],
        "keyword"
    );
    assert_eq!(
        g.body["music"]["settings"]["index"]["number_of_replicas"],
        "0"
    );
    s.call("PUT", "/music/_doc/1?refresh=true", Some(json!({"id": "1", "n": 5, "f": 1.5, "b": true, "when": "2024-05-01T10:00:00Z", "t": "hi", "o": {"k": "v"}}))).await;
    let m = s.get("/music/_mapping").await;
    let p = &m.body["music"]["mappings"]["properties"];
    assert_eq!(p["n"]["type"], "long");
    assert_eq!(p["f"]["type"], "float");
    assert_eq!(p["b"]["type"], "boolean");
    assert_eq!(p["when"]["type"], "date");
    assert_eq!(p["t"]["type"], "text");
    assert_eq!(p["t"]["fields"]["keyword"]["type"], "keyword");
    assert_eq!(p["o"]["properties"]["k"]["type"], "text");
    let put = s
        .call(
            "PUT",
            "/music/_mapping",
            Some(json!({"properties": {"extra": {"type": "keyword"}}})),
        )
        .await;
    assert_eq!(put.body, json!({"acknowledged": true}));
    let conflict = s
        .call(
            "PUT",
            "/music/_mapping",
            Some(json!({"properties": {"n": {"type": "keyword"}}})),
        )
        .await;
    assert_eq!(conflict.status, 400);
    assert_eq!(conflict.err_type(), "illegal_argument_exception");
    assert_eq!(
        conflict.reason(),
        "mapper [n] cannot be changed from type [long] to [keyword]"
    );
    let cat = s.get("/_cat/indices?format=json").await;
    let row = cat
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["index"] == "music")
        .unwrap()
        .clone();
    assert_eq!(row["docs.count"], "1");
    assert_eq!(row["health"], "green");
    let st = s.get("/music/_stats").await;
    assert_eq!(st.body["indices"]["music"]["primaries"]["docs"]["count"], 1);
    assert_eq!(
        s.call("DELETE", "/music", None).await.body,
        json!({"acknowledged": true})
    );
    assert_eq!(s.call("DELETE", "/music", None).await.status, 404);
    assert_eq!(
        s.call("DELETE", "/music?ignore_unavailable=true", None)
            .await
            .status,
        200
    );
    // Unknown endpoint
    assert_eq!(s.get("/_frobnicate/x/y").await.status, 400);
}

#[tokio::test]
async fn ingest_pipelines() {
    let s = start().await;
    let g = s.get("/_ingest/pipeline/search-default-ingestion").await;
    assert_eq!(g.status, 200);
    assert!(g.body["search-default-ingestion"]["processors"].is_array());
    let nd = "{\"index\":{\"_index\":\"c\",\"_id\":\"1\"}}\n{\"body\":\"  a \\n  b  \",\"_reduce_whitespace\":true,\"_extract_binary_content\":true,\"_run_ml_inference\":true,\"x\":1}\n";
    let r = s.bulk("/_bulk?pipeline=search-default-ingestion", nd).await;
    assert_eq!(r.body["errors"], false);
    assert_eq!(
        s.get("/c/_source/1").await.body,
        json!({"body": "a b", "x": 1})
    );
    assert_eq!(s.get("/_ingest/pipeline/mine").await.status, 404);
    let bad = s
        .call(
            "PUT",
            "/_ingest/pipeline/mine",
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let ok = s
        .call(
            "PUT",
            "/_ingest/pipeline/mine",
            Some(json!({"processors": [{"set": {"field": "tagged", "value": true}}]})),
        )
        .await;
    assert_eq!(ok.body, json!({"acknowledged": true}));
    s.call("PUT", "/c/_doc/2?pipeline=mine", Some(json!({"y": 1})))
        .await;
    assert_eq!(
        s.get("/c/_source/2").await.body,
        json!({"y": 1, "tagged": true})
    );
    assert_eq!(
        s.call("DELETE", "/_ingest/pipeline/mine", None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.call("DELETE", "/_ingest/pipeline/mine", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn body_limit_is_413() {
    let s = start().await;
    let big = vec![b' '; 100 * 1024 * 1024 + 10];
    let r = s
        .http
        .post(format!("{}/_bulk", s.base))
        .basic_auth("elastic", Some("changeme"))
        .body(big)
        .send()
        .await;
    match r {
        Ok(resp) => assert_eq!(resp.status(), 413),
        // The server may close while the client is still sending; it must not have accepted it.
        Err(e) => assert!(!e.is_status(), "unexpected error {e}"),
    }
    assert_eq!(s.get("/").await.status, 200, "server still serves");
    // A declared length over the limit is refused before the body is read.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZWxhc3RpYzpjaGFuZ2VtZQ==\r\nContent-Length: 200000000\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = sock.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("x-elastic-product: elasticsearch"));
}
