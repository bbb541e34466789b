//! How long to wait before trying again: the one backoff formula of the house,
//! used by the Elasticsearch client for whole requests and by the sync for items.

use std::time::Duration;

/// Bounded exponential backoff with jitter: the delay before retry `n` (1 = after
/// the first failure) is drawn from `[d/2, d]` with
/// `d = min(initial × multiplier^(n-1), max)`, so callers that failed together do
/// not retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Growth per retry (at least 1).
    pub multiplier: f64,
    /// Cap of one delay.
    pub max: Duration,
}

impl Backoff {
    /// Doubling from `initial` up to `max`.
    pub const fn doubling(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            multiplier: 2.0,
            max,
        }
    }

    /// No wait at all.
    pub const NONE: Backoff = Backoff::doubling(Duration::ZERO, Duration::ZERO);

    /// The wait before retry `n`.
    pub fn delay(&self, n: u32) -> Duration {
        let base = self.initial.as_secs_f64()
            * self
                .multiplier
                .max(1.0)
                .powi(n.saturating_sub(1).min(64) as i32);
        let capped = base.min(self.max.as_secs_f64());
        if capped <= 0.0 || !capped.is_finite() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(capped * (0.5 + rand::random::<f64>() * 0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_jittered() {
        let b = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(10));
        for _ in 0..50 {
            let d1 = b.delay(1).as_secs_f64();
            assert!((0.5..=1.0).contains(&d1), "{d1}");
            let d3 = b.delay(3).as_secs_f64();
            assert!((2.0..=4.0).contains(&d3), "{d3}");
            let d9 = b.delay(9).as_secs_f64();
            assert!((5.0..=10.0).contains(&d9), "{d9}");
        }
        assert_eq!(Backoff::NONE.delay(3), Duration::ZERO);
    }
}
