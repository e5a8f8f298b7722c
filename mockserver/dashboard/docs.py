"""`/__mock__/docs/`: every served API's spec (and the control plane's) in Swagger UI, offline.

Each document is the spec the mock serves from, as JSON at `/__mock__/docs/<name>/openapi.json`,
with its `servers` pointed at this mock (the path of its first server URL, on the page's own
origin) so "Try it out" calls the mock, never the real service. Swagger UI's files come from the
pinned PyPI package (`engine/swagger_assets.py`), so the pages need no network.
"""

from __future__ import annotations

import functools
import html
import json
import typing as t
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from mockserver.engine.resources import specs_dir

if t.TYPE_CHECKING:
    from mockserver.engine.server import MockServer

CONTROL = "control"


@dataclass(frozen=True)
class Document:
    name: str  # `chutes`, `control`, `control/chutes`
    title: str
    spec_path: Path


def documents(server: MockServer) -> dict[str, Document]:
    """The documents served, by name: each pack's spec, then the control plane's and each
    pack's control operations."""
    found: dict[str, Document] = {}
    for name, runtime in server.runtimes.items():
        if runtime.pack.spec_path is not None:
            found[name] = Document(name, _title(runtime.pack.spec_path, name), runtime.pack.spec_path)
    found[CONTROL] = Document(CONTROL, "mockserver control plane", specs_dir() / "control.yaml")
    for name, runtime in server.runtimes.items():
        path = runtime.pack.control_spec_path
        if path is not None:
            found[f"{CONTROL}/{name}"] = Document(f"{CONTROL}/{name}", _title(path, name), path)
    return found


def _title(path: Path, fallback: str) -> str:
    info = _spec(path).get("info")
    title = info.get("title") if isinstance(info, dict) else None
    return str(title) if title else fallback


@functools.cache
def _spec(path: Path) -> dict[str, t.Any]:
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded if isinstance(loaded, dict) else {}


@functools.cache
def document_json(path: Path) -> bytes:
    """The spec as JSON, its servers made this mock's own paths."""
    spec = dict(_spec(path))
    servers = spec.get("servers") or [{"url": "/"}]
    first = servers[0].get("url", "/") if isinstance(servers[0], dict) else "/"
    spec["servers"] = [{"url": urlsplit(str(first)).path.rstrip("/") or "/", "description": "this mock"}]
    return json.dumps(spec, ensure_ascii=False, default=str).encode("utf-8")


def docs_page(current: Document, every: t.Iterable[Document], base: str) -> str:
    """Swagger UI for `current`, with a menu of every other document; files from `base`/assets."""
    urls = [{"name": d.name, "url": f"{base}/{d.name}/openapi.json"} for d in every]
    config = {"urls": urls, "urls.primaryName": current.name, "dom_id": "#swagger-ui", "deepLinking": True,
              "layout": "StandaloneLayout", "showExtensions": True, "showCommonExtensions": True}
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(current.title)} - mockserver docs</title>
<link rel="stylesheet" href="{base}/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/assets/favicon-32x32.png">
<style>body {{ margin: 0; }} .topbar-wrapper a {{ visibility: hidden; }}
.mock-nav {{ font: 14px sans-serif; padding: 6px 12px; background: #1b1b1b; color: #ddd; }}
.mock-nav a {{ color: #9cf; }}</style>
</head>
<body>
<div class="mock-nav"><a href="{base}/">all documents</a> · <a href="{base.rsplit('/', 1)[0]}/">dashboard</a></div>
<div id="swagger-ui"></div>
<script src="{base}/assets/swagger-ui-bundle.js"></script>
<script src="{base}/assets/swagger-ui-standalone-preset.js"></script>
<script>
const config = {json.dumps(config)};
config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
window.ui = SwaggerUIBundle(config);
</script>
</body>
</html>
"""


def index_page(every: t.Iterable[Document], base: str) -> str:
    rows = "\n".join(
        f'<li><a href="{base}/{html.escape(d.name)}">{html.escape(d.name)}</a> — {html.escape(d.title)} '
        f'(<a href="{base}/{html.escape(d.name)}/openapi.json">openapi.json</a>)</li>' for d in every)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>mockserver docs</title>
<style>body {{ font: 15px/1.5 sans-serif; margin: 2em; }}</style></head>
<body>
<h1>API documentation</h1>
<p>The specs this mock serves from, in Swagger UI ("Try it out" calls this mock).
Back to the <a href="{base.rsplit('/', 1)[0]}/">dashboard</a>.</p>
<ul>
{rows}
</ul>
</body>
</html>
"""
