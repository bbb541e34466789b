//! One sync job end to end: source → basic rules → bulk target.
//!
//! Works over two traits only ([`DocumentSource`], [`BulkTarget`]) so it can be
//! tested with in-memory implementations (`memory`, behind the `test-util`
//! feature): no WASM, no network. Entry point: [`run_sync`]. The [`document`]
//! module is the type that flows through it, and what a document may hold.

mod backoff;
mod batcher;
pub mod document;
mod error_budget;
mod job;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
mod pipeline;
mod request;
pub mod rules;
mod settings;
mod stats;
mod traits;

#[cfg(test)]
mod tests;

pub use backoff::Backoff;
pub use error_budget::{ErrorMonitor, ItemError, TooManyErrors};
pub use job::{
    run_sync, Failures, JobType, SpecError, SyncJobSpec, SyncOutcome, SyncResult,
    MAX_FAILURE_SAMPLES,
};
pub use pipeline::{effective_id, PipelineSettings, MAX_ID_BYTES};
pub use rules::{
    validate_basic_rules, validation_json, BasicRule, FilterValidationError, ValidationState,
};
pub use settings::{ErrorBudget, SyncSettings};
pub use stats::{mib_rounded, SyncStats};
pub use traits::*;
