//! Stopping a sync in the middle: a user's cancel, and SIGTERM followed by a
//! restart that resumes the suspended job.
//!
//! The sync is made slow enough to stop in the middle with a 120k-row table,
//! small bulk requests and 100 ms of es-sim latency per `_bulk`.

use std::time::Duration;

use tributary_e2e::harness::{assert_timestamp, wait_for, Db, EsSim, Workdir};

const ROWS: u64 = 120_000;
const SLOW_SYNC: &str = "sync:\n  bulk_max_docs: 500\n  bulk_concurrency: 2\n";

fn sample_ids(db: &Db) -> Vec<String> {
    [1, 2, 499, 500, 501, 40_000, 77_777, 119_999, ROWS]
        .iter()
        .map(|i| format!("{}_public_big_{i}", db.name))
        .collect()
}

/// Waits until the job runs and some documents reached the index.
fn wait_until_midway(es: &tributary_e2e::harness::Es, job_id: &str, index: &str) {
    es.wait_job(job_id, &["in_progress"], Duration::from_secs(120));
    wait_for(
        Duration::from_secs(120),
        "the first documents to reach the index",
        || {
            let (s, v) = es.call("GET", &format!("/{index}/_count"), None).ok()?;
            (s == 200 && v["count"].as_u64().unwrap_or(0) > 0).then_some(())
        },
    );
    let job = es.job(job_id);
    assert_eq!(
        job["status"], "in_progress",
        "the sync must still be running to be stopped midway: {job}"
    );
}

#[test]
fn cancel_mid_sync_ends_canceled_with_consistent_counters() {
    let db = Db::empty("e2e_cancel");
    db.generated_table("big", ROWS);
    let sim = EsSim::start(&["--latency-ms", "100"]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("pg-cancel", "big-cancel", "postgresql");
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("pg-cancel", "postgresql")],
        SLOW_SYNC,
    );
    let host = work.run("tributary", &config);
    es.wait_schema("pg-cancel");
    es.configure("pg-cancel", db.values("big"));

    let job_id = es.create_full_job("pg-cancel");
    wait_until_midway(es, &job_id, "big-cancel");
    es.ok(
        "PUT",
        &format!("/_connector/_sync_job/{job_id}/_cancel"),
        None,
    );
    let job = es.wait_job(
        &job_id,
        &["canceled", "completed", "error"],
        Duration::from_secs(30),
    );
    assert_eq!(
        job["status"],
        "canceled",
        "job: {job}\n{}",
        host.log_tail(30)
    );
    assert!(job["error"].is_null(), "a canceled job has no error: {job}");
    assert_timestamp(&job["canceled_at"], "canceled_at");
    assert_timestamp(&job["completed_at"], "completed_at");
    assert_timestamp(&job["cancelation_requested_at"], "cancelation_requested_at");
    let indexed = job["indexed_document_count"]
        .as_u64()
        .expect("indexed_document_count");
    assert!(
        indexed > 0 && indexed < ROWS,
        "stopped midway: indexed {indexed} of {ROWS}"
    );
    assert_eq!(job["deleted_document_count"], 0, "job: {job}");
    let count = es.count("big-cancel");
    assert_eq!(
        count, indexed,
        "every document in the index was counted exactly once (job: {job})"
    );
    assert_eq!(job["total_document_count"], count, "job: {job}");

    let c = es.connector("pg-cancel");
    assert_eq!(c["last_sync_status"], "canceled", "connector: {c}");
    assert!(c["last_sync_error"].is_null(), "connector: {c}");
    assert_eq!(c["last_indexed_document_count"], indexed, "connector: {c}");

    // The service is still alive and runs the next job to completion.
    let next = es.create_full_job("pg-cancel");
    let done = es.wait_job(
        &next,
        &["completed", "error", "canceled"],
        Duration::from_secs(240),
    );
    assert_eq!(
        done["status"],
        "completed",
        "job: {done}\n{}",
        host.log_tail(30)
    );
    assert_eq!(done["indexed_document_count"], ROWS, "job: {done}");
    assert_eq!(es.count("big-cancel"), ROWS);
}

#[test]
fn sigterm_suspends_the_job_and_a_restart_resumes_it() {
    let db = Db::empty("e2e_sigterm");
    db.generated_table("big", ROWS);
    let sim = EsSim::start(&["--latency-ms", "100"]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("pg-term", "big-term", "postgresql");
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("pg-term", "postgresql")],
        SLOW_SYNC,
    );
    let mut first = work.run("tributary-1", &config);
    es.wait_schema("pg-term");
    es.configure("pg-term", db.values("big"));

    let job_id = es.create_full_job("pg-term");
    wait_until_midway(es, &job_id, "big-term");
    first.sigterm();
    let status = first.wait_exit(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "tributary did not exit within 60 s of SIGTERM\n{}",
            first.log_tail(30)
        )
    });
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        first.log_tail(30)
    );
    let job = es.job(&job_id);
    assert_eq!(
        job["status"],
        "suspended",
        "job: {job}\n{}",
        first.log_tail(30)
    );
    assert!(
        job["error"].is_null(),
        "a suspended job has no error: {job}"
    );
    let partial = job["indexed_document_count"].as_u64().unwrap_or(0);
    assert!(partial < ROWS, "SIGTERM stopped the sync midway: {job}");
    let c = es.connector("pg-term");
    assert_eq!(c["last_sync_status"], "suspended", "connector: {c}");

    // A restart picks the suspended job up and completes it.
    let second = work.run("tributary-2", &config);
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(300),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        second.log_tail(40)
    );
    assert_eq!(job["total_document_count"], ROWS, "job: {job}");
    assert_eq!(job["deleted_document_count"], 0, "job: {job}");
    assert!(job["error"].is_null(), "job: {job}");
    assert_eq!(es.count("big-term"), ROWS, "the index equals the source");
    let ids = sample_ids(&db);
    assert_eq!(
        es.exists("big-term", &ids),
        vec![true; ids.len()],
        "sample ids {ids:?}"
    );
    let doc = es
        .doc("big-term", &format!("{}_public_big_77777", db.name))
        .expect("row 77777");
    let title = db.psql("SELECT title FROM big WHERE id = 77777");
    assert_eq!(doc["public_big_title"], title.as_str());
    assert!(
        tributary_e2e::harness::started_job_ids(&second.log()).contains(&job_id),
        "the restarted service ran the suspended job\n{}",
        second.log_tail(40)
    );
    let c = es.connector("pg-term");
    assert_eq!(c["last_sync_status"], "completed", "connector: {c}");
}
