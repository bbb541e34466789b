//! Tributary's host: the `tributary` binary's library half (command line, config.yml,
//! the long-running service). The layers below are crates of their own:
//! `tributary-sync`, `tributary-elasticsearch`, `tributary-runtime`, the
//! `tributary-capability-*` crates and `tributary-metrics`.
//!
//! See `ARCHITECTURE.md` at the repository root for what each crate owns.

pub mod cli;
pub mod config;
pub mod metrics_server;
pub mod service;
