//! Cleanup (every `service.job_cleanup_interval`): jobs left `in_progress` or
//! `canceling` by a worker that died are ended as `error` with a reason, and their
//! connector's `in_progress` lock is released (`docs/elastic/service-loops.md#cleanup`).
//!
//! Beyond Elastic: a connector left locked with no active job at all (its worker
//! died between taking the lock and claiming the job) blocks that connector
//! forever in Elastic's service. Seen so in two passes in a row with an unchanged
//! version, the lock is released (a conditional write).

use chrono::Utc;

use std::collections::HashMap;

use super::context::{ServiceContext, IDLE_JOB_THRESHOLD};
use super::lock::{self, Lock};
use super::state_writes::{self, Counters, Terminal};
use tributary_elasticsearch::{EsError, JobQuery, JobStatus};

pub async fn run(ctx: &ServiceContext) -> Result<(), EsError> {
    let active = vec![JobStatus::InProgress, JobStatus::Canceling];

    // Orphaned: the connector no longer exists (soft-deleted ones still count).
    let all = ctx.client.all_connector_ids().await?;
    let orphans = ctx
        .client
        .search_jobs(&JobQuery {
            exclude_connector_ids: Some(all),
            statuses: active.clone(),
            ..JobQuery::default()
        })
        .await?;
    for job in orphans {
        let reason = format!(
            "The connector {} of this job no longer exists.",
            job.doc.connector.id
        );
        end(ctx, &job.id, &reason).await;
    }

    // Idle: no `last_seen` for too long, and not running here.
    let ids = ctx.connector_ids();
    let threshold = chrono::Duration::from_std(IDLE_JOB_THRESHOLD).unwrap_or_default();
    let idle = ctx
        .client
        .search_jobs(&JobQuery {
            connector_ids: Some(ids),
            statuses: active,
            last_seen_before: Some(Utc::now() - threshold),
            ..JobQuery::default()
        })
        .await?;
    release_orphan_locks(ctx).await?;
    for job in idle {
        if ctx.is_running(&job.id) {
            continue;
        }
        let reason = format!(
            "The job has not seen any update for {} s (last seen {}); the worker running it ({}) probably stopped.",
            IDLE_JOB_THRESHOLD.as_secs(),
            job.doc.last_seen.map(state_writes::timestamp).unwrap_or_else(|| "never".into()),
            job.doc.worker_hostname.as_deref().unwrap_or("unknown")
        );
        end(ctx, &job.id, &reason).await;
        let counters = Counters {
            indexed_document_count: job.doc.indexed_document_count,
            indexed_document_volume: job.doc.indexed_document_volume,
            deleted_document_count: job.doc.deleted_document_count,
            total_document_count: None,
        };
        let doc = state_writes::connector_sync_done(
            Terminal::Error,
            Some(&reason),
            &counters,
            None,
            Utc::now(),
        );
        if let Err(e) = ctx
            .client
            .update_connector_doc(&job.doc.connector.id, &doc, None)
            .await
        {
            tracing::warn!(connector_id = %job.doc.connector.id, error = %e, "could not release the connector after cleanup");
        }
    }
    Ok(())
}

/// Releases the `in_progress` lock of configured connectors that had no active job
/// at the previous pass either, unchanged since.
async fn release_orphan_locks(ctx: &ServiceContext) -> Result<(), EsError> {
    let mut seen = HashMap::new();
    for id in ctx.connector_ids() {
        let Some(connector) = ctx.client.get_connector_doc(&id).await? else {
            continue;
        };
        if !matches!(lock::inspect(ctx, &connector).await?, Lock::NoJob) {
            continue;
        }
        if ctx
            .running
            .lock()
            .map(|r| r.values().any(|j| j.connector_id == id))
            .unwrap_or(true)
        {
            continue;
        }
        let before = ctx
            .orphan_locks
            .lock()
            .ok()
            .and_then(|m| m.get(&id).copied());
        if before != Some(connector.version()) {
            seen.insert(id, connector.version());
            continue;
        }
        let reason = "The connector was left locked (last_sync_status in_progress) with no running job: the worker that locked it stopped before claiming its job. The lock was released by cleanup.";
        let doc = serde_json::json!({
            "last_sync_status": "error",
            "last_sync_error": reason,
        });
        match ctx
            .client
            .update_connector_doc(&id, &doc, Some(connector.version()))
            .await
        {
            Ok(_) => {
                tracing::warn!(connector_id = %id, "cleanup: released a connector lock with no running job")
            }
            Err(EsError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if let Ok(mut m) = ctx.orphan_locks.lock() {
        *m = seen;
    }
    Ok(())
}

async fn end(ctx: &ServiceContext, job_id: &str, reason: &str) {
    tracing::warn!(job_id, reason, "cleanup: ending a job whose worker is gone");
    let doc = serde_json::json!({
        "status": "error",
        "error": reason,
        "completed_at": state_writes::timestamp(Utc::now()),
        "last_seen": state_writes::timestamp(Utc::now()),
    });
    if let Err(e) = ctx.client.update_job_doc(job_id, &doc, None).await {
        tracing::warn!(job_id, error = %e, "cleanup could not end the job");
    }
}
