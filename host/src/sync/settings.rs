//! Tunables of one sync job. Defaults follow Tributary's stance (bigger bulks than
//! Elastic's 250 docs, exponential per-item retries) with Elastic's error-monitor
//! thresholds (reference §5.1, §13 item 6).

use std::time::Duration;

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
    /// Retries of a retryable item (429, 5xx) or of a transiently failed request.
    pub bulk_max_retries: u32,
    /// First retry delay; doubled on each further attempt.
    pub retry_backoff: Duration,
    /// Ceiling of one retry delay.
    pub retry_backoff_max: Duration,
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
            retry_backoff: Duration::from_millis(500),
            retry_backoff_max: Duration::from_secs(30),
            max_document_bytes: 3 * 1024 * 1024,
            error_budget: ErrorBudget::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl SyncSettings {
    /// Delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, capped,
    /// with up to 25 % jitter so concurrent requests do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self.retry_backoff.saturating_mul(1u32 << exp);
        let capped = raw.min(self.retry_backoff_max);
        let jitter = rand::random::<f64>() * 0.25;
        capped.mul_f64(1.0 - jitter)
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
