"""The outbound HTTP capability: requests to origins the operator allowed
(`plugins.http.allowed_origins`). Credentials go by reference: name the
configuration field(s) and the host sets `Authorization`; the plugin never
holds the secret.

    from tributary_sdk import http
    r = http.send("GET", "https://api.example.com/items", auth=http.bearer("token"))
    items = r.json()
"""

from __future__ import annotations

import json as _json
from typing import Optional

from . import _wit
from .errors import Error

_CONFIG_KINDS = {"not-granted", "invalid-url", "origin-not-allowed", "missing-credential", "invalid-header"}
_CONNECTION_KINDS = {"connection", "timeout"}


class HttpError(Error):
    """A refusal or failure of the HTTP capability; `http_kind` is e.g. `origin-not-allowed`."""

    def __init__(self, http_kind: str, message: str):
        kind = "config" if http_kind in _CONFIG_KINDS else "connection" if http_kind in _CONNECTION_KINDS else "source"
        super().__init__(kind, message)
        self.http_kind = http_kind


def _err(e) -> HttpError:
    return HttpError(e.kind.name.lower().replace("_", "-"), e.message)


def bearer(field: str):
    """`Authorization: Bearer <value of configuration field `field`>`."""
    return ("bearer", field)


def basic(username_field: str, password_field: str):
    """`Authorization: Basic …` from these two configuration fields."""
    return ("basic", username_field, password_field)


class Response:
    def __init__(self, r):
        self.status = r.status
        self.url = r.url
        self.headers = r.headers
        self.body = r.body

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Error.source(f"{self.url} did not answer JSON: {e}") from None


def send(
    method: str,
    url: str,
    headers: Optional[list] = None,
    body: Optional[bytes] = None,
    auth=None,
    timeout_ms: Optional[int] = None,
) -> Response:
    """One request; any HTTP status is a response, refusals and transport failures raise."""
    from wit_world.imports import http as w

    methods = {"GET": w.Method.GET, "POST": w.Method.POST, "HEAD": w.Method.HEAD}
    m = methods.get(method.upper())
    if m is None:
        raise Error.internal(f"HTTP method {method!r} is not one of GET, POST, HEAD")
    if auth is None:
        a = w.Auth_None()
    elif auth[0] == "bearer":
        a = w.Auth_Bearer(auth[1])
    else:
        a = w.Auth_Basic((auth[1], auth[2]))
    request = w.Request(m, url, list(headers or []), body, a, timeout_ms)
    return Response(_wit.call(w.send, _err, request))
