//! The job poller: finds `pending` and `suspended` jobs of the configured
//! connectors, claims them safely, and runs them (up to
//! `service.max_concurrent_content_syncs` at once).
//!
//! Claiming, so that a job runs exactly once even with several hosts:
//! 1. the connector's `last_sync_status` becomes `in_progress` with a write
//!    conditional on the connector version just read (a lock per connector);
//! 2. the job becomes `in_progress` with a write conditional on the job version
//!    the search returned. Losing either race means another host has it.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::context::{JobControl, RunningJob, ServiceContext};
use super::runner::run_claimed_job;
use super::state_writes;
use tributary_elasticsearch::{
    Connector, EsError, JobQuery, JobStatus, JobType, SyncJob, Versioned,
};
use tributary_sync::SyncStats;

/// One pass: claims and starts what fits.
pub async fn poll(ctx: &Arc<ServiceContext>, tasks: &mut JoinSet<()>) -> Result<(), EsError> {
    let max = ctx.config.service.max_concurrent_content_syncs.max(1) as usize;
    if ctx.running_count() >= max {
        return Ok(());
    }
    let ids = ctx.connector_ids();
    let jobs = ctx
        .client
        .search_jobs(&JobQuery::runnable(
            &ids,
            &[JobType::Full, JobType::Incremental],
        ))
        .await?;
    for job in jobs {
        if ctx.running_count() >= max {
            break;
        }
        if ctx.is_running(&job.id) {
            continue;
        }
        if let Some(claimed) = claim(ctx, &job).await? {
            start(ctx, claimed, tasks);
        }
    }
    Ok(())
}

/// Claims one job; `None` when another worker has it or it cannot run now.
pub async fn claim(
    ctx: &ServiceContext,
    job: &Versioned<SyncJob>,
) -> Result<Option<Versioned<SyncJob>>, EsError> {
    let connector_id = &job.doc.connector.id;
    let Some(connector) = ctx.client.get_connector_doc(connector_id).await? else {
        tracing::warn!(job_id = %job.id, connector_id = %connector_id, "job of a missing connector; leaving it to cleanup");
        return Ok(None);
    };
    // A suspended job of ours left the connector `suspended`; a running job elsewhere
    // left it `in_progress` (Elastic's lock; cleanup releases it if that worker died).
    if connector.doc.last_sync_status == Some(JobStatus::InProgress) {
        tracing::debug!(job_id = %job.id, connector_id = %connector_id, "connector busy with another job");
        return Ok(None);
    }
    claim_with_lock(ctx, job, &connector).await
}

/// Takes the connector lock with a write conditional on the version of `connector`
/// (as read by the caller, locked or not: a take-over passes a connector whose
/// holder is gone), then claims `job` conditionally. `None` when either write lost
/// a race; the lock is released again if the job was lost.
pub async fn claim_with_lock(
    ctx: &ServiceContext,
    job: &Versioned<SyncJob>,
    connector: &Versioned<Connector>,
) -> Result<Option<Versioned<SyncJob>>, EsError> {
    let connector_id = &connector.id;
    match ctx
        .client
        .update_connector_doc(
            connector_id,
            &state_writes::connector_sync_starts(),
            Some(connector.version()),
        )
        .await
    {
        Ok(_) => {}
        Err(EsError::Conflict { .. }) => {
            tracing::debug!(job_id = %job.id, connector_id = %connector_id, "connector changed meanwhile; trying again next poll");
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let cursor = match job.doc.job_type {
        JobType::Incremental => connector.doc.sync_cursor.clone(),
        _ => None,
    };
    match ctx
        .client
        .claim_job(job, &ctx.hostname, cursor.as_ref())
        .await
    {
        Ok(Some(claimed)) => {
            tracing::info!(job_id = %job.id, connector_id = %connector_id, worker = %ctx.hostname, "job claimed");
            Ok(Some(claimed))
        }
        other => {
            // Lost the job: release the connector lock we took.
            let previous = match connector.doc.last_sync_status {
                // Taking over a dead holder's lock and then losing the job: do not
                // put the dead lock back.
                Some(JobStatus::InProgress) => Some(JobStatus::Error),
                s => s,
            };
            let release = serde_json::json!({ "last_sync_status": previous });
            if let Err(e) = ctx
                .client
                .update_connector_doc(connector_id, &release, None)
                .await
            {
                tracing::warn!(connector_id = %connector_id, error = %e, "could not release the connector lock");
            }
            other.map(|_| None)
        }
    }
}

/// Runs a claimed job in the background, registered in `ctx.running`.
pub fn start(ctx: &Arc<ServiceContext>, job: Versioned<SyncJob>, tasks: &mut JoinSet<()>) {
    let control = JobControl::new();
    if let Ok(mut running) = ctx.running.lock() {
        running.insert(
            job.id.clone(),
            RunningJob {
                connector_id: job.doc.connector.id.clone(),
                control: control.clone(),
            },
        );
    }
    let ctx = ctx.clone();
    tasks.spawn(async move {
        let job_id = job.id.clone();
        let (progress, _) = watch::channel(SyncStats::default());
        run_claimed_job(ctx.clone(), job, control, progress).await;
        if let Ok(mut running) = ctx.running.lock() {
            running.remove(&job_id);
        }
    });
}
