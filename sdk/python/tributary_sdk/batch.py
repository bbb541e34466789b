"""Documents and batches: field names once per batch, values by position.

Values are plain Python: None, bool, int, float, str, dict/list (nested JSON),
bytes (base64 text), datetime/date (ISO-8601 text); `ABSENT` leaves the field
out of a document; `Number("12.50")` is a JSON number written verbatim.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

INDEX = "index"
UPDATE = "update"
DELETE = "delete"


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: The document has no such field (it is not written).
ABSENT = _Absent()


class Number:
    """A JSON number written verbatim (exact decimal digits)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = str(text)


class Json:
    """Nested JSON given as text (the host checks it)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class Document:
    """One document: `values[i]` belongs to the batch's `fields[i]`."""

    __slots__ = ("id", "values", "timestamp", "operation")

    def __init__(self, id: str, values: list, timestamp: Optional[str] = None, operation: str = INDEX):
        self.id = id
        self.values = values
        self.timestamp = timestamp
        self.operation = operation


class Batch:
    """A finished batch."""

    def __init__(self, fields: list, documents: list):
        self.fields = fields
        self.documents = documents

    def __len__(self) -> int:
        return len(self.documents)

    def to_json(self) -> list:
        """The documents as dicts (`_id` plus body): for tests, not the fast path."""
        out = []
        for d in self.documents:
            body = {"_id": d.id}
            for name, v in zip(self.fields, d.values):
                if v is not ABSENT:
                    body[name] = v
            out.append(body)
        return out


class BatchBuilder:
    """Builds a batch. Either fix the fields up front and `push` value lists (the
    fast path), or set fields per document with `document(id, **fields)`."""

    def __init__(self, fields: Iterable[str] = ()):
        self.fields: list = []
        self._index: dict = {}
        self.documents: list = []
        for f in fields:
            self._field_index(f)

    def _field_index(self, name: str) -> int:
        i = self._index.get(name)
        if i is None:
            i = len(self.fields)
            self.fields.append(name)
            self._index[name] = i
        return i

    def __len__(self) -> int:
        return len(self.documents)

    def push(self, id: str, values: list, timestamp: Optional[str] = None, operation: str = INDEX) -> None:
        """A document with one value per field, in the builder's field order."""
        self.documents.append(Document(id, values, timestamp, operation))

    def document(self, id: str, fields: dict, timestamp: Optional[str] = None, operation: str = INDEX) -> None:
        """A document from a dict of field -> value (new names become fields)."""
        values = [ABSENT] * len(self.fields)
        for name, v in fields.items():
            i = self._field_index(name)
            if i >= len(values):
                values.extend([ABSENT] * (i + 1 - len(values)))
            values[i] = v
        self.documents.append(Document(id, values, timestamp, operation))

    def finish(self) -> Batch:
        n = len(self.fields)
        for d in self.documents:
            if len(d.values) < n:
                d.values = list(d.values) + [ABSENT] * (n - len(d.values))
        return Batch(self.fields, self.documents)
