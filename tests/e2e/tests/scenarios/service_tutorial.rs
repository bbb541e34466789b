//! The Connector API tutorial with `tributary run` in place of elastic-ingest: the
//! real binary, es-sim over HTTP, the built `postgresql.wasm` and Chinook in the
//! local PostgreSQL. Then a second full sync after deleting 10 artists and
//! updating 5 albums.

use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::harness::{assert_timestamp, Db, EsSim, Workdir};

const CONNECTOR: &str = "my-connector-id";
const INDEX: &str = "music";

#[test]
fn tutorial_to_622_then_resync_with_deletions_and_updates() {
    let db = Db::chinook("e2e_tutorial");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();

    // 2. The connector, as the tutorial creates it.
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}"),
        Some(json!({"name": "Music catalog", "index_name": INDEX, "service_type": "postgresql"})),
    );

    // 3–4. config.yml and `tributary run`.
    let config = work.config("config.yml", sim.url(), &[(CONNECTOR, "postgresql")], "");
    let host = work.run("tributary", &config);

    // The schema is registered and the connector needs configuration.
    let connector = tributary_e2e::harness::wait_for(
        Duration::from_secs(120),
        "the connector to be needs_configuration with a schema",
        || {
            let c = es.connector(CONNECTOR);
            (c["status"] == "needs_configuration"
                && c["configuration"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty()))
            .then_some(c)
        },
    );
    let conf = connector["configuration"]
        .as_object()
        .expect("configuration object");
    let mut keys: Vec<(&String, i64)> = conf
        .iter()
        .map(|(k, v)| (k, v["order"].as_i64().unwrap_or(-1)))
        .collect();
    keys.sort_by_key(|(_, o)| *o);
    let ordered: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        ordered,
        [
            "host",
            "port",
            "username",
            "password",
            "database",
            "schema",
            "tables",
            "fetch_size",
            "retry_count",
            "ssl_enabled",
            "ssl_ca"
        ],
        "registered schema keys in order: {}",
        connector["configuration"]
    );
    assert_eq!(conf["host"]["label"], "Host");
    assert_eq!(conf["host"]["order"], 1);
    assert_eq!(conf["port"]["label"], "Port");
    assert_eq!(conf["port"]["type"], "int");
    assert_eq!(conf["password"]["label"], "Password");
    assert_eq!(conf["password"]["sensitive"], true);
    assert_eq!(conf["tables"]["label"], "Comma-separated list of tables");
    assert_eq!(conf["tables"]["type"], "list");
    assert_eq!(conf["tables"]["order"], 7);
    assert_eq!(conf["fetch_size"]["default_value"], 50);
    assert_eq!(conf["fetch_size"]["required"], false);
    assert_eq!(
        conf["ssl_ca"]["depends_on"],
        json!([{"field": "ssl_enabled", "value": true}])
    );
    assert_timestamp(
        &connector["last_seen"],
        "connector last_seen after check-in",
    );

    // 5. Configuration values.
    es.configure(CONNECTOR, db.values("album,artist"));

    // 6. A full sync job.
    let job_id = es.create_full_job(CONNECTOR);

    // 7. Claimed, synced, completed.
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(40)
    );
    check_completed_job(&job, 622, 0, 622);
    assert_eq!(job["trigger_method"], "on_demand");
    assert_eq!(job["job_type"], "full");

    let c = es.connector(CONNECTOR);
    check_connector_after(&c, &job, 622);
    assert_eq!(es.count(INDEX), 622, "GET music/_count");

    let album = es
        .doc(INDEX, &format!("{}_public_album_1", db.name))
        .expect("album 1 indexed");
    assert_eq!(
        album["public_album_title"],
        "For Those About To Rock We Salute You"
    );
    assert_eq!(album["public_album_album_id"], 1);
    assert_eq!(album["public_album_artist_id"], 1);
    assert_eq!(album["id"], format!("{}_public_album_1", db.name));
    assert_eq!(album["table"], "album");
    assert_eq!(album["schema"], "public");
    assert_eq!(album["database"], db.name.as_str());
    let artist = es
        .doc(INDEX, &format!("{}_public_artist_1", db.name))
        .expect("artist 1 indexed");
    assert_eq!(artist["public_artist_name"], "AC/DC");
    assert_eq!(artist["table"], "artist");

    // A second full sync: 10 artists without albums deleted, 5 album titles changed.
    let deleted: Vec<i64> = db
        .psql(
            "SELECT artist_id FROM artist a WHERE NOT EXISTS \
             (SELECT 1 FROM album b WHERE b.artist_id = a.artist_id) ORDER BY artist_id LIMIT 10",
        )
        .lines()
        .map(|l| l.trim().parse().expect("artist id"))
        .collect();
    assert_eq!(deleted.len(), 10, "Chinook has artists without albums");
    let list = deleted
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    db.psql(&format!("DELETE FROM artist WHERE artist_id IN ({list})"));
    db.psql(
        "UPDATE album SET title = 'Updated title ' || album_id WHERE album_id IN (2, 3, 5, 8, 13)",
    );

    let first_completed_at = c["last_synced"].clone();
    let job2_id = es.create_full_job(CONNECTOR);
    let job2 = es.wait_job(
        &job2_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job2["status"],
        "completed",
        "job: {job2}\n{}",
        host.log_tail(40)
    );
    check_completed_job(&job2, 612, 10, 612);
    let c2 = es.connector(CONNECTOR);
    check_connector_after(&c2, &job2, 612);
    assert!(
        secs(&c2["last_synced"]) >= secs(&first_completed_at),
        "last_synced moves forward: {} then {}",
        first_completed_at,
        c2["last_synced"]
    );
    assert_eq!(
        es.count(INDEX),
        612,
        "GET music/_count after the second sync"
    );
    for id in [2, 3, 5, 8, 13] {
        let d = es
            .doc(INDEX, &format!("{}_public_album_{id}", db.name))
            .unwrap_or_else(|| panic!("album {id} still indexed"));
        assert_eq!(d["public_album_title"], format!("Updated title {id}"));
    }
    let ids: Vec<String> = deleted
        .iter()
        .map(|a| format!("{}_public_artist_{a}", db.name))
        .collect();
    assert_eq!(
        es.exists(INDEX, &ids),
        vec![false; 10],
        "deleted artists are gone: {ids:?}"
    );
    let unchanged = es
        .doc(INDEX, &format!("{}_public_album_1", db.name))
        .expect("album 1 still indexed");
    assert_eq!(
        unchanged["public_album_title"],
        "For Those About To Rock We Salute You"
    );
    drop(host);
}

fn check_completed_job(job: &Value, indexed: u64, deleted: u64, total: u64) {
    assert_eq!(job["indexed_document_count"], indexed, "job: {job}");
    assert_eq!(job["deleted_document_count"], deleted, "job: {job}");
    assert_eq!(job["total_document_count"], total, "job: {job}");
    // MiB, integer-rounded as Elastic reports it: 622 small rows are 0 MiB.
    assert_eq!(
        job["indexed_document_volume"], 0,
        "indexed_document_volume (MiB): {job}"
    );
    assert!(job["error"].is_null(), "error should be null: {job}");
    assert!(
        job["worker_hostname"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "worker_hostname: {job}"
    );
    for f in ["started_at", "completed_at", "last_seen", "created_at"] {
        assert_timestamp(&job[f], &format!("job {f}"));
    }
    assert!(
        secs(&job["started_at"]) <= secs(&job["completed_at"]),
        "started_at <= completed_at: {job}"
    );
    assert!(
        secs(&job["created_at"]) <= secs(&job["started_at"]),
        "created_at <= started_at: {job}"
    );
    assert!(job["canceled_at"].is_null(), "canceled_at: {job}");
    assert_eq!(job["connector"]["id"], CONNECTOR);
    assert_eq!(job["connector"]["index_name"], INDEX);
    assert_eq!(job["connector"]["service_type"], "postgresql");
}

fn check_connector_after(c: &Value, job: &Value, indexed: u64) {
    assert_eq!(c["last_sync_status"], "completed", "connector: {c}");
    assert_eq!(c["status"], "connected", "connector: {c}");
    assert!(c["error"].is_null(), "connector error: {c}");
    assert!(
        c["last_sync_error"].is_null(),
        "connector last_sync_error: {c}"
    );
    assert_eq!(c["last_indexed_document_count"], indexed, "connector: {c}");
    assert_eq!(
        c["last_deleted_document_count"], job["deleted_document_count"],
        "connector: {c}"
    );
    assert_timestamp(&c["last_synced"], "connector last_synced");
    assert_timestamp(&c["last_seen"], "connector last_seen");
    assert_eq!(c["index_name"], INDEX);
    assert_eq!(c["service_type"], "postgresql");
}

/// A timestamp to the second (formats may differ in precision and zone suffix).
fn secs(v: &Value) -> String {
    v.as_str().unwrap_or_default().chars().take(19).collect()
}
