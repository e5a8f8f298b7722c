"""One InvokeAI server's state, by concern: the `gallery` (images, boards, bulk downloads), the
`library` (workflows, style presets, client state), the `runtime` (ids and time, socket.io events,
log level, invocation cache), the session `queue` and the `models`. Each is its own object; this
class holds them under one lock and turns them into the state file and back."""

from __future__ import annotations

import base64
import copy

from mockserver.engine.copies import deep_copy
from mockserver.engine.pack import Store
from mockserver.engine.records import EVERY, Rows
from mockserver.packs.invokeai.catalogue import Catalogue
from mockserver.packs.invokeai.gallery import Gallery
from mockserver.packs.invokeai.library import Library
from mockserver.packs.invokeai.model_manager import ModelManager
from mockserver.packs.invokeai.runtime import Runtime
from mockserver.packs.invokeai.session_queue import SessionQueue


class InvokeStore(Store):
    """The parts of one server's state, under one lock (`Store.lock`) and one change log."""

    def __init__(self, runtime: Runtime, catalogue: Catalogue, models: ModelManager) -> None:
        super().__init__()
        self.runtime = runtime
        self.gallery = Gallery(self, runtime)
        self.library = Library(self, runtime)
        self.queue = SessionQueue(self, catalogue)  # it runs graphs against the gallery and the models
        self.models = models

    def advance(self, now: float) -> None:
        """Move the queue processor and the model jobs forward to `now`, nodes run inline. On the
        event loop, `await session_runs.settle(store)` instead: it runs the nodes in a worker."""
        with self.lock:
            self.queue.advance(now)
            self.advance_models(now)

    def advance_models(self, now: float) -> None:
        with self.lock:
            moves = self.models.jobs.moves
            self.models.jobs.advance(now)
            if self.models.jobs.moves != moves:
                self.changed(("models", ""), ("model_images", EVERY))  # background progress is state too

    # -- state file ---------------------------------------------------------------------------

    def export(self) -> dict:
        def encode(blobs: dict[str, bytes]) -> dict[str, str]:
            return {key: base64.b64encode(value).decode("ascii") for key, value in blobs.items()}

        gallery, library = self.gallery, self.library
        with self.lock:
            return copy.deepcopy({
                "images": list(gallery.images.values()),
                "image_bytes": encode(gallery.image_bytes),
                "boards": list(gallery.boards.values()),
                "workflows": list(library.workflows.values()),
                "workflow_thumbnails": encode(library.workflow_thumbnails),
                "style_presets": list(library.style_presets.values()),
                "preset_images": encode(library.preset_images),
                "client_state": library.client_state,
                "log_level": self.runtime.log_level,
                "cache": self.runtime.cache_settings(),
                "queue": self.queue.export(),
                "models": self.models.export(),
            })

    def durable_records(self) -> dict:
        """The export's shape, live, with bytes as blobs (the state database keeps them as files)
        and the records that grow (images, boards, workflows, queue items) a row each."""
        gallery, library = self.gallery, self.library
        queue = self.queue.export()
        models = self.models.durable_records()
        return {
            "images": Rows(gallery.images),
            "image_bytes": Rows(gallery.image_bytes, as_dict=True),
            "boards": Rows(gallery.boards),
            "workflows": Rows(library.workflows),
            "workflow_thumbnails": Rows(library.workflow_thumbnails, as_dict=True),
            "style_presets": Rows(library.style_presets),
            "preset_images": Rows(library.preset_images, as_dict=True),
            "client_state": Rows(library.client_state, as_dict=True),
            "log_level": self.runtime.log_level,
            "cache": self.runtime.cache_settings(),
            "queue": {k: v for k, v in queue.items() if k != "items"},
            "queue_items": Rows(self.queue.items),
            "models": models,
            "model_images": Rows(self.models.images, as_dict=True),
        }

    def load_records(self, data: dict) -> None:
        data = {**data, "queue": {**(data.get("queue") or {}), "items": data.get("queue_items", [])},
                "models": {**(data.get("models") or {}), "images": data.get("model_images", {})}}
        self.load(data, copied=True)

    def load(self, data: dict, *, copied: bool = False) -> None:
        """Replace everything with an export (base64 blobs) or with durable records (bytes);
        `copied`: `data` is the caller's to keep (just parsed), no need to copy it."""
        def decode(blobs: dict[str, str | bytes]) -> dict[str, bytes]:
            return {key: value if isinstance(value, bytes) else base64.b64decode(value)
                    for key, value in blobs.items()}

        if not copied:
            data = deep_copy(data)
        with self.lock:
            self.gallery.load(data["images"], decode(data["image_bytes"]), data["boards"])
            self.library.load(data, {section: decode(data.get(section, {}))
                                     for section in ("workflow_thumbnails", "preset_images")})
            self.runtime.load(data)
            if data.get("queue"):
                self.queue.load(data["queue"])
            if data.get("models"):
                self.models.load(data["models"])
            self.changed()
