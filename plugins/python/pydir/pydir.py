"""The System Directory connector in Python: the same configuration, document
ids and fields as the Rust `dir` plugin (Elastic's `dir` connector), on the
filesystem capability. Service type `pydir`, so both can be loaded side by
side and compared on the same tree.
"""

import hashlib
from datetime import datetime, timezone
from fnmatch import fnmatchcase

from tributary_sdk import ABSENT, BatchBuilder, Error, Field, FieldError, Metadata, Schema, Source, export, filesystem, log

VERSION = "0.1.0"

#: Largest file whose text goes into `body`.
BODY_LIMIT = 1 << 20
#: Body bytes after which a batch is sent even if it has room for documents.
BATCH_BODY_BYTES = 8 << 20
TEXT_EXTENSIONS = {
    "txt", "text", "md", "markdown", "rst", "csv", "tsv", "json", "jsonl", "ndjson", "log", "xml",
    "yaml", "yml", "toml", "ini", "cfg", "conf", "html", "htm", "sql",
}
FIELDS = [
    "path",
    "last_modified_time",
    "inode_protection_mode",
    "inode_number",
    "device_inode_reside",
    "number_of_links",
    "uid",
    "gid",
    "ctime",
    "last_access_time",
    "size",
    "body",
]


class Pattern:
    """Path patterns as pathlib's `glob` reads them (what Elastic's connector uses):
    `/`-separated segments, `**` for any number of directories, fnmatch within a name."""

    def __init__(self, raw: str):
        raw = raw.strip()
        if not raw:
            raise ValueError("the pattern is empty")
        if raw.startswith("/"):
            raise ValueError(f"{raw!r} is absolute; patterns are relative to the directory")
        segments = []
        for s in raw.split("/"):
            if s in ("", "."):
                continue
            if s == "..":
                raise ValueError(f"{raw!r} uses `..`, which would leave the directory")
            segments.append(s)
        if not segments:
            raise ValueError(f"{raw!r} names no file")
        self.segments = segments

    def matches(self, path: str) -> bool:
        # pathlib: a trailing `**` selects directories only, never a file.
        if self.segments[-1] == "**":
            return False
        return self._match(0, path.split("/"), 0)

    def _match(self, i: int, parts: list, j: int) -> bool:
        if i == len(self.segments):
            return j == len(parts)
        seg = self.segments[i]
        if seg == "**":
            return any(self._match(i + 1, parts, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and fnmatchcase(parts[j], seg) and self._match(i + 1, parts, j + 1)


def schema() -> Schema:
    return Schema(
        Field.str("directory", "Directory path").order(1),
        Field.str("pattern", "File glob-like pattern").value("**/*.*").order(2),
    )


def pattern_of(config) -> Pattern:
    try:
        return Pattern(config.str("pattern", "**/*.*"))
    except ValueError as e:
        raise Error.config(f"pattern: {e}") from None


def iso_utc(t: float) -> str:
    """Like Python's `datetime.fromtimestamp(t, utc).isoformat()` (Elastic's format)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


def is_text(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return bool(dot and stem) and ext.lower() in TEXT_EXTENSIONS


class Dir(Source):
    def metadata(self):
        return Metadata("pydir", "System Directory (Python)", VERSION)

    def configuration(self):
        return schema()

    def validate_config(self, config):
        errors = schema().validate(config)
        try:
            pattern_of(config)
        except Error as e:
            errors.append(FieldError("pattern", e.message))
        return errors

    def ping(self, config):
        # Opening checks the grant and that the directory exists.
        filesystem.open()

    def start_sync(self, config, request):
        pattern = pattern_of(config)
        directory = filesystem.open()
        base = directory.path().rstrip("/")
        size = max(1, min(request.batch_size, 1000))
        batch = BatchBuilder(FIELDS)
        body_bytes = 0
        for entries in directory.walk_pages(size):
            for entry in entries:
                if entry.kind == "directory" or not pattern.matches(entry.path):
                    continue
                stat = entry.stat
                if stat is None:
                    log.warn(f"skipping {entry.path}: {entry.error}")
                    continue
                if stat.kind != "file":
                    continue
                path = f"{base}/{entry.path}"
                body = ABSENT
                if stat.size <= BODY_LIMIT and is_text(entry.path):
                    try:
                        body = directory.read_to_end(entry.path, BODY_LIMIT).decode("utf-8")
                        body_bytes += len(body)
                    except UnicodeDecodeError:
                        body = ABSENT  # not text after all: indexed without a body
                    except filesystem.FsError as e:
                        log.warn(f"cannot read {entry.path}: {e.message}")
                modified = iso_utc(stat.modified)
                batch.push(
                    hashlib.md5(path.encode("utf-8")).hexdigest(),
                    [
                        path,
                        modified,
                        stat.mode,
                        stat.inode,
                        stat.device,
                        stat.links,
                        stat.uid,
                        stat.gid,
                        stat.changed,
                        stat.accessed,
                        stat.size,
                        body,
                    ],
                    timestamp=modified,
                )
                if len(batch) >= size or body_bytes >= BATCH_BODY_BYTES:
                    yield batch.finish()
                    batch = BatchBuilder(FIELDS)
                    body_bytes = 0
        if len(batch):
            yield batch.finish()


export(Dir)
