//! `cargo xtask bench mysql` (issue 12): a MariaDB table read by `mysql.wasm`
//! in-process vs a native read of the same rows, both turned into the same JSON
//! lines with no Elasticsearch, so the ratio prices the plugin path alone.
//!
//! The native side is the fastest honest route: `mysql_async` streaming the
//! binary protocol (as the capability does), each value converted straight into a
//! document value with the plugin's type mapping (exact decimals, ISO timestamps,
//! JSON nested), the plugin's ids (`<table>_<pk>`) and its `Table` field.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tributary_codec::{pg_days_from_civil, Timestamp};
use tributary_sync::document::json_text::compact;
use tributary_sync::document::{Document, Operation, Value};
use tributary_sync::{DocumentSource, SourceError};

/// Where the benchmark's MariaDB table lives, and who reads it (over TCP, as a
/// connector would). Created as root over the local socket.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct MyConn {
    #[arg(id = "my_host", long = "my-host", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(id = "my_port", long = "my-port", default_value_t = 3306)]
    pub port: u16,
    #[arg(id = "my_user", long = "my-user", default_value = "tributary_bench")]
    pub user: String,
    #[arg(
        id = "my_password",
        long = "my-password",
        default_value = "tributary-bench"
    )]
    pub password: String,
    #[arg(
        id = "my_database",
        long = "my-database",
        default_value = "tributary_bench"
    )]
    pub database: String,
}

/// Bump when the generated table changes, so an old one is not reused.
const GENERATOR_VERSION: u32 = 1;

pub fn table_name(rows: u64) -> String {
    format!("bench_{rows}")
}

/// Runs SQL as root over the local socket (`mysql -uroot`), returning stdout.
fn root_sql(sql: &str) -> Result<String> {
    let out = std::process::Command::new("mysql")
        .args(["-uroot", "--protocol=socket", "-N", "-B", "-e", sql])
        .output()
        .context("running the mysql client (is MariaDB installed and running?)")?;
    if !out.status.success() {
        bail!(
            "mysql -uroot failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes sure the database, the read-only user and `bench_<rows>` exist; returns
/// (table, generated seconds, reused).
pub fn ensure_table(my: &MyConn, rows: u64) -> Result<(String, f64, bool)> {
    let db = &my.database;
    let table = table_name(rows);
    root_sql(&format!(
        "CREATE DATABASE IF NOT EXISTS `{db}`; \
         CREATE USER IF NOT EXISTS '{u}'@'127.0.0.1' IDENTIFIED BY '{p}'; \
         GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{u}'@'127.0.0.1';",
        u = my.user,
        p = my.password
    ))?;
    let marker = format!("tributary-bench v{GENERATOR_VERSION} rows={rows}");
    let comment = root_sql(&format!(
        "SELECT TABLE_COMMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}'"
    ))?;
    if comment.trim() == marker {
        return Ok((table, 0.0, true));
    }
    eprintln!("bench: generating {db}.{table} ({rows} rows, MariaDB's sequence engine)");
    let started = std::time::Instant::now();
    // The same shape as the PostgreSQL table: text of varied length (every 50th
    // row with quotes, a newline, a tab and accents), NULLs, an exact decimal, a
    // datetime with microseconds, a JSON object.
    let lorem = crate::datagen::LOREM.replace('\'', "''");
    let ll = crate::datagen::LOREM.len();
    root_sql(&format!(
        "USE `{db}`; \
         DROP TABLE IF EXISTS `{db}`.`{table}`; \
         CREATE TABLE `{db}`.`{table}` ( \
           id INT NOT NULL PRIMARY KEY, \
           title VARCHAR(255) NOT NULL, \
           body TEXT NOT NULL, \
           summary TEXT NULL, \
           price DECIMAL(14,4) NOT NULL, \
           updated_at DATETIME(6) NOT NULL, \
           attrs JSON NOT NULL \
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='{marker}'; \
         SET @lorem = '{lorem}'; \
         INSERT INTO `{db}`.`{table}` \
         SELECT seq, \
           CONCAT('Item ', seq, ': ', SUBSTRING(@lorem, 1 + (seq * 7) % 400, 40 + (seq * 13) % 71)), \
           CONCAT(SUBSTRING(CONCAT(@lorem, ' ', @lorem), 1 + (seq * 11) % {ll}, 200 + (seq * 17) % 281), \
                  IF(seq % 50 = 0, ' \\\"quoted\\\"\\n\\tcafé déjà vu', '')), \
           IF(seq % 20 = 0, NULL, SUBSTRING(@lorem, 1 + (seq * 3) % 600, 50 + (seq * 19) % 251)), \
           ROUND(((seq * 7919) % 100000000) / 100 + (seq % 7) * 0.0001, 4), \
           TIMESTAMP('2020-01-01 00:00:00') + INTERVAL (seq * 37000123) MICROSECOND, \
           JSON_OBJECT('sku', CONCAT('SKU-', LPAD(seq, 8, '0')), 'qty', seq % 1000, \
                       'tags', JSON_ARRAY('t', seq % 13), 'active', seq % 3 = 0) \
         FROM seq_1_to_{rows}; \
         ANALYZE TABLE `{db}`.`{table}`;"
    ))
    .with_context(|| format!("generating {db}.{table}"))?;
    Ok((table, started.elapsed().as_secs_f64(), false))
}

/// The MySQL plugin's connector configuration for the benchmark table.
pub fn plugin_values(
    my: &MyConn,
    table: &str,
    batch: u32,
) -> serde_json::Map<String, serde_json::Value> {
    let v = serde_json::json!({
        "host": my.host,
        "port": my.port,
        "user": my.user,
        "password": my.password,
        "database": my.database,
        "tables": table,
        "ssl_enabled": false,
        "ssl_ca": "",
        "fetch_size": batch,
        "retry_count": 3,
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `mysql.wasm` in-process through the real runtime, with the operator's grant.
pub async fn wasm_source(
    my: &MyConn,
    table: &str,
    batch: u32,
    plugins_dir: &std::path::Path,
) -> Result<tributary_runtime::PluginSync> {
    use tributary_runtime::{PluginRuntime, RuntimeConfig, SyncRequest};
    let config = RuntimeConfig {
        mysql: tributary_capability_mysql::MysqlPolicy {
            enabled: true,
            ..Default::default()
        },
        ..RuntimeConfig::default()
    };
    let runtime = PluginRuntime::new(config).map_err(|e| anyhow!("{e}"))?;
    // Only the plugin measured: loading the whole folder would add the other
    // plugins' load time and memory to the run.
    let file = plugins_dir.join("mysql.wasm");
    let plugin = runtime
        .load_file(&file)
        .await
        .map_err(|e| anyhow!("loading {}: {e}", file.display()))?;
    let values = plugin_values(my, table, batch);
    let grants = plugin.grants(runtime.config(), &values, &[]);
    plugin
        .start_sync(&values, SyncRequest::full(batch), &grants)
        .await
        .map_err(|e| anyhow!("starting the mysql plugin sync: {e}"))
}

/// How a column's values become document values (the plugin's mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Int,
    Decimal,
    Double,
    Json,
    Text,
    DateTime,
}

fn plan(c: &mysql_async::Column, json_columns: &HashSet<String>) -> Plan {
    use ColumnType::*;
    match c.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => Plan::Int,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Plan::Decimal,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Plan::Double,
        MYSQL_TYPE_JSON => Plan::Json,
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => Plan::DateTime,
        // Not the binary character set (63): that would be bytes, not text.
        _ if json_columns.contains(&*c.org_name_str()) && c.character_set() != 63 => Plan::Json,
        _ => Plan::Text,
    }
}

fn to_value(plan: Plan, v: mysql_async::Value) -> Value {
    use mysql_async::Value as My;
    match (plan, v) {
        (_, My::NULL) => Value::Null,
        (_, My::Int(i)) => Value::I64(i),
        (_, My::UInt(u)) => Value::U64(u),
        (_, My::Double(d)) => Value::F64(d),
        (_, My::Float(f)) => Value::F64(f.into()),
        (Plan::Decimal, My::Bytes(b)) => Value::Number(String::from_utf8_lossy(&b).into_owned()),
        // Re-encoded compactly, as the host does with a plugin's JSON.
        (Plan::Json, My::Bytes(b)) => {
            let text = String::from_utf8_lossy(&b);
            match compact(&text) {
                Ok(j) => Value::Json(j),
                Err(_) => Value::Text(text.into_owned()),
            }
        }
        (_, My::Bytes(b)) => Value::Text(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        (_, My::Date(y, mo, d, h, mi, s, us)) => {
            let days = pg_days_from_civil(i64::from(y), u32::from(mo), u32::from(d));
            let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
            Value::Text(Timestamp(secs * 1_000_000 + i64::from(us)).to_string())
        }
        (_, other) => Value::Text(other.as_sql(true)),
    }
}

type Chunk = Result<Vec<mysql_async::Row>, mysql_async::Error>;

/// The native source: one streamed `SELECT * … ORDER BY <pk>`.
pub struct NativeMysqlSource {
    rx: mpsc::Receiver<Chunk>,
    plans: Vec<Plan>,
    fields: Arc<[Arc<str>]>,
    pk: usize,
    id_prefix: String,
    table_value: Value,
    batch: usize,
    carry: std::collections::VecDeque<mysql_async::Row>,
    done: bool,
}

impl NativeMysqlSource {
    pub async fn open(my: &MyConn, table: &str, batch: u32) -> Result<Self> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(my.host.clone())
            .tcp_port(my.port)
            .user(Some(my.user.clone()))
            .pass(Some(my.password.clone()))
            .db_name(Some(my.database.clone()));
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .context("connecting to MariaDB")?;
        // MariaDB's JSON is LONGTEXT with a json_valid() check, as the capability finds it.
        let json_columns: Vec<String> = conn
            .exec(
                "SELECT c.COLUMN_NAME FROM information_schema.COLUMNS c \
                 JOIN information_schema.CHECK_CONSTRAINTS k \
                   ON k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME \
                  AND k.CHECK_CLAUSE LIKE CONCAT('%json_valid(`', c.COLUMN_NAME, '`)%') \
                 WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ?",
                (my.database.clone(), table.to_string()),
            )
            .await
            .context("finding JSON columns")?;
        let json_columns: HashSet<String> = json_columns.into_iter().collect();
        conn.query_drop("SET time_zone = '+00:00'")
            .await
            .context("setting the session time zone")?;
        let stmt = conn
            .prep(format!("SELECT * FROM `{table}` ORDER BY `id`"))
            .await
            .context("preparing the table scan")?;
        let columns = stmt.columns().to_vec();
        let plans: Vec<Plan> = columns.iter().map(|c| plan(c, &json_columns)).collect();
        let mut fields: Vec<Arc<str>> = columns.iter().map(|c| Arc::from(&*c.name_str())).collect();
        fields.push(Arc::from("Table"));
        let pk = columns
            .iter()
            .position(|c| c.name_str() == "id")
            .ok_or_else(|| anyhow!("{table} has no id column"))?;
        let (tx, rx) = mpsc::channel::<Chunk>(4);
        tokio::spawn(async move {
            let run = async {
                let mut result = conn.exec_iter(&stmt, ()).await?;
                let mut chunk = Vec::with_capacity(256);
                while let Some(row) = result.next().await? {
                    chunk.push(row);
                    if chunk.len() == 256 {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(256));
                        if tx.send(Ok(full)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk)).await;
                }
                Ok::<_, mysql_async::Error>(())
            };
            if let Err(e) = run.await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(NativeMysqlSource {
            rx,
            plans,
            fields: fields.into(),
            pk,
            id_prefix: format!("{table}_"),
            table_value: Value::Text(table.to_string()),
            batch: batch.max(1) as usize,
            carry: Default::default(),
            done: false,
        })
    }

    fn document(&self, row: mysql_async::Row) -> Document {
        // `Row::unwrap` hands over the values (it does not panic).
        let raw = row.unwrap();
        let mut id = self.id_prefix.clone();
        let mut values = Vec::with_capacity(raw.len() + 1);
        for (i, (v, p)) in raw.into_iter().zip(&self.plans).enumerate() {
            let v = to_value(*p, v);
            if i == self.pk {
                match &v {
                    Value::I64(n) => id.push_str(&n.to_string()),
                    Value::U64(n) => id.push_str(&n.to_string()),
                    Value::Text(s) | Value::Number(s) => id.push_str(s),
                    _ => {}
                }
            }
            values.push(v);
        }
        values.push(self.table_value.clone());
        Document {
            id,
            operation: Operation::Index,
            timestamp: None,
            fields: self.fields.clone(),
            values,
        }
    }
}

#[async_trait]
impl DocumentSource for NativeMysqlSource {
    async fn cursor(&mut self) -> Result<Option<String>, SourceError> {
        Ok(None)
    }

    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError> {
        while !self.done && self.carry.len() < self.batch {
            match self.rx.recv().await {
                Some(Ok(rows)) => self.carry.extend(rows),
                Some(Err(e)) => return Err(SourceError::Source(format!("reading rows: {e}"))),
                None => self.done = true,
            }
        }
        if self.carry.is_empty() {
            return Ok(None);
        }
        let n = self.batch.min(self.carry.len());
        let docs = self
            .carry
            .drain(..n)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|r| self.document(r))
            .collect();
        Ok(Some(docs))
    }
}
