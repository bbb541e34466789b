//! The long-running service (`tributary run`): the poll loop over the configured
//! connectors (schema registration, heartbeat, status, draft rules, scheduling),
//! the job poller/claimer, cleanup, and graceful shutdown. Sync logic lives in
//! `sync/`; this module only decides what runs when.

mod cleanup;
pub mod config_values;
mod connector_poll;
pub mod context;
pub mod executor;
pub mod job_failure;
pub mod lock;
pub mod runner;
pub mod schedule;
pub mod schema;
pub mod state_writes;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use context::{hostname, JobControl, ServiceContext, StopReason};

/// How long running jobs get to stop after SIGTERM before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the service stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{count} errors within {span_secs} s (service.max_errors = {max}); last: {last}")]
    TooManyErrors {
        count: usize,
        max: u32,
        span_secs: u64,
        last: String,
    },
}

/// Runs until `shutdown` is cancelled (then running jobs are suspended) or the loop
/// error budget (`service.max_errors` within `service.max_errors_span`) is spent.
pub async fn run(
    ctx: Arc<ServiceContext>,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let started = Utc::now();
    let mut states: HashMap<String, connector_poll::ConnectorState> = ctx
        .connector_ids()
        .into_iter()
        .map(|id| (id, connector_poll::ConnectorState::new(started)))
        .collect();
    let mut tasks = JoinSet::new();
    let mut errors: VecDeque<Instant> = VecDeque::new();
    let mut last_cleanup = Instant::now();
    tracing::info!(
        connectors = states.len(),
        plugins = ctx.plugins.plugins.len(),
        worker = %ctx.hostname,
        idling_secs = ctx.config.service.idling.as_secs_f64(),
        "service started"
    );
    let result = loop {
        let mut failures: Vec<String> = Vec::new();
        for id in ctx.connector_ids() {
            let state = states
                .entry(id.clone())
                .or_insert_with(|| connector_poll::ConnectorState::new(started));
            if let Err(e) = connector_poll::poll(&ctx, &id, state).await {
                tracing::error!(connector_id = %id, error = %e, "connector poll failed");
                failures.push(e.to_string());
            }
        }
        if let Err(e) = executor::poll(&ctx, &mut tasks).await {
            tracing::error!(error = %e, "job poll failed");
            failures.push(e.to_string());
        }
        if last_cleanup.elapsed() >= ctx.config.service.job_cleanup_interval {
            last_cleanup = Instant::now();
            if let Err(e) = cleanup::run(&ctx).await {
                tracing::error!(error = %e, "job cleanup failed");
                failures.push(e.to_string());
            }
        }
        // Reap finished job tasks (a panic in one is logged, never fatal).
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a job task panicked");
            }
        }
        let span = ctx.config.service.max_errors_span;
        for last in failures {
            errors.push_back(Instant::now());
            while errors.front().is_some_and(|t| t.elapsed() > span) {
                errors.pop_front();
            }
            if errors.len() > ctx.config.service.max_errors as usize {
                return stop(
                    ctx.clone(),
                    tasks,
                    Err(ServiceError::TooManyErrors {
                        count: errors.len().max(1),
                        max: ctx.config.service.max_errors,
                        span_secs: span.as_secs(),
                        last,
                    }),
                )
                .await;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            _ = tokio::time::sleep(ctx.config.service.idling) => {}
        }
    };
    stop(ctx, tasks, result).await
}

/// Suspends running jobs and waits for them to write their end.
async fn stop(
    ctx: Arc<ServiceContext>,
    mut tasks: JoinSet<()>,
    result: Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    let running: Vec<_> = ctx
        .running
        .lock()
        .map(|r| r.values().cloned().collect())
        .unwrap_or_default();
    if !running.is_empty() {
        tracing::info!(
            jobs = running.len(),
            "shutting down: suspending running jobs"
        );
    }
    for job in running {
        job.control.stop(StopReason::Shutdown);
    }
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => break,
                Some(Err(e)) => tracing::error!(error = %e, "a job task panicked"),
                Some(Ok(())) => {}
            },
            _ = &mut deadline => {
                tracing::error!(jobs = tasks.len(), "jobs did not stop within the shutdown grace; exiting anyway (cleanup will end them)");
                break;
            }
        }
    }
    tracing::info!("service stopped");
    result
}
