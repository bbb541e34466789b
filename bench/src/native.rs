//! The native (no-WASM) pipeline: tokio-postgres streaming through a server-side
//! cursor, PostgreSQL's binary values turned into [`Document`]s shaped exactly like
//! the PostgreSQL plugin's (ids `<db>_<schema>_<table>_<pk>`, fields
//! `lower(<schema>_<table>_<column>)`, plus `table`, `schema`, `database`, the same
//! lossless JSON types).
//!
//! The session mirrors the host's PostgreSQL capability: one `REPEATABLE READ READ
//! ONLY` transaction, `DECLARE … NO SCROLL CURSOR`, a prepared `FETCH FORWARD n`
//! read with `query_raw` in binary format.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Statement};
use tributary_sync::document::{write_str, write_value, Document, Operation, Value};
use tributary_sync::{DocumentSource, SourceError};

/// A column value exactly as PostgreSQL sent it (binary format).
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How one table's rows become documents.
#[derive(Debug, Clone)]
pub struct Shaper {
    /// `<database>_<schema>_<table>_`.
    id_prefix: String,
    /// Positions of the primary-key columns, in key order.
    pk: Vec<usize>,
    /// Column fields, then `table`, `schema`, `database`.
    fields: Arc<[Arc<str>]>,
    types: Vec<Type>,
    extras: [Value; 3],
    /// `_timestamp` of every document (the plugin's: the sync's start, as text).
    pub timestamp: Option<String>,
}

impl Shaper {
    /// `columns` are the result columns (name, type) in order; `pk` the key column names.
    pub fn new(
        database: &str,
        schema: &str,
        table: &str,
        columns: &[(String, Type)],
        pk: &[String],
    ) -> Result<Self> {
        let mut fields: Vec<Arc<str>> = columns
            .iter()
            .map(|(c, _)| Arc::from(format!("{schema}_{table}_{c}").to_lowercase()))
            .collect();
        for f in ["table", "schema", "database"] {
            fields.push(Arc::from(f));
        }
        let pk = pk
            .iter()
            .map(|k| {
                columns
                    .iter()
                    .position(|(c, _)| c == k)
                    .ok_or_else(|| anyhow!("primary key column {k} is not in the result"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Shaper {
            id_prefix: format!("{database}_{schema}_{table}_"),
            pk,
            fields: fields.into(),
            types: columns.iter().map(|(_, t)| t.clone()).collect(),
            extras: [
                Value::Text(table.to_string()),
                Value::Text(schema.to_string()),
                Value::Text(database.to_string()),
            ],
            timestamp: None,
        })
    }

    /// One document from one row of binary values.
    pub fn document(&self, raw: &[Option<&[u8]>]) -> Result<Document> {
        let mut values = Vec::with_capacity(self.fields.len());
        for (ty, r) in self.types.iter().zip(raw) {
            values.push(match r {
                None => Value::Null,
                Some(b) => to_value(ty, b)?,
            });
        }
        let mut id = self.id_prefix.clone();
        let mut first = true;
        for &k in &self.pk {
            let text = match &values[k] {
                Value::Null | Value::Absent => continue,
                Value::I64(v) => v.to_string(),
                Value::U64(v) => v.to_string(),
                Value::Text(s) | Value::Number(s) | Value::Json(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::F64(f) => f.to_string(),
            };
            if !first {
                id.push('_');
            }
            first = false;
            id.push_str(&text);
        }
        values.extend(self.extras.iter().cloned());
        Ok(Document {
            id,
            operation: Operation::Index,
            timestamp: self.timestamp.clone(),
            fields: self.fields.clone(),
            values,
        })
    }
}

fn be_i16(b: &[u8], at: usize) -> Result<i16> {
    b.get(at..at + 2)
        .map(|s| i16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| anyhow!("value truncated"))
}

fn be_i32(b: &[u8], at: usize) -> Result<i32> {
    b.get(at..at + 4)
        .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| anyhow!("value truncated"))
}

fn be_i64(b: &[u8], at: usize) -> Result<i64> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(i64::from_be_bytes)
        .ok_or_else(|| anyhow!("value truncated"))
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| anyhow!("text is not UTF-8"))
}

/// One binary value → the plugin's lossless JSON value.
pub fn to_value(ty: &Type, b: &[u8]) -> Result<Value> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(b.first().copied().unwrap_or(0) != 0),
        Type::INT2 => Value::I64(be_i16(b, 0)? as i64),
        Type::INT4 => Value::I64(be_i32(b, 0)? as i64),
        Type::INT8 => Value::I64(be_i64(b, 0)?),
        Type::FLOAT4 => Value::F64(f32::from_bits(be_i32(b, 0)? as u32) as f64),
        Type::FLOAT8 => Value::F64(f64::from_bits(be_i64(b, 0)? as u64)),
        Type::NUMERIC => {
            // The capability's own decoding: the baseline prices the sandbox, not
            // a different numeric routine.
            let mut t = String::with_capacity(24);
            tributary_capability_postgresql::numeric_text(b, &mut t)
                .map_err(|e| anyhow!("{}", e.message))?;
            if t.ends_with(|c: char| c.is_ascii_digit()) {
                Value::Number(t)
            } else {
                Value::Text(t)
            }
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Value::Text(utf8(b)?),
        Type::JSON => Value::Json(utf8(b)?),
        Type::JSONB => match b.split_first() {
            Some((1, rest)) => Value::Json(utf8(rest)?),
            _ => bail!("unknown jsonb version"),
        },
        Type::TIMESTAMPTZ => Value::Text(tributary_codec::TimestampTz(be_i64(b, 0)?).to_string()),
        Type::TIMESTAMP => Value::Text(tributary_codec::Timestamp(be_i64(b, 0)?).to_string()),
        Type::DATE => Value::Text(tributary_codec::Date(be_i32(b, 0)?).to_string()),
        _ => match ty.kind() {
            tokio_postgres::types::Kind::Array(elem) => {
                let mut out = Vec::with_capacity(b.len() + 16);
                write_array(elem, b, &mut out)?;
                Value::Json(String::from_utf8(out).map_err(|_| anyhow!("array is not UTF-8"))?)
            }
            _ => bail!("type {} is not supported by the native baseline", ty.name()),
        },
    })
}

/// PostgreSQL binary array → JSON array text (nested for several dimensions).
fn write_array(elem: &Type, b: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let ndim = be_i32(b, 0)?;
    if ndim == 0 {
        out.extend_from_slice(b"[]");
        return Ok(());
    }
    if !(1..=6).contains(&ndim) {
        bail!("bad array dimensions");
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for d in 0..ndim as usize {
        dims.push(be_i32(b, 12 + 8 * d)?.max(0) as usize);
    }
    let mut pos = 12 + 8 * ndim as usize;
    write_dim(elem, b, &dims, &mut pos, out)
}

fn write_dim(
    elem: &Type,
    b: &[u8],
    dims: &[usize],
    pos: &mut usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.push(b'[');
    for k in 0..dims[0] {
        if k > 0 {
            out.push(b',');
        }
        if dims.len() > 1 {
            write_dim(elem, b, &dims[1..], pos, out)?;
            continue;
        }
        let len = be_i32(b, *pos)?;
        *pos += 4;
        if len < 0 {
            out.extend_from_slice(b"null");
            continue;
        }
        let v = b
            .get(*pos..*pos + len as usize)
            .ok_or_else(|| anyhow!("array element truncated"))?;
        *pos += len as usize;
        match to_value(elem, v)? {
            Value::Text(s) => write_str(&s, out),
            other => write_value(&other, out),
        }
    }
    out.push(b']');
    Ok(())
}

/// The primary-key columns of `schema.table`, in key order.
pub async fn primary_key(client: &Client, schema: &str, table: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
             ORDER BY array_position(i.indkey, a.attnum)",
            &[&format!("\"{schema}\".\"{table}\"")],
        )
        .await
        .context("reading the primary key")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Streams one table through a server-side cursor. A task of its own runs the
/// FETCHes one batch ahead of the caller (as the host's PostgreSQL capability
/// does), so reading overlaps shaping and encoding: the native pipeline a careful
/// engineer would write, not a strawman.
pub struct Reader {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<tokio_postgres::Row>>>,
    done: bool,
    columns: Vec<(String, Type)>,
    /// Bytes of column values received (the wire payload, without framing).
    pub bytes: u64,
    pub rows: u64,
}

impl Reader {
    /// Opens the transaction and the cursor over `sql`.
    pub async fn open(client: Arc<Client>, sql: &str, batch: u32) -> Result<Self> {
        client
            .batch_execute(
                "SET standard_conforming_strings = on; \
                 BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )
            .await
            .context("opening the read-only transaction")?;
        let stmt = client
            .prepare(sql)
            .await
            .with_context(|| format!("preparing {sql}"))?;
        let columns = stmt
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.type_().clone()))
            .collect();
        client
            .batch_execute(&format!("DECLARE bench_c NO SCROLL CURSOR FOR {sql}"))
            .await
            .context("declaring the cursor")?;
        let fetch = client
            .prepare(&format!("FETCH FORWARD {} FROM bench_c", batch.max(1)))
            .await
            .context("preparing FETCH")?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(read_ahead(client, fetch, tx));
        Ok(Reader {
            rx,
            done: false,
            columns,
            bytes: 0,
            rows: 0,
        })
    }

    pub fn columns(&self) -> &[(String, Type)] {
        &self.columns
    }

    /// Calls `f` with each row's raw values of the next batch; false once exhausted.
    pub async fn next_batch(
        &mut self,
        mut f: impl FnMut(&[Option<&[u8]>]) -> Result<()>,
    ) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let Some(rows) = self.rx.recv().await else {
            self.done = true;
            return Ok(false);
        };
        let rows = rows?;
        let width = self.columns.len();
        let mut raw: Vec<Option<&[u8]>> = Vec::with_capacity(width);
        for row in &rows {
            raw.clear();
            for i in 0..width {
                let r: Raw<'_> = row.try_get(i).context("reading a column")?;
                self.bytes += r.0.map_or(0, |b| b.len() as u64);
                raw.push(r.0);
            }
            f(&raw)?;
        }
        self.rows += rows.len() as u64;
        Ok(true)
    }
}

/// FETCHes until the cursor is exhausted (then closes it) or the reader is gone.
async fn read_ahead(
    client: Arc<Client>,
    fetch: Statement,
    tx: tokio::sync::mpsc::Sender<Result<Vec<tokio_postgres::Row>>>,
) {
    loop {
        let rows = client.query(&fetch, &[]).await.context("FETCH");
        let last = matches!(&rows, Ok(r) if r.is_empty()) || rows.is_err();
        if matches!(&rows, Ok(r) if r.is_empty()) {
            let closed = client
                .batch_execute("CLOSE bench_c; COMMIT")
                .await
                .context("closing the cursor");
            if let Err(e) = closed {
                let _ = tx.send(Err(e)).await;
            }
            return;
        }
        if tx.send(rows).await.is_err() || last {
            return;
        }
    }
}

/// The native [`DocumentSource`]: [`Reader`] + [`Shaper`], one batch per FETCH.
pub struct NativeSource {
    pub reader: Reader,
    shaper: Shaper,
}

impl NativeSource {
    /// Opens the plugin's statement over `schema.table`, with the plugin's preliminary
    /// queries (server clock, commit-timestamp setting, primary key), shaped like the
    /// plugin's documents.
    pub async fn open(
        client: Arc<Client>,
        database: &str,
        schema: &str,
        table: &str,
        batch: u32,
    ) -> Result<Self> {
        let head = client
            .query_one(
                "SELECT now(), current_setting('track_commit_timestamp')",
                &[],
            )
            .await
            .context("reading the server clock")?;
        let now: Raw<'_> = head.try_get(0).context("reading now()")?;
        let now = match now.0 {
            Some(b) => tributary_codec::TimestampTz(be_i64(b, 0)?).to_string(),
            None => String::new(),
        };
        let track: String = head.try_get(1).context("reading track_commit_timestamp")?;
        let pk = primary_key(&client, schema, table).await?;
        if pk.is_empty() {
            bail!("{schema}.{table} has no primary key");
        }
        let mut timestamp = now;
        if track == "on" {
            let row = client
                .query_one(
                    &format!("SELECT max(pg_xact_commit_timestamp(xmin))::text FROM \"{schema}\".\"{table}\""),
                    &[],
                )
                .await
                .context("reading the last commit time")?;
            if let Ok(Some(ts)) = row.try_get::<_, Option<String>>(0) {
                timestamp = ts;
            }
        }
        let sql = select_sql(schema, table, &pk);
        let reader = Reader::open(client, &sql, batch).await?;
        let mut shaper = Shaper::new(database, schema, table, reader.columns(), &pk)?;
        shaper.timestamp = Some(timestamp);
        Ok(NativeSource { reader, shaper })
    }

    /// The next batch of documents.
    pub async fn next_docs(&mut self) -> Result<Option<Vec<Document>>> {
        let mut docs = Vec::with_capacity(1024);
        let shaper = &self.shaper;
        let more = self
            .reader
            .next_batch(|raw| {
                docs.push(shaper.document(raw)?);
                Ok(())
            })
            .await?;
        Ok(if more { Some(docs) } else { None })
    }
}

/// The statement both the native pipeline and the plugin stream.
/// (the plugin orders by the primary key, as Elastic's connector does).
pub fn select_sql(schema: &str, table: &str, pk: &[String]) -> String {
    let order: Vec<String> = pk.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "SELECT * FROM \"{schema}\".\"{table}\" ORDER BY {}",
        order.join(",")
    )
}

#[async_trait]
impl DocumentSource for NativeSource {
    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError> {
        self.next_docs()
            .await
            .map_err(|e| SourceError::Source(format!("{e:#}")))
    }
    async fn cursor(&mut self) -> Result<Option<String>, SourceError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_ids_fields_and_types_like_the_plugin() {
        let cols = vec![
            ("Id".to_string(), Type::INT4),
            ("Title".to_string(), Type::TEXT),
            ("tags".to_string(), Type::TEXT_ARRAY),
            ("attrs".to_string(), Type::JSONB),
        ];
        let s = Shaper::new("db", "public", "Items", &cols, &["Id".to_string()]).unwrap();
        let id = 42i32.to_be_bytes();
        // text[] {"a","b\"c"}: ndim 1, flags 0, oid 25, len 2, lbound 1, elements.
        let mut arr = Vec::new();
        for v in [1i32, 0, 25, 2, 1] {
            arr.extend_from_slice(&v.to_be_bytes());
        }
        for e in ["a", "b\"c"] {
            arr.extend_from_slice(&(e.len() as i32).to_be_bytes());
            arr.extend_from_slice(e.as_bytes());
        }
        let jsonb = b"\x01{\"k\": 1}";
        let doc = s
            .document(&[Some(&id), Some(b"hi"), Some(&arr), Some(jsonb)])
            .unwrap();
        assert_eq!(doc.id, "db_public_Items_42");
        let mut out = Vec::new();
        doc.write_json(&[], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"public_items_id":42,"public_items_title":"hi","public_items_tags":["a","b\"c"],"public_items_attrs":{"k": 1},"table":"Items","schema":"public","database":"db"}"#
        );
    }

    #[test]
    fn timestamps_are_iso_8601_with_offset() {
        // 2020-01-01 00:00:37.000123 UTC = 631152000 s after 2000-01-01 + 37.000123 s
        let us: i64 = 631_152_000 * 1_000_000 + 37_000_123;
        let v = to_value(&Type::TIMESTAMPTZ, &us.to_be_bytes()).unwrap();
        assert_eq!(v, Value::Text("2020-01-01T00:00:37.000123+00:00".into()));
    }
}
