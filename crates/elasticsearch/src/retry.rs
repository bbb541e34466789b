//! When and how long to wait before trying a request again.

use std::time::Duration;

use tributary_sync::Backoff;

use crate::ClientConfig;

/// The statuses elastic-ingest (and the official clients) retry.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The client's retry policy: the one place a whole request is retried (the sync
/// retries only items inside an answered `_bulk`).
///
/// Differs from elastic-ingest on purpose: Elastic sleeps `retry_interval × attempt`
/// (10, 20, 30, 40 s); here the delays follow [`Backoff`] (exponential from
/// `initial_backoff_duration`, capped at `retry_interval`, jittered), so hosts that
/// failed together do not retry together, and a short blip costs ~1 s, not 10.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (≥ 1).
    pub max_attempts: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// Whether timeouts are retried (`elasticsearch.retry_on_timeout`).
    pub retry_on_timeout: bool,
}

impl RetryPolicy {
    /// From `elasticsearch.{max_retries, initial_backoff_duration, backoff_multiplier,
    /// retry_interval, retry_on_timeout}`. `max_retries` counts attempts, as in
    /// elastic-ingest's retrier; 0 is read as 1 (one attempt, no retry).
    pub fn from_config(es: &ClientConfig) -> Self {
        Self {
            max_attempts: es.max_retries.max(1),
            backoff: Backoff {
                initial: es.initial_backoff_duration,
                multiplier: es.backoff_multiplier.max(1.0),
                max: es.retry_interval.max(es.initial_backoff_duration),
            },
            retry_on_timeout: es.retry_on_timeout,
        }
    }

    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            backoff: Backoff::NONE,
            retry_on_timeout: false,
        }
    }

    /// The sleep before retry number `retry` (1 = after the first failure).
    pub fn delay(&self, retry: u32) -> Duration {
        self.backoff.delay(retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [200, 400, 401, 403, 404, 409, 413, 501] {
            assert!(!is_retryable_status(s));
        }
    }

    #[test]
    fn from_config_defaults() {
        let p = RetryPolicy::from_config(&ClientConfig::default());
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.backoff.initial, Duration::from_secs(1));
        assert_eq!(p.backoff.max, Duration::from_secs(10));
        assert_eq!(RetryPolicy::none().delay(1), Duration::ZERO);
    }
}
