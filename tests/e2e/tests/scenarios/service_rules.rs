//! Draft sync rules, as Elastic's service handles them: a running host validates an edited
//! draft (basic rules on the host, advanced rules by the plugin against the database),
//! writes the validation back, and activates a valid draft; the next sync applies it.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::harness::{wait_for, Db, Es, EsSim, Workdir};

const CONNECTOR: &str = "rules-music";
const INDEX: &str = "rules-music";

fn filtering(es: &Es) -> Value {
    es.connector(CONNECTOR)["filtering"][0].clone()
}

/// Waits until the draft's validation state is `state`; returns the connector's filtering.
fn wait_draft(es: &Es, state: &str) -> Value {
    wait_for(
        Duration::from_secs(60),
        &format!("the draft rules to be {state}"),
        || {
            let f = filtering(es);
            (f["draft"]["validation"]["state"] == state).then_some(f)
        },
    )
}

#[test]
fn drafts_are_validated_then_activated_and_applied() {
    let db = Db::chinook("e2e_rules");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector(CONNECTOR, INDEX, "postgresql");
    let config = work.config("config.yml", sim.url(), &[(CONNECTOR, "postgresql")], "");
    let host = work.run("tributary", &config);
    es.wait_schema(CONNECTOR);
    es.configure(CONNECTOR, db.values("album,artist"));
    es.wait_connected(CONNECTOR);

    // An advanced rule on a table that does not exist: invalid, named, not activated.
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}/_filtering"),
        Some(json!({"advanced_snippet": {"value": [
            {"tables": ["no_such_table"], "query": "SELECT * FROM no_such_table"}
        ]}})),
    );
    let f = wait_draft(es, "invalid");
    let errors = f["draft"]["validation"]["errors"].to_string();
    assert!(errors.contains("no_such_table"), "errors: {errors}");
    let active = &f["active"]["advanced_snippet"]["value"];
    assert!(
        active.as_array().is_none_or(|a| a.is_empty())
            && active.as_object().is_none_or(|o| o.is_empty()),
        "an invalid draft is not activated: {f}\n{}",
        host.log_tail(20)
    );

    // A valid one: the host validates it against the database and activates it.
    let rule = json!([{
        "tables": ["album"],
        "query": "SELECT * FROM album WHERE album_id <= 10"
    }]);
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}/_filtering"),
        Some(json!({"advanced_snippet": {"value": rule}})),
    );
    let f = wait_draft(es, "valid");
    assert_eq!(f["draft"]["validation"]["errors"], json!([]), "{f}");
    let f = wait_for(Duration::from_secs(30), "the draft to be active", || {
        let f = filtering(es);
        (f["active"]["advanced_snippet"]["value"] == rule).then_some(f)
    });
    assert_eq!(f["active"]["validation"]["state"], "valid", "{f}");

    // The next full sync runs the active advanced rule only.
    let job_id = es.create_full_job(CONNECTOR);
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(120),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(30)
    );
    assert_eq!(job["indexed_document_count"], 10, "job: {job}");
    let snapshot = job["connector"]["filtering"].to_string();
    assert!(
        snapshot.contains("album_id <= 10"),
        "the job snapshots the active rules: {snapshot}"
    );
    assert_eq!(es.count(INDEX), 10);
}
