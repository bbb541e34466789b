//! The connector and sync-job documents (`docs/elastic/connector-document.md`, `sync-job-document.md`, `connector-api.md`).
//!
//! Tolerant by design: unknown fields are kept in `other` (and written back on a full
//! re-serialisation), null and absent are the same, unknown enum strings become
//! `Unknown`, and dates in unexpected formats read as `None` instead of failing the
//! whole document — one odd field must not stop a connector from syncing.

mod connector;
mod filtering;
mod job;
mod lenient;
#[cfg(test)]
mod tests;

pub use connector::*;
pub use filtering::*;
pub use job::*;
pub use lenient::{format_date, parse_date};

/// A document read directly from an index, with what a conditional write needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub id: String,
    pub seq_no: i64,
    pub primary_term: i64,
    pub doc: T,
}

impl<T> Versioned<T> {
    /// The `if_seq_no`/`if_primary_term` pair for a write conditional on this version.
    pub fn version(&self) -> SeqNo {
        SeqNo {
            seq_no: self.seq_no,
            primary_term: self.primary_term,
        }
    }
}

/// `if_seq_no` + `if_primary_term`: write only if the document is still this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqNo {
    pub seq_no: i64,
    pub primary_term: i64,
}
