//! The MySQL/MariaDB capability (cargo feature `mysql`).
//!
//! The host opens the connection from the connector's configuration (`host`,
//! `port`, `user`, `password`, `database`, `ssl_enabled`, `ssl_ca`; the plugin
//! never sees the password), after checking the operator's allowlist, and runs
//! the session in one `READ ONLY` transaction with a consistent snapshot and a
//! statement time limit. Discovery and table scans are structured calls — the
//! host writes and quotes the SQL — and [`Session::query`] takes one read
//! statement (`?` placeholders), which the host parses with a MySQL grammar and
//! runs only if it is one `SELECT` on the connector's database using
//! allow-listed functions. Rows arrive packed in one buffer per batch (the
//! `tributary-codec` format); convert values with [`to_value`] / [`to_text`]
//! (the same lossless mapping as the PostgreSQL client).
//!
//! ```no_run
//! use tributary_sdk::mysql::{self, Param};
//! # fn run() -> Result<(), tributary_sdk::mysql::MysqlError> {
//! let session = mysql::connect()?;
//! for table in session.list_tables(false)? {
//!     let key = session.primary_key(&table.name)?;
//!     let mut rows = session.scan(&table.name, &key)?;
//!     while let Some(batch) = rows.next_batch(1000)? {
//!         for row in batch.rows() {
//!             let value = mysql::to_value(&row?[0]);
//!             # let _ = value;
//!         }
//!     }
//! }
//! // One streaming result per session at a time: drop `rows` before the next call.
//! let mut rows = session.query("SELECT AlbumId, Title FROM album WHERE AlbumId > ?", &[Param::Int(10)])?;
//! # let _ = rows.next_batch(10)?;
//! # Ok(()) }
//! ```

use tributary_codec::{Decoder, Value as MyValue};

use crate::__bindings::tributary::connector::mysql as wit_my;
use crate::__bindings::tributary::connector::mysql_documents as wit_mydocs;
use crate::shape::Shape;

pub use crate::postgresql::{base64, id_text, to_json, to_text, to_value, write_json};
pub use tributary_codec::{DecodeError, Kind, Value};

/// A MySQL error: the server's error number and SQLSTATE (when it sent them)
/// and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", code.map(|c| format!("[{c}] ")).unwrap_or_default())]
pub struct MysqlError {
    /// The server's error number, e.g. 1146 (`ER_NO_SUCH_TABLE`).
    pub code: Option<u16>,
    /// SQLSTATE, e.g. `42S02`.
    pub sqlstate: Option<String>,
    /// The message.
    pub message: String,
}

impl From<wit_my::MysqlError> for MysqlError {
    fn from(e: wit_my::MysqlError) -> Self {
        MysqlError {
            code: e.code,
            sqlstate: e.sqlstate,
            message: e.message,
        }
    }
}

impl From<DecodeError> for MysqlError {
    fn from(e: DecodeError) -> Self {
        MysqlError {
            code: None,
            sqlstate: None,
            message: format!("row batch from the host could not be decoded: {e}"),
        }
    }
}

impl From<MysqlError> for crate::Error {
    fn from(e: MysqlError) -> Self {
        crate::Error::source(e.to_string())
    }
}

/// A statement parameter (`?`).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// NULL.
    Null,
    /// A boolean (0/1).
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A double.
    Float(f64),
    /// Text; exact decimals as their digits.
    Text(String),
}

impl Param {
    fn to_wit(&self) -> wit_my::Param {
        match self {
            Param::Null => wit_my::Param::Null,
            Param::Bool(b) => wit_my::Param::Boolean(*b),
            Param::Int(i) => wit_my::Param::Integer(*i),
            Param::UInt(u) => wit_my::Param::Unsigned(*u),
            Param::Float(f) => wit_my::Param::Float(*f),
            Param::Text(s) => wit_my::Param::Text(s.clone()),
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
    /// The type as the host read it: `int`, `bigint unsigned`, `decimal`, `json`, …
    pub type_name: String,
}

/// What kind of relation [`Session::list_tables`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// A base table.
    Table,
    /// A view.
    View,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Its name.
    pub name: String,
    /// Table or view.
    pub kind: RelationKind,
}

/// Facts the host read when it opened the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The snapshot's start (UTC), ISO-8601.
    pub started_at: String,
    /// `VERSION()`.
    pub server_version: String,
    /// The connector's database.
    pub database: String,
}

/// This job's session: a connection the host opened, in a READ ONLY transaction.
pub struct Session(wit_my::Session);

/// Opens a session of this job. A job may hold a few at once (the operator's
/// `plugins.mysql.max_sessions`, 4 by default).
pub fn connect() -> Result<Session, MysqlError> {
    Ok(Session(wit_my::connect()?))
}

impl Session {
    /// What the host read when it opened the session.
    pub fn info(&self) -> SessionInfo {
        let i = self.0.info();
        SessionInfo {
            started_at: i.started_at,
            server_version: i.server_version,
            database: i.database,
        }
    }

    /// Tables (with `include_views`, views too) of the connector's database, sorted.
    pub fn list_tables(&self, include_views: bool) -> Result<Vec<Relation>, MysqlError> {
        Ok(self
            .0
            .list_tables(include_views)?
            .into_iter()
            .map(|r| Relation {
                name: r.name,
                kind: match r.kind {
                    wit_my::RelationKind::Table => RelationKind::Table,
                    wit_my::RelationKind::View => RelationKind::View,
                },
            })
            .collect())
    }

    /// The primary-key columns of a table in column order; empty when it has none.
    pub fn primary_key(&self, table: &str) -> Result<Vec<String>, MysqlError> {
        Ok(self.0.primary_key(table)?)
    }

    /// The table's last update time (ISO-8601 UTC), when the engine keeps one.
    pub fn last_update_time(&self, table: &str) -> Result<Option<String>, MysqlError> {
        Ok(self.0.last_update_time(table)?)
    }

    /// Every row of a table ordered by `order_by`, streaming.
    pub fn scan(&self, table: &str, order_by: &[String]) -> Result<Rows, MysqlError> {
        Ok(Rows::new(self.0.scan(table, order_by)?))
    }

    /// Runs one read statement (checked by the host), streaming.
    pub fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, MysqlError> {
        let params: Vec<wit_my::Param> = params.iter().map(Param::to_wit).collect();
        Ok(Rows::new(self.0.query(sql, &params)?))
    }
}

/// A streaming result.
pub struct Rows {
    inner: wit_my::Rows,
    columns: Vec<Column>,
    done: bool,
}

impl Rows {
    fn new(inner: wit_my::Rows) -> Self {
        let columns = inner
            .columns()
            .into_iter()
            .map(|c| Column {
                name: c.name,
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
    /// or a server error (a statement timeout) is an `Err`, never a silent end.
    pub fn next_batch(&mut self, max_rows: u32) -> Result<Option<RowBatch>, MysqlError> {
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
    pub fn emit(&mut self, shape: &Shape, max_rows: u32) -> Result<u32, MysqlError> {
        if self.done {
            return Ok(0);
        }
        let n = wit_mydocs::emit(&self.inner, &shape.to_wit(), max_rows.max(1))?;
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

    /// A decoder over the batch, for the allocation-free loop.
    pub fn decoder(&self) -> Result<Decoder<'_>, DecodeError> {
        Decoder::new(&self.data)
    }

    /// The rows, each a vector of borrowed values.
    pub fn rows(&self) -> impl Iterator<Item = Result<Vec<MyValue<'_>>, DecodeError>> {
        let mut dec = Decoder::new(&self.data).ok();
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let d = dec.as_mut()?;
            let mut row = Vec::new();
            match d.next_row(&mut row) {
                Ok(true) => Some(Ok(row)),
                Ok(false) => None,
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        })
    }
}
