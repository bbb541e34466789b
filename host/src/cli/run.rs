//! `tributary run` (the service) and `tributary sync` (one job in the foreground).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::PluginDirArgs;
use crate::config::{self, Config};
use crate::elasticsearch::{Client, JobStatus, JobType, TriggerMethod};
use crate::plugins::{PluginRuntime, RuntimeConfig};
use crate::service::{self, docs::Terminal, JobControl, ServiceContext, StopReason};
use crate::sync::SyncStats;

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
    #[arg(long)]
    pub log_level: Option<String>,
}

/// Exit status of `tributary sync` for a job that ended in error / was canceled.
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CANCELED: i32 = 2;

pub async fn run(args: RunArgs) -> Result<()> {
    let config = load_config(&args.config, args.log_level.as_deref())?;
    let ctx = Arc::new(start(config, &args.plugins.dir).await?);
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    service::run(ctx, shutdown)
        .await
        .context("the service stopped")?;
    Ok(())
}

pub async fn sync(args: SyncArgs) -> Result<()> {
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
    let job_id = ctx
        .client
        .create_sync_job(&args.connector_id, job_type, TriggerMethod::OnDemand)
        .await
        .context("creating the sync job")?;
    tracing::info!(job_id = %job_id, connector_id = %args.connector_id, "sync job created");

    // Claim it ourselves; if a running service was faster, follow that one.
    let mut claimed = None;
    for _ in 0..20 {
        let job = ctx
            .client
            .get_job_doc(&job_id)
            .await?
            .with_context(|| format!("sync job {job_id} vanished"))?;
        if job.doc.status != JobStatus::Pending {
            break;
        }
        if let Some(c) = service::executor::claim(&ctx, &job).await? {
            claimed = Some(c);
            break;
        }
        // The connector may be busy with another job: wait for it.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let bar = progress_bar(args.quiet);
    let status = match claimed {
        Some(job) => {
            let control = JobControl::new();
            let stop = control.clone();
            let shutdown = CancellationToken::new();
            spawn_signal_handler(shutdown.clone());
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
            eprintln!(
                "job {job_id}: {} — indexed {}, deleted {}, total in index {}{}",
                end.status.as_str(),
                end.counters.indexed_document_count,
                end.counters.deleted_document_count,
                end.counters.total_document_count.unwrap_or(0),
                end.error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
            match end.status {
                Terminal::Completed => JobStatus::Completed,
                Terminal::Canceled | Terminal::Suspended => JobStatus::Canceled,
                Terminal::Error => JobStatus::Error,
            }
        }
        None => {
            eprintln!("job {job_id} was claimed by another worker; following it");
            loop {
                let job = ctx
                    .client
                    .get_sync_job(&job_id)
                    .await?
                    .with_context(|| format!("sync job {job_id} vanished"))?;
                bar.set_message(format!(
                    "{} ({} indexed)",
                    job.status.as_str(),
                    job.indexed_document_count
                ));
                if job.status.is_terminal() {
                    bar.finish_and_clear();
                    eprintln!(
                        "job {job_id}: {} — indexed {}, deleted {}{}",
                        job.status.as_str(),
                        job.indexed_document_count,
                        job.deleted_document_count,
                        job.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                    break job.status;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    match status {
        JobStatus::Completed => Ok(()),
        JobStatus::Canceled => std::process::exit(EXIT_CANCELED),
        _ => std::process::exit(EXIT_ERROR),
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
    init_logging(&level);
    let config = config?;
    for w in &config.warnings {
        tracing::warn!(config = %path.display(), "{w}");
    }
    Ok(config)
}

pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},wasmtime=warn,cranelift=warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
    let client =
        Client::new(&config.elasticsearch).context("configuring the Elasticsearch client")?;
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
