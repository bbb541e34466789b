//! A loaded plugin: what was read at load (metadata, schema, imports) and the
//! calls the service makes, each in a fresh short-lived instance.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use wasmtime::Engine;

use super::bindings::{wit_types as wit, Host_Pre as HostPre};
use super::config::Grants;
use super::convert::{self, FieldError, Metadata};
use super::error::PluginError;
use super::instance::{Instance, Limits};
use super::job::PluginSync;
use super::state::HostState;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Full,
    Incremental,
}

/// What a sync asks of the plugin.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub kind: JobKind,
    /// JSON text of the cursor the previous successful incremental sync returned.
    pub cursor: Option<String>,
    /// The active (already validated) advanced rules, if any.
    pub advanced_rules: Option<Value>,
    /// How many documents the host would like per batch (a hint).
    pub batch_size: u32,
}

impl SyncRequest {
    /// A full sync with `batch_size` documents per batch.
    pub fn full(batch_size: u32) -> Self {
        SyncRequest {
            kind: JobKind::Full,
            cursor: None,
            advanced_rules: None,
            batch_size,
        }
    }
}

/// How a plugin was loaded (for reporting cold vs warm start).
#[derive(Debug, Clone, Copy)]
pub struct LoadStats {
    /// The compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// Time to get a runnable component (read, hash, compile or deserialize, link).
    pub prepare: Duration,
    /// Total load time including reading metadata and schema.
    pub total: Duration,
}

/// A plugin that passed every load check.
pub struct LoadedPlugin {
    /// The `.wasm` file.
    pub file: PathBuf,
    /// Metadata, read once at load.
    pub metadata: Metadata,
    /// The `tributary:connector` version the plugin was built against.
    pub contract_version: String,
    /// Capabilities the plugin imports (`logging`, `postgresql`).
    pub imports: Vec<String>,
    /// WASI interfaces it imports (all sandboxed), e.g. `wasi:cli/environment@0.2.4`.
    pub wasi_imports: Vec<String>,
    /// How loading went.
    pub load_stats: LoadStats,
    pub(crate) schema: Map<String, Value>,
    pub(crate) pre: HostPre<HostState>,
    pub(crate) engine: Engine,
    pub(crate) limits: Arc<Limits>,
    pub(crate) label: Arc<str>,
    pub(crate) service_type: Arc<str>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("file", &self.file)
            .field("metadata", &self.metadata)
            .field("contract_version", &self.contract_version)
            .field("imports", &self.imports)
            .finish_non_exhaustive()
    }
}

fn config_json(values: &Map<String, Value>) -> String {
    // Serializing a map of JSON values cannot fail.
    serde_json::to_string(values).unwrap_or_else(|_| "{}".into())
}

impl LoadedPlugin {
    /// `service type (file)`, the name used in every message about this plugin.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The configuration schema as registered on an Elastic connector: an object
    /// keyed by field name, each a Rich Configurable Field.
    pub fn configuration_schema(&self) -> Map<String, Value> {
        self.schema.clone()
    }

    pub(crate) async fn instance(&self, grants: &Grants) -> Result<Instance, PluginError> {
        Instance::new(
            &self.engine,
            &self.pre,
            self.service_type.clone(),
            self.label.clone(),
            self.limits.clone(),
            grants.clone(),
        )
        .await
    }

    fn reported(&self, e: wit::PluginError) -> PluginError {
        PluginError::Reported {
            plugin: self.label.to_string(),
            kind: convert::error_kind(e.kind),
            message: e.message,
        }
    }

    /// Asks the plugin to check a configuration; an empty list means valid.
    pub async fn validate_config(
        &self,
        values: &Map<String, Value>,
        grants: &Grants,
    ) -> Result<Vec<FieldError>, PluginError> {
        let mut inst = self.instance(grants).await?;
        let errors = inst.validate_config(&config_json(values)).await?;
        Ok(errors.into_iter().map(FieldError::from).collect())
    }

    /// Asks the plugin whether the source is reachable with this configuration.
    pub async fn ping(
        &self,
        values: &Map<String, Value>,
        grants: &Grants,
    ) -> Result<(), PluginError> {
        let mut inst = self.instance(grants).await?;
        inst.ping(&config_json(values))
            .await?
            .map_err(|e| self.reported(e))
    }

    /// Asks the plugin to validate advanced sync rules; an empty list means valid.
    pub async fn validate_advanced_rules(
        &self,
        values: &Map<String, Value>,
        rules: &Value,
        grants: &Grants,
    ) -> Result<Vec<String>, PluginError> {
        let mut inst = self.instance(grants).await?;
        inst.validate_advanced_rules(&config_json(values), &rules.to_string())
            .await
    }

    /// Starts a sync in its own instance; pull batches from the returned source.
    pub async fn start_sync(
        &self,
        values: &Map<String, Value>,
        request: SyncRequest,
        grants: &Grants,
    ) -> Result<PluginSync, PluginError> {
        let mut inst = self.instance(grants).await?;
        let req = wit::SyncRequest {
            kind: match request.kind {
                JobKind::Full => wit::JobKind::Full,
                JobKind::Incremental => wit::JobKind::Incremental,
            },
            cursor: request.cursor,
            advanced_rules: request.advanced_rules.as_ref().map(Value::to_string),
            batch_size: request.batch_size,
        };
        let sync = inst
            .start_sync(&config_json(values), &req)
            .await?
            .map_err(|e| self.reported(e))?;
        tracing::debug!(plugin = %self.label, kind = ?request.kind, "sync started");
        Ok(PluginSync::new(inst, sync, self.label.clone()))
    }
}
