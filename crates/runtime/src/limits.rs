//! Per-instance limits: the memory cap (a `ResourceLimiter`) and the CPU budget
//! counted in epoch ticks.

use wasmtime::ResourceLimiter;

/// Caps the total linear memory of one instance and records when the cap was hit:
/// a failed `memory.grow` is not always a trap (the guest may abort, or report an
/// allocation failure its own way), so the flag is what classifies the failure.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    total: usize,
    /// Set when the guest asked for more than the cap.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory in total.
    pub fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            total: 0,
            hit: false,
        }
    }

    /// Bytes of linear memory currently committed by the instance.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Table elements allowed per table; generous for real code, fatal for a hog.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let next = self.total.saturating_add(grow);
        if next > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.total = next;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // A component instantiates a handful of core instances.
        64
    }

    fn memories(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        64
    }
}

/// The CPU budget of the current call, in epoch ticks the guest spent running.
#[derive(Debug, Default)]
pub struct CpuBudget {
    /// Ticks allowed per call.
    pub allowed: u64,
    /// Ticks used by the current call.
    pub used: u64,
    /// Set when the current call ran out.
    pub exceeded: bool,
}

/// Marker error raised from the epoch callback when a call runs out of CPU.
#[derive(Debug, thiserror::Error)]
#[error("CPU time limit exceeded")]
pub struct CpuLimitExceeded;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_counts_all_memories_and_records_the_hit() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap_or(false));
        assert!(l.memory_growing(0, 30, None).unwrap_or(false));
        assert!(!l.hit);
        assert!(!l.memory_growing(60, 80, None).unwrap_or(true));
        assert!(l.hit);
        assert_eq!(l.total(), 90);
    }
}
