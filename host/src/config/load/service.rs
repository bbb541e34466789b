//! `service.*`.

use serde_yaml::Value;

use super::{v, At, Ctx, Section};
use crate::config::model::*;
use crate::config::ConfigError;

pub(super) fn read_service(
    s: &mut Section,
    ctx: &Ctx,
    svc: &mut ServiceConfig,
) -> Result<(), ConfigError> {
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
