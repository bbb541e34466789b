//! Fault injection: what to break, and deterministic dice to decide when.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Faults to inject. Rates are probabilities in `[0, 1]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of `_bulk` items answered with a per-item 429 `es_rejected_execution_exception`.
    pub bulk_item_429_rate: f64,
    /// Share of requests answered with a whole-request 429.
    pub request_429_rate: f64,
    /// Share of requests answered with a 503.
    pub request_503_rate: f64,
    /// Share of requests whose connection is closed after the body was read, without an answer.
    pub drop_connection_rate: f64,
    /// Latency added before answering, in milliseconds.
    pub latency_ms: u64,
    /// When true, request faults apply to every non-admin path; otherwise only to `_bulk`.
    pub all_paths: bool,
}

/// What the server does with one request before handling it.
#[derive(Debug, PartialEq)]
pub enum RequestFault {
    None,
    TooMany,
    Unavailable,
    Drop,
}

pub struct FaultState {
    faults: RwLock<Faults>,
    seed: u64,
    counter: AtomicU64,
}

impl FaultState {
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultState {
            faults: RwLock::new(faults),
            seed,
            counter: AtomicU64::new(0),
        }
    }

    pub fn get(&self) -> Faults {
        self.faults.read().clone()
    }

    pub fn set(&self, f: Faults) {
        *self.faults.write() = f;
    }

    /// One roll of the dice: a pure function of the seed and the roll's ordinal, so a test that
    /// sends the same requests in the same order sees the same faults.
    fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let x = splitmix64(self.seed ^ splitmix64(n));
        ((x >> 11) as f64 / (1u64 << 53) as f64) < rate
    }

    /// Decides the whole-request fault for a request to `path`.
    pub fn request_fault(&self, is_bulk: bool) -> RequestFault {
        let f = self.get();
        if !is_bulk && !f.all_paths {
            return RequestFault::None;
        }
        if self.roll(f.drop_connection_rate) {
            return RequestFault::Drop;
        }
        if self.roll(f.request_429_rate) {
            return RequestFault::TooMany;
        }
        if self.roll(f.request_503_rate) {
            return RequestFault::Unavailable;
        }
        RequestFault::None
    }

    pub fn latency_ms(&self, is_bulk: bool) -> u64 {
        let f = self.faults.read();
        if is_bulk || f.all_paths {
            f.latency_ms
        } else {
            0
        }
    }

    /// Returns a per-item decider for one bulk request (reads the rate once).
    pub fn bulk_item_rate(&self) -> f64 {
        self.faults.read().bulk_item_429_rate
    }

    pub fn roll_item(&self, rate: f64) -> bool {
        self.roll(rate)
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let a = FaultState::new(Faults::default(), 42);
        let b = FaultState::new(Faults::default(), 42);
        let ra: Vec<bool> = (0..200).map(|_| a.roll(0.3)).collect();
        let rb: Vec<bool> = (0..200).map(|_| b.roll(0.3)).collect();
        assert_eq!(ra, rb);
        let hits = ra.iter().filter(|x| **x).count();
        assert!((30..90).contains(&hits), "rate 0.3 of 200 gave {hits}");
        let c = FaultState::new(Faults::default(), 43);
        let rc: Vec<bool> = (0..200).map(|_| c.roll(0.3)).collect();
        assert_ne!(ra, rc);
    }
}
