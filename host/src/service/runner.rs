//! Running one claimed job end to end: plugin set-up, the sync, progress reports,
//! cancel checks, and the terminal writes on the job and its connector. Whatever
//! fails, the job ends in a terminal state with a reason.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use super::config_values::{effective_values, missing_fields};
use super::context::{
    JobControl, ServiceContext, StopReason, JOB_CHECK_INTERVAL, JOB_REPORT_INTERVAL,
};
use super::job_failure::JobFailure;
use super::state_writes::{self, Counters, Terminal};
use tributary_elasticsearch::EsError;
use tributary_elasticsearch::{JobStats, JobStatus, JobType, SyncJob, Versioned};
use tributary_metrics as metrics;
use tributary_runtime::{LoadedPlugin, SyncRequest};
use tributary_sync::{
    run_sync, BasicRule, BulkTarget, Failures, SpecError, SyncJobSpec, SyncResult, SyncSettings,
    SyncStats,
};

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub status: Terminal,
    pub error: Option<String>,
    pub counters: Counters,
    /// Documents left unindexed after their retries (a `completed` job with any is
    /// "completed with failures"), with the first reasons.
    pub failures: Failures,
    /// The job document could not be written because it no longer exists.
    pub job_missing: bool,
}

/// Runs a job this process has claimed, then writes its end.
pub async fn run_claimed_job(
    ctx: Arc<ServiceContext>,
    job: Versioned<SyncJob>,
    control: Arc<JobControl>,
    progress: watch::Sender<SyncStats>,
) -> JobEnd {
    let started = Instant::now();
    let job_id = job.id.clone();
    let connector_id = job.doc.connector.id.clone();
    tracing::info!(
        job_id = %job_id,
        connector_id = %connector_id,
        job_type = job.doc.job_type.as_str(),
        index = job.doc.connector.index_name.as_deref().unwrap_or(""),
        "job started"
    );

    metrics::job_started();
    // Reports progress and watches the job document while the sync runs.
    let watcher = tokio::spawn(watch_job(
        ctx.clone(),
        job_id.clone(),
        control.clone(),
        progress.subscribe(),
    ));
    let outcome = execute(&ctx, &job, &control, &progress).await;
    watcher.abort();

    let (status, error, stats, cursor, failures) = match outcome {
        Ok(e) => {
            let (status, error) = match e.result {
                SyncResult::Ok => (Terminal::Completed, None),
                SyncResult::Canceled => match control.reason() {
                    Some(StopReason::Shutdown) => (Terminal::Suspended, None),
                    Some(StopReason::Lost(why)) => (Terminal::Error, Some(why)),
                    _ => (Terminal::Canceled, None),
                },
                SyncResult::Failed(reason) => (Terminal::Error, Some(reason)),
            };
            let cursor = cursor_write(
                status,
                job.doc.job_type,
                e.supports_incremental,
                e.cursor,
                &e.failures,
            );
            (status, error, e.stats, cursor, e.failures)
        }
        Err(failure) => (
            Terminal::Error,
            Some(failure.to_string()),
            SyncStats::default(),
            None,
            Failures::default(),
        ),
    };
    let index = job.doc.connector.index_name.clone().unwrap_or_default();
    let total_document_count = if status == Terminal::Completed && stats.total_document_count > 0 {
        Some(stats.total_document_count)
    } else {
        // The sync did not get as far as counting (or counted 0): count now, best effort.
        total_count(&ctx, &connector_id, &index).await
    };
    let counters = Counters {
        indexed_document_count: stats.indexed_document_count,
        indexed_document_volume: stats.indexed_document_volume,
        deleted_document_count: stats.deleted_document_count,
        total_document_count,
    };

    let job_missing = finish(
        &ctx,
        &job,
        status,
        error.as_deref(),
        &counters,
        &failures,
        cursor,
    )
    .await;
    metrics::job_ended(&connector_id, status.as_str(), failures.count);
    let duration_ms = started.elapsed().as_millis() as u64;
    if status == Terminal::Completed && failures.count > 0 {
        tracing::warn!(
            job_id = %job_id,
            connector_id = %connector_id,
            status = status.as_str(),
            failed_documents = failures.count,
            first_failures = %failures.first.join(" | "),
            indexed = counters.indexed_document_count,
            deleted = counters.deleted_document_count,
            total = counters.total_document_count.unwrap_or(0),
            duration_ms,
            "job ended: completed with failures (documents left unindexed; see the job's metadata)"
        );
    } else {
        tracing::info!(
            job_id = %job_id,
            connector_id = %connector_id,
            status = status.as_str(),
            error = error.as_deref().unwrap_or(""),
            failed_documents = failures.count,
            indexed = counters.indexed_document_count,
            deleted = counters.deleted_document_count,
            total = counters.total_document_count.unwrap_or(0),
            duration_ms,
            "job ended"
        );
    }
    JobEnd {
        status,
        error,
        counters,
        failures,
        job_missing,
    }
}

/// What the sync returned.
struct Executed {
    result: SyncResult,
    stats: SyncStats,
    cursor: Option<String>,
    failures: Failures,
    /// The plugin declares incremental syncs (its cursor matters).
    supports_incremental: bool,
}

/// What the connector's `sync_cursor` becomes when a content job ends: `None`
/// keeps it. Stored only when the job completed (Elastic: "only content jobs that
/// completed"), and — Tributary's rule — not when documents were left unindexed:
/// an incremental sync's changes are then read again by the next one, and a full
/// sync of an incremental plugin clears the cursor (its old slot position no
/// longer matches the index), so the next incremental sync asks for a full one.
fn cursor_write(
    status: Terminal,
    job_type: JobType,
    supports_incremental: bool,
    cursor: Option<String>,
    failures: &Failures,
) -> Option<Value> {
    if status != Terminal::Completed {
        return None;
    }
    let parsed = cursor.and_then(|c| serde_json::from_str::<Value>(&c).ok());
    match (failures.count == 0, job_type, parsed) {
        (true, _, Some(c)) => Some(c),
        (_, JobType::Full, _) if supports_incremental => Some(Value::Null),
        _ => None,
    }
}

/// Everything between claim and end; `Err` is a failure before the sync started.
async fn execute(
    ctx: &Arc<ServiceContext>,
    job: &Versioned<SyncJob>,
    control: &Arc<JobControl>,
    progress: &watch::Sender<SyncStats>,
) -> Result<Executed, JobFailure> {
    let snapshot = &job.doc.connector;
    let service_type = snapshot
        .service_type
        .clone()
        .or_else(|| {
            ctx.config
                .connector(&snapshot.id)
                .and_then(|c| c.service_type.clone())
        })
        .ok_or_else(|| JobFailure::NoServiceType(snapshot.id.clone()))?;
    let plugin = ctx
        .plugins
        .get(&service_type)
        .ok_or(JobFailure::NoPlugin(service_type))?;
    match job.doc.job_type {
        JobType::Full => {}
        JobType::Incremental if plugin.metadata.features.incremental_sync => {}
        JobType::Incremental => {
            return Err(JobFailure::IncrementalUnsupported(
                plugin.metadata.name.clone(),
            ))
        }
        JobType::AccessControl => return Err(JobFailure::AccessControlUnsupported),
        JobType::Unknown => return Err(JobFailure::UnknownJobType),
    }

    let schema = plugin.configuration_schema();
    let stored = snapshot.configuration_map();
    let missing = missing_fields(&stored, &schema);
    if !missing.is_empty() {
        return Err(JobFailure::MissingFields(missing));
    }
    let values = effective_values(&stored, &schema);
    let grants = ctx.grants(&plugin, &snapshot.id, &stored, &values);
    let errors = plugin.validate_config(&values, &grants).await?;
    if !errors.is_empty() {
        return Err(JobFailure::InvalidConfiguration(errors));
    }
    plugin.ping(&values, &grants).await?;

    let spec = job_spec(job, ctx.sync_settings())?;
    let advanced_rules = advanced_rules(&plugin, job, &values, &grants).await?;
    let request = SyncRequest {
        kind: spec.job_type,
        cursor: match spec.job_type {
            // A cleared cursor (null) is no cursor.
            JobType::Incremental => snapshot
                .sync_cursor
                .as_ref()
                .filter(|c| !c.is_null())
                .map(Value::to_string),
            _ => None,
        },
        advanced_rules,
        batch_size: spec.settings.bulk_max_docs.min(u32::MAX as usize) as u32,
    };
    let mut source = plugin.start_sync(&values, request, &grants).await?;
    let target: Arc<dyn BulkTarget> = Arc::new(ctx.data_client(&snapshot.id));
    let outcome = run_sync(&spec, &mut source, target, progress, control.token()).await;
    Ok(Executed {
        result: outcome.result,
        stats: outcome.stats,
        cursor: outcome.cursor,
        failures: outcome.failures,
        supports_incremental: plugin.metadata.features.incremental_sync,
    })
}

/// The sync's view of a claimed job, read from the typed job document.
fn job_spec(job: &Versioned<SyncJob>, settings: SyncSettings) -> Result<SyncJobSpec, SpecError> {
    let connector = &job.doc.connector;
    let index_name = connector
        .index_name
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(SpecError::MissingIndex)?;
    let rules = match &connector.filtering {
        Some(f) => BasicRule::parse_all(&serde_json::to_value(&f.rules).unwrap_or_default())?,
        None => Vec::new(),
    };
    Ok(SyncJobSpec {
        job_id: job.id.clone(),
        connector_id: connector.id.clone(),
        index_name,
        job_type: job.doc.job_type,
        pipeline: connector.pipeline_or_default(),
        basic_rules: rules,
        settings,
    })
}

/// The job's active advanced rules, validated by the plugin; `None` when empty.
async fn advanced_rules(
    plugin: &LoadedPlugin,
    job: &Versioned<SyncJob>,
    values: &serde_json::Map<String, Value>,
    grants: &tributary_runtime::Grants,
) -> Result<Option<Value>, JobFailure> {
    let Some(filtering) = &job.doc.connector.filtering else {
        return Ok(None);
    };
    if filtering.validation.state == "invalid" {
        return Err(JobFailure::InvalidFilteringSnapshot(
            serde_json::to_string(&filtering.validation.errors).unwrap_or_default(),
        ));
    }
    let snippet = &filtering.advanced_snippet.value;
    if is_empty_snippet(snippet) {
        return Ok(None);
    }
    if !plugin.metadata.features.advanced_rules {
        return Err(JobFailure::AdvancedRulesUnsupported(
            plugin.metadata.name.clone(),
        ));
    }
    let errors = plugin
        .validate_advanced_rules(values, snippet, grants)
        .await?;
    if !errors.is_empty() {
        return Err(JobFailure::InvalidAdvancedRules(errors));
    }
    Ok(Some(snippet.clone()))
}

/// `{}`, `[]` and null mean "no advanced rules" (Elastic).
pub fn is_empty_snippet(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Posts `_stats` while the job runs and stops it when its document says so.
async fn watch_job(
    ctx: Arc<ServiceContext>,
    job_id: String,
    control: Arc<JobControl>,
    mut progress: watch::Receiver<SyncStats>,
) {
    let mut last_report = Instant::now();
    let mut reported = SyncStats::default();
    loop {
        tokio::time::sleep(JOB_CHECK_INTERVAL).await;
        match ctx.client.get_job_doc(&job_id).await {
            Ok(Some(j)) => match j.doc.status {
                JobStatus::InProgress => {}
                JobStatus::Canceling => {
                    tracing::info!(job_id = %job_id, "cancel requested");
                    control.stop(StopReason::Canceled);
                }
                other => control.stop(StopReason::Lost(format!(
                    "the job's status was changed to '{}' while it ran",
                    other.as_str()
                ))),
            },
            Ok(None) => {
                tracing::error!(job_id = %job_id, "the job document no longer exists; stopping the job");
                control.stop(StopReason::Lost(
                    "the job document no longer exists (deleted while the job ran)".into(),
                ));
                return;
            }
            Err(e) => {
                tracing::warn!(job_id = %job_id, error = %e, "could not check the job; retrying")
            }
        }
        if last_report.elapsed() >= JOB_REPORT_INTERVAL {
            let stats = progress.borrow_and_update().clone();
            // Also a heartbeat: `_stats` sets `last_seen`, so send it even when idle.
            let body = JobStats {
                deleted_document_count: stats.deleted_document_count,
                indexed_document_count: stats.indexed_document_count,
                indexed_document_volume: stats.indexed_document_volume,
                total_document_count: None,
                metadata: None,
            };
            match ctx.client.put_sync_job_stats(&job_id, &body).await {
                Err(e) if e.is_not_found() => {
                    // Not transient: the job is gone (deleted, or Elasticsearch lost it).
                    tracing::error!(job_id = %job_id, error = %e, "the job document no longer exists; stopping the job");
                    control.stop(StopReason::Lost(
                        "the job document no longer exists (deleted while the job ran)".into(),
                    ));
                    return;
                }
                Ok(()) => {
                    if stats != reported {
                        tracing::info!(
                            job_id = %job_id,
                            indexed = stats.indexed_document_count,
                            deleted = stats.deleted_document_count,
                            errors = stats.error_count,
                            "sync progress"
                        );
                    }
                    reported = stats;
                    last_report = Instant::now();
                }
                Err(e) => {
                    tracing::warn!(job_id = %job_id, error = %e, "could not report progress; retrying")
                }
            }
        }
    }
}

async fn total_count(ctx: &ServiceContext, connector_id: &str, index: &str) -> Option<u64> {
    if index.is_empty() {
        return None;
    }
    let client = ctx.data_client(connector_id);
    match client.index_exists(index).await {
        Ok(true) => {}
        _ => return None,
    }
    let _ = client.refresh(index).await;
    client.count(index).await.ok()
}

/// Terminal writes: the job document, then the connector (`sync_done`). Returns
/// true when the job document no longer exists (then the connector records
/// "Couldn't find the job", as Elastic's service does).
async fn finish(
    ctx: &ServiceContext,
    job: &Versioned<SyncJob>,
    status: Terminal,
    error: Option<&str>,
    counters: &Counters,
    failures: &Failures,
    cursor: Option<Value>,
) -> bool {
    let now = Utc::now();
    let job_doc = state_writes::job_terminated(status, error, counters, failures, now);
    let missing = match ctx.client.update_job_doc(&job.id, &job_doc, None).await {
        Ok(_) => false,
        Err(e) if is_document_missing(&e) => {
            tracing::error!(job_id = %job.id, error = %e, "the job document no longer exists; its end cannot be recorded on it");
            true
        }
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "could not write the job's end");
            false
        }
    };
    if missing {
        let doc = state_writes::connector_job_missing(now);
        if let Err(e) = ctx
            .client
            .update_connector_doc(&job.doc.connector.id, &doc, None)
            .await
        {
            tracing::error!(job_id = %job.id, connector_id = %job.doc.connector.id, error = %e, "could not update the connector after the job");
        }
        return true;
    }
    if cursor.as_ref().is_some_and(|c| !c.is_null()) {
        // `_update` deep-merges objects: clear the old cursor so the new one replaces it.
        let clear = serde_json::json!({"sync_cursor": null});
        if let Err(e) = ctx
            .client
            .update_connector_doc(&job.doc.connector.id, &clear, None)
            .await
        {
            tracing::warn!(connector_id = %job.doc.connector.id, error = %e, "could not clear the old sync cursor");
        }
    }
    let connector_doc =
        state_writes::connector_sync_done(status, error, counters, cursor.as_ref(), now);
    if let Err(e) = ctx
        .client
        .update_connector_doc(&job.doc.connector.id, &connector_doc, None)
        .await
    {
        tracing::error!(job_id = %job.id, connector_id = %job.doc.connector.id, error = %e, "could not update the connector after the job");
    }
    false
}

/// 404 on a document write (`document_missing_exception`, or the index is gone).
fn is_document_missing(e: &EsError) -> bool {
    e.is_not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_stored_only_after_a_clean_completion() {
        let clean = Failures::default();
        let failed = Failures {
            count: 2,
            first: vec![],
        };
        let c = || Some(r#"{"lsn":"0/1"}"#.to_string());
        let inc = JobType::Incremental;
        let full = JobType::Full;
        assert_eq!(
            cursor_write(Terminal::Completed, inc, true, c(), &clean),
            Some(serde_json::json!({"lsn": "0/1"}))
        );
        for t in [Terminal::Error, Terminal::Canceled, Terminal::Suspended] {
            assert_eq!(cursor_write(t, inc, true, c(), &clean), None);
        }
        // Unindexed changes are read again by the next incremental sync.
        assert_eq!(
            cursor_write(Terminal::Completed, inc, true, c(), &failed),
            None
        );
        // A full sync that could not capture (or left documents out) clears the cursor.
        assert_eq!(
            cursor_write(Terminal::Completed, full, true, None, &clean),
            Some(Value::Null)
        );
        assert_eq!(
            cursor_write(Terminal::Completed, full, true, c(), &failed),
            Some(Value::Null)
        );
        // Plugins without incremental syncs leave the connector's cursor alone.
        assert_eq!(
            cursor_write(Terminal::Completed, full, false, None, &clean),
            None
        );
    }
}
