//! The Elasticsearch client against es-sim over HTTP: auth, start-up wait, the
//! connector and job calls, the exactly-once claim, bulk, index admin, and retries
//! under injected faults.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_elasticsearch::ClientConfig;
use tributary_elasticsearch::{
    Client, EsError, JobQuery, JobStats, JobStatus, JobType, RetryPolicy, TriggerMethod,
    CONNECTORS_INDEX,
};
use tributary_sync::{BulkAction, BulkOp, BulkTarget, SYNC_STAMP_FIELD};

type R = anyhow::Result<()>;

async fn sim() -> anyhow::Result<es_sim::Server> {
    es_sim::Server::start(es_sim::Options::default()).await
}

fn config(url: &str) -> ClientConfig {
    ClientConfig {
        host: url.to_owned(),
        request_timeout: Duration::from_secs(10),
        // Fast retries keep fault tests short; the shape (exponential, capped) is the same.
        initial_backoff_duration: Duration::from_millis(2),
        retry_interval: Duration::from_millis(20),
        max_retries: 30,
        ..Default::default()
    }
}

fn client(url: &str) -> Client {
    Client::new(&config(url)).expect("client")
}

/// A connector with an index, as the tutorial creates it.
async fn connector(c: &Client, id: &str, index: &str) -> anyhow::Result<()> {
    c.put_connector(
        id,
        &json!({"name": "Music catalog", "index_name": index, "service_type": "postgresql"}),
    )
    .await?;
    Ok(())
}

fn doc_op(id: usize) -> BulkOp {
    BulkOp {
        action: BulkAction::Index,
        id: format!("doc-{id}"),
        source: Some(format!(r#"{{"title":"t{id}","{SYNC_STAMP_FIELD}":"run-1"}}"#).into_bytes()),
    }
}

#[tokio::test]
async fn waits_and_checks_version() -> R {
    let es = sim().await?;
    let info = client(&es.url())
        .wait_for_elasticsearch(3, Duration::from_millis(10))
        .await?;
    assert_eq!(info.major(), Some(9));
    Ok(())
}

#[tokio::test]
async fn refuses_unsupported_versions() -> R {
    let es = es_sim::Server::start(es_sim::Options {
        version: "7.17.0".into(),
        ..Default::default()
    })
    .await?;
    let err = client(&es.url())
        .wait_for_elasticsearch(1, Duration::ZERO)
        .await
        .expect_err("7.x must be refused");
    assert!(matches!(err, EsError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("7.17.0"), "{err}");
    Ok(())
}

#[tokio::test]
async fn unreachable_gives_up_naming_the_url() -> R {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    drop(listener);
    let started = std::time::Instant::now();
    let err = client(&url)
        .wait_for_elasticsearch(3, Duration::from_millis(50))
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, EsError::Unreachable { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&url), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    Ok(())
}

#[tokio::test]
async fn wrong_password_fails_at_once() -> R {
    let es = sim().await?;
    let c = Client::new(&ClientConfig {
        password: "wrong".into(),
        ..config(&es.url())
    })?;
    let started = std::time::Instant::now();
    let err = c
        .wait_for_elasticsearch(10, Duration::from_secs(5))
        .await
        .expect_err("bad credentials");
    assert!(err.is_auth(), "{err}");
    assert_eq!(err.status(), Some(401));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "must not wait on auth errors"
    );
    assert!(
        err.to_string().contains("api_key or username/password"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn api_key_auth() -> R {
    let es = sim().await?;
    let admin = client(&es.url());
    let key = admin
        .request_json(
            reqwest::Method::POST,
            "/_security/api_key",
            Some(&json!({"name": "tributary-test"})),
        )
        .await?;
    let encoded = key["encoded"].as_str().expect("encoded key").to_owned();
    let c = Client::new(&ClientConfig {
        api_key: Some(encoded.clone()),
        username: String::new(),
        password: String::new(),
        ..config(&es.url())
    })?;
    c.info().await?;
    // The per-connector key path: same pool, other credentials.
    let anon = Client::new(&ClientConfig {
        username: String::new(),
        password: String::new(),
        ..config(&es.url())
    })?;
    assert!(anon.info().await.expect_err("no credentials").is_auth());
    anon.with_api_key(&encoded)?.info().await?;
    let bad = anon
        .with_api_key("bm9wZTpub3Bl")?
        .info()
        .await
        .expect_err("bad key");
    assert!(bad.is_auth(), "{bad}");
    Ok(())
}

#[tokio::test]
async fn connector_documents_and_conditional_updates() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "my-connector-id", "music").await?;

    let api = c.get_connector("my-connector-id").await?.expect("exists");
    assert_eq!(api.id, "my-connector-id");
    assert_eq!(api.index_name.as_deref(), Some("music"));
    assert!(c.get_connector("nope").await?.is_none());

    let doc = c.get_connector_doc("my-connector-id").await?.expect("doc");
    assert_eq!(doc.doc.id, "my-connector-id");
    let found = c
        .search_connectors(&["my-connector-id".into(), "other".into()])
        .await?;
    assert_eq!(found.len(), 1);

    // Register a schema conditionally, then a stale write conflicts.
    let upd = c
        .update_connector_doc(
            "my-connector-id",
            &json!({"configuration": {"host": {"label": "Host", "type": "str", "value": ""}},
                    "status": "needs_configuration"}),
            Some(doc.version()),
        )
        .await?;
    let stale = c
        .update_connector_doc(
            "my-connector-id",
            &json!({"status": "error"}),
            Some(doc.version()),
        )
        .await
        .expect_err("stale version");
    assert!(stale.is_conflict(), "{stale}");
    assert_eq!(stale.status(), Some(409));
    c.update_connector_doc(
        "my-connector-id",
        &json!({"error": null}),
        Some(upd.version()),
    )
    .await?;

    // Values form now works, and ES flips status to configured.
    let mut values = serde_json::Map::new();
    values.insert("host".into(), json!("db.local"));
    c.put_configuration_values("my-connector-id", &values)
        .await?;
    let now = c.get_connector("my-connector-id").await?.expect("exists");
    assert_eq!(now.config_value("host"), Some(&json!("db.local")));
    assert_eq!(
        now.status,
        Some(tributary_elasticsearch::ConnectorStatus::Configured)
    );
    c.check_in_connector("my-connector-id").await?;
    assert!(c
        .get_connector("my-connector-id")
        .await?
        .and_then(|c| c.last_seen)
        .is_some());

    // API errors carry ES's type and reason.
    let err = c.check_in_connector("missing").await.expect_err("404");
    assert!(err.is_not_found(), "{err}");
    assert!(err.error_type().is_some());
    Ok(())
}

#[tokio::test]
async fn a_job_is_claimed_exactly_once() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "c1", "music").await?;
    let job_id = c
        .create_sync_job("c1", JobType::Full, TriggerMethod::OnDemand)
        .await?;

    // Job documents become searchable after a refresh (1 s in es-sim, as in ES).
    let mut pending = Vec::new();
    for _ in 0..50 {
        pending = c
            .search_jobs(&JobQuery::runnable(&["c1".into()], &[JobType::Full]))
            .await?;
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending.len(), 1);
    let job = &pending[0];
    assert_eq!(job.id, job_id);
    assert_eq!(job.doc.status, JobStatus::Pending);

    // Two "hosts" race on the same version.
    let other = client(&es.url());
    let (a, b) = tokio::join!(
        c.claim_job(job, "host-a", None),
        other.claim_job(job, "host-b", None)
    );
    let (a, b) = (a?, b?);
    assert!(
        a.is_some() ^ b.is_some(),
        "exactly one claim must win: {a:?} {b:?}"
    );
    let (winner, name) = match (&a, &b) {
        (Some(j), None) => (j, "host-a"),
        (None, Some(j)) => (j, "host-b"),
        _ => unreachable!(),
    };
    assert_eq!(winner.doc.status, JobStatus::InProgress);
    assert_eq!(winner.doc.worker_hostname.as_deref(), Some(name));
    assert!(winner.doc.started_at.is_some());
    // A claimed job is not claimable again, even with a fresh read.
    assert!(c.claim_job(winner, "host-c", None).await?.is_none());

    // Progress and heartbeat through the API.
    c.put_sync_job_stats(
        &job_id,
        &JobStats {
            indexed_document_count: 10,
            indexed_document_volume: 1,
            ..Default::default()
        },
    )
    .await?;
    c.check_in_sync_job(&job_id).await?;
    let api = c.get_sync_job(&job_id).await?.expect("job");
    assert_eq!(api.indexed_document_count, 10);

    // Cancel → canceling; the service then ends it with a direct write.
    c.cancel_sync_job(&job_id).await?;
    let j = c.get_job_doc(&job_id).await?.expect("job");
    assert_eq!(j.doc.status, JobStatus::Canceling);
    c.update_job_doc(
        &job_id,
        &json!({"status": "canceled", "canceled_at": "2026-12-01T10:00:00.000Z",
                "completed_at": "2026-12-01T10:00:00.000Z"}),
        Some(j.version()),
    )
    .await?;
    assert_eq!(
        c.get_sync_job(&job_id).await?.map(|j| j.status),
        Some(JobStatus::Canceled)
    );
    assert!(c.get_sync_job("nope").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn bulk_index_count_and_stale_deletion() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    BulkTarget::prepare_index(&c, "music").await?;
    // Idempotent on an existing index: adds the stamp mapping again.
    BulkTarget::prepare_index(&c, "music").await?;
    let mapping = c
        .request_json(reqwest::Method::GET, "/music/_mapping", None)
        .await?;
    assert_eq!(
        mapping["music"]["mappings"]["properties"][SYNC_STAMP_FIELD]["type"], "keyword",
        "{mapping}"
    );

    let ops: Vec<BulkOp> = (0..10).map(doc_op).collect();
    let items = BulkTarget::bulk(&c, "music", None, &ops).await?;
    assert_eq!(items.len(), 10);
    assert!(items
        .iter()
        .all(|i| i.status == 201 && i.result.as_deref() == Some("created")));

    // Second run re-stamps half of them; the rest are stale.
    let restamp: Vec<BulkOp> = (0..5)
        .map(|i| BulkOp {
            action: BulkAction::Index,
            id: format!("doc-{i}"),
            source: Some(
                format!(r#"{{"title":"t{i}","{SYNC_STAMP_FIELD}":"run-2"}}"#).into_bytes(),
            ),
        })
        .chain([BulkOp {
            action: BulkAction::Delete,
            id: "missing".into(),
            source: None,
        }])
        .collect();
    let items = BulkTarget::bulk(&c, "music", None, &restamp).await?;
    assert_eq!(items[0].result.as_deref(), Some("updated"));
    assert_eq!(
        (items[5].status, items[5].result.as_deref()),
        (404, Some("not_found"))
    );
    BulkTarget::refresh(&c, "music").await?;
    assert_eq!(BulkTarget::count(&c, "music").await?, 10);
    let deleted = BulkTarget::delete_where_not(&c, "music", SYNC_STAMP_FIELD, "run-2").await?;
    assert_eq!(deleted, 5);
    BulkTarget::refresh(&c, "music").await?;
    assert_eq!(BulkTarget::count(&c, "music").await?, 5);

    // A non-retryable whole-request failure is Fatal for the sync.
    let err = BulkTarget::count(&c, "no-such-index")
        .await
        .expect_err("404");
    assert!(
        matches!(err, tributary_sync::TargetError::Fatal(_)),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn index_identity_and_stamp_mapping_as_the_sync_checks_them() -> R {
    use tributary_sync::{StampField, StampMapping};
    let es = sim().await?;
    let c = client(&es.url());
    assert_eq!(c.index_info("music").await?, None, "missing index");
    c.prepare_index("music").await?;
    let first = c.index_info("music").await?.expect("exists");
    assert_eq!(first.uuids.len(), 1);
    assert_eq!(first.uuids[0].0, "music");
    assert!(!first.uuids[0].1.is_empty());
    assert_eq!(first.stamp_field(20), StampField::Keyword);
    c.send_bulk("music", None, &(0..3).map(doc_op).collect::<Vec<_>>())
        .await?;
    c.refresh("music").await?;
    assert_eq!(c.count_where("music", SYNC_STAMP_FIELD, "run-1").await?, 3);
    assert_eq!(c.count_where("music", SYNC_STAMP_FIELD, "run-0").await?, 0);

    // Deleted, then recreated by a bulk request: a new uuid, and dynamic mapping
    // makes the stamp `text` with a `keyword` sub-field.
    c.request_json(reqwest::Method::DELETE, "/music", None)
        .await?;
    assert_eq!(c.index_info("music").await?, None);
    c.send_bulk("music", None, &(0..3).map(doc_op).collect::<Vec<_>>())
        .await?;
    let again = c.index_info("music").await?.expect("recreated");
    assert_ne!(
        again.uuids, first.uuids,
        "a recreated index has another uuid"
    );
    assert_eq!(
        again.stamps[0].1,
        StampMapping {
            ty: Some("text".into()),
            keyword_subfield: Some(("keyword".into(), Some(256))),
        }
    );
    // The keyword mapping cannot be put over it; preparing is not an error (the sync
    // decides), and the mapping stays.
    c.prepare_index("music").await?;
    let field = format!("{SYNC_STAMP_FIELD}.keyword");
    assert_eq!(
        again.stamp_field(20),
        StampField::Subfield("keyword".into())
    );
    c.refresh("music").await?;
    // A term on the text field itself does not match the stamp exactly; on the
    // sub-field it does.
    assert_eq!(
        c.count_where("music", SYNC_STAMP_FIELD, "run-1").await?,
        0,
        "a must_not on this would match every document"
    );
    assert_eq!(c.count_where("music", &field, "run-1").await?, 3);

    // Behind an alias: the concrete index and its uuid.
    c.request_json(reqwest::Method::PUT, "/music/_alias/tunes", None)
        .await?;
    let via_alias = c.index_info("tunes").await?.expect("alias resolves");
    assert_eq!(via_alias.uuids, again.uuids);
    Ok(())
}

#[tokio::test]
async fn bulk_survives_429_503_and_dropped_connections() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    c.prepare_index("faulty").await?;
    es.set_faults(es_sim::Faults {
        request_429_rate: 0.2,
        request_503_rate: 0.2,
        drop_connection_rate: 0.2,
        ..Default::default()
    });
    let mut total = 0;
    for batch in 0..20 {
        let ops: Vec<BulkOp> = (batch * 50..(batch + 1) * 50).map(doc_op).collect();
        let items = c.send_bulk("faulty", None, &ops).await?;
        assert!(items.iter().all(|i| i.error.is_none()), "{items:?}");
        total += items.len();
    }
    es.set_faults(es_sim::Faults::default());
    c.refresh("faulty").await?;
    // Retried whole requests re-index the same ids: no duplicates, nothing lost.
    assert_eq!(c.count("faulty").await?, total as u64);
    Ok(())
}

#[tokio::test]
async fn per_item_429s_are_results_not_errors() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    c.prepare_index("items").await?;
    es.set_faults(es_sim::Faults {
        bulk_item_429_rate: 0.5,
        ..Default::default()
    });
    let ops: Vec<BulkOp> = (0..200).map(doc_op).collect();
    let items = c.send_bulk("items", None, &ops).await?;
    let rejected: Vec<_> = items.iter().filter(|i| i.status == 429).collect();
    assert!(!rejected.is_empty() && rejected.len() < 200);
    for r in rejected {
        assert_eq!(
            r.error.as_ref().map(|e| e.0.as_str()),
            Some("es_rejected_execution_exception")
        );
        assert!(r.result.is_none());
    }
    Ok(())
}

#[tokio::test]
async fn retries_are_bounded() -> R {
    let es = sim().await?;
    let c = client(&es.url()).with_retry_policy(RetryPolicy {
        max_attempts: 3,
        backoff: tributary_sync::Backoff::doubling(
            Duration::from_millis(1),
            Duration::from_millis(5),
        ),
        retry_on_timeout: true,
    });
    c.prepare_index("down").await?;
    es.set_faults(es_sim::Faults {
        request_503_rate: 1.0,
        ..Default::default()
    });
    let err = c
        .send_bulk("down", None, &[doc_op(1)])
        .await
        .expect_err("always 503");
    assert_eq!(err.status(), Some(503), "{err}");
    assert!(err.is_transient());
    let target_err: tributary_sync::TargetError = err.into();
    assert!(matches!(
        target_err,
        tributary_sync::TargetError::Transient(_)
    ));
    Ok(())
}

#[tokio::test]
async fn connector_index_is_reachable_directly() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "direct", "direct-index").await?;
    let docs: Vec<tributary_elasticsearch::Versioned<Value>> = c
        .search_documents(CONNECTORS_INDEX, &json!({"query": {"match_all": {}}}))
        .await?;
    assert!(docs.iter().any(|d| d.id == "direct"));
    assert!(c.all_connector_ids().await?.contains(&"direct".to_string()));
    Ok(())
}

#[tokio::test]
async fn every_connector_api_call_round_trips() -> R {
    use tributary_elasticsearch::{
        ConfigField, Configuration, ConnectorStatus, FilteringValidation, LastSync, ListConnectors,
    };
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "api", "api-index").await?;
    connector(&c, "api2", "api-index-2").await?;

    let list = c
        .list_connectors(&ListConnectors {
            service_type: vec!["postgresql".into()],
            ..Default::default()
        })
        .await?;
    assert_eq!(list.count, 2);
    assert_eq!(list.results[0].index_name.as_deref(), Some("api-index"));

    // Schema form replaces the configuration; status becomes configured.
    let mut schema = Configuration::new();
    schema.insert(
        "host".into(),
        ConfigField {
            label: Some("Host".into()),
            field_type: Some("str".into()),
            display: Some("textbox".into()),
            required: Some(true),
            order: Some(1),
            value: json!("db"),
            ..Default::default()
        },
    );
    c.put_configuration_schema("api", &schema).await?;
    let got = c.get_connector("api").await?.expect("connector");
    assert_eq!(got.configuration["host"].label.as_deref(), Some("Host"));
    assert_eq!(got.status, Some(ConnectorStatus::Configured));

    // Unknown values are refused by ES with its reason.
    let mut values = serde_json::Map::new();
    values.insert("nope".into(), json!(1));
    let err = c
        .put_configuration_values("api", &values)
        .await
        .expect_err("unknown key");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string().contains("Unknown [configuration] fields"),
        "{err}"
    );

    c.put_connector_error("api", Some("database unreachable"))
        .await?;
    let got = c.get_connector("api").await?.expect("connector");
    assert_eq!(got.status, Some(ConnectorStatus::Error));
    assert_eq!(got.error.as_deref(), Some("database unreachable"));
    c.put_connector_error("api", None).await?;
    assert_eq!(
        c.get_connector("api").await?.and_then(|c| c.status),
        Some(ConnectorStatus::Connected)
    );
    // ES validates `_status` transitions (connected → configured is allowed).
    c.put_connector_status("api", ConnectorStatus::Configured)
        .await?;
    let bad = c
        .put_connector_status("api", ConnectorStatus::Created)
        .await
        .expect_err("configured → created is not a transition");
    assert_eq!(bad.status(), Some(400), "{bad}");

    c.put_last_sync(
        "api",
        &LastSync {
            last_sync_status: Some(JobStatus::Completed),
            last_sync_error: Some(None),
            last_synced: Some("2026-12-01T10:00:00.000Z".into()),
            last_indexed_document_count: Some(622),
            last_deleted_document_count: Some(0),
            ..Default::default()
        },
    )
    .await?;
    let got = c.get_connector("api").await?.expect("connector");
    assert_eq!(got.last_sync_status, Some(JobStatus::Completed));
    assert_eq!(got.last_indexed_document_count, Some(622));
    assert!(got.last_synced.is_some());

    // Draft rules: validate, then activate.
    c.request_json(
        reqwest::Method::PUT,
        "/_connector/api/_filtering",
        Some(&json!({"rules": [{"id": "r1", "policy": "exclude", "field": "a", "rule": "equals", "value": "x", "order": 0}]})),
    )
    .await?;
    let err = c
        .activate_filtering("api")
        .await
        .expect_err("draft is `edited`");
    assert_eq!(err.status(), Some(400), "{err}");
    c.put_filtering_validation(
        "api",
        &FilteringValidation {
            state: "valid".into(),
            errors: vec![],
        },
    )
    .await?;
    c.activate_filtering("api").await?;
    let got = c.get_connector("api").await?.expect("connector");
    assert_eq!(got.filtering[0].draft.validation.state, "valid");
    assert_eq!(got.filtering[0].active.validation.state, "valid");
    assert_eq!(got.filtering[0].active.rules[0].id, "r1");
    Ok(())
}

#[tokio::test]
async fn every_sync_job_api_call_round_trips() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "jobs", "jobs-index").await?;
    let first = c
        .create_sync_job("jobs", JobType::Full, TriggerMethod::Scheduled)
        .await?;
    let second = c
        .create_sync_job("jobs", JobType::Incremental, TriggerMethod::OnDemand)
        .await?;

    let list = c.list_sync_jobs(Some("jobs"), None, &[], 0, 100).await?;
    assert_eq!(list.count, 2);
    // Newest first.
    assert_eq!(list.results[0].id, second);
    let only_full = c
        .list_sync_jobs(
            Some("jobs"),
            Some(JobStatus::Pending),
            &[JobType::Full],
            0,
            10,
        )
        .await?;
    assert_eq!(only_full.results.len(), 1);
    assert_eq!(
        only_full.results[0].trigger_method,
        TriggerMethod::Scheduled
    );

    // `_error` on a pending job is refused by ES's state machine.
    let err = c
        .put_sync_job_error(&first, "boom")
        .await
        .expect_err("pending → error");
    assert_eq!(err.status(), Some(400), "{err}");

    // The API claim (not safe across hosts, but it must work) and the cursor.
    c.claim_sync_job_api(&second, "host-a", Some(&json!({"ts": "x"})))
        .await?;
    let j = c.get_sync_job(&second).await?.expect("job");
    assert_eq!(j.status, JobStatus::InProgress);
    assert_eq!(j.connector.sync_cursor, Some(json!({"ts": "x"})));
    c.put_sync_job_error(&second, "source failed").await?;
    let j = c.get_sync_job(&second).await?.expect("job");
    assert_eq!(
        (j.status, j.error.as_deref()),
        (JobStatus::Error, Some("source failed"))
    );

    // Cancel of a pending job is immediate.
    c.cancel_sync_job(&first).await?;
    assert_eq!(
        c.get_sync_job(&first).await?.map(|j| j.status),
        Some(JobStatus::Canceled)
    );

    // Stats with a negative-free body; an unknown job is a 404 with ES's reason.
    let err = c.check_in_sync_job("missing").await.expect_err("404");
    assert!(err.is_not_found());
    assert!(err.to_string().contains("missing"), "{err}");
    // Jobs of unknown connectors cannot be created.
    let err = c
        .create_sync_job("ghost", JobType::Full, TriggerMethod::OnDemand)
        .await
        .expect_err("no such connector");
    assert!(err.is_not_found(), "{err}");
    Ok(())
}

#[tokio::test]
async fn suspended_jobs_are_claimable_with_a_cursor() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "s", "s-index").await?;
    let id = c
        .create_sync_job("s", JobType::Incremental, TriggerMethod::OnDemand)
        .await?;
    let job = c.get_job_doc(&id).await?.expect("job");
    let upd = c
        .update_job_doc(&id, &json!({"status": "suspended"}), Some(job.version()))
        .await?;
    assert!(upd.seq_no > job.seq_no);
    let job = c.get_job_doc(&id).await?.expect("job");
    assert_eq!(job.doc.status, JobStatus::Suspended);
    let claimed = c
        .claim_job(&job, "host-a", Some(&json!({"last": 5})))
        .await?
        .expect("claimable");
    assert_eq!(claimed.doc.status, JobStatus::InProgress);
    assert_eq!(claimed.doc.connector.sync_cursor, Some(json!({"last": 5})));
    // The returned version is current: a conditional write with it succeeds.
    c.update_job_doc(
        &id,
        &json!({"status": "completed"}),
        Some(claimed.version()),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() -> R {
    let es = sim().await?;
    let slow = Client::new(&ClientConfig {
        request_timeout: Duration::from_millis(100),
        max_retries: 2,
        ..config(&es.url())
    })?;
    slow.prepare_index("slow").await?;
    es.set_faults(es_sim::Faults {
        latency_ms: 400,
        ..Default::default()
    });
    let err = slow
        .send_bulk("slow", None, &[doc_op(1)])
        .await
        .expect_err("too slow");
    assert!(
        matches!(err, EsError::Transport { timeout: true, .. }),
        "{err}"
    );
    assert!(err.is_transient());

    // retry_on_timeout: false → the first timeout is final.
    let no_retry = Client::new(&ClientConfig {
        request_timeout: Duration::from_millis(100),
        retry_on_timeout: false,
        max_retries: 5,
        ..config(&es.url())
    })?;
    let started = std::time::Instant::now();
    assert!(no_retry
        .send_bulk("slow", None, &[doc_op(1)])
        .await
        .is_err());
    assert!(started.elapsed() < Duration::from_millis(350));
    Ok(())
}

#[tokio::test]
async fn waits_until_elasticsearch_comes_up() -> R {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let url = format!("http://{addr}");
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        es_sim::Server::start_on(addr, es_sim::Options::default()).await
    });
    let info = client(&url)
        .wait_for_elasticsearch(50, Duration::from_millis(50))
        .await?;
    assert_eq!(info.major(), Some(9));
    let _server = starter.await??;
    Ok(())
}

#[test]
fn ca_certs_are_read_and_checked() {
    let mut es = config("https://localhost:9200");
    es.ca_certs = Some("/nonexistent/ca.pem".into());
    let err = Client::new(&es).expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    es.ca_certs = Some(junk);
    assert!(Client::new(&es).is_err());

    let system = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    if system.exists() {
        es.ca_certs = Some(system.into());
        Client::new(&es).expect("a real CA bundle is accepted");
    }
    es.ca_certs = None;
    es.verify_certs = false;
    Client::new(&es).expect("verify_certs: false builds");
}

#[tokio::test]
async fn read_modify_write_retries_conflicts() -> R {
    let es = sim().await?;
    let c = client(&es.url());
    connector(&c, "cas", "cas-index").await?;
    let url = es.url();
    let mut calls = 0;
    let written = c
        .update_connector_cas("cas", |conn| {
            calls += 1;
            // The first time, someone else writes between our read and our write
            // (on a runtime of its own: this closure is synchronous).
            if calls == 1 {
                let url = url.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Runtime::new().expect("runtime");
                    rt.block_on(client(&url).update_connector_doc(
                        "cas",
                        &json!({"description": "changed meanwhile"}),
                        None,
                    ))
                })
                .join()
                .expect("thread")
                .expect("concurrent write");
            }
            Some(json!({"name": format!("{} (seen {calls})", conn.name.clone().unwrap_or_default())}))
        })
        .await?;
    assert!(written.is_some());
    assert_eq!(calls, 2);
    let got = c.get_connector("cas").await?.expect("connector");
    assert_eq!(got.name.as_deref(), Some("Music catalog (seen 2)"));
    assert_eq!(got.description.as_deref(), Some("changed meanwhile"));
    // Nothing to write → no write; missing connector → None.
    assert!(c.update_connector_cas("cas", |_| None).await?.is_none());
    assert!(c
        .update_connector_cas("ghost", |_| Some(json!({})))
        .await?
        .is_none());
    Ok(())
}
