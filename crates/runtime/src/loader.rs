//! Loading a plugin folder: every `*.wasm` is checked (a component, a compatible
//! contract, only imports the host provides), compiled or taken from the cache,
//! and asked for its metadata and schema once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use super::bindings::{self, HostPre};
use super::cache::{cache_key, engine_fingerprint, CompileCache};
use super::convert;
use super::engine::{build_engine, EpochTicker};
use super::error::PluginError;
use super::grants::Grants;
use super::instance::{Instance, Limits};
use super::loaded_plugin::{LoadStats, LoadedPlugin};
use super::runtime_config::RuntimeConfig;
use super::state::HostState;
use super::version::{
    contract_for, split_versioned, supported_versions, Contract, CONTRACT_PACKAGE,
};

/// A file the runtime refused to load.
#[derive(Debug)]
pub struct RefusedPlugin {
    pub file: PathBuf,
    /// Human-readable reason (names the file and the cause).
    pub reason: String,
    /// The same, typed.
    pub error: PluginError,
}

/// The plugins of one folder.
#[derive(Debug, Default)]
pub struct PluginSet {
    pub plugins: Vec<Arc<LoadedPlugin>>,
    pub refused: Vec<RefusedPlugin>,
}

impl PluginSet {
    /// The plugin with this service type.
    pub fn get(&self, service_type: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins
            .iter()
            .find(|p| p.metadata.service_type == service_type)
            .cloned()
    }
}

/// The plugin runtime: one engine, linker and compile cache for every plugin.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<CompileCache>,
    fingerprint: [u8; 32],
    limits: Arc<Limits>,
    config: RuntimeConfig,
    _ticker: EpochTicker,
}

/// Interfaces of our own package that the host provides.
const PROVIDED_CAPABILITIES: &[&str] = &[
    "logging",
    "types",
    "postgresql",
    "postgresql-changes",
    "postgresql-documents",
    "mysql",
    "mysql-documents",
    "redis",
    "filesystem",
    "http",
];

impl PluginRuntime {
    /// Builds the engine, links the host's imports and starts the epoch ticker.
    pub fn new(cfg: RuntimeConfig) -> Result<Self, PluginError> {
        let engine = build_engine(&cfg)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("cannot link WASI: {e}")))?;
        bindings::add_to_linker(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("cannot link the host imports: {e}")))?;
        let ticker = EpochTicker::start(&engine, cfg.epoch_tick)?;
        let fingerprint = engine_fingerprint(&engine);
        let limits = Arc::new(Limits {
            memory_limit_mb: cfg.memory_limit_mb,
            cpu_limit: cfg.cpu_limit,
            call_timeout: cfg.call_timeout,
            epoch_tick: cfg.epoch_tick,
            max_empty_batches: cfg.max_empty_batches.max(1),
        });
        Ok(PluginRuntime {
            cache: cfg.cache_dir.clone().map(CompileCache::new),
            engine,
            linker,
            fingerprint,
            limits,
            config: cfg,
            _ticker: ticker,
        })
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Loads every `*.wasm` in `dir`. Unloadable files are listed in `refused`;
    /// two plugins with one service type fail the whole load.
    pub async fn load_dir(&self, dir: &Path) -> Result<PluginSet, PluginError> {
        let read = std::fs::read_dir(dir).map_err(|source| PluginError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in read {
            let entry = entry.map_err(|source| PluginError::ReadDir {
                dir: dir.to_path_buf(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut set = PluginSet::default();
        let mut by_type: HashMap<String, PathBuf> = HashMap::new();
        for file in files {
            match self.load_file(&file).await {
                Ok(plugin) => {
                    let st = plugin.metadata.service_type.clone();
                    if let Some(first) = by_type.get(&st) {
                        return Err(PluginError::DuplicateServiceType {
                            service_type: st,
                            first: first.clone(),
                            second: file,
                        });
                    }
                    by_type.insert(st, file);
                    set.plugins.push(Arc::new(plugin));
                }
                Err(error) => {
                    tracing::warn!(file = %file.display(), error = %error, "plugin refused");
                    set.refused.push(RefusedPlugin {
                        file,
                        reason: error.to_string(),
                        error,
                    });
                }
            }
        }
        Ok(set)
    }

    /// Loads one component file.
    pub async fn load_file(&self, file: &Path) -> Result<LoadedPlugin, PluginError> {
        let started = Instant::now();
        let bytes = tokio::fs::read(file)
            .await
            .map_err(|source| PluginError::ReadFile {
                file: file.to_path_buf(),
                source,
            })?;
        if !is_component(&bytes) {
            let reason = if is_core_module(&bytes) {
                "it is a core WebAssembly module, not a component (build it for wasm32-wasip2)"
            } else {
                "it is not a WebAssembly component"
            };
            return Err(PluginError::NotComponent {
                file: file.to_path_buf(),
                reason: reason.into(),
            });
        }
        let (component, from_cache) = self.component(file, bytes).await?;
        let (contract, contract_version) = check_contract(&self.engine, file, &component)?;
        let (imports, wasi_imports, unknown) = imports_of(&self.engine, &component);
        for cap in &imports {
            if let Some(key) = self.config.ungranted(cap) {
                return Err(PluginError::UngrantedCapability {
                    file: file.to_path_buf(),
                    capability: cap.clone(),
                    key,
                });
            }
        }
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| PluginError::MissingImport {
                    file: file.to_path_buf(),
                    imports: if unknown.is_empty() {
                        "an interface".into()
                    } else {
                        unknown.join(", ")
                    },
                    reason: root_message(&e),
                })?;
        let pre = HostPre::new(contract, instance_pre).map_err(|e| {
            PluginError::IncompatibleContract {
                file: file.to_path_buf(),
                found: format!(
                    "{contract_version} (with mismatching definitions: {})",
                    root_message(&e)
                ),
                supported: supported_versions(),
            }
        })?;
        let prepare = started.elapsed();

        // Metadata and schema are read once, in a short-lived instance without grants.
        let file_label: Arc<str> = Arc::from(file.display().to_string());
        let mut inst = Instance::new(
            &self.engine,
            &pre,
            file_label.clone(),
            file_label.clone(),
            self.limits.clone(),
            Grants::default(),
        )
        .await?;
        let metadata = convert::metadata(inst.metadata().await?).map_err(|message| {
            PluginError::InvalidMetadata {
                plugin: file_label.to_string(),
                what: "metadata",
                message,
            }
        })?;
        let label: Arc<str> =
            Arc::from(format!("`{}` ({})", metadata.service_type, file.display()));
        let schema = convert::schema(inst.configuration_schema().await?).map_err(|message| {
            PluginError::InvalidMetadata {
                plugin: label.to_string(),
                what: "configuration schema",
                message,
            }
        })?;
        let total = started.elapsed();
        tracing::info!(
            plugin = %metadata.service_type,
            file = %file.display(),
            version = %metadata.version,
            contract = %contract_version,
            from_cache,
            prepare_ms = prepare.as_secs_f64() * 1e3,
            total_ms = total.as_secs_f64() * 1e3,
            "plugin loaded"
        );
        Ok(LoadedPlugin {
            file: file.to_path_buf(),
            service_type: Arc::from(metadata.service_type.as_str()),
            metadata,
            contract_version,
            imports,
            wasi_imports,
            load_stats: LoadStats {
                from_cache,
                prepare,
                total,
            },
            schema,
            pre,
            engine: self.engine.clone(),
            limits: self.limits.clone(),
            label,
        })
    }

    /// The compiled component: from the cache, or compiled now (off the async
    /// threads: compiling takes hundreds of milliseconds) and then cached.
    async fn component(
        &self,
        file: &Path,
        bytes: Vec<u8>,
    ) -> Result<(Component, bool), PluginError> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let fingerprint = self.fingerprint;
        let file_buf = file.to_path_buf();
        let join = tokio::task::spawn_blocking(move || {
            let key = cache_key(&bytes, &fingerprint);
            if let Some(c) = cache.as_ref().and_then(|c| c.load(&engine, &key)) {
                return Ok((c, true));
            }
            let component = Component::new(&engine, &bytes).map_err(|e| PluginError::Compile {
                file: file_buf.clone(),
                reason: root_message(&e),
            })?;
            if let Some(cache) = &cache {
                cache.store(&key, &component);
            }
            Ok((component, false))
        })
        .await;
        join.map_err(|e| PluginError::Compile {
            file: file.to_path_buf(),
            reason: format!("compile task failed: {e}"),
        })?
    }
}

/// The binary header of a component: `\0asm`, version 0x0d, layer 1.
fn is_component(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x0d\0\x01\0")
}

/// The binary header of a core module: `\0asm`, version 1, layer 0.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x01\0\0\0")
}

/// The whole error chain of a wasmtime error on one line.
fn root_message(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The plugin's `tributary:connector/source` export version and the binding
/// that runs it, if this host has one.
fn check_contract(
    engine: &Engine,
    file: &Path,
    component: &Component,
) -> Result<(Contract, String), PluginError> {
    let ty = component.component_type();
    let wanted = format!("{CONTRACT_PACKAGE}/source");
    let mut names = Vec::new();
    for (name, _) in ty.exports(engine) {
        let (iface, version) = split_versioned(name);
        if iface == wanted {
            let found = version.unwrap_or("(unversioned)").to_string();
            return match contract_for(&found) {
                Some(contract) => Ok((contract, found)),
                None => Err(PluginError::IncompatibleContract {
                    file: file.to_path_buf(),
                    found,
                    supported: supported_versions(),
                }),
            };
        }
        names.push(name.to_string());
    }
    Err(PluginError::MissingExport {
        file: file.to_path_buf(),
        exports: if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        },
    })
}

/// `(capabilities, wasi interfaces, imports the host does not know)`.
fn imports_of(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let (mut caps, mut wasi, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    let prefix = format!("{CONTRACT_PACKAGE}/");
    for (name, item) in ty.imports(engine) {
        let (iface, _) = split_versioned(name);
        if let Some(cap) = iface.strip_prefix(&prefix) {
            // Interfaces of types only: nothing to grant.
            if cap == "types" || cap == "shaping" {
                continue;
            }
            if PROVIDED_CAPABILITIES.contains(&cap) {
                caps.push(cap.to_string());
                continue;
            }
        } else if iface.starts_with("wasi:")
            && matches!(item.ty, ComponentItem::ComponentInstance(_))
        {
            wasi.push(name.to_string());
            continue;
        }
        unknown.push(name.to_string());
    }
    (caps, wasi, unknown)
}
