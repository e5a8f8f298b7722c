"""The `/api/v1/workflows` operations: the shipped default workflows and the user's own library,
with paging, ordering, filters, tag and category counts, and thumbnails. The handlers work on the
store's library: `store` here is `request.state.library` (`library.py`)."""

from __future__ import annotations

import copy
import math
import re
import typing as t

from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError, Issue, RequestInvalid
from mockserver.engine.pack import Handlers
from mockserver.engine.threads import off_loop
from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.library import Library
from mockserver.packs.invokeai.runtime import timestamp
from mockserver.packs.invokeai.workflow_index import Ordering, category_of

if t.TYPE_CHECKING:  # the store's session queue checks workflows with `check_meta_version`
    from mockserver.packs.invokeai.store import InvokeStore

handlers = Handlers()

# semver 2.0's grammar, as the real server checks `meta.version` with the semver package.
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                     r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def new_record(workflow: dict, workflow_id: str, now: float) -> dict:
    """A library row: a copy of the workflow document (with its id) and the columns the API lists."""
    return record_of(copy.deepcopy(workflow), workflow_id, now)


def record_of(document: dict, workflow_id: str, now: float) -> dict:
    """A library row holding `document` itself (the caller's to give away), with its id."""
    document["id"] = workflow_id
    document.setdefault("is_published", None)
    return {"workflow_id": workflow_id, "workflow": document, "created_at": now, "updated_at": now,
            "opened_at": None, "is_published": None}


def check_meta_version(workflow: dict, loc: tuple = ("body", "workflow")) -> None:
    """The semver rule the real server checks on every workflow document (a pydantic validator)."""
    version = workflow.get("meta", {}).get("version")
    if isinstance(version, str) and not _SEMVER.match(version):
        raise RequestInvalid([Issue("value_error", loc + ("meta", "version"), version,
                                    {"error": f"Invalid workflow meta version: {version}"})])


def _workflow(store: Library, workflow_id: str) -> dict:
    record = store.workflows.get(workflow_id)
    if record is None:
        raise ApiError(404, "Workflow not found")
    return record


_category = category_of


def _thumbnail_url(store: Library, record: dict) -> str | None:
    if record["workflow_id"] not in store.workflow_thumbnails:
        return None
    return f"api/v1/workflows/i/{record['workflow_id']}/thumbnail"


def _times(record: dict) -> dict:
    opened = record["opened_at"]
    return {"created_at": timestamp(record["created_at"]), "updated_at": timestamp(record["updated_at"]),
            "opened_at": None if opened is None else timestamp(opened)}


def record_dto(store: Library, record: dict, *, thumbnail: bool = False) -> dict:
    dto = {"workflow_id": record["workflow_id"], "name": record["workflow"]["name"], **_times(record),
           "is_published": record["is_published"], "workflow": copy.deepcopy(record["workflow"])}
    if thumbnail:
        dto["thumbnail_url"] = _thumbnail_url(store, record)
    return dto


def list_item(store: Library, record: dict) -> dict:
    workflow = record["workflow"]
    return {"workflow_id": record["workflow_id"], "name": workflow["name"], **_times(record),
            "is_published": record["is_published"], "description": workflow.get("description", ""),
            "category": _category(record), "tags": workflow.get("tags", ""),
            "thumbnail_url": _thumbnail_url(store, record)}


@handlers("create_workflow")
def create_workflow(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    workflow = request.body["workflow"]
    check_meta_version(workflow)
    if workflow.get("meta", {}).get("category") == "default":
        raise ApiError(400, "Default workflows cannot be created via this method")
    with store.lock:
        record = new_record(workflow, store.new_id(), store.now())
        store.workflows[record["workflow_id"]] = record
        store.workflow_index.sync(record["workflow_id"], record)
        store.changed(("workflows", record["workflow_id"]))
    return record_dto(store, record)


@handlers("get_workflow")
def get_workflow(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    return record_dto(store, _workflow(store, request.params["workflow_id"]), thumbnail=True)


@handlers("update_workflow")
def update_workflow(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    workflow = request.body["workflow"]
    check_meta_version(workflow)
    if workflow.get("meta", {}).get("category") == "default":
        raise ApiError(400, "Default workflows cannot be updated")
    with store.lock:
        # The real server ignores the path: it updates the workflow the body's `id` names, and only
        # a `user` one (its UPDATE has `AND category = 'user'`), then answers that workflow as stored.
        record = _workflow(store, workflow["id"])
        if _category(record) != "default":
            record["workflow"] = copy.deepcopy(workflow)
            record["workflow"].setdefault("is_published", None)
            record["updated_at"] = store.now()
            store.workflow_index.sync(record["workflow_id"], record)
            store.changed(("workflows", record["workflow_id"]))
    return record_dto(store, record)


@handlers("delete_workflow")
def delete_workflow(request: Request[InvokeStore]) -> None:
    store = request.state.library
    with store.lock:
        record = _workflow(store, request.params["workflow_id"])
        if _category(record) == "default":
            raise ApiError(400, "Default workflows cannot be deleted")
        del store.workflows[record["workflow_id"]]
        store.workflow_index.sync(record["workflow_id"], None)
        store.workflow_thumbnails.pop(record["workflow_id"], None)
        store.changed(("workflows", record["workflow_id"]), ("workflow_thumbnails", record["workflow_id"]))


@handlers("update_opened_at")
def update_opened_at(request: Request[InvokeStore]) -> None:
    store = request.state.library
    with store.lock:
        record = _workflow(store, request.params["workflow_id"])
        # The table's update trigger moves updated_at with any change, opening included.
        record["opened_at"] = record["updated_at"] = store.now()
        store.workflow_index.sync(record["workflow_id"], record)
        store.changed(("workflows", record["workflow_id"]))


def _matches(record: dict, *, categories: list | None, tags: list | None = None, query: str | None = None,
             has_been_opened: bool | None = None, is_published: bool | None = None) -> bool:
    workflow = record["workflow"]
    if categories is not None and _category(record) not in categories:
        return False
    # Tags are one comma-separated string; the real server matches each asked tag as a substring.
    if tags and not any(tag.lower() in workflow.get("tags", "").lower() for tag in tags):
        return False
    if query:
        needle = query.strip().lower()
        if not any(needle in text.lower() for text in (workflow["name"], workflow.get("description", ""))):
            return False
    if has_been_opened is not None and (record["opened_at"] is not None) != has_been_opened:
        return False
    if is_published is not None and bool(record["is_published"]) != is_published:
        return False
    return True


@handlers("list_workflows")
def list_workflows(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    params = request.params
    ordering = store.workflow_index.ordered(params.get("categories"), params.get("order_by", "name"),
                                            params.get("direction", "ASC") == "DESC")
    filters = {"tags": params.get("tags"), "query": params.get("query"),
               "has_been_opened": params.get("has_been_opened"), "is_published": params.get("is_published")}
    if any(value is not None for value in filters.values()):  # filtered in order, no sort needed
        ordering = Ordering([workflow_id for workflow_id in ordering.ids()
                             if _matches(store.workflows[workflow_id], categories=None, **filters)], False)
    page, per_page, total = params.get("page", 0), params.get("per_page"), len(ordering)
    if per_page:
        ids, pages = ordering.page(max(page, 0) * per_page, per_page), math.ceil(total / per_page)
    else:
        ids, per_page, pages = ordering.ids(), total, 1  # no paging asked: one page holding everything
    return {"page": page, "pages": pages, "per_page": per_page, "total": total,
            "items": [list_item(store, store.workflows[workflow_id]) for workflow_id in ids]}


@handlers("get_counts_by_tag")
def get_counts_by_tag(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    params = request.params
    return {tag: sum(_matches(r, categories=params.get("categories"), tags=[tag],
                              has_been_opened=params.get("has_been_opened")) for r in store.workflows.values())
            for tag in params["tags"]}


@handlers("counts_by_category")
def counts_by_category(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    params = request.params
    return {category: store.workflow_index.count(category, params.get("has_been_opened"))
            for category in params["categories"]}


@handlers("set_workflow_thumbnail")
async def set_workflow_thumbnail(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    record = _workflow(store, request.params["workflow_id"])
    upload = imaging.check_image_upload((request.body or {}).get("image"))
    thumbnail = await off_loop(_thumbnail, upload)
    with store.lock:
        record = _workflow(store, request.params["workflow_id"])  # it may have gone meanwhile
        store.workflow_thumbnails[record["workflow_id"]] = thumbnail
        record["updated_at"] = store.now()
        store.workflow_index.sync(record["workflow_id"], record)
        store.changed()
    return record_dto(store, record, thumbnail=True)


def _thumbnail(upload: UploadedFile) -> bytes:
    """The stored WebP preview of an uploaded image. Blocking: decodes and encodes."""
    return imaging.thumbnail_of(imaging.read_image(upload))


@handlers("delete_workflow_thumbnail")
def delete_workflow_thumbnail(request: Request[InvokeStore]) -> dict:
    store = request.state.library
    with store.lock:
        record = _workflow(store, request.params["workflow_id"])
        store.workflow_thumbnails.pop(record["workflow_id"], None)
        store.changed()
    return record_dto(store, record, thumbnail=True)


@handlers("get_workflow_thumbnail")
def get_workflow_thumbnail(request: Request[InvokeStore]) -> Response:
    store = request.state.library
    record = _workflow(store, request.params["workflow_id"])
    data = store.workflow_thumbnails.get(record["workflow_id"])
    if data is None:
        # The real server fails with a 500 here; a missing thumbnail is a 404.
        raise ApiError(404, "Workflow thumbnail not found")
    return imaging.preview_response(data, record["workflow_id"])
