//! The operator's grant and one job's: which directory a job may read.

use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde_json::{Map, Value};

use super::dir::FsDir;
use super::FsError;

/// The connector configuration key naming the directory a job reads (Elastic's
/// System Directory connector field).
pub const DIRECTORY_KEY: &str = "directory";

/// The config.yml key of the operator's grant.
pub const ROOTS_KEY: &str = "plugins.filesystem.roots";

/// What the operator grants: directory roots. Empty = the capability is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsPolicy {
    /// Absolute directories a connector's `directory` may lie in.
    pub roots: Vec<PathBuf>,
}

impl FsPolicy {
    /// Whether the operator granted the capability at all.
    pub fn is_granted(&self) -> bool {
        !self.roots.is_empty()
    }

    /// The directory one job may read, from the connector's configuration.
    /// The check is lexical (`..` is refused, not resolved), against each root as
    /// written and as the filesystem resolves it (`/tmp` → `/private/tmp`); the
    /// opening itself goes through cap-std from the root, so a symlink on the way
    /// cannot lead out of it either.
    pub fn grant(&self, values: &Map<String, Value>) -> Result<FsGrant, FsError> {
        if !self.is_granted() {
            return Err(FsError::NotGranted);
        }
        let raw = match values.get(DIRECTORY_KEY) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err(FsError::NoDirectory),
        };
        let mut directory = PathBuf::from(&raw);
        if directory.is_relative() {
            // As Elastic's connector does (`os.path.abspath`): relative to the
            // service's working directory.
            let cwd = std::env::current_dir().map_err(|e| FsError::Io {
                path: raw.clone(),
                directory: ".".into(),
                message: format!("cannot resolve a relative directory: {e}"),
            })?;
            directory = cwd.join(directory);
        }
        let directory = normalize(&directory).map_err(|reason| FsError::InvalidPath {
            path: raw.clone(),
            reason,
        })?;
        for root in &self.roots {
            let mut forms = vec![root.clone()];
            if let Ok(canonical) = std::fs::canonicalize(root) {
                if canonical != *root {
                    forms.push(canonical);
                }
            }
            for form in forms {
                if let Ok(relative) = directory.strip_prefix(&form) {
                    return Ok(FsGrant {
                        root: form.clone(),
                        relative: relative.to_path_buf(),
                        directory: directory.clone(),
                    });
                }
            }
        }
        Err(FsError::OutsideRoots {
            directory: directory.display().to_string(),
            roots: self
                .roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// `path` without `.` segments; `..` is refused rather than resolved.
fn normalize(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => return Err("`..` is not allowed"),
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// One job's grant: a directory inside a granted root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsGrant {
    root: PathBuf,
    relative: PathBuf,
    directory: PathBuf,
}

impl FsGrant {
    /// The directory as the job sees it (absolute, normalized).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The root that contains it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the directory read-only: the root with the host's authority, then
    /// the rest of the way through cap-std, confined to the root.
    pub fn open(&self) -> Result<FsDir, FsError> {
        let shown = self.directory.display().to_string();
        let root = Dir::open_ambient_dir(&self.root, ambient_authority())
            .map_err(|e| FsError::io(&e, &self.root.display().to_string(), &shown))?;
        let dir = if self.relative.as_os_str().is_empty() {
            root
        } else {
            root.open_dir(&self.relative)
                .map_err(|e| FsError::io(&e, &self.relative.display().to_string(), &shown))?
        };
        Ok(FsDir::new(dir, shown))
    }
}
