//! Command-line interface: argument parsing and dispatch to the subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod local;
pub mod new;
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
    /// Conformance kit: check a plugin's schema, validation, ping and syncs (no Elasticsearch).
    Check(check::CheckArgs),
    /// Scaffold a new plugin crate in ./NAME.
    New(new::NewArgs),
}

/// Where plugins live; shared by every command that loads them.
#[derive(Debug, Clone, clap::Args)]
pub struct PluginDirArgs {
    /// Folder holding the `*.wasm` plugin components.
    #[arg(long = "plugins", env = "TRIBUTARY_PLUGINS", default_value = "plugins")]
    pub dir: PathBuf,
}

/// Runs the command line; the `Ok` value is the process's exit status.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Sync(args) => run::sync(args).await,
            Command::Plugins(cmd) => plugins::dispatch(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Extract(args) => plugins::extract(args).await.map(|()| ExitCode::SUCCESS),
            Command::Check(args) => check::check(args).await,
            Command::New(args) => new::new(args).map(|()| ExitCode::SUCCESS),
        }
    })
}

/// Before anything logs or spawns a thread: no colour codes unless stderr is a
/// terminal (every log subscriber honours `NO_COLOR`), and error backtraces only
/// when asked for with `TRIBUTARY_BACKTRACE=1` (`RUST_BACKTRACE` alone, often set
/// machine-wide, no longer adds 60 lines to every start-up error).
pub fn prepare_process() {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        std::env::set_var("NO_COLOR", "1");
    }
    if wants_backtrace() {
        std::env::set_var("RUST_LIB_BACKTRACE", "1");
    } else {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

/// `TRIBUTARY_BACKTRACE` is set to something other than `0`.
pub fn wants_backtrace() -> bool {
    std::env::var_os("TRIBUTARY_BACKTRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A start-up or command error as the user sees it: the message and its causes,
/// one per line; the backtrace only with `TRIBUTARY_BACKTRACE=1`.
pub fn describe_error(e: &anyhow::Error) -> String {
    if wants_backtrace() {
        return format!("Error: {e:?}");
    }
    let mut out = format!("Error: {e}");
    let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        out.push_str("\n\nCaused by:");
        for c in causes {
            out.push_str("\n    ");
            out.push_str(&c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_their_causes_and_no_backtrace() {
        std::env::set_var("RUST_BACKTRACE", "1");
        let e = anyhow::anyhow!("connection refused")
            .context("waiting for Elasticsearch")
            .context("starting");
        let text = describe_error(&e);
        assert_eq!(
            text,
            "Error: starting\n\nCaused by:\n    waiting for Elasticsearch\n    connection refused"
        );
        assert!(!text.contains("backtrace"));
    }
}
