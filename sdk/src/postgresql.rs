//! The PostgreSQL capability, and PostgreSQL value → document value / JSON.
//!
//! The host opens the connection from the connector's configuration (the plugin
//! never sees the password). Discovery and table scans are structured calls — the
//! host writes and quotes the SQL — and [`Session::query`] takes one read
//! statement, which the host checks with PostgreSQL's own parser against an
//! allow-list (one `SELECT`, side-effect-free built-in functions, no system
//! catalogs that hold secrets). Rows arrive packed in one buffer per batch (the
//! `tributary-codec` format) and are decoded here without copies.
//!
//! ```no_run
//! use tributary_sdk::postgresql::{self, Param};
//! # fn run() -> Result<(), tributary_sdk::postgresql::PgError> {
//! let session = postgresql::connect()?;
//! for table in session.list_tables("public", false)? {
//!     let key = session.primary_key("public", &table.name)?;
//!     let mut rows = session.scan("public", &table.name, &key)?;
//!     while let Some(batch) = rows.next_batch(1000)? {
//!         for row in batch.rows() {
//!             let value = postgresql::to_value(&row?[0]);
//!             # let _ = value;
//!         }
//!     }
//! }
//! let mut rows = session.query("SELECT id, title FROM album WHERE id > $1 ORDER BY id", &[Param::Int(10)])?;
//! # let _ = rows.next_batch(10)?;
//! # Ok(()) }
//! ```

pub mod changes;

use tributary_codec::{doc_value, Decoder, DocValue, Value as PgValue};

use crate::__bindings::tributary::connector::postgresql as wit_pg;
use crate::__bindings::tributary::connector::postgresql_documents as wit_pgdocs;
use crate::shape::Shape;
use crate::Value;

pub use tributary_codec::{Array, DecodeError, Kind, Value as Pg};

/// A PostgreSQL error: SQLSTATE (when the server sent one) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", sqlstate.as_ref().map(|s| format!("[{s}] ")).unwrap_or_default())]
pub struct PgError {
    /// SQLSTATE, e.g. `42P01` (undefined table).
    pub sqlstate: Option<String>,
    /// The message.
    pub message: String,
}

impl From<wit_pg::PgError> for PgError {
    fn from(e: wit_pg::PgError) -> Self {
        PgError {
            sqlstate: e.sqlstate,
            message: e.message,
        }
    }
}

impl From<DecodeError> for PgError {
    fn from(e: DecodeError) -> Self {
        PgError {
            sqlstate: None,
            message: format!("row batch from the host could not be decoded: {e}"),
        }
    }
}

impl From<PgError> for crate::Error {
    fn from(e: PgError) -> Self {
        crate::Error::source(e.to_string())
    }
}

/// A statement parameter (`$1`, `$2`, …), bound to the type PostgreSQL infers.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// NULL.
    Null,
    /// `bool`.
    Bool(bool),
    /// Integer types.
    Int(i64),
    /// Float types.
    Float(f64),
    /// Text types, json/jsonb; cast in SQL for others (`$1::text::numeric`).
    Text(String),
}

impl Param {
    fn to_wit(&self) -> wit_pg::Param {
        match self {
            Param::Null => wit_pg::Param::Null,
            Param::Bool(b) => wit_pg::Param::Boolean(*b),
            Param::Int(i) => wit_pg::Param::Integer(*i),
            Param::Float(f) => wit_pg::Param::Float(*f),
            Param::Text(s) => wit_pg::Param::Text(s.clone()),
        }
    }
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.into())
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's label.
    pub name: String,
    /// PostgreSQL type OID.
    pub type_oid: u32,
    /// Type name, e.g. `int4`.
    pub type_name: String,
}

/// This job's session: a connection the host opened, in a READ ONLY transaction.
pub struct Session(wit_pg::Session);

/// Opens a session of this job. A job may hold a few at once (the operator's
/// `plugins.postgresql.max_sessions`, 4 by default).
pub fn connect() -> Result<Session, PgError> {
    Ok(Session(wit_pg::connect()?))
}

/// What kind of relation [`Session::list_tables`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// A table (`BASE TABLE`).
    Table,
    /// A view.
    View,
    /// A foreign table.
    ForeignTable,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Its name, unquoted.
    pub name: String,
    /// What it is.
    pub kind: RelationKind,
}

/// Facts the host read when it opened the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The transaction's start (`now()`), ISO-8601.
    pub started_at: String,
    /// `server_version`.
    pub server_version: String,
    /// `current_database()`.
    pub database: String,
    /// Whether the server keeps commit timestamps (`track_commit_timestamp`).
    pub commit_timestamps: bool,
}

impl Session {
    /// What the host read when it opened the session.
    pub fn info(&self) -> SessionInfo {
        let i = self.0.info();
        SessionInfo {
            started_at: i.started_at,
            server_version: i.server_version,
            database: i.database,
            commit_timestamps: i.commit_timestamps,
        }
    }

    /// Tables of `schema` visible to the role, sorted by name; with
    /// `include_views`, views and foreign tables too.
    pub fn list_tables(&self, schema: &str, include_views: bool) -> Result<Vec<Relation>, PgError> {
        Ok(self
            .0
            .list_tables(schema, include_views)?
            .into_iter()
            .map(|r| Relation {
                name: r.name,
                kind: match r.kind {
                    wit_pg::RelationKind::Table => RelationKind::Table,
                    wit_pg::RelationKind::View => RelationKind::View,
                    wit_pg::RelationKind::ForeignTable => RelationKind::ForeignTable,
                },
            })
            .collect())
    }

    /// The primary-key columns of a table, in key order (empty without one).
    pub fn primary_key(&self, schema: &str, table: &str) -> Result<Vec<String>, PgError> {
        Ok(self.0.primary_key(schema, table)?)
    }

    /// Every row of a table, ordered by the columns `order_by` names (the host
    /// quotes every identifier); rows stream as they are pulled.
    pub fn scan(&self, schema: &str, table: &str, order_by: &[String]) -> Result<Rows, PgError> {
        let rows = self.0.scan(schema, table, order_by)?;
        Ok(Rows::new(rows))
    }

    /// The latest commit time of any row of `tables`, ISO-8601; `None` when the
    /// server keeps no commit timestamps or the tables are empty.
    pub fn last_commit_time(
        &self,
        schema: &str,
        tables: &[String],
    ) -> Result<Option<String>, PgError> {
        Ok(self.0.last_commit_time(schema, tables)?)
    }

    /// Runs one read statement (checked by the host, see the module docs); rows
    /// stream as they are pulled.
    pub fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, PgError> {
        let params: Vec<wit_pg::Param> = params.iter().map(Param::to_wit).collect();
        let rows = self.0.query(sql, &params)?;
        Ok(Rows::new(rows))
    }

    /// Runs a statement and collects every row (for small results).
    pub fn query_all(&self, sql: &str, params: &[Param]) -> Result<Vec<OwnedRow>, PgError> {
        let mut rows = self.query(sql, params)?;
        let mut out = Vec::new();
        while let Some(b) = rows.next_batch(1000)? {
            for r in b.rows() {
                out.push(r?.iter().map(owned).collect());
            }
        }
        Ok(out)
    }
}

/// A row whose values own their data.
pub type OwnedRow = Vec<OwnedValue>;

/// A simple owned value for small results ([`Session::query_all`]).
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    /// NULL.
    Null,
    /// `bool`.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// Any float type.
    Float(f64),
    /// Everything else, in its text form (numeric digits, dates ISO-8601, …).
    Text(String),
}

impl OwnedValue {
    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OwnedValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

fn owned(v: &PgValue<'_>) -> OwnedValue {
    match v {
        PgValue::Null => OwnedValue::Null,
        PgValue::Bool(b) => OwnedValue::Bool(*b),
        PgValue::Int2(i) => OwnedValue::Int((*i).into()),
        PgValue::Int4(i) => OwnedValue::Int((*i).into()),
        PgValue::Int8(i) => OwnedValue::Int(*i),
        PgValue::Float4(f) => OwnedValue::Float((*f).into()),
        PgValue::Float8(f) => OwnedValue::Float(*f),
        v => OwnedValue::Text(to_text(v)),
    }
}

/// A streaming result.
pub struct Rows {
    inner: wit_pg::Rows,
    columns: Vec<Column>,
    done: bool,
}

impl Rows {
    fn new(inner: wit_pg::Rows) -> Self {
        let columns = inner
            .columns()
            .into_iter()
            .map(|c| Column {
                name: c.name,
                type_oid: c.type_oid,
                type_name: c.type_name,
            })
            .collect();
        Rows {
            inner,
            columns,
            done: false,
        }
    }

    /// The result columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Up to `max_rows` rows in one buffer; `None` at the end. A lost connection
    /// or a server error is an `Err`, never a silent end.
    pub fn next_batch(&mut self, max_rows: u32) -> Result<Option<RowBatch>, PgError> {
        if self.done {
            return Ok(None);
        }
        match self.inner.next(max_rows.max(1))? {
            Some(b) => {
                Decoder::new(&b.data)?;
                Ok(Some(RowBatch { data: b.data }))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    /// Reads up to `max_rows` rows and has the host turn them into documents of
    /// `shape` (see [`crate::shape`]): the values never enter the plugin. Returns
    /// how many rows it read, 0 at the end.
    pub fn emit(&mut self, shape: &Shape, max_rows: u32) -> Result<u32, PgError> {
        if self.done {
            return Ok(0);
        }
        let n = wit_pgdocs::emit(&self.inner, &shape.to_wit(), max_rows.max(1))?;
        self.done = n == 0;
        Ok(n)
    }
}

/// One batch of rows.
pub struct RowBatch {
    data: Vec<u8>,
}

impl RowBatch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        Decoder::new(&self.data).map_or(0, |d| d.rows() as usize)
    }

    /// True when the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A decoder over the batch, for the allocation-free loop
    /// (`while dec.next_row(&mut row)? { … }`).
    pub fn decoder(&self) -> Result<Decoder<'_>, DecodeError> {
        Decoder::new(&self.data)
    }

    /// The rows, each a vector of borrowed values.
    pub fn rows(&self) -> RowIter<'_> {
        RowIter {
            dec: Decoder::new(&self.data).ok(),
            failed: false,
        }
    }
}

/// Iterator over a [`RowBatch`].
pub struct RowIter<'a> {
    dec: Option<Decoder<'a>>,
    failed: bool,
}

impl<'a> Iterator for RowIter<'a> {
    type Item = Result<Vec<PgValue<'a>>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let dec = self.dec.as_mut()?;
        let mut row = Vec::new();
        match dec.next_row(&mut row) {
            Ok(true) => Some(Ok(row)),
            Ok(false) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

// ------------------------------------------------------------------ conversion

pub use tributary_codec::document::{base64, to_json, to_text, write_json};

/// A PostgreSQL value as a document value, losslessly: integers exact (bigint
/// beyond 2^53 too), numeric as its exact digits (a JSON number; `NaN`/`±Infinity`
/// as strings), float4 as its shortest exact decimal, bytea base64, json/jsonb
/// nested, arrays as (nested) JSON arrays, dates and timestamps ISO-8601
/// (timestamptz with `+00:00`), uuid/inet/interval and other types as strings.
/// The host's own shaping (see [`Rows::emit`]) uses the same mapping.
pub fn to_value(v: &PgValue<'_>) -> Value {
    match doc_value(v) {
        DocValue::Null => Value::Null,
        DocValue::Bool(b) => Value::Bool(b),
        DocValue::Int(i) => Value::Int(i),
        DocValue::Float(f) => Value::Float(f),
        DocValue::Number(n) => Value::Number(n.into_owned()),
        DocValue::Text(t) => Value::Text(t.into_owned()),
        DocValue::Json(j) => Value::Json(j.into_owned()),
    }
}

/// Appends the value as Elastic's Python connectors write it into ids (`str()`
/// of the driver's value: `True`, `1.0`, a space between date and time).
pub fn id_text(v: &PgValue<'_>, out: &mut String) {
    tributary_codec::document::write_id_text(v, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_codec::{Date, Inet, Interval, Timestamp, TimestampTz, Uuid};

    #[test]
    fn values_are_lossless() {
        assert_eq!(
            to_value(&Pg::Int8(9_007_199_254_740_993)),
            Value::Int(9_007_199_254_740_993)
        );
        assert_eq!(
            to_value(&Pg::Numeric("1234567890123456789012345678901234567.89")),
            Value::Number("1234567890123456789012345678901234567.89".into())
        );
        assert_eq!(to_value(&Pg::Numeric("NaN")), Value::Text("NaN".into()));
        assert_eq!(to_value(&Pg::Float4(1.1)), Value::Number("1.1".into()));
        assert_eq!(
            to_value(&Pg::Float8(f64::NEG_INFINITY)),
            Value::Text("-Infinity".into())
        );
        assert_eq!(
            to_value(&Pg::Bytea(b"hello")),
            Value::Text("aGVsbG8=".into())
        );
        assert_eq!(
            to_value(&Pg::Jsonb("{\"a\": 1}")),
            Value::Json("{\"a\": 1}".into())
        );
        assert_eq!(
            to_value(&Pg::Date(Date(0))),
            Value::Text("2000-01-01".into())
        );
        assert_eq!(
            to_value(&Pg::Timestamp(Timestamp(1))),
            Value::Text("2000-01-01T00:00:00.000001".into())
        );
        assert_eq!(
            to_value(&Pg::TimestampTz(TimestampTz(0))),
            Value::Text("2000-01-01T00:00:00+00:00".into())
        );
        assert_eq!(
            to_value(&Pg::Uuid(Uuid([0; 16]))),
            Value::Text("00000000-0000-0000-0000-000000000000".into())
        );
        let ip = Inet {
            v6: false,
            bits: 32,
            addr: [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            cidr: false,
        };
        assert_eq!(to_value(&Pg::Inet(ip)), Value::Text("1.2.3.4".into()));
        assert_eq!(
            to_value(&Pg::Interval(Interval {
                micros: 0,
                days: 1,
                months: 0
            })),
            Value::Text("P1D".into())
        );
    }
}
