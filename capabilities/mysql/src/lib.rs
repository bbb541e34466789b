//! The MySQL/MariaDB capability: the only place that opens connections to MySQL on
//! a plugin's behalf. Free of wasmtime; the runtime binds it to the WIT interface.
//!
//! - [`policy`]: the operator's policy (`plugins.mysql.*`) and one job's grant (the
//!   connector's values, the password included; it never reaches the plugin).
//! - `session`: allowlist check, TLS, session setup (statement time limit, UTC,
//!   a `READ ONLY` transaction with a consistent snapshot) before the plugin can
//!   send anything; the per-job session cap; structured discovery and table scans
//!   (SQL written by the host) and plugin SQL that passed the [`sql`] allow-list.
//! - `rows`: streaming (the server streams a result set; a task reads it while the
//!   plugin works), packed into one `tributary-codec` buffer per batch.
//!
//! Why the parser matters more here than for PostgreSQL: a MySQL DDL statement
//! commits the open transaction implicitly, so a `READ ONLY` transaction alone
//! does not stop `CREATE TABLE … SELECT`. Only one `SELECT` ever reaches the server.

mod encode;
pub mod policy;
mod rows;
mod session;
pub mod sql;

pub use policy::{host_allowed, MysqlGrant, MysqlPolicy, CREDENTIAL_KEYS};
pub use rows::{MysqlRows, MAX_FETCH_ROWS};
pub use session::{quote_ident, MysqlSession, SessionSlots};
pub use sql::Refusal;

/// A MySQL error as the plugin sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MysqlError {
    /// The server's error number (e.g. 1146 `ER_NO_SUCH_TABLE`), when the server sent one.
    pub code: Option<u16>,
    /// SQLSTATE, when the server sent one.
    pub sqlstate: Option<String>,
    /// Human-readable message.
    pub message: String,
}

/// `ER_STATEMENT_TIMEOUT` (MariaDB `max_statement_time`) and MySQL's
/// `ER_QUERY_TIMEOUT` (`max_execution_time`).
const STATEMENT_TIMEOUT_CODES: [u16; 2] = [1969, 3024];

impl MysqlError {
    pub(crate) fn local(message: impl Into<String>) -> Self {
        MysqlError {
            code: None,
            sqlstate: None,
            message: message.into(),
        }
    }
}

impl From<mysql_async::Error> for MysqlError {
    fn from(e: mysql_async::Error) -> Self {
        if let mysql_async::Error::Server(s) = &e {
            let mut message = s.message.clone();
            if STATEMENT_TIMEOUT_CODES.contains(&s.code) {
                message = format!(
                    "statement timeout: the statement ran longer than plugins.mysql.statement_timeout_ms allows ({message})"
                );
            }
            return MysqlError {
                code: Some(s.code),
                sqlstate: Some(s.state.clone()),
                message,
            };
        }
        // Not from the server (connection lost, TLS, protocol): keep the cause chain.
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        MysqlError::local(message)
    }
}

/// A statement parameter (`?` placeholders).
#[derive(Debug, Clone)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A boolean (sent as 0/1).
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (`BIGINT UNSIGNED` keys beyond `i64::MAX`).
    UInt(u64),
    /// A double.
    Float(f64),
    /// Text (also decimals as exact digits).
    Text(String),
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name as the query labels it.
    pub name: String,
    /// The type as the capability reads it: `int`, `bigint unsigned`, `decimal`,
    /// `json`, `blob`, `enum`, `set`, `datetime`, … (see `encode`).
    pub type_name: String,
}

/// What kind of relation `list_tables` found (information_schema's `TABLE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// `BASE TABLE` (and MariaDB's `SYSTEM VERSIONED`, `SEQUENCE`).
    Table,
    /// `VIEW`.
    View,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The name as the server stores it.
    pub name: String,
    /// Table or view.
    pub kind: RelationKind,
}

/// Facts the host read when it opened a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The snapshot's start (`UTC_TIMESTAMP(6)`), ISO-8601 with `+00:00`.
    pub started_at: String,
    /// `VERSION()`, e.g. `10.11.6-MariaDB`.
    pub server_version: String,
    /// `DATABASE()`.
    pub database: String,
}
