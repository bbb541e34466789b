//! The filesystem capability: the only place that touches the host's files on a
//! plugin's behalf. Free of wasmtime; the runtime binds it to the WIT interface.
//!
//! - [`policy`]: the operator's grant (`plugins.filesystem.roots`) and one job's
//!   grant: the connector's `directory`, which must lie inside a granted root.
//! - [`dir`]: the read-only handle a job gets. Every path a plugin names is
//!   checked lexically first (relative, no `..`), then opened through `cap-std`
//!   relative to the directory's handle, so nothing — `..`, an absolute path, a
//!   symlink — leads outside it, whatever races the filesystem sees.
//!
//! Nothing here writes: the handle has no call that creates, changes or removes
//! a file.

pub mod dir;
pub mod policy;

pub use dir::{
    Entry, EntryKind, FileStat, FsDir, FsWalk, Timestamp, MAX_READ_BYTES, MAX_WALK_ENTRIES,
};
pub use policy::{FsGrant, FsPolicy, DIRECTORY_KEY, ROOTS_KEY};

/// Everything the filesystem capability refuses or fails at, each named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// The operator granted no root, so no job may open a directory.
    #[error("the filesystem capability is not granted: list the directories plugins may read under {ROOTS_KEY} in config.yml")]
    NotGranted,
    /// The connector configuration names no directory.
    #[error("the connector's `{DIRECTORY_KEY}` is not set")]
    NoDirectory,
    /// The connector's directory is not inside any granted root.
    #[error("directory {directory} is outside the granted roots ({roots}); add a root that contains it to {ROOTS_KEY}")]
    OutsideRoots { directory: String, roots: String },
    /// A path that is not a plain relative path (absolute, `..`, empty segment).
    #[error("path {path:?} is refused: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// The path resolves (through a symlink) outside the granted directory.
    #[error("path {path:?} leads outside the granted directory {directory} (symlink escape)")]
    Escape { path: String, directory: String },
    /// No such file or directory.
    #[error("{path:?} not found in {directory}")]
    NotFound { path: String, directory: String },
    /// The host process may not read it.
    #[error("permission denied reading {path:?} in {directory}")]
    PermissionDenied { path: String, directory: String },
    /// Any other I/O failure.
    #[error("reading {path:?} in {directory}: {message}")]
    Io {
        path: String,
        directory: String,
        message: String,
    },
}

impl FsError {
    /// The error for an I/O failure on `path` inside `directory`, with cap-std's
    /// sandbox refusals named as escapes.
    pub(crate) fn io(e: &std::io::Error, path: &str, directory: &str) -> Self {
        let (path, directory) = (path.to_string(), directory.to_string());
        // cap-std reports every attempt to leave the handle's tree this way.
        if e.to_string().contains("outside of the filesystem") {
            return FsError::Escape { path, directory };
        }
        match e.kind() {
            std::io::ErrorKind::NotFound => FsError::NotFound { path, directory },
            std::io::ErrorKind::PermissionDenied => FsError::PermissionDenied { path, directory },
            _ => FsError::Io {
                path,
                directory,
                message: e.to_string(),
            },
        }
    }

    /// A short stable name of the error's kind (the WIT `fs-error-kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            FsError::NotGranted => "not-granted",
            FsError::NoDirectory => "no-directory",
            FsError::OutsideRoots { .. } => "outside-roots",
            FsError::InvalidPath { .. } => "invalid-path",
            FsError::Escape { .. } => "escape",
            FsError::NotFound { .. } => "not-found",
            FsError::PermissionDenied { .. } => "permission-denied",
            FsError::Io { .. } => "io",
        }
    }
}
