//! Errors of the plugin runtime. Every message names the plugin (service type and
//! file, or the file alone before the metadata is known) and the cause.

use std::path::PathBuf;

use super::secrets::Secrets;
use tributary_sync::SourceError;

/// Why loading or running a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The job type has no counterpart in the plugin contract (access control,
    /// or a type this host does not know).
    #[error("UnsupportedJobType: the {plugin} plugin cannot run {job_type} syncs")]
    UnsupportedJobType {
        plugin: String,
        job_type: &'static str,
    },
    /// The runtime itself could not be set up (engine configuration).
    #[error("plugin runtime: {0}")]
    Runtime(String),
    /// The plugin folder could not be read.
    #[error("cannot read plugin folder {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A plugin file could not be read.
    #[error("cannot read plugin file {}: {source}", file.display())]
    ReadFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a WebAssembly component.
    #[error("{} is not a plugin: {reason}", file.display())]
    NotComponent { file: PathBuf, reason: String },
    /// The component does not compile on this host.
    #[error("{} does not compile: {reason}", file.display())]
    Compile { file: PathBuf, reason: String },
    /// The component exports no `tributary:connector/source` interface.
    #[error(
        "{} does not export `tributary:connector/source` (exports: {exports}); \
         build it against the contract in wit/",
        file.display()
    )]
    MissingExport { file: PathBuf, exports: String },
    /// The component was built against a contract version this host cannot run.
    #[error(
        "{} was built against contract tributary:connector@{found}, but this host \
         implements tributary:connector {supported} (compatible: same major version, \
         for 0.x the same minor); rebuild the plugin with a tributary-sdk for one of them",
        file.display()
    )]
    IncompatibleContract {
        file: PathBuf,
        found: String,
        supported: String,
    },
    /// The component imports something the host does not provide.
    #[error(
        "{} imports {imports}, which this host does not provide (it grants only \
         the tributary:connector interfaces logging, types, postgresql, mysql, redis, filesystem, http and sandboxed WASI 0.2): {reason}",
        file.display()
    )]
    MissingImport {
        file: PathBuf,
        imports: String,
        reason: String,
    },
    /// Two plugins claim the same service type.
    #[error(
        "two plugins have service type `{service_type}`: {} and {}; remove one",
        first.display(),
        second.display()
    )]
    DuplicateServiceType {
        service_type: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The plugin's metadata or schema is unusable.
    #[error("plugin {plugin} has invalid {what}: {message}")]
    InvalidMetadata {
        plugin: String,
        what: &'static str,
        message: String,
    },
    /// The plugin trapped (a WebAssembly runtime error).
    #[error("plugin {plugin} crashed during {call}: {message}{backtrace}")]
    Trap {
        plugin: String,
        call: &'static str,
        message: String,
        backtrace: String,
    },
    /// The plugin panicked.
    #[error("plugin {plugin} panicked during {call}: {message}")]
    Panic {
        plugin: String,
        call: &'static str,
        message: String,
    },
    /// The plugin ran longer than its CPU budget in one call.
    #[error("plugin {plugin} exceeded its CPU time limit of {limit_s} s during {call}")]
    CpuLimit {
        plugin: String,
        call: &'static str,
        limit_s: f64,
    },
    /// One call took longer than the wall-clock bound.
    #[error("plugin {plugin} exceeded its wall-clock limit of {limit_s} s during {call}")]
    WallClockLimit {
        plugin: String,
        call: &'static str,
        limit_s: f64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin {plugin} exceeded its memory limit of {limit_mb} MiB during {call}")]
    MemoryLimit {
        plugin: String,
        call: &'static str,
        limit_mb: u64,
    },
    /// The plugin reported an error through the contract.
    #[error("plugin {plugin} reported a {kind} error: {message}")]
    Reported {
        plugin: String,
        kind: ErrorKind,
        message: String,
    },
    /// The plugin sent something that breaks the contract (invalid JSON, empty id ...).
    #[error("plugin {plugin} broke the contract: {message}")]
    Contract { plugin: String, message: String },
    /// The plugin called WASI `exit`.
    #[error("plugin {plugin} exited with code {code} during {call}")]
    Exited {
        plugin: String,
        call: &'static str,
        code: i32,
    },
    /// The plugin kept returning empty batches without ending the sync.
    #[error(
        "plugin {plugin} returned {batches} empty batches in a row without ending the sync;          a source with nothing more to send must end the sync"
    )]
    NoProgress { plugin: String, batches: u64 },
    /// The instance is unusable after an earlier failure.
    #[error("plugin {plugin} cannot be called again after an earlier failure: {first}")]
    Dead { plugin: String, first: String },
    /// The plugin imports a capability the operator has not granted.
    #[error(
        "{} imports the `{capability}` capability, which the operator has not granted; \
         set `{key}` in config.yml to grant it",
        file.display()
    )]
    UngrantedCapability {
        file: PathBuf,
        capability: String,
        key: &'static str,
    },
    /// Any other failure of the runtime while calling the plugin.
    #[error("plugin {plugin} failed during {call}: {message}")]
    Host {
        plugin: String,
        call: &'static str,
        message: String,
    },
}

/// The kind of a plugin-reported error; mirrors the WIT `error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration is wrong.
    Config,
    /// The source cannot be reached or refused the credentials.
    Connection,
    /// The source answered with an error while reading.
    Source,
    /// The request asks for something the plugin does not support.
    Unsupported,
    /// A bug in the plugin.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Config => "configuration",
            ErrorKind::Connection => "connection",
            ErrorKind::Source => "source",
            ErrorKind::Unsupported => "unsupported-request",
            ErrorKind::Internal => "internal",
        })
    }
}

impl PluginError {
    /// The error with the job's secrets masked in every text that came from the
    /// plugin (its messages, panics, traps, contract violations).
    pub fn masked(self, secrets: &Secrets) -> Self {
        if secrets.is_empty() {
            return self;
        }
        let m = |s: String| secrets.mask_owned(s);
        match self {
            PluginError::Reported {
                plugin,
                kind,
                message,
            } => PluginError::Reported {
                plugin,
                kind,
                message: m(message),
            },
            PluginError::Contract { plugin, message } => PluginError::Contract {
                plugin,
                message: m(message),
            },
            PluginError::Panic {
                plugin,
                call,
                message,
            } => PluginError::Panic {
                plugin,
                call,
                message: m(message),
            },
            PluginError::Trap {
                plugin,
                call,
                message,
                backtrace,
            } => PluginError::Trap {
                plugin,
                call,
                message: m(message),
                backtrace: m(backtrace),
            },
            PluginError::Host {
                plugin,
                call,
                message,
            } => PluginError::Host {
                plugin,
                call,
                message: m(message),
            },
            PluginError::Dead { plugin, first } => PluginError::Dead {
                plugin,
                first: m(first),
            },
            other => other,
        }
    }

    /// How a failed call is counted in the metrics.
    pub fn call_outcome(&self) -> tributary_metrics::PluginCallOutcome {
        use tributary_metrics::PluginCallOutcome as O;
        match self {
            PluginError::Trap { .. } | PluginError::Exited { .. } => O::Trap,
            PluginError::Panic { .. } => O::Panic,
            PluginError::CpuLimit { .. } => O::CpuLimit,
            PluginError::WallClockLimit { .. } => O::WallClockLimit,
            PluginError::MemoryLimit { .. } => O::MemoryLimit,
            _ => O::Error,
        }
    }

    /// True when the plugin itself reported the error (as opposed to the runtime
    /// stopping it or the plugin breaking the contract).
    pub fn is_reported(&self) -> bool {
        matches!(self, PluginError::Reported { .. })
    }
}

impl From<PluginError> for SourceError {
    fn from(e: PluginError) -> Self {
        if e.is_reported() {
            SourceError::Source(e.to_string())
        } else {
            SourceError::Plugin(e.to_string())
        }
    }
}
