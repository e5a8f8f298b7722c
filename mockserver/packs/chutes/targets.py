"""Which chute a request invokes, from its Host and path, as the real server's host middleware decides.

`llm.` (POST, or `GET /v1/models`), `embed.` and `image.` (POST) go to the "mega" endpoints that
pick a chute by the body's `model`; any other first label but `api` that is a chute's slug goes to
that chute. On other hosts, `POST /chutes/{chute}/{rest}` names the chute in its path.
"""

from __future__ import annotations

import re

from mockserver.engine.hosts import first_label
from mockserver.engine.http import Request
from mockserver.packs.chutes.store import ChutesStore

MEGA_LLM, MEGA_EMBED, MEGA_IMAGE = "__megallm__", "__megaembed__", "__megadiffuser__"
TEMPLATES = {MEGA_LLM: "vllm", MEGA_EMBED: "embedding", MEGA_IMAGE: "diffusion"}
_IN_PATH = re.compile(r"^/chutes/([^/]+)/(.+)$", re.I)


def host_target(label: str, method: str, path: str, store: ChutesStore) -> str | None:
    if label == "llm" and (method == "POST" or path == "/v1/models"):
        return MEGA_LLM
    if label == "embed" and method == "POST":
        return MEGA_EMBED
    if label == "image" and method == "POST":
        return MEGA_IMAGE
    if label != "api":
        return store.chute_id_by_slug(label)
    return None


def claims_host(label: str, method: str, path: str, store: ChutesStore) -> bool:
    """For the engine: requests to these hosts are Chutes invocations, whatever their path."""
    return host_target(label, method, path, store) is not None


def invocation_target(request: Request[ChutesStore]) -> str | None:
    """A mega endpoint, a chute id or name, or None (nothing to invoke)."""
    label = first_label(request.headers.get("host", ""))
    target = host_target(label, request.method, request.path, request.state) if label else None
    if target is None and request.method == "POST":
        named = _IN_PATH.match(request.path)
        if named is not None:
            return named.group(1)
    return target
