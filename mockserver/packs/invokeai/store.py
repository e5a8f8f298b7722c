"""InvokeAI's gallery and library in memory: images (with their bytes), boards, workflows, style
presets, client state and app settings. Every list the API answers is derived from these, so an
image uploaded into a board moves that board's counts, cover and names at once."""

from __future__ import annotations

import base64
import collections
import copy
import functools
import random
import typing as t
import uuid
from datetime import datetime, timezone

from mockserver.engine.pack import Store
from mockserver.engine.records import EVERY, Rows
from mockserver.packs.invokeai.bulk_downloads import BulkDownloads
from mockserver.packs.invokeai.gallery_index import GalleryIndex, Selection
from mockserver.packs.invokeai.workflow_index import WorkflowIndex

LOG_LEVELS = (0, 10, 20, 30, 40, 50)
# What a change confined to the session queue touches, for `Store.changed`: the state database then
# reads the queue and not every image.
QUEUE_SECTIONS = (("queue", ""), ("queue_items", EVERY))


@functools.lru_cache(maxsize=65536)
def timestamp(when: float) -> str:
    """InvokeAI's SQLite timestamp: `2026-11-22 00:35:19.686` (UTC, milliseconds). Memoized: a
    listing formats the same few times over and over, and strftime is most of its cost."""
    moment = datetime.fromtimestamp(when, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class InvokeStore(Store):
    def __init__(self, rng: random.Random, prompt_rng: random.Random, clock: t.Any, app: dict) -> None:
        super().__init__()
        self.rng = rng  # ids
        self.prompt_rng = prompt_rng  # random prompts and random nodes: ids stay put when they run
        self.clock = clock
        self.app = app  # version, config, app_deps, runtime_config: fixtures, read-only
        self.images: dict[str, dict] = {}
        self.image_index = GalleryIndex(timestamp)  # the gallery's orders: sync it on every image write
        self.image_bytes: dict[str, bytes] = {}
        self.thumbnails: dict[str, bytes] = {}  # made on first request, dropped with the image
        self.boards: dict[str, dict] = {}
        self.workflows: dict[str, dict] = {}
        self.workflow_index = WorkflowIndex()  # the library's orders: sync it on every workflow write
        self.workflow_thumbnails: dict[str, bytes] = {}
        self.style_presets: dict[str, dict] = {}
        self.preset_images: dict[str, bytes] = {}
        self.client_state: dict[str, str] = {}  # one store for the server, whatever the queue id
        self.bulk_downloads = BulkDownloads()  # archives made, not yet fetched (bounded: bulk_downloads.py)
        self.outbox: collections.deque = collections.deque(maxlen=10000)  # (event, data, room) for socket.io
        # The SessionQueue and the ModelManager, which need the store themselves: seed.new_state
        # makes them right after it.
        self.queue: t.Any = None
        self.models: t.Any = None
        self.log_level = int(app.get("log_level", 20))
        self.cache = {"enabled": bool(app.get("invocation_cache_enabled", True)),
                      "max_size": int(app.get("invocation_cache_max_size", 512)),
                      "hits": 0, "misses": 0, "entries": {}}
        self._tick = 0.0

    # -- ids and times ------------------------------------------------------------------------

    def new_id(self) -> str:
        """A UUID4 drawn from the seeded generator, so a replayed session gets the same ids."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> float:
        """The clock, nudged forward a millisecond per write when frozen: rows made in one frozen
        instant would otherwise tie on `created_at` and lose the order they were made in."""
        now = self.clock.now()
        self._tick = max(now, self._tick + 0.001)
        return self._tick

    # -- events and time ----------------------------------------------------------------------

    def emit(self, event: str, data: dict, room: str | None = None) -> None:
        """Queue a socket.io event; the pack's companion delivers it (`events.py`)."""
        self.outbox.append((event, {"timestamp": int(self.clock.now()), **data}, room))

    def take_events(self) -> list[tuple[str, dict, str | None]]:
        events = list(self.outbox)
        self.outbox.clear()
        return events

    def advance(self, now: float) -> None:
        """Move the queue processor and the model jobs forward to `now`, nodes run inline. On the
        event loop, `await session_runs.settle(store)` instead: it runs the nodes in a worker."""
        with self.lock:
            self.queue.advance(now)
            self.advance_models(now)

    def advance_models(self, now: float) -> None:
        with self.lock:
            moves = self.models.moves
            self.models.advance(now)
            if self.models.moves != moves:
                self.changed(("models", ""), ("model_images", EVERY))  # background progress is state too

    # -- images -------------------------------------------------------------------------------

    def image_dto(self, image: dict) -> dict:
        name = image["image_name"]
        return {
            "image_name": name,
            "image_url": f"api/v1/images/i/{name}/full",
            "thumbnail_url": f"api/v1/images/i/{name}/thumbnail",
            "image_origin": image["image_origin"],
            "image_category": image["image_category"],
            "width": image["width"],
            "height": image["height"],
            "created_at": timestamp(image["created_at"]),
            "updated_at": timestamp(image["updated_at"]),
            "deleted_at": None,
            "is_intermediate": image["is_intermediate"],
            "session_id": image["session_id"],
            "node_id": image["node_id"],
            "starred": image["starred"],
            "has_workflow": image["workflow"] is not None or image["graph"] is not None,
            "board_id": image["board_id"],
        }

    def add_image(self, data: bytes, width: int, height: int, *, category: str, is_intermediate: bool,
                  board_id: str | None = None, session_id: str | None = None, node_id: str | None = None,
                  origin: str = "external", metadata: str | None = None, workflow: str | None = None,
                  graph: str | None = None, when: float | None = None) -> dict:
        with self.lock:
            now = self.now() if when is None else when
            name = f"{self.new_id()}.png"
            image = {"image_name": name, "image_origin": origin, "image_category": category,
                     "width": width, "height": height, "created_at": now, "updated_at": now,
                     "is_intermediate": is_intermediate, "session_id": session_id, "node_id": node_id,
                     "starred": False, "board_id": board_id if board_id in self.boards else None,
                     "board_added_at": now,
                     "metadata": metadata, "workflow": workflow, "graph": graph}
            self.images[name] = image
            self.image_index.sync(name, image)
            self.image_bytes[name] = data
            self.changed(("images", name), ("image_bytes", name))
            return image

    def touch(self, image: dict) -> None:
        image["updated_at"] = self.now()

    def change_images(self, names: t.Iterable[str], change: t.Callable[[dict], None],
                      sections: tuple[str, ...] = ("images",)) -> tuple[list[str], list[str]]:
        """Apply `change` to each named image that exists; returns (the names changed, the boards
        they were on, "none" for uncategorized), the two lists InvokeAI's batch answers carry.
        `sections`: what `change` changes of an image, by the state's sections."""
        changed: list[str] = []
        boards: list[str] = []
        with self.lock:
            for name in names:
                image = self.images.get(name)
                if image is None:
                    continue
                change(image)
                self.image_index.sync(name, self.images.get(name))
                changed.append(name)
                board = image["board_id"] or "none"
                if board not in boards:
                    boards.append(board)
            if changed:
                self.changed(*((section, name) for name in changed for section in sections))
        return changed, boards

    def remove_images(self, names: t.Iterable[str]) -> tuple[list[str], list[str]]:
        """Delete the images that exist; returns (deleted names, affected board ids or "none")."""
        def remove(image: dict) -> None:
            name = image["image_name"]
            del self.images[name]
            self.image_bytes.pop(name, None)
            self.thumbnails.pop(name, None)

        with self.lock:
            return self.change_images(list(dict.fromkeys(names)), remove, ("images", "image_bytes"))

    def select_images(self, **query: t.Any) -> list[dict]:
        """The images a gallery query shows, in its order (starred first, then by creation);
        the query's parameters are `GalleryIndex.select`'s."""
        return [self.images[name] for name in self.gallery_query(**query).names()]

    def gallery_query(self, **query: t.Any) -> Selection:
        with self.lock:  # session runs add images from worker threads
            return self.image_index.select(**query)

    # -- boards -------------------------------------------------------------------------------

    def board_images(self, board_id: str) -> list[dict]:
        """A board's images in the order they joined it (uncategorized ones: as created), which
        is the order the real server's board_images rows come back in."""
        with self.lock:
            members = self.image_index.board_members(None if board_id == "none" else board_id)
            return [self.images[name] for name in members]

    def board_dto(self, board: dict, *, listed: bool = False) -> dict:
        """The board as the API shows it. `is_private` is false in lists and null in a
        single-board answer (create, get, update), as the real server shows it."""
        # Over its non-intermediate images. The real server shows the board's most recent image
        # (starred first, then newest) and never the stored `cover_image_name`, which PATCH
        # accepts and keeps all the same.
        with self.lock:
            image_count, asset_count, cover = self.image_index.board_summary(board["board_id"])
        return {
            "board_id": board["board_id"],
            "board_name": board["board_name"],
            "created_at": timestamp(board["created_at"]),
            "updated_at": timestamp(board["updated_at"]),
            "deleted_at": None,
            "cover_image_name": cover,
            "archived": board["archived"],
            "is_private": board["is_private"] if listed else None,
            "image_count": image_count,
            "asset_count": asset_count,
            "video_count": 0,
        }

    def board_dtos(self, boards: list[dict]) -> list[dict]:
        return [self.board_dto(board, listed=True) for board in boards]

    def add_board(self, name: str, is_private: bool) -> dict:
        with self.lock:
            now = self.now()
            board: dict[str, t.Any] = {"board_id": self.new_id(), "board_name": name, "created_at": now,
                                       "updated_at": now, "cover_image_name": None, "archived": False,
                                       "is_private": is_private}
            self.boards[board["board_id"]] = board
            self.changed(("boards", board["board_id"]))
            return board

    # -- state file ---------------------------------------------------------------------------

    def export(self) -> dict:
        def encode(blobs: dict[str, bytes]) -> dict[str, str]:
            return {key: base64.b64encode(value).decode("ascii") for key, value in blobs.items()}

        with self.lock:
            return copy.deepcopy({
                "images": list(self.images.values()),
                "image_bytes": encode(self.image_bytes),
                "boards": list(self.boards.values()),
                "workflows": list(self.workflows.values()),
                "workflow_thumbnails": encode(self.workflow_thumbnails),
                "style_presets": list(self.style_presets.values()),
                "preset_images": encode(self.preset_images),
                "client_state": self.client_state,
                "log_level": self.log_level,
                "cache": {k: v for k, v in self.cache.items() if k != "entries"},
                "queue": self.queue.export(),
                "models": self.models.export(),
            })

    def durable_records(self) -> dict:
        """The export's shape, live, with bytes as blobs (the state database keeps them as files)
        and the records that grow (images, boards, workflows, queue items) a row each."""
        queue = self.queue.export()
        models = self.models.durable_records()
        return {
            "images": Rows(self.images),
            "image_bytes": Rows(self.image_bytes, as_dict=True),
            "boards": Rows(self.boards),
            "workflows": Rows(self.workflows),
            "workflow_thumbnails": Rows(self.workflow_thumbnails, as_dict=True),
            "style_presets": Rows(self.style_presets),
            "preset_images": Rows(self.preset_images, as_dict=True),
            "client_state": Rows(self.client_state, as_dict=True),
            "log_level": self.log_level,
            "cache": {k: v for k, v in self.cache.items() if k != "entries"},
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
            data = copy.deepcopy(data)
        with self.lock:
            self.images = {image["image_name"]: image for image in data["images"]}
            self.image_index.rebuild(self.images)
            self.image_bytes = decode(data["image_bytes"])
            self.thumbnails = {}
            self.boards = {board["board_id"]: board for board in data["boards"]}
            self.workflows = {w["workflow_id"]: w for w in data["workflows"]}
            self.workflow_index.rebuild(self.workflows)
            self.workflow_thumbnails = decode(data.get("workflow_thumbnails", {}))
            self.style_presets = {p["id"]: p for p in data["style_presets"]}
            self.preset_images = decode(data.get("preset_images", {}))
            self.client_state = dict(data.get("client_state", {}))
            self.log_level = int(data.get("log_level", self.log_level))
            self.cache = {**self.cache, **data.get("cache", {}), "entries": {}}
            self.bulk_downloads = BulkDownloads(self.bulk_downloads.limits)
            if data.get("queue"):
                self.queue.load(data["queue"])
            if data.get("models"):
                self.models.load(data["models"])
            self.changed()
