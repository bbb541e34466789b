//! From YAML text to [`Config`]: parse, nest dotted keys, interpolate the
//! environment, read every known key (warning on the others), validate.

use std::cell::RefCell;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::interpolate::interpolate;
use super::model::*;
use super::validate::{self as v, At};
use super::ConfigError;

/// Reads and parses a config file.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_str(&text, &path.display().to_string())
}

/// Parses config text; `source_name` (a file name) prefixes every message.
pub fn from_str(yaml: &str, source_name: &str) -> Result<Config, ConfigError> {
    from_str_with_env(yaml, source_name, &|name| std::env::var(name).ok())
}

/// [`from_str`] with an explicit environment (for tests and embedding).
pub fn from_str_with_env(
    yaml: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let root: Value = serde_yaml::from_str(yaml).map_err(|e| ConfigError::Yaml {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let root = match root {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        other => {
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: "(top level)".into(),
                message: format!("expected a mapping of keys, got {other:?}"),
            })
        }
    };
    let root = nest_dotted(root, "", source_name)?;
    let root = match interpolate_tree(Value::Mapping(root), "", source_name, env)? {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    let ctx = Ctx {
        source: source_name,
        warnings: RefCell::new(Vec::new()),
    };
    let mut config = read_config(root, &ctx)?;
    config.warnings = ctx.warnings.into_inner();
    for w in &config.warnings {
        tracing::warn!(config = source_name, "{w}");
    }
    Ok(config)
}

fn key_path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn key_text(k: &Value, prefix: &str, source: &str) -> Result<String, ConfigError> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            key: if prefix.is_empty() {
                "(top level)".into()
            } else {
                prefix.to_owned()
            },
            message: format!("keys must be text, got {other:?}"),
        }),
    }
}

/// `a.b.c: 1` ≡ `a: {b: {c: 1}}`, at every level, deep-merged with nested forms.
/// A key given twice (in either form) is an error rather than a silent override.
fn nest_dotted(map: Mapping, prefix: &str, source: &str) -> Result<Mapping, ConfigError> {
    let mut out = Mapping::new();
    for (k, val) in map {
        let k = key_text(&k, prefix, source)?;
        let parts: Vec<&str> = k.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Invalid {
                source_name: source.to_owned(),
                key: key_path(prefix, &k),
                message: "empty segment in dotted key".into(),
            });
        }
        // Build the nested value for the remaining segments, then merge it in.
        let mut nested = normalize_value(val, &key_path(prefix, &k), source)?;
        for part in parts[1..].iter().rev() {
            let mut m = Mapping::new();
            m.insert(Value::String((*part).to_owned()), nested);
            nested = Value::Mapping(m);
        }
        merge(&mut out, parts[0], nested, prefix, source)?;
    }
    Ok(out)
}

fn normalize_value(val: Value, path: &str, source: &str) -> Result<Value, ConfigError> {
    Ok(match val {
        Value::Mapping(m) => Value::Mapping(nest_dotted(m, path, source)?),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| normalize_value(item, &format!("{path}[{i}]"), source))
                .collect::<Result<_, _>>()?,
        ),
        Value::Tagged(t) => normalize_value(t.value, path, source)?,
        other => other,
    })
}

fn merge(
    into: &mut Mapping,
    key: &str,
    val: Value,
    prefix: &str,
    source: &str,
) -> Result<(), ConfigError> {
    let path = key_path(prefix, key);
    let k = Value::String(key.to_owned());
    match (into.get_mut(&k), val) {
        (None, val) => {
            into.insert(k, val);
            Ok(())
        }
        (Some(Value::Mapping(existing)), Value::Mapping(new)) => {
            for (nk, nv) in new {
                let nk = key_text(&nk, &path, source)?;
                merge(existing, &nk, nv, &path, source)?;
            }
            Ok(())
        }
        (Some(_), _) => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            key: path,
            message: "set more than once (as a dotted key and as a nested key?)".into(),
        }),
    }
}

fn interpolate_tree(
    val: Value,
    path: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, ConfigError> {
    Ok(match val {
        Value::String(s) => Value::String(interpolate(&s, path, source, env)?),
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                let ks = key_text(&k, path, source)?;
                out.insert(k, interpolate_tree(v, &key_path(path, &ks), source, env)?);
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| interpolate_tree(item, &format!("{path}[{i}]"), source, env))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

struct Ctx<'a> {
    source: &'a str,
    warnings: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn warn(&self, message: String) {
        self.warnings.borrow_mut().push(message);
    }
}

/// One mapping being read; keys are removed as they are read so the rest are unknown.
struct Section {
    map: Mapping,
    path: String,
}

impl Section {
    fn new(map: Mapping, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
        }
    }

    fn key(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    /// The value of `key`, parsed; `None` when absent or null (null means "default",
    /// as a commented-out value in elastic-ingest's example config does).
    fn get<T>(
        &mut self,
        ctx: &Ctx,
        key: &str,
        parse: impl FnOnce(&Value, &At) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(val) => {
                let k = self.key(key);
                parse(
                    &val,
                    &At {
                        key: &k,
                        source: ctx.source,
                    },
                )
                .map(Some)
            }
        }
    }

    /// A nested section; absent or null → empty.
    fn section(&mut self, ctx: &Ctx, key: &str) -> Result<Section, ConfigError> {
        let path = self.key(key);
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(Section::new(Mapping::new(), path)),
            Some(Value::Mapping(m)) => Ok(Section::new(m, path)),
            Some(other) => Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: path,
                message: format!("expected a mapping of keys, got {other:?}"),
            }),
        }
    }

    /// Known elastic-ingest keys Tributary has no use for: read, warned about.
    fn ignore(&mut self, ctx: &Ctx, key: &str, why: &str) {
        if self.map.remove(key).is_some_and(|v| !v.is_null()) {
            ctx.warn(format!("`{}` is ignored: {why}", self.key(key)));
        }
    }

    fn finish(self, ctx: &Ctx) {
        for (k, _) in self.map {
            let k = match k {
                Value::String(s) => s,
                other => format!("{other:?}"),
            };
            ctx.warn(format!(
                "unknown key `{}` (ignored)",
                key_path(&self.path, &k)
            ));
        }
    }
}

/// `set!(section, ctx, target, "key", parser)`: assigns when the key is present.
macro_rules! set {
    ($sec:expr, $ctx:expr, $target:expr, $key:literal, $parse:expr) => {
        if let Some(v) = $sec.get($ctx, $key, $parse)? {
            $target = v;
        }
    };
}

fn read_config(root: Mapping, ctx: &Ctx) -> Result<Config, ConfigError> {
    let mut root = Section::new(root, "");
    let mut config = Config::default();

    let mut es = root.section(ctx, "elasticsearch")?;
    let explicit = read_elasticsearch(&mut es, ctx, &mut config.elasticsearch)?;
    es.finish(ctx);

    let mut service = root.section(ctx, "service")?;
    read_service(&mut service, ctx, &mut config.service)?;
    service.finish(ctx);

    config.connectors = read_connectors(&mut root, ctx)?;

    let mut plugins = root.section(ctx, "plugins")?;
    read_plugins(&mut plugins, ctx, &mut config.plugins)?;
    plugins.finish(ctx);

    let mut sync = root.section(ctx, "sync")?;
    read_sync(
        &mut sync,
        ctx,
        &mut config.sync,
        &config.elasticsearch.bulk,
        &explicit,
    )?;
    sync.finish(ctx);

    root.ignore(
        ctx,
        "sources",
        "Tributary loads source plugins from the --plugins folder, not Python classes",
    );
    root.ignore(
        ctx,
        "extraction_service",
        "Tributary has no text extraction service",
    );
    root.ignore(
        ctx,
        "native_service_types",
        "Elastic-managed (native) connectors are not supported",
    );
    root.finish(ctx);
    Ok(config)
}

/// Which `elasticsearch.bulk.*` keys were given explicitly (for `sync:` inheritance).
#[derive(Default)]
struct ExplicitBulk {
    max_concurrency: bool,
    chunk_max_mem_size: bool,
    error_monitor: ErrorMonitorKeys,
}

#[derive(Default)]
struct ErrorMonitorKeys {
    enabled: bool,
    max_total_errors: bool,
    max_consecutive_errors: bool,
    max_error_rate: bool,
    error_window_size: bool,
    error_queue_size: bool,
}

fn read_elasticsearch(
    s: &mut Section,
    ctx: &Ctx,
    es: &mut ElasticsearchConfig,
) -> Result<ExplicitBulk, ConfigError> {
    set!(s, ctx, es.host, "host", v::url);
    es.api_key = s
        .get(ctx, "api_key", v::string)?
        .filter(|k| !k.trim().is_empty());
    set!(s, ctx, es.username, "username", v::string);
    set!(s, ctx, es.password, "password", v::string);
    set!(s, ctx, es.ssl, "ssl", v::boolean);
    set!(s, ctx, es.verify_certs, "verify_certs", v::boolean);
    es.ca_certs = s.get(ctx, "ca_certs", v::path)?;
    set!(s, ctx, es.retry_on_timeout, "retry_on_timeout", v::boolean);
    set!(s, ctx, es.request_timeout, "request_timeout", |x, a| {
        v::seconds(x, a, false)
    });
    set!(s, ctx, es.max_wait_duration, "max_wait_duration", |x, a| {
        v::seconds(x, a, false)
    });
    set!(
        s,
        ctx,
        es.initial_backoff_duration,
        "initial_backoff_duration",
        |x, a| { v::seconds(x, a, true) }
    );
    set!(
        s,
        ctx,
        es.backoff_multiplier,
        "backoff_multiplier",
        |x, a| {
            let n = v::number(x, a)?;
            if n < 1.0 {
                return Err(a.err(format!("must be at least 1, got {n}")));
            }
            Ok(n)
        }
    );
    set!(s, ctx, es.log_level, "log_level", v::log_level);
    set!(
        s,
        ctx,
        es.max_retries,
        "max_retries",
        |x, a| v::integer_u32(x, a, 0)
    );
    set!(s, ctx, es.retry_interval, "retry_interval", |x, a| {
        v::seconds(x, a, true)
    });
    if let Some(headers) = s.get(ctx, "headers", |x, a| match x {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, val)| {
                let name = key_text(k, a.key, a.source)?;
                let key = format!("{}.{name}", a.key);
                let value = v::string(
                    val,
                    &At {
                        key: &key,
                        source: a.source,
                    },
                )?;
                // Reject now what the HTTP client would refuse later, naming the key.
                if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(a.err(format!("{name:?} is not a valid HTTP header name")));
                }
                if http::header::HeaderValue::from_str(&value).is_err() {
                    return Err(At {
                        key: &key,
                        source: a.source,
                    }
                    .err("not a valid HTTP header value"));
                }
                Ok((name, value))
            })
            .collect(),
        other => Err(a.err(format!("expected a mapping of header names, got {other:?}"))),
    })? {
        es.headers = headers;
    }
    set!(
        s,
        ctx,
        es.feature_use_connectors_api,
        "feature_use_connectors_api",
        v::boolean
    );

    let mut explicit = ExplicitBulk::default();
    let mut b = s.section(ctx, "bulk")?;
    let bulk = &mut es.bulk;
    set!(b, ctx, bulk.display_every, "display_every", |x, a| {
        v::integer(x, a, 1)
    });
    set!(b, ctx, bulk.queue_max_size, "queue_max_size", |x, a| {
        v::integer(x, a, 1)
    });
    set!(
        b,
        ctx,
        bulk.queue_max_mem_size,
        "queue_max_mem_size",
        |x, a| v::integer(x, a, 1)
    );
    set!(
        b,
        ctx,
        bulk.queue_refresh_interval,
        "queue_refresh_interval",
        |x, a| { v::seconds(x, a, false) }
    );
    set!(
        b,
        ctx,
        bulk.queue_refresh_timeout,
        "queue_refresh_timeout",
        |x, a| { v::seconds(x, a, false) }
    );
    if let Some(n) = b.get(ctx, "chunk_max_mem_size", |x, a| v::integer(x, a, 1))? {
        bulk.chunk_max_mem_size = n;
        explicit.chunk_max_mem_size = true;
    }
    set!(
        b,
        ctx,
        bulk.max_text_document_size,
        "max_text_document_size",
        |x, a| { v::integer(x, a, 0) }
    );
    if let Some(n) = b.get(ctx, "chunk_size", |x, a| v::integer(x, a, 1))? {
        bulk.chunk_size = n;
        ctx.warn(
            "`elasticsearch.bulk.chunk_size` counts NDJSON lines and has no effect in \
             Tributary; use `sync.bulk_max_docs` and `sync.bulk_max_bytes`"
                .into(),
        );
    }
    if let Some(n) = b.get(ctx, "max_concurrency", |x, a| v::integer(x, a, 1))? {
        bulk.max_concurrency = n;
        explicit.max_concurrency = true;
    }
    set!(
        b,
        ctx,
        bulk.concurrent_downloads,
        "concurrent_downloads",
        |x, a| { v::integer(x, a, 1) }
    );
    set!(b, ctx, bulk.max_retries, "max_retries", |x, a| {
        v::integer_u32(x, a, 0)
    });
    set!(b, ctx, bulk.retry_interval, "retry_interval", |x, a| {
        v::seconds(x, a, true)
    });
    set!(
        b,
        ctx,
        bulk.enable_operations_logging,
        "enable_operations_logging",
        v::boolean
    );
    let mut em = b.section(ctx, "error_monitor")?;
    explicit.error_monitor = read_error_budget(&mut em, ctx, &mut bulk.error_monitor)?;
    em.finish(ctx);
    b.finish(ctx);
    Ok(explicit)
}

fn read_error_budget(
    s: &mut Section,
    ctx: &Ctx,
    budget: &mut ErrorBudget,
) -> Result<ErrorMonitorKeys, ConfigError> {
    let mut seen = ErrorMonitorKeys::default();
    if let Some(x) = s.get(ctx, "enabled", v::boolean)? {
        budget.enabled = x;
        seen.enabled = true;
    }
    if let Some(x) = s.get(ctx, "max_total_errors", |x, a| v::integer(x, a, 0))? {
        budget.max_total_errors = x;
        seen.max_total_errors = true;
    }
    if let Some(x) = s.get(ctx, "max_consecutive_errors", |x, a| v::integer(x, a, 0))? {
        budget.max_consecutive_errors = x;
        seen.max_consecutive_errors = true;
    }
    if let Some(x) = s.get(ctx, "max_error_rate", v::ratio)? {
        budget.max_error_rate = x;
        seen.max_error_rate = true;
    }
    if let Some(x) = s.get(ctx, "error_window_size", |x, a| v::integer(x, a, 1))? {
        budget.error_window_size = x;
        seen.error_window_size = true;
    }
    if let Some(x) = s.get(ctx, "error_queue_size", |x, a| v::integer(x, a, 1))? {
        budget.error_queue_size = x;
        seen.error_queue_size = true;
    }
    Ok(seen)
}

fn read_service(s: &mut Section, ctx: &Ctx, svc: &mut ServiceConfig) -> Result<(), ConfigError> {
    let pos = |x: &Value, a: &At| v::seconds(x, a, false);
    set!(s, ctx, svc.idling, "idling", pos);
    set!(s, ctx, svc.heartbeat, "heartbeat", pos);
    set!(
        s,
        ctx,
        svc.preflight_max_attempts,
        "preflight_max_attempts",
        |x, a| { v::integer_u32(x, a, 1) }
    );
    set!(s, ctx, svc.preflight_idle, "preflight_idle", |x, a| {
        v::seconds(x, a, true)
    });
    set!(s, ctx, svc.max_errors, "max_errors", |x, a| v::integer_u32(
        x, a, 0
    ));
    set!(s, ctx, svc.max_errors_span, "max_errors_span", pos);
    set!(
        s,
        ctx,
        svc.max_concurrent_content_syncs,
        "max_concurrent_content_syncs",
        |x, a| { v::integer_u32(x, a, 1) }
    );
    set!(
        s,
        ctx,
        svc.max_concurrent_access_control_syncs,
        "max_concurrent_access_control_syncs",
        |x, a| v::integer_u32(x, a, 1)
    );
    set!(
        s,
        ctx,
        svc.max_concurrent_scheduling_tasks,
        "max_concurrent_scheduling_tasks",
        |x, a| v::integer_u32(x, a, 1)
    );
    set!(
        s,
        ctx,
        svc.max_file_download_size,
        "max_file_download_size",
        |x, a| { v::integer(x, a, 0) }
    );
    set!(
        s,
        ctx,
        svc.job_cleanup_interval,
        "job_cleanup_interval",
        pos
    );
    set!(s, ctx, svc.log_level, "log_level", v::log_level);
    set!(s, ctx, svc.worker_mode, "worker_mode", v::boolean);
    set!(s, ctx, svc.service_types, "service_types", v::string_list);
    set!(s, ctx, svc.fips_mode, "fips_mode", v::boolean);
    // Tributary's own service keys.
    if let Some(addr) = s.get(ctx, "metrics_listen", v::socket_addr)? {
        svc.metrics_listen = addr;
    }
    set!(s, ctx, svc.log_format, "log_format", v::log_format);
    if svc.worker_mode {
        ctx.warn(
            "`service.worker_mode` is not supported by Tributary; only the connectors \
             listed under `connectors` are served"
                .into(),
        );
    }
    Ok(())
}

fn read_connectors(root: &mut Section, ctx: &Ctx) -> Result<Vec<ConnectorEntry>, ConfigError> {
    let mut entries: Vec<ConnectorEntry> = Vec::new();
    let push = |entry: ConnectorEntry, key: &str, entries: &mut Vec<ConnectorEntry>| {
        if let Some(i) = entries
            .iter()
            .position(|e| e.connector_id == entry.connector_id)
        {
            ctx.warn(format!(
                "`{key}`: connector {:?} is listed more than once; the later entry wins",
                entry.connector_id
            ));
            entries.remove(i);
        }
        entries.push(entry);
    };
    match root.map.remove("connectors") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let path = format!("connectors[{i}]");
                let Value::Mapping(m) = item else {
                    return Err(ConfigError::Invalid {
                        source_name: ctx.source.to_owned(),
                        key: path,
                        message: format!(
                            "expected {{connector_id, service_type, api_key}}, got {item:?}"
                        ),
                    });
                };
                let mut s = Section::new(m, path.clone());
                let entry = read_connector_entry(&mut s, ctx)?;
                s.finish(ctx);
                push(entry, &path, &mut entries);
            }
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: "connectors".into(),
                message: format!("expected a list, got {other:?}"),
            })
        }
    }
    // Deprecated single-connector form, still read by elastic-ingest.
    if root.map.contains_key("connector_id") || root.map.contains_key("service_type") {
        let mut legacy = Mapping::new();
        for k in ["connector_id", "service_type"] {
            if let Some(val) = root.map.remove(k) {
                legacy.insert(Value::String(k.into()), val);
            }
        }
        let mut s = Section::new(legacy, "");
        let entry = read_connector_entry(&mut s, ctx)?;
        ctx.warn(
            "top-level `connector_id`/`service_type` are deprecated; use \
             `connectors: [{connector_id, service_type}]`"
                .into(),
        );
        push(entry, "connector_id", &mut entries);
    }
    Ok(entries)
}

fn read_connector_entry(s: &mut Section, ctx: &Ctx) -> Result<ConnectorEntry, ConfigError> {
    let Some(connector_id) = s.get(ctx, "connector_id", v::non_empty_string)? else {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("connector_id"),
            message: "missing".into(),
        });
    };
    // elastic-ingest's preflight refuses the example config's placeholder.
    if connector_id == "changeme" {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("connector_id"),
            message: "is the placeholder \"changeme\"; set the id of your connector".into(),
        });
    }
    let service_type = s
        .get(ctx, "service_type", v::string)?
        .filter(|t| !t.trim().is_empty());
    if service_type.as_deref() == Some("changeme") {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("service_type"),
            message: "is the placeholder \"changeme\"; set the connector's service type".into(),
        });
    }
    let api_key = s
        .get(ctx, "api_key", v::string)?
        .filter(|k| !k.trim().is_empty());
    Ok(ConnectorEntry {
        connector_id,
        service_type,
        api_key,
    })
}

fn read_plugins(s: &mut Section, ctx: &Ctx, p: &mut PluginsConfig) -> Result<(), ConfigError> {
    // wasm32 linear memory cannot exceed 4 GiB.
    set!(s, ctx, p.memory_limit_mb, "memory_limit_mb", |x, a| {
        let n = v::integer(x, a, 1)?;
        if n > 4096 {
            return Err(a.err(format!("must be at most 4096 (the wasm32 limit), got {n}")));
        }
        Ok(n)
    });
    set!(s, ctx, p.call_timeout_secs, "call_timeout_secs", |x, a| {
        v::integer(x, a, 1)
    });
    set!(s, ctx, p.wall_timeout_secs, "wall_timeout_secs", |x, a| {
        v::integer(x, a, 1)
    });
    p.cache_dir = s.get(ctx, "cache_dir", v::path)?;
    let mut pg = s.section(ctx, "postgresql")?;
    set!(
        pg,
        ctx,
        p.postgresql.allowed_hosts,
        "allowed_hosts",
        v::string_list
    );
    if let Some(t) = pg.get(ctx, "statement_timeout_ms", |x, a| v::integer(x, a, 1))? {
        p.postgresql.statement_timeout_ms = Some(t);
    }
    set!(
        pg,
        ctx,
        p.postgresql.max_sessions,
        "max_sessions",
        |x, a| { v::integer(x, a, 1) }
    );
    pg.finish(ctx);
    // Each limit must be reported as itself: the statement gives up before the call.
    if let Some(t) = p.postgresql.statement_timeout_ms {
        if t >= p.wall_timeout_secs.saturating_mul(1000) {
            return Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: "plugins.postgresql.statement_timeout_ms".into(),
                message: format!(
                    "must be below plugins.wall_timeout_secs ({} s = {} ms), got {t}",
                    p.wall_timeout_secs,
                    p.wall_timeout_secs.saturating_mul(1000)
                ),
            });
        }
    }
    Ok(())
}

fn read_sync(
    s: &mut Section,
    ctx: &Ctx,
    sync: &mut SyncConfig,
    bulk: &BulkConfig,
    explicit: &ExplicitBulk,
) -> Result<(), ConfigError> {
    // Inherit first, so explicit `sync:` keys override.
    if explicit.max_concurrency {
        sync.bulk_concurrency = bulk.max_concurrency;
    }
    if explicit.chunk_max_mem_size {
        sync.bulk_max_bytes = bulk.chunk_max_mem_size.saturating_mul(1024 * 1024);
    }
    let em = &explicit.error_monitor;
    let from = &bulk.error_monitor;
    let to = &mut sync.error_budget;
    if em.enabled {
        to.enabled = from.enabled;
    }
    if em.max_total_errors {
        to.max_total_errors = from.max_total_errors;
    }
    if em.max_consecutive_errors {
        to.max_consecutive_errors = from.max_consecutive_errors;
    }
    if em.max_error_rate {
        to.max_error_rate = from.max_error_rate;
    }
    if em.error_window_size {
        to.error_window_size = from.error_window_size;
    }
    if em.error_queue_size {
        to.error_queue_size = from.error_queue_size;
    }

    set!(s, ctx, sync.bulk_max_docs, "bulk_max_docs", |x, a| {
        v::integer(x, a, 1)
    });
    // Below 1 KiB every document would go alone; surely a unit mistake.
    set!(s, ctx, sync.bulk_max_bytes, "bulk_max_bytes", |x, a| {
        v::integer(x, a, 1024)
    });
    set!(s, ctx, sync.bulk_concurrency, "bulk_concurrency", |x, a| {
        v::integer(x, a, 1)
    });
    set!(s, ctx, sync.bulk_max_retries, "bulk_max_retries", |x, a| {
        v::integer_u32(x, a, 0)
    });
    set!(
        s,
        ctx,
        sync.bulk_rejection_timeout,
        "bulk_rejection_timeout",
        |x, a| v::seconds(x, a, true)
    );
    let mut eb = s.section(ctx, "error_budget")?;
    read_error_budget(&mut eb, ctx, &mut sync.error_budget)?;
    eb.finish(ctx);
    Ok(())
}
