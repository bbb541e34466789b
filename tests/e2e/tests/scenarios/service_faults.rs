//! A 100k-row sync while es-sim misbehaves on `_bulk`: per-item 429s, whole-request
//! 429s and 503s, and connections dropped without an answer. The final index
//! equals the source and the counters are exact.

use std::time::Duration;

use tributary_e2e::harness::{Db, EsSim, Workdir};

const ROWS: u64 = 100_000;

#[test]
fn bulk_faults_during_a_100k_row_sync_lose_and_double_count_nothing() {
    let db = Db::empty("e2e_faults");
    db.generated_table("big", ROWS);
    let sim = EsSim::start(&[
        "--bulk-item-429-rate",
        "0.05",
        "--request-429-rate",
        "0.03",
        "--request-503-rate",
        "0.03",
        "--drop-connection-rate",
        "0.02",
        "--seed",
        "7",
    ]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("pg-faults", "big-faults", "postgresql");
    // Whole requests are retried by the client (elasticsearch.max_retries attempts,
    // short delays here); items by the sync (more per-item retries than the default 5,
    // so an unlucky item among 5% per-item 429s does not exhaust them).
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("pg-faults", "postgresql")],
        "elasticsearch.max_retries: 8\nelasticsearch.initial_backoff_duration: 0.05\nsync:\n  bulk_max_retries: 10\n",
    );
    let host = work.run("tributary", &config);
    es.wait_schema("pg-faults");
    es.configure("pg-faults", db.values("big"));

    let job_id = es.create_full_job("pg-faults");
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(300),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(40)
    );
    assert_eq!(job["indexed_document_count"], ROWS, "job: {job}");
    assert_eq!(job["deleted_document_count"], 0, "job: {job}");
    assert_eq!(job["total_document_count"], ROWS, "job: {job}");
    assert!(job["error"].is_null(), "job: {job}");
    // ~100 bytes per row: several MiB (the volume is reported in whole MiB).
    assert!(
        job["indexed_document_volume"].as_u64().unwrap_or(0) >= 5,
        "indexed_document_volume (MiB): {job}"
    );
    assert_eq!(es.count("big-faults"), ROWS, "the index equals the source");
    let ids: Vec<String> = [1u64, 2, 999, 1000, 1001, 33_333, 50_000, 99_999, ROWS]
        .iter()
        .map(|i| format!("{}_public_big_{i}", db.name))
        .collect();
    assert_eq!(
        es.exists("big-faults", &ids),
        vec![true; ids.len()],
        "{ids:?}"
    );
    // The faults were met and retried (else this test proves nothing). Which
    // requests draw a fault depends on timing, so ask for two kinds of three.
    let log = host.log();
    let seen = [
        log.contains("status=429"),
        log.contains("status=503"),
        log.contains("connection closed"),
    ];
    assert!(
        seen.iter().filter(|s| **s).count() >= 2 && log.contains("retrying"),
        "faults seen (429, 503, dropped): {seen:?}\n{}",
        host.log_tail(40)
    );
}
