"""The MySQL/MariaDB capability: a session the host opened from the connector's
configuration (`host`, `port`, `user`, `password`, `database`), READ ONLY with a
consistent snapshot. The same row format and calls as `postgresql`, without
schemas; `query` takes one SELECT with `?` placeholders."""

from __future__ import annotations

from typing import Optional

from . import _wit
from .errors import Error
from .postgresql import Rows


class MysqlError(Error):
    """A MySQL error: the server's error code and SQLSTATE when it sent them."""

    def __init__(self, code: Optional[int], sqlstate: Optional[str], message: str):
        prefix = f"[{code}] " if code is not None else ""
        super().__init__("source", prefix + message)
        self.code = code
        self.sqlstate = sqlstate


def _err(e) -> MysqlError:
    return MysqlError(getattr(e, "code", None), getattr(e, "sqlstate", None), e.message)


class Session:
    def __init__(self, inner):
        self._s = inner

    def list_tables(self, include_views: bool = False) -> list:
        return [r.name for r in _wit.call(self._s.list_tables, _err, include_views)]

    def primary_key(self, table: str) -> list:
        return _wit.call(self._s.primary_key, _err, table)

    def scan(self, table: str, order_by: list) -> Rows:
        return Rows(_wit.call(self._s.scan, _err, table, list(order_by)), _err)

    def query(self, sql: str, params: list = ()) -> Rows:
        from wit_world.imports import mysql as w

        from .postgresql import _params

        return Rows(_wit.call(self._s.query, _err, sql, _params(params, w)), _err)


def connect() -> Session:
    from wit_world.imports import mysql as w

    return Session(_wit.call(w.connect, _err))
