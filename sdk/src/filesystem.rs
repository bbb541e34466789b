//! The filesystem capability: a read-only directory the operator granted.
//!
//! The host opens the connector's `directory` field, which must lie inside one
//! of the roots the operator listed (`plugins.filesystem.roots`), and confines
//! every path named here to it: relative paths only, no `..`, and no symlink
//! that leads out. A walk streams the tree a few entries at a time; files are
//! read in bounded chunks.
//!
//! ```no_run
//! use tributary_sdk::filesystem::{self, EntryKind};
//! # fn run() -> Result<(), tributary_sdk::filesystem::FsError> {
//! let dir = filesystem::open()?;
//! let mut walk = dir.walk()?;
//! while let Some(entries) = walk.next_entries(256)? {
//!     for entry in entries {
//!         let Ok(stat) = entry.stat else { continue }; // e.g. a symlink that escapes
//!         if stat.kind == EntryKind::File && entry.path.ends_with(".txt") {
//!             let text = dir.read_to_end(&entry.path, 1 << 20)?;
//!             # let _ = text;
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::__bindings::tributary::connector::filesystem as wit_fs;

pub use wit_fs::{EntryKind, FsErrorKind};

/// A filesystem error: its kind (an escape, a path outside the roots …) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FsError {
    /// What was refused or failed.
    pub kind: FsErrorKind,
    /// The host's message (names the path and directory).
    pub message: String,
}

impl From<wit_fs::FsError> for FsError {
    fn from(e: wit_fs::FsError) -> Self {
        FsError {
            kind: e.kind,
            message: e.message,
        }
    }
}

impl From<FsError> for crate::Error {
    fn from(e: FsError) -> Self {
        match e.kind {
            FsErrorKind::NotGranted
            | FsErrorKind::NoDirectory
            | FsErrorKind::OutsideRoots
            | FsErrorKind::InvalidPath => crate::Error::config(e.message),
            _ => crate::Error::source(e.message),
        }
    }
}

/// A time as `stat` has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// Seconds as a float, computed as Python's `os.stat` does (`s + ns * 1e-9`).
    pub fn as_f64(&self) -> f64 {
        self.seconds as f64 + self.nanoseconds as f64 * 1e-9
    }
}

/// `stat` of a path (symlinks followed inside the directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// File, directory …
    pub kind: EntryKind,
    /// Bytes.
    pub size: u64,
    /// `st_mtime`.
    pub modified: Timestamp,
    /// `st_atime`.
    pub accessed: Timestamp,
    /// `st_ctime` (status change).
    pub changed: Timestamp,
    /// `st_mode`.
    pub mode: u32,
    /// `st_ino`.
    pub inode: u64,
    /// `st_dev`.
    pub device: u64,
    /// `st_nlink`.
    pub links: u64,
    /// `st_uid`.
    pub uid: u32,
    /// `st_gid`.
    pub gid: u32,
}

fn ts(t: wit_fs::Timestamp) -> Timestamp {
    Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

impl From<wit_fs::FileStat> for FileStat {
    fn from(s: wit_fs::FileStat) -> Self {
        FileStat {
            kind: s.kind,
            size: s.size,
            modified: ts(s.modified),
            accessed: ts(s.accessed),
            changed: ts(s.changed),
            mode: s.mode,
            inode: s.inode,
            device: s.device,
            links: s.links,
            uid: s.uid,
            gid: s.gid,
        }
    }
}

/// One entry of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the directory, `/`-separated.
    pub path: String,
    /// The entry itself (a symlink is [`EntryKind::Symlink`]).
    pub kind: EntryKind,
    /// The entry followed through symlinks, or why it cannot be.
    pub stat: Result<FileStat, FsError>,
}

/// The connector's directory, opened read-only by the host.
pub struct Directory(wit_fs::Directory);

/// Opens the connector's `directory` (refused, naming both, when it is outside
/// the operator's roots).
pub fn open() -> Result<Directory, FsError> {
    Ok(Directory(wit_fs::open()?))
}

impl Directory {
    /// The directory's absolute path on the host.
    pub fn path(&self) -> String {
        self.0.path()
    }

    /// A depth-first walk of the tree (names sorted per directory).
    pub fn walk(&self) -> Result<Walk, FsError> {
        Ok(Walk(self.0.walk()?))
    }

    /// `stat` of `path` (relative).
    pub fn stat(&self, path: &str) -> Result<FileStat, FsError> {
        Ok(self.0.stat(path)?.into())
    }

    /// Up to `max_bytes` of `path` from `offset` (the host caps one read at 1 MiB).
    pub fn read(&self, path: &str, offset: u64, max_bytes: u32) -> Result<Vec<u8>, FsError> {
        Ok(self.0.read(path, offset, max_bytes)?)
    }

    /// The first `limit` bytes of `path`, read in chunks.
    pub fn read_to_end(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        const CHUNK: u32 = 256 * 1024;
        let mut out = Vec::new();
        while (out.len() as u64) < limit {
            let want = (limit - out.len() as u64).min(CHUNK as u64) as u32;
            let chunk = self.read(path, out.len() as u64, want)?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// A walk in progress.
pub struct Walk(wit_fs::Walk);

impl Walk {
    /// Up to `max` entries; `None` once the walk is done.
    pub fn next_entries(&mut self, max: u32) -> Result<Option<Vec<Entry>>, FsError> {
        let entries = self.0.next(max)?;
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            entries
                .into_iter()
                .map(|e| Entry {
                    path: e.path,
                    kind: e.kind,
                    stat: e.stat.map(FileStat::from).map_err(FsError::from),
                })
                .collect(),
        ))
    }
}
