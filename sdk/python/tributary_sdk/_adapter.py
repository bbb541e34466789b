"""The WIT glue: the `tributary:connector/source` export built from the
registered `Source`. Only imported inside a component (it needs `wit_world`,
which componentize-py generates at build time)."""

from __future__ import annotations

import base64
import datetime
import json
import traceback

from wit_world import exports
from wit_world.exports import source as wit_source
from wit_world.imports import types as t
from wit_world.types import Err

from . import batch as b
from .config import Config
from .errors import Error
from .source import FULL, INCREMENTAL, SyncRequest, registered

_KINDS = {
    "config": t.ErrorKind.CONFIG,
    "connection": t.ErrorKind.CONNECTION,
    "source": t.ErrorKind.SOURCE,
    "unsupported": t.ErrorKind.UNSUPPORTED,
    "internal": t.ErrorKind.INTERNAL,
}
_FIELD_TYPES = {"str": t.FieldType.STR, "int": t.FieldType.INT, "list": t.FieldType.LIST, "bool": t.FieldType.BOOL}
_DISPLAYS = {
    "text": t.Display.TEXT,
    "textbox": t.Display.TEXTBOX,
    "textarea": t.Display.TEXTAREA,
    "numeric": t.Display.NUMERIC,
    "toggle": t.Display.TOGGLE,
    "dropdown": t.Display.DROPDOWN,
}
_OPERATIONS = {b.INDEX: t.Operation.INDEX, b.UPDATE: t.Operation.UPDATE, b.DELETE: t.Operation.DELETE}
_I64_MIN, _I64_MAX, _U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
_ABSENT = t.Value_Absent()
_NULL = t.Value_Null()
_TRUE = t.Value_Boolean(True)
_FALSE = t.Value_Boolean(False)


def _plugin_error(e: BaseException) -> Err:
    """Any exception as the contract's plugin-error: `Error` keeps its kind; anything
    else is a bug (`internal`), reported with where it happened."""
    if isinstance(e, Error):
        return Err(t.PluginError(_KINDS[e.kind], e.message))
    where = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = f" at {where[0].filename}:{where[0].lineno}" if where else ""
    return Err(t.PluginError(t.ErrorKind.INTERNAL, f"{type(e).__name__}: {e}{at}"))


def _value(v):
    # Ordered by how often sources send each type.
    cls = type(v)
    if cls is str:
        return t.Value_Text(v)
    if v is None:
        return _NULL
    if cls is bool:
        return _TRUE if v else _FALSE
    if cls is int:
        if _I64_MIN <= v <= _I64_MAX:
            return t.Value_Integer(v)
        if 0 <= v <= _U64_MAX:
            return t.Value_Unsigned(v)
        return t.Value_Number(str(v))
    if cls is float:
        return t.Value_Float(v)
    if v is b.ABSENT:
        return _ABSENT
    if cls is dict or cls is list or cls is tuple:
        return t.Value_Json(json.dumps(v, default=str))
    if cls is b.Number:
        return t.Value_Number(v.text)
    if cls is b.Json:
        return t.Value_Json(v.text)
    if cls is bytes or cls is bytearray:
        return t.Value_Text(base64.b64encode(v).decode("ascii"))
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return t.Value_Text(v.isoformat())
    if isinstance(v, bool):
        return _TRUE if v else _FALSE
    if isinstance(v, int):
        return _value(int(v))
    if isinstance(v, float):
        return t.Value_Float(float(v))
    if isinstance(v, str):
        return t.Value_Text(str(v))
    raise Error.internal(f"a document value of type {type(v).__name__} cannot be sent: {v!r:.80}")


def _batch(batch) -> t.Batch:
    if isinstance(batch, b.BatchBuilder):
        batch = batch.finish()
    if not isinstance(batch, b.Batch):
        raise Error.internal(f"a sync yielded {type(batch).__name__}, not a Batch")
    index = t.Operation.INDEX
    docs = []
    append = docs.append
    value = _value
    for d in batch.documents:
        op = index if d.operation == b.INDEX else _OPERATIONS[d.operation]
        append(t.Document(d.id, op, d.timestamp, [value(v) for v in d.values]))
    return t.Batch(list(batch.fields), docs)


def _json_text(v) -> str:
    return json.dumps(v)


def _config_fields(schema) -> list:
    out = []
    for i, f in enumerate(schema.fields):
        out.append(
            t.ConfigField(
                key=f.key,
                label=f.label,
                field_type=_FIELD_TYPES[f.field_type],
                display=_DISPLAYS[f.display_],
                value=_json_text(f.value_),
                default_value=_json_text(f.default_value_),
                required=f.required,
                sensitive=f.sensitive_,
                order=f.order_ if f.order_ is not None else i + 1,
                depends_on=[t.Dependency(a, _json_text(v)) for a, v in f.depends_on_],
                validations=[t.Validation(k, _json_text(c)) for k, c in f.validations],
                options=[t.FieldOption(label, _json_text(v)) for label, v in f.options],
                tooltip=f.tooltip_,
                ui_restrictions=list(f.ui_restrictions),
            )
        )
    return out


class Sync(wit_source.Sync):
    """One sync: pulls the plugin's iterator batch by batch."""

    def __init__(self, stream):
        self._stream = stream
        self._iter = iter(stream)

    def next_batch(self):
        try:
            while True:
                batch = next(self._iter, None)
                if batch is None:
                    return None
                converted = _batch(batch)
                # An empty batch is skipped here rather than sent.
                if converted.documents:
                    return converted
        except Exception as e:  # noqa: BLE001 — every failure is reported, named
            raise _plugin_error(e)

    def cursor(self):
        cursor = getattr(self._stream, "cursor", None)
        if cursor is None:
            return None
        value = cursor() if callable(cursor) else cursor
        return None if value is None else json.dumps(value)


class Source(exports.Source):
    """The export componentize-py binds: every call goes to a fresh instance of
    the registered plugin class."""

    def metadata(self):
        m = registered()().metadata()
        f = m.features
        return t.Metadata(
            m.service_type,
            m.name,
            m.version,
            t.Features(f.incremental_sync, f.basic_rules, f.advanced_rules, f.document_level_security),
        )

    def configuration_schema(self):
        return _config_fields(registered()().configuration())

    def validate_config(self, config):
        try:
            errors = registered()().validate_config(Config.from_json(config))
        except Error as e:
            return [t.FieldError(None, e.message)]
        except Exception as e:  # noqa: BLE001
            return [t.FieldError(None, _plugin_error(e).value.message)]
        return [t.FieldError(e.key, e.message) for e in errors]

    def ping(self, config):
        try:
            registered()().ping(Config.from_json(config))
        except Exception as e:  # noqa: BLE001
            raise _plugin_error(e)

    def validate_advanced_rules(self, config, rules):
        try:
            parsed = json.loads(rules)
        except ValueError as e:
            return [f"advanced rules are not valid JSON: {e}"]
        try:
            return [str(p) for p in registered()().validate_advanced_rules(Config.from_json(config), parsed)]
        except Exception as e:  # noqa: BLE001
            return [_plugin_error(e).value.message]

    def start_sync(self, config, request):
        try:
            req = SyncRequest(
                kind=FULL if request.kind == t.JobKind.FULL else INCREMENTAL,
                cursor=None if request.cursor is None else json.loads(request.cursor),
                advanced_rules=None if request.advanced_rules is None else json.loads(request.advanced_rules),
                batch_size=max(1, request.batch_size),
            )
            stream = registered()().start_sync(Config.from_json(config), req)
            return Sync(stream)
        except Exception as e:  # noqa: BLE001
            raise _plugin_error(e)
