"""The pack's control operations (`specs/control/invokeai.yaml`)."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


@handlers("getInvokeSummary")
def get_summary(request: Request) -> dict:
    """What the gallery and library hold, at a glance (tests and humans checking a run)."""
    store: InvokeStore = request.state
    return {
        "images": len(store.images),
        "intermediate_images": sum(image["is_intermediate"] for image in store.images.values()),
        "boards": len(store.boards),
        "workflows": {category: sum(r["workflow"].get("meta", {}).get("category") == category
                                    for r in store.workflows.values())
                      for category in ("default", "user", "project")},
        "style_presets": len(store.style_presets),
        "client_state_keys": sorted(store.client_state),
    }
