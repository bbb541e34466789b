//! How the runtime runs plugins: limits, cache location, capability policies.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use tributary_capability_filesystem::FsPolicy;
use tributary_capability_http::HttpPolicy;
use tributary_capability_mysql::{MysqlGrant, MysqlPolicy};
use tributary_capability_postgresql::changes::ChangesPolicy;
use tributary_capability_postgresql::{PgGrant, PgPolicy};
use tributary_capability_redis::{RedisGrant, RedisPolicy};

/// How the plugin runtime runs plugins. `Default` gives sane limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Linear-memory cap per plugin instance, in MiB (default 256).
    pub memory_limit_mb: u64,
    /// CPU budget of one call into a plugin (default 60 s). Measured in epoch ticks
    /// during which the guest was running, so time spent waiting in host calls
    /// (a PostgreSQL query) does not count; [`Self::call_timeout`] bounds that.
    pub cpu_limit: Duration,
    /// Wall-clock bound of one call into a plugin, host calls included (default
    /// 300 s). A capability's own timeouts (PostgreSQL's statement timeout) stay
    /// below it, so each limit is reported as itself.
    pub call_timeout: Duration,
    /// Granularity of the CPU budget and of cooperative yielding (default 10 ms).
    pub epoch_tick: Duration,
    /// Where compiled plugins are cached; `None` disables the cache.
    /// Default: [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Maximum WebAssembly stack per instance, in bytes (default 1 MiB).
    pub max_wasm_stack: usize,
    /// Empty batches in a row after which a sync is stopped as making no
    /// progress (default 200; the host backs off between them).
    pub max_empty_batches: u64,
    /// Operator policy applied to every PostgreSQL grant.
    pub postgresql: PgPolicy,
    /// Operator policy of PostgreSQL change data capture (the slot's WAL bound).
    pub postgresql_changes: ChangesPolicy,
    /// Operator grant of the filesystem capability (off unless roots are listed).
    pub filesystem: FsPolicy,
    /// Operator grant of the outbound HTTP capability (off unless origins are listed).
    pub http: std::sync::Arc<HttpPolicy>,
    /// Operator policy applied to every MySQL grant (off unless enabled).
    pub mysql: MysqlPolicy,
    /// Operator policy applied to every Redis grant (off unless enabled).
    pub redis: RedisPolicy,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_mb: 256,
            cpu_limit: Duration::from_secs(60),
            call_timeout: Duration::from_secs(300),
            epoch_tick: Duration::from_millis(10),
            cache_dir: default_cache_dir(),
            max_wasm_stack: 1 << 20,
            max_empty_batches: 200,
            postgresql: PgPolicy::default(),
            postgresql_changes: ChangesPolicy::default(),
            filesystem: FsPolicy::default(),
            http: Default::default(),
            mysql: MysqlPolicy::default(),
            redis: RedisPolicy::default(),
        }
    }
}

impl RuntimeConfig {
    /// The PostgreSQL grant for a job whose connector configuration is `values`,
    /// under this runtime's policy.
    pub fn postgresql_grant(&self, values: &Map<String, Value>) -> PgGrant {
        PgGrant::new(values.clone(), self.postgresql.clone())
    }

    /// The MySQL grant for a job whose connector configuration is `values`.
    pub fn mysql_grant(&self, values: &Map<String, Value>) -> MysqlGrant {
        MysqlGrant::new(values.clone(), self.mysql.clone())
    }

    /// The Redis grant for a job whose connector configuration is `values`.
    pub fn redis_grant(&self, values: &Map<String, Value>) -> RedisGrant {
        RedisGrant::new(values.clone(), self.redis.clone())
    }

    /// For a capability the operator must enable: `Some(config key)` when it is
    /// not enabled. PostgreSQL is on by default; newer capabilities are off until
    /// granted in config.yml.
    pub fn ungranted(&self, capability: &str) -> Option<&'static str> {
        match capability {
            "mysql" | "mysql-documents" if !self.mysql.enabled => {
                Some("plugins.mysql.enabled: true")
            }
            "redis" if !self.redis.enabled => Some("plugins.redis.enabled: true"),
            "filesystem" if !self.filesystem.is_granted() => {
                Some(tributary_capability_filesystem::ROOTS_KEY)
            }
            "http" if !self.http.is_granted() => Some(tributary_capability_http::ORIGINS_KEY),
            _ => None,
        }
    }

    /// What the operator grants capability `name`, in one line (`plugins list`).
    pub fn grant_summary(&self, name: &str) -> String {
        match name {
            "postgresql" if self.postgresql.allowed_hosts.is_empty() => {
                "postgresql: any host".into()
            }
            "postgresql" => format!("postgresql: {}", self.postgresql.allowed_hosts.join(",")),
            "postgresql-changes" => format!(
                "postgresql-changes: with postgresql (slot WAL bound {} bytes)",
                self.postgresql_changes.max_slot_wal_bytes()
            ),
            "postgresql-documents" => "postgresql-documents: with postgresql".into(),
            "mysql-documents" if self.mysql.enabled => "mysql-documents: with mysql".into(),
            "filesystem" if self.filesystem.is_granted() => format!(
                "filesystem: {}",
                self.filesystem
                    .roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "http" if self.http.is_granted() => {
                format!("http: {}", self.http.allowlist)
            }
            other => match self.ungranted(other) {
                Some(key) => format!("{other}: not granted (set {key})"),
                None => format!("{other}: granted"),
            },
        }
    }
}

/// `$TRIBUTARY_CACHE_DIR`, else `$XDG_CACHE_HOME/tributary`, else `~/.cache/tributary`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("TRIBUTARY_CACHE_DIR") {
        return Some(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Some(dir.join("tributary"));
    }
    env("HOME").map(|h| h.join(".cache").join("tributary"))
}
