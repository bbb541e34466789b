//! Sandbox tests with real components from `tests/plugins/` (built by
//! `cargo xtask build` into `target/test-plugins/`): each misbehaving plugin ends in
//! a clean error naming the plugin and the cause, and the same runtime then runs
//! the healthy plugin normally.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;
use tributary::plugins::{
    Grants, JobKind, LoadedPlugin, PluginError, PluginRuntime, PluginSet, RuntimeConfig,
    SyncRequest,
};
use tributary::sync::DocumentSource;

const PLUGINS: &[&str] = &[
    "healthy",
    "infinite_loop",
    "memory_hog",
    "escape",
    "panic",
    "ungranted_import",
    "old_contract",
];

fn test_plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugins");
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

/// One runtime for every test: compiling takes long in debug builds.
async fn loaded() -> &'static Loaded {
    static LOADED: OnceCell<Loaded> = OnceCell::const_new();
    LOADED
        .get_or_init(|| async {
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
    let mut sync = p
        .start_sync(&values(v), request, &Grants::default())
        .await?;
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

async fn sync_error(service_type: &str) -> (PluginError, Duration) {
    let p = plugin(service_type).await;
    let started = Instant::now();
    let mut sync = p
        .start_sync(&Map::new(), SyncRequest::full(100), &Grants::default())
        .await
        .expect("start-sync succeeds");
    let err = loop {
        match sync.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{service_type}: the sync ended without an error"),
            Err(e) => break e,
        }
    };
    // A trapped instance is dead and never re-entered; a reported error leaves it alive.
    if !err.is_reported() {
        assert!(matches!(sync.next().await, Err(PluginError::Dead { .. })));
    }
    (err, started.elapsed())
}

#[tokio::test]
async fn healthy_metadata_schema_and_imports() {
    let p = plugin("healthy").await;
    assert_eq!(p.metadata.service_type, "healthy");
    assert!(p.metadata.features.incremental_sync);
    assert_eq!(p.contract_version, "0.1.0");
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
        kind: JobKind::Incremental,
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
        ("json", "not valid JSON"),
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
    let (err, took) = sync_error("infinite-loop").await;
    assert!(matches!(err, PluginError::CpuLimit { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`infinite-loop`") && msg.contains("infinite_loop.wasm"),
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
        .load_file(&test_plugins_dir().join("infinite_loop.wasm"))
        .await
        .expect("load");
    let mut sync = p
        .start_sync(&Map::new(), SyncRequest::full(1), &Grants::default())
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
    let (err, _) = sync_error("memory-hog").await;
    assert!(matches!(err, PluginError::MemoryLimit { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`memory-hog`") && msg.contains("exceeded its memory limit of 64 MiB"),
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
        msg.contains("`panic`") && msg.contains("panicked during next-batch"),
        "{msg}"
    );
    assert!(
        msg.contains("the panic test plugin panicked on purpose"),
        "{msg}"
    );
    healthy_still_runs().await;
}

#[tokio::test]
async fn escape_attempts_are_all_denied() {
    let cwd_probe = std::env::current_dir().expect("cwd").join("escape.txt");
    let (err, _) = sync_error("escape").await;
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Reported { .. }), "{msg}");
    assert!(msg.contains("`escape`"), "{msg}");
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
        r.reason.contains("tributary:connector@1.0.0")
            && r.reason.contains("tributary:connector@0.1.0"),
        "{}",
        r.reason
    );
    assert_eq!(
        l.set.refused.len(),
        2,
        "only the two bad plugins are refused"
    );
    assert_eq!(l.set.plugins.len(), 5);
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
