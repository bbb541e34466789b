"""The Redis capability: a connection the host opened from the connector's
configuration (`host`, `port`, `username`, `password`, TLS), read commands only.

    from tributary_sdk import redis
    con = redis.connect(0)
    for key in con.keys("user:*"):
        kind = con.key_type(key)
"""

from __future__ import annotations

from typing import Iterator, Optional

from . import _wit
from .errors import Error


class RedisError(Error):
    """A Redis error: the server's `code` (e.g. `WRONGTYPE`) when it sent one."""

    def __init__(self, code: Optional[str], message: str):
        super().__init__("source", f"[{code}] {message}" if code else message)
        self.code = code


def _err(e) -> RedisError:
    return RedisError(e.code, e.message)


class Connection:
    def __init__(self, inner):
        self._c = inner

    def ping(self) -> None:
        _wit.call(self._c.ping, _err)

    def databases(self) -> int:
        return _wit.call(self._c.databases, _err)

    def scan(self, cursor: int, pattern: Optional[str] = None, count: int = 1000, key_type: Optional[str] = None):
        """One SCAN step: (next cursor, 0 when done; a page of keys as bytes)."""
        return _wit.call(self._c.scan, _err, cursor, pattern, count, key_type)

    def keys(self, pattern: Optional[str] = None, key_type: Optional[str] = None) -> Iterator[bytes]:
        """Every key (SCAN, never KEYS), each once even when SCAN repeats it."""
        seen = set()
        cursor = 0
        while True:
            cursor, page = self.scan(cursor, pattern, 1000, key_type)
            for k in page:
                if k not in seen:
                    seen.add(k)
                    yield k
            if cursor == 0:
                return

    def key_type(self, key: bytes) -> str:
        return _wit.call(self._c.key_type, _err, key)

    def get(self, key: bytes) -> Optional[bytes]:
        return _wit.call(self._c.get, _err, key)

    def list(self, key: bytes) -> list:
        return _wit.call(self._c.list, _err, key)

    def set(self, key: bytes) -> list:
        return _wit.call(self._c.set, _err, key)

    def sorted_set(self, key: bytes) -> list:
        return _wit.call(self._c.sorted_set, _err, key)

    def hash(self, key: bytes) -> list:
        return _wit.call(self._c.hash, _err, key)


def connect(database: int) -> Connection:
    from wit_world.imports import redis as w

    return Connection(_wit.call(w.connect, _err, database))
