//! The error budget: Elastic's `ErrorMonitor` (`docs/elastic/sync-pipeline.md#errormonitor`) over
//! per-item outcomes, plus the job-level error type.

use std::collections::VecDeque;

use super::settings::ErrorBudget;
use super::traits::BulkAction;

/// One item that failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub id: String,
    pub action: BulkAction,
    pub status: u16,
    /// Elasticsearch `error.type` (or a Tributary label such as `retries_exhausted`).
    pub error_type: String,
    pub reason: String,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = match self.action {
            BulkAction::Index => "index",
            BulkAction::Update => "update",
            BulkAction::Delete => "delete",
        };
        write!(
            f,
            "{action} of id '{}' failed with status {}: {}: {}",
            self.id, self.status, self.error_type, self.reason
        )
    }
}

/// Why the budget tripped; the message names the threshold and the last errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}; last errors: {}", last_errors.join("; "))]
pub struct TooManyErrors {
    pub reason: String,
    pub last_errors: Vec<String>,
}

/// Tracks item outcomes and trips like Elastic's `ErrorMonitor`. The window starts
/// filled with successes, as Elastic's does, so early errors are rated over the full
/// window size rather than over the few items seen so far.
#[derive(Debug)]
pub struct ErrorMonitor {
    budget: ErrorBudget,
    window: Vec<bool>,
    window_pos: usize,
    window_errors: usize,
    consecutive: u64,
    total: u64,
    last: VecDeque<String>,
}

impl ErrorMonitor {
    /// A monitor with no outcome seen yet.
    pub fn new(budget: ErrorBudget) -> Self {
        Self {
            window: vec![false; budget.error_window_size],
            window_pos: 0,
            window_errors: 0,
            consecutive: 0,
            total: 0,
            last: VecDeque::new(),
            budget,
        }
    }

    /// Total errors tracked.
    pub fn total_errors(&self) -> u64 {
        self.total
    }

    /// The last errors kept (oldest first).
    pub fn last_errors(&self) -> Vec<String> {
        self.last.iter().cloned().collect()
    }

    /// Records a successful item.
    pub fn track_success(&mut self) {
        self.consecutive = 0;
        self.push_window(false);
    }

    /// Records a failed item; `Err` when the budget is exhausted.
    pub fn track_error(&mut self, error: &ItemError) -> Result<(), TooManyErrors> {
        self.total += 1;
        self.consecutive += 1;
        self.push_window(true);
        self.last.push_back(error.to_string());
        while self.last.len() > self.budget.error_queue_size.max(1) {
            self.last.pop_front();
        }
        if !self.budget.enabled {
            return Ok(());
        }
        let reason = if self.consecutive > self.budget.max_consecutive_errors {
            format!(
                "Exceeded maximum consecutive errors - saw {} errors in a row",
                self.consecutive
            )
        } else if self.total > self.budget.max_total_errors {
            format!(
                "Exceeded maximum total error count - saw {} errors",
                self.total
            )
        } else if !self.window.is_empty()
            && self.window_errors as f64 / self.window.len() as f64 > self.budget.max_error_rate
        {
            format!(
                "Exceeded maximum error ratio of {} for last {} operations ({} errors)",
                self.budget.max_error_rate,
                self.window.len(),
                self.window_errors
            )
        } else {
            return Ok(());
        };
        Err(TooManyErrors {
            reason,
            last_errors: self.last_errors(),
        })
    }

    fn push_window(&mut self, is_error: bool) {
        let Some(slot) = self.window.get_mut(self.window_pos) else {
            return;
        };
        if *slot {
            self.window_errors -= 1;
        }
        *slot = is_error;
        if is_error {
            self.window_errors += 1;
        }
        self.window_pos = (self.window_pos + 1) % self.window.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(i: usize) -> ItemError {
        ItemError {
            id: format!("doc-{i}"),
            action: BulkAction::Index,
            status: 400,
            error_type: "mapper_parsing_exception".into(),
            reason: "failed to parse field [x]".into(),
        }
    }

    #[test]
    fn trips_after_more_than_max_consecutive() {
        let mut m = ErrorMonitor::new(ErrorBudget {
            max_error_rate: 1.0,
            ..ErrorBudget::default()
        });
        for i in 0..10 {
            assert!(
                m.track_error(&err(i)).is_ok(),
                "error {i} must not trip yet"
            );
        }
        let e = m.track_error(&err(10)).unwrap_err();
        assert!(e.reason.contains("11 errors in a row"), "{e}");
        assert_eq!(e.last_errors.len(), 10);
        assert!(e.to_string().contains("doc-10"), "{e}");
        assert!(
            !e.to_string().contains("doc-0 "),
            "oldest error dropped: {e}"
        );
    }

    #[test]
    fn success_resets_consecutive_but_not_total() {
        let mut m = ErrorMonitor::new(ErrorBudget {
            max_total_errors: 5,
            max_error_rate: 1.0,
            ..ErrorBudget::default()
        });
        for i in 0..5 {
            m.track_error(&err(i)).unwrap();
            m.track_success();
        }
        let e = m.track_error(&err(5)).unwrap_err();
        assert!(e.reason.contains("total error count - saw 6"), "{e}");
    }

    #[test]
    fn window_rate_counts_only_recent_outcomes() {
        // 15 errors in a window of 100 is exactly the 0.15 limit: allowed; the 16th trips.
        let mut m = ErrorMonitor::new(ErrorBudget::default());
        for i in 0..15 {
            m.track_error(&err(i)).unwrap();
            for _ in 0..5 {
                m.track_success();
            }
        }
        // 100 successes push every error out of the window.
        for _ in 0..100 {
            m.track_success();
        }
        for i in 0..15 {
            m.track_error(&err(i)).unwrap();
            m.track_success();
        }
        let e = m.track_error(&err(99)).unwrap_err();
        assert!(e.reason.contains("error ratio"), "{e}");
        assert_eq!(m.total_errors(), 31);
    }

    #[test]
    fn disabled_budget_only_counts() {
        let mut m = ErrorMonitor::new(ErrorBudget {
            enabled: false,
            ..ErrorBudget::default()
        });
        for i in 0..2000 {
            m.track_error(&err(i)).unwrap();
        }
        assert_eq!(m.total_errors(), 2000);
    }
}
