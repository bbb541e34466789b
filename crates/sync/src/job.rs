//! The runner: one sync job end to end (reference §6.1–§6.3).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::batcher::{Batch, Batcher};
use super::bulk::{
    non_empty, send_request, wait, BulkContext, ItemOutcome, ItemState, Request, RequestReport,
    RetryReason, Verdict,
};
use super::errors::ErrorMonitor;
use super::pipeline::{effective_id, PipelineSettings};
use super::rules::{BasicRule, BasicRules, RuleError};
use super::settings::SyncSettings;
use super::stats::SyncStats;
use super::traits::{
    BulkAction, BulkOp, BulkTarget, DocumentSource, IndexInfo, StampField, TargetError,
    SYNC_STAMP_FIELD,
};
use crate::document::{Document, Operation, Value};
use tributary_metrics as metrics;

/// `job_type` of the sync job document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    /// Everything is re-indexed, then documents not seen by this job are deleted.
    Full,
    /// The source's operations are applied as given; nothing else is deleted.
    Incremental,
    /// Document-level security sync: not supported by Tributary (fails the job).
    AccessControl,
}

impl JobType {
    /// Parses `full`, `incremental`, `access_control`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "incremental" => Some(Self::Incremental),
            "access_control" => Some(Self::AccessControl),
            _ => None,
        }
    }

    /// The job document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::AccessControl => "access_control",
        }
    }
}

/// Everything one job needs besides its source and target.
#[derive(Debug, Clone)]
pub struct SyncJobSpec {
    /// Sync job id; stamped on every document of a full sync.
    pub job_id: String,
    /// The connector (`connector.id`), for logs and metrics; may be empty.
    pub connector_id: String,
    /// Target index (`connector.index_name`).
    pub index_name: String,
    pub job_type: JobType,
    /// `connector.pipeline` of the job.
    pub pipeline: PipelineSettings,
    /// Active basic rules of the job's filtering snapshot (DEFAULT may be included).
    pub basic_rules: Vec<BasicRule>,
    pub settings: SyncSettings,
}

/// Why a sync job document cannot be turned into a [`SyncJobSpec`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("sync job has no connector.index_name")]
    MissingIndex,
    #[error("sync job has an unknown job_type '{0}'")]
    UnknownJobType(String),
    #[error("sync job has an invalid connector.pipeline: {0}")]
    BadPipeline(String),
    #[error(transparent)]
    Rules(#[from] RuleError),
}

impl SyncJobSpec {
    /// Builds the spec from a `.elastic-connectors-sync-jobs` document (`_source`):
    /// `job_type` (default `full`), `connector.index_name`, `connector.pipeline`
    /// (absent → Connector API defaults) and the active rules in
    /// `connector.filtering.rules` (the object form; the legacy array form
    /// `[{active: {rules}}]` is accepted too).
    pub fn from_job_document(
        job_id: &str,
        job: &serde_json::Value,
        settings: SyncSettings,
    ) -> Result<Self, SpecError> {
        let connector = &job["connector"];
        let job_type = match job.get("job_type").and_then(|v| v.as_str()) {
            None => JobType::Full,
            Some(t) => JobType::parse(t).ok_or_else(|| SpecError::UnknownJobType(t.into()))?,
        };
        let index_name = connector
            .get("index_name")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or(SpecError::MissingIndex)?
            .to_string();
        let pipeline = match connector.get("pipeline") {
            None | Some(serde_json::Value::Null) => PipelineSettings::default(),
            Some(p) => serde_json::from_value(p.clone())
                .map_err(|e| SpecError::BadPipeline(e.to_string()))?,
        };
        let filtering = &connector["filtering"];
        let rules = match filtering {
            serde_json::Value::Array(domains) => domains
                .first()
                .map(|d| d["active"]["rules"].clone())
                .unwrap_or_default(),
            other => other["rules"].clone(),
        };
        Ok(Self {
            job_id: job_id.to_string(),
            connector_id: connector
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            index_name,
            job_type,
            pipeline,
            basic_rules: BasicRule::parse_all(&rules)?,
            settings,
        })
    }
}

/// How the job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResult {
    /// Completed; for a full sync stale documents were deleted. Documents may still
    /// have failed within the error budget: see [`SyncOutcome::failures`].
    Ok,
    /// Stopped on request; no stale deletion happened.
    Canceled,
    /// Failed; the reason is never empty and is meant for the job's `error`.
    Failed(String),
}

/// Documents the job left unindexed (failed for good after their retries, or too
/// large to send), with the first reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    /// `error_count + oversized_document_count` of the stats.
    pub count: u64,
    /// The first [`MAX_FAILURE_SAMPLES`] reasons, in the order they happened.
    pub first: Vec<String>,
}

/// How many failure reasons a job keeps for its `metadata` and log.
pub const MAX_FAILURE_SAMPLES: usize = 10;

/// What `run_sync` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Exact counters of what reached the index (also on cancel and failure).
    pub stats: SyncStats,
    /// The source's cursor; only on success (persist it on the connector then).
    pub cursor: Option<String>,
    pub result: SyncResult,
    /// Documents left unindexed; a completed job with any is not a clean success.
    pub failures: Failures,
}

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

/// Items waiting to be sent again, in due order (ties in arrival order).
#[derive(Default)]
struct RetryQueue {
    items: BTreeMap<(Instant, u64), (BulkOp, ItemState)>,
    seq: u64,
    bytes: usize,
}

impl RetryQueue {
    fn push(&mut self, due: Instant, op: BulkOp, state: ItemState) {
        self.bytes += Batcher::op_bytes(&op);
        self.seq += 1;
        self.items.insert((due, self.seq), (op, state));
        metrics::retry_queue(1);
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn next_due(&self) -> Option<Instant> {
        self.items.keys().next().map(|(due, _)| *due)
    }

    /// Due items up to the request limits (at least one when any is due).
    fn take_due(&mut self, now: Instant, max_docs: usize, max_bytes: usize) -> Option<Request> {
        let mut req = Request::default();
        let mut bytes = 0;
        while let Some(entry) = self.items.first_entry() {
            if entry.key().0 > now || req.len() >= max_docs {
                break;
            }
            let size = Batcher::op_bytes(&entry.get().0);
            if !req.is_empty() && bytes + size > max_bytes {
                break;
            }
            let (op, state) = entry.remove();
            bytes += size;
            self.bytes = self.bytes.saturating_sub(size);
            req.ops.push(op);
            req.states.push(state);
        }
        metrics::retry_queue(-(req.len() as i64));
        (!req.is_empty()).then_some(req)
    }

    /// Drops everything (cancel or failure): the items are abandoned.
    fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        metrics::retry_queue(-(n as i64));
        n
    }
}

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
        retrying(&spec.settings, self.cancel, || {
            self.target.prepare_index(index)
        })
        .await
        .map_err(failed("Could not prepare"))?;
        let info = retrying(&spec.settings, self.cancel, || {
            self.target.index_info(index)
        })
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
        self.inflight.spawn(send_request(
            self.target.clone(),
            self.ctx.clone(),
            req,
            self.stop.clone(),
        ));
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

    /// After everything was written: the index checks and stale deletion (full
    /// only), count, cursor.
    async fn finish(&mut self, source: &mut dyn DocumentSource) -> Flow {
        let spec = self.spec;
        let s = &spec.settings;
        let index = spec.index_name.as_str();
        let target = self.target.clone();
        let fail = |what: &str| {
            let what = what.to_string();
            move |e: Option<TargetError>| match e {
                Some(e) => Stop::Failed(format!("{what} of index '{index}' failed: {e}")),
                None => Stop::Canceled,
            }
        };
        if self.cancel.is_cancelled() {
            return Err(Stop::Canceled);
        }
        // Whatever the job type: an index replaced under the sync lost what was
        // written before, so the job cannot end as a success.
        self.check_same_index().await?;
        if spec.job_type == JobType::Full {
            self.protect_failed().await?;
            retrying(s, self.cancel, || target.refresh(index))
                .await
                .map_err(fail("Refresh"))?;
            let field = self.check_stale_deletion_is_safe().await?;
            // Last chance to stop: past this point the stale documents are gone.
            if self.cancel.is_cancelled() {
                return Err(Stop::Canceled);
            }
            let deleted = retrying(s, self.cancel, || {
                target.delete_where_not(index, &field, &spec.job_id)
            })
            .await
            .map_err(fail("Stale document deletion"))?;
            self.stats.deleted_document_count += deleted;
            metrics::documents(&spec.connector_id, 0, deleted, 0);
            self.progress.send_replace(self.stats.clone());
        }
        retrying(s, self.cancel, || target.refresh(index))
            .await
            .map_err(fail("Refresh"))?;
        let total = retrying(s, self.cancel, || target.count(index))
            .await
            .map_err(fail("Count"))?;
        self.stats.total_document_count = total;
        self.cursor = source.cursor().await.map_err(|e| {
            Stop::Failed(non_empty(
                format!("Reading the sync cursor failed: {e}"),
                "cursor",
            ))
        })?;
        Ok(())
    }

    /// The index now, compared with the index the sync prepared: missing or
    /// replaced (another uuid) fails the job, and no stale document is deleted.
    async fn check_same_index(&mut self) -> Flow<IndexInfo> {
        let spec = self.spec;
        let index = spec.index_name.as_str();
        let now = retrying(&spec.settings, self.cancel, || self.target.index_info(index))
            .await
            .map_err(|e| match e {
                Some(e) => Stop::Failed(format!(
                    "Could not check index '{index}' before finishing the sync: {e}; stale documents were not deleted"
                )),
                None => Stop::Canceled,
            })?;
        let before = self.index_at_start.clone().unwrap_or_default();
        let deletion = if spec.job_type == JobType::Full {
            " Stale documents were not deleted."
        } else {
            ""
        };
        let Some(now) = now else {
            metrics::stale_deletion_skipped(&spec.connector_id);
            return Err(Stop::Failed(format!(
                "The index '{index}' was deleted while the sync ran (it was {} at the start); the documents written to it are gone.{deletion} Run a full sync to recreate and refill it.",
                before.describe()
            )));
        };
        if now.uuids != before.uuids {
            metrics::stale_deletion_skipped(&spec.connector_id);
            let mapping = match now.stamp_field(spec.job_id.len()) {
                StampField::Keyword | StampField::Subfield(_) => String::new(),
                StampField::Unusable(bad) => format!(
                    " The new index maps {SYNC_STAMP_FIELD} as {} (dynamic mapping), which stale-document deletion cannot use: delete index '{index}' before the next full sync so that Tributary creates it with the right mapping.",
                    describe_types(&bad)
                ),
            };
            return Err(Stop::Failed(format!(
                "The index '{index}' was deleted and recreated while the sync ran ({} at the start, {} at the end): documents written before that are missing from it.{deletion}{mapping} Run a full sync again to refill it.",
                before.describe(),
                now.describe()
            )));
        }
        Ok(now)
    }

    /// Right before deleting: the stamp must be matched exactly by a `term` in every
    /// concrete index (a `keyword`; else `must_not term` matches everything), and
    /// this job's stamp must be found by the very query the deletion negates. Returns
    /// the field to delete by. Any doubt fails the job.
    ///
    /// An index recreated by dynamic mapping maps the stamp as `text` with a
    /// `keyword` sub-field; that sub-field is used only when it finds at least every
    /// document this sync indexed (all of them were written with today's mapping, so
    /// anything it does not find was not written by this sync).
    async fn check_stale_deletion_is_safe(&mut self) -> Flow<String> {
        let spec = self.spec;
        let index = spec.index_name.as_str();
        let now = self.check_same_index().await?;
        let stamp = now.stamp_field(spec.job_id.len());
        let Some(field) = stamp.name() else {
            let StampField::Unusable(bad) = stamp else {
                return Err(Stop::Failed("no usable stamp field".into()));
            };
            metrics::stale_deletion_skipped(&spec.connector_id);
            return Err(Stop::Failed(format!(
                "Stale documents were not deleted: index '{index}' maps {SYNC_STAMP_FIELD} as {} but stale-document deletion needs a keyword. The documents of this sync were written. To repair: delete index '{index}' and run a full sync (Tributary recreates it with the right mapping), or reindex it into an index that maps {SYNC_STAMP_FIELD} as keyword.",
                describe_types(&bad)
            )));
        };
        let indexed = self.stats.indexed_document_count;
        let exact = matches!(stamp, StampField::Subfield(_));
        if indexed > 0 || exact {
            let stamped = retrying(&spec.settings, self.cancel, || {
                self.target.count_where(index, &field, &spec.job_id)
            })
            .await
            .map_err(|e| match e {
                Some(e) => Stop::Failed(format!(
                    "Could not count this sync's documents in index '{index}': {e}; stale documents were not deleted"
                )),
                None => Stop::Canceled,
            })?;
            let short = if exact {
                stamped < indexed
            } else {
                stamped == 0
            };
            if short {
                metrics::stale_deletion_skipped(&spec.connector_id);
                return Err(Stop::Failed(format!(
                    "Stale documents were not deleted: only {stamped} of the {indexed} documents this sync indexed are found in index '{index}' by {field}, so the deletion could remove live documents. Check the index's mapping and aliases, then run a full sync again."
                )));
            }
        }
        if exact {
            tracing::warn!(job_id = %spec.job_id, index, field = %field, "deleting stale documents through the stamp's keyword sub-field (the index was recreated by dynamic mapping)");
        }
        Ok(field)
    }

    fn protect_id(&mut self, id: &str) {
        if self.spec.job_type != JobType::Full {
            return;
        }
        if self.protect.len() < MAX_PROTECTED_IDS {
            self.protect.push(id.to_string());
        } else {
            self.protect_overflow = true;
        }
    }

    /// Stamps the previous copy of every document that failed to index with this
    /// job's id so stale deletion keeps it (the source still has the document). The
    /// target's `update` upserts, so a stamp that *created* a document (no previous
    /// copy) is deleted again right away. Any doubt fails the job rather than
    /// deleting live data.
    async fn protect_failed(&mut self) -> Flow {
        if self.protect_overflow {
            return Err(Stop::Failed(format!(
                "More than {MAX_PROTECTED_IDS} documents failed to index; stale documents were not deleted to protect live data"
            )));
        }
        if self.protect.is_empty() {
            return Ok(());
        }
        let mut body = vec![b'{'];
        crate::document::write_str(SYNC_STAMP_FIELD, &mut body);
        body.push(b':');
        crate::document::write_str(&self.spec.job_id, &mut body);
        body.push(b'}');
        let ids = std::mem::take(&mut self.protect);
        let total = ids.len();
        let stamps = ids.into_iter().map(|id| BulkOp {
            action: BulkAction::Update,
            id,
            source: Some(body.clone()),
        });
        let mut unprotected = Vec::new();
        let mut created = Vec::new();
        for (id, outcome) in self.send_admin_ops(stamps.collect()).await? {
            match outcome {
                ItemOutcome::Indexed { created: true, .. } => created.push(id),
                ItemOutcome::Failed(e) => unprotected.push(e.to_string()),
                _ => {}
            }
        }
        if !created.is_empty() {
            let deletes = created.into_iter().map(|id| BulkOp {
                action: BulkAction::Delete,
                id,
                source: None,
            });
            for (id, outcome) in self.send_admin_ops(deletes.collect()).await? {
                if let ItemOutcome::Failed(e) = outcome {
                    // Not data loss: a stub with only the stamp; the next full sync
                    // deletes it as stale.
                    tracing::warn!(job_id = %self.spec.job_id, id = %id, error = %e, "could not remove a stamp-only stub document");
                }
            }
        }
        if !unprotected.is_empty() {
            return Err(Stop::Failed(format!(
                "{} of {total} documents that failed to index could not be protected from stale deletion, so stale documents were not deleted: {}",
                unprotected.len(),
                unprotected.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            )));
        }
        tracing::info!(job_id = %self.spec.job_id, documents = total, "kept the previous copy of documents that failed to index");
        Ok(())
    }

    /// Sends bookkeeping ops (no ingest pipeline, not counted in the stats), one
    /// request at a time, retrying items as the main stream does; returns each op's
    /// id with its final outcome.
    async fn send_admin_ops(&mut self, ops: Vec<BulkOp>) -> Flow<Vec<(String, ItemOutcome)>> {
        let mut settings = self.ctx.settings.clone();
        // These writes protect live data: they get at least ADMIN_REJECTION_PATIENCE
        // of rejections even when the job's own items get less.
        settings.rejection_timeout = settings.rejection_timeout.max(ADMIN_REJECTION_PATIENCE);
        let ctx = Arc::new(BulkContext {
            pipeline: None,
            settings,
            ..(*self.ctx).clone()
        });
        let settings = &self.spec.settings;
        let mut batcher = Batcher::new(settings.bulk_max_docs, settings.bulk_max_bytes);
        let mut batches = Vec::new();
        for op in ops {
            batches.extend(batcher.push(op, 0));
        }
        batches.extend(batcher.finish());
        let mut out = Vec::new();
        for batch in batches {
            let states = batch.ops.iter().map(|_| ItemState::new(0)).collect();
            let mut req = Request {
                ops: batch.ops,
                states,
            };
            while !req.is_empty() {
                let report =
                    send_request(self.target.clone(), ctx.clone(), req, self.stop.clone()).await;
                if let Some(fatal) = report.fatal {
                    return Err(Stop::Failed(format!(
                        "Could not protect documents that failed to index from stale deletion: {fatal}"
                    )));
                }
                let mut again = Request::default();
                let mut delay = Duration::ZERO;
                for ((op, state), verdict) in report
                    .ops
                    .into_iter()
                    .zip(report.states)
                    .zip(report.verdicts)
                {
                    match verdict {
                        Verdict::Done(ItemOutcome::Abandoned) => return Err(Stop::Canceled),
                        Verdict::Done(o) => out.push((op.id, o)),
                        Verdict::Retry { delay: d, .. } => {
                            delay = delay.max(d);
                            again.ops.push(op);
                            again.states.push(state);
                        }
                    }
                }
                if self.cancel.is_cancelled() {
                    return Err(Stop::Canceled);
                }
                if !again.is_empty() && !wait(delay, &self.stop).await {
                    return Err(Stop::Canceled);
                }
                req = again;
            }
        }
        Ok(out)
    }

    /// Turns a source document into a bulk op; `None` when basic rules drop it.
    fn encode(
        &mut self,
        doc: &Document,
        now: &str,
        rules: &mut BasicRules,
    ) -> Option<(BulkOp, u64)> {
        let spec = self.spec;
        if doc.id.is_empty() {
            // Elasticsearch rejects an empty `_id`; Elastic's Sink skips such docs too.
            self.stats.skipped_document_count += 1;
            tracing::warn!(job_id = %spec.job_id, "document without an id skipped");
            return None;
        }
        let id = effective_id(&doc.id).into_owned();
        let mut extra: Vec<(&str, Value)> = Vec::with_capacity(7);
        extra.push(("id", Value::Text(id.clone())));
        extra.push((
            "_timestamp",
            doc.timestamp.clone().map_or(Value::Absent, Value::Text),
        ));
        extra.push((
            "_extract_binary_content",
            Value::Bool(spec.pipeline.extract_binary_content),
        ));
        extra.push((
            "_reduce_whitespace",
            Value::Bool(spec.pipeline.reduce_whitespace),
        ));
        extra.push((
            "_run_ml_inference",
            Value::Bool(spec.pipeline.run_ml_inference),
        ));
        if !rules.is_empty() && !rules.should_ingest(doc, &extra) {
            self.stats.filtered_document_count += 1;
            return None;
        }
        let full = spec.job_type == JobType::Full;
        let action = match (doc.operation, full) {
            (Operation::Delete, _) => BulkAction::Delete,
            // Full syncs replace whole documents (Elastic: always `index`).
            (Operation::Index, _) | (Operation::Update, true) => BulkAction::Index,
            (Operation::Update, false) => BulkAction::Update,
        };
        if action == BulkAction::Delete {
            return Some((
                BulkOp {
                    action,
                    id,
                    source: None,
                },
                0,
            ));
        }
        if let Some(slot) = extra.get_mut(1) {
            if matches!(slot.1, Value::Absent) {
                slot.1 = Value::Text(now.to_string());
            }
        }
        if full {
            extra.push((SYNC_STAMP_FIELD, Value::Text(spec.job_id.clone())));
        }
        self.scratch.clear();
        // Elastic's `max_text_document_size`: exempt documents carrying `_attachment`
        // (the pipeline extracts and drops it); those still stop at what one
        // Elasticsearch request can carry. The cap applies while encoding.
        let cap = spec.settings.max_document_bytes;
        let limit = if cap == 0 || doc.get("_attachment").is_some() {
            HARD_MAX_DOCUMENT_BYTES
        } else {
            cap
        };
        let written = doc.write_json_capped(&extra, &mut self.scratch, limit);
        let bytes = self.scratch.len() as u64;
        if written.is_err() {
            self.scratch = Vec::new();
            self.stats.oversized_document_count += 1;
            self.protect_id(&id);
            metrics::documents(&spec.connector_id, 0, 0, 1);
            tracing::warn!(
                job_id = %spec.job_id, id = %id, limit,
                "document dropped: larger than max_document_bytes"
            );
            self.note_failure(format!(
                "index of id '{id}' skipped: its body exceeds max_document_bytes ({limit} bytes)"
            ));
            return None;
        }
        // Update: the partial document; the target wraps it with `doc_as_upsert`.
        let source = self.scratch.clone();
        Some((
            BulkOp {
                action,
                id,
                source: Some(source),
            },
            bytes,
        ))
    }
}

/// `index (type), …` for messages.
fn describe_types(bad: &[(String, String)]) -> String {
    bad.iter()
        .map(|(i, t)| format!("'{t}' (in {i})"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// Runs an admin call, retrying transient failures with backoff. `Err(None)` means
/// canceled while waiting to retry.
async fn retrying<T, F, Fut>(
    settings: &SyncSettings,
    cancel: &CancellationToken,
    mut call: F,
) -> Result<T, Option<TargetError>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TargetError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(TargetError::Transient(m)) if attempt < settings.bulk_max_retries => {
                attempt += 1;
                tracing::warn!(attempt, error = %m, "Elasticsearch call failed, retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(None),
                    _ = tokio::time::sleep(settings.backoff(attempt)) => {}
                }
            }
            Err(e) => return Err(Some(e)),
        }
    }
}
