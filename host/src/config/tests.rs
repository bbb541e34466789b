//! One test per rule of the config loader.

use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "ES_HOST" => Some("https://es.internal:9243".into()),
        "ES_KEY" => Some("a2V5OnNlY3JldA==".into()),
        "TIMEOUT" => Some("30".into()),
        "VERIFY" => Some("false".into()),
        _ => None,
    }
}

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    from_str_with_env(yaml, "config.yml", &env)
}

fn ok(yaml: &str) -> Config {
    match parse(yaml) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(yaml: &str) -> String {
    match parse(yaml) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_file_gives_elastic_defaults() {
    let c = ok("");
    assert_eq!(c, Config::default());
    let es = &c.elasticsearch;
    assert_eq!(es.host, "http://localhost:9200");
    assert_eq!(
        (es.username.as_str(), es.password.as_str()),
        ("elastic", "changeme")
    );
    assert!(es.api_key.is_none() && es.ssl && es.verify_certs && es.ca_certs.is_none());
    assert_eq!(es.request_timeout, Duration::from_secs(240));
    assert_eq!(
        (es.max_retries, es.retry_interval),
        (5, Duration::from_secs(10))
    );
    assert_eq!(es.bulk.queue_max_size, 1024);
    assert_eq!(es.bulk.chunk_size, 500);
    assert_eq!(es.bulk.chunk_max_mem_size, 3);
    assert_eq!(es.bulk.max_concurrency, 5);
    assert_eq!(es.bulk.concurrent_downloads, 10);
    assert_eq!(es.bulk.display_every, 100);
    assert!(!es.bulk.enable_operations_logging);
    let s = &c.service;
    assert_eq!(s.idling, Duration::from_secs(30));
    assert_eq!(s.heartbeat, Duration::from_secs(300));
    assert_eq!(
        (s.preflight_max_attempts, s.preflight_idle),
        (10, Duration::from_secs(30))
    );
    assert_eq!(
        (s.max_errors, s.max_errors_span),
        (20, Duration::from_secs(600))
    );
    assert_eq!(s.max_concurrent_content_syncs, 1);
    assert_eq!(s.max_concurrent_access_control_syncs, 1);
    assert_eq!(s.job_cleanup_interval, Duration::from_secs(300));
    assert_eq!(s.log_level, LogLevel::Info);
    assert!(c.connectors.is_empty());
    assert_eq!(c.plugins.memory_limit_mb, 256);
    assert_eq!(c.plugins.call_timeout_secs, 60);
    assert!(c.plugins.cache_dir.is_none());
    assert!(c.plugins.postgresql.allowed_hosts.is_empty());
    assert_eq!(c.plugins.wall_timeout_secs, 300);
    assert_eq!(c.plugins.postgresql.statement_timeout_ms, None);
    assert_eq!(
        c.plugins
            .postgresql
            .effective_statement_timeout_ms(c.plugins.wall_timeout_secs),
        240_000
    );
    assert_eq!(c.plugins.postgresql.max_sessions, 4);
    assert_eq!(c.sync.bulk_max_docs, 1000);
    assert_eq!(c.sync.bulk_max_bytes, 5 * 1024 * 1024);
    assert_eq!(c.sync.bulk_concurrency, 2);
    assert_eq!(c.sync.bulk_max_retries, 5);
    assert_eq!(c.sync.error_budget.max_consecutive_errors, 10);
    assert!(c.warnings.is_empty());
}

#[test]
fn the_tutorial_config_parses() {
    let c = ok("
elasticsearch:
  host: http://localhost:9200
  api_key: abc
connectors:
  - connector_id: my-connector-id
    service_type: postgresql
");
    assert_eq!(c.elasticsearch.api_key.as_deref(), Some("abc"));
    assert_eq!(
        c.connectors,
        [ConnectorEntry {
            connector_id: "my-connector-id".into(),
            service_type: Some("postgresql".into()),
            api_key: None,
        }]
    );
    assert!(c.connector("my-connector-id").is_some());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn dotted_and_nested_keys_are_equivalent() {
    let dotted = ok("
elasticsearch.host: http://a:9200
elasticsearch.bulk.chunk_max_mem_size: 7
service.idling: 5
");
    let nested = ok("
elasticsearch:
  host: http://a:9200
  bulk:
    chunk_max_mem_size: 7
service:
  idling: 5
");
    let mixed = ok("
elasticsearch:
  host: http://a:9200
  bulk.chunk_max_mem_size: 7
service.idling: 5
");
    assert_eq!(dotted, nested);
    assert_eq!(dotted, mixed);
    assert_eq!(dotted.elasticsearch.host, "http://a:9200");
    assert_eq!(dotted.elasticsearch.bulk.chunk_max_mem_size, 7);
    assert_eq!(dotted.service.idling, Duration::from_secs(5));
}

#[test]
fn dotted_and_nested_forms_merge() {
    let c = ok("
elasticsearch.host: http://a:9200
elasticsearch:
  username: bob
");
    assert_eq!(c.elasticsearch.host, "http://a:9200");
    assert_eq!(c.elasticsearch.username, "bob");
}

#[test]
fn a_key_set_twice_is_an_error() {
    let e = err("
elasticsearch.host: http://a:9200
elasticsearch:
  host: http://b:9200
");
    assert!(
        e.contains("`elasticsearch.host`") && e.contains("more than once"),
        "{e}"
    );
}

#[test]
fn environment_is_interpolated() {
    let c = ok("
elasticsearch:
  host: ${ES_HOST}
  api_key: ${ES_KEY}
  request_timeout: ${TIMEOUT}
  verify_certs: ${VERIFY}
  username: ${ES_USER:-reader}
");
    assert_eq!(c.elasticsearch.host, "https://es.internal:9243");
    assert_eq!(c.elasticsearch.api_key.as_deref(), Some("a2V5OnNlY3JldA=="));
    assert_eq!(c.elasticsearch.request_timeout, Duration::from_secs(30));
    assert!(!c.elasticsearch.verify_certs);
    assert_eq!(c.elasticsearch.username, "reader");
}

#[test]
fn interpolation_reaches_lists() {
    let c = ok("
connectors:
  - connector_id: ${CID:-c1}
    api_key: ${ES_KEY}
");
    assert_eq!(c.connectors[0].connector_id, "c1");
    assert_eq!(c.connectors[0].api_key.as_deref(), Some("a2V5OnNlY3JldA=="));
}

#[test]
fn unset_variable_names_key_and_variable() {
    let e = err("elasticsearch:\n  password: ${ES_PASSWORD}\n");
    assert!(
        e.contains("`elasticsearch.password`") && e.contains("ES_PASSWORD"),
        "{e}"
    );
}

#[test]
fn unknown_keys_warn_with_their_path() {
    let c = ok("
elasticsearch:
  hots: http://x:9200
  bulk:
    chunk_sise: 3
service.idlin: 3
plugins:
  postgresql:
    allowed_host: [db]
connectors:
  - connector_id: a
    servce_type: postgresql
frobnicate: true
");
    for key in [
        "elasticsearch.hots",
        "elasticsearch.bulk.chunk_sise",
        "service.idlin",
        "plugins.postgresql.allowed_host",
        "connectors[0].servce_type",
        "frobnicate",
    ] {
        assert!(
            c.warnings.iter().any(|w| w.contains(&format!("`{key}`"))),
            "no warning for {key}: {:?}",
            c.warnings
        );
    }
    assert_eq!(c.warnings.len(), 6, "{:?}", c.warnings);
}

#[test]
fn ignored_elastic_keys_warn_with_the_reason() {
    let c = ok("
sources:
  postgresql: connectors.sources.postgresql:PostgreSQLDataSource
extraction_service:
  host: http://localhost:8090
");
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("`sources`") && w.contains("plugins")));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("`extraction_service`")));
}

#[test]
fn invalid_values_name_the_key_and_the_problem() {
    let cases = [
        (
            "elasticsearch.request_timeout: soon",
            "elasticsearch.request_timeout",
            "number",
        ),
        (
            "elasticsearch.request_timeout: 0",
            "elasticsearch.request_timeout",
            "more than 0",
        ),
        (
            "elasticsearch.host: localhost:9200",
            "elasticsearch.host",
            "http://",
        ),
        (
            "elasticsearch.verify_certs: sometimes",
            "elasticsearch.verify_certs",
            "true or false",
        ),
        (
            "elasticsearch.max_retries: -1",
            "elasticsearch.max_retries",
            "at least 0",
        ),
        (
            "elasticsearch.backoff_multiplier: 0.5",
            "elasticsearch.backoff_multiplier",
            "at least 1",
        ),
        (
            "elasticsearch.headers: [a]",
            "elasticsearch.headers",
            "mapping",
        ),
        (
            "elasticsearch.headers: {\"bad header\": x}",
            "elasticsearch.headers",
            "header name",
        ),
        (
            "elasticsearch.bulk.chunk_size: 0",
            "elasticsearch.bulk.chunk_size",
            "at least 1",
        ),
        (
            "elasticsearch.bulk.max_concurrency: 2.5",
            "elasticsearch.bulk.max_concurrency",
            "whole number",
        ),
        (
            "elasticsearch.bulk.error_monitor.max_error_rate: 2",
            "elasticsearch.bulk.error_monitor.max_error_rate",
            "between 0 and 1",
        ),
        ("service.idling: -5", "service.idling", "more than 0"),
        (
            "service.max_concurrent_content_syncs: 0",
            "service.max_concurrent_content_syncs",
            "at least 1",
        ),
        ("service.log_level: LOUD", "service.log_level", "log level"),
        (
            "service.metrics_listen: localhost",
            "service.metrics_listen",
            "127.0.0.1:9464",
        ),
        ("service.log_format: xml", "service.log_format", "`json`"),
        (
            "sync.bulk_rejection_timeout: -1",
            "sync.bulk_rejection_timeout",
            "0",
        ),
        ("service: 3", "service", "mapping"),
        ("connectors: {a: b}", "connectors", "list"),
        ("connectors: [a]", "connectors[0]", "connector_id"),
        (
            "connectors: [{service_type: postgresql}]",
            "connectors[0].connector_id",
            "missing",
        ),
        (
            "connectors: [{connector_id: changeme}]",
            "connectors[0].connector_id",
            "changeme",
        ),
        (
            "connectors: [{connector_id: a, service_type: changeme}]",
            "connectors[0].service_type",
            "changeme",
        ),
        (
            "connectors: [{connector_id: ''}]",
            "connectors[0].connector_id",
            "empty",
        ),
        (
            "plugins.memory_limit_mb: 0",
            "plugins.memory_limit_mb",
            "at least 1",
        ),
        (
            "plugins.memory_limit_mb: 5000",
            "plugins.memory_limit_mb",
            "4096",
        ),
        (
            "plugins.call_timeout_secs: x",
            "plugins.call_timeout_secs",
            "whole number",
        ),
        (
            "plugins.postgresql.allowed_hosts: 5",
            "plugins.postgresql.allowed_hosts",
            "list",
        ),
        (
            "plugins.postgresql.statement_timeout_ms: 0",
            "plugins.postgresql.statement_timeout_ms",
            "at least 1",
        ),
        (
            "plugins.postgresql.statement_timeout_ms: 300000",
            "plugins.postgresql.statement_timeout_ms",
            "must be below plugins.wall_timeout_secs (300 s",
        ),
        (
            "plugins: {wall_timeout_secs: 10, postgresql: {statement_timeout_ms: 10000}}",
            "plugins.postgresql.statement_timeout_ms",
            "below plugins.wall_timeout_secs (10 s",
        ),
        (
            "plugins.postgresql.max_sessions: 0",
            "plugins.postgresql.max_sessions",
            "at least 1",
        ),
        ("sync.bulk_max_docs: 0", "sync.bulk_max_docs", "at least 1"),
        (
            "sync.bulk_max_bytes: 5",
            "sync.bulk_max_bytes",
            "at least 1024",
        ),
        (
            "sync.bulk_concurrency: 0",
            "sync.bulk_concurrency",
            "at least 1",
        ),
        (
            "sync.error_budget.max_error_rate: -0.1",
            "sync.error_budget.max_error_rate",
            "between 0 and 1",
        ),
        ("a..b: 1", "a..b", "empty segment"),
    ];
    for (yaml, key, what) in cases {
        let e = err(yaml);
        assert!(e.starts_with("config.yml: "), "{yaml}: {e}");
        assert!(
            e.contains(&format!("`{key}`")),
            "{yaml}: no key {key} in: {e}"
        );
        assert!(e.contains(what), "{yaml}: no {what:?} in: {e}");
    }
}

#[test]
fn error_key_accessor() {
    let e = parse("service.idling: x").unwrap_err();
    assert_eq!(e.key(), Some("service.idling"));
}

#[test]
fn not_yaml_and_not_a_mapping() {
    assert!(err("a: [").contains("not valid YAML"));
    assert!(err("- a\n- b\n").contains("mapping"));
}

#[test]
fn null_means_default() {
    let c = ok("
elasticsearch:
  api_key:
  ca_certs:
  request_timeout:
service:
");
    assert!(c.elasticsearch.api_key.is_none());
    assert_eq!(c.elasticsearch.request_timeout, Duration::from_secs(240));
}

#[test]
fn every_elastic_key_is_read() {
    let c = ok("
elasticsearch:
  host: https://h:9200
  api_key: k
  username: u
  password: p
  ssl: false
  verify_certs: false
  ca_certs: /etc/ca.pem
  retry_on_timeout: false
  request_timeout: 12
  max_wait_duration: 13
  initial_backoff_duration: 0.5
  backoff_multiplier: 3
  log_level: debug
  max_retries: 2
  retry_interval: 4
  headers: {X-Test: yes}
  feature_use_connectors_api: false
  bulk:
    display_every: 7
    queue_max_size: 8
    queue_max_mem_size: 9
    queue_refresh_interval: 2
    queue_refresh_timeout: 3
    chunk_max_mem_size: 4
    max_text_document_size: 0
    chunk_size: 11
    max_concurrency: 3
    concurrent_downloads: 12
    max_retries: 1
    retry_interval: 1
    enable_operations_logging: true
    error_monitor:
      enabled: false
      max_total_errors: 5
      max_consecutive_errors: 6
      max_error_rate: 0.5
      error_window_size: 20
      error_queue_size: 4
service:
  idling: 1
  heartbeat: 2
  preflight_max_attempts: 3
  preflight_idle: 0
  max_errors: 5
  max_errors_span: 6
  max_concurrent_content_syncs: 7
  max_concurrent_access_control_syncs: 8
  max_concurrent_scheduling_tasks: 9
  max_file_download_size: 10
  job_cleanup_interval: 11
  log_level: WARNING
  service_types: [postgresql]
  fips_mode: true
plugins:
  memory_limit_mb: 128
  call_timeout_secs: 5
  cache_dir: /var/cache/tributary
  postgresql:
    allowed_hosts: [db.internal, 'db2:5433']
    statement_timeout_ms: 1000
");
    let es = &c.elasticsearch;
    assert_eq!(es.host, "https://h:9200");
    assert!(!es.ssl && !es.verify_certs && !es.retry_on_timeout && !es.feature_use_connectors_api);
    assert_eq!(
        es.ca_certs.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(es.initial_backoff_duration, Duration::from_millis(500));
    assert_eq!(es.backoff_multiplier, 3.0);
    assert_eq!(es.log_level, LogLevel::Debug);
    assert_eq!(es.headers.get("X-Test").map(String::as_str), Some("yes"));
    assert_eq!(es.bulk.chunk_size, 11);
    assert!(es.bulk.enable_operations_logging);
    assert!(!es.bulk.error_monitor.enabled);
    assert_eq!(es.bulk.error_monitor.error_window_size, 20);
    assert_eq!(c.service.preflight_idle, Duration::ZERO);
    assert_eq!(c.service.log_level, LogLevel::Warn);
    assert_eq!(c.service.service_types, ["postgresql"]);
    assert_eq!(c.service.max_concurrent_access_control_syncs, 8);
    assert_eq!(
        c.plugins.cache_dir.as_deref(),
        Some(std::path::Path::new("/var/cache/tributary"))
    );
    assert_eq!(
        c.plugins.postgresql.allowed_hosts,
        ["db.internal", "db2:5433"]
    );
    // Only chunk_size warns: it has no Tributary meaning.
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("chunk_size"));
}

#[test]
fn sync_inherits_explicit_elastic_bulk_keys() {
    let c = ok("
elasticsearch.bulk:
  max_concurrency: 4
  chunk_max_mem_size: 8
  error_monitor.max_total_errors: 50
");
    assert_eq!(c.sync.bulk_concurrency, 4);
    assert_eq!(c.sync.bulk_max_bytes, 8 * 1024 * 1024);
    assert_eq!(c.sync.error_budget.max_total_errors, 50);
    // Not given under error_monitor → Tributary's default stays.
    assert_eq!(c.sync.error_budget.max_consecutive_errors, 10);
}

#[test]
fn explicit_sync_keys_win_over_inherited_ones() {
    let c = ok("
elasticsearch.bulk.max_concurrency: 4
sync:
  bulk_concurrency: 3
  bulk_max_docs: 200
  bulk_max_bytes: 2048
  bulk_max_retries: 0
  error_budget:
    enabled: false
    max_error_rate: 0.5
");
    assert_eq!(c.sync.bulk_concurrency, 3);
    assert_eq!(c.sync.bulk_max_docs, 200);
    assert_eq!(c.sync.bulk_max_bytes, 2048);
    assert_eq!(c.sync.bulk_max_retries, 0);
    assert!(!c.sync.error_budget.enabled);
    assert_eq!(c.sync.error_budget.max_error_rate, 0.5);
}

#[test]
fn duplicate_connectors_later_wins() {
    let c = ok("
connectors:
  - {connector_id: a, service_type: x}
  - {connector_id: b, service_type: y}
  - {connector_id: a, service_type: z}
");
    let ids: Vec<_> = c
        .connectors
        .iter()
        .map(|e| e.connector_id.as_str())
        .collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(
        c.connector("a").and_then(|e| e.service_type.as_deref()),
        Some("z")
    );
    assert!(c.warnings.iter().any(|w| w.contains("more than once")));
}

#[test]
fn deprecated_single_connector_form() {
    let c = ok("connector_id: legacy\nservice_type: postgresql\n");
    assert_eq!(c.connectors[0].connector_id, "legacy");
    assert_eq!(c.connectors[0].service_type.as_deref(), Some("postgresql"));
    assert!(c.warnings.iter().any(|w| w.contains("deprecated")));
}

#[test]
fn per_connector_api_key() {
    let c = ok("connectors: [{connector_id: a, service_type: postgresql, api_key: k1}]");
    assert_eq!(c.connectors[0].api_key.as_deref(), Some("k1"));
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, "service.idling: nope\n").unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(
        e.contains("config.yml") && e.contains("service.idling"),
        "{e}"
    );
    std::fs::write(&path, "service.idling: 2\n").unwrap();
    assert_eq!(load(&path).unwrap().service.idling, Duration::from_secs(2));
    let missing = dir.path().join("missing.yml");
    let e = load(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.yml"), "{e}");
}

#[test]
fn log_level_filter_names() {
    assert_eq!(
        LogLevel::parse("INFO").map(LogLevel::as_filter),
        Some("info")
    );
    assert_eq!(
        LogLevel::parse("warning").map(LogLevel::as_filter),
        Some("warn")
    );
}

#[test]
fn operators_keys() {
    let c = ok("");
    assert_eq!(c.service.metrics_listen, None, "off by default");
    assert_eq!(c.service.log_format, LogFormat::Text);
    assert_eq!(c.sync.bulk_rejection_timeout, Duration::from_secs(300));
    let c = ok(
        "service:\n  metrics_listen: 127.0.0.1:9464\n  log_format: JSON\nsync:\n  bulk_rejection_timeout: 30\n",
    );
    assert_eq!(
        c.service.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(c.service.log_format, LogFormat::Json);
    assert_eq!(c.sync.bulk_rejection_timeout, Duration::from_secs(30));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        ok("service.metrics_listen: off").service.metrics_listen,
        None
    );
    assert_eq!(
        ok("service.metrics_listen: '[::1]:0'")
            .service
            .metrics_listen,
        Some("[::1]:0".parse().unwrap())
    );
}
