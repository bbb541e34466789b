//! The per-connector lock (`last_sync_status: in_progress`, Elastic's convention)
//! and how to tell whether its holder is still alive.
//!
//! A worker takes the lock with a write conditional on the connector's version, then
//! claims the job with a write conditional on the job's version. A worker that dies
//! leaves either a job `in_progress` whose `last_seen` stops moving, or — if it died
//! between the two writes — a locked connector with no active job at all (its job
//! still `pending`). Both are recognised here; taking over is always a conditional
//! write, so a holder that is alive after all (or another taker) wins the race and
//! nothing runs twice.

use chrono::{DateTime, Utc};

use super::context::{ServiceContext, IDLE_JOB_THRESHOLD};
use super::state_writes;
use tributary_elasticsearch::{Connector, EsError, JobQuery, JobStatus, SyncJob, Versioned};

/// What holds a connector.
#[derive(Debug, Clone)]
pub enum Lock {
    /// Not locked.
    Free,
    /// Held by a job whose worker still reports (`last_seen` within the idle threshold).
    Live {
        job_id: String,
        worker: String,
        last_seen_secs: i64,
    },
    /// Held by jobs whose worker stopped reporting (`last_seen` older than the idle
    /// threshold).
    Stale { jobs: Vec<Versioned<SyncJob>> },
    /// Locked, but no `in_progress`/`canceling` job of the connector exists.
    NoJob,
}

/// Seconds since `t` (a large number when never seen).
pub fn age_secs(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    t.map(|t| (now - t).num_seconds()).unwrap_or(i64::MAX)
}

/// Who holds `connector` (as just read).
pub async fn inspect(
    ctx: &ServiceContext,
    connector: &Versioned<Connector>,
) -> Result<Lock, EsError> {
    if connector.doc.last_sync_status != Some(JobStatus::InProgress) {
        return Ok(Lock::Free);
    }
    let active = ctx
        .client
        .search_jobs(&JobQuery {
            connector_ids: Some(vec![connector.id.clone()]),
            statuses: vec![JobStatus::InProgress, JobStatus::Canceling],
            ..JobQuery::default()
        })
        .await?;
    if active.is_empty() {
        return Ok(Lock::NoJob);
    }
    let now = Utc::now();
    let threshold = IDLE_JOB_THRESHOLD.as_secs() as i64;
    // The freshest job decides: one live holder is enough to wait.
    if let Some(live) = active
        .iter()
        .filter(|j| age_secs(j.doc.last_seen, now) < threshold)
        .min_by_key(|j| age_secs(j.doc.last_seen, now))
    {
        return Ok(Lock::Live {
            job_id: live.id.clone(),
            worker: live
                .doc
                .worker_hostname
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            last_seen_secs: age_secs(live.doc.last_seen, now),
        });
    }
    Ok(Lock::Stale { jobs: active })
}

/// Ends a job whose worker stopped reporting, as `error` with `reason`, with a
/// write conditional on the version read (so a worker that is alive after all
/// keeps its job). `Ok(false)`: the job changed meanwhile.
pub async fn end_stale_job(
    ctx: &ServiceContext,
    job: &Versioned<SyncJob>,
    reason: &str,
) -> Result<bool, EsError> {
    let now = state_writes::timestamp(Utc::now());
    let doc = serde_json::json!({
        "status": "error",
        "error": reason,
        "completed_at": now,
        "last_seen": now,
    });
    match ctx
        .client
        .update_job_doc(&job.id, &doc, Some(job.version()))
        .await
    {
        Ok(_) => {
            tracing::warn!(job_id = %job.id, connector_id = %job.doc.connector.id, reason, "ended a job whose worker stopped reporting");
            Ok(true)
        }
        Err(EsError::Conflict { .. }) => Ok(false),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The reason written on a job taken over from a worker that stopped reporting.
pub fn stale_reason(job: &Versioned<SyncJob>, by: &str) -> String {
    format!(
        "The job has not seen any update for more than {} s (last seen {}); the worker running it ({}) probably stopped. Ended by {by} to take over the connector.",
        IDLE_JOB_THRESHOLD.as_secs(),
        job.doc
            .last_seen
            .map(state_writes::timestamp)
            .unwrap_or_else(|| "never".into()),
        job.doc.worker_hostname.as_deref().unwrap_or("unknown")
    )
}
