//! What the user sees when something is wrong: bad database credentials, an
//! unknown service type in config.yml, Elasticsearch unreachable at start-up, and
//! `tributary sync`'s exit status.

use std::time::Duration;

use serde_json::json;
use tributary_e2e::harness::{plugins_dir, wait_for, Db, EsSim, Workdir};

/// PostgreSQL on this machine uses trust authentication, so a wrong *password*
/// is accepted. The credentials that can be wrong here are the role (one that
/// does not exist) and the database name; both are refused by the server at
/// connect time, as a wrong password is on a password-protected server.
#[test]
fn wrong_database_credentials_fail_the_job_and_the_connector_with_the_reason() {
    let db = Db::chinook("e2e_badcreds");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();

    es.create_connector("bad-role", "bad-role-index", "postgresql");
    es.create_connector("bad-db", "bad-db-index", "postgresql");

    let config = work.config(
        "config.yml",
        sim.url(),
        &[("bad-role", "postgresql"), ("bad-db", "postgresql")],
        "",
    );
    let host = work.run("tributary", &config);
    es.wait_schema("bad-role");
    let mut values = db.values("album");
    values["username"] = json!("no_such_role_e2e");
    es.configure("bad-role", values);
    es.wait_schema("bad-db");
    let mut values = db.values("album");
    values["database"] = json!("no_such_database_e2e");
    es.configure("bad-db", values);

    for (connector, needle) in [
        ("bad-role", "no_such_role_e2e"),
        ("bad-db", "no_such_database_e2e"),
    ] {
        // The connector turns `error` on its own (validate + ping on every poll).
        let c = wait_for(
            Duration::from_secs(120),
            "the connector to be in error",
            || {
                let c = es.connector(connector);
                (c["status"] == "error").then_some(c)
            },
        );
        let msg = c["error"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.contains(needle) && msg.contains("does not exist"),
            "connector {connector}: error should name {needle:?} and say it does not exist, got {msg:?}"
        );

        // A job fails with the same reason and leaves the connector in error.
        let job_id = es.create_full_job(connector);
        let job = es.wait_job(
            &job_id,
            &["completed", "error", "canceled"],
            Duration::from_secs(120),
        );
        assert_eq!(job["status"], "error", "job: {job}\n{}", host.log_tail(30));
        let err = job["error"].as_str().unwrap_or_default();
        assert!(
            err.contains(needle) && err.contains("does not exist"),
            "job error should name {needle:?}: {err:?}"
        );
        assert_eq!(job["indexed_document_count"], 0, "job: {job}");
        assert!(job["completed_at"].is_string(), "job: {job}");
        let c = es.connector(connector);
        assert_eq!(c["status"], "error", "connector: {c}");
        assert_eq!(c["last_sync_status"], "error", "connector: {c}");
        assert!(
            c["last_sync_error"]
                .as_str()
                .is_some_and(|e| e.contains(needle)),
            "connector last_sync_error: {c}"
        );
        assert!(
            c["error"].as_str().is_some_and(|e| e.contains(needle)),
            "connector error: {c}"
        );
    }
    let log = host.log();
    assert!(
        log.contains("no_such_role_e2e") && log.contains("no_such_database_e2e"),
        "the errors are logged\n{}",
        host.log_tail(40)
    );
}

#[test]
fn unknown_service_type_in_config_stops_start_up_naming_it() {
    let sim = EsSim::start(&[]);
    let work = Workdir::new();
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("some-connector", "no-such-source")],
        "",
    );
    let (status, log) = work.run_to_end(
        "tributary",
        &[
            "run",
            "--config",
            &config.to_string_lossy(),
            "--plugins",
            &plugins_dir().to_string_lossy(),
        ],
        Duration::from_secs(120),
    );
    assert!(
        !status.success(),
        "tributary run should fail: {status}\n{log}"
    );
    assert!(
        log.contains("no-such-source") && log.contains("service_type"),
        "the error names the unknown service type and the key:\n{log}"
    );
    assert!(
        log.contains("postgresql"),
        "the error lists the loaded plugins:\n{log}"
    );
}

#[test]
fn elasticsearch_unreachable_at_start_waits_then_fails_naming_the_url() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let work = Workdir::new();
    let config = work.config("config.yml", &url, &[("c1", "postgresql")], "");
    let started = std::time::Instant::now();
    let (status, log) = work.run_to_end(
        "tributary",
        &[
            "run",
            "--config",
            &config.to_string_lossy(),
            "--plugins",
            &plugins_dir().to_string_lossy(),
        ],
        Duration::from_secs(180),
    );
    assert!(
        !status.success(),
        "tributary run should fail: {status}\n{log}"
    );
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "the error names the Elasticsearch URL:\n{log}"
    );
    // preflight_max_attempts: 3 and preflight_idle: 0.5 → it tried more than once.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited between attempts before giving up:\n{log}"
    );
    let last = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(
        log.to_lowercase().contains("elasticsearch"),
        "the message says Elasticsearch is unreachable; last line: {last}\n{log}"
    );
}

#[test]
fn tributary_sync_exit_status_says_how_the_job_ended() {
    let db = Db::chinook("e2e_synccli");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("good", "good-index", "postgresql");
    es.create_connector("bad", "bad-index", "postgresql");
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("good", "postgresql"), ("bad", "postgresql")],
        "",
    );
    // The schema is registered by the service; values can be set only after that.
    {
        let service = work.run("register", &config);
        es.wait_schema("good");
        es.wait_schema("bad");
        drop(service);
    }
    es.configure("good", db.values("album,artist"));
    let mut values = db.values("album");
    values["database"] = json!("no_such_database_cli");
    es.configure("bad", values);
    let config = config.to_string_lossy().to_string();
    let plugins = plugins_dir().to_string_lossy().to_string();

    let (status, log) = work.run_to_end(
        "sync-good",
        &[
            "sync",
            "--config",
            &config,
            "--plugins",
            &plugins,
            "--connector-id",
            "good",
        ],
        Duration::from_secs(180),
    );
    assert_eq!(status.code(), Some(0), "completed → 0\n{log}");
    assert!(
        log.contains("completed"),
        "it says how the job ended:\n{log}"
    );
    assert_eq!(es.count("good-index"), 622);
    let jobs = es.ok("GET", "/_connector/_sync_job?connector_id=good", None);
    assert_eq!(jobs["count"], 1, "one job created: {jobs}");
    let job = &jobs["results"][0];
    assert_eq!(job["status"], "completed", "job: {job}");
    assert_eq!(job["indexed_document_count"], 622, "job: {job}");

    let (status, log) = work.run_to_end(
        "sync-bad",
        &[
            "sync",
            "--config",
            &config,
            "--plugins",
            &plugins,
            "--connector-id",
            "bad",
        ],
        Duration::from_secs(180),
    );
    assert_eq!(status.code(), Some(1), "error → 1\n{log}");
    assert!(
        log.contains("no_such_database_cli"),
        "it says what went wrong:\n{log}"
    );
    let jobs = es.ok("GET", "/_connector/_sync_job?connector_id=bad", None);
    assert_eq!(jobs["results"][0]["status"], "error", "job: {jobs}");

    // A connector not listed in config.yml is refused before anything is created.
    let (status, log) = work.run_to_end(
        "sync-unlisted",
        &[
            "sync",
            "--config",
            &config,
            "--plugins",
            &plugins,
            "--connector-id",
            "unlisted",
        ],
        Duration::from_secs(60),
    );
    assert!(!status.success(), "unlisted connector: {status}\n{log}");
    assert!(log.contains("unlisted"), "names the connector:\n{log}");
}
