"""CORS for the emulated APIs: any origin may call them, as browser clients of a local stand-in need.

The grants are what the Fetch standard needs to let the call through, no more: a preflight is
answered with the method and headers it asks for. `Access-Control-Allow-Headers: *` would not do:
it never covers `Authorization`, which is how most of these APIs are called. The control plane gets
none of this (see `control_access.py`).
"""

from __future__ import annotations

import re
import typing as t

from mockserver.engine.http import Response
from mockserver.engine.streams import Send

# RFC 9110 token: what a method or a header name may be. Anything else asked for is not echoed.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
PREFLIGHT_MAX_AGE = "600"


def header(scope: dict[str, t.Any], name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes), or None."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def has_origin(scope: dict[str, t.Any]) -> bool:
    return header(scope, b"origin") is not None


def is_preflight(scope: dict[str, t.Any]) -> bool:
    return scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method") is not None


def requested_method(scope: dict[str, t.Any]) -> str | None:
    method = (header(scope, b"access-control-request-method") or "").strip()
    return method if _TOKEN.match(method) else None


def requested_headers(scope: dict[str, t.Any]) -> list[str]:
    """The header names a preflight asks for, lower-cased, each a valid token."""
    names = (header(scope, b"access-control-request-headers") or "").split(",")
    return [name.strip().lower() for name in names if _TOKEN.match(name.strip())]


def preflight_grant(scope: dict[str, t.Any], allow_origin: str) -> Response:
    """A 204 allowing exactly what the preflight asks for, from `allow_origin` (`*` or one origin)."""
    headers = {"access-control-allow-origin": allow_origin, "access-control-max-age": PREFLIGHT_MAX_AGE,
               "vary": PREFLIGHT_VARY}
    method = requested_method(scope)
    if method is not None:
        headers["access-control-allow-methods"] = method
    asked = requested_headers(scope)
    if asked:
        headers["access-control-allow-headers"] = ", ".join(asked)
    return Response.empty(204, headers)


def preflight(scope: dict[str, t.Any]) -> Response:
    """An emulated API's answer to any preflight: allowed, from any origin."""
    return preflight_grant(scope, "*")


def with_cors(send: Send, allow_origin: str = "*") -> Send:
    """`send`, adding the CORS grant to the answer's head. The answer has the grant only because
    the request had an Origin, so it varies by Origin (a cache must not replay it without one)."""
    grant = [(b"access-control-allow-origin", allow_origin.encode("latin-1")),
             (b"access-control-expose-headers", b"*")]

    async def cors_send(message: dict[str, t.Any]) -> None:
        if message["type"] == "http.response.start":
            headers = _vary_by_origin(list(message.get("headers", [])))
            message = {**message, "headers": [*headers, *grant]}
        await send(message)
    return cors_send


def _vary_by_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            listed = {part.strip().lower() for part in value.split(b",")}
            if b"origin" not in listed and b"*" not in listed:
                headers[index] = (name, value + b", Origin")
            return headers
    return [*headers, (b"vary", b"Origin")]
