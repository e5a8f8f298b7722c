"""Swagger UI's files, from the PyPI package that ships them (`swagger-ui-bundle-v2`, pinned in
pyproject.toml), so the mock's documentation pages work offline.

That package installs under the same import name as the older `swagger-ui-bundle` (which connexion's
`swagger-ui` extra pulls in, with Swagger UI 4, unable to show OpenAPI 3.1), so the files are found
through the distribution's own file list, at the exact version pinned, whichever of the two
packages wrote the shared `__init__.py` last.
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path

DISTRIBUTION = "swagger-ui-bundle-v2"
VERSION = "5.31.0"
_FOLDER = f"swagger_ui_bundle/vendor/swagger-ui-{VERSION}"
# What the pages load; source maps and the ES-module builds are left out.
SERVED = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
          "favicon-16x16.png", "oauth2-redirect.js")


class SwaggerUiMissing(RuntimeError):
    """The pinned Swagger UI package is not installed."""


@functools.cache
def folder() -> Path:
    import importlib.metadata  # only when a docs page is first asked for (~10 ms to import)

    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise SwaggerUiMissing(f"the {DISTRIBUTION} package is not installed "
                               f"(pip install {DISTRIBUTION}=={VERSION})") from None
    found = Path(str(distribution.locate_file(_FOLDER)))
    if not (found / "swagger-ui-bundle.js").is_file():
        raise SwaggerUiMissing(f"{DISTRIBUTION} has no Swagger UI {VERSION} at {found}")
    return found


def asset(name: str) -> tuple[bytes, str] | None:
    """A served file's bytes and media type; None for any other name."""
    if name not in SERVED:
        return None
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return (folder() / name).read_bytes(), media_type


@functools.cache
def oauth2_redirect_html() -> str:
    """The OAuth2 redirect page, its script inlined (FastAPI serves it as one page)."""
    script = (folder() / "oauth2-redirect.js").read_text(encoding="utf-8")
    return ("<!doctype html>\n<html lang=\"en-US\">\n<head>\n<title>Swagger UI: OAuth2 Redirect</title>\n"
            f"</head>\n<body>\n<script>\n{script}\n</script>\n</body>\n</html>\n")
