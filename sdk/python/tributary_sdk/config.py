"""The configuration values a call runs with, with Elastic's coercions."""

from __future__ import annotations

import json
from typing import Any, Optional


class Config:
    """Field key -> value. Values of sensitive fields (and credentials the host
    uses itself, such as a database password) arrive redacted as "********"."""

    def __init__(self, values: dict):
        # A value given in Rich Configurable Field shape ({"value": ...}) is unwrapped.
        self.values = {
            k: (v["value"] if isinstance(v, dict) and "value" in v else v)
            for k, v in values.items()
        }

    @classmethod
    def from_json(cls, text: str) -> "Config":
        from .errors import Error

        try:
            values = json.loads(text)
        except ValueError as e:
            raise Error.config(f"the configuration is not valid JSON: {e}") from None
        if not isinstance(values, dict):
            raise Error.config("the configuration is not a JSON object")
        return cls(values)

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value."""
        return self.values.get(key, default)

    def str(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A string value; `default` when missing or not a string."""
        v = self.values.get(key)
        return v if isinstance(v, str) else default

    def int(self, key: str, default: Optional[int] = None) -> Optional[int]:
        """An integer: a JSON number or a numeric string; `default` when empty."""
        v = self.values.get(key)
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return int(v)
        if isinstance(v, str):
            try:
                return int(v.strip())
            except ValueError:
                return default
        return default

    def bool(self, key: str, default: Optional[bool] = None) -> Optional[bool]:
        """A boolean: JSON boolean or "true"/"false" (the string "false" is false)."""
        v = self.values.get(key)
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            s = v.strip().lower()
            if s in ("true", "1", "yes", "on"):
                return True
            if s in ("false", "0", "no", "off"):
                return False
            return default
        if isinstance(v, (int, float)):
            return v != 0
        return default

    def list(self, key: str) -> list:
        """A list: a string is split on ",", items trimmed, empties dropped."""
        v = self.values.get(key)
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, bool):
                    continue
                if isinstance(item, (str, int, float)):
                    s = str(item).strip()
                    if s:
                        out.append(s)
            return out
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return [str(v)]
        return []
