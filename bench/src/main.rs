//! `tributary-bench`: PostgreSQL → es-sim throughput and memory, Tributary's
//! postgresql.wasm path against a native (no-WASM) pipeline doing the same work in
//! the same run. Driven by `cargo xtask bench`; see the README's "Benchmarks".
//!
//! Subcommands: `all` (the whole benchmark), `generate` (only the tables),
//! `worker` and `es-sim` (internal: one measured path; the sink process).

mod datagen;
mod incremental;
mod measure;
mod mysql;
mod mysql_bench;
mod native;
mod report;
mod worker;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use measure::ChildCost;
use report::{human_rows, Machine, Results, Run};
use worker::{Kind, WorkerOutput, WorkerSpec};

/// Where the benchmark database lives.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct PgConn {
    #[arg(long = "pg-host", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long = "pg-port", default_value_t = 5432)]
    pub port: u16,
    #[arg(long = "pg-user", default_value = "postgres")]
    pub user: String,
    #[arg(long = "pg-password", env = "PGPASSWORD")]
    pub password: Option<String>,
    #[arg(long = "pg-database", default_value = "tributary_bench")]
    pub dbname: String,
}

#[derive(Parser)]
#[command(
    name = "tributary-bench",
    about = "Tributary's benchmark: postgresql.wasm vs a native pipeline, into es-sim"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole benchmark: tables, (a), (b), (c), re-syncs, micro benchmark, report.
    All(AllArgs),
    /// Only create the database and tables.
    Generate {
        #[command(flatten)]
        pg: PgConn,
        #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
        sizes: Vec<u64>,
    },
    /// Internal: run one measured path.
    Worker {
        #[arg(long)]
        spec: String,
    },
    /// Internal: run es-sim until stdin closes.
    EsSim,
    /// Internal: load every plugin in a folder once, filling the compiled-code cache.
    WarmCache {
        #[arg(long)]
        plugins: PathBuf,
    },
    /// Named scenario (issue 10): the same `tributary sync` of a `--rows` table, clean
    /// and with `--rate` of bulk items rejected with a per-item 429; wall time, docs/s
    /// and the ratio (target: ≤ 5×). Not part of `all`.
    #[command(name = "faults-429")]
    Faults429 {
        #[command(flatten)]
        all: AllArgs,
        /// Rows of the table synced (created in the bench database if missing).
        #[arg(long, default_value_t = 200_000)]
        rows: u64,
        /// Share of bulk items es-sim rejects with a per-item 429.
        #[arg(long, default_value_t = 0.3)]
        rate: f64,
    },
    /// Named scenario (issue 12): MariaDB tables read by mysql.wasm vs natively,
    /// JSON lines, no sink; ratio (target ≥ 0.85) and RSS across sizes. Not part of `all`.
    Mysql {
        #[command(flatten)]
        all: AllArgs,
        #[command(flatten)]
        my: mysql::MyConn,
        /// MariaDB table sizes (rows).
        #[arg(
            long = "my-sizes",
            value_delimiter = ',',
            default_value = "100000,1000000"
        )]
        my_sizes: Vec<u64>,
    },
    /// Named scenario (issue 14): a full sync, 1 % of the rows changed, then an
    /// incremental sync through PostgreSQL change data capture; both wall times, the
    /// ratio (target: ≥ 20×) and the WAL the slot held. Not part of `all`.
    #[command(name = "incremental-cdc")]
    IncrementalCdc {
        #[command(flatten)]
        all: AllArgs,
        /// Rows of the table synced.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Use the server of --pg-host/--pg-port (it needs wal_level=logical)
        /// instead of starting a cluster of this run's own.
        #[arg(long)]
        existing_server: bool,
    },
}

#[derive(clap::Args, Clone)]
struct AllArgs {
    #[command(flatten)]
    pg: PgConn,
    /// Table sizes (rows).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<u64>,
    /// Also the 5M-row table.
    #[arg(long)]
    with_5m: bool,
    /// Folder with postgresql.wasm.
    #[arg(long, default_value = "target/plugins")]
    plugins: PathBuf,
    /// The real `tributary` binary (for the `tributary extract` run), if built.
    #[arg(long, default_value = "target/release/tributary")]
    tributary: PathBuf,
    /// Batch size (plugin batch, FETCH size) of the main runs.
    #[arg(long, default_value_t = 1000)]
    batch: u32,
    /// Batch sizes of the issue-2 micro benchmark (largest table).
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,5000")]
    micro_batches: Vec<u32>,
    /// Documents per `_bulk` request (the host's default).
    #[arg(long, default_value_t = 1000)]
    bulk_max_docs: usize,
    /// `_bulk` requests in flight (the host's default).
    #[arg(long, default_value_t = 2)]
    bulk_concurrency: usize,
    /// Ingest pipeline of the bulk requests ("" = none). Default: the connector default.
    #[arg(long, default_value = "search-default-ingestion")]
    pipeline: String,
    /// Skip the micro benchmark.
    #[arg(long)]
    no_micro: bool,
    /// Skip the re-sync runs (b2, b3).
    #[arg(long)]
    no_resync: bool,
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// README to put the table into.
    #[arg(long, default_value = "README.md")]
    readme: PathBuf,
    /// Leave the README alone.
    #[arg(long)]
    no_readme: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Worker { spec } => worker::run(&spec),
        Cmd::EsSim => es_sim_serve(),
        Cmd::WarmCache { plugins } => warm_cache(&plugins),
        Cmd::Generate { pg, sizes } => {
            let rt = runtime()?;
            rt.block_on(async {
                datagen::ensure_database(&pg).await?;
                let client = datagen::connect(&pg, &pg.dbname).await?;
                for n in sizes {
                    let t = datagen::ensure_table(&client, n).await?;
                    eprintln!(
                        "bench: {} rows in {} ({} MB, reused: {})",
                        t.rows,
                        t.table,
                        t.bytes / 1_000_000,
                        t.reused
                    );
                }
                Ok(())
            })
        }
        Cmd::All(args) => all(args),
        Cmd::Faults429 { all, rows, rate } => faults_429(all, rows, rate),
        Cmd::Mysql { all, my, my_sizes } => mysql_bench::run(all, my, my_sizes),
        Cmd::IncrementalCdc {
            all,
            rows,
            existing_server,
        } => incremental::run(all, rows, !existing_server),
    }
}

/// The issue-10 benchmark: clean vs per-item 429s, through the real binary.
fn faults_429(args: AllArgs, rows: u64, rate: f64) -> Result<()> {
    let exe = std::env::current_exe().context("locating tributary-bench")?;
    if !args.tributary.is_file() {
        bail!(
            "{} is missing: run `cargo xtask build` first",
            args.tributary.display()
        );
    }
    let rt = runtime()?;
    let (table, pg_version) = rt.block_on(async {
        datagen::ensure_database(&args.pg).await?;
        let client = datagen::connect(&args.pg, &args.pg.dbname).await?;
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .context("reading the server version")?
            .get(0);
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
    let out = args.out.with_file_name("faults-429.json");
    let mut b = Bench {
        exe,
        args: args.clone(),
        es,
        seq: 0,
        results: Results {
            started_at: now_utc(),
            command: format!("cargo xtask bench faults-429 --rows {rows} --rate {rate}"),
            machine: machine(format!("PostgreSQL {pg_version}")),
            wasm_path: "`tributary sync` binary, default sync settings".into(),
            tables: vec![table],
            runs: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        },
    };
    let clean_index = b.fresh_index("clean", rows);
    let (clean, clean_job, clean_exit) = real_sync_job(
        &mut b,
        rows,
        &clean_index,
        "f-clean",
        "`tributary sync`, no faults",
        &[0, 3],
    )?;
    let faulty_index = b.fresh_index("429", rows);
    b.es.ok(
        reqwest::Method::PUT,
        "/_sim/faults",
        Some(serde_json::json!({ "bulk_item_429_rate": rate })),
    )?;
    let faulty = real_sync_job(
        &mut b,
        rows,
        &faulty_index,
        "f-429",
        &format!(
            "`tributary sync`, {:.0} % of bulk items rejected (429)",
            rate * 100.0
        ),
        &[0, 1, 3],
    );
    b.es.ok(
        reqwest::Method::PUT,
        "/_sim/faults",
        Some(serde_json::json!({})),
    )?;
    let (faulty, faulty_job, faulty_exit) = faulty?;
    let count = b.es.count(&faulty_index).unwrap_or(0);
    let ratio = faulty.wall_s / clean.wall_s.max(1e-9);
    let failed = |job: &serde_json::Value| {
        job["metadata"]["failed_document_count"]
            .as_u64()
            .unwrap_or(0)
    };
    let lines = [
        format!(
            "clean: exit {clean_exit}, job {}, {:.2} s wall, {:.0} docs/s, {} indexed, {} failed",
            clean_job["status"],
            clean.wall_s,
            clean.docs_per_s(),
            clean.indexed,
            failed(&clean_job)
        ),
        format!(
            "{:.0} % per-item 429: exit {faulty_exit}, job {}, {:.2} s wall, {:.0} docs/s, {} indexed, {} failed, index count {count}",
            rate * 100.0,
            faulty_job["status"],
            faulty.wall_s,
            faulty.docs_per_s(),
            faulty.indexed,
            failed(&faulty_job)
        ),
        format!(
            "ratio {ratio:.2}× the clean time (target ≤ 5×): {}",
            if ratio <= 5.0 { "met" } else { "NOT met" }
        ),
    ];
    for l in &lines {
        eprintln!("bench: {l}");
        b.results.notes.push(l.clone());
    }
    b.es.delete_index(&clean_index)?;
    b.es.delete_index(&faulty_index)?;
    b.results.save(&out)
}

/// A folder holding only `postgresql.wasm` from `plugins`: the binary runs then
/// load (and are measured with) the plugin under test alone, not every plugin
/// that happens to be built (the Python one alone maps ~100 MiB).
fn postgresql_only(plugins: &std::path::Path) -> Result<PathBuf> {
    let dir = PathBuf::from("target/bench/plugins-postgresql");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let from = plugins.join("postgresql.wasm");
    std::fs::copy(&from, dir.join("postgresql.wasm"))
        .with_context(|| format!("copying {}", from.display()))?;
    Ok(dir)
}

fn warm_cache(plugins: &std::path::Path) -> Result<()> {
    use tributary_runtime::{PluginRuntime, RuntimeConfig};
    runtime()?.block_on(async {
        let rt = PluginRuntime::new(RuntimeConfig::default()).map_err(|e| anyhow!("{e}"))?;
        rt.load_dir(plugins)
            .await
            .map(|_| ())
            .map_err(|e| anyhow!("loading plugins from {}: {e}", plugins.display()))
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")
}

const ES_USER: &str = "elastic";
const ES_PASSWORD: &str = "changeme";

/// es-sim in this (child) process; prints its URL, serves until stdin closes.
fn es_sim_serve() -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let opts = es_sim::Options {
            username: ES_USER.into(),
            password: ES_PASSWORD.into(),
            ..es_sim::Options::default()
        };
        let server = es_sim::Server::start(opts)
            .await
            .context("starting es-sim")?;
        println!("es-sim listening on {}", server.url());
        std::io::stdout().flush().ok();
        // Until the parent goes away.
        tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                s.clear();
            }
        })
        .await
        .ok();
        server.shutdown().await;
        Ok(())
    })
}

/// The sink process.
struct EsSim {
    child: Child,
    url: String,
    http: Http,
}

/// A tiny HTTP helper for index admin on es-sim (outside any measured process).
struct Http {
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Http {
    fn new() -> Result<Self> {
        Ok(Http {
            client: reqwest::Client::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building the admin runtime")?,
        })
    }

    /// Sends a request with basic auth; returns (status, body).
    fn send(&self, method: reqwest::Method, url: &str) -> Result<(u16, String)> {
        self.send_json(method, url, None)
    }

    fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, String)> {
        self.rt.block_on(async {
            let mut req = self
                .client
                .request(method, url)
                .basic_auth(ES_USER, Some(ES_PASSWORD));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.with_context(|| format!("calling {url}"))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            Ok((status, text))
        })
    }
}

impl EsSim {
    /// Prefers the `es-sim` binary beside this one (built by `cargo xtask build`, with its own
    /// allocator, as tests and the demo run it); falls back to serving from this binary.
    fn start(exe: &Path) -> Result<Self> {
        let sibling = exe.with_file_name("es-sim");
        let mut cmd = if sibling.is_file() {
            let mut c = Command::new(&sibling);
            c.args(["--listen", "127.0.0.1:0"]);
            c
        } else {
            let mut c = Command::new(exe);
            c.arg("es-sim");
            c
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the es-sim process")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no es-sim stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the es-sim URL")?;
        let url = line
            .trim()
            .strip_prefix("es-sim listening on ")
            .ok_or_else(|| anyhow!("unexpected es-sim output {line:?}"))?
            .to_string();
        Ok(EsSim {
            child,
            url,
            http: Http::new()?,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn delete_index(&self, index: &str) -> Result<()> {
        let (status, body) = self
            .http
            .send(reqwest::Method::DELETE, &format!("{}/{index}", self.url))?;
        if status != 200 && status != 404 {
            bail!("DELETE {index}: {status} {body}");
        }
        Ok(())
    }

    fn count(&self, index: &str) -> Result<u64> {
        let (status, body) = self.http.send(
            reqwest::Method::GET,
            &format!("{}/{index}/_count", self.url),
        )?;
        if status != 200 {
            bail!("GET {index}/_count: {status} {body}");
        }
        let v: serde_json::Value = serde_json::from_str(&body).context("decoding _count")?;
        v["count"]
            .as_u64()
            .ok_or_else(|| anyhow!("no count in {body}"))
    }

    /// `_source` of one document (without the sync stamp), if present.
    fn source(&self, index: &str, id: &str) -> Result<Option<serde_json::Value>> {
        let (status, body) = self.http.send(
            reqwest::Method::GET,
            &format!("{}/{index}/_doc/{id}", self.url),
        )?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            bail!("GET {index}/_doc/{id}: {status} {body}");
        }
        let v: serde_json::Value = serde_json::from_str(&body).context("decoding _doc")?;
        let mut src = v.get("_source").cloned().unwrap_or_default();
        if let Some(m) = src.as_object_mut() {
            m.remove(tributary_sync::SYNC_STAMP_FIELD);
            m.remove("_timestamp");
        }
        Ok(Some(src))
    }

    /// A 2xx answer's JSON, else an error naming the call.
    fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let what = format!("{method} {path}");
        let (status, text) = self
            .http
            .send_json(method, &format!("{}{path}", self.url), body)?;
        if !(200..300).contains(&status) {
            bail!("{what}: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("decoding the answer to {what}"))
    }

    /// es-sim's current RSS, MiB.
    fn rss_mib(&self) -> Option<f64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
    }
}

impl Drop for EsSim {
    fn drop(&mut self) {
        // Closing stdin stops the in-binary server; the es-sim binary waits for a signal.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bench {
    exe: PathBuf,
    args: AllArgs,
    es: EsSim,
    results: Results,
    seq: u32,
}

impl Bench {
    fn spec(
        &self,
        kind: Kind,
        rows: u64,
        batch: u32,
        index: Option<String>,
        job: &str,
    ) -> WorkerSpec {
        WorkerSpec {
            kind,
            pg: self.args.pg.clone(),
            table: datagen::table_name(rows),
            batch_size: batch,
            es_url: Some(self.es.url.clone()),
            es_username: ES_USER.into(),
            es_password: ES_PASSWORD.into(),
            index,
            job_id: job.to_string(),
            plugins_dir: self.args.plugins.clone(),
            pool: 2000,
            docs: rows,
            bulk_max_docs: self.args.bulk_max_docs,
            bulk_concurrency: self.args.bulk_concurrency,
            pipeline: self.args.pipeline.clone(),
            mysql: None,
        }
    }

    fn fresh_index(&mut self, what: &str, rows: u64) -> String {
        self.seq += 1;
        format!(
            "bench-{what}-{}-{}",
            human_rows(rows).to_lowercase(),
            self.seq
        )
    }

    /// Runs one worker, records it, prints a line.
    fn measure(&mut self, key: &str, label: &str, spec: WorkerSpec, rows: u64) -> Run {
        eprintln!(
            "bench: {label} — {} rows, batch {}",
            human_rows(rows),
            spec.batch_size
        );
        let res = measure::run_child(&self.exe, &spec, Some(self.es.pid()));
        let run = match res {
            Ok((out, cost)) => to_run(key, label, rows, spec.batch_size, &out, &cost),
            Err(e) => failed_run(key, label, rows, spec.batch_size, &format!("{e:#}")),
        };
        self.print(&run);
        self.results.runs.push(run.clone());
        run
    }

    fn print(&self, run: &Run) {
        if run.result == "ok" {
            eprintln!(
                "bench:   {:.0} docs/s, {:.1} MB/s, wall {:.2} s, CPU {:.2} s, peak RSS {:.0} MiB{}",
                run.docs_per_s(),
                run.mb_per_s(),
                run.wall_s,
                run.cpu_s(),
                run.peak_rss_mib,
                self.es.rss_mib().map_or(String::new(), |m| format!(", es-sim RSS {m:.0} MiB")),
            );
        } else {
            eprintln!("bench:   FAILED: {}", run.result);
        }
    }
}

fn to_run(
    key: &str,
    label: &str,
    rows: u64,
    batch: u32,
    out: &WorkerOutput,
    cost: &ChildCost,
) -> Run {
    Run {
        key: key.into(),
        label: label.into(),
        rows,
        batch_size: batch,
        docs: out.docs,
        bytes: out.bytes,
        wall_s: out.work_s,
        process_wall_s: cost.process_wall_s,
        user_s: cost.user_s,
        sys_s: cost.sys_s,
        peak_rss_mib: cost.peak_rss_mib,
        es_sim_cpu_s: cost.es_sim_cpu_s,
        machine_busy: cost.machine_busy,
        wasm_memory_mib: out.wasm_memory_bytes.map(|b| b as f64 / 1048576.0),
        indexed: out.indexed,
        deleted: out.deleted,
        errors: out.errors,
        index_count: out.index_count,
        result: if out.result == "ok" && out.errors > 0 {
            format!("{} item errors", out.errors)
        } else {
            out.result.clone()
        },
    }
}

fn failed_run(key: &str, label: &str, rows: u64, batch: u32, why: &str) -> Run {
    let mut r = to_run(
        key,
        label,
        rows,
        batch,
        &WorkerOutput::default(),
        &ChildCost {
            process_wall_s: 0.0,
            user_s: 0.0,
            sys_s: 0.0,
            peak_rss_mib: 0.0,
            es_sim_cpu_s: None,
            machine_busy: None,
        },
    );
    r.result = why.to_string();
    r
}

fn machine(pg_version: String) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| "Linux".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu,
        memory_gib: mem_kb / 1048576.0,
        kernel,
        postgresql: pg_version,
        load_avg_at_start: load,
    }
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400) - 10_957;
    let (y, m, d) = tributary_codec::civil_from_pg_days(days);
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        t / 3600,
        t / 60 % 60
    )
}

fn all(args: AllArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locating tributary-bench")?;
    let mut sizes = args.sizes.clone();
    if args.with_5m && !sizes.contains(&5_000_000) {
        sizes.push(5_000_000);
    }
    sizes.sort_unstable();
    sizes.dedup();
    let largest = *sizes.last().ok_or_else(|| anyhow!("no --sizes"))?;

    // Tables.
    let rt = runtime()?;
    let (tables, pg_version) = rt.block_on(async {
        datagen::ensure_database(&args.pg).await?;
        let client = datagen::connect(&args.pg, &args.pg.dbname).await?;
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .context("reading the server version")?
            .get(0);
        let mut tables = Vec::new();
        for &n in &sizes {
            tables.push(datagen::ensure_table(&client, n).await?);
        }
        Ok::<_, anyhow::Error>((
            tables,
            format!(
                "PostgreSQL {}",
                version.split_whitespace().next().unwrap_or(&version)
            ),
        ))
    })?;
    let wasm = args.plugins.join("postgresql.wasm");
    let have_wasm = wasm.is_file();

    let es = EsSim::start(&exe)?;
    eprintln!("bench: es-sim at {} (pid {})", es.url, es.pid());
    let mut b = Bench {
        exe,
        args: args.clone(),
        es,
        seq: 0,
        results: Results {
            started_at: now_utc(),
            command: "cargo xtask bench".into(),
            machine: machine(pg_version),
            wasm_path: "(b) runs the real plugin runtime in-process (`PluginRuntime::load_file` → `LoadedPlugin::start_sync` → \
                        `run_sync` with the Elasticsearch client), in a child process of its own whose peak RSS is reported."
                .into(),
            tables,
            runs: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        },
    };
    if have_wasm {
        // A service compiles a plugin once into its on-disk cache; every later start loads it
        // warm. Do the cold compile here, outside any measured process, so (b) measures a sync
        // and not cranelift (whose peak memory would otherwise land in the first run's RSS).
        // In a child process too: a spawned child's `ru_maxrss` starts from this process's
        // peak (exec keeps the old image's high-water mark), so compiling here would raise
        // the RSS of every run after it.
        let started = std::time::Instant::now();
        let status = Command::new(&b.exe)
            .arg("warm-cache")
            .arg("--plugins")
            .arg(&args.plugins)
            .status()
            .context("starting the plugin cache warm-up")?;
        if !status.success() {
            bail!("warming the plugin cache failed ({status})");
        }
        b.results.notes.push(format!(
            "Plugin cache prepared before the runs in {:.2} s (a cold start compiles; the measured runs load warm).",
            started.elapsed().as_secs_f64()
        ));
    }
    if !have_wasm {
        b.results.notes.push(format!(
            "{} missing: the (b) and plugin runs were skipped (run `cargo xtask build`).",
            wasm.display()
        ));
    }

    for &n in &sizes {
        let batch = args.batch;
        // (c) parts alone.
        let spec = b.spec(Kind::PgRead, n, batch, None, "pg-read");
        b.measure("c-pg-read", "(c) PostgreSQL read only (native)", spec, n);
        let index = b.fresh_index("bulk", n);
        let spec = b.spec(Kind::BulkOnly, n, batch, Some(index.clone()), "bulk-only");
        b.measure(
            "c-bulk-only",
            "(c) es-sim bulk ingest only (pre-built docs)",
            spec,
            n,
        );
        b.es.delete_index(&index)?;

        // (a) native baseline.
        let native_index = b.fresh_index("native", n);
        let spec = b.spec(
            Kind::NativeSync,
            n,
            batch,
            Some(native_index.clone()),
            &format!("native-{n}"),
        );
        b.measure("a-native-sync", "(a) native baseline full sync", spec, n);
        let native_sample = sample_documents(&b, &native_index, n);
        b.es.delete_index(&native_index)?;

        // (b) Tributary through postgresql.wasm.
        if have_wasm {
            let wasm_index = b.fresh_index("wasm", n);
            let spec = b.spec(
                Kind::WasmSync,
                n,
                batch,
                Some(wasm_index.clone()),
                &format!("wasm-{n}-1"),
            );
            let first = b.measure(
                "b-wasm-sync",
                "(b) Tributary full sync (postgresql.wasm)",
                spec,
                n,
            );
            if first.result == "ok" {
                compare_documents(&mut b, &native_sample, &wasm_index);
            }
            if n == largest && !args.no_resync && first.result == "ok" {
                let spec = b.spec(
                    Kind::WasmSync,
                    n,
                    batch,
                    Some(wasm_index.clone()),
                    &format!("wasm-{n}-2"),
                );
                b.measure(
                    "b2-wasm-resync",
                    "(b2) second full sync, table unchanged",
                    spec,
                    n,
                );
                let table = datagen::table_name(n);
                let pg = args.pg.clone();
                let changed = rt.block_on(async {
                    let c = datagen::connect(&pg, &pg.dbname).await?;
                    datagen::change_one_percent(&c, &table).await
                })?;
                let spec = b.spec(
                    Kind::WasmSync,
                    n,
                    batch,
                    Some(wasm_index.clone()),
                    &format!("wasm-{n}-3"),
                );
                let r = b.measure(
                    "b3-wasm-resync-changed",
                    "(b3) full sync after 1 % of rows changed",
                    spec,
                    n,
                );
                b.results.notes.push(format!(
                    "(b3): {changed} rows ({}) were updated before the run (and restored after); a full \
                     sync re-sends every row (the incremental-cdc scenario measures the incremental one); \
                     {} documents indexed, {} stale deleted.",
                    "every 100th id", r.indexed, r.deleted
                ));
                let restored = rt.block_on(async {
                    let c = datagen::connect(&pg, &pg.dbname).await?;
                    datagen::restore_changed(&c, &table).await
                });
                if let Err(e) = restored {
                    // The table keeps 1 % changed rows; the measurements stand.
                    eprintln!("bench: {e:#}");
                    b.results
                        .notes
                        .push(format!("restoring the changed rows failed: {e:#}"));
                }
            }
            b.es.delete_index(&wasm_index)?;
            // The binary last, with es-sim holding what it held for (a) and (b).
            if args.tributary.is_file() {
                let cli_index = b.fresh_index("cli", n);
                let r = real_sync(
                    &mut b,
                    n,
                    &cli_index,
                    "b-cli-sync",
                    "(b) Tributary full sync, `tributary sync` binary",
                );
                if let Err(e) = r {
                    b.results
                        .notes
                        .push(format!("`tributary sync` run at {}: {e:#}", human_rows(n)));
                }
                b.es.delete_index(&cli_index)?;
            }
        }
    }

    // Issue 2 micro benchmark: no Elasticsearch.
    if !args.no_micro {
        let n = largest;
        for &bs in &args.micro_batches {
            let spec = b.spec(Kind::NativeJson, n, bs, None, "native-json");
            b.measure(
                "m-native-json",
                "micro: native read + JSON (no ES)",
                spec,
                n,
            );
            if have_wasm {
                let spec = b.spec(Kind::WasmExtract, n, bs, None, "wasm-extract");
                b.measure(
                    "m-wasm-extract",
                    "micro: postgresql.wasm + JSON (no ES, in-process)",
                    spec,
                    n,
                );
            }
        }
        if have_wasm && args.tributary.is_file() {
            real_extract(&mut b, n)?;
        }
    }

    b.results.derive_checks();
    let md = b.results.markdown();
    println!("{md}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&b.results).context("encoding results")?;
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("bench: wrote {}", args.out.display());
    if !args.no_readme {
        let readme = std::fs::read_to_string(&args.readme)
            .with_context(|| format!("reading {}", args.readme.display()))?;
        let updated = report::replace_section(&readme, &b.results.readme_section());
        std::fs::write(&args.readme, updated)
            .with_context(|| format!("writing {}", args.readme.display()))?;
        eprintln!(
            "bench: updated the Benchmarks section of {}",
            args.readme.display()
        );
    }
    Ok(())
}

/// Checks on a sample of ids that (a) and (b) indexed the same documents.
/// What (a) indexed for a few ids across the table, and its count: taken before
/// (a)'s index is deleted, so (b) starts with es-sim holding what (a) started with
/// (es-sim's memory growing under (b) alone cost its ingest ~25 % more CPU).
struct Sample {
    rows: u64,
    ids: Vec<String>,
    sources: Vec<Result<Option<serde_json::Value>, String>>,
    count: Option<u64>,
}

fn sample_documents(b: &Bench, index: &str, rows: u64) -> Sample {
    let table = datagen::table_name(rows);
    let db = &b.args.pg.dbname;
    let ids: Vec<String> = [1, 2, 50, 100, rows / 2, rows]
        .into_iter()
        .filter(|&i| i >= 1 && i <= rows)
        .map(|i| format!("{db}_{}_{table}_{i}", datagen::SCHEMA))
        .collect();
    let sources = ids
        .iter()
        .map(|id| b.es.source(index, id).map_err(|e| format!("{e:#}")))
        .collect();
    Sample {
        rows,
        ids,
        sources,
        count: b.es.count(index).ok(),
    }
}

fn compare_documents(b: &mut Bench, native: &Sample, wasm_index: &str) {
    let mut same = 0;
    let mut diffs = Vec::new();
    for (id, a) in native.ids.iter().zip(&native.sources) {
        match (a, b.es.source(wasm_index, id)) {
            (Ok(Some(a)), Ok(Some(w))) if *a == w => same += 1,
            (Ok(a), Ok(w)) => diffs.push(format!(
                "{id}: native {} / wasm {}",
                a.as_ref().map_or("missing".into(), |v| v.to_string()),
                w.map_or("missing".into(), |v| v.to_string())
            )),
            (Err(e), _) => diffs.push(format!("{id}: {e}")),
            (_, Err(e)) => diffs.push(format!("{id}: {e:#}")),
        }
    }
    let counts = (native.count, b.es.count(wasm_index).ok());
    let rows = native.rows;
    let note = if diffs.is_empty() {
        format!(
            "{}: (a) and (b) indexed identical `_source` for the {same} sampled ids (sync stamp and `_timestamp` aside); counts {:?} / {:?}.",
            human_rows(rows), counts.0, counts.1
        )
    } else {
        let first: String = diffs[0].chars().take(1500).collect();
        format!(
            "{}: (a) and (b) documents DIFFER for {} of {} sampled ids, e.g. {first}",
            human_rows(rows),
            diffs.len(),
            native.ids.len()
        )
    };
    eprintln!("bench: {note}");
    b.results.notes.push(note);
}

/// (b) through the real binary: `tributary sync --config config.yml --connector-id ID`
/// against a connector registered in es-sim; the binary's own rusage is measured.
fn real_sync(b: &mut Bench, rows: u64, index: &str, key: &str, label: &str) -> Result<Run> {
    real_sync_job(b, rows, index, key, label, &[0]).map(|(run, _, _)| run)
}

/// [`real_sync`] accepting any of `exit_codes`; also returns the job document and
/// the exit status.
fn real_sync_job(
    b: &mut Bench,
    rows: u64,
    index: &str,
    key: &str,
    label: &str,
    exit_codes: &[i32],
) -> Result<(Run, serde_json::Value, i32)> {
    use reqwest::Method;
    let connector = format!("bench-{}", index.trim_start_matches("bench-"));
    b.es.ok(
        Method::PUT,
        &format!("/_connector/{connector}"),
        Some(serde_json::json!({"name": "Tributary bench", "index_name": index, "service_type": "postgresql"})),
    )?;
    let values = worker::plugin_values(&b.args.pg, &datagen::table_name(rows), b.args.batch);
    // The schema as the service registers it (`plugins inspect`), with our values.
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
    let mut schema: serde_json::Value =
        serde_json::from_slice(&inspect.stdout).context("decoding the configuration schema")?;
    let fields = schema
        .as_object_mut()
        .ok_or_else(|| anyhow!("the configuration schema is not an object"))?;
    for (k, v) in &values {
        if let Some(f) = fields.get_mut(k).and_then(|f| f.as_object_mut()) {
            f.insert("value".into(), v.clone());
        }
    }
    // The Connector API (and es-sim) knows `textbox`, not `text`.
    for f in fields.values_mut() {
        if f.get("display").and_then(|d| d.as_str()) == Some("text") {
            f["display"] = serde_json::Value::from("textbox");
        }
    }
    b.es.ok(
        Method::PUT,
        &format!("/_connector/{connector}/_configuration"),
        Some(serde_json::json!({ "configuration": schema })),
    )?;
    let dir = b
        .args
        .out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "elasticsearch:\n  host: {}\n  username: {ES_USER}\n  password: {ES_PASSWORD}\n\
             sync:\n  bulk_max_docs: {}\n  bulk_concurrency: {}\n\
             connectors:\n  - connector_id: {connector}\n    service_type: postgresql\n",
            b.es.url, b.args.bulk_max_docs, b.args.bulk_concurrency
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    eprintln!("bench: {label} — {} rows", human_rows(rows));
    let mut cmd = Command::new(&b.args.tributary);
    cmd.arg("sync")
        .arg("--config")
        .arg(&config)
        .arg("--plugins")
        .arg(postgresql_only(&b.args.plugins)?)
        .args(["--connector-id", &connector, "--quiet"]);
    let started = std::time::Instant::now();
    let mut job_doc = serde_json::Value::Null;
    let mut exit = -1;
    let run = match measure::run_command_exiting(&mut cmd, Some(b.es.pid()), exit_codes) {
        Ok((_, _, cost, code)) => {
            exit = code;
            let wall = started.elapsed().as_secs_f64();
            let jobs = b.es.ok(
                Method::GET,
                &format!("/_connector/_sync_job?connector_id={connector}&size=100"),
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
            job_doc = job.clone();
            let indexed = job["indexed_document_count"].as_u64().unwrap_or(0);
            let volume_mib = job["indexed_document_volume"].as_u64().unwrap_or(0);
            let status = job["status"].as_str().unwrap_or("unknown").to_string();
            let out = WorkerOutput {
                docs: indexed,
                bytes: volume_mib * 1024 * 1024,
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
            to_run(key, label, rows, b.args.batch, &out, &cost)
        }
        Err(e) => failed_run(key, label, rows, b.args.batch, &format!("{e:#}")),
    };
    b.print(&run);
    b.results.runs.push(run.clone());
    Ok((run, job_doc, exit))
}

/// `tributary extract postgresql --plugins DIR --values FILE > (counted)`: the real binary.
fn real_extract(b: &mut Bench, rows: u64) -> Result<()> {
    let values = worker::plugin_values(&b.args.pg, &datagen::table_name(rows), b.args.batch);
    let dir = b
        .args
        .out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("extract-values.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&values).context("encoding values")?,
    )
    .with_context(|| format!("writing {}", file.display()))?;
    let label = "micro: `tributary extract` binary (NDJSON to a pipe)";
    eprintln!("bench: {label} — {} rows", human_rows(rows));
    let mut cmd = Command::new(&b.args.tributary);
    cmd.args(["extract", "postgresql", "--plugins"])
        .arg(postgresql_only(&b.args.plugins)?)
        .arg("--values")
        .arg(&file)
        .args(["--batch-size", &b.args.batch.to_string()]);
    let started = std::time::Instant::now();
    let run = match measure::run_command(&mut cmd, Some(b.es.pid())) {
        Ok((lines, bytes, cost)) => {
            let out = WorkerOutput {
                docs: lines,
                bytes,
                work_s: started.elapsed().as_secs_f64(),
                result: "ok".into(),
                ..Default::default()
            };
            to_run("m-real-extract", label, rows, b.args.batch, &out, &cost)
        }
        Err(e) => failed_run(
            "m-real-extract",
            label,
            rows,
            b.args.batch,
            &format!("{e:#}"),
        ),
    };
    b.print(&run);
    b.results.runs.push(run);
    Ok(())
}
