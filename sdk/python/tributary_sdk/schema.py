"""A builder for the configuration schema (Elastic's Rich Configurable Fields)
and Elastic's validation of values against it."""

from __future__ import annotations

import re
from typing import Any, Optional

from .config import Config

TYPES = ("str", "int", "list", "bool")
DISPLAYS = ("text", "textbox", "textarea", "numeric", "toggle", "dropdown")


class FieldError:
    """A configuration problem; `key` names the field when one is to blame."""

    def __init__(self, key: Optional[str], message: str):
        self.key = key
        self.message = message

    def __repr__(self) -> str:
        return f"FieldError({self.key!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldError) and (self.key, self.message) == (
            other.key,
            other.message,
        )


class Field:
    """One Rich Configurable Field. Defaults are Elastic's (required, value "",
    default_value None); `order` defaults to the position in the Schema."""

    def __init__(self, key: str, label: str, field_type: str, display: str):
        if field_type not in TYPES:
            raise ValueError(f"field {key!r}: type {field_type!r} is not one of {TYPES}")
        if display not in DISPLAYS:
            raise ValueError(f"field {key!r}: display {display!r} is not one of {DISPLAYS}")
        self.key = key
        self.label = label
        self.field_type = field_type
        self.display_ = display
        self.value_: Any = ""
        self.default_value_: Any = None
        self.required = True
        self.sensitive_ = False
        self.order_: Optional[int] = None
        self.depends_on_: list = []
        self.validations: list = []
        self.options: list = []
        self.tooltip_: Optional[str] = None
        self.ui_restrictions: list = []

    @staticmethod
    def str(key: str, label: str) -> "Field":
        """`str` shown as `text`."""
        return Field(key, label, "str", "text")

    @staticmethod
    def int(key: str, label: str) -> "Field":
        """`int` shown as `numeric`."""
        return Field(key, label, "int", "numeric")

    @staticmethod
    def toggle(key: str, label: str) -> "Field":
        """`bool` shown as `toggle`."""
        return Field(key, label, "bool", "toggle")

    @staticmethod
    def list(key: str, label: str) -> "Field":
        """`list` shown as `textarea` (comma-separated)."""
        return Field(key, label, "list", "textarea")

    def display(self, display: str) -> "Field":
        if display not in DISPLAYS:
            raise ValueError(f"field {self.key!r}: display {display!r} is not one of {DISPLAYS}")
        self.display_ = display
        return self

    def value(self, v: Any) -> "Field":
        """The initial value."""
        self.value_ = v
        return self

    def default_value(self, v: Any) -> "Field":
        """Used when the value is empty and the field is optional."""
        self.default_value_ = v
        return self

    def optional(self) -> "Field":
        self.required = False
        return self

    def sensitive(self) -> "Field":
        """Masked in Kibana; withheld from the plugin by the host."""
        self.sensitive_ = True
        return self

    def order(self, n: int) -> "Field":
        self.order_ = n
        return self

    def depends_on(self, field: str, value: Any) -> "Field":
        """Shown and validated only while `field` has `value`."""
        self.depends_on_.append((field, value))
        return self

    def validation(self, kind: str, constraint: Any) -> "Field":
        """`less_than`, `greater_than`, `list_type`, `included_in` or `regex`."""
        self.validations.append((kind, constraint))
        return self

    def option(self, label: str, value: Any) -> "Field":
        """A dropdown option."""
        self.options.append((label, value))
        return self

    def tooltip(self, text: str) -> "Field":
        self.tooltip_ = text
        return self

    def advanced(self) -> "Field":
        """`ui_restrictions: ["advanced"]`."""
        self.ui_restrictions.append("advanced")
        return self


def _is_empty(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v == ""
    if isinstance(v, list):
        return all(i is None or i == "" for i in v)
    return False


def _loosely_equal(a: Any, b: Any) -> bool:
    def text(v: Any) -> str:
        if isinstance(v, str):
            return v.strip().lower()
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return a == b or text(a) == text(b)


class Schema:
    """The configuration schema, in order."""

    def __init__(self, *fields: Field):
        self.fields = list(fields)

    def field(self, f: Field) -> "Schema":
        self.fields.append(f)
        return self

    def get(self, key: str) -> Optional[Field]:
        for f in self.fields:
            if f.key == key:
                return f
        return None

    def to_json(self) -> dict:
        """The object Elastic stores in the connector's `configuration`."""
        out = {}
        for i, f in enumerate(self.fields):
            out[f.key] = {
                "default_value": f.default_value_,
                "depends_on": [{"field": a, "value": b} for a, b in f.depends_on_],
                "display": f.display_,
                "label": f.label,
                "options": [{"label": a, "value": b} for a, b in f.options],
                "order": f.order_ if f.order_ is not None else i + 1,
                "required": f.required,
                "sensitive": f.sensitive_,
                "tooltip": f.tooltip_,
                "type": f.field_type,
                "ui_restrictions": list(f.ui_restrictions),
                "validations": [{"type": a, "constraint": b} for a, b in f.validations],
                "value": f.value_,
            }
        return out

    def validate(self, config: Config) -> list:
        """Elastic's validation (`check_valid`): per field in order, skipped when a
        dependency does not hold; required and empty -> "'<label>' cannot be
        empty."; then less_than, greater_than, list_type, included_in, regex."""
        errors = []

        def value_of(f: Field) -> Any:
            return config.values.get(f.key, f.value_)

        for f in self.fields:
            skip = False
            for dep, want in f.depends_on_:
                other = self.get(dep)
                if other is None:
                    errors.append(FieldError(f.key, f"'{f.label}' depends on unknown field '{dep}'"))
                    skip = True
                elif not _loosely_equal(value_of(other), want):
                    skip = True
            if skip:
                continue
            v = value_of(f)

            def err(message: str, key: str = f.key) -> None:
                errors.append(FieldError(key, message))

            if _is_empty(v):
                if f.required:
                    err(f"'{f.label}' cannot be empty.")
                continue
            num = None
            if f.field_type == "int":
                num = config.int(f.key) if f.key in config.values else (v if isinstance(v, int) else None)
                if num is None:
                    err(f"'{f.label}' must be an integer.")
                    continue
            for kind, c in f.validations:
                if kind == "less_than" and num is not None and num >= c:
                    err(f"'{f.label}' value '{num}' should be less than {c}.")
                elif kind == "greater_than" and num is not None and num <= c:
                    err(f"'{f.label}' value '{num}' should be greater than {c}.")
                elif kind == "included_in":
                    items = config.list(f.key) if f.field_type == "list" else [v]
                    for item in items:
                        if not any(_loosely_equal(item, a) for a in c):
                            err(f"'{f.label}' value '{item}' should be one of {c}.")
                elif kind == "list_type" and f.field_type == "list":
                    for item in config.list(f.key):
                        if c == "int" and not item.lstrip("-").isdigit():
                            err(f"'{f.label}' list value '{item}' should be of type {c}.")
                elif kind == "regex" and isinstance(v, str):
                    if re.fullmatch(c, v) is None:
                        err(f"'{f.label}' value '{v}' failed regex check {c}.")
        return errors
