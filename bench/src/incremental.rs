//! `tributary-bench incremental-cdc` (issue 14): a full sync of a `--rows` table,
//! 1 % of its rows changed (updates, deletes, inserts), then an incremental sync
//! through PostgreSQL change data capture — both with the real `tributary sync`
//! binary into one es-sim. Reports both wall times, the ratio (target ≥ 20×) and
//! the WAL the connector's replication slot held between the syncs.
//!
//! Logical decoding needs `wal_level = logical`, so the run starts a PostgreSQL
//! cluster of its own (`initdb` into a temporary directory, on a free port; the
//! test support's `Cluster`), unless `--pg-port` names a server that has it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use super::report::{human_rows, Results, Run};
use super::worker::WorkerOutput;
use super::{
    datagen, failed_run, machine, measure, now_utc, runtime, to_run, worker, AllArgs, Bench, EsSim,
    ES_PASSWORD, ES_USER,
};

#[allow(dead_code, clippy::all)]
#[path = "../../capabilities/postgresql/tests/support/cluster.rs"]
mod cluster;

const CONNECTOR: &str = "bench-cdc";
const INDEX: &str = "bench-cdc";

/// The scenario; `own_cluster` starts a logical-decoding cluster for it.
pub fn run(mut args: AllArgs, rows: u64, own_cluster: bool) -> Result<()> {
    let exe = std::env::current_exe().context("locating tributary-bench")?;
    if !args.tributary.is_file() {
        bail!(
            "{} is missing: run `cargo xtask build` first",
            args.tributary.display()
        );
    }
    // Kept alive until the end: dropping it stops and removes the cluster.
    let _cluster = if own_cluster {
        let c = cluster::Cluster::start("bench-cdc", &["shared_buffers=256MB"]);
        args.pg.port = c.port;
        args.pg.host = "127.0.0.1".into();
        eprintln!(
            "bench: PostgreSQL cluster of this run on port {} (wal_level=logical)",
            c.port
        );
        Some(c)
    } else {
        None
    };
    let rt = runtime()?;
    let table = datagen::table_name(rows);
    let (info, pg_version) = rt.block_on(async {
        datagen::ensure_database(&args.pg).await?;
        let client = datagen::connect(&args.pg, &args.pg.dbname).await?;
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .context("reading the server version")?
            .get(0);
        let wal: String = client
            .query_one("SHOW wal_level", &[])
            .await
            .context("reading wal_level")?
            .get(0);
        if wal != "logical" {
            bail!("the server's wal_level is {wal}; this benchmark needs logical (omit --pg-port to start a cluster of its own)");
        }
        Ok::<_, anyhow::Error>((datagen::ensure_table(&client, rows).await?, version))
    })?;
    let status = Command::new(&exe)
        .arg("warm-cache")
        .arg("--plugins")
        .arg(&args.plugins)
        .status()
        .context("starting the plugin cache warm-up")?;
    if !status.success() {
        bail!("warming the plugin cache failed ({status})");
    }
    let es = EsSim::start(&exe)?;
    eprintln!("bench: es-sim at {} (pid {})", es.url, es.pid());
    let out = args.out.with_file_name("incremental-cdc.json");
    let mut b = Bench {
        exe,
        args: args.clone(),
        es,
        seq: 0,
        results: Results {
            started_at: now_utc(),
            command: format!("cargo xtask bench incremental-cdc --rows {rows}"),
            machine: machine(format!("PostgreSQL {pg_version}, wal_level=logical")),
            wasm_path: "`tributary sync` binary, default sync settings".into(),
            tables: vec![info],
            runs: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        },
    };
    let config = configure(&b, &table)?;

    let (full, full_job) = sync(
        &mut b,
        &config,
        rows,
        "cdc-full",
        "full sync (creates the slot)",
        "full",
    )?;
    let cursor =
        b.es.ok(Method::GET, &format!("/_connector/{CONNECTOR}"), None)?["sync_cursor"].clone();
    if cursor["slot"].as_str().is_none() {
        bail!("the full sync stored no change-capture cursor: {cursor}; job {full_job}");
    }

    // 1 %: updates, deletes and inserts (new ids past the end), in one transaction each.
    let changed = rows / 100;
    let (updates, deletes, inserts) = (changed * 8 / 10, changed / 10, changed / 10);
    let q = format!("{}.{table}", datagen::SCHEMA);
    let (wal_written, held_before) = rt.block_on(async {
        let c = datagen::connect(&b.args.pg, &b.args.pg.dbname).await?;
        let before = lsn(&c, "SELECT pg_current_wal_lsn()::text").await?;
        c.batch_execute(&format!(
            "UPDATE {q} SET title = title || ' (changed)' WHERE id % {} = 0",
            rows / updates.max(1)
        ))
        .await
        .context("updating rows")?;
        c.batch_execute(&format!(
            "DELETE FROM {q} WHERE id % {} = 7",
            rows / deletes.max(1)
        ))
        .await
        .context("deleting rows")?;
        c.batch_execute(&format!(
            "CREATE TEMP TABLE bench_new AS SELECT * FROM {q} WHERE id % {} = 3; \
             UPDATE bench_new SET id = id + {rows}; INSERT INTO {q} SELECT * FROM bench_new;",
            rows / inserts.max(1)
        ))
        .await
        .context("inserting rows")?;
        let after = lsn(&c, "SELECT pg_current_wal_lsn()::text").await?;
        let held: i64 = c
            .query_one(
                "SELECT (pg_current_wal_lsn() - restart_lsn)::int8 FROM pg_replication_slots \
                 WHERE slot_name LIKE 'tributary\\_%'",
                &[],
            )
            .await
            .context("reading the slot's WAL")?
            .get(0);
        Ok::<_, anyhow::Error>((after.saturating_sub(before), held))
    })?;
    eprintln!(
        "bench: changed {updates} updates + {deletes} deletes + {inserts} inserts; {:.1} MiB of WAL written, {:.1} MiB held by the slot",
        mib(wal_written),
        mib(held_before as u64)
    );

    let (inc, inc_job) = sync(
        &mut b,
        &config,
        rows,
        "cdc-incremental",
        "incremental sync (1 % changed)",
        "incremental",
    )?;
    let count = b.es.count(INDEX).unwrap_or(0);
    let ratio = full.wall_s / inc.wall_s.max(1e-9);
    let lines = [
        format!(
            "full sync: {:.2} s wall, {} indexed, job {}",
            full.wall_s, full.indexed, full_job["status"]
        ),
        format!(
            "incremental sync: {:.2} s wall, {} indexed, {} deleted, job {}; index count {count} (table {} rows)",
            inc.wall_s,
            inc.indexed,
            inc.deleted,
            inc_job["status"],
            rows - deletes + inserts
        ),
        format!(
            "ratio {ratio:.1}× faster (target ≥ 20×): {}",
            if ratio >= 20.0 { "met" } else { "NOT met" }
        ),
        format!(
            "WAL held by the slot when the incremental sync started: {:.1} MiB ({} bytes; the 1 % change wrote {:.1} MiB)",
            mib(held_before as u64),
            held_before,
            mib(wal_written)
        ),
    ];
    for l in &lines {
        eprintln!("bench: {l}");
        b.results.notes.push(l.clone());
    }
    if count != rows - deletes + inserts {
        b.results
            .notes
            .push(format!("MISMATCH: index count {count}"));
    }
    b.results.save(&out)
}

fn mib(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

async fn lsn(c: &tokio_postgres::Client, sql: &str) -> Result<u64> {
    let text: String = c
        .query_one(sql, &[])
        .await
        .context("reading an LSN")?
        .get(0);
    let (hi, lo) = text
        .split_once('/')
        .ok_or_else(|| anyhow!("not an LSN: {text}"))?;
    Ok((u64::from_str_radix(hi, 16)? << 32) | u64::from_str_radix(lo, 16)?)
}

/// The connector with the plugin's schema and the bench table's values, and a config.yml.
fn configure(b: &Bench, table: &str) -> Result<PathBuf> {
    b.es.ok(
        Method::PUT,
        &format!("/_connector/{CONNECTOR}"),
        Some(json!({"name": "Tributary bench (CDC)", "index_name": INDEX, "service_type": "postgresql"})),
    )?;
    let values = worker::plugin_values(&b.args.pg, table, b.args.batch);
    let inspect = Command::new(&b.args.tributary)
        .args(["plugins", "inspect", "postgresql", "--plugins"])
        .arg(&b.args.plugins)
        .output()
        .context("running tributary plugins inspect")?;
    if !inspect.status.success() {
        bail!(
            "tributary plugins inspect failed: {}",
            String::from_utf8_lossy(&inspect.stderr)
        );
    }
    let mut schema: Value =
        serde_json::from_slice(&inspect.stdout).context("decoding the configuration schema")?;
    let fields = schema
        .as_object_mut()
        .ok_or_else(|| anyhow!("the configuration schema is not an object"))?;
    for (k, v) in &values {
        if let Some(f) = fields.get_mut(k).and_then(|f| f.as_object_mut()) {
            f.insert("value".into(), v.clone());
        }
    }
    for f in fields.values_mut() {
        if f.get("display").and_then(|d| d.as_str()) == Some("text") {
            f["display"] = Value::from("textbox");
        }
    }
    b.es.ok(
        Method::PUT,
        &format!("/_connector/{CONNECTOR}/_configuration"),
        Some(json!({ "configuration": schema })),
    )?;
    let dir = b
        .args
        .out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("config-cdc.yml");
    std::fs::write(
        &config,
        format!(
            "elasticsearch:\n  host: {}\n  username: {ES_USER}\n  password: {ES_PASSWORD}\n\
             sync:\n  bulk_max_docs: {}\n  bulk_concurrency: {}\n\
             connectors:\n  - connector_id: {CONNECTOR}\n    service_type: postgresql\n",
            b.es.url, b.args.bulk_max_docs, b.args.bulk_concurrency
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    Ok(config)
}

/// One measured `tributary sync --job-type <kind>`; the run and its job document.
fn sync(
    b: &mut Bench,
    config: &Path,
    rows: u64,
    key: &str,
    label: &str,
    kind: &str,
) -> Result<(Run, Value)> {
    eprintln!("bench: {label} — {} rows", human_rows(rows));
    let mut cmd = Command::new(&b.args.tributary);
    cmd.arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--plugins")
        .arg(&b.args.plugins)
        .args(["--connector-id", CONNECTOR, "--job-type", kind, "--quiet"]);
    let started = std::time::Instant::now();
    let (run, job) = match measure::run_command_exiting(&mut cmd, Some(b.es.pid()), &[0]) {
        Ok((_, _, cost, _)) => {
            let wall = started.elapsed().as_secs_f64();
            let jobs = b.es.ok(
                Method::GET,
                &format!("/_connector/_sync_job?connector_id={CONNECTOR}&size=100"),
                None,
            )?;
            let job = jobs["results"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .max_by_key(|j| j["created_at"].as_str().map(str::to_string))
                })
                .cloned()
                .unwrap_or_default();
            let indexed = job["indexed_document_count"].as_u64().unwrap_or(0);
            let status = job["status"].as_str().unwrap_or("unknown").to_string();
            let out = WorkerOutput {
                docs: indexed,
                bytes: job["indexed_document_volume"].as_u64().unwrap_or(0) * 1024 * 1024,
                work_s: wall,
                indexed,
                deleted: job["deleted_document_count"].as_u64().unwrap_or(0),
                index_count: job["total_document_count"].as_u64().unwrap_or(0),
                result: if status == "completed" {
                    "ok".into()
                } else {
                    format!("job {status}: {}", job["error"])
                },
                ..Default::default()
            };
            (to_run(key, label, rows, b.args.batch, &out, &cost), job)
        }
        Err(e) => (
            failed_run(key, label, rows, b.args.batch, &format!("{e:#}")),
            Value::Null,
        ),
    };
    b.print(&run);
    b.results.runs.push(run.clone());
    if run.result != "ok" {
        bail!("{label} failed: {}", run.result);
    }
    Ok((run, job))
}
