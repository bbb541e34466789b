//! One `_bulk` request and the verdict on each of its items.
//!
//! A request that fails as a whole was already retried by the target (the
//! Elasticsearch client, per `elasticsearch.max_retries`): the error is final and
//! fails the job. Items that fail *inside* an answered request get a
//! [`Verdict::Retry`] with a delay, and the job puts them in its retry queue, so the
//! request's slot is free at once and good items are done when they are done.
//! Rejections (per-item 429) are retried by time (`rejection_timeout`), 5xx by count
//! (`bulk_max_retries`). Each item ends with exactly one final outcome, so counters
//! stay exact however often it was tried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::error_budget::ItemError;
use super::settings::SyncSettings;
use super::traits::{BulkAction, BulkItemResult, BulkOp, BulkTarget, TargetError};
use tributary_metrics::{self as metrics, BulkRequestOutcome};

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
    /// Never confirmed: the job was canceled (or failed) before the item got an
    /// answer or while it waited to be retried. Counted nowhere.
    Abandoned,
}

/// What travels with an op from one attempt to the next.
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemState {
    /// Body bytes of the document (0 for deletes), for `indexed_document_volume`.
    pub doc_bytes: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Per-item 5xx answers so far.
    pub server_errors: u32,
    /// Per-item 429 answers so far.
    pub rejections: u32,
    /// When the first 429 came.
    pub rejected_since: Option<Instant>,
}

impl ItemState {
    /// A document not sent yet.
    pub fn new(doc_bytes: u64) -> Self {
        Self {
            doc_bytes,
            ..Self::default()
        }
    }
}

/// Why an item is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// Per-item 429 (`es_rejected_execution_exception`).
    Rejected,
    /// Per-item 5xx.
    ServerError,
}

impl RetryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::ServerError => "server_error",
        }
    }
}

/// What becomes of one item of an answered request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Done(ItemOutcome),
    /// Send it again after `delay`.
    Retry {
        delay: Duration,
        reason: RetryReason,
    },
}

/// One request to send: ops and their states, in the same order.
#[derive(Debug, Default)]
pub struct Request {
    pub ops: Vec<BulkOp>,
    pub states: Vec<ItemState>,
}

impl Request {
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What came of one request: the ops back (a retried item is re-queued as is), their
/// updated states and verdicts, all in request order.
#[derive(Debug, Default)]
pub struct RequestReport {
    pub ops: Vec<BulkOp>,
    pub states: Vec<ItemState>,
    pub verdicts: Vec<Verdict>,
    /// Set when the request failed as a whole for good; the job fails with it.
    pub fatal: Option<String>,
}

/// Request-level settings shared by every request of a job.
#[derive(Debug, Clone)]
pub struct BulkContext {
    pub index: String,
    pub pipeline: Option<String>,
    pub settings: SyncSettings,
}

/// Sends `request` once and judges every item. A request that fails as a whole
/// (after the target's own retries) abandons every item and sets `fatal`.
pub async fn send_request(
    target: Arc<dyn BulkTarget>,
    ctx: Arc<BulkContext>,
    request: Request,
) -> RequestReport {
    let Request { ops, mut states } = request;
    let settings = &ctx.settings;
    let mut report = RequestReport::default();
    let started = Instant::now();
    let result = target.bulk(&ctx.index, ctx.pipeline.as_deref(), &ops).await;
    let took = started.elapsed();
    let items = match result {
        Ok(items) if items.len() == ops.len() => {
            metrics::bulk_request(BulkRequestOutcome::Ok, took);
            items
        }
        failed => {
            metrics::bulk_request(BulkRequestOutcome::Failed, took);
            report.fatal = Some(match failed {
                Ok(items) => format!(
                    "bulk response has {} items for {} operations",
                    items.len(),
                    ops.len()
                ),
                Err(TargetError::Fatal(m)) => non_empty(m, "bulk request rejected"),
                Err(TargetError::Transient(m)) => non_empty(m, "bulk request failed"),
            });
            // Nothing was confirmed.
            report.verdicts = vec![Verdict::Done(ItemOutcome::Abandoned); ops.len()];
            report.ops = ops;
            report.states = states;
            return report;
        }
    };
    let now = Instant::now();
    report.verdicts = ops
        .iter()
        .zip(states.iter_mut())
        .zip(items)
        .map(|((op, state), item)| judge(op, state, &item, settings, now))
        .collect();
    report.ops = ops;
    report.states = states;
    report
}

/// The verdict on one answered item; updates its state.
fn judge(
    op: &BulkOp,
    state: &mut ItemState,
    item: &BulkItemResult,
    settings: &SyncSettings,
    now: Instant,
) -> Verdict {
    state.attempts += 1;
    let retry_reason = match classify(op, item, state.doc_bytes) {
        Classified::Done(o) => return Verdict::Done(o),
        Classified::Retry(r) => r,
    };
    let (error_type, reason) = item.error.clone().unwrap_or_default();
    let give_up = |why: String| {
        Verdict::Done(ItemOutcome::Failed(ItemError {
            id: op.id.clone(),
            action: op.action,
            status: item.status,
            error_type: non_empty(error_type.clone(), "retries_exhausted"),
            reason: format!("{why}: {}", non_empty(reason.clone(), "no reason given")),
        }))
    };
    match retry_reason {
        RetryReason::Rejected => {
            state.rejections += 1;
            let since = *state.rejected_since.get_or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited >= settings.rejection_timeout {
                return give_up(format!(
                    "still rejected after {} attempts over {} s (sync.bulk_rejection_timeout)",
                    state.attempts,
                    waited.as_secs()
                ));
            }
            Verdict::Retry {
                delay: settings.rejection_backoff.delay(state.rejections),
                reason: RetryReason::Rejected,
            }
        }
        RetryReason::ServerError => {
            state.server_errors += 1;
            if state.server_errors > settings.bulk_max_retries {
                return give_up(format!("still failing after {} attempts", state.attempts));
            }
            Verdict::Retry {
                delay: settings.item_backoff.delay(state.server_errors),
                reason: RetryReason::ServerError,
            }
        }
    }
}

enum Classified {
    Done(ItemOutcome),
    Retry(RetryReason),
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
    if item.status == 429 {
        return Classified::Retry(RetryReason::Rejected);
    }
    if item.status >= 500 {
        return Classified::Retry(RetryReason::ServerError);
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

/// Sleeps `delay`; `false` when `stop` fired first.
pub async fn wait(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> BulkOp {
        BulkOp {
            action: BulkAction::Index,
            id: "a".into(),
            source: Some(b"{}".to_vec()),
        }
    }

    fn answer(status: u16) -> BulkItemResult {
        BulkItemResult {
            status,
            result: None,
            error: Some((
                "es_rejected_execution_exception".into(),
                "queue full".into(),
            )),
        }
    }

    #[test]
    fn rejections_are_retried_by_time_server_errors_by_count() {
        let settings = SyncSettings {
            bulk_max_retries: 2,
            rejection_timeout: Duration::from_secs(60),
            ..SyncSettings::default()
        };
        let t0 = Instant::now();
        let mut s = ItemState::new(2);
        for i in 0..50 {
            // Many rejections within the timeout: still retried.
            let v = judge(
                &op(),
                &mut s,
                &answer(429),
                &settings,
                t0 + Duration::from_secs(i),
            );
            assert!(
                matches!(v, Verdict::Retry { reason: RetryReason::Rejected, delay } if delay <= settings.rejection_backoff.max),
                "{v:?}"
            );
        }
        let v = judge(
            &op(),
            &mut s,
            &answer(429),
            &settings,
            t0 + Duration::from_secs(61),
        );
        let Verdict::Done(ItemOutcome::Failed(e)) = v else {
            panic!("{v:?}")
        };
        assert!(
            e.reason
                .contains("still rejected after 51 attempts over 61 s"),
            "{e}"
        );
        assert_eq!(e.status, 429);

        let mut s = ItemState::new(2);
        for _ in 0..2 {
            assert!(matches!(
                judge(&op(), &mut s, &answer(503), &settings, t0),
                Verdict::Retry {
                    reason: RetryReason::ServerError,
                    ..
                }
            ));
        }
        let v = judge(&op(), &mut s, &answer(503), &settings, t0);
        let Verdict::Done(ItemOutcome::Failed(e)) = v else {
            panic!("{v:?}")
        };
        assert!(e.reason.contains("still failing after 3 attempts"), "{e}");
    }

    #[test]
    fn rejection_delays_stay_short() {
        let s = SyncSettings::default();
        let total: Duration = (1..=12).map(|a| s.rejection_backoff.delay(a)).sum();
        assert!(total <= Duration::from_secs(10), "{total:?}");
        assert!(s.rejection_backoff.delay(1) <= Duration::from_millis(50));
    }
}
