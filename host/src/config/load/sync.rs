//! `sync.*` (Tributary only), inheriting explicit `elasticsearch.bulk.*` keys.

use super::elasticsearch::{read_error_budget, ExplicitBulk};
use super::{v, Ctx, Section};
use crate::config::model::*;
use crate::config::ConfigError;

pub(super) fn read_sync(
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
