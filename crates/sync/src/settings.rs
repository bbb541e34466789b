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
    /// Retries of an item that failed with 5xx, or of a transiently failed request.
    pub bulk_max_retries: u32,
    /// First retry delay of a request or a 5xx item; doubled on each further attempt.
    pub retry_backoff: Duration,
    /// Ceiling of one such retry delay.
    pub retry_backoff_max: Duration,
    /// How long an item rejected with a per-item 429 keeps being retried (measured
    /// from its first rejection) before it counts as failed. A 429 says "not now",
    /// so it is retried by time, not by count.
    pub rejection_timeout: Duration,
    /// First delay before a rejected (429) item is sent again; doubled per attempt.
    pub rejection_backoff: Duration,
    /// Ceiling of one such delay. Short on purpose: retried items wait in a queue
    /// outside the bulk slots, and the slots (`bulk_concurrency`) already bound how
    /// hard Elasticsearch is pushed.
    pub rejection_backoff_max: Duration,
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
            rejection_timeout: Duration::from_secs(300),
            rejection_backoff: Duration::from_millis(50),
            rejection_backoff_max: Duration::from_secs(1),
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
        jittered(self.retry_backoff, self.retry_backoff_max, attempt)
    }

    /// Delay before re-sending an item rejected (429) for the `attempt`-th time.
    pub fn rejection_delay(&self, attempt: u32) -> Duration {
        jittered(self.rejection_backoff, self.rejection_backoff_max, attempt)
    }

    /// How many items may wait for a retry before the source is paused: enough for
    /// every slot's worth of rejections, bounded so memory stays flat.
    pub fn retry_queue_limit(&self) -> usize {
        self.bulk_max_docs
            .max(1)
            .saturating_mul(self.bulk_concurrency.max(1))
            .saturating_mul(2)
    }
}

/// `base * 2^(attempt-1)`, capped, minus up to 25 % jitter.
fn jittered(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exp);
    let capped = raw.min(max);
    let jitter = rand::random::<f64>() * 0.25;
    capped.mul_f64(1.0 - jitter)
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
