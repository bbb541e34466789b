//! Sandbox tests with real components from `tests/plugins/` (built by
//! `cargo xtask build` into `target/test-plugins/`): every behaviour of the
//! `hostile` plugin ends in a clean error naming the plugin and the cause (or is
//! neutralised), and the same runtime then runs the healthy plugin normally.
//! The capability attacks run over a superuser connection to the local
//! PostgreSQL, in a database of the test's own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;
use tributary_runtime::{
    Grants, JobType, LoadedPlugin, PluginError, PluginRuntime, PluginSet, RuntimeConfig,
    SyncRequest, REDACTED,
};
use tributary_sync::DocumentSource;

const PLUGINS: &[&str] = &[
    "healthy",
    "healthy_v0_1",
    "hostile",
    "ungranted_import",
    "old_contract",
];

fn test_plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-plugins");
    for p in PLUGINS {
        let f = dir.join(format!("{p}.wasm"));
        assert!(
            f.is_file(),
            "{} is missing: run `cargo xtask build` (it builds the sandbox test plugins)",
            f.display()
        );
    }
    dir
}

fn limits() -> RuntimeConfig {
    RuntimeConfig {
        memory_limit_mb: 64,
        cpu_limit: Duration::from_secs(1),
        call_timeout: Duration::from_secs(20),
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-compile-cache")),
        ..RuntimeConfig::default()
    }
}

struct Loaded {
    runtime: PluginRuntime,
    set: PluginSet,
}

/// Everything the test binary logs, for the tests that check what reaches the log.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut l) = LOGS.lock() {
            l.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> String {
    LOGS.lock()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default()
}

/// One runtime for every test: compiling takes long in debug builds.
async fn loaded() -> &'static Loaded {
    static LOADED: OnceCell<Loaded> = OnceCell::const_new();
    LOADED
        .get_or_init(|| async {
            let _ = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(|| LogWriter)
                .try_init();
            let runtime = PluginRuntime::new(limits()).expect("runtime");
            let set = runtime
                .load_dir(&test_plugins_dir())
                .await
                .expect("load the test plugins");
            Loaded { runtime, set }
        })
        .await
}

fn values(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn plugin(service_type: &str) -> Arc<LoadedPlugin> {
    let l = loaded().await;
    l.set.get(service_type).unwrap_or_else(|| {
        panic!(
            "{service_type} not loaded; refused: {:?}",
            l.set.refused.iter().map(|r| &r.reason).collect::<Vec<_>>()
        )
    })
}

/// Runs a whole sync and returns the documents as NDJSON-like values.
async fn drain(
    p: &LoadedPlugin,
    v: Value,
    request: SyncRequest,
) -> Result<(Vec<Value>, usize, Option<String>), PluginError> {
    drain_with(p, v, request, &Grants::default()).await
}

async fn drain_with(
    p: &LoadedPlugin,
    v: Value,
    request: SyncRequest,
    grants: &Grants,
) -> Result<(Vec<Value>, usize, Option<String>), PluginError> {
    let mut sync = p.start_sync(&values(v), request, grants).await?;
    let mut docs = Vec::new();
    let mut batches = 0;
    while let Some(batch) = sync.next().await? {
        batches += 1;
        for d in batch {
            let mut body = d.to_json(&[]);
            if let Value::Object(o) = &mut body {
                o.insert("_id".into(), Value::String(d.id.clone()));
            }
            docs.push(body);
        }
    }
    let cursor = sync.cursor_text().await?;
    Ok((docs, batches, cursor))
}

/// The healthy plugin still works after whatever a previous step did.
async fn healthy_still_runs() {
    let (docs, _, _) = drain(
        &*plugin("healthy").await,
        json!({"count": 3}),
        SyncRequest::full(10),
    )
    .await
    .expect("the healthy plugin runs after a failure");
    assert_eq!(docs.len(), 3);
}

/// Runs the hostile plugin with `behaviour` until it fails; returns the error.
async fn sync_error(behaviour: &str) -> (PluginError, Duration) {
    hostile_error(json!({"behaviour": behaviour}), &Grants::default()).await
}

async fn hostile_error(config: Value, grants: &Grants) -> (PluginError, Duration) {
    let p = plugin("hostile").await;
    let started = Instant::now();
    let mut sync = p
        .start_sync(&values(config.clone()), SyncRequest::full(100), grants)
        .await
        .unwrap_or_else(|e| panic!("{config}: start-sync failed: {e}"));
    let err = loop {
        match sync.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{config}: the sync ended without an error"),
            Err(e) => break e,
        }
    };
    // A trapped instance is dead and never re-entered; a reported error leaves it alive.
    if !err.is_reported()
        && !matches!(
            err,
            PluginError::Contract { .. } | PluginError::NoProgress { .. }
        )
    {
        assert!(matches!(sync.next().await, Err(PluginError::Dead { .. })));
    }
    (err, started.elapsed())
}

#[tokio::test]
async fn healthy_metadata_schema_and_imports() {
    let p = plugin("healthy").await;
    assert_eq!(p.metadata.service_type, "healthy");
    assert!(p.metadata.features.incremental_sync);
    assert_eq!(p.contract_version, "0.2.0");
    assert_eq!(p.imports, vec!["logging".to_string()]);
    assert!(p.file.ends_with("healthy.wasm"));
    let schema = p.configuration_schema();
    assert_eq!(schema["count"]["type"], "int");
    assert_eq!(schema["count"]["display"], "numeric");
    assert_eq!(schema["count"]["value"], 10);
    assert_eq!(
        schema["count"]["validations"],
        json!([{"type": "greater_than", "constraint": -1}])
    );
    assert_eq!(
        schema["mode"]["options"],
        json!([{"label": "Plain", "value": "plain"}, {"label": "Fancy", "value": "fancy"}])
    );
    assert_eq!(
        schema["mode"]["depends_on"],
        json!([{"field": "count", "value": 10}])
    );
    assert_eq!(schema["mode"]["tooltip"], Value::Null);
}

#[tokio::test]
async fn healthy_full_and_incremental_syncs() {
    let p = plugin("healthy").await;
    let (docs, batches, cursor) = drain(&p, json!({"count": 2500}), SyncRequest::full(1000))
        .await
        .expect("full sync");
    assert_eq!((docs.len(), batches), (2500, 3));
    assert_eq!(
        docs[1],
        json!({"n": 1, "title": "Document \"1\"", "even": false, "price": 1.50, "tags": ["t1", 1], "note": null, "_id": "doc-1"})
    );
    assert!(
        docs[0].get("note").is_none(),
        "absent values are not written"
    );
    assert_eq!(cursor.as_deref(), Some("{\"next\":2500}"));

    let request = SyncRequest {
        kind: JobType::Incremental,
        cursor: Some("{\"next\":2400}".into()),
        advanced_rules: None,
        batch_size: 64,
    };
    let (docs, batches, cursor) = drain(&p, json!({"count": 2500}), request)
        .await
        .expect("incremental sync");
    assert_eq!((docs.len(), batches), (100, 2));
    assert_eq!(docs[0]["_id"], "doc-2400");
    assert_eq!(cursor.as_deref(), Some("{\"next\":2500}"));
}

#[tokio::test]
async fn healthy_validation_ping_and_reported_errors() {
    let p = plugin("healthy").await;
    let g = Grants::default();
    assert!(p
        .validate_config(&values(json!({"count": 5})), &g)
        .await
        .expect("validate")
        .is_empty());
    let errors = p
        .validate_config(&values(json!({"count": "many"})), &g)
        .await
        .expect("validate");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key.as_deref(), Some("count"));
    p.ping(&values(json!({"count": 1})), &g)
        .await
        .expect("ping");
    let err = p
        .ping(&values(json!({"count": -1})), &g)
        .await
        .expect_err("bad config");
    assert!(matches!(err, PluginError::Reported { .. }), "{err}");
    assert!(
        err.to_string().contains("`healthy`") && err.to_string().contains("configuration error"),
        "{err}"
    );
    assert!(p
        .validate_advanced_rules(&Map::new(), &json!([]), &g)
        .await
        .expect("rules")
        .is_empty());
    assert_eq!(
        p.validate_advanced_rules(&Map::new(), &json!({}), &g)
            .await
            .expect("rules")
            .len(),
        1
    );

    let err = drain(&p, json!({"count": 10, "fail_at": 5}), SyncRequest::full(3))
        .await
        .expect_err("fails at 5");
    assert!(
        err.to_string().contains("healthy.wasm")
            && err.to_string().contains("synthetic failure at document 5"),
        "{err}"
    );
    assert!(err.is_reported());
}

#[tokio::test]
async fn contract_violations_fail_the_sync_naming_the_plugin() {
    let p = plugin("healthy").await;
    for (corrupt, expected) in [
        ("json", "not exactly one JSON value"),
        ("number", "not a JSON number"),
        ("id", "empty id"),
        ("arity", "5 values for 6 fields"),
    ] {
        let err = drain(
            &p,
            json!({"count": 3, "corrupt": corrupt}),
            SyncRequest::full(10),
        )
        .await
        .expect_err(corrupt);
        assert!(
            matches!(err, PluginError::Contract { .. }),
            "{corrupt}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("`healthy`")
                && msg.contains("broke the contract")
                && msg.contains(expected),
            "{msg}"
        );
    }
    healthy_still_runs().await;
}

#[tokio::test]
async fn infinite_loop_hits_the_cpu_limit() {
    let (err, took) = sync_error("loop").await;
    assert!(matches!(err, PluginError::CpuLimit { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`hostile`") && msg.contains("hostile.wasm"),
        "{msg}"
    );
    assert!(msg.contains("exceeded its CPU time limit of 1 s"), "{msg}");
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    healthy_still_runs().await;
}

#[tokio::test]
async fn wall_clock_bound_stops_a_busy_plugin_too() {
    // A CPU budget larger than the wall-clock bound: the per-call timeout fires,
    // which only works because a busy guest yields to tokio at every epoch tick.
    let runtime = PluginRuntime::new(RuntimeConfig {
        cpu_limit: Duration::from_secs(600),
        call_timeout: Duration::from_millis(700),
        ..limits()
    })
    .expect("runtime");
    let p = runtime
        .load_file(&test_plugins_dir().join("hostile.wasm"))
        .await
        .expect("load");
    let mut sync = p
        .start_sync(
            &values(json!({"behaviour": "loop"})),
            SyncRequest::full(1),
            &Grants::default(),
        )
        .await
        .expect("start");
    let err = sync.next().await.expect_err("times out");
    assert!(matches!(err, PluginError::WallClockLimit { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("exceeded its wall-clock limit of 0.7 s"),
        "{err}"
    );
}

#[tokio::test]
async fn memory_hog_hits_the_memory_limit() {
    let (err, _) = sync_error("memory").await;
    assert!(matches!(err, PluginError::MemoryLimit { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`hostile`") && msg.contains("exceeded its memory limit of 64 MiB"),
        "{msg}"
    );
    healthy_still_runs().await;
}

#[tokio::test]
async fn panic_is_reported_with_its_message() {
    let (err, _) = sync_error("panic").await;
    assert!(matches!(err, PluginError::Panic { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`hostile`") && msg.contains("panicked during next-batch"),
        "{msg}"
    );
    assert!(
        msg.contains("the hostile test plugin panicked on purpose"),
        "{msg}"
    );
    healthy_still_runs().await;
}

#[tokio::test]
async fn wasi_exit_is_a_plain_message() {
    // WASI 0.2 carries only success or failure: `exit(3)` arrives as code 1.
    let (err, _) = sync_error("exit").await;
    assert!(matches!(err, PluginError::Exited { code: 1, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `hostile` ({}) exited with code 1 during next-batch",
            test_plugins_dir().join("hostile.wasm").display()
        )
    );
    healthy_still_runs().await;
}

#[tokio::test]
async fn escape_attempts_are_all_denied() {
    let cwd_probe = std::env::current_dir().expect("cwd").join("escape.txt");
    let (err, _) = sync_error("escape").await;
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Reported { .. }), "{msg}");
    assert!(msg.contains("`hostile`"), "{msg}");
    assert!(!msg.contains("ESCAPED"), "the sandbox leaked: {msg}");
    for attempt in [
        "denied read /etc/passwd",
        "denied create ./escape.txt",
        "denied list /",
        "denied env PATH",
        "denied env (all)",
        "denied args",
        "denied tcp 127.0.0.1:9200",
        "denied tcp bind",
        "denied udp bind",
        "denied resolve localhost:80",
    ] {
        assert!(msg.contains(attempt), "missing `{attempt}` in: {msg}");
    }
    assert!(!cwd_probe.exists(), "the plugin created a file");
    healthy_still_runs().await;
}

#[tokio::test]
async fn output_framing_cannot_be_changed_by_a_plugin() {
    // A second JSON value on a new line would be an extra `_bulk` action line.
    let (err, _) = sync_error("json-smuggle").await;
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Contract { .. }), "{msg}");
    assert!(
        msg.contains("document `doc-1`, field `payload`") && msg.contains("trailing data"),
        "{msg}"
    );
    // Elasticsearch's metadata fields and the host's own stamp are refused.
    for field in ["_id", "_index", "_source", "_routing", "_tributary_sync_id"] {
        let (err, _) = hostile_error(
            json!({"behaviour": "field", "field": field}),
            &Grants::default(),
        )
        .await;
        let msg = err.to_string();
        assert!(
            matches!(err, PluginError::Contract { .. })
                && msg.contains(&format!("field name {field:?}")),
            "{field}: {msg}"
        );
    }
    let (err, _) = sync_error("timestamp").await;
    assert!(err.to_string().contains("not an ISO-8601"), "{err}");
    // Pretty-printed JSON is legitimate: it arrives on one line.
    let p = plugin("hostile").await;
    let (docs, _, _) = drain(
        &p,
        json!({"behaviour": "json-pretty"}),
        SyncRequest::full(10),
    )
    .await
    .expect("pretty JSON syncs");
    assert_eq!(docs[0]["payload"], json!({"a": 1, "b": [true]}));
    healthy_still_runs().await;
}

#[tokio::test]
async fn empty_batches_without_end_are_stopped() {
    let runtime = PluginRuntime::new(RuntimeConfig {
        max_empty_batches: 40,
        ..limits()
    })
    .expect("runtime");
    let p = runtime
        .load_file(&test_plugins_dir().join("hostile.wasm"))
        .await
        .expect("load");
    let mut sync = p
        .start_sync(
            &values(json!({"behaviour": "empty"})),
            SyncRequest::full(1),
            &Grants::default(),
        )
        .await
        .expect("start");
    let started = Instant::now();
    let err = sync.next().await.expect_err("no progress");
    assert!(
        matches!(err, PluginError::NoProgress { batches: 40, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("40 empty batches in a row"),
        "{err}"
    );
    // Backed off (16 immediate calls, then waits), not a busy loop, and bounded.
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(500) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn secrets_never_enter_the_sandbox_and_are_masked_coming_out() {
    let p = plugin("hostile").await;
    let password = "s3cr3t-Pa55word";
    let config = values(json!({"behaviour": "secret", "password": password}));
    let runtime = &loaded().await.runtime;
    let grants = p.grants(runtime.config(), &config, &[]);
    assert_eq!(grants.secrets.keys(), ["password"]);
    let (err, _) = hostile_error(Value::Object(config.clone()), &grants).await;
    let msg = err.to_string();
    // The plugin saw only the placeholder, so that is all it could hand back.
    assert!(
        msg.contains(&format!("leaking the password: {REDACTED}")),
        "{msg}"
    );
    assert!(!msg.contains(password), "{msg}");
    // A sensitive flag on the stored connector configuration counts too.
    let config = values(json!({"behaviour": "secret", "field": "hunter2-hunter2"}));
    let grants = p.grants(runtime.config(), &config, &["field".to_string()]);
    assert_eq!(grants.secrets.redact(&config)["field"], REDACTED);
    assert!(
        !captured_logs().contains(password),
        "a secret reached the log"
    );
}

#[tokio::test]
async fn log_floods_and_forged_lines_are_contained() {
    let p = plugin("hostile").await;
    let started = Instant::now();
    let (docs, _, _) = drain(
        &p,
        json!({"behaviour": "log-flood", "count": 200_000}),
        SyncRequest::full(10),
    )
    .await
    .expect("the flood call completes");
    assert_eq!(docs.len(), 1);
    eprintln!(
        "log flood of 200000 lines + 12 MiB stderr took {:?}",
        started.elapsed()
    );
    // Dropping the instance writes the summary of what the budget dropped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = captured_logs();
    let kept = logs.lines().filter(|l| l.contains("flood line")).count();
    assert!(kept <= 20_000, "{kept} flood lines kept");
    assert!(
        logs.contains("plugin log lines were dropped"),
        "no summary line"
    );
    assert!(
        !logs.contains('\u{1b}') && !logs.contains('\u{202e}'),
        "raw escape codes in the log"
    );
    assert!(
        !logs
            .lines()
            .any(|l| l.starts_with("2026-12-06T00:00:00Z  INFO tributary: job completed")),
        "a plugin forged a host log line"
    );
    assert!(
        logs.contains("forged\\n2026-12-06T00:00:00Z"),
        "the forged text is shown escaped"
    );
    healthy_still_runs().await;
}

#[tokio::test]
async fn a_0_1_plugin_keeps_working() {
    let old = plugin("healthy-v0-1").await;
    assert_eq!(old.contract_version, "0.1.0");
    let new = plugin("healthy").await;
    let (a, _, ca) = drain(&old, json!({"count": 30}), SyncRequest::full(7))
        .await
        .expect("0.1 sync");
    let (b, _, cb) = drain(&new, json!({"count": 30}), SyncRequest::full(7))
        .await
        .expect("0.2 sync");
    assert_eq!(a, b);
    assert_eq!(ca, cb);
    assert_eq!(old.configuration_schema(), new.configuration_schema());
    let err = drain(
        &old,
        json!({"count": 3, "corrupt": "json"}),
        SyncRequest::full(10),
    )
    .await
    .expect_err("the same checks apply");
    assert!(matches!(err, PluginError::Contract { .. }), "{err}");
}

#[tokio::test]
async fn ungranted_import_is_refused_naming_the_import() {
    let l = loaded().await;
    let r = l
        .set
        .refused
        .iter()
        .find(|r| r.file.ends_with("ungranted_import.wasm"))
        .expect("ungranted_import.wasm is refused");
    assert!(
        matches!(r.error, PluginError::MissingImport { .. }),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("ungranted_import.wasm"), "{}", r.reason);
    assert!(
        r.reason.contains("tributary-test:ungranted/vault@0.1.0"),
        "{}",
        r.reason
    );
    assert!(l.set.get("ungranted-import").is_none());
    healthy_still_runs().await;
}

#[tokio::test]
async fn old_contract_is_refused_naming_both_versions() {
    let l = loaded().await;
    let r = l
        .set
        .refused
        .iter()
        .find(|r| r.file.ends_with("old_contract.wasm"))
        .expect("old_contract.wasm is refused");
    assert!(
        matches!(r.error, PluginError::IncompatibleContract { .. }),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("old_contract.wasm"), "{}", r.reason);
    assert!(
        r.reason.contains("tributary:connector@1.0.0") && r.reason.contains("0.2.0, 0.1.0"),
        "{}",
        r.reason
    );
    assert_eq!(
        l.set.refused.len(),
        2,
        "only the two bad plugins are refused"
    );
    assert_eq!(l.set.plugins.len(), 3);
    let _ = &l.runtime;
    healthy_still_runs().await;
}

#[tokio::test]
async fn non_components_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("text.wasm"), b"hello").expect("write");
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"ignored").expect("write");
    let runtime = PluginRuntime::new(limits()).expect("runtime");
    let set = runtime.load_dir(dir.path()).await.expect("load");
    assert!(set.plugins.is_empty());
    assert_eq!(set.refused.len(), 2);
    for r in &set.refused {
        assert!(
            matches!(r.error, PluginError::NotComponent { .. }),
            "{}",
            r.reason
        );
        assert!(
            r.reason.contains(&*r.file.to_string_lossy()),
            "{}",
            r.reason
        );
    }
    assert!(set
        .refused
        .iter()
        .any(|r| r.reason.contains("core WebAssembly module")));

    let healthy = test_plugins_dir().join("healthy.wasm");
    std::fs::copy(&healthy, dir.path().join("a.wasm")).expect("copy");
    std::fs::copy(&healthy, dir.path().join("b.wasm")).expect("copy");
    let err = runtime
        .load_dir(dir.path())
        .await
        .expect_err("duplicate service type");
    let msg = err.to_string();
    assert!(
        matches!(err, PluginError::DuplicateServiceType { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("a.wasm") && msg.contains("b.wasm") && msg.contains("`healthy`"),
        "{msg}"
    );

    let err = runtime
        .load_dir(&dir.path().join("absent"))
        .await
        .expect_err("no folder");
    assert!(err.to_string().contains("absent"), "{err}");
}

#[tokio::test]
async fn compile_cache_cold_warm_and_corrupt() {
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..limits()
    };
    let file = test_plugins_dir().join("healthy.wasm");

    let cold = PluginRuntime::new(cfg.clone())
        .expect("runtime")
        .load_file(&file)
        .await
        .expect("cold load");
    assert!(!cold.load_stats.from_cache);
    let warm_rt = PluginRuntime::new(cfg.clone()).expect("runtime");
    let warm = warm_rt.load_file(&file).await.expect("warm load");
    assert!(warm.load_stats.from_cache);
    eprintln!(
        "healthy.wasm load: cold {:?} (prepare {:?}), warm {:?} (prepare {:?})",
        cold.load_stats.total,
        cold.load_stats.prepare,
        warm.load_stats.total,
        warm.load_stats.prepare
    );

    // Corrupt every entry: the next load recompiles instead of failing.
    for e in std::fs::read_dir(cache.path())
        .expect("cache dir")
        .flatten()
    {
        let mut bytes = std::fs::read(e.path()).expect("read");
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        bytes.truncate(n - 100);
        std::fs::write(e.path(), bytes).expect("write");
    }
    let again = PluginRuntime::new(cfg)
        .expect("runtime")
        .load_file(&file)
        .await
        .expect("load after corruption");
    assert!(!again.load_stats.from_cache);
    let (docs, _, _) = drain(&again, json!({"count": 2}), SyncRequest::full(10))
        .await
        .expect("sync");
    assert_eq!(docs.len(), 2);
}

#[tokio::test]
async fn plugin_sync_is_a_document_source() {
    let p = plugin("healthy").await;
    let sync = p
        .start_sync(
            &values(json!({"count": 5})),
            SyncRequest::full(2),
            &Grants::default(),
        )
        .await
        .expect("start");
    let mut source: Box<dyn DocumentSource> = Box::new(sync);
    let mut n = 0;
    while let Some(batch) = source.next_batch().await.expect("batch") {
        n += batch.len();
    }
    assert_eq!(n, 5);
    assert_eq!(
        source.cursor().await.expect("cursor").as_deref(),
        Some("{\"next\":5}")
    );
}

// ---------------------------------------------------------------- PostgreSQL capability

/// A database of the test's own on the local PostgreSQL (superuser `postgres`,
/// trust auth), dropped at the end. PostgreSQL being down fails the test loudly.
struct TestDb {
    name: String,
}

async fn pg_admin(db: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap_or_else(|e| {
        panic!("PostgreSQL must run on 127.0.0.1:5432 (trust auth, user postgres): {e}")
    });
    tokio::spawn(conn);
    client
}

impl TestDb {
    async fn new(tag: &str, setup: &str) -> TestDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("trib_sandbox_{tag}_{}_{nanos}", std::process::id());
        pg_admin("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        pg_admin(&name)
            .await
            .batch_execute(setup)
            .await
            .expect("setup");
        TestDb { name }
    }

    /// The hostile plugin's configuration for this database, as a connector would hold it.
    fn config(&self, extra: Value) -> Map<String, Value> {
        let mut v = values(json!({
            "host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "",
            "database": self.name,
        }));
        v.extend(values(extra));
        v
    }

    /// Statements of the capability still running in this database.
    async fn active_statements(&self) -> usize {
        pg_admin("postgres")
            .await
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary' AND state = 'active'",
                &[&self.name],
            )
            .await
            .expect("pg_stat_activity")
            .len()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = pg_admin("postgres")
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            }
        })
        .join();
    }
}

/// The hostile plugin granted PostgreSQL (it imports the capability).
async fn pg_grants(config: &Map<String, Value>, runtime: &PluginRuntime) -> Grants {
    plugin("hostile")
        .await
        .grants(runtime.config(), config, &[])
}

#[tokio::test]
async fn hostile_sql_is_refused_over_a_superuser_connection() {
    let db = TestDb::new(
        "sql",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);",
    )
    .await;
    let runtime = &loaded().await.runtime;
    let p = plugin("hostile").await;
    for (sql, named) in [
        (
            "SELECT word FROM ts_stat($q$SELECT to_tsvector('simple', pg_read_file('/etc/passwd'))$q$)",
            "function `ts_stat` is not allowed",
        ),
        ("SELECT query_to_xml('select 1', true, true, '')", "function `query_to_xml`"),
        ("SELECT set_config('statement_timeout', '0', false)", "function `set_config`"),
        ("SELECT pg_try_advisory_lock(1)", "function `pg_try_advisory_lock`"),
        ("SELECT pg_create_physical_replication_slot('tributary_evil')", "function `pg_create_physical_replication_slot`"),
        ("SELECT pg_terminate_backend(1)", "function `pg_terminate_backend`"),
        ("SELECT lo_import('/etc/passwd')", "function `lo_import`"),
        ("SELECT rolpassword FROM pg_authid", "relation `pg_authid`"),
        ("SELECT * FROM pg_catalog.pg_shadow", "relation `pg_catalog.pg_shadow`"),
        ("SELECT * FROM pg_ls_waldir()", "function `pg_ls_waldir`"),
        ("SELECT 1; COMMIT", "exactly one statement"),
        ("COPY t TO PROGRAM 'id'", "only SELECT statements are allowed, not COPY"),
        ("SELECT * FROM t FOR UPDATE", "LockingClause"),
    ] {
        let config = db.config(json!({"behaviour": "sql", "sql": sql}));
        let grants = pg_grants(&config, runtime).await;
        let (err, _) = hostile_error(Value::Object(config), &grants).await;
        let msg = err.to_string();
        assert!(
            msg.contains("statement refused") && msg.contains(named),
            "{sql}: {msg}"
        );
    }
    let slots = pg_admin("postgres")
        .await
        .query(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'tributary_evil'",
            &[],
        )
        .await
        .expect("slots");
    assert!(slots.is_empty(), "a refused statement reached the server");
    // A legitimate read works through the same path.
    let config =
        db.config(json!({"behaviour": "sql", "sql": "SELECT id::text FROM t ORDER BY id"}));
    let grants = pg_grants(&config, runtime).await;
    let (docs, _, _) = drain_with(&p, Value::Object(config), SyncRequest::full(10), &grants)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        docs.iter().map(|d| d["value"].clone()).collect::<Vec<_>>(),
        [json!("1"), json!("2")]
    );
}

#[tokio::test]
async fn host_shaped_documents_are_checked_like_a_batch() {
    let db = TestDb::new("shape", "").await;
    let runtime = &loaded().await.runtime;
    let p = plugin("hostile").await;
    // A legitimate shape: the host reads the rows and writes the documents.
    let config = db.config(json!({"behaviour": "shape", "count": 3}));
    let grants = pg_grants(&config, runtime).await;
    let (docs, _, _) = drain_with(&p, Value::Object(config), SyncRequest::full(10), &grants)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        docs.iter().map(|d| d["n"].clone()).collect::<Vec<_>>(),
        [json!(1), json!(2), json!(3)]
    );
    // A refused shape fails the job even though the plugin ignores the error.
    for (extra, named) in [
        (json!({"field": "_id"}), "field name \"_id\""),
        (
            json!({"field": "_tributary_sync_id"}),
            "field name \"_tributary_sync_id\"",
        ),
        (
            json!({"column": 3}),
            "the shape reads column 3, the result has 1 columns",
        ),
        (
            json!({"count": 70_000}),
            "documents were emitted within one next-batch call",
        ),
    ] {
        let mut settings = json!({"behaviour": "shape"});
        settings
            .as_object_mut()
            .expect("object")
            .extend(values(extra.clone()));
        let config = db.config(settings);
        let grants = pg_grants(&config, runtime).await;
        let (err, _) = hostile_error(Value::Object(config), &grants).await;
        let msg = err.to_string();
        assert!(
            matches!(err, PluginError::Contract { .. }) && msg.contains(named),
            "{extra}: {msg}"
        );
    }
}

#[tokio::test]
async fn sessions_are_capped_per_job() {
    let db = TestDb::new("sessions", "").await;
    let runtime = &loaded().await.runtime;
    let config = db.config(json!({"behaviour": "sessions", "count": 5}));
    let grants = pg_grants(&config, runtime).await;
    let p = plugin("hostile").await;
    let Err(err) = p.start_sync(&config, SyncRequest::full(10), &grants).await else {
        panic!("the fifth session was not refused");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("session 5")
            && msg.contains("session limit reached")
            && msg.contains("plugins.postgresql.max_sessions"),
        "{msg}"
    );
    let config = db.config(json!({"behaviour": "sessions", "count": 4}));
    let grants = pg_grants(&config, runtime).await;
    let mut sync = p
        .start_sync(&config, SyncRequest::full(10), &grants)
        .await
        .expect("four sessions");
    let batch = sync.next().await.expect("batch").expect("one document");
    assert_eq!(batch[0].to_json(&[])["sessions"], 4);
}

#[tokio::test]
async fn no_statement_outlives_the_call_that_gave_up() {
    let db = TestDb::new("deadline", "").await;
    // The host's wall-clock bound fires first: the statement is cancelled on the server.
    let runtime = PluginRuntime::new(RuntimeConfig {
        call_timeout: Duration::from_secs(2),
        ..limits()
    })
    .expect("runtime");
    let p = runtime
        .load_file(&test_plugins_dir().join("hostile.wasm"))
        .await
        .expect("load");
    let config = db.config(json!({"behaviour": "slow-sql"}));
    let grants = p.grants(runtime.config(), &config, &[]);
    let mut sync = p
        .start_sync(&config, SyncRequest::full(1), &grants)
        .await
        .expect("start");
    let err = sync.next().await.expect_err("gives up");
    assert!(matches!(err, PluginError::WallClockLimit { .. }), "{err}");
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = db.active_statements().await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the statement kept running after the host gave up");
    drop(sync);

    // The statement timeout fires first (it stays below the call's bound) and says so.
    let mut cfg = limits();
    cfg.postgresql.statement_timeout_ms = 500;
    let runtime = PluginRuntime::new(cfg).expect("runtime");
    let p = runtime
        .load_file(&test_plugins_dir().join("hostile.wasm"))
        .await
        .expect("load");
    let grants = p.grants(runtime.config(), &config, &[]);
    let mut sync = p
        .start_sync(&config, SyncRequest::full(1), &grants)
        .await
        .expect("start");
    let err = sync.next().await.expect_err("statement timeout");
    assert!(matches!(err, PluginError::Reported { .. }), "{err}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
}
