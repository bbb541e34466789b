//! The read-only directory handle a job holds: walk, stat, read in chunks.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use cap_std::fs::{Dir, Metadata, MetadataExt};

use super::FsError;

/// Most bytes one `read` returns; a plugin reads larger files in chunks.
pub const MAX_READ_BYTES: u32 = 1 << 20;

/// Most entries one `walk` step returns.
pub const MAX_WALK_ENTRIES: u32 = 1024;

/// A point in time: seconds since the Unix epoch and nanoseconds (as `stat` has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanoseconds: u32,
}

/// What kind of entry a walk met (of the entry itself: a symlink is a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// `stat` of a file, following symlinks (inside the directory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub kind: EntryKind,
    pub size: u64,
    pub modified: Timestamp,
    pub accessed: Timestamp,
    /// Status change time (`st_ctime`).
    pub changed: Timestamp,
    pub mode: u32,
    pub inode: u64,
    pub device: u64,
    pub links: u64,
    pub uid: u32,
    pub gid: u32,
}

/// One entry of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the directory, `/`-separated.
    pub path: String,
    /// The entry itself (not followed).
    pub kind: EntryKind,
    /// The entry followed through symlinks; an error for a symlink that leads
    /// outside the directory or nowhere.
    pub stat: Result<FileStat, FsError>,
}

fn kind_of(m: &Metadata) -> EntryKind {
    let t = m.file_type();
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_dir() {
        EntryKind::Directory
    } else if t.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn stat_of(m: &Metadata) -> FileStat {
    let ts = |s: i64, ns: i64| Timestamp {
        seconds: s,
        nanoseconds: u32::try_from(ns).unwrap_or(0),
    };
    FileStat {
        kind: kind_of(m),
        size: m.size(),
        modified: ts(m.mtime(), m.mtime_nsec()),
        accessed: ts(m.atime(), m.atime_nsec()),
        changed: ts(m.ctime(), m.ctime_nsec()),
        mode: m.mode(),
        inode: m.ino(),
        device: m.dev(),
        links: m.nlink(),
        uid: m.uid(),
        gid: m.gid(),
    }
}

/// Refuses anything but a plain relative path before cap-std sees it, so the
/// refusal is named (cap-std would refuse too, less precisely).
fn check_relative(path: &str) -> Result<&Path, FsError> {
    let invalid = |reason| FsError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("empty path"));
    }
    if path.contains('\0') {
        return Err(invalid("NUL byte"));
    }
    let p = Path::new(path);
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid("absolute paths are not allowed"))
            }
        }
    }
    Ok(p)
}

/// A directory a job may read.
#[derive(Debug)]
pub struct FsDir {
    dir: Dir,
    shown: String,
}

impl FsDir {
    pub(crate) fn new(dir: Dir, shown: String) -> Self {
        FsDir { dir, shown }
    }

    /// The directory's absolute path on the host (what documents name).
    pub fn path(&self) -> &str {
        &self.shown
    }

    /// Metadata of `path`, following symlinks that stay inside the directory.
    pub fn stat(&self, path: &str) -> Result<FileStat, FsError> {
        let p = check_relative(path)?;
        self.dir
            .metadata(p)
            .map(|m| stat_of(&m))
            .map_err(|e| FsError::io(&e, path, &self.shown))
    }

    /// Up to `max_bytes` (capped at [`MAX_READ_BYTES`]) of `path` from `offset`;
    /// empty at the end of the file.
    pub fn read(&self, path: &str, offset: u64, max_bytes: u32) -> Result<Vec<u8>, FsError> {
        let p = check_relative(path)?;
        let err = |e: std::io::Error| FsError::io(&e, path, &self.shown);
        let mut file = self.dir.open(p).map_err(err)?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).map_err(err)?;
        }
        let want = max_bytes.min(MAX_READ_BYTES) as u64;
        let mut buf = Vec::with_capacity(want as usize);
        file.take(want).read_to_end(&mut buf).map_err(err)?;
        Ok(buf)
    }

    /// A depth-first walk of the whole tree, one directory listing in memory at
    /// a time (never the whole tree). Symlinked directories are reported, not
    /// entered (no cycles, as `**` globbing does).
    pub fn walk(&self) -> Result<FsWalk, FsError> {
        let root = self
            .dir
            .try_clone()
            .map_err(|e| FsError::io(&e, ".", &self.shown))?;
        let mut walk = FsWalk {
            root,
            shown: self.shown.clone(),
            stack: Vec::new(),
        };
        walk.enter(String::new())?;
        Ok(walk)
    }
}

/// A walk in progress.
#[derive(Debug)]
pub struct FsWalk {
    root: Dir,
    shown: String,
    /// Per directory being listed: its prefix and its remaining names (sorted,
    /// reversed so `pop` yields them in order).
    stack: Vec<(String, Vec<String>)>,
}

impl FsWalk {
    fn enter(&mut self, prefix: String) -> Result<(), FsError> {
        let shown_prefix = if prefix.is_empty() {
            "."
        } else {
            prefix.as_str()
        };
        let read = if prefix.is_empty() {
            self.root.entries()
        } else {
            self.root.read_dir(&prefix)
        }
        .map_err(|e| FsError::io(&e, shown_prefix, &self.shown))?;
        let mut names = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| FsError::io(&e, shown_prefix, &self.shown))?;
            match entry.file_name().into_string() {
                Ok(name) => names.push(name),
                Err(raw) => {
                    // A document path must be text; such a file cannot be named.
                    tracing::warn!(directory = %self.shown, prefix = %prefix, name = ?raw, "skipping a file name that is not UTF-8");
                }
            }
        }
        names.sort_unstable_by(|a, b| b.cmp(a));
        self.stack.push((prefix, names));
        Ok(())
    }

    /// Up to `max` entries (capped at [`MAX_WALK_ENTRIES`]); empty once done.
    pub fn next(&mut self, max: u32) -> Result<Vec<Entry>, FsError> {
        let max = max.clamp(1, MAX_WALK_ENTRIES) as usize;
        let mut out = Vec::new();
        while out.len() < max {
            let Some((prefix, names)) = self.stack.last_mut() else {
                break;
            };
            let Some(name) = names.pop() else {
                self.stack.pop();
                continue;
            };
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let own = match self.root.symlink_metadata(&path) {
                Ok(m) => m,
                // Removed since it was listed: not an error of the walk.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(FsError::io(&e, &path, &self.shown)),
            };
            let kind = kind_of(&own);
            let stat = match kind {
                EntryKind::Symlink => self
                    .root
                    .metadata(&path)
                    .map(|m| stat_of(&m))
                    .map_err(|e| FsError::io(&e, &path, &self.shown)),
                _ => Ok(stat_of(&own)),
            };
            if kind == EntryKind::Directory {
                self.enter(path.clone())?;
            }
            out.push(Entry { path, kind, stat });
        }
        Ok(out)
    }
}
