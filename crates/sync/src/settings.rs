//! Tunables of one sync job. Defaults follow Tributary's stance (bigger bulks than
//! Elastic's 250 docs, exponential per-item retries) with Elastic's error-monitor
//! thresholds (`docs/elastic/config-yml.md#bulk`, `pitfalls.md` item 6).

use std::time::Duration;

use super::backoff::Backoff;

/// How documents are batched, sent and retried.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// Max operations per `_bulk` request.
    pub bulk_max_docs: usize,
    /// Max encoded bytes (action + source lines) per `_bulk` request; a single larger
    /// document is sent alone.
    pub bulk_max_bytes: usize,
    /// `_bulk` requests in flight at once (at least 1).
    pub bulk_concurrency: usize,
    /// Retries of an item that failed with 5xx, or of a transiently failed request.
    pub bulk_max_retries: u32,
    /// Wait before re-sending an item Elasticsearch failed with a 5xx.
    pub item_backoff: Backoff,
    /// How long an item rejected with a per-item 429 keeps being retried (measured
    /// from its first rejection) before it counts as failed. A 429 says "not now",
    /// so it is retried by time, not by count.
    pub rejection_timeout: Duration,
    /// Wait before re-sending an item Elasticsearch rejected (429): short, since a
    /// rejection means "busy now", and bounded in total by `rejection_timeout`.
    pub rejection_backoff: Backoff,
    /// Documents whose encoded body is larger are dropped and logged (Elastic's
    /// `bulk.max_text_document_size`, 3 MiB); 0 disables. Deletes are never dropped.
    pub max_document_bytes: usize,
    /// When the job gives up on non-retryable item errors.
    pub error_budget: ErrorBudget,
    /// How long in-flight requests may take to finish after a cancel or a failure.
    pub shutdown_grace: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            bulk_max_docs: 1000,
            bulk_max_bytes: 5 * 1024 * 1024,
            bulk_concurrency: 2,
            bulk_max_retries: 5,
            item_backoff: Backoff::doubling(Duration::from_millis(500), Duration::from_secs(30)),
            rejection_timeout: Duration::from_secs(300),
            rejection_backoff: Backoff::doubling(Duration::from_millis(50), Duration::from_secs(1)),
            max_document_bytes: 3 * 1024 * 1024,
            error_budget: ErrorBudget::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl SyncSettings {
    /// How many items may wait for a retry before the source is paused: enough for
    /// every slot's worth of rejections, bounded so memory stays flat.
    pub fn retry_queue_limit(&self) -> usize {
        self.bulk_max_docs
            .max(1)
            .saturating_mul(self.bulk_concurrency.max(1))
            .saturating_mul(2)
    }
}

/// Elastic's `bulk.error_monitor.*`: the sync fails when consecutive errors exceed
/// `max_consecutive_errors`, total errors exceed `max_total_errors`, or the share of
/// errors among the last `error_window_size` item outcomes exceeds `max_error_rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBudget {
    /// Disabled: errors are only counted and logged.
    pub enabled: bool,
    pub max_total_errors: u64,
    pub max_consecutive_errors: u64,
    pub max_error_rate: f64,
    pub error_window_size: usize,
    /// How many of the last errors the failure message names.
    pub error_queue_size: usize,
}

impl Default for ErrorBudget {
    fn default() -> Self {
        Self {
            enabled: true,
            max_total_errors: 1000,
            max_consecutive_errors: 10,
            max_error_rate: 0.15,
            error_window_size: 100,
            error_queue_size: 10,
        }
    }
}
