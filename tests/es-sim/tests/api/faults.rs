//! Fault injection: per-item 429s, whole-request 429/503, dropped connections, latency,
//! determinism under a seed, and the admin path.

use crate::common;
use common::*;
use es_sim::{Faults, Options};
use serde_json::json;
use std::time::{Duration, Instant};

fn ndjson(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"index\":{{\"_index\":\"f\",\"_id\":\"{i}\"}}}}\n{{\"i\":{i}}}\n"))
        .collect()
}

async fn item_pattern(seed: u64) -> Vec<u64> {
    let s = start_with(Options {
        seed,
        faults: Faults {
            bulk_item_429_rate: 0.3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let r = s.bulk("/_bulk", &ndjson(200)).await;
    assert_eq!(r.status, 200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"]["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn bulk_item_rejections_are_deterministic() {
    let a = item_pattern(7).await;
    let b = item_pattern(7).await;
    let c = item_pattern(8).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, c, "another seed, other faults");
    let rejected = a.iter().filter(|s| **s == 429).count();
    assert!(
        (30..100).contains(&rejected),
        "about 30% of 200 rejected, got {rejected}"
    );
    assert!(a.iter().all(|s| *s == 429 || *s == 201));
}

#[tokio::test]
async fn rejected_item_shape_and_runtime_admin() {
    let s = start().await;
    s.server.set_faults(Faults {
        bulk_item_429_rate: 1.0,
        ..Default::default()
    });
    let r = s.bulk("/_bulk", &ndjson(3)).await;
    assert_eq!(r.body["errors"], true);
    let it = &r.body["items"][0]["index"];
    assert_eq!(it["status"], 429);
    assert_eq!(it["error"]["type"], "es_rejected_execution_exception");
    // Rejected items were not written.
    s.call("POST", "/f/_refresh", None).await;
    assert_eq!(s.get("/f/_count").await.body["count"], 0);

    let got = s.get("/_sim/faults").await;
    assert_eq!(got.body["bulk_item_429_rate"], 1.0);
    let put = s
        .call(
            "PUT",
            "/_sim/faults",
            Some(json!({"request_503_rate": 1.0})),
        )
        .await;
    assert_eq!(put.status, 200);
    let r = s.bulk("/_bulk", &ndjson(1)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(s.get("/").await.status, 200, "GET / is exempt");
    assert_eq!(
        s.get("/_cluster/health").await.status,
        200,
        "non-bulk paths are exempt unless all_paths"
    );
    s.call(
        "PUT",
        "/_sim/faults",
        Some(json!({"request_429_rate": 1.0, "all_paths": true})),
    )
    .await;
    let r = s.get("/_cluster/health").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.err_type(), "es_rejected_execution_exception");
    assert_eq!(s.get("/").await.status, 200);
    assert_eq!(
        s.get("/_sim/faults").await.status,
        200,
        "admin path is exempt"
    );
    let bad = s
        .raw(
            "PUT",
            "/_sim/faults",
            Some(b"{nope".to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(bad.status, 400);
    s.server.set_faults(Faults::default());
    assert_eq!(s.bulk("/_bulk", &ndjson(1)).await.status, 200);
}

#[tokio::test]
async fn dropped_connections_and_latency() {
    let s = start().await;
    s.server.set_faults(Faults {
        drop_connection_rate: 1.0,
        ..Default::default()
    });
    let r = s
        .http
        .post(format!("{}/_bulk", s.base))
        .basic_auth("elastic", Some("changeme"))
        .header("content-type", "application/x-ndjson")
        .body(ndjson(1))
        .send()
        .await;
    assert!(r.is_err(), "connection must be closed without an answer");
    s.server.set_faults(Faults {
        latency_ms: 300,
        ..Default::default()
    });
    let t = Instant::now();
    assert_eq!(s.bulk("/_bulk", &ndjson(1)).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    s.get("/").await;
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "GET / gets no latency"
    );
}
