//! The measured paths. Each runs alone in a child process (`tributary-bench worker
//! --spec JSON`) so its rusage and peak RSS are its own; it prints one
//! `BENCH-RESULT {json}` line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tributary_sync::document::{write_str, Document};
use tributary_sync::{
    run_sync, BulkTarget, DocumentSource, JobType, PipelineSettings, SourceError, SyncJobSpec,
    SyncResult, SyncSettings, SyncStats,
};

use crate::native::{primary_key, select_sql, NativeSource, Reader};
use crate::{datagen, PgConn};

pub const RESULT_PREFIX: &str = "BENCH-RESULT ";

/// Which path a worker measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// (c) PostgreSQL read only: cursor + FETCH, binary values received, nothing built.
    PgRead,
    /// Issue 2 micro benchmark, native side: read + shape + JSON, no sink.
    NativeJson,
    /// Issue 2 micro benchmark, plugin side: postgresql.wasm in-process + JSON, no sink.
    WasmExtract,
    /// (c) es-sim bulk ingest only: pre-built documents through the sync engine and client.
    BulkOnly,
    /// (a) native source → sync engine → Elasticsearch client → es-sim.
    NativeSync,
    /// (b) postgresql.wasm (real runtime, in-process) → sync engine → client → es-sim.
    WasmSync,
    /// Issue 12: MariaDB read natively (mysql_async) + shape + JSON, no sink.
    MysqlNativeJson,
    /// Issue 12: mysql.wasm in-process + JSON, no sink.
    MysqlWasmExtract,
}

/// Everything a worker needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub kind: Kind,
    pub pg: PgConn,
    pub table: String,
    pub batch_size: u32,
    pub es_url: Option<String>,
    pub es_username: String,
    pub es_password: String,
    pub index: Option<String>,
    pub job_id: String,
    pub plugins_dir: PathBuf,
    /// Documents pre-built for [`Kind::BulkOnly`] (cycled with fresh ids).
    pub pool: usize,
    /// How many documents [`Kind::BulkOnly`] sends.
    pub docs: u64,
    pub bulk_max_docs: usize,
    pub bulk_concurrency: usize,
    /// Empty: no ingest pipeline.
    pub pipeline: String,
    /// The MariaDB side of the `mysql` benchmark.
    #[serde(default)]
    pub mysql: Option<crate::mysql::MyConn>,
}

/// What a worker reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerOutput {
    /// Documents (or rows, for `pg-read`) that went through.
    pub docs: u64,
    /// Payload bytes: JSON bodies for document paths, column values for `pg-read`.
    pub bytes: u64,
    /// The measured work (plugin load / connect included, pool building excluded).
    pub work_s: f64,
    /// `VmHWM` at the end, MiB.
    pub vm_hwm_mib: Option<f64>,
    pub indexed: u64,
    pub deleted: u64,
    pub errors: u64,
    /// `_count` of the index at the end of a sync.
    pub index_count: u64,
    /// `ok`, or what failed.
    pub result: String,
    /// Plugin linear memory at the end (bytes), for the WASM paths.
    pub wasm_memory_bytes: Option<u64>,
}

pub fn run(spec_json: &str) -> Result<()> {
    let spec: WorkerSpec = serde_json::from_str(spec_json).context("decoding --spec")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let mut out = rt.block_on(work(&spec))?;
    out.vm_hwm_mib = crate::measure::self_vm_hwm_mib();
    println!(
        "{RESULT_PREFIX}{}",
        serde_json::to_string(&out).context("encoding the result")?
    );
    Ok(())
}

async fn work(spec: &WorkerSpec) -> Result<WorkerOutput> {
    match spec.kind {
        Kind::PgRead => pg_read(spec).await,
        Kind::NativeJson => {
            let started = Instant::now();
            let client = Arc::new(datagen::connect(&spec.pg, &spec.pg.dbname).await?);
            let mut src = NativeSource::open(
                client,
                &spec.pg.dbname,
                datagen::SCHEMA,
                &spec.table,
                spec.batch_size,
            )
            .await?;
            drain_to_json(&mut src, started).await
        }
        Kind::WasmExtract => {
            let started = Instant::now();
            let mut src = wasm_source(spec).await?;
            let mut out = drain_to_json(&mut src, started).await?;
            out.wasm_memory_bytes = Some(src.memory_bytes() as u64);
            Ok(out)
        }
        Kind::BulkOnly => {
            let client = Arc::new(datagen::connect(&spec.pg, &spec.pg.dbname).await?);
            let mut src =
                NativeSource::open(client, &spec.pg.dbname, datagen::SCHEMA, &spec.table, 1000)
                    .await?;
            let mut pool = Vec::with_capacity(spec.pool);
            while pool.len() < spec.pool {
                match src.next_docs().await? {
                    Some(docs) => pool.extend(docs),
                    None => break,
                }
            }
            pool.truncate(spec.pool);
            drop(src);
            if pool.is_empty() {
                bail!("no rows to pre-build documents from");
            }
            let started = Instant::now();
            let mut source = PoolSource {
                pool,
                next: 0,
                total: spec.docs,
                batch: spec.batch_size as u64,
            };
            sync_into(spec, &mut source, started).await
        }
        Kind::NativeSync => {
            let started = Instant::now();
            let client = Arc::new(datagen::connect(&spec.pg, &spec.pg.dbname).await?);
            let mut src = NativeSource::open(
                client,
                &spec.pg.dbname,
                datagen::SCHEMA,
                &spec.table,
                spec.batch_size,
            )
            .await?;
            sync_into(spec, &mut src, started).await
        }
        Kind::WasmSync => {
            let started = Instant::now();
            let mut src = wasm_source(spec).await?;
            let mut out = sync_into(spec, &mut src, started).await?;
            out.wasm_memory_bytes = Some(src.memory_bytes() as u64);
            Ok(out)
        }
        Kind::MysqlNativeJson => {
            let my = spec
                .mysql
                .as_ref()
                .ok_or_else(|| anyhow!("no mysql connection"))?;
            let started = Instant::now();
            let mut src =
                crate::mysql::NativeMysqlSource::open(my, &spec.table, spec.batch_size).await?;
            drain_to_json(&mut src, started).await
        }
        Kind::MysqlWasmExtract => {
            let my = spec
                .mysql
                .as_ref()
                .ok_or_else(|| anyhow!("no mysql connection"))?;
            let started = Instant::now();
            let mut src =
                crate::mysql::wasm_source(my, &spec.table, spec.batch_size, &spec.plugins_dir)
                    .await?;
            let mut out = drain_to_json(&mut src, started).await?;
            out.wasm_memory_bytes = Some(src.memory_bytes() as u64);
            Ok(out)
        }
    }
}

async fn pg_read(spec: &WorkerSpec) -> Result<WorkerOutput> {
    let started = Instant::now();
    let client = Arc::new(datagen::connect(&spec.pg, &spec.pg.dbname).await?);
    let pk = primary_key(&client, datagen::SCHEMA, &spec.table).await?;
    let sql = select_sql(datagen::SCHEMA, &spec.table, &pk);
    let mut reader = Reader::open(client, &sql, spec.batch_size).await?;
    while reader.next_batch(|_| Ok(())).await? {}
    Ok(WorkerOutput {
        docs: reader.rows,
        bytes: reader.bytes,
        work_s: started.elapsed().as_secs_f64(),
        result: "ok".into(),
        ..Default::default()
    })
}

/// The connector configuration values the PostgreSQL plugin gets.
pub fn plugin_values(
    pg: &PgConn,
    table: &str,
    batch: u32,
) -> serde_json::Map<String, serde_json::Value> {
    let v = serde_json::json!({
        "host": pg.host,
        "port": pg.port,
        "username": pg.user,
        // The connector requires a password (as Elastic's does); with trust auth it is unused.
        "password": pg.password.clone().unwrap_or_else(|| "unused-with-trust-auth".into()),
        "database": pg.dbname,
        "schema": datagen::SCHEMA,
        "tables": table,
        "fetch_size": batch,
        "retry_count": 3,
        "ssl_enabled": false,
        "ssl_ca": "",
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

async fn wasm_source(spec: &WorkerSpec) -> Result<tributary_runtime::PluginSync> {
    use tributary_runtime::{PluginRuntime, RuntimeConfig, SyncRequest};
    let runtime = PluginRuntime::new(RuntimeConfig::default()).map_err(|e| anyhow!("{e}"))?;
    // Only the plugin measured: loading the whole folder would add the other
    // plugins' load time and memory to the run.
    let file = spec.plugins_dir.join("postgresql.wasm");
    let plugin = runtime
        .load_file(&file)
        .await
        .map_err(|e| anyhow!("loading {}: {e}", file.display()))?;
    let values = plugin_values(&spec.pg, &spec.table, spec.batch_size);
    let grants = plugin.grants(runtime.config(), &values, &[]);
    plugin
        .start_sync(&values, SyncRequest::full(spec.batch_size), &grants)
        .await
        .map_err(|e| anyhow!("starting the plugin sync: {e}"))
}

/// Encodes a document the way `tributary extract` writes a line: `_id` then the body.
pub fn encode_line(doc: &Document, buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"{\"_id\":");
    write_str(&doc.id, buf);
    buf.push(b',');
    let start = buf.len();
    doc.write_json(&[], buf);
    // Splice the body's members after `_id` (drop its opening brace).
    buf.remove(start);
    if buf.len() == start + 1 {
        // Empty body: `{"_id":"x",}` → `{"_id":"x"}`.
        buf.truncate(start - 1);
        buf.push(b'}');
    }
    buf.push(b'\n');
}

async fn drain_to_json(src: &mut dyn DocumentSource, started: Instant) -> Result<WorkerOutput> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut docs = 0u64;
    let mut bytes = 0u64;
    while let Some(batch) = src.next_batch().await.map_err(|e| anyhow!("{e}"))? {
        for d in &batch {
            encode_line(d, &mut buf);
        }
        docs += batch.len() as u64;
        bytes += buf.len() as u64;
        buf.clear();
    }
    Ok(WorkerOutput {
        docs,
        bytes,
        work_s: started.elapsed().as_secs_f64(),
        result: "ok".into(),
        ..Default::default()
    })
}

pub fn es_client(
    url: &str,
    username: &str,
    password: &str,
) -> Result<tributary_elasticsearch::Client> {
    let cfg = tributary_elasticsearch::ClientConfig {
        host: url.to_string(),
        username: username.to_string(),
        password: password.to_string(),
        ..Default::default()
    };
    tributary_elasticsearch::Client::new(&cfg)
        .map_err(|e| anyhow!("building the Elasticsearch client: {e}"))
}

async fn sync_into(
    spec: &WorkerSpec,
    source: &mut dyn DocumentSource,
    started: Instant,
) -> Result<WorkerOutput> {
    let url = spec.es_url.as_deref().ok_or_else(|| anyhow!("no es_url"))?;
    let index = spec.index.clone().ok_or_else(|| anyhow!("no index"))?;
    let target: Arc<dyn BulkTarget> =
        Arc::new(es_client(url, &spec.es_username, &spec.es_password)?);
    let settings = SyncSettings {
        bulk_max_docs: spec.bulk_max_docs,
        bulk_concurrency: spec.bulk_concurrency,
        ..SyncSettings::default()
    };
    let job = SyncJobSpec {
        job_id: spec.job_id.clone(),
        connector_id: String::new(),
        index_name: index,
        job_type: JobType::Full,
        pipeline: PipelineSettings {
            name: spec.pipeline.clone(),
            ..PipelineSettings::default()
        },
        basic_rules: Vec::new(),
        settings,
    };
    let (progress, _rx) = watch::channel(SyncStats::default());
    let cancel = CancellationToken::new();
    let outcome = run_sync(&job, source, target, &progress, &cancel).await;
    let work_s = started.elapsed().as_secs_f64();
    let s = &outcome.stats;
    Ok(WorkerOutput {
        docs: s.indexed_document_count,
        bytes: s.indexed_document_bytes,
        work_s,
        indexed: s.indexed_document_count,
        deleted: s.deleted_document_count,
        errors: s.error_count,
        index_count: s.total_document_count,
        result: match outcome.result {
            SyncResult::Ok => "ok".into(),
            SyncResult::Canceled => "canceled".into(),
            SyncResult::Failed(r) => r,
        },
        ..Default::default()
    })
}

/// Pre-built documents, cycled with fresh ids: the sink alone, no PostgreSQL.
struct PoolSource {
    pool: Vec<Document>,
    next: u64,
    total: u64,
    batch: u64,
}

#[async_trait]
impl DocumentSource for PoolSource {
    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError> {
        if self.next >= self.total {
            return Ok(None);
        }
        let n = self.batch.max(1).min(self.total - self.next);
        let mut out = Vec::with_capacity(n as usize);
        for k in 0..n {
            let i = self.next + k;
            let mut d = self.pool[(i % self.pool.len() as u64) as usize].clone();
            d.id = format!("pool_{i}");
            out.push(d);
        }
        self.next += n;
        Ok(Some(out))
    }
    async fn cursor(&mut self) -> Result<Option<String>, SourceError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sync::document::{Operation, Value};

    #[test]
    fn extract_line_puts_id_first() {
        let fields: Vec<Arc<str>> = vec![Arc::from("a")];
        let d = Document {
            id: "x_1".into(),
            operation: Operation::Index,
            timestamp: None,
            fields: fields.into(),
            values: vec![Value::I64(1)],
        };
        let mut buf = Vec::new();
        encode_line(&d, &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"_id\":\"x_1\",\"a\":1}\n"
        );
        let empty = Document {
            values: vec![Value::Absent],
            ..d
        };
        let mut buf = Vec::new();
        encode_line(&empty, &mut buf);
        assert_eq!(String::from_utf8(buf).unwrap(), "{\"_id\":\"x_1\"}\n");
    }
}
