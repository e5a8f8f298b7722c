"""InvokeAI's library in memory: workflows (the shipped defaults and the user's) with their
thumbnails, style presets with their preview images, and the web UI's client state."""

from __future__ import annotations

from mockserver.engine.pack import Store
from mockserver.packs.invokeai.runtime import Runtime, StorePart
from mockserver.packs.invokeai.workflow_index import WorkflowIndex


class Library(StorePart):
    """Workflows, style presets and client state. Callers that change any hold `self.lock` (the
    store's) and say so with `self.changed`."""

    def __init__(self, store: Store, runtime: Runtime) -> None:
        super().__init__(store, runtime)
        self.workflows: dict[str, dict] = {}
        self.workflow_index = WorkflowIndex()  # the library's orders: sync it on every workflow write
        self.workflow_thumbnails: dict[str, bytes] = {}
        self.style_presets: dict[str, dict] = {}
        self.preset_images: dict[str, bytes] = {}
        self.client_state: dict[str, str] = {}  # one store for the server, whatever the queue id

    def load(self, data: dict, blobs: dict[str, dict[str, bytes]]) -> None:
        """Replace the library with an export's records; `blobs`: its decoded thumbnails and
        preview images, by section."""
        self.workflows = {w["workflow_id"]: w for w in data["workflows"]}
        self.workflow_index.rebuild(self.workflows)
        self.workflow_thumbnails = blobs["workflow_thumbnails"]
        self.style_presets = {p["id"]: p for p in data["style_presets"]}
        self.preset_images = blobs["preset_images"]
        self.client_state = dict(data.get("client_state", {}))
