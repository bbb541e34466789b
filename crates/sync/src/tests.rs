//! End-to-end tests of `run_sync` over the in-memory source and target.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::memory::{make_doc, MemorySource, MemoryTarget};
use super::rules::{BasicRule, Policy, RuleKind};
use super::*;
use crate::document::{Document, Operation, Value};

const INDEX: &str = "music";
const JOB: &str = "job-2";

fn settings() -> SyncSettings {
    SyncSettings {
        bulk_max_docs: 10,
        item_backoff: Backoff::doubling(Duration::from_millis(1), Duration::from_millis(4)),
        ..SyncSettings::default()
    }
}

fn spec(job_type: JobType) -> SyncJobSpec {
    SyncJobSpec {
        job_id: JOB.into(),
        connector_id: "c1".into(),
        index_name: INDEX.into(),
        job_type,
        pipeline: PipelineSettings {
            name: "my-pipeline".into(),
            extract_binary_content: true,
            reduce_whitespace: false,
            run_ml_inference: true,
        },
        basic_rules: Vec::new(),
        settings: settings(),
    }
}

fn track(i: usize) -> Document {
    make_doc(
        &format!("d{i}"),
        Operation::Index,
        &[
            ("name", Value::Text(format!("Track {i}"))),
            ("n", Value::I64(i as i64)),
            ("id", Value::Text("source-id-is-overwritten".into())),
        ],
    )
}

fn tracks(n: usize, per_batch: usize) -> MemorySource {
    MemorySource::generated(n, per_batch, track)
}

async fn run(
    spec: &SyncJobSpec,
    source: &mut MemorySource,
    target: &Arc<MemoryTarget>,
) -> SyncOutcome {
    let (tx, _rx) = watch::channel(SyncStats::default());
    let target: Arc<dyn BulkTarget> = target.clone();
    run_sync(spec, source, target, &tx, &CancellationToken::new()).await
}

fn old_doc(id: &str) -> serde_json::Value {
    json!({"id": id, "name": "old", SYNC_STAMP_FIELD: "job-1"})
}

#[tokio::test]
async fn full_sync_writes_elastic_body_counts_exactly_and_deletes_stale() {
    let target = MemoryTarget::new();
    for id in ["d1", "d2", "gone-1", "gone-2"] {
        target.insert(INDEX, id, old_doc(id));
    }
    let mut source = tracks(25, 7).with_cursor(r#"{"ts":"x"}"#);
    let out = run(&spec(JobType::Full), &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 25);
    assert_eq!(
        out.stats.deleted_document_count, 2,
        "gone-1 and gone-2 are stale"
    );
    assert_eq!(out.stats.total_document_count, 25);
    assert_eq!(out.stats.error_count, 0);
    assert_eq!(out.cursor.as_deref(), Some(r#"{"ts":"x"}"#));
    assert!(target.doc(INDEX, "gone-1").is_none());
    assert_eq!(target.ids(INDEX).len(), 25);
    // 25 docs, 10 per request.
    assert_eq!(target.bulk_calls(), 3);
    assert!(target
        .pipelines()
        .iter()
        .all(|p| p.as_deref() == Some("my-pipeline")));

    let body = target.doc(INDEX, "d1").unwrap();
    assert_eq!(
        body["id"], "d1",
        "body id = _id, replacing the source's own `id`"
    );
    assert_eq!(body["name"], "Track 1");
    assert_eq!(body["_extract_binary_content"], true);
    assert_eq!(body["_reduce_whitespace"], false);
    assert_eq!(body["_run_ml_inference"], true);
    assert_eq!(body[SYNC_STAMP_FIELD], JOB);
    let ts = body["_timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");

    // Volume: exact body bytes of what was indexed.
    let bytes: usize = target
        .ids(INDEX)
        .iter()
        .map(|id| {
            serde_json::to_vec(&target.doc(INDEX, id).unwrap())
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(out.stats.indexed_document_bytes, bytes as u64);
    assert_eq!(
        out.stats.indexed_document_volume, 0,
        "a few KB round to 0 MiB"
    );
}

#[tokio::test]
async fn source_timestamp_is_kept_and_long_ids_are_hashed() {
    let target = MemoryTarget::new();
    let long = "L".repeat(600);
    let mut d = make_doc(&long, Operation::Index, &[("x", Value::I64(1))]);
    d.timestamp = Some("2023-02-21T08:37:15+00:00".into());
    let mut source = MemorySource::new(vec![vec![d]]);
    let out = run(&spec(JobType::Full), &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    let hashed = effective_id(&long).into_owned();
    assert_eq!(hashed.len(), 32);
    let body = target.doc(INDEX, &hashed).expect("stored under the MD5 id");
    assert_eq!(body["id"], hashed.as_str());
    assert_eq!(body["_timestamp"], "2023-02-21T08:37:15+00:00");
}

#[tokio::test]
async fn retryable_items_are_retried_and_counted_once() {
    let target = MemoryTarget::new();
    target.fail_item("d3", 429, "es_rejected_execution_exception", 2);
    target.fail_item("d4", 503, "unavailable_shards_exception", 1);
    let mut source = tracks(20, 20);
    let out = run(&spec(JobType::Full), &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 20);
    assert_eq!(out.stats.retried_item_count, 3);
    assert_eq!(out.stats.error_count, 0);
    assert_eq!(target.attempts("d3"), 3);
    assert_eq!(target.attempts("d4"), 2);
    assert_eq!(target.attempts("d5"), 1, "only failed items are re-sent");
    assert_eq!(out.stats.total_document_count, 20);
}

#[tokio::test]
async fn exhausted_retries_and_permanent_errors_count_as_errors() {
    let target = MemoryTarget::new();
    target.fail_item("d3", 503, "unavailable_shards_exception", 3);
    target.fail_item("d7", 400, "mapper_parsing_exception", 1);
    let mut s = spec(JobType::Full);
    s.settings.bulk_max_retries = 2;
    let mut source = tracks(20, 20);
    let out = run(&s, &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok, "2 errors are within the budget");
    assert_eq!(out.stats.indexed_document_count, 18);
    assert_eq!(out.stats.error_count, 2);
    // 1 try + 2 retries, then the protective stamp (which created a stub: there was
    // no previous copy) and the stub's deletion.
    assert_eq!(target.attempts("d3"), 5);
    assert_eq!(
        target.attempts("d7"),
        3,
        "400 is not retried (then stamp + stub delete)"
    );
    assert!(target.doc(INDEX, "d3").is_none() && target.doc(INDEX, "d7").is_none());
    assert_eq!(out.stats.total_document_count, 18);
}

#[tokio::test]
async fn error_budget_trips_with_a_clear_reason_and_no_stale_deletion() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "live", old_doc("live"));
    target.fail_items_where(|op| {
        (op.id != "d0").then(|| {
            (
                400,
                "mapper_parsing_exception".into(),
                format!("bad field in {}", op.id),
            )
        })
    });
    let mut source = tracks(100, 10);
    let out = run(&spec(JobType::Full), &mut source, &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(reason.contains("Too many document errors"), "{reason}");
    assert!(reason.contains("consecutive"), "{reason}");
    assert!(reason.contains("mapper_parsing_exception"), "{reason}");
    assert!(reason.contains("'d11'"), "names the last errors: {reason}");
    assert_eq!(out.stats.indexed_document_count, 1);
    assert!(out.stats.error_count >= 11);
    assert_eq!(
        target.admin_calls().2,
        0,
        "no delete_where_not after a failure"
    );
    assert!(target.doc(INDEX, "live").is_some());
    assert_eq!(out.cursor, None);
}

#[tokio::test]
async fn a_failed_request_fails_the_job_the_target_retried_it_already() {
    // Whole requests are retried by the target (the Elasticsearch client's one retry
    // policy): an error that reaches the sync is final, whatever its kind.
    for error in [
        TargetError::Transient("503 Service Unavailable (after 5 attempts)".into()),
        TargetError::Fatal("401 Unauthorized: bad api key".into()),
    ] {
        let target = MemoryTarget::new();
        target.insert(INDEX, "live", old_doc("live"));
        target.fail_next_requests([match &error {
            TargetError::Transient(m) => TargetError::Transient(m.clone()),
            TargetError::Fatal(m) => TargetError::Fatal(m.clone()),
        }]);
        let mut source = tracks(5, 5);
        let out = run(&spec(JobType::Full), &mut source, &target).await;
        let SyncResult::Failed(reason) = &out.result else {
            panic!("{:?}", out.result)
        };
        assert!(reason.contains(&error.to_string()), "{reason}");
        assert_eq!(target.bulk_calls(), 1, "the sync does not send it again");
        assert!(
            target.doc(INDEX, "live").is_some(),
            "no stale deletion after failure"
        );
    }
}

#[tokio::test]
async fn source_failure_keeps_exact_counts_and_live_data() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "live", old_doc("live"));
    let batches: Vec<Result<Vec<Document>, SourceError>> = vec![
        Ok((0..10).map(track).collect()),
        Ok((10..20).map(track).collect()),
        Err(SourceError::Plugin(
            "plugin 'postgresql' trapped: out of fuel".into(),
        )),
    ];
    let mut source = MemorySource::from_batches(batches.into_iter());
    let out = run(&spec(JobType::Full), &mut source, &target).await;
    assert_eq!(
        out.result,
        SyncResult::Failed("plugin 'postgresql' trapped: out of fuel".into())
    );
    // The 20 docs already dispatched were allowed to finish.
    assert_eq!(out.stats.indexed_document_count, 20);
    assert_eq!(target.ids(INDEX).len(), 21);
    assert!(target.doc(INDEX, "live").is_some());
}

#[tokio::test]
async fn cancel_stops_within_seconds_without_stale_deletion() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "live", old_doc("live"));
    target.set_latency(Duration::from_millis(20));
    let mut source = tracks(1_000_000, 100);
    let s = SyncJobSpec {
        settings: SyncSettings {
            bulk_max_docs: 100,
            ..settings()
        },
        ..spec(JobType::Full)
    };
    let (tx, rx) = watch::channel(SyncStats::default());
    let cancel = CancellationToken::new();
    let canceler = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let dyn_target: Arc<dyn BulkTarget> = target.clone();
    let out = run_sync(&s, &mut source, dyn_target, &tx, &cancel).await;
    canceler.await.unwrap();
    assert_eq!(out.result, SyncResult::Canceled);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(target.admin_calls().2, 0);
    assert!(target.doc(INDEX, "live").is_some());
    // Counters match what reached the index (in-flight requests finished).
    let written = target.ids(INDEX).len() as u64 - 1;
    assert!(written > 0 && written < 1_000_000);
    assert_eq!(out.stats.indexed_document_count, written);
    assert_eq!(*rx.borrow(), out.stats);
    assert_eq!(out.cursor, None);
}

#[tokio::test]
async fn source_is_pulled_only_as_fast_as_the_target_accepts() {
    let target = MemoryTarget::new();
    target.set_latency(Duration::from_millis(5));
    let (docs, per_pull, bulk, concurrency) = (3000usize, 50usize, 100usize, 2usize);
    let mut source = tracks(docs, per_pull).watch_lead(target.clone());
    let probe = source.probe();
    let s = SyncJobSpec {
        settings: SyncSettings {
            bulk_max_docs: bulk,
            bulk_concurrency: concurrency,
            ..settings()
        },
        ..spec(JobType::Full)
    };
    let out = run(&s, &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, docs as u64);
    assert_eq!(
        probe.batches.load(Ordering::SeqCst),
        (docs / per_pull) as u64
    );
    let lead = probe.max_lead.load(Ordering::SeqCst);
    // In flight + the partial batch: never more than (concurrency + 1) bulks ahead.
    assert!(
        lead <= ((concurrency + 1) * bulk) as u64,
        "source ran {lead} docs ahead"
    );
    assert!(lead >= bulk as u64, "the probe measures something: {lead}");
    assert_eq!(
        target.max_in_flight(),
        concurrency,
        "requests overlap, bounded"
    );
}

#[tokio::test]
async fn incremental_applies_ops_without_stale_deletion() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "a", json!({"id": "a", "name": "A", "plays": 1}));
    target.insert(INDEX, "b", json!({"id": "b", "name": "B"}));
    target.insert(INDEX, "c", json!({"id": "c", "name": "C"}));
    let batch = vec![
        make_doc("a", Operation::Update, &[("plays", Value::I64(2))]),
        make_doc("b", Operation::Delete, &[]),
        make_doc("zzz", Operation::Delete, &[]),
        make_doc("d", Operation::Index, &[("name", Value::Text("D".into()))]),
    ];
    let mut source = MemorySource::new(vec![batch]).with_cursor("cursor-2");
    let out = run(&spec(JobType::Incremental), &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 2);
    assert_eq!(out.stats.deleted_document_count, 1);
    assert_eq!(out.stats.delete_not_found_count, 1);
    assert_eq!(
        out.stats.error_count, 0,
        "deleting a missing id is not an error"
    );
    assert_eq!(out.stats.total_document_count, 3);
    assert_eq!(out.cursor.as_deref(), Some("cursor-2"));
    assert_eq!(target.admin_calls().2, 0, "no stale deletion");
    let a = target.doc(INDEX, "a").unwrap();
    assert_eq!(
        (a["name"].clone(), a["plays"].clone()),
        (json!("A"), json!(2)),
        "partial update merged"
    );
    assert!(target.doc(INDEX, "c").is_some());
    assert!(target
        .doc(INDEX, "d")
        .unwrap()
        .get(SYNC_STAMP_FIELD)
        .is_none());
}

#[tokio::test]
async fn incremental_cursor_only_on_success() {
    let target = MemoryTarget::new();
    let batches: Vec<Result<Vec<Document>, SourceError>> = vec![
        Ok(vec![track(1)]),
        Err(SourceError::Source("connection refused".into())),
    ];
    let mut source = MemorySource::from_batches(batches.into_iter()).with_cursor("never");
    let out = run(&spec(JobType::Incremental), &mut source, &target).await;
    assert!(matches!(out.result, SyncResult::Failed(ref r) if r == "connection refused"));
    assert_eq!(out.cursor, None);
}

#[tokio::test]
async fn access_control_is_refused_up_front() {
    let target = MemoryTarget::new();
    let mut source = tracks(3, 3);
    let out = run(&spec(JobType::AccessControl), &mut source, &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(reason.contains("access_control"), "{reason}");
    assert_eq!(target.admin_calls(), (0, 0, 0));
    assert_eq!(source.probe().batches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn basic_rules_filter_documents_and_bad_regex_fails_the_job() {
    let target = MemoryTarget::new();
    let mut s = spec(JobType::Full);
    s.basic_rules = vec![
        BasicRule {
            id: "keep-d1x".into(),
            order: 0.0,
            policy: Policy::Include,
            field: "id".into(),
            rule: RuleKind::Regex,
            value: "d1".into(),
        },
        BasicRule {
            id: "drop-small".into(),
            order: 1.0,
            policy: Policy::Exclude,
            field: "n".into(),
            rule: RuleKind::LessThan,
            value: "15".into(),
        },
    ];
    let mut source = tracks(20, 5);
    let out = run(&s, &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    // Included: d1, d10..d19 (regex prefix "d1"), d15..d19 anyway; dropped: d0, d2..d9.
    assert_eq!(out.stats.filtered_document_count, 9);
    assert_eq!(out.stats.indexed_document_count, 11);
    assert!(target.doc(INDEX, "d2").is_none());
    assert!(target.doc(INDEX, "d12").is_some());

    s.basic_rules[0].value = "d(".into();
    let target = MemoryTarget::new();
    let out = run(&s, &mut tracks(3, 3), &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(reason.contains("keep-d1x"), "{reason}");
    assert_eq!(target.bulk_calls(), 0);
}

#[tokio::test]
async fn progress_is_published_per_bulk() {
    let target = MemoryTarget::new();
    let (tx, mut rx) = watch::channel(SyncStats::default());
    let seen = tokio::spawn(async move {
        let mut counts = Vec::new();
        while rx.changed().await.is_ok() {
            counts.push(rx.borrow_and_update().indexed_document_count);
        }
        counts
    });
    let mut source = tracks(50, 10).with_delay(Duration::from_millis(2));
    let dyn_target: Arc<dyn BulkTarget> = target.clone();
    let out = run_sync(
        &spec(JobType::Full),
        &mut source,
        dyn_target,
        &tx,
        &CancellationToken::new(),
    )
    .await;
    drop(tx);
    let counts = seen.await.unwrap();
    assert_eq!(out.stats.indexed_document_count, 50);
    assert!(counts.len() >= 3, "several progress updates: {counts:?}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&50));
}

#[tokio::test]
async fn counters_stay_exact_under_mixed_faults() {
    let target = MemoryTarget::new();
    for i in (0..2000).step_by(7) {
        target.fail_item(
            &format!("d{i}"),
            if i % 2 == 0 { 429 } else { 502 },
            "injected",
            1 + i % 3,
        );
    }
    for i in 0..100 {
        target.insert(INDEX, &format!("stale-{i}"), old_doc("x"));
    }
    let s = SyncJobSpec {
        settings: SyncSettings {
            bulk_max_docs: 64,
            bulk_concurrency: 3,
            ..settings()
        },
        ..spec(JobType::Full)
    };
    let mut source = tracks(2000, 100);
    let out = run(&s, &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 2000);
    assert_eq!(out.stats.error_count, 0);
    assert_eq!(out.stats.deleted_document_count, 100);
    assert_eq!(out.stats.total_document_count, 2000);
    assert_eq!(target.ids(INDEX).len(), 2000);
}

#[tokio::test]
async fn stale_deletion_or_count_failure_fails_the_job() {
    let target = MemoryTarget::new();
    target.fail_delete_where_not(TargetError::Fatal(
        "search_phase_execution_exception".into(),
    ));
    let out = run(&spec(JobType::Full), &mut tracks(3, 3), &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(
        reason.starts_with("Stale document deletion of index 'music' failed"),
        "{reason}"
    );
    assert_eq!(out.stats.indexed_document_count, 3);
    assert_eq!(out.cursor, None);
}

#[test]
fn spec_from_job_document() {
    let job = json!({
        "job_type": "incremental",
        "connector": {
            "id": "my-connector-id",
            "index_name": "music",
            "pipeline": {"name": "p", "extract_binary_content": false, "reduce_whitespace": true, "run_ml_inference": false},
            "filtering": {
                "rules": [
                    {"id": "1", "order": 1, "policy": "exclude", "field": "name", "rule": "equals", "value": "x"},
                    {"id": "DEFAULT", "order": 0, "policy": "include", "field": "_", "rule": "regex", "value": ".*"}
                ],
                "advanced_snippet": {"value": {}},
                "validation": {"state": "valid", "errors": []}
            }
        }
    });
    let s = SyncJobSpec::from_job_document("j1", &job, SyncSettings::default()).unwrap();
    assert_eq!(
        (s.job_id.as_str(), s.index_name.as_str(), s.job_type),
        ("j1", "music", JobType::Incremental)
    );
    assert_eq!(s.pipeline.name, "p");
    assert!(!s.pipeline.extract_binary_content);
    assert_eq!(s.basic_rules.len(), 2);

    let bare = json!({"connector": {"index_name": "music"}});
    let s = SyncJobSpec::from_job_document("j2", &bare, SyncSettings::default()).unwrap();
    assert_eq!(s.job_type, JobType::Full);
    assert_eq!(s.pipeline, PipelineSettings::default());
    assert!(s.basic_rules.is_empty());

    let legacy = json!({"connector": {"index_name": "m", "filtering": [{"active": {"rules": [
        {"id": "1", "order": 1, "policy": "include", "field": "a", "rule": "contains", "value": "x"}]}}]}});
    assert_eq!(
        SyncJobSpec::from_job_document("j", &legacy, SyncSettings::default())
            .unwrap()
            .basic_rules
            .len(),
        1
    );

    assert_eq!(
        SyncJobSpec::from_job_document("j", &json!({"connector": {}}), SyncSettings::default())
            .unwrap_err(),
        SpecError::MissingIndex
    );
    assert!(matches!(
        SyncJobSpec::from_job_document(
            "j",
            &json!({"job_type": "weird", "connector": {"index_name": "m"}}),
            SyncSettings::default()
        ),
        Err(SpecError::UnknownJobType(_))
    ));
}

#[tokio::test]
async fn oversized_documents_are_dropped_not_sent() {
    let target = MemoryTarget::new();
    let big = make_doc(
        "big",
        Operation::Index,
        &[("body", Value::Text("x".repeat(5000)))],
    );
    let mut s = spec(JobType::Incremental);
    s.settings.max_document_bytes = 4096;
    let mut source = MemorySource::new(vec![vec![
        big,
        make_doc("", Operation::Index, &[]),
        track(1),
        make_doc("gone", Operation::Delete, &[]),
    ]]);
    let out = run(&s, &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.oversized_document_count, 1);
    assert_eq!(out.stats.skipped_document_count, 1, "empty id");
    assert_eq!(out.stats.indexed_document_count, 1);
    assert_eq!(
        out.stats.delete_not_found_count, 1,
        "deletes are never dropped"
    );
    assert!(target.doc(INDEX, "big").is_none());
}

#[tokio::test]
async fn failed_documents_keep_their_previous_copy_in_a_full_sync() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "d7", old_doc("d7"));
    target.insert(INDEX, "stale", old_doc("stale"));
    target.fail_item("d7", 400, "mapper_parsing_exception", 1);
    target.fail_item("d8", 400, "mapper_parsing_exception", 1);
    let out = run(&spec(JobType::Full), &mut tracks(10, 10), &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 8);
    assert_eq!(out.stats.error_count, 2);
    assert!(
        target.doc(INDEX, "d8").is_none(),
        "no previous copy: no stub left behind"
    );
    assert_eq!(
        out.stats.deleted_document_count, 1,
        "only the truly stale one"
    );
    let d7 = target
        .doc(INDEX, "d7")
        .expect("the source still has d7: its old copy stays");
    assert_eq!(d7["name"], "old");
    assert_eq!(d7[SYNC_STAMP_FIELD], JOB);
    assert!(target.doc(INDEX, "stale").is_none());
    assert_eq!(out.stats.total_document_count, 9);
}

#[tokio::test]
async fn unprotectable_failures_skip_stale_deletion_and_fail() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "d7", old_doc("d7"));
    target.insert(INDEX, "stale", old_doc("stale"));
    target.fail_item("d7", 400, "mapper_parsing_exception", 1);
    target.fail_item("d7", 403, "cluster_block_exception", 1);
    let out = run(&spec(JobType::Full), &mut tracks(10, 10), &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(
        reason.contains("could not be protected") && reason.contains("cluster_block_exception"),
        "{reason}"
    );
    assert!(target.doc(INDEX, "stale").is_some(), "nothing deleted");
    assert!(target.doc(INDEX, "d7").is_some());
    assert_eq!(target.admin_calls().2, 0);
}

#[tokio::test]
async fn unchanged_update_is_a_noop_not_an_index() {
    let target = MemoryTarget::new();
    let body = json!({
        "id": "a", "plays": 2, "_timestamp": "2024-01-01T00:00:00+00:00",
        "_extract_binary_content": true, "_reduce_whitespace": false, "_run_ml_inference": true
    });
    target.insert(INDEX, "a", body);
    let mut d = make_doc("a", Operation::Update, &[("plays", Value::I64(2))]);
    d.timestamp = Some("2024-01-01T00:00:00+00:00".into());
    let mut source = MemorySource::new(vec![vec![d]]);
    let out = run(&spec(JobType::Incremental), &mut source, &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.noop_document_count, 1);
    assert_eq!(out.stats.indexed_document_count, 0);
    assert_eq!(out.stats.error_count, 0);
}

// ---- issue 10: retries that do not block the pipe, honest outcomes, guarded deletion

#[tokio::test]
async fn rejected_items_wait_outside_the_bulk_slots() {
    // One item of each of 10 requests is rejected 3 times, 200 ms apart. Holding the
    // slot (one slot here) for those backoffs would take 10 × 600 ms; in the retry
    // queue they overlap with the other requests.
    let target = MemoryTarget::new();
    for b in 0..10 {
        target.fail_item(
            &format!("d{}", b * 10),
            429,
            "es_rejected_execution_exception",
            3,
        );
    }
    let s = SyncJobSpec {
        settings: SyncSettings {
            bulk_max_docs: 10,
            bulk_concurrency: 1,
            rejection_backoff: Backoff::doubling(
                Duration::from_millis(200),
                Duration::from_millis(200),
            ),
            ..settings()
        },
        ..spec(JobType::Full)
    };
    let started = Instant::now();
    let out = run(&s, &mut tracks(100, 10), &target).await;
    let took = started.elapsed();
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 100);
    assert_eq!(out.stats.error_count, 0);
    assert_eq!(out.stats.retried_item_count, 30);
    assert_eq!(out.failures, Failures::default());
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: retries held the slot"
    );
    assert_eq!(target.max_in_flight(), 1, "retries use the same slots");
    assert_eq!(target.attempts("d0"), 4);
    assert_eq!(target.attempts("d1"), 1);
}

#[tokio::test]
async fn random_rejections_lose_nothing() {
    let target = MemoryTarget::new();
    target.fail_items_where(|_| {
        (rand::random::<f64>() < 0.3).then(|| {
            (
                429,
                "es_rejected_execution_exception".into(),
                "rejected execution of coordinating operation".into(),
            )
        })
    });
    let s = SyncJobSpec {
        settings: SyncSettings {
            bulk_max_docs: 50,
            bulk_concurrency: 2,
            ..settings()
        },
        ..spec(JobType::Full)
    };
    let out = run(&s, &mut tracks(3000, 100), &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.indexed_document_count, 3000);
    assert_eq!(out.stats.error_count, 0);
    assert!(out.stats.retried_item_count > 500, "{:?}", out.stats);
    assert_eq!(out.failures.count, 0);
    assert_eq!(target.ids(INDEX).len(), 3000);
}

#[tokio::test]
async fn items_rejected_past_the_timeout_are_reported_not_hidden() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "d3", old_doc("d3"));
    target.insert(INDEX, "stale", old_doc("stale"));
    // d3's index op is rejected forever; its protective stamp (an update) is not.
    target.fail_items_where(|op| {
        (op.id == "d3" && op.action == BulkAction::Index).then(|| {
            (
                429,
                "es_rejected_execution_exception".into(),
                "queue capacity reached".into(),
            )
        })
    });
    let mut s = spec(JobType::Full);
    s.settings.rejection_timeout = Duration::from_millis(100);
    let out = run(&s, &mut tracks(20, 20), &target).await;
    assert_eq!(
        out.result,
        SyncResult::Ok,
        "one failure is within the budget"
    );
    assert_eq!(out.stats.indexed_document_count, 19);
    assert_eq!(out.stats.error_count, 1);
    assert_eq!(out.failures.count, 1);
    assert_eq!(out.failures.first.len(), 1);
    let reason = &out.failures.first[0];
    assert!(
        reason.contains("'d3'") && reason.contains("429") && reason.contains("still rejected"),
        "{reason}"
    );
    assert!(target.attempts("d3") > 3, "retried until the timeout");
    assert_eq!(
        target.doc(INDEX, "d3").expect("old copy kept")["name"],
        "old"
    );
    assert!(target.doc(INDEX, "stale").is_none());
}

#[tokio::test]
async fn oversized_documents_count_as_failures() {
    let target = MemoryTarget::new();
    let big = make_doc(
        "big",
        Operation::Index,
        &[("body", Value::Text("x".repeat(5000)))],
    );
    let mut s = spec(JobType::Incremental);
    s.settings.max_document_bytes = 4096;
    let out = run(
        &s,
        &mut MemorySource::new(vec![vec![big, track(1)]]),
        &target,
    )
    .await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.failures.count, 1);
    assert!(
        out.failures.first[0].contains("max_document_bytes"),
        "{:?}",
        out.failures
    );
}

#[tokio::test]
async fn index_recreated_during_a_full_sync_fails_and_deletes_nothing() {
    let target = MemoryTarget::new();
    for i in 0..5 {
        target.insert(INDEX, &format!("old-{i}"), old_doc("x"));
    }
    let before = target.uuid(INDEX).unwrap();
    // The index is deleted just before the 2nd request, which recreates it with a
    // dynamic (text) mapping of the stamp: the situation that once emptied an index.
    target.delete_index_at_bulk_call(INDEX, 2);
    let out = run(&spec(JobType::Full), &mut tracks(30, 10), &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(
        reason.contains("deleted and recreated while the sync ran")
            && reason.contains(&before)
            && reason.contains("Stale documents were not deleted")
            && reason.contains("Run a full sync again"),
        "{reason}"
    );
    assert_eq!(target.admin_calls().2, 0, "no delete_where_not");
    assert_eq!(
        target.ids(INDEX).len(),
        20,
        "what was written after the recreation stays"
    );
    assert_eq!(out.stats.indexed_document_count, 30);
    assert_eq!(out.cursor, None);

    // The next full sync refills it and deletes stale documents through the text
    // stamp's keyword sub-field, after checking it finds every document it wrote.
    target.insert(INDEX, "stale", old_doc("stale"));
    target.set_stamp_mapping(INDEX, "text", true);
    let out = run(&spec(JobType::Full), &mut tracks(30, 10), &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.deleted_document_count, 1);
    assert_eq!(target.ids(INDEX).len(), 30);

    // After the user deletes it, a full sync recreates it with the keyword mapping.
    target.delete_index(INDEX);
    let out = run(&spec(JobType::Full), &mut tracks(30, 10), &target).await;
    assert_eq!(out.result, SyncResult::Ok);
    assert_eq!(out.stats.total_document_count, 30);
}

#[tokio::test]
async fn index_recreated_during_an_incremental_sync_is_not_a_success() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "keep", old_doc("keep"));
    target.delete_index_at_bulk_call(INDEX, 2);
    let mut source = tracks(30, 10).with_cursor("{}");
    let out = run(&spec(JobType::Incremental), &mut source, &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(reason.contains("deleted and recreated"), "{reason}");
    assert!(!reason.contains("Stale documents"), "{reason}");
    assert_eq!(out.cursor, None, "the cursor is not advanced");
}

#[tokio::test]
async fn a_stamp_mapped_as_text_without_a_keyword_is_never_used_for_deletion() {
    let target = MemoryTarget::new();
    target.insert(INDEX, "stale", old_doc("stale"));
    target.set_stamp_mapping(INDEX, "text", false);
    let out = run(&spec(JobType::Full), &mut tracks(10, 10), &target).await;
    let SyncResult::Failed(reason) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(
        reason.contains("maps _tributary_sync_id as 'text'")
            && reason.contains("delete index 'music' and run a full sync"),
        "{reason}"
    );
    assert!(target.doc(INDEX, "stale").is_some());
    assert_eq!(target.admin_calls().2, 0);
    assert_eq!(
        out.stats.indexed_document_count, 10,
        "the documents were written"
    );
}

#[test]
fn the_stamp_field_is_chosen_only_when_exact_everywhere() {
    let m = |ty: &str, sub: Option<u64>| StampMapping {
        ty: Some(ty.into()),
        keyword_subfield: sub.map(|n| ("keyword".to_string(), Some(n))),
    };
    let info = |ms: Vec<StampMapping>| IndexInfo {
        uuids: Vec::new(),
        stamps: ms
            .into_iter()
            .enumerate()
            .map(|(i, m)| (format!("i{i}"), m))
            .collect(),
    };
    assert_eq!(
        info(vec![m("keyword", None)]).stamp_field(20),
        StampField::Keyword
    );
    assert_eq!(
        info(vec![m("text", Some(256)), m("text", Some(256))]).stamp_field(20),
        StampField::Subfield("keyword".into())
    );
    // Too short for the stamp, or a mix of kinds behind an alias: no single field.
    assert!(matches!(
        info(vec![m("text", Some(10))]).stamp_field(20),
        StampField::Unusable(_)
    ));
    assert!(matches!(
        info(vec![m("keyword", None), m("text", Some(256))]).stamp_field(20),
        StampField::Unusable(_)
    ));
    assert!(matches!(
        info(vec![StampMapping::default()]).stamp_field(20),
        StampField::Unusable(_)
    ));
}
