//! Issue 10, items 3 and 4 and the operators' view: `tributary sync` against a
//! connector held by a dead (or live) worker never waits forever; `/metrics` during
//! a sync shows counters moving and parses as Prometheus text; `/healthz`; logs
//! without colour codes when not written to a terminal, JSON logs on request, and
//! start-up errors without backtraces.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_e2e::harness::{free_port, http_get, plugins_dir, wait_for, Db, Es, EsSim, Workdir};

/// `PUT _connector/<id>/_last_sync {last_sync_status: in_progress}`: the lock a
/// worker takes before it claims a job.
fn lock_connector(es: &Es, id: &str) {
    es.ok(
        "PUT",
        &format!("/_connector/{id}/_last_sync"),
        Some(json!({"last_sync_status": "in_progress"})),
    );
}

/// A job claimed by `worker` (as a service would), last seen at `last_seen`.
fn claimed_job(es: &Es, connector: &str, worker: &str, last_seen: Option<&str>) -> String {
    let job_id = es.create_full_job(connector);
    es.ok(
        "PUT",
        &format!("/_connector/_sync_job/{job_id}/_claim"),
        Some(json!({"worker_hostname": worker})),
    );
    if let Some(t) = last_seen {
        es.ok(
            "PUT",
            &format!("/_connector/_sync_job/{job_id}/_stats"),
            Some(json!({
                "deleted_document_count": 0,
                "indexed_document_count": 0,
                "indexed_document_volume": 0,
                "last_seen": t
            })),
        );
    }
    job_id
}

fn jobs_by_status(es: &Es, connector: &str) -> HashMap<String, usize> {
    let jobs = es.ok(
        "GET",
        &format!("/_connector/_sync_job?connector_id={connector}&size=100"),
        None,
    );
    let mut out = HashMap::new();
    for j in jobs["results"].as_array().cloned().unwrap_or_default() {
        *out.entry(j["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

#[test]
fn tributary_sync_takes_over_a_dead_workers_lock_and_gives_up_on_a_live_one_in_bounded_time() {
    let db = Db::chinook("e2e_locks");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("locked", "locked-index", "postgresql");
    let config = work.config("config.yml", sim.url(), &[("locked", "postgresql")], "");
    {
        let service = work.run("register", &config);
        es.wait_schema("locked");
        drop(service);
    }
    es.configure("locked", db.values("album"));
    let config = config.to_string_lossy().to_string();
    let plugins = plugins_dir().to_string_lossy().to_string();
    let sync = |name: &str, lock_wait: &str| {
        let started = Instant::now();
        let (status, log) = work.run_to_end(
            name,
            &[
                "sync",
                "--config",
                &config,
                "--plugins",
                &plugins,
                "--connector-id",
                "locked",
                "--lock-wait",
                lock_wait,
            ],
            Duration::from_secs(120),
        );
        assert!(
            !log.contains("claimed by another worker"),
            "nobody else claimed our job:\n{log}"
        );
        (status, log, started.elapsed())
    };

    // 1. Locked, but no job holds the lock (the worker died between taking the
    //    lock and claiming its job): taken over after a short settle time.
    lock_connector(es, "locked");
    let (status, log, took) = sync("no-holder", "30");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("no job holds it") && log.contains("taking over"),
        "{log}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(es.count("locked-index"), 347);

    // 2. Held by a job whose worker stopped reporting long ago: that job is ended
    //    as error with the reason, and ours runs.
    let dead = claimed_job(
        es,
        "locked",
        "dead-worker",
        Some("2020-01-01T00:00:00.000Z"),
    );
    lock_connector(es, "locked");
    std::thread::sleep(Duration::from_millis(1200)); // searchable after a refresh
    let (status, log, _) = sync("dead-holder", "30");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains(&dead) && log.contains("stopped reporting") && log.contains("taking over"),
        "{log}"
    );
    let holder = es.job(&dead);
    assert_eq!(holder["status"], "error", "holder: {holder}");
    let reason = holder["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("dead-worker") && reason.contains("tributary sync"),
        "{reason}"
    );

    // 3. Held by a job whose worker reports: wait --lock-wait, then exit 4 with the
    //    reason, and cancel the job that was created.
    let live = claimed_job(es, "locked", "busy-worker", None);
    lock_connector(es, "locked");
    std::thread::sleep(Duration::from_millis(1200));
    let before = jobs_by_status(es, "locked");
    let (status, log, took) = sync("live-holder", "3");
    assert_eq!(status.code(), Some(4), "{log}");
    assert!(
        log.contains(&live) && log.contains("busy-worker") && log.contains("gave up"),
        "{log}"
    );
    assert!(took < Duration::from_secs(30), "bounded: {took:?}");
    let after = jobs_by_status(es, "locked");
    assert_eq!(
        after.get("canceled").copied().unwrap_or(0),
        before.get("canceled").copied().unwrap_or(0) + 1,
        "the created job was canceled: {after:?}"
    );
    assert_eq!(
        after.get("pending"),
        None,
        "nothing left pending: {after:?}"
    );
    assert_eq!(
        es.job(&live)["status"],
        "in_progress",
        "the live job is untouched"
    );
}

/// Every sample line is `name{labels} value`; the whole text parses.
fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name_labels, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = name_labels.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name in {line:?}"
        );
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "value in {line:?}"
        );
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text")
}

/// The value of a counter/gauge sample with these labels (0 when absent).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or(0.0)
}

#[test]
fn metrics_move_during_a_sync_and_healthz_reports_readiness() {
    const ROWS: u64 = 8_000;
    let db = Db::empty("e2e_metrics");
    db.generated_table("items", ROWS);
    let sim = EsSim::start(&["--latency-ms", "80", "--bulk-item-429-rate", "0.1"]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("pg-metrics", "items-metrics", "postgresql");
    let port = free_port();
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("pg-metrics", "postgresql")],
        &format!(
            "sync:\n  bulk_max_docs: 200\n  bulk_concurrency: 1\nservice.metrics_listen: 127.0.0.1:{port}\n"
        ),
    );
    let host = work.run("tributary", &config);
    let base = format!("http://127.0.0.1:{port}");
    let health: Value = wait_for(Duration::from_secs(60), "/healthz to answer", || {
        let (status, body) = http_get(&format!("{base}/healthz")).ok()?;
        (status == 200).then(|| serde_json::from_str(&body).expect("JSON health"))
    });
    assert_eq!(health["ready"], true, "{health}");
    assert!(
        health["checks"].as_array().is_some_and(|c| c.len() == 2),
        "{health}"
    );
    es.wait_schema("pg-metrics");
    es.configure("pg-metrics", db.values("items"));
    let job_id = es.create_full_job("pg-metrics");
    es.wait_job(&job_id, &["in_progress"], Duration::from_secs(60));

    let scrape = || {
        let (status, body) = http_get(&format!("{base}/metrics")).expect("scrape");
        assert_eq!(status, 200, "{body}");
        parse_metrics(&body)
    };
    let indexed = |s: &prometheus_parse::Scrape| {
        sample(
            s,
            "tributary_documents_indexed_total",
            &[("connector_id", "pg-metrics")],
        )
    };
    let first = wait_for(Duration::from_secs(60), "documents to be counted", || {
        let s = scrape();
        (indexed(&s) > 0.0).then_some(s)
    });
    std::thread::sleep(Duration::from_millis(800));
    let second = scrape();
    assert_eq!(
        es.job(&job_id)["status"],
        "in_progress",
        "both scrapes were taken during the sync"
    );
    assert!(
        indexed(&second) > indexed(&first),
        "documents indexed moved: {} → {}",
        indexed(&first),
        indexed(&second)
    );
    assert!(
        sample(
            &second,
            "tributary_bulk_requests_total",
            &[("outcome", "ok")]
        ) > sample(
            &first,
            "tributary_bulk_requests_total",
            &[("outcome", "ok")]
        )
    );
    assert_eq!(sample(&second, "tributary_sync_jobs_running", &[]), 1.0);
    assert!(
        second
            .samples
            .iter()
            .any(|s| s.metric == "tributary_bulk_request_duration_seconds"
                && matches!(s.value, prometheus_parse::Value::Histogram(_))),
        "the latency histogram"
    );

    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(30)
    );
    let done = scrape();
    assert_eq!(indexed(&done), ROWS as f64);
    assert_eq!(
        sample(
            &done,
            "tributary_sync_jobs_total",
            &[("status", "completed")]
        ),
        1.0
    );
    assert_eq!(sample(&done, "tributary_sync_jobs_running", &[]), 0.0);
    assert!(
        sample(
            &done,
            "tributary_bulk_item_retries_total",
            &[("reason", "rejected")]
        ) > 0.0
    );
    assert!(
        sample(
            &done,
            "tributary_plugin_calls_total",
            &[
                ("service_type", "postgresql"),
                ("call", "next-batch"),
                ("outcome", "ok")
            ]
        ) > 0.0
    );
    assert_eq!(
        sample(
            &done,
            "tributary_documents_failed_total",
            &[("connector_id", "pg-metrics")]
        ),
        0.0
    );
    let (status, _) = http_get(&format!("{base}/nothing-here")).expect("answer");
    assert_eq!(status, 404);
}

#[test]
fn logs_have_no_colour_codes_off_a_terminal_json_on_request_and_errors_no_backtrace() {
    let sim = EsSim::start(&[]);
    let work = Workdir::new();
    let plugins = plugins_dir().to_string_lossy().to_string();
    // Neither NO_COLOR nor a terminal: stderr goes to a file.
    let no_hints: &[(&str, Option<&str>)] = &[("NO_COLOR", None), ("RUST_BACKTRACE", None)];

    for (name, extra) in [("text", ""), ("json", "service.log_format: json\n")] {
        let config = work.config(
            &format!("{name}.yml"),
            sim.url(),
            &[("quiet-connector", "postgresql")],
            extra,
        );
        let config = config.to_string_lossy().to_string();
        let host = work.spawn_with_env(
            name,
            &["run", "--config", &config, "--plugins", &plugins],
            no_hints,
        );
        wait_for(Duration::from_secs(60), "the service to start", || {
            host.raw_log().contains("service started").then_some(())
        });
        let raw = host.raw_log();
        assert!(
            !raw.contains('\u{1b}'),
            "no ANSI codes in {name} logs:\n{raw}"
        );
        if name == "json" {
            for line in raw.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                assert!(
                    v["timestamp"].is_string() && v["level"].is_string(),
                    "{line}"
                );
            }
            assert!(
                raw.lines()
                    .any(|l| l.contains("\"message\":\"service started\"")),
                "{raw}"
            );
        }
    }

    // A start-up error with RUST_BACKTRACE set: the message and its causes, no
    // backtrace.
    let bad = work.path("bad.yml");
    std::fs::write(
        &bad,
        "service:\n  log_level: LOUD\nconnectors: [{connector_id: c1}]\n",
    )
    .expect("writing bad.yml");
    let (status, log) = work.run_to_end_with_env(
        "bad",
        &[
            "run",
            "--config",
            &bad.to_string_lossy(),
            "--plugins",
            &plugins,
        ],
        &[("NO_COLOR", None), ("RUST_BACKTRACE", Some("1"))],
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("service.log_level"), "names the key:\n{log}");
    assert!(
        !log.to_lowercase().contains("backtrace") && log.lines().count() < 10,
        "no backtrace:\n{log}"
    );
}

#[test]
fn the_service_releases_a_lock_left_without_a_job_and_runs_the_waiting_job() {
    let db = Db::chinook("e2e_orphan_lock");
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.create_connector("orphan", "orphan-index", "postgresql");
    // Cleanup every second: the lock must be seen twice, unchanged, with no job.
    let config = work.config(
        "config.yml",
        sim.url(),
        &[("orphan", "postgresql")],
        "service.job_cleanup_interval: 1\n",
    );
    let host = work.run("tributary", &config);
    es.wait_schema("orphan");
    es.configure("orphan", db.values("album"));
    es.wait_connected("orphan");
    lock_connector(es, "orphan");
    let job_id = es.create_full_job("orphan");
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(60),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(30)
    );
    assert!(
        host.log()
            .contains("released a connector lock with no running job"),
        "{}",
        host.log_tail(30)
    );
    assert_eq!(es.count("orphan-index"), 347);
}
