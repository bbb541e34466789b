//! The runner: one sync job end to end (`docs/elastic/sync-pipeline.md`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::batcher::{Batch, Batcher};
use super::error_budget::ErrorMonitor;
use super::pipeline::{effective_id, PipelineSettings};
use super::request::{
    non_empty, send_request, wait, BulkContext, ItemOutcome, ItemState, Request, RequestReport,
    RetryReason, Verdict,
};
use super::rules::{BasicRule, BasicRules, RuleError};
use super::settings::SyncSettings;
use super::stats::SyncStats;
use super::traits::{
    BulkAction, BulkOp, BulkTarget, DocumentSource, IndexInfo, StampField, TargetError,
    SYNC_STAMP_FIELD,
};
use crate::document::{Document, Operation, Value};
use tributary_metrics as metrics;

mod outcome;
mod retry_queue;
mod shape;
mod spec;
mod stale;

pub use outcome::{Failures, SyncOutcome, SyncResult, MAX_FAILURE_SAMPLES};
use retry_queue::RetryQueue;
pub use spec::{JobType, SpecError, SyncJobSpec};
use stale::describe_types;

/// Runs one sync job: source → basic rules → bulk requests (`bulk_concurrency` in
/// flight, the source pulled only as fast as the target accepts; items Elasticsearch
/// rejects wait in a retry queue outside the slots) → for full syncs, checks that the
/// index is still the one the sync wrote to and stale deletion can be trusted, then
/// refresh + stale deletion → refresh + `_count`.
///
/// `progress` receives the stats after every completed bulk request. `cancel` is
/// honoured between batches and while waiting; in-flight requests get
/// `settings.shutdown_grace` to finish. Never panics on bad input; every failure
/// ends as [`SyncResult::Failed`] with a reason.
pub async fn run_sync(
    spec: &SyncJobSpec,
    source: &mut dyn DocumentSource,
    target: Arc<dyn BulkTarget>,
    progress: &watch::Sender<SyncStats>,
    cancel: &CancellationToken,
) -> SyncOutcome {
    let started = Instant::now();
    tracing::info!(
        job_id = %spec.job_id,
        connector_id = %spec.connector_id,
        index = %spec.index_name,
        job_type = spec.job_type.as_str(),
        "sync started"
    );
    let mut job = Job::new(spec, target, progress, cancel);
    let result = job.run(source).await;
    job.abandon_retries();
    let cursor = match &result {
        SyncResult::Ok => job.cursor.take(),
        _ => None,
    };
    let stats = job.stats.clone();
    progress.send_replace(stats.clone());
    let failures = Failures {
        count: stats.error_count + stats.oversized_document_count,
        first: std::mem::take(&mut job.failure_samples),
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    match &result {
        SyncResult::Ok if failures.count > 0 => tracing::warn!(
            job_id = %spec.job_id, index = %spec.index_name, result = "completed_with_failures",
            failed = failures.count, first_failures = %failures.first.join(" | "),
            indexed = stats.indexed_document_count, volume_mib = stats.indexed_document_volume,
            deleted = stats.deleted_document_count, total = stats.total_document_count,
            retried = stats.retried_item_count, duration_ms,
            "sync finished, but documents were left unindexed"
        ),
        SyncResult::Ok => tracing::info!(
            job_id = %spec.job_id, index = %spec.index_name, result = "completed",
            indexed = stats.indexed_document_count, volume_mib = stats.indexed_document_volume,
            deleted = stats.deleted_document_count, total = stats.total_document_count,
            filtered = stats.filtered_document_count, errors = stats.error_count,
            retried = stats.retried_item_count, duration_ms,
            "sync finished"
        ),
        SyncResult::Canceled => tracing::info!(
            job_id = %spec.job_id, index = %spec.index_name, result = "canceled",
            indexed = stats.indexed_document_count, deleted = stats.deleted_document_count,
            errors = stats.error_count, duration_ms, "sync finished"
        ),
        SyncResult::Failed(reason) => tracing::error!(
            job_id = %spec.job_id, index = %spec.index_name, result = "error", error = %reason,
            indexed = stats.indexed_document_count, deleted = stats.deleted_document_count,
            errors = stats.error_count, duration_ms, "sync finished"
        ),
    }
    SyncOutcome {
        stats,
        cursor,
        result,
        failures,
    }
}

/// Why the main loop stopped early.
enum Stop {
    Canceled,
    Failed(String),
}

type Flow<T = ()> = Result<T, Stop>;

struct Job<'a> {
    spec: &'a SyncJobSpec,
    target: Arc<dyn BulkTarget>,
    ctx: Arc<BulkContext>,
    progress: &'a watch::Sender<SyncStats>,
    cancel: &'a CancellationToken,
    /// Stops retries of in-flight requests on cancel or failure.
    stop: CancellationToken,
    inflight: JoinSet<RequestReport>,
    retries: RetryQueue,
    monitor: ErrorMonitor,
    stats: SyncStats,
    cursor: Option<String>,
    scratch: Vec<u8>,
    /// Full sync: ids whose write failed (or was dropped as oversized). Their previous
    /// copy must survive stale deletion, as in Elastic (the source still has them).
    protect: Vec<String>,
    protect_overflow: bool,
    /// The index as the sync found it after preparing it.
    index_at_start: Option<IndexInfo>,
    /// The first reasons documents were left unindexed.
    failure_samples: Vec<String>,
}

/// No document body is encoded past this (Elasticsearch's default
/// `http.max_content_length`), whatever `max_document_bytes` says.
const HARD_MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;

/// How long the protective stamps of failed documents are retried when rejected
/// (429), at least.
const ADMIN_REJECTION_PATIENCE: Duration = Duration::from_secs(30);

/// More failed ids than this and the full sync refuses to delete stale documents.
const MAX_PROTECTED_IDS: usize = 100_000;

impl<'a> Job<'a> {
    fn new(
        spec: &'a SyncJobSpec,
        target: Arc<dyn BulkTarget>,
        progress: &'a watch::Sender<SyncStats>,
        cancel: &'a CancellationToken,
    ) -> Self {
        Self {
            ctx: Arc::new(BulkContext {
                index: spec.index_name.clone(),
                pipeline: spec.pipeline.request_pipeline().map(str::to_string),
                settings: spec.settings.clone(),
            }),
            spec,
            target,
            progress,
            cancel,
            stop: cancel.child_token(),
            inflight: JoinSet::new(),
            retries: RetryQueue::default(),
            monitor: ErrorMonitor::new(spec.settings.error_budget.clone()),
            stats: SyncStats::default(),
            cursor: None,
            scratch: Vec::new(),
            protect: Vec::new(),
            protect_overflow: false,
            index_at_start: None,
            failure_samples: Vec::new(),
        }
    }

    fn concurrency(&self) -> usize {
        self.spec.settings.bulk_concurrency.max(1)
    }

    fn slot_free(&self) -> bool {
        self.inflight.len() < self.concurrency()
    }

    /// Too many items wait for a retry: the source is not pulled until they drain.
    fn retries_full(&self) -> bool {
        let s = &self.spec.settings;
        self.retries.len() >= s.retry_queue_limit()
            || self.retries.bytes
                >= s.bulk_max_bytes
                    .max(1)
                    .saturating_mul(self.concurrency())
                    .saturating_mul(2)
    }

    async fn run(&mut self, source: &mut dyn DocumentSource) -> SyncResult {
        let streamed = self.stream(source).await;
        // Whatever happened, let in-flight requests finish so the counters are exact.
        let drained = match &streamed {
            Ok(()) => self.drain(None).await,
            Err(_) => {
                self.stop.cancel();
                self.abandon_retries();
                self.drain(Some(self.spec.settings.shutdown_grace)).await
            }
        };
        // Stale deletion and the cursor only after everything before succeeded.
        let outcome = match streamed.and(drained) {
            Ok(()) => self.finish(source).await,
            Err(stop) => Err(stop),
        };
        match outcome {
            Ok(()) => SyncResult::Ok,
            Err(Stop::Canceled) => SyncResult::Canceled,
            Err(Stop::Failed(reason)) => {
                SyncResult::Failed(non_empty(reason, "sync failed without a reason"))
            }
        }
    }

    /// Items still waiting for a retry will never be confirmed.
    fn abandon_retries(&mut self) {
        let n = self.retries.clear();
        if n > 0 {
            tracing::info!(job_id = %self.spec.job_id, items = n, "items waiting for a retry were abandoned");
        }
    }

    async fn stream(&mut self, source: &mut dyn DocumentSource) -> Flow {
        let spec = self.spec;
        if spec.job_type == JobType::AccessControl {
            return Err(Stop::Failed(
                "access_control sync jobs are not supported by Tributary (document-level security is not implemented)"
                    .into(),
            ));
        }
        let mut rules = BasicRules::new(&spec.basic_rules)
            .map_err(|e| Stop::Failed(format!("Invalid basic sync rules: {e}")))?;
        let index = spec.index_name.as_str();
        let failed = |what: &'static str| {
            move |e: Option<TargetError>| match e {
                Some(e) => Stop::Failed(format!("{what} index '{index}': {e}")),
                None => Stop::Canceled,
            }
        };
        admin(self.target.prepare_index(index))
            .await
            .map_err(failed("Could not prepare"))?;
        let info = admin(self.target.index_info(index))
            .await
            .map_err(failed("Could not inspect"))?;
        let Some(info) = info else {
            return Err(Stop::Failed(format!(
                "The index '{index}' was deleted right after it was prepared for this sync; nothing was written. Run the sync again."
            )));
        };
        tracing::debug!(job_id = %spec.job_id, index, identity = %info.describe(), "index prepared");
        if spec.job_type == JobType::Full {
            match info.stamp_field(spec.job_id.len()) {
                StampField::Keyword => {}
                StampField::Subfield(sub) => tracing::warn!(
                    job_id = %spec.job_id, index,
                    "the sync stamp is mapped as text in this index (recreated by dynamic mapping?); stale-document deletion will use its keyword sub-field `{SYNC_STAMP_FIELD}.{sub}`. Delete the index before a full sync to restore Tributary's mapping."
                ),
                // Not fatal yet: the documents are still worth writing. The deletion
                // is refused at the end, with the way out.
                StampField::Unusable(bad) => tracing::warn!(
                    job_id = %spec.job_id, index,
                    mapping = %describe_types(&bad),
                    "the sync stamp is not a keyword in this index: stale documents will not be deleted after this sync"
                ),
            }
        }
        self.index_at_start = Some(info);
        let mut batcher = Batcher::new(spec.settings.bulk_max_docs, spec.settings.bulk_max_bytes);
        loop {
            if self.cancel.is_cancelled() {
                return Err(Stop::Canceled);
            }
            let docs = self.next_batch(source).await?;
            let Some(docs) = docs else { break };
            self.stats.source_document_count += docs.len() as u64;
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
            for doc in &docs {
                let Some((op, bytes)) = self.encode(doc, &now, &mut rules) else {
                    continue;
                };
                for batch in batcher.push(op, bytes) {
                    self.dispatch(batch).await?;
                }
            }
        }
        if let Some(batch) = batcher.finish() {
            self.dispatch(batch).await?;
        }
        for (id, n) in rules.match_counts() {
            tracing::debug!(job_id = %spec.job_id, rule = %id, matches = n, "basic rule matches");
        }
        Ok(())
    }

    /// Pulls the next source batch while still handling completed requests and
    /// sending due retries.
    async fn next_batch(&mut self, source: &mut dyn DocumentSource) -> Flow<Option<Vec<Document>>> {
        let fut = source.next_batch();
        tokio::pin!(fut);
        loop {
            self.send_due_retries();
            let due = self.retry_timer();
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Canceled),
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    self.absorb(done)?;
                }
                _ = sleep_until(due), if due.is_some() => {}
                r = &mut fut => {
                    return r.map_err(|e| Stop::Failed(non_empty(e.to_string(), "source failed without a message")));
                }
            }
        }
    }

    /// When the next retry is due, if there is a slot to send it in.
    fn retry_timer(&self) -> Option<Instant> {
        if self.slot_free() {
            self.retries.next_due()
        } else {
            None
        }
    }

    /// Sends due retries in the free slots.
    fn send_due_retries(&mut self) {
        let s = &self.spec.settings;
        while self.slot_free() {
            let now = Instant::now();
            let Some(req) =
                self.retries
                    .take_due(now, s.bulk_max_docs.max(1), s.bulk_max_bytes.max(1))
            else {
                break;
            };
            self.spawn(req);
        }
    }

    fn spawn(&mut self, req: Request) {
        self.inflight
            .spawn(send_request(self.target.clone(), self.ctx.clone(), req));
    }

    /// Sends a batch once a slot is free and the retry queue is not full (this wait
    /// is the backpressure); due retries go first.
    async fn dispatch(&mut self, batch: Batch) -> Flow {
        loop {
            self.send_due_retries();
            if self.slot_free() && !self.retries_full() {
                break;
            }
            let due = self.retry_timer();
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Canceled),
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => self.absorb(done)?,
                _ = sleep_until(due), if due.is_some() => {}
            }
        }
        let Batch { ops, doc_bytes, .. } = batch;
        let states = doc_bytes.into_iter().map(ItemState::new).collect();
        self.spawn(Request { ops, states });
        while let Some(done) = self.inflight.try_join_next() {
            self.absorb(done)?;
        }
        Ok(())
    }

    /// Waits until every request finished and (unless stopping) every retry was
    /// sent. With `grace` (or once canceled), only waits for in-flight requests, at
    /// most that long, then aborts the rest; retries still queued are abandoned.
    async fn drain(&mut self, grace: Option<Duration>) -> Flow {
        let mut deadline = grace.map(|g| tokio::time::Instant::now() + g);
        let mut first_err: Option<Stop> = None;
        loop {
            if deadline.is_some() || first_err.is_some() {
                self.abandon_retries();
            }
            if self.inflight.is_empty() && self.retries.is_empty() {
                break;
            }
            self.send_due_retries();
            let due = self.retry_timer();
            let watch_cancel = deadline.is_none() && first_err.is_none();
            tokio::select! {
                biased;
                _ = self.cancel.cancelled(), if watch_cancel => {
                    // Stop retrying; in-flight requests get the grace to answer.
                    self.stop.cancel();
                    first_err = Some(Stop::Canceled);
                    deadline = Some(tokio::time::Instant::now() + self.spec.settings.shutdown_grace);
                }
                _ = sleep_until_tokio(deadline), if deadline.is_some() => {
                    tracing::warn!(job_id = %self.spec.job_id, pending = self.inflight.len(), "bulk requests did not finish in time, aborting them");
                    self.inflight.abort_all();
                    break;
                }
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    if let Err(e) = self.absorb(done) {
                        // Keep counting the others; the first failure is the one reported.
                        self.stop.cancel();
                        first_err.get_or_insert(e);
                    }
                }
                _ = sleep_until(due), if due.is_some() => {}
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Counts one request's outcomes, queues its retries, publishes progress.
    fn absorb(&mut self, done: Result<RequestReport, tokio::task::JoinError>) -> Flow {
        let report = done.map_err(|e| Stop::Failed(format!("bulk task failed: {e}")))?;
        let mut tripped = None;
        let (mut indexed, mut deleted, mut failed) = (0u64, 0u64, 0u64);
        let (mut rejected, mut server_errors) = (0u64, 0u64);
        let now = Instant::now();
        let RequestReport {
            ops,
            states,
            verdicts,
            fatal,
            ..
        } = report;
        for ((op, state), verdict) in ops.into_iter().zip(states).zip(verdicts) {
            let outcome = match verdict {
                Verdict::Retry { delay, reason } => {
                    match reason {
                        RetryReason::Rejected => rejected += 1,
                        RetryReason::ServerError => server_errors += 1,
                    }
                    self.stats.retried_item_count += 1;
                    self.retries.push(now + delay, op, state);
                    continue;
                }
                Verdict::Done(o) => o,
            };
            match outcome {
                ItemOutcome::Indexed { bytes, .. } => {
                    indexed += 1;
                    self.stats.indexed_document_count += 1;
                    self.stats.add_indexed_bytes(bytes);
                    self.monitor.track_success();
                }
                ItemOutcome::Deleted => {
                    deleted += 1;
                    self.stats.deleted_document_count += 1;
                    self.monitor.track_success();
                }
                ItemOutcome::NotFound => {
                    self.stats.delete_not_found_count += 1;
                    self.monitor.track_success();
                }
                ItemOutcome::Noop => {
                    self.stats.noop_document_count += 1;
                    self.monitor.track_success();
                }
                ItemOutcome::Failed(e) => {
                    failed += 1;
                    self.stats.error_count += 1;
                    if e.action == BulkAction::Index {
                        self.protect_id(&e.id);
                    }
                    tracing::warn!(
                        job_id = %self.spec.job_id, index = %self.spec.index_name, id = %e.id,
                        status = e.status, error_type = %e.error_type, reason = %e.reason,
                        "bulk item failed"
                    );
                    self.note_failure(e.to_string());
                    if let Err(t) = self.monitor.track_error(&e) {
                        tripped.get_or_insert(t);
                    }
                }
                ItemOutcome::Abandoned => {}
            }
        }
        metrics::documents(&self.spec.connector_id, indexed, deleted, failed);
        metrics::bulk_item_retries(RetryReason::Rejected.as_str(), rejected);
        metrics::bulk_item_retries(RetryReason::ServerError.as_str(), server_errors);
        self.progress.send_replace(self.stats.clone());
        if let Some(fatal) = fatal {
            return Err(Stop::Failed(format!(
                "Elasticsearch bulk request to '{}' failed: {fatal}",
                self.spec.index_name
            )));
        }
        match tripped {
            Some(t) => Err(Stop::Failed(format!("Too many document errors: {t}"))),
            None => Ok(()),
        }
    }

    fn note_failure(&mut self, reason: String) {
        if self.failure_samples.len() < MAX_FAILURE_SAMPLES {
            self.failure_samples.push(reason);
        }
    }
}

/// Sleeps until `at`; never completes for `None` (guard the select branch).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_tokio(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An admin call (refresh, count, index checks, deletion). The target retries
/// transient failures itself (the Elasticsearch client's one retry policy); an
/// error here is final. `Err(Some(..))` keeps the shape the callers map.
async fn admin<T>(
    call: impl std::future::Future<Output = Result<T, TargetError>>,
) -> Result<T, Option<TargetError>> {
    call.await.map_err(Some)
}
