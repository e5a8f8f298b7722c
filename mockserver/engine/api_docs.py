"""What a FastAPI server serves about itself, for packs whose real server is one.

FastAPI apps answer `GET /openapi.json` (the document, OpenAPI 3.1 as pydantic writes schemas),
`/docs` (a Swagger UI page), `/docs/oauth2-redirect` and `/redoc` (a ReDoc page), all outside any
authentication. The pages load Swagger UI and ReDoc from a CDN, as the real ones do; the mock's own
offline pages are under `/__mock__/docs/` (`mockserver/dashboard/docs.py`).

The document is built from the pack's hand-written 3.0 spec: its operations (the ones the mock
emulates) translated to the 3.1 style FastAPI writes (`anyOf [X, {type: null}]` for `nullable`,
no `allOf` around a single `$ref`, only `components.schemas`).
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import typing as t
from dataclasses import dataclass
from pathlib import Path

import yaml

from mockserver.engine.http import Response
from mockserver.engine.streams import Receive, Send

SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
REDOC_CDN = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
REDOC_FONTS = "https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700"
FASTAPI_FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"
HTML = "text/html; charset=utf-8"
SCHEMA_REF = "#/components/schemas/"
_META_KEYS = ("title", "description", "default", "examples", "example", "deprecated", "readOnly", "writeOnly")

ASGIApp = t.Callable[[dict[str, t.Any], Receive, Send], t.Awaitable[None]]


@dataclass(frozen=True)
class ApiDescription:
    """A pack whose real server is a FastAPI app with its documentation routes on: what its
    `FastAPI(...)` was given (title, version) and where the routes are (FastAPI's defaults)."""

    title: str = "FastAPI"
    version: str = "0.1.0"
    openapi_url: str = "/openapi.json"
    docs_url: str = "/docs"
    redoc_url: str = "/redoc"
    favicon: str = FASTAPI_FAVICON

    def pages(self, spec_path: Path) -> dict[str, ASGIApp]:
        """The ASGI app of each path (GET and HEAD only: other methods go where the real app's
        other routes send them)."""
        info = {"title": self.title, "version": self.version}

        async def document(scope: dict[str, t.Any]) -> Response:
            # Built once, in a worker: the event loop keeps serving meanwhile.
            body = await asyncio.to_thread(fastapi_document_bytes, spec_path, json.dumps(info))
            return Response(200, body, "application/json")

        oauth2 = self.docs_url + "/oauth2-redirect"
        swagger = swagger_page(f"{self.title} - Swagger UI", self.openapi_url, favicon=self.favicon,
                               oauth2_redirect_url=oauth2)
        redoc = redoc_page(f"{self.title} - ReDoc", self.openapi_url, favicon=self.favicon)
        return {self.openapi_url: page_app(document),
                self.docs_url: page_app(lambda scope: Response.text(swagger, media_type=HTML)),
                oauth2: page_app(lambda scope: Response.text(oauth2_redirect_page(), media_type=HTML)),
                self.redoc_url: page_app(lambda scope: Response.text(redoc, media_type=HTML))}


def page_app(answer: t.Callable[[dict[str, t.Any]], Response | t.Awaitable[Response]]) -> ASGIApp:
    async def app(scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        response = answer(scope)
        if not isinstance(response, Response):
            response = await response
        await response.send(send, head=scope["method"] == "HEAD")
    return app


# ============================================================================ the pages

def swagger_page(title: str, openapi_url: str, *, favicon: str, oauth2_redirect_url: str | None,
                 assets: str = SWAGGER_CDN) -> str:
    """A Swagger UI page for one document, with FastAPI's Swagger UI parameters."""
    redirect = f"\n    oauth2RedirectUrl: window.location.origin + {json.dumps(oauth2_redirect_url)}," \
        if oauth2_redirect_url else ""
    return f"""<!DOCTYPE html>
<html>
<head>
<link type="text/css" rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="shortcut icon" href="{html.escape(favicon)}">
<title>{html.escape(title)}</title>
</head>
<body>
<div id="swagger-ui">
</div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({{
    url: {json.dumps(openapi_url)},
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": true,
    "showExtensions": true,
    "showCommonExtensions": true,{redirect}
    presets: [
        SwaggerUIBundle.presets.apis,
        SwaggerUIBundle.SwaggerUIStandalonePreset
    ],
}})
</script>
</body>
</html>
"""


def redoc_page(title: str, openapi_url: str, *, favicon: str) -> str:
    return f"""<!DOCTYPE html>
<html>
<head>
<title>{html.escape(title)}</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link href="{REDOC_FONTS}" rel="stylesheet">
<link rel="shortcut icon" href="{html.escape(favicon)}">
<style>
  body {{
    margin: 0;
    padding: 0;
  }}
</style>
</head>
<body>
<noscript>
    ReDoc requires Javascript to function. Please enable it to browse the documentation.
</noscript>
<redoc spec-url="{html.escape(openapi_url)}"></redoc>
<script src="{REDOC_CDN}"> </script>
</body>
</html>
"""


def oauth2_redirect_page() -> str:
    """Swagger UI's OAuth2 redirect page, from the Swagger UI package the mock ships with."""
    from mockserver.engine.swagger_assets import oauth2_redirect_html

    return oauth2_redirect_html()


# ============================================================================ the document

@functools.cache
def _spec(path: Path) -> dict[str, t.Any]:
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, t.Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return loaded


@functools.cache
def fastapi_document_bytes(spec_path: Path, info_json: str) -> bytes:
    document = fastapi_document(_spec(spec_path), json.loads(info_json))
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fastapi_document(spec: dict[str, t.Any], info: dict[str, t.Any]) -> dict[str, t.Any]:
    """The spec's operations and schemas as FastAPI writes its document."""
    components = spec.get("components", {})
    paths = inlined(operations_only(spec.get("paths", {})), components)
    return {"openapi": "3.1.0", "info": dict(info), "paths": to_openapi_31(paths),
            "components": {"schemas": {name: to_openapi_31(schema)
                                       for name, schema in sorted(components.get("schemas", {}).items())}}}


def operations_only(paths: dict[str, t.Any]) -> dict[str, t.Any]:
    """Paths as FastAPI writes them: operations only (the spec's `links` are for contract tests)."""
    cleaned: dict[str, dict[str, t.Any]] = {}
    for path, item in paths.items():
        cleaned[path] = {}
        for method, operation in item.items():
            if not isinstance(operation, dict) or method.startswith("x-") or method == "parameters":
                continue
            operation = dict(operation)
            shared = [p for p in item.get("parameters", []) if p not in operation.get("parameters", [])]
            if shared:
                operation["parameters"] = [*shared, *operation.get("parameters", [])]
            if isinstance(operation.get("responses"), dict):
                operation["responses"] = {code: {k: v for k, v in answer.items() if k != "links"}
                                          if isinstance(answer, dict) else answer
                                          for code, answer in operation["responses"].items()}
            cleaned[path][method] = operation
    return cleaned


def inlined(value: t.Any, components: dict[str, t.Any]) -> t.Any:
    """Shared parameters, responses and bodies written out where they are used: FastAPI's
    documents have only `components.schemas`."""
    if isinstance(value, list):
        return [inlined(item, components) for item in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/") and not ref.startswith(SCHEMA_REF):
        _, _, section, name = ref.split("/", 3)
        return inlined(components.get(section, {}).get(name, {}), components)
    return {key: inlined(item, components) for key, item in value.items()}


def to_openapi_31(value: t.Any) -> t.Any:
    """A 3.0 schema (or any part of a 3.0 document) the way pydantic writes it for 3.1."""
    if isinstance(value, list):
        return [to_openapi_31(item) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: to_openapi_31(item) for key, item in value.items()}
    all_of = value.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict) and "$ref" in all_of[0]:
        value = {"$ref": all_of[0]["$ref"], **{k: v for k, v in value.items() if k != "allOf"}}
    if value.get("nullable") is True:
        value = _nullable(value)
    if "example" in value and "examples" not in value and _looks_like_schema(value):
        value["examples"] = [value.pop("example")]
    return value


def _looks_like_schema(value: dict[str, t.Any]) -> bool:
    return any(key in value for key in ("type", "$ref", "anyOf", "oneOf", "allOf", "properties", "enum"))


def _nullable(value: dict[str, t.Any]) -> dict[str, t.Any]:
    meta = {key: value[key] for key in _META_KEYS if key in value}
    body = {key: item for key, item in value.items() if key not in _META_KEYS and key != "nullable"}
    if isinstance(body.get("enum"), list):
        body["enum"] = [item for item in body["enum"] if item is not None]
    options = body["anyOf"] if list(body) == ["anyOf"] else [body]
    if {"type": "null"} not in options:
        options = [*options, {"type": "null"}]
    return {"anyOf": options, **meta}
