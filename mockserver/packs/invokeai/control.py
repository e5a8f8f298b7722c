"""The pack's control operations (`specs/control/invokeai.yaml`)."""

from __future__ import annotations

from mockserver.engine.http import Request
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.session_runs import settle
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


@handlers("getInvokeSummary")
def get_summary(request: Request[InvokeStore]) -> dict:
    """What the gallery and library hold, at a glance (tests and humans checking a run)."""
    store = request.state
    gallery, library = store.gallery, store.library
    return {
        "images": len(gallery.images),
        "intermediate_images": gallery.image_index.intermediates_count(),
        "boards": len(gallery.boards),
        "workflows": {category: sum(r["workflow"].get("meta", {}).get("category") == category
                                    for r in library.workflows.values())
                      for category in ("default", "user", "project")},
        "style_presets": len(library.style_presets),
        "client_state_keys": sorted(library.client_state),
        "queue_items": {status: sum(item["status"] == status for item in store.queue.items.values())
                        for status in ("pending", "in_progress", "completed", "failed", "canceled")},
    }


def _settings(store: InvokeStore) -> dict:
    return {"queue_speed": store.queue.speed, "model_speed": store.models.jobs.pace.speed,
            **store.gallery.bulk_downloads.limits.as_settings()}


@handlers("getInvokeSettings")
def get_settings(request: Request[InvokeStore]) -> dict:
    return _settings(request.state)


@handlers("updateInvokeSettings")
async def update_settings(request: Request[InvokeStore]) -> dict:
    """How fast simulated work runs: `realtime` (the recorded server's pace on the engine clock) or
    `instant` (done by the time the call that started it answers); and the bulk download limits."""
    store = request.state
    await settle(store)  # what was due at the old pace happens at the old pace
    with store.lock:
        if "queue_speed" in request.body:
            store.queue.speed = request.body["queue_speed"]
        if "model_speed" in request.body:
            store.models.jobs.pace.speed = request.body["model_speed"]
        store.gallery.bulk_downloads.limits.update(request.body)
        store.changed()
    await settle(store)
    return _settings(store)
