//! Write Tributary source connectors: implement [`Source`], call
//! [`register_source!`] once, build for `wasm32-wasip2`.
//!
//! The WIT bindings are generated here and stay hidden: a plugin author works with
//! [`Metadata`], [`Schema`], [`Config`], [`BatchBuilder`] and, with the default
//! `postgresql` feature, the [`postgresql`] client.
//!
//! # A minimal plugin
//!
//! ```no_run
//! use tributary_sdk::{
//!     BatchBuilder, Batch, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
//!     SyncRequest, Value,
//! };
//!
//! struct Hello;
//!
//! impl Source for Hello {
//!     type Stream = Once;
//!
//!     fn metadata() -> Metadata {
//!         Metadata::new("hello", "Hello", env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     fn configuration() -> Schema {
//!         Schema::new().field(Field::str("greeting", "Greeting").value("hello"))
//!     }
//!
//!     fn ping(_config: &Config) -> Result<(), Error> {
//!         Ok(())
//!     }
//!
//!     fn start_sync(config: &Config, _request: &SyncRequest) -> Result<Once, Error> {
//!         Ok(Once(Some(config.str("greeting").unwrap_or("hello").to_string())))
//!     }
//! }
//!
//! struct Once(Option<String>);
//!
//! impl DocumentStream for Once {
//!     fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
//!         let Some(greeting) = self.0.take() else { return Ok(None) };
//!         let mut batch = BatchBuilder::with_fields(["message"]);
//!         batch.push("doc-1", None, vec![Value::Text(greeting)]);
//!         Ok(Some(batch.finish()))
//!     }
//! }
//!
//! tributary_sdk::register_source!(Hello);
//! ```
//!
//! # Capabilities
//!
//! A component imports only the interfaces its code calls: the component linker drops
//! unused imports (checked with `tributary plugins list`: the example above reports no
//! capability, the PostgreSQL plugin reports `postgresql`). Each capability's client
//! is a module behind a cargo feature of the same name (`postgresql` is on by
//! default); whether a plugin gets the capability is the operator's grant, checked by
//! the host, never the SDK's.
//!
//! # Documents straight from rows
//!
//! A database plugin that passes columns through can let the host build its
//! documents: describe the row → document mapping once with a [`shape::Shape`] and
//! call `Rows::emit` (PostgreSQL or MySQL). The values then never enter the plugin
//! — the host maps them with the same lossless mapping as `to_value` — which is
//! the fast path (see the README's benchmark section).

#![warn(missing_docs)]

extern crate self as tributary_sdk;

mod batch;
mod config;
#[cfg(feature = "filesystem")]
pub mod filesystem;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgresql")]
pub mod postgresql;
#[cfg(feature = "redis")]
pub mod redis;
mod schema;
#[cfg(feature = "postgresql")]
pub mod shape;
pub mod time;

pub use batch::{Batch, BatchBuilder, Document, DocumentBuilder, Operation, Value};
pub use config::Config;
pub use schema::{Display, Field, FieldError, FieldType, Schema};
pub use tributary_codec as codec;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod __bindings {
    // World `plugin` imports every capability; linking the component keeps only
    // the imports the plugin's code calls, so a plugin that never touches a
    // capability does not import it (see `tributary plugins list`).
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_source",
        default_bindings_module: "::tributary_sdk::__bindings",
        runtime_path: "::tributary_sdk::__wit_bindgen::rt",
    });
}

use __bindings::exports::tributary::connector::source as wit_source;
use __bindings::tributary::connector::types as wit;

/// What a plugin can do (Elastic's connector `features`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Incremental syncs with a cursor.
    pub incremental_sync: bool,
    /// Basic sync rules (applied by the host).
    pub basic_rules: bool,
    /// Advanced sync rules (validated and run by the plugin).
    pub advanced_rules: bool,
    /// Document-level security.
    pub document_level_security: bool,
}

/// The plugin's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Elastic's `service_type`, e.g. `postgresql`.
    pub service_type: String,
    /// Display name.
    pub name: String,
    /// The plugin's version (semver).
    pub version: String,
    /// Supported features; basic rules are on by default, as in Elastic.
    pub features: Features,
}

impl Metadata {
    /// Metadata with basic rules on and everything else off.
    pub fn new(service_type: &str, name: &str, version: &str) -> Self {
        Metadata {
            service_type: service_type.into(),
            name: name.into(),
            version: version.into(),
            features: Features {
                basic_rules: true,
                ..Features::default()
            },
        }
    }

    /// Replaces the features.
    pub fn features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }
}

/// What kind of problem ended a call.
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

/// A plugin error: a kind and a message the user will read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The kind.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    /// The source cannot be reached.
    pub fn connection(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connection, message)
    }
    /// The source failed while reading.
    pub fn source(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Source, message)
    }
    /// Not supported.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// A bug.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Every document.
    Full,
    /// Changes since `cursor`.
    Incremental,
}

/// What the host asks of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRequest {
    /// Full or incremental.
    pub kind: JobKind,
    /// The cursor the previous successful incremental sync returned.
    pub cursor: Option<serde_json::Value>,
    /// The active advanced rules (already validated), if any.
    pub advanced_rules: Option<serde_json::Value>,
    /// How many documents the host would like per batch (a hint, ≥ 1).
    pub batch_size: u32,
}

/// A source connector. All functions are associated functions: state that lives
/// across calls belongs in the [`DocumentStream`] a sync returns.
pub trait Source: 'static {
    /// The stream one sync returns.
    type Stream: DocumentStream;

    /// Service type, name, version, features.
    fn metadata() -> Metadata;

    /// The configuration schema (Elastic's Rich Configurable Fields).
    fn configuration() -> Schema;

    /// Per-field configuration errors; empty = valid. The default applies the
    /// schema's rules (required, depends_on, validations) as Elastic does.
    fn validate_config(config: &Config) -> Vec<FieldError> {
        Self::configuration().validate(config)
    }

    /// Checks that the source is reachable with this configuration.
    fn ping(config: &Config) -> Result<(), Error>;

    /// Problems with the advanced rules (`advanced_snippet.value`); empty = valid.
    fn validate_advanced_rules(config: &Config, rules: &serde_json::Value) -> Vec<String> {
        let _ = config;
        match rules {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(a) if a.is_empty() => Vec::new(),
            serde_json::Value::Object(o) if o.is_empty() => Vec::new(),
            _ => vec![format!(
                "{} does not support advanced rules",
                Self::metadata().name
            )],
        }
    }

    /// Starts one sync.
    fn start_sync(config: &Config, request: &SyncRequest) -> Result<Self::Stream, Error>;
}

/// The documents of one sync, pulled by the host batch by batch.
pub trait DocumentStream: 'static {
    /// The next batch; `None` when the sync is complete.
    fn next_batch(&mut self) -> Result<Option<Batch>, Error>;

    /// The cursor to persist after a successful incremental sync.
    fn cursor(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Exports `$source` (a type implementing [`Source`]) as this component's
/// `tributary:connector/source`. Call it once, at the crate root of a `cdylib`.
///
/// The export exists only when building for WebAssembly, so the same crate still
/// builds and unit-tests natively (where the host's imports do not exist).
#[macro_export]
macro_rules! register_source {
    ($source:ty) => {
        #[doc(hidden)]
        #[cfg(target_family = "wasm")]
        type __TributarySourceAdapter = $crate::__Adapter<$source>;
        #[cfg(target_family = "wasm")]
        $crate::__bindings::__export_source!(__TributarySourceAdapter);
    };
}

#[doc(hidden)]
pub struct __Adapter<T>(std::marker::PhantomData<T>);

#[doc(hidden)]
pub struct __StreamAdapter<S>(std::cell::RefCell<S>);

fn to_wit_error(e: Error) -> wit::PluginError {
    let kind = match e.kind {
        ErrorKind::Config => wit::ErrorKind::Config,
        ErrorKind::Connection => wit::ErrorKind::Connection,
        ErrorKind::Source => wit::ErrorKind::Source,
        ErrorKind::Unsupported => wit::ErrorKind::Unsupported,
        ErrorKind::Internal => wit::ErrorKind::Internal,
    };
    wit::PluginError {
        kind,
        message: e.message,
    }
}

fn parse_config(config: &str) -> Result<Config, Error> {
    Config::from_json(config)
}

impl<T: Source> wit_source::Guest for __Adapter<T> {
    type Sync = __StreamAdapter<T::Stream>;

    fn metadata() -> wit::Metadata {
        let m = T::metadata();
        wit::Metadata {
            service_type: m.service_type,
            name: m.name,
            version: m.version,
            features: wit::Features {
                incremental_sync: m.features.incremental_sync,
                basic_rules: m.features.basic_rules,
                advanced_rules: m.features.advanced_rules,
                document_level_security: m.features.document_level_security,
            },
        }
    }

    fn configuration_schema() -> Vec<wit::ConfigField> {
        T::configuration().into_wit()
    }

    fn validate_config(config: String) -> Vec<wit::FieldError> {
        let errors = match parse_config(&config) {
            Ok(c) => T::validate_config(&c),
            Err(e) => vec![FieldError {
                key: None,
                message: e.message,
            }],
        };
        errors
            .into_iter()
            .map(|e| wit::FieldError {
                key: e.key,
                message: e.message,
            })
            .collect()
    }

    fn ping(config: String) -> Result<(), wit::PluginError> {
        let c = parse_config(&config).map_err(to_wit_error)?;
        T::ping(&c).map_err(to_wit_error)
    }

    fn validate_advanced_rules(config: String, rules: String) -> Vec<String> {
        let c = match parse_config(&config) {
            Ok(c) => c,
            Err(e) => return vec![e.message],
        };
        match serde_json::from_str::<serde_json::Value>(&rules) {
            Ok(r) => T::validate_advanced_rules(&c, &r),
            Err(e) => vec![format!("advanced rules are not valid JSON: {e}")],
        }
    }

    fn start_sync(
        config: String,
        request: wit::SyncRequest,
    ) -> Result<wit_source::Sync, wit::PluginError> {
        let c = parse_config(&config).map_err(to_wit_error)?;
        let json = |what: &str,
                    s: Option<String>|
         -> Result<Option<serde_json::Value>, wit::PluginError> {
            s.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| {
                    to_wit_error(Error::internal(format!(
                        "the host sent an invalid {what}: {e}"
                    )))
                })
        };
        let req = SyncRequest {
            kind: match request.kind {
                wit::JobKind::Full => JobKind::Full,
                wit::JobKind::Incremental => JobKind::Incremental,
            },
            cursor: json("cursor", request.cursor)?,
            advanced_rules: json("advanced rules", request.advanced_rules)?,
            batch_size: request.batch_size.max(1),
        };
        let stream = T::start_sync(&c, &req).map_err(to_wit_error)?;
        Ok(wit_source::Sync::new(__StreamAdapter(
            std::cell::RefCell::new(stream),
        )))
    }
}

impl<S: DocumentStream> wit_source::GuestSync for __StreamAdapter<S> {
    fn next_batch(&self) -> Result<Option<wit::Batch>, wit::PluginError> {
        let mut s = self
            .0
            .try_borrow_mut()
            .map_err(|_| to_wit_error(Error::internal("re-entrant next_batch")))?;
        match s.next_batch() {
            Ok(Some(b)) => Ok(Some(b.into_wit())),
            Ok(None) => Ok(None),
            Err(e) => Err(to_wit_error(e)),
        }
    }

    fn cursor(&self) -> Option<String> {
        self.0
            .try_borrow()
            .ok()
            .and_then(|s| s.cursor())
            .map(|c| c.to_string())
    }
}
