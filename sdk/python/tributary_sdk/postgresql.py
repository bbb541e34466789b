"""The PostgreSQL capability: a session the host opened from the connector's
configuration (`host`, `port`, `username`, `password`, `database`; the plugin
never sees the password), READ ONLY, with a statement timeout. Discovery and
scans are structured calls the host writes; `query` takes one SELECT, which
the host checks against an allow-list with PostgreSQL's own parser.

    from tributary_sdk import postgresql
    s = postgresql.connect()
    key = s.primary_key("public", "album")
    rows = s.scan("public", "album", key)
    for batch in rows.batches(1000):
        for row in batch: ...
"""

from __future__ import annotations

from typing import Iterator, Optional

from . import _wit, codec
from .errors import Error


class PgError(Error):
    """A PostgreSQL error: the SQLSTATE (when the server sent one) and message."""

    def __init__(self, sqlstate: Optional[str], message: str):
        super().__init__("source", f"[{sqlstate}] {message}" if sqlstate else message)
        self.sqlstate = sqlstate


def _err(e) -> PgError:
    return PgError(e.sqlstate, e.message)


class Rows:
    """A streaming result: `columns` (names) and batches of decoded rows."""

    def __init__(self, inner, err):
        self._r = inner
        self._err = err
        self.columns = [c.name for c in inner.columns()]

    def batches(self, max_rows: int = 1000) -> Iterator[list]:
        while True:
            b = _wit.call(self._r.next, self._err, max(1, max_rows))
            if b is None:
                return
            try:
                yield codec.decode(b.data)
            except codec.DecodeError as e:
                raise Error.internal(f"a row batch from the host could not be decoded: {e}") from None


def _params(params, w):
    out = []
    for p in params:
        if p is None:
            out.append(w.Param_Null())
        elif isinstance(p, bool):
            out.append(w.Param_Boolean(p))
        elif isinstance(p, int):
            out.append(w.Param_Integer(p))
        elif isinstance(p, float):
            out.append(w.Param_Float(p))
        else:
            out.append(w.Param_Text(str(p)))
    return out


class Session:
    def __init__(self, inner):
        self._s = inner

    def list_tables(self, schema: str, include_views: bool = False) -> list:
        """Names of the schema's tables (and views)."""
        return [r.name for r in _wit.call(self._s.list_tables, _err, schema, include_views)]

    def primary_key(self, schema: str, table: str) -> list:
        return _wit.call(self._s.primary_key, _err, schema, table)

    def scan(self, schema: str, table: str, order_by: list) -> Rows:
        """Every row, streamed through a server-side cursor in `order_by` order."""
        return Rows(_wit.call(self._s.scan, _err, schema, table, list(order_by)), _err)

    def query(self, sql: str, params: list = ()) -> Rows:
        """One allow-listed SELECT with `$1`, `$2`, … parameters."""
        from wit_world.imports import postgresql as w

        return Rows(_wit.call(self._s.query, _err, sql, _params(params, w)), _err)


def connect() -> Session:
    from wit_world.imports import postgresql as w

    return Session(_wit.call(w.connect, _err))
