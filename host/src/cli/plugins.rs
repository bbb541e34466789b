//! `tributary plugins list|inspect` and `tributary extract`: a plugin author's
//! local loop, no Elasticsearch involved.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use super::PluginDirArgs;
use tributary_runtime::{
    printable, LoadedPlugin, PluginRuntime, PluginSet, RuntimeConfig, SyncRequest,
};
use tributary_sync::document::{write_str, Operation};

#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {
    /// One line per plugin: service type, name, version, contract version, capabilities, file.
    List {
        #[command(flatten)]
        plugins: PluginDirArgs,
        #[command(flatten)]
        grants: GrantArgs,
    },
    /// Print a plugin's configuration schema as JSON, keyed by field name.
    Inspect {
        service_type: String,
        #[command(flatten)]
        plugins: PluginDirArgs,
        #[command(flatten)]
        grants: GrantArgs,
    },
}

/// The operator's grants for commands that load plugins outside the service.
#[derive(Debug, Clone, clap::Args)]
pub struct GrantArgs {
    /// config.yml whose `plugins.*` section applies (capability grants such as
    /// `plugins.mysql.enabled`, limits), so a plugin runs under the same grants as
    /// in the service; without it, the defaults (only PostgreSQL granted).
    #[arg(long = "config", short = 'c', env = "TRIBUTARY_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    pub service_type: String,
    #[command(flatten)]
    pub plugins: PluginDirArgs,
    #[command(flatten)]
    pub grants: GrantArgs,
    /// JSON file with the configuration values (`{"host": ..., "tables": ...}`).
    #[arg(long)]
    pub values: PathBuf,
    /// Documents per batch asked of the plugin.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: u32,
}

/// Logs to stderr (stdout carries the command's output); `RUST_LOG` overrides.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,tributary::plugins::loader=error")
    });
    // Another command (or a test) may have installed a subscriber already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The runtime settings of `config` (its `plugins:` section), or the defaults.
fn runtime_settings(config: Option<&Path>) -> anyhow::Result<RuntimeConfig> {
    let Some(path) = config else {
        return Ok(RuntimeConfig::default());
    };
    let cfg = crate::config::load(path).with_context(|| format!("reading {}", path.display()))?;
    for w in &cfg.warnings {
        tracing::warn!(config = %path.display(), "{w}");
    }
    Ok(super::run::runtime_config(&cfg))
}

async fn load(dir: &Path, config: Option<&Path>) -> anyhow::Result<(PluginSet, RuntimeConfig)> {
    let settings = runtime_settings(config)?;
    let runtime = PluginRuntime::new(settings.clone()).context("starting the plugin runtime")?;
    let set = runtime
        .load_dir(dir)
        .await
        .with_context(|| format!("loading plugins from {}", dir.display()))?;
    Ok((set, settings))
}

fn find(set: &PluginSet, service_type: &str, dir: &Path) -> anyhow::Result<Arc<LoadedPlugin>> {
    if let Some(p) = set.get(service_type) {
        return Ok(p);
    }
    let available: Vec<&str> = set
        .plugins
        .iter()
        .map(|p| p.metadata.service_type.as_str())
        .collect();
    let mut msg = format!(
        "no plugin with service type `{service_type}` in {} (available: {})",
        dir.display(),
        if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        }
    );
    for r in &set.refused {
        msg.push_str(&format!("\nrefused: {}", printable(&r.reason)));
    }
    bail!(msg)
}

/// Runs `plugins list` or `plugins inspect`.
pub async fn dispatch(cmd: PluginsCommand) -> anyhow::Result<()> {
    init_logging();
    match cmd {
        PluginsCommand::List { plugins, grants } => {
            list(&plugins.dir, grants.config.as_deref()).await
        }
        PluginsCommand::Inspect {
            service_type,
            plugins,
            grants,
        } => {
            let (set, _) = load(&plugins.dir, grants.config.as_deref()).await?;
            let plugin = find(&set, &service_type, &plugins.dir)?;
            let schema = Value::Object(plugin.configuration_schema());
            let text = serde_json::to_string_pretty(&schema).context("encoding the schema")?;
            println!("{text}");
            Ok(())
        }
    }
}

async fn list(dir: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let (set, settings) = load(dir, config).await?;
    let header = [
        "SERVICE TYPE",
        "NAME",
        "VERSION",
        "CONTRACT",
        "CAPABILITIES",
        "GRANTS",
        "FILE",
    ]
    .map(String::from);
    let mut rows = vec![header];
    // Everything a plugin declares is escaped: one plugin, one row.
    let cell = |s: &str| printable(s).into_owned();
    for p in &set.plugins {
        rows.push([
            cell(&p.metadata.service_type),
            cell(&p.metadata.name),
            cell(&p.metadata.version),
            cell(&p.contract_version),
            if p.imports.is_empty() {
                "-".into()
            } else {
                cell(&p.imports.join(","))
            },
            {
                let grants: Vec<String> = p
                    .imports
                    .iter()
                    .filter(|c| c.as_str() != "logging")
                    .map(|c| settings.grant_summary(c))
                    .collect();
                if grants.is_empty() {
                    "-".into()
                } else {
                    cell(&grants.join("; "))
                }
            },
            cell(&p.file.display().to_string()),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end()).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    for r in &set.refused {
        eprintln!(
            "refused {}: {}",
            printable(&r.file.display().to_string()),
            printable(&r.reason)
        );
    }
    Ok(())
}

fn read_values(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing {} as JSON", path.display()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => bail!(
            "{} must hold a JSON object of configuration values",
            path.display()
        ),
    }
}

/// Runs a full sync of one plugin and writes NDJSON to stdout, one document per
/// line as the host would index it: `{"_id": ..., ...body, "_timestamp": ...}`.
pub async fn extract(args: ExtractArgs) -> anyhow::Result<()> {
    init_logging();
    let values = read_values(&args.values)?;
    let runtime = PluginRuntime::new(runtime_settings(args.grants.config.as_deref())?)
        .context("starting the plugin runtime")?;
    let set = runtime
        .load_dir(&args.plugins.dir)
        .await
        .with_context(|| format!("loading plugins from {}", args.plugins.dir.display()))?;
    let plugin = find(&set, &args.service_type, &args.plugins.dir)?;
    // The host opens the connection from the values given, as it would from the
    // connector's configuration; a plugin that does not import it gets nothing.
    let grants = plugin.grants(runtime.config(), &values, &[]);
    let mut sync = plugin
        .start_sync(&values, SyncRequest::full(args.batch_size.max(1)), &grants)
        .await
        .context("starting the sync")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut line = Vec::with_capacity(4096);
    let mut body = Vec::with_capacity(4096);
    let mut count: u64 = 0;
    while let Some(docs) = sync.next().await.context("syncing")? {
        for doc in docs {
            if doc.operation == Operation::Delete {
                continue;
            }
            line.clear();
            body.clear();
            let extra: Vec<(&str, tributary_sync::document::Value)> = doc
                .timestamp
                .as_ref()
                .map(|t| {
                    (
                        "_timestamp",
                        tributary_sync::document::Value::Text(t.clone()),
                    )
                })
                .into_iter()
                .collect();
            doc.write_json(&extra, &mut body);
            line.extend_from_slice(b"{\"_id\":");
            write_str(&doc.id, &mut line);
            if body.len() > 2 {
                line.push(b',');
                line.extend_from_slice(&body[1..]);
            } else {
                line.push(b'}');
            }
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                // `| head` closes the pipe early: not an error of the extract.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e).context("writing to stdout");
            }
            count += 1;
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing to stdout");
        }
    }
    tracing::info!(plugin = %plugin.metadata.service_type, documents = count, "extract finished");
    Ok(())
}
