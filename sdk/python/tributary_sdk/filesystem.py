"""The filesystem capability: the connector's `directory`, opened read-only by
the host inside a root the operator granted (`plugins.filesystem.roots`).
Paths are relative and `/`-separated; the host refuses `..`, absolute paths and
symlinks that lead out.

    from tributary_sdk import filesystem
    d = filesystem.open()
    for entry in d.walk():
        if entry.kind == "file" and entry.stat is not None:
            text = d.read_to_end(entry.path, 1 << 20)
"""

from __future__ import annotations

from typing import Iterator, Optional

from . import _wit
from .errors import Error

# Refusals that are the configuration's fault; anything else is the source's.
_CONFIG_KINDS = {"NOT_GRANTED", "NO_DIRECTORY", "OUTSIDE_ROOTS", "INVALID_PATH"}


class FsError(Error):
    """A refusal or failure of the filesystem capability; `fs_kind` is e.g.
    `not-found`, `escape`, `outside-roots`."""

    def __init__(self, fs_kind: str, message: str):
        kind = "config" if fs_kind.replace("-", "_").upper() in _CONFIG_KINDS else "source"
        super().__init__(kind, message)
        self.fs_kind = fs_kind


def _err(e) -> FsError:
    return FsError(e.kind.name.lower().replace("_", "-"), e.message)


_KIND_NAMES = {}


def _kind(k) -> str:
    name = _KIND_NAMES.get(k)
    if name is None:
        name = _KIND_NAMES[k] = k.name.lower()
    return name


class Stat:
    """`stat` of a path: `kind` ("file", "directory", "symlink", "other"), `size`,
    times as float seconds (`modified`, `accessed`, `changed`), `mode`, `inode`,
    `device`, `links`, `uid`, `gid`."""

    __slots__ = ("kind", "size", "modified", "accessed", "changed", "mode", "inode", "device", "links", "uid", "gid")

    def __init__(self, s):
        self.kind = _kind(s.kind)
        self.size = s.size
        # Seconds as Python's os.stat computes them (s + ns * 1e-9).
        self.modified = s.modified.seconds + s.modified.nanoseconds * 1e-9
        self.accessed = s.accessed.seconds + s.accessed.nanoseconds * 1e-9
        self.changed = s.changed.seconds + s.changed.nanoseconds * 1e-9
        self.mode = s.mode
        self.inode = s.inode
        self.device = s.device
        self.links = s.links
        self.uid = s.uid
        self.gid = s.gid


class Entry:
    """One entry of a walk: `path`, `kind` (the entry itself), `stat` (followed
    through symlinks; None when it cannot be, e.g. an escape, see `error`)."""

    __slots__ = ("path", "kind", "stat", "error")

    def __init__(self, e):
        from wit_world.types import Ok

        self.path = e.path
        self.kind = _kind(e.kind)
        if isinstance(e.stat, Ok):
            self.stat: Optional[Stat] = Stat(e.stat.value)
            self.error: Optional[FsError] = None
        else:
            self.stat = None
            self.error = _err(e.stat.value)


class Directory:
    """The connector's directory."""

    def __init__(self, inner):
        self._d = inner

    def path(self) -> str:
        """The directory's absolute path on the host."""
        return self._d.path()

    def walk_pages(self, page: int = 256) -> Iterator[list]:
        """Depth-first walk (names sorted per directory), `page` entries at a time."""
        walk = _wit.call(self._d.walk, _err)
        while True:
            entries = _wit.call(walk.next, _err, page)
            if not entries:
                return
            yield [Entry(e) for e in entries]

    def walk(self, page: int = 256) -> Iterator[Entry]:
        """Every entry of the tree; symlinked directories are reported, not entered."""
        for entries in self.walk_pages(page):
            yield from entries

    def stat(self, path: str) -> Stat:
        return Stat(_wit.call(self._d.stat, _err, path))

    def read(self, path: str, offset: int, max_bytes: int) -> bytes:
        """Up to `max_bytes` (the host caps one read at 1 MiB) from `offset`."""
        return _wit.call(self._d.read, _err, path, offset, max_bytes)

    def read_to_end(self, path: str, limit: int) -> bytes:
        """The first `limit` bytes of `path`, read in chunks."""
        chunks = []
        got = 0
        while got < limit:
            chunk = self.read(path, got, min(limit - got, 256 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


def open() -> Directory:
    """Opens the connector's `directory` (refused, naming both, when it lies
    outside the operator's roots)."""
    from wit_world.imports import filesystem as wit_fs

    return Directory(_wit.call(wit_fs.open, _err))
