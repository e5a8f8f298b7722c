"""The control plane as served: its browser pages in front of its API.

`/__mock__/` is the dashboard (`static/`), `/__mock__/docs/...` the API documentation
(`docs.py`); every other path under `/__mock__/` is the control API. The pages are static: all
they show comes from the control API, which they call from the same origin, so the control
plane's access rules hold for them as for any client. The pages themselves hold no state, so a
control token is not asked for them (the dashboard asks for it and sends it on every call).
"""

from __future__ import annotations

import importlib.resources
import typing as t

from mockserver.dashboard import docs
from mockserver.engine import swagger_assets
from mockserver.engine.http import Response
from mockserver.engine.streams import Receive, Send

if t.TYPE_CHECKING:
    from mockserver.engine.server import MockServer

ASGIApp = t.Callable[[dict[str, t.Any], Receive, Send], t.Awaitable[None]]
HTML = "text/html; charset=utf-8"
STATIC = {"index.html": HTML, "dashboard.js": "text/javascript; charset=utf-8",
          "dashboard.css": "text/css; charset=utf-8"}
# The pages drive a control plane that resets and replaces state: no framing by other sites.
_PAGE_HEADERS = {"cache-control": "no-cache", "x-frame-options": "DENY", "x-content-type-options": "nosniff"}
# The dashboard runs only its own files (no inline script); Swagger UI's page configures itself inline.
_DASHBOARD_CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"


class ControlSite:
    def __init__(self, server: MockServer, api: ASGIApp, prefix: str) -> None:
        self.server = server
        self.api = api
        self.prefix = prefix
        self.docs_base = prefix + "/docs"

    def is_page(self, scope: dict[str, t.Any]) -> bool:
        return self._page(scope) is not None

    async def __call__(self, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        page = self._page(scope)
        if page is None:
            await self.api(scope, receive, send)
            return
        await page().send(send, head=scope["method"] == "HEAD")

    def _page(self, scope: dict[str, t.Any]) -> t.Callable[[], Response] | None:
        """The answer for a page path (GET and HEAD), or None for the control API."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        if path == self.prefix:
            return lambda: Response.empty(307, {"location": self.prefix + "/"})
        if path == self.prefix + "/":
            return lambda: _static("index.html")
        if path.startswith(self.prefix + "/ui/") and path.rsplit("/", 1)[1] in STATIC:
            return lambda: _static(path.rsplit("/", 1)[1])
        if path == self.docs_base or path.startswith(self.docs_base + "/"):
            return self._docs_page(path[len(self.docs_base):].strip("/"))
        return None

    def _docs_page(self, rest: str) -> t.Callable[[], Response] | None:
        if rest.startswith("assets/"):
            found = swagger_assets.asset(rest.removeprefix("assets/"))
            if found is None:
                return None
            body, media_type = found
            return lambda: Response(200, body, media_type, {"cache-control": "max-age=3600"})
        every = docs.documents(self.server)
        if rest == "":
            return lambda: _html(docs.index_page(every.values(), self.docs_base))
        name, _, tail = rest.partition("/openapi.json") if rest.endswith("/openapi.json") else (rest, "", "")
        document = every.get(name)
        if document is None or tail:
            return None
        if rest.endswith("/openapi.json"):
            return lambda: Response(200, docs.document_json(document.spec_path), "application/json",
                                    {"cache-control": "no-cache"})
        return lambda: _html(docs.docs_page(document, every.values(), self.docs_base))


def _html(text: str) -> Response:
    return Response.text(text, media_type=HTML, headers=dict(_PAGE_HEADERS))


def _static(name: str) -> Response:
    body = (importlib.resources.files("mockserver.dashboard") / "static" / name).read_bytes()
    headers = dict(_PAGE_HEADERS)
    if name == "index.html":
        headers["content-security-policy"] = _DASHBOARD_CSP
    return Response(200, body, STATIC[name], headers)
