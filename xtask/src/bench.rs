//! `cargo xtask bench`: builds the host's plugins and the benchmark (release), then
//! runs `tributary-bench all` — PostgreSQL tables of 100k and 1M rows (5M with
//! `--with-5m`), the native baseline vs postgresql.wasm into es-sim, the parts alone,
//! re-syncs and the issue-2 micro benchmark. Writes `target/bench/results.json` and the
//! README's "Benchmarks" section. `--no-build` skips `cargo xtask build` (uses what is
//! in target/); every other argument goes to `tributary-bench all`.
//!
//! `cargo xtask bench faults-429 [--rows N] [--rate F]` runs only the issue-10
//! scenario instead: a clean `tributary sync` vs one with per-item 429s.
//! `cargo xtask bench mysql` runs only the issue-12 scenario: MariaDB tables read by
//! mysql.wasm vs natively (JSON lines, no sink).
//! `cargo xtask bench incremental-cdc [--rows N]` runs only the issue-14 scenario: a
//! full sync vs an incremental one after 1 % of the rows changed, on a PostgreSQL
//! cluster of its own with `wal_level = logical`.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

/// Named scenarios run instead of `all`.
const SCENARIOS: &[&str] = &["faults-429", "mysql", "incremental-cdc"];

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let no_build = args.iter().any(|a| a == "--no-build");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--no-build").collect();
    if !no_build {
        // postgresql.wasm (and the release host, for the `tributary extract` run).
        crate::build(root)?;
    }
    if !no_build {
        crate::run(Command::new(crate::cargo()).args([
            "build",
            "--release",
            "-p",
            "tributary-bench",
        ]))?;
    }
    let exe = root.join("target").join("release").join("tributary-bench");
    match args.split_first() {
        Some((scenario, rest)) if SCENARIOS.contains(&scenario.as_str()) => {
            crate::run(Command::new(exe).arg(scenario).args(rest))
        }
        _ => crate::run(Command::new(exe).arg("all").args(args)),
    }
}
