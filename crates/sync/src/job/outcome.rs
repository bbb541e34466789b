//! How a job ended, and what it left unindexed.

use super::*;

/// How the job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResult {
    /// Completed; for a full sync stale documents were deleted. Documents may still
    /// have failed within the error budget: see [`SyncOutcome::failures`].
    Ok,
    /// Stopped on request; no stale deletion happened.
    Canceled,
    /// Failed; the reason is never empty and is meant for the job's `error`.
    Failed(String),
}

/// Documents the job left unindexed (failed for good after their retries, or too
/// large to send), with the first reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    /// `error_count + oversized_document_count` of the stats.
    pub count: u64,
    /// The first [`MAX_FAILURE_SAMPLES`] reasons, in the order they happened.
    pub first: Vec<String>,
}

/// How many failure reasons a job keeps for its `metadata` and log.
pub const MAX_FAILURE_SAMPLES: usize = 10;

/// What `run_sync` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Exact counters of what reached the index (also on cancel and failure).
    pub stats: SyncStats,
    /// The source's cursor; only on success (persist it on the connector then).
    pub cursor: Option<String>,
    pub result: SyncResult,
    /// Documents left unindexed; a completed job with any is not a clean success.
    pub failures: Failures,
}
