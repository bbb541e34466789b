//! `tributary run` (the service) and `tributary sync` (one job in the foreground).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::PluginDirArgs;
use crate::config::{self, Config, LogFormat};
use crate::metrics_server::{Check, HealthCheck, HealthReport, MetricsServer};
use crate::service::context::IDLE_JOB_THRESHOLD;
use crate::service::lock::{self, Lock};
use crate::service::{
    self, executor, state_writes::Terminal, JobControl, ServiceContext, StopReason,
};
use tributary_elasticsearch::{
    Client, JobStatus, JobType, SeqNo, SyncJob, TriggerMethod, Versioned,
};
use tributary_runtime::{PluginRuntime, RuntimeConfig};
use tributary_sync::SyncStats;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The config.yml (elastic-ingest's keys).
    #[arg(long, short = 'c', default_value = "config.yml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub plugins: PluginDirArgs,
    /// Log level (overrides `service.log_level`; `RUST_LOG` overrides both).
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[arg(long, short = 'c', default_value = "config.yml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub plugins: PluginDirArgs,
    /// The connector to sync (must be listed in config.yml).
    #[arg(long)]
    pub connector_id: String,
    /// `full` or `incremental`.
    #[arg(long, default_value = "full")]
    pub job_type: String,
    /// No progress bar (also when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Seconds to wait for a connector that is busy with a live job elsewhere before
    /// giving up (exit status 4, the created job canceled). A lock whose holder is
    /// gone is taken over at once.
    #[arg(long, default_value_t = 60.0)]
    pub lock_wait: f64,
    #[arg(long)]
    pub log_level: Option<String>,
}

/// Exit statuses of `tributary sync` (documented in the README).
pub const EXIT_COMPLETED: u8 = 0;
/// The job ended in `error` (or could not be created or followed).
pub const EXIT_ERROR: u8 = 1;
/// The job was canceled (or interrupted by a signal).
pub const EXIT_CANCELED: u8 = 2;
/// The job completed, but documents were left unindexed after their retries.
pub const EXIT_COMPLETED_WITH_FAILURES: u8 = 3;
/// The job could not start: the connector stayed busy with a live job for
/// `--lock-wait` seconds. The job that was created is canceled.
pub const EXIT_NOT_STARTED: u8 = 4;

/// How long a connector locked with no job holding it must stay so (same version)
/// before `tributary sync` takes the lock over: longer than Elasticsearch's refresh
/// (search sees a claimed job within ~1 s) and the gap between lock and claim.
const ORPHAN_LOCK_SETTLE: Duration = Duration::from_secs(3);

pub async fn run(args: RunArgs) -> Result<ExitCode> {
    let config = load_config(&args.config, args.log_level.as_deref())?;
    let metrics_listen = config.service.metrics_listen;
    let ctx = Arc::new(start(config, &args.plugins.dir).await?);
    let shutdown = CancellationToken::new();
    if let Some(addr) = metrics_listen {
        let health = Arc::new(ServiceHealth::new(&ctx));
        let server = MetricsServer::bind(addr, health).await?;
        tracing::info!(
            address = %server.local_addr().unwrap_or(addr),
            "serving /metrics (Prometheus text) and /healthz"
        );
        tokio::spawn(server.serve(shutdown.clone()));
    }
    spawn_signal_handler(shutdown.clone());
    service::run(ctx, shutdown.clone())
        .await
        .context("the service stopped")?;
    shutdown.cancel();
    Ok(ExitCode::SUCCESS)
}

/// How `tributary sync` got (or did not get) to run its job.
enum Start {
    /// This process claimed the job.
    Claimed(Box<Versioned<SyncJob>>),
    /// A running service claimed it first; follow it.
    ClaimedElsewhere,
    /// The job ended before anyone ran it (e.g. canceled by a user).
    Ended(Box<SyncJob>),
    /// Gave up waiting for the connector; the reason says why.
    GaveUp(String),
    /// Interrupted by a signal while waiting.
    Interrupted,
}

pub async fn sync(args: SyncArgs) -> Result<ExitCode> {
    let config = load_config(&args.config, args.log_level.as_deref())?;
    let job_type = match args.job_type.as_str() {
        "full" => JobType::Full,
        "incremental" => JobType::Incremental,
        other => bail!("--job-type must be full or incremental, not {other:?}"),
    };
    if config.connector(&args.connector_id).is_none() {
        bail!(
            "connector {:?} is not listed under `connectors` in {}",
            args.connector_id,
            args.config.display()
        );
    }
    let ctx = Arc::new(start(config, &args.plugins.dir).await?);
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let job_id = ctx
        .client
        .create_sync_job(&args.connector_id, job_type, TriggerMethod::OnDemand)
        .await
        .context("creating the sync job")?;
    tracing::info!(job_id = %job_id, connector_id = %args.connector_id, "sync job created");

    let lock_wait = Duration::from_secs_f64(args.lock_wait.max(0.0));
    let started = acquire(&ctx, &job_id, &args.connector_id, lock_wait, &shutdown).await?;
    let bar = progress_bar(args.quiet);
    let code = match started {
        Start::Claimed(job) => run_here(&ctx, *job, &bar, shutdown).await,
        Start::ClaimedElsewhere => {
            eprintln!("job {job_id} was claimed by another worker; following it");
            follow(&ctx, &job_id, &bar).await?
        }
        Start::Ended(job) => report_remote_end(&job_id, &job),
        Start::GaveUp(reason) => {
            cancel_own_job(&ctx, &job_id).await;
            eprintln!("job {job_id} did not start: {reason}. The job was canceled.");
            EXIT_NOT_STARTED
        }
        Start::Interrupted => {
            cancel_own_job(&ctx, &job_id).await;
            eprintln!("job {job_id}: interrupted before it started; the job was canceled");
            EXIT_CANCELED
        }
    };
    Ok(ExitCode::from(code))
}

/// Claims our job, or explains within `lock_wait` why it cannot run. A connector
/// whose lock holder is gone — its job's `last_seen` older than the idle threshold,
/// or no job holding the lock at all — is taken over with conditional writes.
async fn acquire(
    ctx: &Arc<ServiceContext>,
    job_id: &str,
    connector_id: &str,
    lock_wait: Duration,
    shutdown: &CancellationToken,
) -> Result<Start> {
    let deadline = Instant::now() + lock_wait;
    let by = format!("`tributary sync` on {}", ctx.hostname);
    let mut announced = false;
    let mut orphan_since: Option<(SeqNo, Instant)> = None;
    let mut last_state = String::from("the connector stayed locked");
    loop {
        let job = ctx
            .client
            .get_job_doc(job_id)
            .await?
            .with_context(|| format!("sync job {job_id} vanished before it started"))?;
        match job.doc.status {
            JobStatus::Pending | JobStatus::Suspended => {}
            JobStatus::InProgress | JobStatus::Canceling => return Ok(Start::ClaimedElsewhere),
            _ => return Ok(Start::Ended(Box::new(job.doc))),
        }
        let connector = ctx
            .client
            .get_connector_doc(connector_id)
            .await?
            .with_context(|| format!("connector {connector_id} vanished"))?;
        match lock::inspect(ctx, &connector).await? {
            Lock::Free => {
                orphan_since = None;
                if let Some(c) = executor::claim_with_lock(ctx, &job, &connector).await? {
                    return Ok(Start::Claimed(Box::new(c)));
                }
            }
            Lock::Live {
                job_id: holder,
                worker,
                last_seen_secs,
            } => {
                orphan_since = None;
                last_state = format!(
                    "connector {connector_id} is busy with job {holder} on worker {worker} (last seen {last_seen_secs} s ago, so it is considered alive for up to {} s)",
                    IDLE_JOB_THRESHOLD.as_secs()
                );
                if !announced {
                    eprintln!("{last_state}; waiting up to {} s", lock_wait.as_secs());
                    announced = true;
                }
            }
            Lock::Stale { jobs } => {
                orphan_since = None;
                let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
                eprintln!(
                    "connector {connector_id} is held by job {} whose worker stopped reporting (no update for more than {} s); taking over",
                    ids.join(", "),
                    IDLE_JOB_THRESHOLD.as_secs()
                );
                let mut all_ended = true;
                for j in &jobs {
                    all_ended &= lock::end_stale_job(ctx, j, &lock::stale_reason(j, &by)).await?;
                }
                if all_ended {
                    if let Some(c) = executor::claim_with_lock(ctx, &job, &connector).await? {
                        return Ok(Start::Claimed(Box::new(c)));
                    }
                }
            }
            Lock::NoJob => {
                last_state = format!(
                    "connector {connector_id} is locked (last_sync_status in_progress) but no job holds it"
                );
                match orphan_since {
                    Some((v, since))
                        if v == connector.version() && since.elapsed() >= ORPHAN_LOCK_SETTLE =>
                    {
                        eprintln!(
                            "{last_state}: the worker that locked it stopped before claiming its job; taking over"
                        );
                        orphan_since = None;
                        if let Some(c) = executor::claim_with_lock(ctx, &job, &connector).await? {
                            return Ok(Start::Claimed(Box::new(c)));
                        }
                    }
                    Some((v, _)) if v == connector.version() => {}
                    _ => orphan_since = Some((connector.version(), Instant::now())),
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(Start::GaveUp(format!(
                "{last_state}; gave up after --lock-wait {} s",
                lock_wait.as_secs()
            )));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(Start::Interrupted),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Runs a job this process claimed; the exit status says how it ended.
async fn run_here(
    ctx: &Arc<ServiceContext>,
    job: Versioned<SyncJob>,
    bar: &indicatif::ProgressBar,
    shutdown: CancellationToken,
) -> u8 {
    let job_id = job.id.clone();
    let control = JobControl::new();
    let stop = control.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stop.stop(StopReason::Canceled);
    });
    let (progress, mut rx) = watch::channel(SyncStats::default());
    let b = bar.clone();
    let ticker = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let s = rx.borrow().clone();
            b.set_message(format!(
                "{} indexed, {} deleted, {} errors",
                s.indexed_document_count, s.deleted_document_count, s.error_count
            ));
        }
    });
    let end = service::runner::run_claimed_job(ctx.clone(), job, control, progress).await;
    ticker.abort();
    bar.finish_and_clear();
    let with_failures = end.status == Terminal::Completed && end.failures.count > 0;
    eprintln!(
        "job {job_id}: {}{} — indexed {}, deleted {}, total in index {}{}{}",
        end.status.as_str(),
        if with_failures { " with failures" } else { "" },
        end.counters.indexed_document_count,
        end.counters.deleted_document_count,
        end.counters.total_document_count.unwrap_or(0),
        end.error
            .as_deref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default(),
        if end.job_missing {
            " (the job document no longer exists)"
        } else {
            ""
        }
    );
    if end.failures.count > 0 {
        eprintln!(
            "{} documents were not indexed; first reasons:\n  {}",
            end.failures.count,
            end.failures.first.join("\n  ")
        );
    }
    match end.status {
        Terminal::Completed if with_failures => EXIT_COMPLETED_WITH_FAILURES,
        Terminal::Completed if end.job_missing => EXIT_ERROR,
        Terminal::Completed => EXIT_COMPLETED,
        Terminal::Canceled | Terminal::Suspended => EXIT_CANCELED,
        Terminal::Error => EXIT_ERROR,
    }
}

/// Follows a job another worker runs until it ends, or its worker stops reporting.
async fn follow(
    ctx: &Arc<ServiceContext>,
    job_id: &str,
    bar: &indicatif::ProgressBar,
) -> Result<u8> {
    loop {
        let Some(job) = ctx.client.get_sync_job(job_id).await? else {
            bar.finish_and_clear();
            eprintln!("job {job_id}: the job document no longer exists");
            return Ok(EXIT_ERROR);
        };
        bar.set_message(format!(
            "{} ({} indexed)",
            job.status.as_str(),
            job.indexed_document_count
        ));
        if job.status.is_terminal() {
            bar.finish_and_clear();
            return Ok(report_remote_end(job_id, &job));
        }
        let age = lock::age_secs(job.last_seen, chrono::Utc::now());
        if job.status == JobStatus::InProgress && age > IDLE_JOB_THRESHOLD.as_secs() as i64 {
            bar.finish_and_clear();
            eprintln!(
                "job {job_id}: its worker ({}) stopped reporting {age} s ago; a running `tributary run` ends such jobs as error at its next cleanup",
                job.worker_hostname.as_deref().unwrap_or("unknown")
            );
            return Ok(EXIT_ERROR);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints how a job run elsewhere ended; its exit status.
fn report_remote_end(job_id: &str, job: &SyncJob) -> u8 {
    let failed = job
        .metadata
        .as_ref()
        .and_then(|m| m.get("failed_document_count"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    eprintln!(
        "job {job_id}: {}{} — indexed {}, deleted {}{}",
        job.status.as_str(),
        if failed > 0 && job.status == JobStatus::Completed {
            format!(" with failures ({failed} documents not indexed)")
        } else {
            String::new()
        },
        job.indexed_document_count,
        job.deleted_document_count,
        job.error
            .as_deref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default()
    );
    match job.status {
        JobStatus::Completed if failed > 0 => EXIT_COMPLETED_WITH_FAILURES,
        JobStatus::Completed => EXIT_COMPLETED,
        JobStatus::Canceled | JobStatus::Suspended => EXIT_CANCELED,
        _ => EXIT_ERROR,
    }
}

/// Cancels the job this command created (pending → canceled), best effort.
async fn cancel_own_job(ctx: &ServiceContext, job_id: &str) {
    if let Err(e) = ctx.client.cancel_sync_job(job_id).await {
        tracing::warn!(job_id, error = %e, "could not cancel the job that was not started");
    }
}

/// `/healthz` of `tributary run`: Elasticsearch answers, and every configured
/// connector's service type has a loaded plugin.
struct ServiceHealth {
    client: tributary_elasticsearch::Client,
    plugins: Vec<String>,
    refused: Vec<String>,
    needed: Vec<(String, String)>,
}

impl ServiceHealth {
    fn new(ctx: &ServiceContext) -> Self {
        Self {
            client: ctx.client.clone(),
            plugins: ctx
                .plugins
                .plugins
                .iter()
                .map(|p| p.metadata.service_type.clone())
                .collect(),
            refused: ctx
                .plugins
                .refused
                .iter()
                .map(|r| r.reason.clone())
                .collect(),
            needed: ctx
                .config
                .connectors
                .iter()
                .filter_map(|c| {
                    c.service_type
                        .clone()
                        .map(|st| (c.connector_id.clone(), st))
                })
                .collect(),
        }
    }
}

#[async_trait::async_trait]
impl HealthCheck for ServiceHealth {
    async fn check(&self) -> HealthReport {
        let es = match tokio::time::timeout(Duration::from_secs(3), self.client.info()).await {
            Ok(Ok(info)) => Check {
                name: "elasticsearch",
                ok: true,
                detail: format!(
                    "{} answers (version {})",
                    self.client.url(),
                    info.version.number
                ),
            },
            Ok(Err(e)) => Check {
                name: "elasticsearch",
                ok: false,
                detail: e.to_string(),
            },
            Err(_) => Check {
                name: "elasticsearch",
                ok: false,
                detail: format!("{} did not answer within 3 s", self.client.url()),
            },
        };
        let missing: Vec<String> = self
            .needed
            .iter()
            .filter(|(_, st)| !self.plugins.contains(st))
            .map(|(id, st)| format!("{id} needs {st}"))
            .collect();
        let mut detail = if self.plugins.is_empty() {
            "no plugin loaded".to_string()
        } else {
            format!("loaded: {}", self.plugins.join(", "))
        };
        if !missing.is_empty() {
            detail.push_str(&format!("; missing: {}", missing.join(", ")));
        }
        if !self.refused.is_empty() {
            detail.push_str(&format!("; refused: {}", self.refused.join("; ")));
        }
        let plugins = Check {
            name: "plugins",
            ok: !self.plugins.is_empty() && missing.is_empty(),
            detail,
        };
        HealthReport::from_checks(vec![es, plugins])
    }
}

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Reads config.yml and installs the log subscriber.
fn load_config(path: &std::path::Path, log_level: Option<&str>) -> Result<Config> {
    let config = config::load(path).with_context(|| format!("reading {}", path.display()));
    let level = match (&config, log_level) {
        (_, Some(l)) => l.to_string(),
        (Ok(c), None) => c.service.log_level.as_filter().to_string(),
        (Err(_), None) => "info".into(),
    };
    let format = config
        .as_ref()
        .map(|c| c.service.log_format)
        .unwrap_or_default();
    init_logging(&level, format);
    let config = config?;
    for w in &config.warnings {
        tracing::warn!(config = %path.display(), "{w}");
    }
    Ok(config)
}

/// Whether log lines may carry colour codes: only to a terminal, and not when
/// `NO_COLOR` is set (<https://no-color.org>).
pub fn ansi_allowed() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Logs to stderr at `level` (`RUST_LOG` overrides), as text or JSON lines.
pub fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},wasmtime=warn,cranelift=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Another command (or a test) may have installed a subscriber already.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(ansi_allowed()).try_init(),
    };
}

/// Start-up shared by `run` and `sync`: plugins, Elasticsearch, checks.
async fn start(config: Config, plugin_dir: &std::path::Path) -> Result<ServiceContext> {
    let runtime_cfg = runtime_config(&config);
    let runtime = PluginRuntime::new(runtime_cfg.clone()).context("starting the plugin runtime")?;
    let plugins = runtime
        .load_dir(plugin_dir)
        .await
        .with_context(|| format!("loading plugins from {}", plugin_dir.display()))?;
    for refused in &plugins.refused {
        tracing::error!(file = %refused.file.display(), reason = %refused.reason, "plugin refused");
    }
    for p in &plugins.plugins {
        tracing::info!(
            service_type = %p.metadata.service_type,
            version = %p.metadata.version,
            file = %p.file.display(),
            from_cache = p.load_stats.from_cache,
            load_ms = p.load_stats.total.as_secs_f64() * 1000.0,
            "plugin loaded"
        );
    }
    if config.connectors.is_empty() {
        bail!(
            "config.yml lists no connectors (add `connectors: [{{connector_id, service_type}}]`)"
        );
    }
    for c in &config.connectors {
        if let Some(st) = &c.service_type {
            if plugins.get(st).is_none() {
                let known: Vec<_> = plugins
                    .plugins
                    .iter()
                    .map(|p| p.metadata.service_type.clone())
                    .collect();
                bail!(
                    "connectors[{}].service_type: unknown service type {st:?} — no plugin in {} provides it (loaded: {})",
                    c.connector_id,
                    plugin_dir.display(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                );
            }
        }
    }
    let client = Client::new(&(&config.elasticsearch).into())
        .context("configuring the Elasticsearch client")?;
    client
        .wait_for_elasticsearch(
            config.service.preflight_max_attempts,
            config.service.preflight_idle,
        )
        .await
        .context("waiting for Elasticsearch")?;
    Ok(ServiceContext {
        client,
        plugins,
        runtime: runtime_cfg,
        hostname: service::hostname(),
        running: Default::default(),
        orphan_locks: Default::default(),
        config,
    })
}

pub fn runtime_config(config: &Config) -> RuntimeConfig {
    let p = &config.plugins;
    let mut rc = RuntimeConfig {
        memory_limit_mb: p.memory_limit_mb,
        cpu_limit: Duration::from_secs(p.call_timeout_secs.max(1)),
        call_timeout: Duration::from_secs(p.wall_timeout_secs.max(1)),
        ..RuntimeConfig::default()
    };
    if p.cache_dir.is_some() {
        rc.cache_dir = p.cache_dir.clone();
    }
    rc.postgresql.allowed_hosts = p.postgresql.allowed_hosts.clone();
    rc.postgresql.statement_timeout_ms = p
        .postgresql
        .effective_statement_timeout_ms(p.wall_timeout_secs);
    rc.postgresql.max_sessions = usize::try_from(p.postgresql.max_sessions).unwrap_or(usize::MAX);
    rc.postgresql_changes.max_slot_wal_bytes = p.postgresql.max_slot_wal_bytes;
    rc.filesystem.roots = p.filesystem.roots.clone();
    // Origins were parsed when config.yml was read; an entry cannot fail here.
    rc.http = std::sync::Arc::new(tributary_capability_http::HttpPolicy {
        allowlist: tributary_capability_http::Allowlist::parse(&p.http.allowed_origins)
            .unwrap_or_default(),
        max_response_bytes: p.http.max_response_bytes,
        request_timeout: Duration::from_secs(p.http.request_timeout_secs.max(1)),
        max_requests_per_job: p.http.max_requests_per_job,
    });
    rc.mysql.enabled = p.mysql.enabled;
    rc.mysql.allowed_hosts = p.mysql.allowed_hosts.clone();
    rc.mysql.statement_timeout_ms = p
        .mysql
        .statement_timeout_ms
        .unwrap_or_else(|| p.wall_timeout_secs.saturating_mul(800).max(1));
    rc.mysql.max_sessions = usize::try_from(p.mysql.max_sessions).unwrap_or(usize::MAX);
    rc.redis.enabled = p.redis.enabled;
    rc.redis.allowed_hosts = p.redis.allowed_hosts.clone();
    rc.redis.max_reply_bytes = p.redis.max_reply_bytes.unwrap_or(0);
    rc.redis.max_connections = p
        .redis
        .max_connections
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    rc
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        }
        shutdown.cancel();
    });
}
