"""`GET /openapi.json`, `/docs` and `/redoc`, as `invokeai-web` serves them.

InvokeAI's web UI builds its node templates from `/openapi.json` (every component schema with
`class: invocation`, and the output schema each one names), so the document is built from the
node catalogue: every invocation, output and field-type schema exactly as the real document has
them, the REST operations of `specs/invokeai.yaml` translated to the real document's OpenAPI 3.1
style (`anyOf [X, null]` for nullable, no `allOf` wrappers around a single `$ref`), and the
unions the real document spells out (graph nodes, session results, InvocationOutputMap) rebuilt
from the catalogue. Built on the first request and kept.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import typing as t
from pathlib import Path

import yaml

from mockserver.engine.api_docs import inlined, operations_only, redoc_page, swagger_page, to_openapi_31
from mockserver.engine.dialects import DIALECTS
from mockserver.engine.http import Response
from mockserver.engine.resources import specs_dir
from mockserver.packs.invokeai.catalogue import SCHEMA_REF, Catalogue, load_catalogue

TITLE = "Invoke - Community Edition"
INFO = {"title": TITLE, "description": "An API for invoking AI image operations", "version": "1.0.0"}
FAVICON = "static/docs/invoke-favicon-docs.svg"
# The spec's stand-ins for the unions, replaced by the unions themselves.
NODE_STAND_IN = SCHEMA_REF + "InvocationNode"
OUTPUT_STAND_IN = SCHEMA_REF + "InvocationOutput"

Receive = t.Callable[[], t.Awaitable[dict]]
Send = t.Callable[[dict], t.Awaitable[None]]


# ============================================================================ the document

def build_document(catalogue: Catalogue, spec: dict) -> dict:
    """The whole document: the spec's operations, and every schema the real document has for them
    and for the nodes."""
    schemas = {name: to_openapi_31(schema) for name, schema in spec.get("components", {}).get("schemas", {}).items()
               if SCHEMA_REF + name not in (NODE_STAND_IN, OUTPUT_STAND_IN)}
    schemas.update(catalogue.types)
    schemas.update({catalogue.schema_name(kind): catalogue.node_schema(kind) for kind in catalogue.node_types()})
    schemas.update({catalogue.output_schema_name(kind): catalogue.output_schema(kind)
                    for kind in catalogue.output_types()})
    schemas["InvocationOutputMap"] = _output_map(catalogue)
    unions = {NODE_STAND_IN: _union(catalogue.schema_name(k) for k in catalogue.node_types()),
              OUTPUT_STAND_IN: _union(catalogue.output_schema_name(k) for k in catalogue.output_types())}
    for name, schema in catalogue.extras.items():
        schemas[name] = _with_markers(schema, {"@invocations": unions[NODE_STAND_IN]["oneOf"],
                                               "@outputs": unions[OUTPUT_STAND_IN]["oneOf"]})
    paths = inlined(operations_only(spec.get("paths", {})), spec.get("components", {}))
    document = {"openapi": "3.1.0", "info": dict(INFO),
                "paths": _with_unions(to_openapi_31(paths), unions),
                "components": {"schemas": {name: _with_unions(schemas[name], unions) for name in sorted(schemas)}}}
    return document


def _union(names: t.Iterable[str]) -> dict:
    return {"oneOf": [{"$ref": SCHEMA_REF + name} for name in sorted(names)]}


def _output_map(catalogue: Catalogue) -> dict:
    """The real document's map of invocation type to output schema, which the UI's types use."""
    kinds = list(catalogue.node_types())
    return {"type": "object",
            "properties": {kind: {"$ref": SCHEMA_REF + catalogue.output_for(kind).schema_name}
                           for kind in sorted(kinds)},
            "required": kinds}


def _with_unions(value: t.Any, unions: dict[str, dict]) -> t.Any:
    """Every reference to the spec's stand-in node and output schemas made the real union."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if ref in unions:
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return {**rest, **unions[ref]}
        return {key: _with_unions(item, unions) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_unions(item, unions) for item in value]
    return value


def _with_markers(value: t.Any, markers: dict[str, list]) -> t.Any:
    if isinstance(value, dict):
        return {key: markers[item] if key == "oneOf" and isinstance(item, str) and item in markers
                else _with_markers(item, markers) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_markers(item, markers) for item in value]
    return value


@functools.cache
def _spec(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def document_bytes(spec_path: Path | None = None, catalogue_folder: Path | None = None) -> tuple[bytes, bytes]:
    """The served document as JSON, plain and gzipped; built once."""
    spec = _spec(spec_path if spec_path is not None else specs_dir() / "invokeai.yaml")
    document = build_document(load_catalogue(catalogue_folder), spec)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return body, gzip.compress(body, compresslevel=6, mtime=0)


# ============================================================================ the pages

def swagger_html() -> str:
    # InvokeAI turns FastAPI's docs route off and serves its own page: no OAuth2 redirect.
    return swagger_page(f"{TITLE} - Swagger UI", "/openapi.json", favicon=FAVICON, oauth2_redirect_url=None)


def redoc_html() -> str:
    return redoc_page(f"{TITLE} - Redoc", "/openapi.json", favicon=FAVICON)


class DocumentApp:
    """The ASGI endpoint for one of the three paths (GET and HEAD, as FastAPI's routes)."""

    def __init__(self, path: str, answer: t.Callable[[dict], Response | t.Awaitable[Response]]) -> None:
        self.path = path
        self.answer = answer

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        dialect = DIALECTS["fastapi"]
        if scope["path"] != self.path:
            await dialect.not_found(scope["method"], scope["path"]).send(send)
        elif scope["method"] not in ("GET", "HEAD"):
            await dialect.method_not_allowed(scope["method"], scope["path"], ("GET", "HEAD")).send(send)
        else:
            response = self.answer(scope)
            if not isinstance(response, Response):
                response = await response
            await response.send(send, head=scope["method"] == "HEAD")


def _accepts_gzip(scope: dict) -> bool:
    return any(name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope.get("headers", []))


async def _document_response(scope: dict) -> Response:
    # Built in a worker the first time (about a second): the event loop keeps serving meanwhile.
    plain, packed = await asyncio.to_thread(document_bytes)
    if _accepts_gzip(scope):
        return Response(200, packed, "application/json", {"content-encoding": "gzip", "vary": "Accept-Encoding"})
    return Response(200, plain, "application/json")


def mounts() -> dict[str, t.Any]:
    """What the InvokeAI pack serves beside its API for these documents."""
    html = "text/html; charset=utf-8"
    return {"/openapi.json": DocumentApp("/openapi.json", _document_response),
            "/docs": DocumentApp("/docs", lambda scope: Response.text(swagger_html(), media_type=html)),
            "/redoc": DocumentApp("/redoc", lambda scope: Response.text(redoc_html(), media_type=html))}
