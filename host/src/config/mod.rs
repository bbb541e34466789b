//! config.yml: elastic-ingest's keys and defaults (`docs/elastic/config-yml.md`), dotted or nested
//! keys, `${VAR}` / `${VAR:-default}` interpolation, Tributary's `plugins:` and
//! `sync:` sections. Unknown keys warn; invalid values are errors naming the key.
//!
//! This module reads the file and nothing else (no connections, no file checks:
//! `ca_certs` is opened by the Elasticsearch client).

mod interpolate;
mod load;
mod model;
mod validate;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

// Values files of `tributary extract`/`check` interpolate as config.yml does.
pub(crate) use interpolate::interpolate;
pub use load::{from_str, from_str_with_env, load};
pub use model::*;

/// Why config.yml could not be used. Every variant names the file; the key-level
/// ones name the dotted key path (`elasticsearch.bulk.chunk_size`, `connectors[0].api_key`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("{source_name}: not valid YAML: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    /// A key has a value Tributary cannot use.
    #[error("{source_name}: `{key}`: {message}")]
    Invalid {
        source_name: String,
        key: String,
        message: String,
    },
    /// `${VAR}` without a default names an unset variable.
    #[error("{source_name}: `{key}`: environment variable {var} is not set (use ${{{var}:-default}} for a default)")]
    MissingEnv {
        source_name: String,
        key: String,
        var: String,
    },
}

impl ConfigError {
    /// The dotted key path the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } | Self::MissingEnv { key, .. } => Some(key),
            _ => None,
        }
    }
}
