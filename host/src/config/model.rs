//! The typed config.yml model, with elastic-ingest's keys and defaults (`docs/elastic/config-yml.md`)
//! plus Tributary's own `plugins:` and `sync:` sections.
//!
//! Durations are written in seconds in config.yml (numbers, fractions allowed), as
//! elastic-ingest reads them; memory sizes in MiB unless the key says otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The whole config.yml.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `elasticsearch.*`: endpoint, credentials, TLS, retries, `bulk.*`.
    pub elasticsearch: ElasticsearchConfig,
    /// `service.*`: the long-running loops.
    pub service: ServiceConfig,
    /// `connectors: [{connector_id, service_type, api_key}]`, duplicates resolved
    /// (a later entry with the same id wins, as in elastic-ingest).
    pub connectors: Vec<ConnectorEntry>,
    /// `plugins:` (Tributary only): sandbox limits and capability policy.
    pub plugins: PluginsConfig,
    /// `sync:` (Tributary only): bulk sizing and the error budget.
    pub sync: SyncConfig,
    /// Every warning produced while loading (unknown keys, ignored keys, deprecated
    /// forms). They are also emitted with `tracing::warn!` at load time; kept here for
    /// callers that install their log subscriber only after reading `log_level`.
    pub warnings: Vec<String>,
}

/// `elasticsearch.*` (`docs/elastic/config-yml.md#elasticsearch`).
#[derive(Debug, Clone, PartialEq)]
pub struct ElasticsearchConfig {
    /// `host`, default `http://localhost:9200`.
    pub host: String,
    /// `api_key` (encoded `id:key`, base64); preferred over username/password.
    pub api_key: Option<String>,
    /// `username`, default `elastic`.
    pub username: String,
    /// `password`, default `changeme`.
    pub password: String,
    /// `ssl`, default true. As in elastic-ingest, TLS is actually decided by the
    /// `https` scheme of `host`; this flag is kept for compatibility.
    pub ssl: bool,
    /// `verify_certs`, default true. False accepts any server certificate.
    pub verify_certs: bool,
    /// `ca_certs`: PEM file with the CA(s) that signed the server certificate.
    pub ca_certs: Option<PathBuf>,
    /// `retry_on_timeout`, default true: timeouts are retried like 5xx.
    pub retry_on_timeout: bool,
    /// `request_timeout`, default 240 s.
    pub request_timeout: Duration,
    /// `max_wait_duration`, default 240 s (elastic-ingest's start-up wait; Tributary
    /// waits `service.preflight_max_attempts` × `service.preflight_idle` instead and
    /// reads this key for compatibility only).
    pub max_wait_duration: Duration,
    /// `initial_backoff_duration`, default 1 s: first retry delay.
    pub initial_backoff_duration: Duration,
    /// `backoff_multiplier`, default 2.
    pub backoff_multiplier: f64,
    /// `log_level` of the HTTP client, default `info`.
    pub log_level: LogLevel,
    /// `max_retries`, default 5: attempts per request, bulk included.
    pub max_retries: u32,
    /// `retry_interval`, default 10 s. Differs from Elastic on purpose: Elastic
    /// sleeps `retry_interval × attempt` (linear); Tributary backs off exponentially
    /// from `initial_backoff_duration` by `backoff_multiplier`, with jitter, and uses
    /// `retry_interval` as the cap of one delay — so many hosts retrying after one
    /// overload do not hammer Elasticsearch in lock-step.
    pub retry_interval: Duration,
    /// `headers`: extra HTTP headers on every request.
    pub headers: BTreeMap<String, String>,
    /// `feature_use_connectors_api`, default true. Tributary always uses the
    /// Connector API where Elastic's 9.x service does; read for compatibility.
    pub feature_use_connectors_api: bool,
    /// `bulk.*`.
    pub bulk: BulkConfig,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        Self {
            host: "http://localhost:9200".into(),
            api_key: None,
            username: "elastic".into(),
            password: "changeme".into(),
            ssl: true,
            verify_certs: true,
            ca_certs: None,
            retry_on_timeout: true,
            request_timeout: Duration::from_secs(240),
            max_wait_duration: Duration::from_secs(240),
            initial_backoff_duration: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            log_level: LogLevel::Info,
            max_retries: 5,
            retry_interval: Duration::from_secs(10),
            headers: BTreeMap::new(),
            feature_use_connectors_api: true,
            bulk: BulkConfig::default(),
        }
    }
}

impl From<&ElasticsearchConfig> for tributary_elasticsearch::ClientConfig {
    fn from(es: &ElasticsearchConfig) -> Self {
        tributary_elasticsearch::ClientConfig {
            host: es.host.clone(),
            api_key: es.api_key.clone(),
            username: es.username.clone(),
            password: es.password.clone(),
            verify_certs: es.verify_certs,
            ca_certs: es.ca_certs.clone(),
            retry_on_timeout: es.retry_on_timeout,
            request_timeout: es.request_timeout,
            initial_backoff_duration: es.initial_backoff_duration,
            backoff_multiplier: es.backoff_multiplier,
            max_retries: es.max_retries,
            retry_interval: es.retry_interval,
            headers: es.headers.clone(),
        }
    }
}

/// `elasticsearch.bulk.*` (`docs/elastic/config-yml.md#bulk`). Tributary sizes bulk requests with
/// [`SyncConfig`]; the keys that have a Tributary equivalent are inherited by it when
/// set explicitly (see [`SyncConfig`]), the others are read for compatibility.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkConfig {
    /// `display_every`, default 100: progress log every N documents.
    pub display_every: u64,
    /// `queue_max_size`, default 1024 items.
    pub queue_max_size: u64,
    /// `queue_max_mem_size`, default 25 (MiB).
    pub queue_max_mem_size: u64,
    /// `queue_refresh_interval`, default 1 s.
    pub queue_refresh_interval: Duration,
    /// `queue_refresh_timeout`, default 1300 s.
    pub queue_refresh_timeout: Duration,
    /// `chunk_max_mem_size`, default 3 (MiB) per bulk request.
    pub chunk_max_mem_size: u64,
    /// `max_text_document_size`, default 3 (MiB); 0 disables.
    pub max_text_document_size: u64,
    /// `chunk_size`, default 500 NDJSON *lines* per request (Elastic's unit).
    pub chunk_size: u64,
    /// `max_concurrency`, default 5 requests in flight.
    pub max_concurrency: u64,
    /// `concurrent_downloads`, default 10.
    pub concurrent_downloads: u64,
    /// `max_retries`, default 5 (dead in Elastic's service too).
    pub max_retries: u32,
    /// `retry_interval`, default 10 s (dead in Elastic's service too).
    pub retry_interval: Duration,
    /// `enable_operations_logging`, default false: one DEBUG line per document.
    pub enable_operations_logging: bool,
    /// `error_monitor.*`.
    pub error_monitor: ErrorBudget,
}

impl Default for BulkConfig {
    fn default() -> Self {
        Self {
            display_every: 100,
            queue_max_size: 1024,
            queue_max_mem_size: 25,
            queue_refresh_interval: Duration::from_secs(1),
            queue_refresh_timeout: Duration::from_secs(1300),
            chunk_max_mem_size: 3,
            max_text_document_size: 3,
            chunk_size: 500,
            max_concurrency: 5,
            concurrent_downloads: 10,
            max_retries: 5,
            retry_interval: Duration::from_secs(10),
            enable_operations_logging: false,
            error_monitor: ErrorBudget::default(),
        }
    }
}

/// When a sync gives up on per-item errors (Elastic's `ErrorMonitor`): owned by the
/// sync; `error_monitor.*` and `sync.error_budget.*` in config.yml fill it.
pub use tributary_sync::ErrorBudget;

/// `service.*` (`docs/elastic/config-yml.md#service`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// `idling`, default 30 s: poll period of the scheduler and job executors.
    pub idling: Duration,
    /// `heartbeat`, default 300 s.
    pub heartbeat: Duration,
    /// `preflight_max_attempts`, default 10.
    pub preflight_max_attempts: u32,
    /// `preflight_idle`, default 30 s between preflight attempts.
    pub preflight_idle: Duration,
    /// `max_errors`, default 20 loop errors ...
    pub max_errors: u32,
    /// `max_errors_span`, default 600 s ... within this span stop the process.
    pub max_errors_span: Duration,
    /// `max_concurrent_content_syncs`, default 1.
    pub max_concurrent_content_syncs: u32,
    /// `max_concurrent_access_control_syncs`, default 1.
    pub max_concurrent_access_control_syncs: u32,
    /// `max_concurrent_scheduling_tasks`, default 4.
    pub max_concurrent_scheduling_tasks: u32,
    /// `max_file_download_size`, default 10485760 bytes.
    pub max_file_download_size: u64,
    /// `job_cleanup_interval`, default 300 s.
    pub job_cleanup_interval: Duration,
    /// `log_level`, default `INFO` (the CLI's `--log-level` wins).
    pub log_level: LogLevel,
    /// `worker_mode`, default false (Elastic HEAD only).
    pub worker_mode: bool,
    /// `service_types`, default empty (Elastic HEAD only).
    pub service_types: Vec<String>,
    /// `fips_mode`, default false; read for compatibility.
    pub fips_mode: bool,
    /// `metrics_listen` (Tributary only), default off: the address of the HTTP
    /// endpoint serving `/metrics` (Prometheus text) and `/healthz`, e.g.
    /// `127.0.0.1:9464`. Used by `tributary run`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `log_format` (Tributary only), default `text`: `json` writes one JSON object
    /// per log line. Colour codes are written only to a terminal either way.
    pub log_format: LogFormat,
}

/// How log lines are written (`service.log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (`tracing`'s default format).
    #[default]
    Text,
    /// One JSON object per line, fields included.
    Json,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            idling: Duration::from_secs(30),
            heartbeat: Duration::from_secs(300),
            preflight_max_attempts: 10,
            preflight_idle: Duration::from_secs(30),
            max_errors: 20,
            max_errors_span: Duration::from_secs(600),
            max_concurrent_content_syncs: 1,
            max_concurrent_access_control_syncs: 1,
            max_concurrent_scheduling_tasks: 4,
            max_file_download_size: 10_485_760,
            job_cleanup_interval: Duration::from_secs(300),
            log_level: LogLevel::Info,
            worker_mode: false,
            service_types: Vec::new(),
            fips_mode: false,
            metrics_listen: None,
            log_format: LogFormat::Text,
        }
    }
}

/// A log level as elastic-ingest spells it (`DEBUG`, `INFO`, `WARNING`, `ERROR`,
/// `CRITICAL`, any case), plus `TRACE` and `WARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    /// `ERROR` and `CRITICAL`.
    Error,
}

impl LogLevel {
    /// Parses a level name; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" | "notset" => Some(Self::Trace),
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "error" | "critical" | "fatal" => Some(Self::Error),
            _ => None,
        }
    }

    /// The directive `tracing_subscriber::EnvFilter` understands.
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One `connectors:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorEntry {
    /// `connector_id`: the `_id` of the connector document.
    pub connector_id: String,
    /// `service_type`: which plugin serves it; written on the connector when its own
    /// `service_type` is empty.
    pub service_type: Option<String>,
    /// `api_key`: replaces the credentials for this connector's data writes only.
    pub api_key: Option<String>,
}

/// `plugins:` (Tributary only).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginsConfig {
    /// `memory_limit_mb`, default 256: linear-memory cap per plugin instance.
    pub memory_limit_mb: u64,
    /// `call_timeout_secs`, default 60: CPU budget of one plugin call (time the
    /// guest itself runs; waiting on the host does not count).
    pub call_timeout_secs: u64,
    /// `wall_timeout_secs`, default 300: wall-clock bound of one plugin call, host
    /// calls (database statements) included.
    pub wall_timeout_secs: u64,
    /// `cache_dir`: where compiled plugins are cached; none → no cache.
    pub cache_dir: Option<PathBuf>,
    /// `postgresql:` capability policy.
    pub postgresql: PostgresqlPolicy,
    /// `filesystem:` capability grant (off unless roots are listed).
    pub filesystem: FilesystemPolicy,
    /// `http:` capability grant (off unless origins are listed).
    pub http: HttpPolicy,
    /// `mysql:` capability policy (off unless `enabled: true`).
    pub mysql: MysqlPolicy,
    /// `redis:` capability policy (off unless `enabled: true`).
    pub redis: RedisPolicy,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            memory_limit_mb: 256,
            call_timeout_secs: 60,
            wall_timeout_secs: 300,
            cache_dir: None,
            postgresql: PostgresqlPolicy::default(),
            filesystem: FilesystemPolicy::default(),
            http: HttpPolicy::default(),
            mysql: MysqlPolicy::default(),
            redis: RedisPolicy::default(),
        }
    }
}

/// `plugins.mysql:` — whether plugins may use the MySQL capability, and what it
/// may reach. Off by default: a plugin importing it is refused at load until the
/// operator sets `enabled: true`.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlPolicy {
    /// `enabled`, default false.
    pub enabled: bool,
    /// `allowed_hosts`, default empty = any host the connector's configuration
    /// names. Entries are host names or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// `statement_timeout_ms`: default 80 % of `plugins.wall_timeout_secs`; must
    /// stay below it.
    pub statement_timeout_ms: Option<u64>,
    /// `max_sessions`, default 4: MySQL sessions one job may hold at once.
    pub max_sessions: u64,
}

/// `plugins.redis:` — whether plugins may use the Redis capability, and what it
/// may reach. Off by default, like `mysql`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RedisPolicy {
    /// `enabled`, default false.
    pub enabled: bool,
    /// `allowed_hosts`, default empty = any host.
    pub allowed_hosts: Vec<String>,
    /// `max_reply_bytes`, default 64 MiB: the largest value one read may return.
    pub max_reply_bytes: Option<u64>,
    /// `max_connections`, default 4: connections one job may hold at once.
    pub max_connections: Option<u64>,
}

impl Default for MysqlPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            allowed_hosts: Vec::new(),
            statement_timeout_ms: None,
            max_sessions: 4,
        }
    }
}

/// `plugins.postgresql:` — what the operator allows the PostgreSQL capability to reach.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresqlPolicy {
    /// `allowed_hosts`, default empty = any host the connector's configuration names.
    /// Entries are host names or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// `statement_timeout_ms`: default 80 % of `plugins.wall_timeout_secs` (240000);
    /// must stay below it, so a slow statement is reported as a statement timeout.
    pub statement_timeout_ms: Option<u64>,
    /// `max_sessions`, default 4: PostgreSQL sessions one job may hold at once.
    pub max_sessions: u64,
    /// `max_slot_wal_bytes`, default 1 GiB: WAL a connector's replication slot
    /// (change data capture) may hold when a sync starts; above it the slot is
    /// dropped and the connector asks for a full sync instead of filling the disk.
    pub max_slot_wal_bytes: u64,
}

impl PostgresqlPolicy {
    /// The statement timeout in effect under a wall-clock bound of `wall_secs`.
    pub fn effective_statement_timeout_ms(&self, wall_secs: u64) -> u64 {
        self.statement_timeout_ms
            .unwrap_or_else(|| wall_secs.saturating_mul(800).max(1))
    }
}

impl Default for PostgresqlPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            statement_timeout_ms: None,
            max_sessions: 4,
            max_slot_wal_bytes: 1 << 30,
        }
    }
}

/// `plugins.filesystem:` — the directories plugins may read. Empty (the default)
/// leaves the capability off: a plugin that imports it is refused at load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilesystemPolicy {
    /// `roots`: absolute directories; a connector's `directory` must lie in one.
    pub roots: Vec<PathBuf>,
}

/// `plugins.http:` — the origins plugins may call. Empty `allowed_origins` (the
/// default) leaves the capability off.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPolicy {
    /// `allowed_origins`: `scheme://host[:port]`, `*` wildcards in the host
    /// (`https://*.example.com`) or port (`http://127.0.0.1:*`), as Spin's
    /// `allowed_outbound_hosts`.
    pub allowed_origins: Vec<String>,
    /// `max_response_bytes`, default 16 MiB: the largest response body accepted.
    pub max_response_bytes: u64,
    /// `request_timeout_secs`, default 30: one request, redirects included.
    pub request_timeout_secs: u64,
    /// `max_requests_per_job`, default 10000.
    pub max_requests_per_job: u64,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_response_bytes: 16 << 20,
            request_timeout_secs: 30,
            max_requests_per_job: 10_000,
        }
    }
}

/// `sync:` (Tributary only). Differs from Elastic on purpose: bulk requests are
/// bounded by *documents* and *wire bytes* (Elastic: NDJSON lines — 500 lines ⇒ ≤ 250
/// documents — and Python object sizes), and per-item 429/5xx are retried
/// (Elastic counts them as errors).
///
/// Inheritance: a key absent here but set explicitly under `elasticsearch.bulk`
/// takes that value — `bulk_concurrency` ← `max_concurrency`, `bulk_max_bytes` ←
/// `chunk_max_mem_size` (MiB), `error_budget.*` ← `error_monitor.*` — so an
/// elastic-ingest config.yml keeps its meaning. `chunk_size` (lines) has no
/// equivalent and only produces a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// `bulk_max_docs`, default 1000 documents per `_bulk` request.
    pub bulk_max_docs: u64,
    /// `bulk_max_bytes`, default 5 MiB of NDJSON per request (one larger document
    /// goes alone).
    pub bulk_max_bytes: u64,
    /// `bulk_concurrency`, default 2 requests in flight per job.
    pub bulk_concurrency: u64,
    /// `bulk_max_retries`, default 5: retries of a request that failed as a whole
    /// (429/5xx/connection) and of an item that failed with 5xx.
    pub bulk_max_retries: u32,
    /// `bulk_rejection_timeout`, default 300 s: how long an item rejected with a
    /// per-item 429 keeps being retried (from its first rejection) before it counts
    /// as failed. Rejections are retried by time, not count, from a queue that does
    /// not hold a bulk slot.
    pub bulk_rejection_timeout: Duration,
    /// `error_budget.*`: same fields and defaults as `elasticsearch.bulk.error_monitor`.
    pub error_budget: ErrorBudget,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            bulk_max_docs: 1000,
            bulk_max_bytes: 5 * 1024 * 1024,
            bulk_concurrency: 2,
            bulk_max_retries: 5,
            bulk_rejection_timeout: Duration::from_secs(300),
            error_budget: ErrorBudget::default(),
        }
    }
}

impl Config {
    /// The `connectors:` entry for an id.
    pub fn connector(&self, connector_id: &str) -> Option<&ConnectorEntry> {
        self.connectors
            .iter()
            .find(|c| c.connector_id == connector_id)
    }
}
