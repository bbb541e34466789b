//! Tributary's host: the `tributary` binary's library half.
//!
//! See `ARCHITECTURE.md` at the repository root for what each module owns.

pub mod cli;
pub mod config;
pub mod document;
pub mod elasticsearch;
pub mod metrics;
pub mod plugins;
pub mod service;
pub mod sync;
