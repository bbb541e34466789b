"""The row batch format (`tributary-codec`, see codec/src/lib.rs) decoded into
Python values: the one buffer per batch that the PostgreSQL and MySQL
capabilities hand a plugin.

Values: None, bool, int, float, `Number` (exact numeric text), str, bytes,
`Json` (json/jsonb text), dates and times as ISO-8601 text (as the Rust SDK
writes them), uuid/inet/interval/other as text, arrays as lists.
"""

from __future__ import annotations

import struct
import uuid as _uuid
from datetime import date, datetime, timedelta, timezone

from .batch import Json, Number

MAGIC = b"TRC1"
_EPOCH_DATE = date(2000, 1, 1)
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_I32_MAX, _I32_MIN = (1 << 31) - 1, -(1 << 31)
_I64_MAX, _I64_MIN = (1 << 63) - 1, -(1 << 63)

_i16 = struct.Struct("<h").unpack_from
_i32 = struct.Struct("<i").unpack_from
_i64 = struct.Struct("<q").unpack_from
_f32 = struct.Struct("<f").unpack_from
_f64 = struct.Struct("<d").unpack_from
_u32x2 = struct.Struct("<II").unpack_from


class DecodeError(ValueError):
    pass


def _date(days: int) -> str:
    if days == _I32_MAX:
        return "infinity"
    if days == _I32_MIN:
        return "-infinity"
    return (_EPOCH_DATE + timedelta(days=days)).isoformat()


def _time(micros: int) -> str:
    s, us = divmod(micros, 1_000_000)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02}:{m:02}:{s:02}" + (f".{us:06}" if us else "")


def _timestamp(micros: int, tz: bool) -> str:
    if micros == _I64_MAX:
        return "infinity"
    if micros == _I64_MIN:
        return "-infinity"
    t = _EPOCH + timedelta(microseconds=micros)
    text = t.isoformat()
    return text if tz else text[: -len("+00:00")]


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError(f"row batch truncated at byte {self.pos}")
        s = self.data[self.pos : end]
        self.pos = end
        return s

    def varint(self) -> int:
        v = shift = 0
        data = self.data
        while True:
            if self.pos >= len(data):
                raise DecodeError(f"row batch truncated at byte {self.pos}")
            b = data[self.pos]
            self.pos += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise DecodeError("varint too long")

    def text(self) -> str:
        n = self.varint()
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"invalid UTF-8 at byte {self.pos - n}") from None

    def fixed(self, unpack, n: int):
        if self.pos + n > len(self.data):
            raise DecodeError(f"row batch truncated at byte {self.pos}")
        v = unpack(self.data, self.pos)[0]
        self.pos += n
        return v

    def value(self, depth: int = 0):
        tag = self.take(1)[0]
        if tag == 8:
            return self.text()
        if tag == 0:
            return None
        if tag == 1:
            return self.take(1)[0] != 0
        if tag == 2:
            return self.fixed(_i16, 2)
        if tag == 3:
            return self.fixed(_i32, 4)
        if tag == 4:
            return self.fixed(_i64, 8)
        if tag == 5:
            return float(self.fixed(_f32, 4))
        if tag == 6:
            return self.fixed(_f64, 8)
        if tag == 7:
            t = self.text()
            return t if t in ("NaN", "Infinity", "-Infinity") else Number(t)
        if tag == 9:
            return bytes(self.take(self.varint()))
        if tag in (10, 11):
            return Json(self.text())
        if tag == 12:
            return _date(self.fixed(_i32, 4))
        if tag == 13:
            return _time(self.fixed(_i64, 8))
        if tag == 14:
            micros = self.fixed(_i64, 8)
            offset = self.fixed(_i32, 4)
            sign = "+" if offset >= 0 else "-"
            h, m = divmod(abs(offset) // 60, 60)
            return f"{_time(micros)}{sign}{h:02}:{m:02}"
        if tag in (15, 16):
            return _timestamp(self.fixed(_i64, 8), tag == 16)
        if tag == 17:
            return str(_uuid.UUID(bytes=self.take(16)))
        if tag in (18, 19):
            family, bits = self.take(2)
            n = 4 if family == 4 else 16
            import ipaddress

            addr = ipaddress.ip_address(self.take(n))
            full = 32 if n == 4 else 128
            return f"{addr}/{bits}" if tag == 19 or bits != full else str(addr)
        if tag == 20:
            micros = self.fixed(_i64, 8)
            days = self.fixed(_i32, 4)
            months = self.fixed(_i32, 4)
            return {"months": months, "days": days, "microseconds": micros}
        if tag == 21:
            if depth > 0:
                raise DecodeError("array nested in array")
            self.take(1)  # element tag: each element carries its own
            ndims = self.varint()
            dims = []
            for _ in range(ndims):
                dims.append(self.varint())
                self.varint()  # lower bound
            total = 1 if dims else 0
            for d in dims:
                total *= d
            flat = [self.value(depth + 1) for _ in range(total)]
            for d in reversed(dims[1:]):
                flat = [flat[i : i + d] for i in range(0, len(flat), d)]
            return flat
        if tag == 22:
            return self.text()
        raise DecodeError(f"unknown value tag {tag} at byte {self.pos - 1}")


def decode(data: bytes) -> list:
    """Every row of a batch, each a list of values (one per column)."""
    if len(data) < 12 or data[:4] != MAGIC:
        raise DecodeError("not a tributary row batch (bad magic or version)")
    columns, rows = _u32x2(data, 4)
    r = _Reader(data)
    r.pos = 12
    out = []
    for _ in range(rows):
        out.append([r.value() for _ in range(columns)])
    if r.pos != len(data):
        raise DecodeError(f"{len(data) - r.pos} trailing bytes after the last row")
    return out
