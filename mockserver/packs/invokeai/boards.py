"""The `/api/v1/boards` and `/api/v1/board_images` operations. A board's counts, cover and image
names are read off the images each time, so they follow images in and out.
The handlers work on the store's gallery: `store` here is `request.state.gallery` (`gallery.py`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.invokeai.gallery import Gallery
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


def _board(store: Gallery, board_id: str) -> dict:
    board = store.boards.get(board_id)
    if board is None:
        raise ApiError(404, "Board not found")
    return board


def _unique(*values: str) -> list[str]:
    return list(dict.fromkeys(values))


@handlers("create_board")
def create_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    # The community edition has no private boards: `is_private` is accepted and not kept (its
    # lists show false for every board; single-board answers show null).
    board = store.add_board(request.params["board_name"], False)
    return Response.json(store.board_dto(board), 201)


@handlers("list_boards")
def list_boards(request: Request[InvokeStore]) -> dict | list:
    store = request.state.gallery
    params = request.params
    offset: t.Any = params.get("offset")
    limit: t.Any = params.get("limit")
    if not params.get("all") and (offset is None or limit is None):
        raise ApiError(400, "Invalid request: Must provide either 'all' or both 'offset' and 'limit'")
    boards = [b for b in store.boards.values() if params.get("include_archived") or not b["archived"]]
    if params.get("order_by", "created_at") == "board_name":
        boards.sort(key=lambda board: board["board_name"].lower(), reverse=params.get("direction", "DESC") == "DESC")
    else:
        boards.sort(key=lambda board: board["created_at"], reverse=params.get("direction", "DESC") == "DESC")
    if params.get("all"):
        return store.board_dtos(boards)
    page = boards[max(offset, 0):max(offset, 0) + max(limit, 0)]
    # The true total (the real server reports the page's length here, a known defect).
    return {"limit": limit, "offset": offset, "total": len(boards), "items": store.board_dtos(page)}


@handlers("get_board")
def get_board(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    return store.board_dto(_board(store, request.params["board_id"]))


@handlers("update_board")
def update_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    with store.lock:
        # 404 for an unknown board, where the real server fails with a 500.
        board = _board(store, request.params["board_id"])
        for key, value in (request.body or {}).items():
            if value is not None:
                board[key] = value
        board["updated_at"] = store.now()
        store.changed(("boards", board["board_id"]))
        return Response.json(store.board_dto(board), 201)


@handlers("delete_board")
def delete_board(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    board_id = request.params["board_id"]
    with store.lock:
        names = [image["image_name"] for image in store.board_images(board_id)] if board_id in store.boards else []
        store.boards.pop(board_id, None)
        if request.params.get("include_images"):
            deleted, _ = store.remove_images(names)
            store.changed()
            return {"board_id": board_id, "deleted_board_images": [], "deleted_images": deleted}
        for name in names:
            store.images[name]["board_id"] = None  # back to uncategorized
            store.image_index.sync(name, store.images[name])
        store.changed()
        return {"board_id": board_id, "deleted_board_images": names, "deleted_images": []}


@handlers("list_all_board_image_names")
def list_all_board_image_names(request: Request[InvokeStore]) -> list:
    store = request.state.gallery
    params = request.params
    categories, intermediate = params.get("categories"), params.get("is_intermediate")
    return [image["image_name"] for image in store.board_images(params["board_id"])
            if (categories is None or image["image_category"] in categories)
            and (intermediate is None or image["is_intermediate"] == intermediate)]


def _move(store: Gallery, name: str, board_id: str | None) -> str | None:
    """Put an image on a board (None: uncategorized); returns where it was, or None if it does not exist."""
    image = store.images.get(name)
    if image is None:
        return None
    old = image["board_id"] or "none"
    image["board_id"] = board_id
    image["board_added_at"] = store.now()
    store.image_index.sync(name, image)
    return old


@handlers("add_image_to_board")
def add_image_to_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    board_id, name = request.body["board_id"], request.body["image_name"]
    with store.lock:
        _board(store, board_id)  # the real server answers 500 for an unknown board or image
        old = _move(store, name, board_id)
        if old is None:
            raise ApiError(404, "Image not found")
        store.changed()
    return Response.json({"affected_boards": _unique(board_id, old), "added_images": [name]}, 201)


@handlers("remove_image_from_board")
def remove_image_from_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    name = request.body["image_name"]
    with store.lock:
        old = _move(store, name, None)
        if old is None:
            raise ApiError(404, "Image not found")
        store.changed()
    return Response.json({"affected_boards": _unique(old, "none"), "removed_images": [name]}, 201)


@handlers("add_images_to_board")
def add_images_to_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    board_id = request.body["board_id"]
    added: list[str] = []
    affected: list[str] = []
    with store.lock:
        _board(store, board_id)
        for name in request.body["image_names"]:
            old = _move(store, name, board_id)
            if old is not None:  # unknown names are skipped, as the real server skips failures
                added.append(name)
                affected = _unique(*affected, board_id, old)
        store.changed()
    return Response.json({"affected_boards": affected, "added_images": added}, 201)


@handlers("remove_images_from_board")
def remove_images_from_board(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    removed: list[str] = []
    affected: list[str] = []
    with store.lock:
        for name in request.body["image_names"]:
            old = _move(store, name, None)
            if old is not None:
                removed.append(name)
                affected = _unique(*affected, old, "none")
        store.changed()
    return Response.json({"affected_boards": affected, "removed_images": removed}, 201)
