//! `plugins.*` (Tributary only): sandbox limits and each capability's policy.

use super::{v, Ctx, Section};
use crate::config::model::*;
use crate::config::ConfigError;

pub(super) fn read_plugins(
    s: &mut Section,
    ctx: &Ctx,
    p: &mut PluginsConfig,
) -> Result<(), ConfigError> {
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
    set!(
        pg,
        ctx,
        p.postgresql.max_slot_wal_bytes,
        "max_slot_wal_bytes",
        |x, a| { v::integer(x, a, 1) }
    );
    pg.finish(ctx);
    let mut fs = s.section(ctx, "filesystem")?;
    if let Some(roots) = fs.get(ctx, "roots", |x, a| {
        let roots = v::string_list(x, a)?;
        for r in &roots {
            if !std::path::Path::new(r).is_absolute() {
                return Err(a.err(format!("{r:?} must be an absolute path")));
            }
        }
        Ok(roots)
    })? {
        p.filesystem.roots = roots.into_iter().map(Into::into).collect();
    }
    fs.finish(ctx);
    let mut http = s.section(ctx, "http")?;
    set!(
        http,
        ctx,
        p.http.allowed_origins,
        "allowed_origins",
        |x, a| {
            let origins = v::string_list(x, a)?;
            tributary_capability_http::Allowlist::parse(&origins).map_err(|e| a.err(e))?;
            Ok(origins)
        }
    );
    set!(
        http,
        ctx,
        p.http.max_response_bytes,
        "max_response_bytes",
        |x, a| v::integer(x, a, 1)
    );
    set!(
        http,
        ctx,
        p.http.request_timeout_secs,
        "request_timeout_secs",
        |x, a| v::integer(x, a, 1)
    );
    set!(
        http,
        ctx,
        p.http.max_requests_per_job,
        "max_requests_per_job",
        |x, a| v::integer(x, a, 1)
    );
    http.finish(ctx);
    let mut my = s.section(ctx, "mysql")?;
    set!(my, ctx, p.mysql.enabled, "enabled", v::boolean);
    set!(
        my,
        ctx,
        p.mysql.allowed_hosts,
        "allowed_hosts",
        v::string_list
    );
    if let Some(t) = my.get(ctx, "statement_timeout_ms", |x, a| v::integer(x, a, 1))? {
        p.mysql.statement_timeout_ms = Some(t);
    }
    set!(my, ctx, p.mysql.max_sessions, "max_sessions", |x, a| {
        v::integer(x, a, 1)
    });
    my.finish(ctx);
    let mut rd = s.section(ctx, "redis")?;
    set!(rd, ctx, p.redis.enabled, "enabled", v::boolean);
    set!(
        rd,
        ctx,
        p.redis.allowed_hosts,
        "allowed_hosts",
        v::string_list
    );
    if let Some(n) = rd.get(ctx, "max_reply_bytes", |x, a| v::integer(x, a, 1))? {
        p.redis.max_reply_bytes = Some(n);
    }
    if let Some(n) = rd.get(ctx, "max_connections", |x, a| v::integer(x, a, 1))? {
        p.redis.max_connections = Some(n);
    }
    rd.finish(ctx);
    if let Some(t) = p.mysql.statement_timeout_ms {
        if t >= p.wall_timeout_secs.saturating_mul(1000) {
            return Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: "plugins.mysql.statement_timeout_ms".into(),
                message: format!(
                    "must be below plugins.wall_timeout_secs ({} s = {} ms), got {t}",
                    p.wall_timeout_secs,
                    p.wall_timeout_secs.saturating_mul(1000)
                ),
            });
        }
    }
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
