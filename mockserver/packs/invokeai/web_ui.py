"""InvokeAI's own web UI, served from a bundle folder the user has (`--invokeai-ui DIR`).

`invokeai-web` mounts its built frontend (`invokeai/frontend/web/dist` in the wheel) at `/`, behind
every API route, as static files in "html" mode with caching switched off. So, as there:
- `/` answers `index.html`, and so does any folder holding one; other files are served as they are
  (`/assets/...`, `/locales/...`), with `Cache-Control: max-age=0, no-cache, no-store, ,
  must-revalidate` (the real header, double comma included), `Pragma: no-cache`, `Expires: 0`,
  plus ETag / Last-Modified and 304s for conditional requests;
- `/` with a query string redirects to `/`;
- there is no single-page-app fallback: an unknown path is 404 `{"detail": "Not Found"}`;
- the mount catches every request no API route matches, so a method other than GET/HEAD on such a
  path is 405 `{"detail": "Method Not Allowed"}` without an `Allow` header;
- the real server's second mount, `/static`, sits behind the root mount and is never reached.
Paths that resolve outside the folder (`..`, symlinks) are refused with the same 404.

The mock never ships the bundle: it is the user's copy of InvokeAI's files.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from mockserver.packs.invokeai.options import UI_OPTION, bundle_folder  # noqa: F401 - re-exported

NO_CACHE = {"cache-control": "max-age=0, no-cache, no-store, , must-revalidate", "pragma": "no-cache", "expires": "0"}


class UiBundle:
    """ASGI app: the bundle folder as invokeai-web's root mount serves it."""

    def __init__(self, folder: Path) -> None:
        self.files = StaticFiles(directory=folder, html=True, follow_symlink=False)

    async def __call__(self, scope: dict, receive: t.Any, send: t.Any) -> None:
        response = await self._respond(scope)
        await response(scope, receive, send)

    async def _respond(self, scope: dict) -> Response:
        if scope["path"] == "/" and scope.get("query_string"):
            return RedirectResponse("/")  # 307, as a bookmarked `/?__theme=dark` gets
        if scope["method"] not in ("GET", "HEAD"):
            return JSONResponse({"detail": "Method Not Allowed"}, 405)  # 6.8.1 sends no Allow here
        try:
            response = await self.files.get_response(self.files.get_path(scope), scope)
        except HTTPException as error:
            return JSONResponse({"detail": error.detail}, error.status_code)
        for name, value in NO_CACHE.items():
            response.headers.setdefault(name, value)
        return response
