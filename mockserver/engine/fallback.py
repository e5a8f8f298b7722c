"""`mockserver serve --spec any.yaml`: a spec with no pack, answered from its own schemas.

Like Prism's mock mode: requests are validated, and each operation answers its lowest 2xx response
with the documented example or a seeded, schema-valid generated body. Packs never use this.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import yaml

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.openapi import deref, operations, resolve_all
from mockserver.engine.pack import Handlers, Pack, Store

if t.TYPE_CHECKING:
    from mockserver.engine.examples import ExampleGenerator


class _NoState(Store):
    def export(self) -> dict[str, t.Any]:
        return {}

    def load(self, data: dict[str, t.Any]) -> None:
        pass


def synthesized_operation_id(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


def fallback_pack(spec_path: Path, *, seed: int, dialect: str = "fastapi", name: str | None = None) -> Pack:
    from mockserver.engine.examples import ExampleGenerator  # only `--spec` needs it (~60 ms to import)

    with open(spec_path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    generator = ExampleGenerator(seed)
    handlers = Handlers()
    for path, method, definition in operations(raw):
        operation_id = definition.get("operationId") or synthesized_operation_id(method, path)
        handlers(operation_id)(_example_handler(definition, raw, generator, operation_id))
    base_path = _base_path(raw)
    return Pack(
        name=name or spec_path.stem,
        dialect=dialect,
        prefixes=(base_path or "/",),
        handlers=handlers,
        new_state=lambda context: _NoState(),
        authenticate=_credentials_present(raw),
        spec_path=spec_path,
    )


def _credentials_present(raw: dict[str, t.Any]) -> t.Callable[[Request[t.Any]], None]:
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


def _base_path(raw: dict[str, t.Any]) -> str:
    from urllib.parse import urlsplit
    servers = raw.get("servers") or []
    if not servers:
        return ""
    url: str = servers[0].get("url", "")
    return urlsplit(url).path.rstrip("/")


def _example_handler(definition: dict[str, t.Any], raw: dict[str, t.Any], generator: ExampleGenerator,
                     operation_id: str) -> t.Callable[[Request[t.Any]], Response]:
    status, response = _chosen_response(definition, raw)
    content = deref(response, raw).get("content") or {} if response else {}
    media_type = next((ct for ct in content if "json" in ct), next(iter(content), None))
    # Resolved once: the generator memoizes per schema object, so one object per operation.
    media = resolve_all(content[media_type], raw) if media_type is not None else None

    def answer(request: Request[t.Any]) -> Response:
        if media_type is None:
            return Response.empty(status)
        assert media is not None  # resolved whenever there is a media type
        body = generator.for_media(media, key=operation_id)
        if "json" in media_type:
            response = Response.json(body, status)
            response.media_type = media_type
            return response
        text = body if isinstance(body, str) else str(body)
        return Response.text(text, status, media_type=media_type)

    return answer


def _chosen_response(definition: dict[str, t.Any], raw: dict[str, t.Any]) -> tuple[int, dict[str, t.Any] | None]:
    responses = definition.get("responses") or {}
    codes = sorted(code for code in responses if str(code).isdigit() and 200 <= int(code) < 300)
    if codes:
        return int(codes[0]), responses[codes[0]]
    if "default" in responses:
        return 200, responses["default"]
    return 204, None
