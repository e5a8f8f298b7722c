"""Routing by the Host header, for APIs whose real servers tell endpoints apart by subdomain.

Chutes answers `llm.chutes.ai/v1/chat/completions` and `api.chutes.ai/chutes/` from one app, by the
first label of the Host. A pack that works this way declares `Pack.claims_host`; the server asks it
about every request whose Host looks like `label.domain[...]` and, when it says yes, hands the
request to that pack whatever its path (so `llm.localhost:8000/v1/...` reaches Chutes, not the
pack owning `/v1`).

Clients that can only change a base URL on 127.0.0.1 use the path form instead:
`/hosts/{label}/rest` is served exactly as `/rest` with the Host `{label}.{original host}`.
"""

from __future__ import annotations

import re
import typing as t

HOSTS_PREFIX = "/hosts"

# Like the real Chutes middleware: the first label, when a second one follows it.
_FIRST_LABEL = re.compile(r"^([a-z0-9-]+)\.[a-z0-9-]+")
_PATH_FORM = re.compile(r"^/hosts/([A-Za-z0-9-]+)(/.*)?$")


def first_label(host: str) -> str | None:
    """`llm` for `llm.chutes.ai`, `llm.localhost:8000` or `llm.127.0.0.1.nip.io`; None for `localhost`."""
    found = _FIRST_LABEL.match(host.lower())
    return found.group(1) if found else None


def host_of(scope: dict[str, t.Any]) -> str:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"host":
            return value.decode("latin-1")
    return ""


def from_path_form(scope: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """The scope `/hosts/{label}/rest` stands for, or None when the path is not in that form."""
    found = _PATH_FORM.match(scope["path"])
    if found is None:
        return None
    label, rest = found.group(1).lower(), found.group(2) or "/"
    host = f"{label}.{host_of(scope) or 'localhost'}".encode("latin-1")
    headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
    return {**scope, "path": rest, "raw_path": rest.encode(), "headers": [(b"host", host), *headers],
            "root_path": scope.get("root_path", "") + f"{HOSTS_PREFIX}/{label}"}
