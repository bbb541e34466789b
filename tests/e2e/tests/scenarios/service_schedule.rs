//! Scheduling: a connector whose `scheduling.full` is enabled gets a `scheduled` full sync
//! when its cron interval comes due, created once even with two `tributary run`
//! processes watching the connector (`docs/elastic/connector-document.md#scheduling`; Elastic ignores the seconds field,
//! so the fastest schedule is once a minute and this test waits up to one).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::harness::{assert_timestamp, started_job_ids, wait_for, Db, Es, EsSim, Workdir};

const CONNECTOR: &str = "scheduled-music";
const INDEX: &str = "scheduled-music";

fn jobs_of(es: &Es, trigger: &str) -> Vec<Value> {
    let list = es.ok(
        "GET",
        &format!("/_connector/_sync_job?connector_id={CONNECTOR}&size=100"),
        None,
    );
    list["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|j| j["trigger_method"] == trigger)
        .cloned()
        .collect()
}

#[test]
fn a_due_schedule_creates_one_job_across_two_hosts() {
    let db = Db::chinook("e2e_schedule");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector(CONNECTOR, INDEX, "postgresql");
    let entries = [(CONNECTOR, "postgresql")];
    let p1 = work.run("worker-1", &work.config("a.yml", sim.url(), &entries, ""));
    let p2 = work.run("worker-2", &work.config("b.yml", sim.url(), &entries, ""));
    es.wait_schema(CONNECTOR);
    es.configure(CONNECTOR, db.values("album,artist"));
    es.wait_connected(CONNECTOR);
    wait_for(Duration::from_secs(60), "both workers to start", || {
        (p1.log().contains("service started") && p2.log().contains("service started")).then_some(())
    });

    // "Every 10 s" in Quartz; the seconds field is ignored (as by Elastic's service), so
    // this is due once a minute, at second 0.
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}/_scheduling"),
        Some(json!({"scheduling": {"full": {"enabled": true, "interval": "*/10 * * * * ?"}}})),
    );
    let first = wait_for(
        Duration::from_secs(90),
        "a scheduled job to be created",
        || jobs_of(es, "scheduled").into_iter().next(),
    );
    // Both hosts poll every 0.5 s: give them several polls past the due time, then stop
    // the schedule before the next minute can come due.
    std::thread::sleep(Duration::from_secs(3));
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}/_scheduling"),
        Some(json!({"scheduling": {"full": {"enabled": false, "interval": "*/10 * * * * ?"}}})),
    );
    let scheduled = jobs_of(es, "scheduled");
    assert_eq!(
        scheduled.len(),
        1,
        "one scheduled job for one due time, got {scheduled:#?}\n{}\n{}",
        p1.log_tail(30),
        p2.log_tail(30)
    );
    assert!(
        jobs_of(es, "on_demand").is_empty(),
        "no other job was created"
    );
    assert_eq!(first["job_type"], "full");

    let job_id = first["id"].as_str().expect("job id").to_string();
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(job["status"], "completed", "job: {job}");
    assert_eq!(job["trigger_method"], "scheduled", "job: {job}");
    assert_eq!(job["indexed_document_count"], 622, "job: {job}");
    assert_eq!(es.count(INDEX), 622);

    // The due time is stamped on the connector: a whole minute.
    let c = es.connector(CONNECTOR);
    assert_timestamp(&c["last_sync_scheduled_at"], "last_sync_scheduled_at");
    let stamp = c["last_sync_scheduled_at"].as_str().unwrap_or_default();
    assert_eq!(stamp.get(17..19), Some("00"), "due at second 0: {stamp}");
    assert_eq!(c["last_sync_status"], "completed", "connector: {c}");

    // It ran in exactly one of the two processes.
    let mut starts: HashMap<String, usize> = HashMap::new();
    for log in [p1.log(), p2.log()] {
        for id in started_job_ids(&log) {
            *starts.entry(id).or_default() += 1;
        }
    }
    assert_eq!(
        starts.get(&job_id),
        Some(&1),
        "job started once: {starts:?}"
    );
    assert_eq!(starts.len(), 1, "no other job ran: {starts:?}");
}
