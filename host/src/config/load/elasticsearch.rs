//! `elasticsearch.*`, with the `bulk` and `bulk.error_monitor` keys that `sync:` inherits.

use serde_yaml::Value;

use super::{key_text, v, At, Ctx, Section};
use crate::config::model::*;
use crate::config::ConfigError;

/// Which `elasticsearch.bulk.*` keys were given explicitly (for `sync:` inheritance).
#[derive(Default)]
pub(super) struct ExplicitBulk {
    pub(super) max_concurrency: bool,
    pub(super) chunk_max_mem_size: bool,
    pub(super) error_monitor: ErrorMonitorKeys,
}

#[derive(Default)]
pub(super) struct ErrorMonitorKeys {
    pub(super) enabled: bool,
    pub(super) max_total_errors: bool,
    pub(super) max_consecutive_errors: bool,
    pub(super) max_error_rate: bool,
    pub(super) error_window_size: bool,
    pub(super) error_queue_size: bool,
}

pub(super) fn read_elasticsearch(
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

pub(super) fn read_error_budget(
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
        budget.error_window_size = usize::try_from(x).unwrap_or(usize::MAX);
        seen.error_window_size = true;
    }
    if let Some(x) = s.get(ctx, "error_queue_size", |x, a| v::integer(x, a, 1))? {
        budget.error_queue_size = usize::try_from(x).unwrap_or(usize::MAX);
        seen.error_queue_size = true;
    }
    Ok(seen)
}
