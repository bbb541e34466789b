//! When and how long to wait before trying a request again.

use std::time::Duration;

use rand::Rng;

use crate::ClientConfig;

/// The statuses elastic-ingest (and the official clients) retry.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Bounded exponential backoff with jitter.
///
/// Differs from elastic-ingest on purpose: Elastic sleeps `retry_interval × attempt`
/// (10, 20, 30, 40 s); here delay *n* is drawn from
/// `[d/2, d]` with `d = min(initial × multiplier^(n-1), max_delay)`, so hosts that
/// failed together do not retry together, and a short blip costs ~1 s, not 10.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (≥ 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Growth per retry (≥ 1).
    pub multiplier: f64,
    /// Cap of one delay.
    pub max_delay: Duration,
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
            initial_delay: es.initial_backoff_duration,
            multiplier: es.backoff_multiplier.max(1.0),
            max_delay: es.retry_interval.max(es.initial_backoff_duration),
            retry_on_timeout: es.retry_on_timeout,
        }
    }

    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_delay: Duration::ZERO,
            multiplier: 1.0,
            max_delay: Duration::ZERO,
            retry_on_timeout: false,
        }
    }

    /// The sleep before retry number `retry` (1 = after the first failure).
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.initial_delay.as_secs_f64()
            * self.multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        let capped = base.min(self.max_delay.as_secs_f64());
        if capped <= 0.0 {
            return Duration::ZERO;
        }
        let jittered = rand::thread_rng().gen_range(capped / 2.0..=capped);
        Duration::from_secs_f64(jittered)
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
    fn delays_grow_are_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(10),
            retry_on_timeout: true,
        };
        for _ in 0..50 {
            let d1 = p.delay(1).as_secs_f64();
            assert!((0.5..=1.0).contains(&d1), "{d1}");
            let d3 = p.delay(3).as_secs_f64();
            assert!((2.0..=4.0).contains(&d3), "{d3}");
            let d9 = p.delay(9).as_secs_f64();
            assert!((5.0..=10.0).contains(&d9), "{d9}");
        }
        assert!(p.delay(1000) <= Duration::from_secs(10));
    }

    #[test]
    fn from_config_defaults() {
        let p = RetryPolicy::from_config(&ClientConfig::default());
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.initial_delay, Duration::from_secs(1));
        assert_eq!(p.max_delay, Duration::from_secs(10));
        assert_eq!(RetryPolicy::none().delay(1), Duration::ZERO);
    }
}
