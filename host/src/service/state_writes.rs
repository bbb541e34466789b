//! The partial documents the service writes on connectors and jobs, as Elastic's
//! service writes them (`docs/elastic/sync-job-document.md#what-the-service-writes`, `service-loops.md#running-one-job` step 10).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use tributary_sync::Failures;

/// How a job ended, as stored in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    Completed,
    Error,
    Canceled,
    /// Interrupted by shutdown; picked up again later.
    Suspended,
}

impl Terminal {
    pub fn as_str(self) -> &'static str {
        match self {
            Terminal::Completed => "completed",
            Terminal::Error => "error",
            Terminal::Canceled => "canceled",
            Terminal::Suspended => "suspended",
        }
    }
}

/// Counters reported on a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub indexed_document_count: u64,
    pub indexed_document_volume: u64,
    pub deleted_document_count: u64,
    pub total_document_count: Option<u64>,
}

/// Elasticsearch's date format for these documents.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The update that ends a job. Documents left unindexed are recorded in
/// `metadata` (`failed_document_count`, `failed_document_errors`: the first
/// reasons), whatever the status.
pub fn job_terminated(
    status: Terminal,
    error: Option<&str>,
    c: &Counters,
    failures: &Failures,
    now: DateTime<Utc>,
) -> Value {
    let now_s = timestamp(now);
    let mut doc = json!({
        "status": status.as_str(),
        "last_seen": now_s,
        "error": match status {
            // Never an empty message (Elastic writes "unknown error" too).
            Terminal::Error => Value::String(error.filter(|e| !e.trim().is_empty()).unwrap_or("unknown error").to_string()),
            _ => Value::Null,
        },
        "indexed_document_count": c.indexed_document_count,
        "indexed_document_volume": c.indexed_document_volume,
        "deleted_document_count": c.deleted_document_count,
    });
    if let Some(total) = c.total_document_count {
        doc["total_document_count"] = json!(total);
    }
    if failures.count > 0 {
        doc["metadata"] = json!({
            "failed_document_count": failures.count,
            "failed_document_errors": failures.first,
        });
    }
    if matches!(
        status,
        Terminal::Completed | Terminal::Error | Terminal::Canceled
    ) {
        doc["completed_at"] = json!(now_s);
    }
    if status == Terminal::Canceled {
        doc["canceled_at"] = json!(now_s);
    }
    doc
}

/// The connector update after a content job ended (`sync_done`).
pub fn connector_sync_done(
    status: Terminal,
    error: Option<&str>,
    c: &Counters,
    cursor: Option<&Value>,
    now: DateTime<Utc>,
) -> Value {
    let err = match status {
        Terminal::Error => Value::String(
            error
                .filter(|e| !e.trim().is_empty())
                .unwrap_or("unknown error")
                .to_string(),
        ),
        _ => Value::Null,
    };
    let mut doc = json!({
        "last_synced": timestamp(now),
        "status": if status == Terminal::Error { "error" } else { "connected" },
        "error": err,
        "last_sync_status": status.as_str(),
        "last_sync_error": err,
        "last_indexed_document_count": c.indexed_document_count,
        "last_deleted_document_count": c.deleted_document_count,
    });
    // The runner decides (only completed jobs; null clears).
    if let (Terminal::Completed, Some(cursor)) = (status, cursor) {
        doc["sync_cursor"] = cursor.clone();
    }
    doc
}

/// The connector update when the job document vanished while the job ran (Elastic:
/// "Couldn't find the job"); also releases the `in_progress` lock.
pub fn connector_job_missing(now: DateTime<Utc>) -> Value {
    let err = "Couldn't find the job";
    json!({
        "last_synced": timestamp(now),
        "status": "error",
        "error": err,
        "last_sync_status": "error",
        "last_sync_error": err,
    })
}

/// The connector update when a job starts (`sync_starts`): the `in_progress` lock.
pub fn connector_sync_starts() -> Value {
    json!({
        "status": "connected",
        "error": null,
        "last_sync_status": "in_progress",
        "last_sync_error": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_jobs_always_carry_a_message() {
        let none = Failures::default();
        let d = job_terminated(
            Terminal::Error,
            Some("  "),
            &Counters::default(),
            &none,
            Utc::now(),
        );
        assert_eq!(d["error"], "unknown error");
        assert!(d.get("completed_at").is_some());
        assert!(d.get("metadata").is_none());
        let d = job_terminated(
            Terminal::Suspended,
            None,
            &Counters::default(),
            &none,
            Utc::now(),
        );
        assert!(d.get("completed_at").is_none());
        assert_eq!(d["error"], Value::Null);
    }

    #[test]
    fn failed_documents_go_into_the_metadata() {
        let failures = Failures {
            count: 59,
            first: vec!["index of id 'a' failed with status 429: x: y".into()],
        };
        let d = job_terminated(
            Terminal::Completed,
            None,
            &Counters::default(),
            &failures,
            Utc::now(),
        );
        assert_eq!(d["status"], "completed");
        assert_eq!(d["error"], Value::Null);
        assert_eq!(d["metadata"]["failed_document_count"], 59);
        assert_eq!(
            d["metadata"]["failed_document_errors"][0],
            "index of id 'a' failed with status 429: x: y"
        );
    }

    #[test]
    fn cursor_only_after_success() {
        let cur = json!({"cursor_timestamp": "2026-01-01T00:00:00Z"});
        let c = Counters::default();
        let ok = connector_sync_done(Terminal::Completed, None, &c, Some(&cur), Utc::now());
        assert_eq!(ok["sync_cursor"], cur);
        let failed = connector_sync_done(Terminal::Error, Some("boom"), &c, Some(&cur), Utc::now());
        assert!(failed.get("sync_cursor").is_none());
        assert_eq!(failed["status"], "error");
        assert_eq!(failed["last_sync_error"], "boom");
    }
}
