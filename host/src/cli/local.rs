//! One plugin run in-process, without Elasticsearch: loaded under the grants of
//! a config.yml, called with configuration values from a JSON file. Shared by
//! `tributary extract` (documents to stdout) and `tributary check` (the
//! conformance kit), so both run a plugin exactly as the service would.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use tributary_runtime::{
    printable, Grants, LoadedPlugin, PluginRuntime, PluginSet, PluginSync, RuntimeConfig,
    SyncRequest,
};

/// Logs to stderr (stdout carries the command's output); `RUST_LOG` overrides.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,tributary::plugins::loader=error")
    });
    // Another command (or a test) may have installed a subscriber already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The runtime settings of `config` (its `plugins:` section), or the defaults.
pub fn runtime_settings(config: Option<&Path>) -> anyhow::Result<RuntimeConfig> {
    let Some(path) = config else {
        return Ok(RuntimeConfig::default());
    };
    let cfg = crate::config::load(path).with_context(|| format!("reading {}", path.display()))?;
    for w in &cfg.warnings {
        tracing::warn!(config = %path.display(), "{w}");
    }
    Ok(super::run::runtime_config(&cfg))
}

/// The plugin with `service_type` in `set`, or an error listing what is there
/// (and why other files were refused, e.g. a capability not granted).
pub fn find(set: &PluginSet, service_type: &str, dir: &Path) -> anyhow::Result<Arc<LoadedPlugin>> {
    if let Some(p) = set.get(service_type) {
        return Ok(p);
    }
    let available: Vec<&str> = set
        .plugins
        .iter()
        .map(|p| p.metadata.service_type.as_str())
        .collect();
    let mut msg = format!(
        "no plugin with service type `{service_type}` in {} (available: {})",
        dir.display(),
        if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        }
    );
    for r in &set.refused {
        msg.push_str(&format!("\nrefused: {}", printable(&r.reason)));
    }
    bail!(msg)
}

/// Configuration values from a JSON object file. String values may name
/// environment variables as config.yml does (`${VAR}`, `${VAR:-default}`), so a
/// checked-in values file (`check-values.json`) can point at a test's own
/// database or directory.
pub fn read_values(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing {} as JSON", path.display()))?;
    let Value::Object(map) = value else {
        bail!(
            "{} must hold a JSON object of configuration values",
            path.display()
        )
    };
    let source = path.display().to_string();
    let env = |name: &str| std::env::var(name).ok();
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        let value = match value {
            Value::String(s) => Value::String(
                crate::config::interpolate(&s, &key, &source, &env)
                    .with_context(|| format!("value of `{key}` in {source}"))?,
            ),
            other => other,
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// A runtime with one plugin picked out of a folder.
pub struct LocalPlugin {
    pub runtime: PluginRuntime,
    pub plugin: Arc<LoadedPlugin>,
}

impl LocalPlugin {
    /// Loads the folder under the grants of `config` and picks `service_type`.
    pub async fn load(
        dir: &Path,
        service_type: &str,
        config: Option<&Path>,
    ) -> anyhow::Result<LocalPlugin> {
        let runtime =
            PluginRuntime::new(runtime_settings(config)?).context("starting the plugin runtime")?;
        let set = runtime
            .load_dir(dir)
            .await
            .with_context(|| format!("loading plugins from {}", dir.display()))?;
        let plugin = find(&set, service_type, dir)?;
        Ok(LocalPlugin { runtime, plugin })
    }

    /// What a job gets for `values`: the host opens the capabilities the plugin
    /// imports from the values, as it would from the connector's configuration.
    pub fn grants(&self, values: &Map<String, Value>) -> Grants {
        self.plugin.grants(self.runtime.config(), values, &[])
    }

    /// Starts a sync with `values`.
    pub async fn start_sync(
        &self,
        values: &Map<String, Value>,
        request: SyncRequest,
    ) -> Result<PluginSync, tributary_runtime::PluginError> {
        let grants = self.grants(values);
        self.plugin.start_sync(values, request, &grants).await
    }
}
