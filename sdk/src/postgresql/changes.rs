//! Change data capture: what a PostgreSQL plugin's incremental syncs read.
//!
//! The host keeps one logical replication slot per connector and writes every
//! statement itself. A full sync starts a [`Capture`] first and reads its tables
//! through [`Capture::session`] (a snapshot taken after the slot exists, so no
//! change falls between the full sync and the next incremental one), then
//! returns [`Capture::cursor`] as its cursor. An incremental sync passes the
//! stored cursor to [`read_changes`] and turns each [`TableChanges`] into
//! documents: `index` for every row of `upserts` (the row as it is now, every
//! column, exactly as a scan returns it) and `delete` for every key of `deletes`.
//! It returns [`Changes::cursor`]. The host acknowledges the changes to the
//! server only when a later sync starts from a cursor Elasticsearch stored, so a
//! failed or killed sync is read again, never lost.
//!
//! ```no_run
//! use tributary_sdk::postgresql::changes;
//! # fn full() -> Result<String, tributary_sdk::postgresql::PgError> {
//! // A full sync.
//! let capture = changes::start_capture()?;
//! let session = capture.session()?;
//! let mut rows = session.scan("public", "album", &["id".to_string()])?;
//! while let Some(batch) = rows.next_batch(1000)? { let _ = batch; /* index every row */ }
//! Ok(capture.cursor("public", &["album".to_string()]))
//! # }
//! # fn incremental(cursor: Option<&str>) -> Result<String, tributary_sdk::postgresql::PgError> {
//! // An incremental sync, from the cursor the previous sync returned.
//! let changes = changes::read_changes(cursor, "public", &["album".to_string()])?;
//! while let Some(mut t) = changes.next()? {
//!     while let Some(batch) = t.upserts.next_batch(1000)? { let _ = batch; /* index */ }
//!     while let Some(batch) = t.deletes.next_batch(1000)? { let _ = batch; /* delete by key */ }
//! }
//! Ok(changes.cursor())
//! # }
//! ```

use super::{PgError, Rows, Session};
use crate::__bindings::tributary::connector::postgresql_changes as wit;

/// SQLSTATE of "the server or the role cannot capture changes"
/// (`object_not_in_prerequisite_state`); a full sync can go on without.
pub const UNAVAILABLE: &str = "55000";

/// Whether `e` says the server or role cannot capture changes at all (as opposed
/// to a failure while doing it).
pub fn is_unavailable(e: &PgError) -> bool {
    e.sqlstate.as_deref() == Some(UNAVAILABLE)
}

/// A full sync's capture: the connector's new replication slot.
pub struct Capture(wit::Capture);

/// Drops the connector's previous slot and creates a new one; call it before
/// opening any session of the full sync.
pub fn start_capture() -> Result<Capture, PgError> {
    Ok(Capture(wit::start_capture()?))
}

impl Capture {
    /// A session whose snapshot is taken after the slot was created.
    pub fn session(&self) -> Result<Session, PgError> {
        Ok(Session(self.0.session()?))
    }

    /// The cursor to return after a full sync of `tables` of `schema`.
    pub fn cursor(&self, schema: &str, tables: &[String]) -> String {
        self.0.cursor(schema, tables)
    }
}

/// The changes of one table in one round.
pub struct TableChanges {
    /// The table.
    pub table: String,
    /// The rows, as they are now, of keys that changed and still exist.
    pub upserts: Rows,
    /// The primary-key columns of keys that changed and have no row any more.
    pub deletes: Rows,
}

/// An incremental sync's changes.
pub struct Changes(wit::Changes);

/// The changes committed since `cursor` to `tables` of `schema`. The error's
/// message says what to do when there are none to read (no cursor yet, the
/// server lacks logical decoding, the tables changed, a TRUNCATE, …).
pub fn read_changes(
    cursor: Option<&str>,
    schema: &str,
    tables: &[String],
) -> Result<Changes, PgError> {
    Ok(Changes(wit::read_changes(cursor, schema, tables)?))
}

impl Changes {
    /// The next table's changes; `None` once every change was returned.
    pub fn next(&self) -> Result<Option<TableChanges>, PgError> {
        Ok(self.0.next()?.map(|t| TableChanges {
            table: t.table,
            upserts: Rows::new(t.upserts),
            deletes: Rows::new(t.deletes),
        }))
    }

    /// The cursor to return when the sync ends.
    pub fn cursor(&self) -> String {
        self.0.cursor()
    }
}
