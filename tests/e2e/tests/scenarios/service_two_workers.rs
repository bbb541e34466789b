//! Two `tributary run` processes on the same connectors: every job runs exactly
//! once (claims are conditional updates of the job and connector documents).

use std::collections::HashMap;
use std::time::Duration;

use tributary_e2e::harness::{started_job_ids, wait_for, Db, EsSim, Workdir};

#[test]
fn two_processes_run_every_job_exactly_once() {
    let db = Db::chinook("e2e_workers");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    let connectors = [
        ("music-a", "index-a", "album,artist", 622u64),
        ("music-b", "index-b", "track", 3503),
    ];
    for (id, index, _, _) in connectors {
        es.create_connector(id, index, "postgresql");
    }
    let entries: Vec<(&str, &str)> = connectors.iter().map(|c| (c.0, "postgresql")).collect();
    // Both may run two jobs at once (one per connector).
    let extra = "  max_concurrent_content_syncs: 2\n";
    let config_a = work.config("a.yml", sim.url(), &entries, "");
    let config_b = work.config("b.yml", sim.url(), &entries, "");
    for c in [&config_a, &config_b] {
        // `service:` is the second section of the generated file: append the key there.
        let text = std::fs::read_to_string(c).expect("config");
        let text = text.replacen("service:\n", &format!("service:\n{extra}"), 1);
        std::fs::write(c, text).expect("config");
    }
    let p1 = work.run("worker-1", &config_a);
    let p2 = work.run("worker-2", &config_b);
    for (id, _, tables, _) in connectors {
        es.wait_schema(id);
        es.configure(id, db.values(tables));
    }

    // Both processes are up (each connector is connected) before the jobs exist.
    for (id, ..) in connectors {
        es.wait_connected(id);
    }
    wait_for(
        Duration::from_secs(60),
        "both workers to start their loops",
        || {
            (p1.log().contains("service started") && p2.log().contains("service started"))
                .then_some(())
        },
    );

    // Two jobs per connector, created together: they race for the claims.
    let mut jobs: Vec<(String, &str, u64)> = Vec::new();
    for _ in 0..2 {
        for (id, index, _, rows) in connectors {
            jobs.push((es.create_full_job(id), index, rows));
        }
    }
    for (job_id, index, rows) in &jobs {
        let job = es.wait_job(
            job_id,
            &["completed", "error", "canceled"],
            Duration::from_secs(300),
        );
        assert_eq!(
            job["status"],
            "completed",
            "job {job_id}: {job}\n{}\n{}",
            p1.log_tail(30),
            p2.log_tail(30)
        );
        assert_eq!(job["indexed_document_count"], *rows, "job: {job}");
        assert_eq!(job["total_document_count"], *rows, "job: {job}");
        assert_eq!(job["deleted_document_count"], 0, "job: {job}");
        assert!(job["started_at"].is_string(), "job: {job}");
        assert_eq!(es.count(index), *rows, "{index}/_count");
    }

    // Each job started in exactly one of the two processes, exactly once.
    let mut starts: HashMap<String, Vec<&str>> = HashMap::new();
    let (log1, log2) = (p1.log(), p2.log());
    for (name, log) in [("worker-1", &log1), ("worker-2", &log2)] {
        for id in started_job_ids(log) {
            starts.entry(id).or_default().push(name);
        }
    }
    for (job_id, ..) in &jobs {
        let who = starts.get(job_id).cloned().unwrap_or_default();
        assert_eq!(
            who.len(),
            1,
            "job {job_id} started {} times ({who:?})\n{log1}\n{log2}",
            who.len()
        );
    }
    assert_eq!(
        starts.len(),
        jobs.len(),
        "no other job was started: {starts:?}"
    );
    for (id, _, _, rows) in connectors {
        let c = es.connector(id);
        assert_eq!(c["last_sync_status"], "completed", "connector: {c}");
        assert_eq!(c["last_indexed_document_count"], rows, "connector: {c}");
    }
}
