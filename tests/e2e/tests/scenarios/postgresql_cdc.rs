//! Issue 14: incremental syncs through PostgreSQL change data capture, end to end:
//! the real `tributary sync` binary, `postgresql.wasm`, es-sim, and a PostgreSQL
//! cluster of the test's own with `wal_level = logical` (the machine's 5432 keeps
//! its settings; it serves the "no logical WAL" case).

#[path = "../../../../capabilities/postgresql/tests/support/cluster.rs"]
mod cluster;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::harness::{plugins_dir, wait_for, Db, Es, EsSim, Workdir};

use cluster::Cluster;

/// The connector values for database `db` of the test's cluster.
fn values(c: &Cluster, db: &str, tables: &str) -> Value {
    json!({"host": "127.0.0.1", "port": c.port, "username": "postgres", "password": "x",
           "database": db, "schema": "public", "tables": tables})
}

/// `tributary sync --job-type <kind>` to its end: (exit code, log).
fn sync(work: &Workdir, config: &str, connector: &str, kind: &str, name: &str) -> (i32, String) {
    let plugins = plugins_dir().to_string_lossy().to_string();
    let (status, log) = work.run_to_end(
        name,
        &[
            "sync",
            "--config",
            config,
            "--plugins",
            &plugins,
            "--connector-id",
            connector,
            "--job-type",
            kind,
        ],
        Duration::from_secs(240),
    );
    (status.code().unwrap_or(-1), log)
}

/// Every document of `index` (es-sim answers `_search` with `size`).
fn all_docs(es: &Es, index: &str) -> Vec<(String, Value)> {
    es.ok("POST", &format!("/{index}/_refresh"), None);
    let r = es.ok(
        "POST",
        &format!("/{index}/_search"),
        Some(json!({"size": 10000, "query": {"match_all": {}}})),
    );
    r["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|h| {
            (
                h["_id"].as_str().unwrap_or_default().to_string(),
                h["_source"].clone(),
            )
        })
        .collect()
}

/// The index holds exactly the rows of `item` and `tag`: same ids, same values.
fn assert_index_equals_tables(es: &Es, c: &Cluster, index: &str) {
    let mut want: Vec<(String, String)> = c
        .psql(
            "shop",
            "SELECT 'shop_public_item_' || id || '|' || title || '/' || n FROM item \
             UNION ALL SELECT 'shop_public_tag_' || k || '|' || v FROM tag",
        )
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    want.sort();
    let mut got: Vec<(String, String)> = all_docs(es, index)
        .into_iter()
        .map(|(id, d)| {
            let v = if d["table"] == "item" {
                format!(
                    "{}/{}",
                    d["public_item_title"].as_str().unwrap_or("?"),
                    d["public_item_n"]
                )
            } else {
                d["public_tag_v"].to_string()
            };
            (id, v)
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len(), "document count vs row count");
    assert_eq!(got, want, "the index equals the tables");
}

fn job_of(es: &Es, connector: &str, kind: &str) -> Value {
    let jobs = es.ok(
        "GET",
        &format!("/_connector/_sync_job?connector_id={connector}&size=100"),
        None,
    );
    let mut list = jobs["results"].as_array().cloned().unwrap_or_default();
    list.retain(|j| j["job_type"] == kind);
    list.sort_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()));
    list.pop().unwrap_or(Value::Null)
}

/// A connector of the test's cluster, registered and configured; returns the config path.
fn connector(work: &Workdir, sim: &EsSim, id: &str, vals: Value, extra: &str) -> String {
    let es = &sim.es;
    es.create_connector(id, &format!("{id}-index"), "postgresql");
    let config = work.config("config.yml", sim.url(), &[(id, "postgresql")], extra);
    {
        let service = work.run("register", &config);
        es.wait_schema(id);
        drop(service);
    }
    es.configure(id, vals);
    config.to_string_lossy().to_string()
}

const SHOP: &str = "CREATE TABLE item (id int PRIMARY KEY, title text NOT NULL, n int NOT NULL); \
     INSERT INTO item SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 600) g; \
     CREATE TABLE tag (k text PRIMARY KEY, v int); \
     INSERT INTO tag SELECT 'k' || g, g FROM generate_series(1, 50) g; \
     CREATE TABLE unrelated (id int PRIMARY KEY)";

#[test]
fn incremental_sync_applies_inserts_updates_and_deletes_and_the_cursor_survives_restarts() {
    let c = Cluster::start("e2e-cdc", &[]);
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", SHOP);
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    let config = connector(&work, &sim, "cdc", values(&c, "shop", "item,tag"), "");
    let c_doc = es.connector("cdc");
    assert_eq!(
        c_doc["features"]["incremental_sync"]["enabled"], true,
        "{c_doc}"
    );

    // No cursor yet: Elastic's message, exit 1.
    let (code, log) = sync(&work, &config, "cdc", "incremental", "inc-0");
    assert_eq!(code, 1, "{log}");
    let job = job_of(es, "cdc", "incremental");
    // Elastic's wording, after the host's prefix naming the plugin.
    assert!(
        job["error"].as_str().unwrap_or_default().ends_with(
            "reported a source error: Unable to start incremental sync. Please perform a full sync to re-enable incremental syncs."
        ),
        "{job}"
    );

    let (code, log) = sync(&work, &config, "cdc", "full", "full-1");
    assert_eq!(code, 0, "{log}");
    assert_eq!(es.count("cdc-index"), 650);
    let cursor = es.connector("cdc")["sync_cursor"].clone();
    assert!(
        cursor["slot"]
            .as_str()
            .is_some_and(|s| s.starts_with("tributary_cdc_")),
        "{cursor}"
    );
    assert_eq!(cursor["tables"], json!(["item", "tag"]));

    // Inserts, updates (one of a key), deletes, in several transactions; other tables too.
    c.psql(
        "shop",
        "INSERT INTO item SELECT g, 'new ' || g, 1 FROM generate_series(601, 620) g; \
         UPDATE item SET title = 'changed ' || id, n = n + 100 WHERE id % 50 = 0; \
         DELETE FROM item WHERE id BETWEEN 100 AND 119; \
         UPDATE item SET id = 10000 WHERE id = 5; \
         INSERT INTO unrelated VALUES (1)",
    );
    c.psql("shop", "UPDATE tag SET v = -v WHERE k = 'k1'; DELETE FROM tag WHERE k = 'k2'; INSERT INTO tag VALUES ('it''s', 7)");

    // Each `tributary sync` is a new process: the cursor comes from the connector.
    let (code, log) = sync(&work, &config, "cdc", "incremental", "inc-1");
    assert_eq!(code, 0, "{log}");
    assert_index_equals_tables(es, &c, "cdc-index");
    let job = job_of(es, "cdc", "incremental");
    assert_eq!(job["status"], "completed", "{job}");
    // 20 inserts, 11 updates (ids 50..600 step 50 but 100, deleted since), the moved key,
    // 2 tag writes: 34 documents where a full sync sends 650.
    assert_eq!(job["indexed_document_count"], 34, "{job}");
    assert_eq!(
        job["deleted_document_count"], 22,
        "20 items, the moved key's old id, one tag: {job}"
    );
    let after = es.connector("cdc")["sync_cursor"].clone();
    assert_ne!(after["lsn"], cursor["lsn"], "the cursor moved");

    // Nothing changed: nothing sent, and the cursor still moves past the host's marker.
    let (code, log) = sync(&work, &config, "cdc", "incremental", "inc-2");
    assert_eq!(code, 0, "{log}");
    let job = job_of(es, "cdc", "incremental");
    assert_eq!(job["indexed_document_count"], 0, "{job}");
    assert_eq!(job["deleted_document_count"], 0, "{job}");
    assert_index_equals_tables(es, &c, "cdc-index");

    // `scheduling.incremental`: the service creates and runs incremental jobs itself.
    c.psql(
        "shop",
        "UPDATE item SET n = -1 WHERE id = 7; DELETE FROM tag WHERE k = 'k3'",
    );
    es.ok(
        "PUT",
        "/_connector/cdc/_scheduling",
        Some(
            json!({"scheduling": {"incremental": {"enabled": true, "interval": "*/2 * * * * ?"}}}),
        ),
    );
    let scheduled = |status: &str| -> Vec<Value> {
        let jobs = es.ok(
            "GET",
            "/_connector/_sync_job?connector_id=cdc&size=100",
            None,
        );
        let mut list = jobs["results"].as_array().cloned().unwrap_or_default();
        list.retain(|j| {
            j["job_type"] == "incremental"
                && j["trigger_method"] == "scheduled"
                && j["status"] == status
        });
        list
    };
    let mut service = work.run("scheduled", std::path::Path::new(&config));
    wait_for(
        Duration::from_secs(120),
        "a scheduled incremental job to complete",
        || (!scheduled("completed").is_empty()).then_some(()),
    );
    es.ok(
        "PUT",
        "/_connector/cdc/_scheduling",
        Some(
            json!({"scheduling": {"incremental": {"enabled": false, "interval": "*/2 * * * * ?"}}}),
        ),
    );
    service.sigterm();
    assert!(
        service.wait_exit(Duration::from_secs(60)).is_some(),
        "{}",
        service.log_tail(20)
    );
    let done = scheduled("completed");
    let sum = |k: &str| done.iter().map(|j| j[k].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!(
        (sum("indexed_document_count"), sum("deleted_document_count")),
        (1, 1),
        "{done:?}"
    );
    assert_index_equals_tables(es, &c, "cdc-index");

    // Another table set: the slot is dropped and a full sync is asked for.
    es.configure("cdc", values(&c, "shop", "item"));
    let (code, log) = sync(&work, &config, "cdc", "incremental", "inc-3");
    assert_eq!(code, 1, "{log}");
    let err = job_of(es, "cdc", "incremental")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains("tables changed") && err.contains("full sync"),
        "{err}"
    );
    assert_eq!(
        c.psql("shop", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
}

#[test]
fn a_host_killed_during_an_incremental_sync_loses_and_doubles_nothing() {
    let c = Cluster::start("e2e-cdc-kill", &[]);
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", SHOP);
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    let config = connector(
        &work,
        &sim,
        "cdck",
        values(&c, "shop", "item,tag"),
        "sync:\n  bulk_max_docs: 20\n  bulk_concurrency: 1\n",
    );
    let (code, log) = sync(&work, &config, "cdck", "full", "full");
    assert_eq!(code, 0, "{log}");
    c.psql(
        "shop",
        "UPDATE item SET title = 'killed ' || id WHERE id <= 400; DELETE FROM item WHERE id > 550; \
         INSERT INTO tag VALUES ('late', 1)",
    );

    // Slow bulk requests: the sync is killed with part of the changes written.
    sim.set_faults(json!({"latency_ms": 150}));
    let plugins = plugins_dir().to_string_lossy().to_string();
    let mut host = work.spawn(
        "inc-killed",
        &[
            "sync",
            "--config",
            &config,
            "--plugins",
            &plugins,
            "--connector-id",
            "cdck",
            "--job-type",
            "incremental",
        ],
    );
    wait_for(
        Duration::from_secs(120),
        "part of the changes to be indexed",
        || {
            let d = all_docs(es, "cdck-index");
            let n = d
                .iter()
                .filter(|(_, v)| {
                    v["public_item_title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("killed"))
                })
                .count();
            (n >= 40).then_some(())
        },
    );
    let _ = Command::new("kill")
        .args(["-9", &host.pid().to_string()])
        .status();
    host.wait_exit(Duration::from_secs(10));
    sim.set_faults(json!({}));
    let partly = all_docs(es, "cdck-index")
        .iter()
        .filter(|(_, v)| {
            v["public_item_title"]
                .as_str()
                .is_some_and(|t| t.starts_with("killed"))
        })
        .count();
    assert!(
        partly < 400,
        "the kill came before the end ({partly} of 400 updates written)"
    );
    // The killed job holds the connector lock: mark it dead (as 300 s of silence would).
    let dead = job_of(es, "cdck", "incremental");
    let dead_id = dead["id"].as_str().unwrap_or_default().to_string();
    es.ok(
        "PUT",
        &format!("/_connector/_sync_job/{dead_id}/_stats"),
        Some(
            json!({"deleted_document_count": 0, "indexed_document_count": 0,
                    "indexed_document_volume": 0, "last_seen": "2000-01-01T00:00:00Z"}),
        ),
    );
    // The cursor was not stored: the next sync reads the same changes again.
    let (code, log) = sync(&work, &config, "cdck", "incremental", "inc-again");
    assert_eq!(code, 0, "{log}");
    assert_index_equals_tables(es, &c, "cdck-index");
    let job = job_of(es, "cdck", "incremental");
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["indexed_document_count"], 401,
        "every update again, and the tag: {job}"
    );
}

#[test]
fn without_logical_wal_incremental_syncs_say_what_the_server_needs() {
    // The machine's PostgreSQL runs with wal_level = replica.
    let db = Db::empty("e2e_cdc_nowal");
    db.generated_table("items", 30);
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    let config = connector(&work, &sim, "nowal", db.values("items"), "");
    let (code, log) = sync(&work, &config, "nowal", "full", "full");
    assert_eq!(code, 0, "a full sync works without logical decoding\n{log}");
    assert!(
        log.contains("wal_level = logical"),
        "the full sync warns why it does not capture\n{log}"
    );
    assert_eq!(es.connector("nowal")["sync_cursor"], Value::Null);
    let (code, log) = sync(&work, &config, "nowal", "incremental", "inc");
    assert_eq!(code, 1, "{log}");
    let job = job_of(es, "nowal", "incremental");
    let err = job["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("wal_level is 'replica'") && err.contains("set wal_level = logical"),
        "{err}"
    );
}
