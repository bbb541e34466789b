//! A loaded plugin: what was read at load (metadata, schema, imports) and the
//! calls the service makes, each in a fresh short-lived instance.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use wasmtime::Engine;

use super::bindings::{wit_types as wit, HostPre};
use super::convert::{self, FieldError, Metadata};
use super::error::PluginError;
use super::grants::Grants;
use super::instance::{Instance, Limits};
use super::plugin_sync::PluginSync;
use super::runtime_config::RuntimeConfig;
use super::secrets::Secrets;
use tributary_capability_mysql::CREDENTIAL_KEYS as MYSQL_CREDENTIALS;
use tributary_capability_postgresql::CREDENTIAL_KEYS as PG_CREDENTIALS;
use tributary_capability_redis::CREDENTIAL_KEYS as REDIS_CREDENTIALS;
use tributary_sync::JobType;

/// What a sync asks of the plugin.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Full or incremental; other types are refused with
    /// [`PluginError::UnsupportedJobType`] (the contract has no others).
    pub kind: JobType,
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
            kind: JobType::Full,
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
    pub(crate) pre: HostPre,
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

/// The configuration as the plugin receives it: secrets redacted.
fn config_json(values: &Map<String, Value>, grants: &Grants) -> String {
    // Serializing a map of JSON values cannot fail.
    serde_json::to_string(&grants.secrets.redact(values)).unwrap_or_else(|_| "{}".into())
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

    /// Whether the plugin imports capability `name` (e.g. `postgresql`).
    pub fn imports_capability(&self, name: &str) -> bool {
        self.imports.iter().any(|i| i == name)
    }

    /// Keys whose values the plugin must not receive: the fields its schema marks
    /// `sensitive`, the ones `also_sensitive` names (the connector document's own
    /// flags), and the credentials of the capabilities it imports.
    pub fn secret_keys<'a>(&'a self, also_sensitive: &'a [String]) -> Vec<&'a str> {
        let mut keys: Vec<&str> = self
            .schema
            .iter()
            .filter(|(_, f)| f.get("sensitive").and_then(Value::as_bool) == Some(true))
            .map(|(k, _)| k.as_str())
            .collect();
        keys.extend(also_sensitive.iter().map(String::as_str));
        if self.imports_capability("postgresql") {
            keys.extend(PG_CREDENTIALS);
        }
        if self.imports_capability("mysql") {
            keys.extend(MYSQL_CREDENTIALS);
        }
        if self.imports_capability("redis") {
            keys.extend(REDIS_CREDENTIALS);
        }
        keys
    }

    /// What a job of this plugin is granted for a connector configured with
    /// `values`: the capabilities it imports (opened by the host from `values`
    /// under the operator's policy) and the secrets it must not see.
    pub fn grants(
        &self,
        runtime: &RuntimeConfig,
        values: &Map<String, Value>,
        also_sensitive: &[String],
    ) -> Grants {
        Grants {
            postgresql: self
                .imports_capability("postgresql")
                .then(|| runtime.postgresql_grant(values)),
            postgresql_changes: None,
            filesystem: self
                .imports_capability("filesystem")
                .then(|| runtime.filesystem.grant(values)),
            http: self.imports_capability("http").then(|| {
                tributary_capability_http::HttpGrant::new(values.clone(), runtime.http.clone())
            }),
            mysql: self
                .imports_capability("mysql")
                .then(|| runtime.mysql_grant(values)),
            redis: self
                .imports_capability("redis")
                .then(|| runtime.redis_grant(values)),
            secrets: Secrets::new(values, self.secret_keys(also_sensitive)),
        }
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

    fn reported(&self, e: wit::PluginError, grants: &Grants) -> PluginError {
        PluginError::Reported {
            plugin: self.label.to_string(),
            kind: convert::error_kind(e.kind),
            message: e.message,
        }
        .masked(&grants.secrets)
    }

    /// Asks the plugin to check a configuration; an empty list means valid.
    pub async fn validate_config(
        &self,
        values: &Map<String, Value>,
        grants: &Grants,
    ) -> Result<Vec<FieldError>, PluginError> {
        let mut inst = self.instance(grants).await?;
        let errors = inst.validate_config(&config_json(values, grants)).await?;
        Ok(errors
            .into_iter()
            .map(|e| FieldError::from(e).masked(&grants.secrets))
            .collect())
    }

    /// Asks the plugin whether the source is reachable with this configuration.
    pub async fn ping(
        &self,
        values: &Map<String, Value>,
        grants: &Grants,
    ) -> Result<(), PluginError> {
        let mut inst = self.instance(grants).await?;
        inst.ping(&config_json(values, grants))
            .await?
            .map_err(|e| self.reported(e, grants))
    }

    /// Asks the plugin to validate advanced sync rules; an empty list means valid.
    pub async fn validate_advanced_rules(
        &self,
        values: &Map<String, Value>,
        rules: &Value,
        grants: &Grants,
    ) -> Result<Vec<String>, PluginError> {
        let mut inst = self.instance(grants).await?;
        let problems = inst
            .validate_advanced_rules(&config_json(values, grants), &rules.to_string())
            .await?;
        Ok(problems
            .into_iter()
            .map(|p| grants.secrets.mask_owned(p))
            .collect())
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
                JobType::Full => wit::JobKind::Full,
                JobType::Incremental => wit::JobKind::Incremental,
                other => {
                    return Err(PluginError::UnsupportedJobType {
                        plugin: self.label.to_string(),
                        job_type: other.as_str(),
                    })
                }
            },
            cursor: request.cursor,
            advanced_rules: request.advanced_rules.as_ref().map(Value::to_string),
            batch_size: request.batch_size,
        };
        let sync = inst
            .start_sync(&config_json(values, grants), &req)
            .await?
            .map_err(|e| self.reported(e, grants))?;
        tracing::debug!(plugin = %self.label, kind = ?request.kind, "sync started");
        Ok(PluginSync::new(
            inst,
            sync,
            self.label.clone(),
            grants.secrets.clone(),
        ))
    }
}
