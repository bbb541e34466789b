//! The PostgreSQL capability: the only place that opens connections to PostgreSQL
//! on a plugin's behalf. Free of wasmtime; `plugins/bindings` binds it to the WIT
//! interface of each contract version.
//!
//! - [`policy`]: the operator's policy and one job's grant (the connector's values,
//!   secrets included; they never reach the plugin).
//! - `connect`: allowlist check, TLS, and the session setup (statement timeout,
//!   READ ONLY transaction) run before the plugin can send anything.
//! - `session`: the per-job session cap and the calls on a session: structured
//!   discovery and table scans (SQL written by the host) and plugin SQL that
//!   passed the [`sql`] allow-list.
//! - `rows`: streaming through `DECLARE … NO SCROLL CURSOR` / `FETCH n`, so memory
//!   stays flat whatever the table size; rows are read in PostgreSQL's binary
//!   format (`wire`) and packed into one `tributary-codec` buffer per batch.
//! - [`changes`]: change data capture for incremental syncs: one logical
//!   replication slot per connector (`test_decoding`, read with peek and advanced
//!   only to a cursor Elasticsearch accepted); see the module for the design.
//!
//! No backend outlives its job: when the host gives up on a call, or a
//! connection is dropped while a statement runs, the statement is cancelled on the
//! server (the client's cancel token), and PostgreSQL 14+ also stops a statement
//! whose client went away.

pub mod changes;
mod connect;
pub mod policy;
mod rows;
mod session;
pub mod sql;
mod wire;

pub use policy::{host_allowed, PgGrant, PgPolicy, CREDENTIAL_KEYS, DEFAULT_STATEMENT_TIMEOUT_MS};
pub use rows::{Each, PgRows, MAX_FETCH_ROWS};
pub use session::{quote_ident, PgSession, SessionSlots};
pub use sql::Refusal;
pub use wire::numeric_text;

/// A PostgreSQL error as the plugin sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PgError {
    /// SQLSTATE, when the server sent one.
    pub sqlstate: Option<String>,
    /// Human-readable message.
    pub message: String,
}

/// SQLSTATE `query_canceled`: a statement timeout or a cancel request.
const QUERY_CANCELED: &str = "57014";

impl PgError {
    fn local(message: impl Into<String>) -> Self {
        PgError {
            sqlstate: None,
            message: message.into(),
        }
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let mut message = db.message().to_string();
            if code == QUERY_CANCELED && message.contains("statement timeout") {
                message = format!(
                    "statement timeout: the statement ran longer than plugins.postgresql.statement_timeout_ms allows ({message})"
                );
            }
            if let Some(d) = db.detail() {
                message.push_str(": ");
                message.push_str(d);
            }
            return PgError {
                sqlstate: Some(code.to_string()),
                message,
            };
        }
        // Not from the server (connection lost, protocol error): keep the cause chain.
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        PgError {
            sqlstate: None,
            message,
        }
    }
}

/// A statement parameter.
#[derive(Debug, Clone)]
pub enum Param {
    /// SQL NULL (any type).
    Null,
    /// `bool`.
    Bool(bool),
    /// Any integer type (range-checked), or float/numeric-free text use.
    Int(i64),
    /// `float4`/`float8`.
    Float(f64),
    /// Text-like types, json/jsonb.
    Text(String),
}

/// A result column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column name as the query labels it.
    pub name: String,
    /// The column's PostgreSQL type OID.
    pub type_oid: u32,
    /// The type's name, e.g. `int4`, `numeric`, `_text`.
    pub type_name: String,
}

/// What kind of relation `list_tables` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
    ForeignTable,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub kind: RelationKind,
}

/// Facts the host read when it opened a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The transaction's start (`now()`), ISO-8601 as the codec prints timestamptz.
    pub started_at: String,
    /// `server_version`.
    pub server_version: String,
    /// `current_database()`.
    pub database: String,
    /// `track_commit_timestamp` is on.
    pub commit_timestamps: bool,
}
