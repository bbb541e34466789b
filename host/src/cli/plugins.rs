//! `tributary plugins list|inspect` and `tributary extract`: a plugin author's
//! local loop, no Elasticsearch involved.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::local::{find, init_logging, read_values, runtime_settings, LocalPlugin};
use super::PluginDirArgs;
use tributary_runtime::{printable, PluginRuntime, PluginSet, RuntimeConfig, SyncRequest};
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

async fn load(dir: &Path, config: Option<&Path>) -> anyhow::Result<(PluginSet, RuntimeConfig)> {
    let settings = runtime_settings(config)?;
    let runtime = PluginRuntime::new(settings.clone()).context("starting the plugin runtime")?;
    let set = runtime
        .load_dir(dir)
        .await
        .with_context(|| format!("loading plugins from {}", dir.display()))?;
    Ok((set, settings))
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

/// Runs a full sync of one plugin and writes NDJSON to stdout, one document per
/// line as the host would index it: `{"_id": ..., ...body, "_timestamp": ...}`.
pub async fn extract(args: ExtractArgs) -> anyhow::Result<()> {
    init_logging();
    let values = read_values(&args.values)?;
    let local = LocalPlugin::load(
        &args.plugins.dir,
        &args.service_type,
        args.grants.config.as_deref(),
    )
    .await?;
    let plugin = &local.plugin;
    let mut sync = local
        .start_sync(&values, SyncRequest::full(args.batch_size.max(1)))
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
