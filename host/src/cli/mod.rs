//! Command-line interface: argument parsing and dispatch to the subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod plugins;
pub mod run;

/// Tributary: sync data sources into Elasticsearch through sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the connector service: check in, claim jobs, sync (what `elastic-ingest` does).
    Run(run::RunArgs),
    /// Create one sync job for a connector and run it in the foreground.
    Sync(run::SyncArgs),
    /// Inspect the plugins in a folder.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Run a full sync of one plugin locally and write NDJSON to stdout (no Elasticsearch).
    Extract(plugins::ExtractArgs),
}

/// Where plugins live; shared by every command that loads them.
#[derive(Debug, Clone, clap::Args)]
pub struct PluginDirArgs {
    /// Folder holding the `*.wasm` plugin components.
    #[arg(long = "plugins", env = "TRIBUTARY_PLUGINS", default_value = "plugins")]
    pub dir: PathBuf,
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Sync(args) => run::sync(args).await,
            Command::Plugins(cmd) => plugins::dispatch(cmd).await,
            Command::Extract(args) => plugins::extract(args).await,
        }
    })
}
