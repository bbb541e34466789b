//! The runner: one sync job end to end (reference §6.1–§6.3).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::batcher::{Batch, Batcher};
use super::bulk::{non_empty, send_batch, BatchReport, BulkContext, ItemOutcome};
use super::errors::ErrorMonitor;
use super::pipeline::{effective_id, PipelineSettings};
use super::rules::{BasicRule, BasicRules, RuleError};
use super::settings::SyncSettings;
use super::stats::SyncStats;
use super::traits::{
    BulkAction, BulkOp, BulkTarget, DocumentSource, TargetError, SYNC_STAMP_FIELD,
};
use crate::document::{Document, Operation, Value};

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
    /// Completed; for a full sync stale documents were deleted.
    Ok,
    /// Stopped on request; no stale deletion happened.
    Canceled,
    /// Failed; the reason is never empty and is meant for the job's `error`.
    Failed(String),
}

/// What `run_sync` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Exact counters of what reached the index (also on cancel and failure).
    pub stats: SyncStats,
    /// The source's cursor; only on success (persist it on the connector then).
    pub cursor: Option<String>,
    pub result: SyncResult,
}

/// Runs one sync job: source → basic rules → bulk batches (`bulk_concurrency` in
/// flight, the source pulled only as fast as the target accepts) → for full syncs,
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
        index = %spec.index_name,
        job_type = spec.job_type.as_str(),
        "sync started"
    );
    let mut job = Job::new(spec, target, progress, cancel);
    let result = job.run(source).await;
    let cursor = match &result {
        SyncResult::Ok => job.cursor.take(),
        _ => None,
    };
    let stats = job.stats.clone();
    progress.send_replace(stats.clone());
    let duration_ms = started.elapsed().as_millis() as u64;
    match &result {
        SyncResult::Ok => tracing::info!(
            job_id = %spec.job_id, index = %spec.index_name, result = "completed",
            indexed = stats.indexed_document_count, volume_mib = stats.indexed_document_volume,
            deleted = stats.deleted_document_count, total = stats.total_document_count,
            filtered = stats.filtered_document_count, errors = stats.error_count, duration_ms,
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
    /// Stops retries of in-flight batches on cancel or failure.
    stop: CancellationToken,
    inflight: JoinSet<BatchReport>,
    monitor: ErrorMonitor,
    stats: SyncStats,
    cursor: Option<String>,
    scratch: Vec<u8>,
    /// Full sync: ids whose write failed (or was dropped as oversized). Their previous
    /// copy must survive stale deletion, as in Elastic (the source still has them).
    protect: Vec<String>,
    protect_overflow: bool,
}

/// No document body is encoded past this (Elasticsearch's default
/// `http.max_content_length`), whatever `max_document_bytes` says.
const HARD_MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;

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
            monitor: ErrorMonitor::new(spec.settings.error_budget.clone()),
            stats: SyncStats::default(),
            cursor: None,
            scratch: Vec::new(),
            protect: Vec::new(),
            protect_overflow: false,
        }
    }

    async fn run(&mut self, source: &mut dyn DocumentSource) -> SyncResult {
        let streamed = self.stream(source).await;
        // Whatever happened, let in-flight requests finish so the counters are exact.
        let drained = match &streamed {
            Ok(()) => self.drain(None).await,
            Err(_) => {
                self.stop.cancel();
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
        retrying(&spec.settings, self.cancel, || {
            self.target.prepare_index(&spec.index_name)
        })
        .await
        .map_err(|e| match e {
            Some(e) => Stop::Failed(format!(
                "Could not prepare index '{}': {e}",
                spec.index_name
            )),
            None => Stop::Canceled,
        })?;
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

    /// Pulls the next source batch while still handling completed bulks.
    async fn next_batch(&mut self, source: &mut dyn DocumentSource) -> Flow<Option<Vec<Document>>> {
        let fut = source.next_batch();
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Canceled),
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    self.absorb(done)?;
                }
                r = &mut fut => {
                    return r.map_err(|e| Stop::Failed(non_empty(e.to_string(), "source failed without a message")));
                }
            }
        }
    }

    /// Sends a batch once a slot is free (this wait is the backpressure).
    async fn dispatch(&mut self, batch: Batch) -> Flow {
        while self.inflight.len() >= self.spec.settings.bulk_concurrency.max(1) {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Canceled),
                Some(done) = self.inflight.join_next() => self.absorb(done)?,
            }
        }
        self.inflight.spawn(send_batch(
            self.target.clone(),
            self.ctx.clone(),
            batch,
            self.stop.clone(),
        ));
        while let Some(done) = self.inflight.try_join_next() {
            self.absorb(done)?;
        }
        Ok(())
    }

    /// Waits for every in-flight batch (at most `grace`, then aborts the rest).
    async fn drain(&mut self, grace: Option<std::time::Duration>) -> Flow {
        let deadline = grace.map(|g| tokio::time::Instant::now() + g);
        let mut first_err = None;
        while !self.inflight.is_empty() {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.inflight.join_next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        tracing::warn!(job_id = %self.spec.job_id, pending = self.inflight.len(), "bulk requests did not finish in time, aborting them");
                        self.inflight.abort_all();
                        break;
                    }
                },
                None => self.inflight.join_next().await,
            };
            let Some(done) = next else { break };
            if let Err(e) = self.absorb(done) {
                // Keep counting the others; the first failure is the one reported.
                self.stop.cancel();
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Counts one batch's outcomes and publishes progress.
    fn absorb(&mut self, done: Result<BatchReport, tokio::task::JoinError>) -> Flow {
        let report = done.map_err(|e| Stop::Failed(format!("bulk task failed: {e}")))?;
        let mut tripped = None;
        for outcome in report.outcomes {
            match outcome {
                ItemOutcome::Indexed { bytes, .. } => {
                    self.stats.indexed_document_count += 1;
                    self.stats.add_indexed_bytes(bytes);
                    self.monitor.track_success();
                }
                ItemOutcome::Deleted => {
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
                    self.stats.error_count += 1;
                    if e.action == BulkAction::Index {
                        self.protect_id(&e.id);
                    }
                    tracing::warn!(
                        job_id = %self.spec.job_id, index = %self.spec.index_name, id = %e.id,
                        status = e.status, error_type = %e.error_type, reason = %e.reason,
                        "bulk item failed"
                    );
                    if let Err(t) = self.monitor.track_error(&e) {
                        tripped.get_or_insert(t);
                    }
                }
                ItemOutcome::Abandoned => {}
            }
        }
        self.stats.retried_item_count += report.retried;
        self.progress.send_replace(self.stats.clone());
        if let Some(fatal) = report.fatal {
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

    /// After everything was written: stale deletion (full only), count, cursor.
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
        if spec.job_type == JobType::Full {
            self.protect_failed().await?;
            retrying(s, self.cancel, || target.refresh(index))
                .await
                .map_err(fail("Refresh"))?;
            // Last chance to stop: past this point the stale documents are gone.
            if self.cancel.is_cancelled() {
                return Err(Stop::Canceled);
            }
            let deleted = retrying(s, self.cancel, || {
                target.delete_where_not(index, SYNC_STAMP_FIELD, &spec.job_id)
            })
            .await
            .map_err(fail("Stale document deletion"))?;
            self.stats.deleted_document_count += deleted;
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
    /// batch at a time; returns each op's id with its outcome.
    async fn send_admin_ops(&mut self, ops: Vec<BulkOp>) -> Flow<Vec<(String, ItemOutcome)>> {
        let ctx = Arc::new(BulkContext {
            pipeline: None,
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
            let ids: Vec<String> = batch.ops.iter().map(|op| op.id.clone()).collect();
            let report =
                send_batch(self.target.clone(), ctx.clone(), batch, self.stop.clone()).await;
            if let Some(fatal) = report.fatal {
                return Err(Stop::Failed(format!(
                    "Could not protect documents that failed to index from stale deletion: {fatal}"
                )));
            }
            if self.cancel.is_cancelled()
                || report
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, ItemOutcome::Abandoned))
            {
                return Err(Stop::Canceled);
            }
            out.extend(ids.into_iter().zip(report.outcomes));
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
            tracing::warn!(
                job_id = %spec.job_id, id = %id, limit,
                "document dropped: larger than max_document_bytes"
            );
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
