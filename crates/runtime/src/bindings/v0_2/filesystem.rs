//! The `filesystem` import of contract 0.2: the filesystem capability crate, bound.
//!
//! Calls run on the async thread: each is bounded (one directory listing, one
//! `stat`, one read of at most 1 MiB) and local disks answer in microseconds.

use wasmtime::component::Resource;

use tributary_capability_filesystem as fs;

use super::super::super::state::HostState;
pub use super::tributary::connector::filesystem as wit_fs;

fn fs_error(e: fs::FsError) -> wit_fs::FsError {
    use wit_fs::FsErrorKind as K;
    let kind = match &e {
        fs::FsError::NotGranted => K::NotGranted,
        fs::FsError::NoDirectory => K::NoDirectory,
        fs::FsError::OutsideRoots { .. } => K::OutsideRoots,
        fs::FsError::InvalidPath { .. } => K::InvalidPath,
        fs::FsError::Escape { .. } => K::Escape,
        fs::FsError::NotFound { .. } => K::NotFound,
        fs::FsError::PermissionDenied { .. } => K::PermissionDenied,
        fs::FsError::Io { .. } => K::Io,
    };
    wit_fs::FsError {
        kind,
        message: e.to_string(),
    }
}

fn kind(k: fs::EntryKind) -> wit_fs::EntryKind {
    match k {
        fs::EntryKind::File => wit_fs::EntryKind::File,
        fs::EntryKind::Directory => wit_fs::EntryKind::Directory,
        fs::EntryKind::Symlink => wit_fs::EntryKind::Symlink,
        fs::EntryKind::Other => wit_fs::EntryKind::Other,
    }
}

fn ts(t: fs::Timestamp) -> wit_fs::Timestamp {
    wit_fs::Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

fn stat(s: fs::FileStat) -> wit_fs::FileStat {
    wit_fs::FileStat {
        kind: kind(s.kind),
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

impl wit_fs::Host for HostState {
    async fn open(&mut self) -> wasmtime::Result<Result<Resource<fs::FsDir>, wit_fs::FsError>> {
        let opened = match &self.grants.filesystem {
            None => Err(fs::FsError::NotGranted),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(grant)) => grant.open(),
        };
        match opened {
            Ok(dir) => {
                tracing::debug!(plugin = %self.plugin, directory = %dir.path(), "directory opened");
                Ok(Ok(self.table.push(dir)?))
            }
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, kind = e.kind(), "directory refused");
                Ok(Err(fs_error(e)))
            }
        }
    }
}

impl wit_fs::HostDirectory for HostState {
    async fn path(&mut self, dir: Resource<fs::FsDir>) -> wasmtime::Result<String> {
        Ok(self.table.get(&dir)?.path().to_string())
    }

    async fn walk(
        &mut self,
        dir: Resource<fs::FsDir>,
    ) -> wasmtime::Result<Result<Resource<fs::FsWalk>, wit_fs::FsError>> {
        match self.table.get(&dir)?.walk() {
            Ok(w) => Ok(Ok(self.table.push(w)?)),
            Err(e) => Ok(Err(fs_error(e))),
        }
    }

    async fn stat(
        &mut self,
        dir: Resource<fs::FsDir>,
        path: String,
    ) -> wasmtime::Result<Result<wit_fs::FileStat, wit_fs::FsError>> {
        Ok(self
            .table
            .get(&dir)?
            .stat(&path)
            .map(stat)
            .map_err(fs_error))
    }

    async fn read(
        &mut self,
        dir: Resource<fs::FsDir>,
        path: String,
        offset: u64,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, wit_fs::FsError>> {
        Ok(self
            .table
            .get(&dir)?
            .read(&path, offset, max_bytes)
            .map_err(fs_error))
    }

    async fn drop(&mut self, dir: Resource<fs::FsDir>) -> wasmtime::Result<()> {
        self.table.delete(dir)?;
        Ok(())
    }
}

impl wit_fs::HostWalk for HostState {
    async fn next(
        &mut self,
        walk: Resource<fs::FsWalk>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<wit_fs::Entry>, wit_fs::FsError>> {
        let step = self.table.get_mut(&walk)?.next(max);
        Ok(step
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| wit_fs::Entry {
                        path: e.path,
                        kind: kind(e.kind),
                        stat: e.stat.map(stat).map_err(fs_error),
                    })
                    .collect()
            })
            .map_err(fs_error))
    }

    async fn drop(&mut self, walk: Resource<fs::FsWalk>) -> wasmtime::Result<()> {
        self.table.delete(walk)?;
        Ok(())
    }
}
