//! The plugin runtime: wasmtime engine, loading a folder, compile cache, limits,
//! bindings. The capabilities it grants live in crates of their own
//! (`tributary-capability-*`, free of wasmtime); `bindings` connects them to the WIT.
//!
//! Each module has one job:
//! - `runtime_config`: [`RuntimeConfig`] (limits, cache location, capability policies); `grants`: [`Grants`] (what one job gets).
//! - `engine`: the wasmtime engine and the epoch ticker.
//! - `cache`: compiled components on disk, keyed by content and engine.
//! - `version`: the contract versions bound, and which one a plugin was built against.
//! - `loader`: [`PluginRuntime`], [`PluginSet`]: a folder of `*.wasm` → plugins.
//! - `loaded_plugin`: [`LoadedPlugin`] and its calls; `plugin_sync`: [`PluginSync`] (one job's instance).
//! - `instance`: one store: arming limits per call and naming what went wrong.
//! - `bindings`: one `bindgen!` per contract version (`wit/vX.Y.Z`) serving the
//!   `logging` and `postgresql` imports; exports answer in the newest types.
//! - `secrets`: sensitive values withheld from plugins and masked in what they return.
//! - `logging`: plugin log lines, escaped, masked and within a budget.
//! - `shaping`: documents the host shapes from a capability's rows for a plugin
//!   (WIT `shaping`), checked as `convert` checks a batch.
//! - `state`, `limits`, `convert` (checks everything a plugin returns), `error`.
//!
//! The sandbox: no preopened directories, no environment, no arguments, no
//! sockets or name lookup, empty stdin; stdout/stderr go to `tracing`. Per
//! instance: a linear-memory cap, a CPU budget per call (epoch ticks while the
//! guest runs) and a wall-clock bound per call. One instance per sync job; a
//! fresh one for every validate/ping call.

mod bindings;
mod cache;
mod convert;
mod engine;
mod error;
mod grants;
mod instance;
mod limits;
mod loaded_plugin;
mod loader;
mod logging;
mod plugin_sync;
mod runtime_config;
mod secrets;
mod shaping;
mod state;
mod version;

pub use convert::{Features, FieldError, Metadata};
pub use error::{ErrorKind, PluginError};
pub use grants::Grants;
pub use loaded_plugin::{LoadStats, LoadedPlugin, SyncRequest};
pub use loader::{PluginRuntime, PluginSet, RefusedPlugin};
pub use logging::printable;
pub use plugin_sync::PluginSync;
pub use runtime_config::{default_cache_dir, RuntimeConfig};
pub use secrets::{Secrets, REDACTED};
pub use tributary_sync::JobType;
pub use version::{compatible as contract_compatible, host_contract_version, supported_versions};
