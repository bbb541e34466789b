//! Sends one batch with retries and reports every item's final outcome.
//!
//! Only retryable items (429 and 5xx) are re-sent, with exponential backoff; a
//! transient failure of the whole request re-sends what is still pending. Each item
//! gets exactly one final outcome, so counters stay exact however often it was tried.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::batcher::Batch;
use super::errors::ItemError;
use super::settings::SyncSettings;
use super::traits::{BulkAction, BulkItemResult, BulkOp, BulkTarget, TargetError};

/// The final outcome of one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// `index`/`update` succeeded; body bytes for the volume; `created` when the id
    /// was new to the index.
    Indexed { bytes: u64, created: bool },
    /// `delete` succeeded.
    Deleted,
    /// `delete` of an id the index did not have: not an error.
    NotFound,
    /// Elasticsearch did nothing (pipeline dropped the doc, or update changed nothing).
    Noop,
    /// Failed for good.
    Failed(ItemError),
    /// Never confirmed: the job was canceled (or failed) while the item waited to be
    /// retried. Counted nowhere.
    Abandoned,
}

/// What came of one batch.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// In request order.
    pub outcomes: Vec<ItemOutcome>,
    /// Item re-sends.
    pub retried: u64,
    /// Set when the request failed as a whole for good; the job fails with it.
    pub fatal: Option<String>,
}

/// Request-level settings shared by every batch of a job.
#[derive(Debug, Clone)]
pub struct BulkContext {
    pub index: String,
    pub pipeline: Option<String>,
    pub settings: SyncSettings,
}

fn is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// Sends `batch` until every item has a final outcome, retries are exhausted, or
/// `stop` fires (then pending items are [`ItemOutcome::Abandoned`]).
pub async fn send_batch(
    target: Arc<dyn BulkTarget>,
    ctx: Arc<BulkContext>,
    batch: Batch,
    stop: CancellationToken,
) -> BatchReport {
    let Batch { ops, doc_bytes, .. } = batch;
    let n = ops.len();
    let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; n];
    let mut pending: Vec<usize> = (0..n).collect();
    let mut retries_done = 0u32;
    let mut report = BatchReport::default();
    let max = ctx.settings.bulk_max_retries;

    while !pending.is_empty() {
        let resent: Vec<BulkOp>;
        let request: &[BulkOp] = if pending.len() == n {
            &ops
        } else {
            resent = pending
                .iter()
                .filter_map(|&i| ops.get(i).cloned())
                .collect();
            &resent
        };
        let result = target
            .bulk(&ctx.index, ctx.pipeline.as_deref(), request)
            .await;
        let items = match result {
            Ok(items) if items.len() == request.len() => items,
            Ok(items) => {
                report.fatal = Some(format!(
                    "bulk response has {} items for {} operations",
                    items.len(),
                    request.len()
                ));
                break;
            }
            Err(TargetError::Fatal(m)) => {
                report.fatal = Some(non_empty(m, "bulk request rejected"));
                break;
            }
            Err(TargetError::Transient(m)) => {
                if retries_done >= max {
                    report.fatal = Some(format!(
                        "bulk request still failing after {} attempts: {}",
                        retries_done + 1,
                        non_empty(m, "transient error")
                    ));
                    break;
                }
                retries_done += 1;
                tracing::warn!(index = %ctx.index, attempt = retries_done, error = %m, "bulk request failed, retrying");
                if !wait(&ctx.settings, retries_done, &stop).await {
                    break;
                }
                continue;
            }
        };
        let mut retry = Vec::new();
        for (&i, item) in pending.iter().zip(items) {
            let (Some(op), Some(slot)) = (ops.get(i), outcomes.get_mut(i)) else {
                continue;
            };
            match classify(op, &item, doc_bytes.get(i).copied().unwrap_or(0)) {
                Classified::Done(o) => *slot = Some(o),
                Classified::Retry if retries_done < max => retry.push(i),
                Classified::Retry => {
                    let (error_type, reason) = item.error.clone().unwrap_or_default();
                    *slot = Some(ItemOutcome::Failed(ItemError {
                        id: op.id.clone(),
                        action: op.action,
                        status: item.status,
                        error_type: non_empty(error_type, "retries_exhausted"),
                        reason: format!(
                            "still failing after {} attempts: {}",
                            retries_done + 1,
                            non_empty(reason, "no reason given")
                        ),
                    }))
                }
            }
        }
        pending = retry;
        if !pending.is_empty() {
            retries_done += 1;
            report.retried += pending.len() as u64;
            tracing::debug!(index = %ctx.index, items = pending.len(), attempt = retries_done, "retrying bulk items");
            if !wait(&ctx.settings, retries_done, &stop).await {
                break;
            }
        }
    }
    report.outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(ItemOutcome::Abandoned))
        .collect();
    report
}

enum Classified {
    Done(ItemOutcome),
    Retry,
}

fn classify(op: &BulkOp, item: &BulkItemResult, bytes: u64) -> Classified {
    let result = item.result.as_deref();
    if item.error.is_none() && (200..300).contains(&item.status) {
        match (op.action, result) {
            (BulkAction::Delete, Some("deleted")) => return Classified::Done(ItemOutcome::Deleted),
            (BulkAction::Index | BulkAction::Update, Some(r @ ("created" | "updated"))) => {
                let created = r == "created";
                return Classified::Done(ItemOutcome::Indexed { bytes, created });
            }
            (_, Some("noop")) => return Classified::Done(ItemOutcome::Noop),
            _ => {}
        }
    }
    if op.action == BulkAction::Delete && item.status == 404 && result == Some("not_found") {
        return Classified::Done(ItemOutcome::NotFound);
    }
    if is_retryable(item.status) {
        return Classified::Retry;
    }
    let (error_type, reason) = item.error.clone().unwrap_or_else(|| {
        (
            "unexpected_result".to_string(),
            format!("result {:?} for this action", result.unwrap_or("none")),
        )
    });
    Classified::Done(ItemOutcome::Failed(ItemError {
        id: op.id.clone(),
        action: op.action,
        status: item.status,
        error_type: non_empty(error_type, "unknown_error"),
        reason: non_empty(reason, "no reason given"),
    }))
}

/// Sleeps the backoff for `attempt`; `false` when `stop` fired first.
async fn wait(settings: &SyncSettings, attempt: u32, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(settings.backoff(attempt)) => true,
    }
}

/// Error texts end up in the job's `error`: never empty.
pub fn non_empty(s: String, fallback: &str) -> String {
    if s.trim().is_empty() {
        fallback.to_string()
    } else {
        s
    }
}
