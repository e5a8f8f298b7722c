"""InvokeAI's gallery in memory: images (with their bytes and thumbnails), boards, and the bulk
download archives made of them. A board's counts, cover and names are derived from the images, so an
image uploaded into a board moves that board's counts, cover and names at once."""

from __future__ import annotations

import typing as t

from mockserver.engine.pack import Store
from mockserver.packs.invokeai.bulk_downloads import BulkDownloads
from mockserver.packs.invokeai.gallery_index import GalleryIndex, Selection
from mockserver.packs.invokeai.runtime import Runtime, StorePart, timestamp


class Gallery(StorePart):
    """Images, boards and bulk downloads. Callers that read several records at once, or change
    any, hold `self.lock` (the store's)."""

    def __init__(self, store: Store, runtime: Runtime) -> None:
        super().__init__(store, runtime)
        self.images: dict[str, dict] = {}
        self.image_index = GalleryIndex(timestamp)  # the gallery's orders: sync it on every image write
        self.image_bytes: dict[str, bytes] = {}
        self.thumbnails: dict[str, bytes] = {}  # made on first request, dropped with the image
        self.boards: dict[str, dict] = {}
        self.bulk_downloads = BulkDownloads()  # archives made, not yet fetched (bounded: bulk_downloads.py)

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

    def load(self, images: list[dict], image_bytes: dict[str, bytes], boards: list[dict]) -> None:
        """Replace the gallery; archives not yet fetched are dropped, their limits kept."""
        self.images = {image["image_name"]: image for image in images}
        self.image_index.rebuild(self.images)
        self.image_bytes = image_bytes
        self.thumbnails = {}
        self.boards = {board["board_id"]: board for board in boards}
        self.bulk_downloads = BulkDownloads(self.bulk_downloads.limits)
