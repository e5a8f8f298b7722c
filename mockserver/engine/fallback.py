"""What `serve --spec` worlds (`mockserver/specworld/`) share with the engine: how an operation
without an operationId is named, and Prism-like authentication from the declared schemes."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request
from mockserver.engine.issues import ApiError


def synthesized_operation_id(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


def credentials_present(raw: dict[str, t.Any]) -> t.Callable[[Request[t.Any]], None]:
    """Like Prism: with no way to know valid credentials, require that some declared scheme's
    credentials are present (a bearer token, a Basic header, the API key's header/query/cookie)."""
    schemes = (raw.get("components") or {}).get("securitySchemes") or {}

    def present(request: Request[t.Any], name: str) -> bool:
        scheme = schemes.get(name) or {}
        kind = scheme.get("type")
        if kind == "apiKey":
            where, key = scheme.get("in"), scheme.get("name", "")
            if where == "header":
                return key.lower() in request.headers
            if where == "query":
                return key in request.query
            return f"{key}=" in request.headers.get("cookie", "")
        authorization = request.headers.get("authorization", "")
        if kind == "http":
            return authorization.lower().startswith(scheme.get("scheme", "bearer").lower() + " ")
        return bool(authorization)  # oauth2 / openIdConnect: a bearer token of some kind

    def authenticate(request: Request[t.Any]) -> None:
        definition = request.operation.definition if request.operation else {}
        requirements = definition.get("security", raw.get("security", []))
        if not any(all(present(request, name) for name in requirement) for requirement in requirements):
            raise ApiError(401, "Unauthorized: missing credentials for " +
                           " or ".join(" + ".join(r) or "anonymous" for r in requirements))
    return authenticate
