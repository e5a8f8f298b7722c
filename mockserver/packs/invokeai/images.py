"""The `/api/v1/images` operations: uploads stored as real PNG files, their thumbnails, metadata,
stars, gallery queries and bulk zip downloads. The handlers work on the store's gallery: `store` here
is `request.state.gallery` (`gallery.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mockserver.engine import jsonlimits
from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.engine.threads import off_loop
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.bulk_downloads import build_zip
from mockserver.packs.invokeai.gallery import Gallery
from mockserver.packs.invokeai.gallery_index import Selection
from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()


def _image(store: Gallery, name: str) -> dict:
    image = store.images.get(name)
    if image is None:
        raise ApiError(404, "Not Found")
    return image


def _embedded_text(image: object, key: str) -> str | None:
    """InvokeAI writes metadata, workflow and graph into PNG text chunks; an upload keeps them."""
    value = getattr(image, "info", {}).get(key)
    return value if isinstance(value, str) else None


def _json_object_text(text: str | None, max_depth: int) -> str | None:
    """Metadata as stored: a JSON object's text, or nothing when it does not parse (the real server
    logs and carries on)."""
    if not text:
        return None
    try:
        value = jsonlimits.loads(text, max_depth)
    except ValueError:  # nested too deep to keep, too: not a metadata object
        return None
    return json.dumps(value) if isinstance(value, dict) else None


@handlers("upload_image")
async def upload_image(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    params, form = request.params, request.body or {}
    upload = imaging.check_image_upload(form.get("file"))
    # Decoding, cropping, resizing and the PNG encoding run off the event loop; the store
    # changes back on it, in one step.
    prepared = await off_loop(_prepare_upload, upload, form.get("resize_to"), bool(params.get("crop_visible")),
                              form.get("metadata"), request.max_json_depth)
    image = store.add_image(prepared.data, prepared.width, prepared.height,
                            category=params["image_category"], is_intermediate=params["is_intermediate"],
                            board_id=params.get("board_id"), session_id=params.get("session_id"),
                            metadata=prepared.metadata, workflow=prepared.workflow, graph=prepared.graph)
    dto = store.image_dto(image)
    return Response.json(dto, 201, headers={"location": dto["image_url"]})


@dataclass
class _PreparedUpload:
    data: bytes
    width: int
    height: int
    metadata: str | None
    workflow: str | None
    graph: str | None


def _prepare_upload(upload: UploadedFile, resize_text: str | None, crop_visible: bool,
                    sent_metadata: str | None, max_depth: int) -> _PreparedUpload:
    """The upload as the PNG the gallery stores, with its text chunks. Blocking."""
    picture = imaging.read_image(upload)
    resize_to = imaging.parse_resize_to(resize_text, max_depth)
    # The form's metadata wins (null when it is not a JSON object); without it, the PNG's own.
    metadata = _json_object_text(sent_metadata if sent_metadata else _embedded_text(picture, "invokeai_metadata"),
                                 max_depth)
    workflow = _embedded_text(picture, "invokeai_workflow")
    graph = _embedded_text(picture, "invokeai_graph")
    picture = imaging.prepare_upload(picture, resize_to=resize_to, crop_visible=crop_visible)
    embedded = {"invokeai_metadata": metadata, "invokeai_workflow": workflow, "invokeai_graph": graph}
    return _PreparedUpload(imaging.png_bytes(picture, embedded), picture.width, picture.height,
                           metadata, workflow, graph)


@handlers("create_image_upload_entry")
def create_image_upload_entry(request: Request[InvokeStore]) -> None:
    raise ApiError(501, "Not implemented")  # upload-by-URL is a stub on the real server too


@handlers("get_image_dto")
def get_image_dto(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    return store.image_dto(_image(store, request.params["image_name"]))


@handlers("update_image")
def update_image(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    with store.lock:
        image = store.images.get(request.params["image_name"])
        if image is None:
            raise ApiError(400, "Failed to update image")  # the real server's answer for any failure
        changes = {k: v for k, v in (request.body or {}).items() if v is not None}
        for key in ("image_category", "session_id", "is_intermediate", "starred"):
            if key in changes:
                image[key] = changes[key]
        store.touch(image)
        store.image_index.sync(image["image_name"], image)
        store.changed(("images", image["image_name"]))
        return store.image_dto(image)


@handlers("get_image_metadata")
def get_image_metadata(request: Request[InvokeStore]) -> dict | None:
    store = request.state.gallery
    metadata = _image(store, request.params["image_name"])["metadata"]
    return None if metadata is None else json.loads(metadata)


@handlers("get_image_workflow")
def get_image_workflow(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    image = _image(store, request.params["image_name"])
    return {"workflow": image["workflow"], "graph": image["graph"]}


def _file_headers(name: str) -> dict[str, str]:
    return {"content-disposition": f'inline; filename="{name}"', "cache-control": imaging.CACHE_FOREVER}


@handlers("get_image_full", "get_image_full_head")
def get_image_full(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    name = request.params["image_name"]
    _image(store, name)
    return Response(200, store.image_bytes[name], "image/png", _file_headers(name))


@handlers("get_image_thumbnail")
async def get_image_thumbnail(request: Request[InvokeStore]) -> Response:
    store = request.state.gallery
    name = request.params["image_name"]
    _image(store, name)
    thumbnail = store.thumbnails.get(name)
    if thumbnail is None:
        thumbnail = await off_loop(imaging.webp_thumbnail, store.image_bytes[name])
        with store.lock:
            if name in store.images:  # not deleted meanwhile: a thumbnail is dropped with its image
                store.thumbnails[name] = thumbnail
    return Response(200, thumbnail, "image/webp", {"cache-control": imaging.CACHE_FOREVER})


@handlers("get_image_urls")
def get_image_urls(request: Request[InvokeStore]) -> dict:
    # No existence check, as on the real server: the URLs follow from the name alone.
    name = request.params["image_name"]
    return {"image_name": name, "image_url": f"api/v1/images/i/{name}/full",
            "thumbnail_url": f"api/v1/images/i/{name}/thumbnail"}


@handlers("delete_image")
def delete_image(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    deleted, boards = store.remove_images([request.params["image_name"]])
    return {"affected_boards": boards, "deleted_images": deleted}


@handlers("delete_images_from_list")
def delete_images_from_list(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    deleted, boards = store.remove_images(request.body["image_names"])
    return {"affected_boards": boards, "deleted_images": deleted}


@handlers("delete_uncategorized_images")
def delete_uncategorized_images(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    with store.lock:
        names = [image["image_name"] for image in store.board_images("none")]
        deleted, _ = store.remove_images(names)
    return {"affected_boards": ["none"] if deleted else [], "deleted_images": deleted}


def _set_starred(store: Gallery, names: list[str], starred: bool) -> tuple[list[str], list[str]]:
    def star(image: dict) -> None:
        image["starred"] = starred
        store.touch(image)

    return store.change_images(names, star)


@handlers("star_images_in_list")
def star_images(request: Request[InvokeStore]) -> dict:
    starred, boards = _set_starred(request.state.gallery, request.body["image_names"], True)
    return {"affected_boards": boards, "starred_images": starred}


@handlers("unstar_images_in_list")
def unstar_images(request: Request[InvokeStore]) -> dict:
    unstarred, boards = _set_starred(request.state.gallery, request.body["image_names"], False)
    return {"affected_boards": boards, "unstarred_images": unstarred}


@handlers("get_intermediates_count")
def get_intermediates_count(request: Request[InvokeStore]) -> int:
    store = request.state.gallery
    return store.image_index.intermediates_count()


@handlers("clear_intermediates")
def clear_intermediates(request: Request[InvokeStore]) -> int:
    store = request.state.gallery
    with store.lock:
        names = store.image_index.intermediate_names()
        deleted, _ = store.remove_images(names)
    return len(deleted)


def _gallery_query(request: Request[InvokeStore]) -> Selection:
    store = request.state.gallery
    params = request.params
    return store.gallery_query(origin=params.get("image_origin"), categories=params.get("categories"),
                               is_intermediate=params.get("is_intermediate"), board_id=params.get("board_id"),
                               search_term=params.get("search_term"),
                               starred_first=params.get("starred_first", True),
                               order_dir=params.get("order_dir", "DESC"))


@handlers("list_image_dtos")
def list_image_dtos(request: Request[InvokeStore]) -> dict:
    store = request.state.gallery
    rows = _gallery_query(request)
    offset, limit = request.params.get("offset", 0), request.params.get("limit", 10)
    page = rows.page(max(offset, 0), max(limit, 0))
    return {"limit": limit, "offset": offset, "total": len(rows),
            "items": [store.image_dto(store.images[name]) for name in page]}


@handlers("get_image_names")
def get_image_names(request: Request[InvokeStore]) -> dict:
    rows = _gallery_query(request)
    names = rows.names()
    # The real server counts stars only when it sorts by them (the UI's divider between groups).
    starred = rows.starred if request.params.get("starred_first", True) else 0
    return {"image_names": names, "starred_count": starred, "total_count": len(names)}


@handlers("get_images_by_names")
def get_images_by_names(request: Request[InvokeStore]) -> list:
    store = request.state.gallery
    # The client's order, names that do not exist left out: the UI asks for a visible range.
    return [store.image_dto(store.images[name]) for name in request.body["image_names"] if name in store.images]


@handlers("download_images_from_list")
async def download_images_from_list(request: Request[InvokeStore]) -> Response:
    store, runtime = request.state.gallery, request.state.runtime
    body = request.body or {}
    names, board_id = body.get("image_names"), body.get("board_id")
    if not names and not board_id:
        raise ApiError(400, "No images or board id specified.")
    with store.lock:
        if names:
            chosen = [store.images[name] for name in names if name in store.images]
        else:
            chosen = store.select_images(board_id=board_id, starred_first=False)
        # The bytes as they are now: an image deleted while the archive is built stays in it.
        entries = [(f"{image['image_category']}/{image['image_name']}", store.image_bytes[image["image_name"]])
                   for image in chosen]
        item_id = store.new_id()
        item_name = f"{item_id}.zip"
        # The real server builds the archive in the background and tells the "default" bulk
        # download room when it starts and when it is ready (or failed); here the answer waits
        # for the archive, so a client may fetch it as soon as it has the name.
        event = {"bulk_download_id": "default", "bulk_download_item_id": item_id, "bulk_download_item_name": item_name}
        runtime.emit("bulk_download_started", event, room="default")
        refusal = store.bulk_downloads.refusal(entries)
    if refusal is None:
        data = await off_loop(build_zip, entries)
        del entries  # the archive holds the bytes now
        with store.lock:
            store.bulk_downloads.add(item_name, data, runtime.clock.now())
            runtime.emit("bulk_download_complete", event, room="default")
    else:
        runtime.emit("bulk_download_error", {**event, "error": refusal}, room="default")
    return Response.json({"response": None, "bulk_download_item_name": item_name}, 202)


@handlers("get_bulk_download_item")
def get_bulk_download_item(request: Request[InvokeStore]) -> Response:
    store, runtime = request.state.gallery, request.state.runtime
    name = request.params["bulk_download_item_name"]
    # Served once: the real server deletes the archive after sending it.
    with store.lock:
        data = store.bulk_downloads.take(name, runtime.clock.now())
    if data is None:
        raise ApiError(404, "Not Found")
    return Response(200, data, "application/zip", _file_headers(name))
