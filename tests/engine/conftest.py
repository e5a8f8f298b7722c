"""A tiny pack over `data/tiny.yaml`, to test the engine apart from any real API."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.bodies import UploadedFile
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers, Pack, Store
from mockserver.engine.pipeline import Settings

TINY_SPEC = Path(__file__).parent / "data" / "tiny.yaml"


class ItemStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[int, dict] = {1: {"id": 1, "name": "first", "size": 1, "color": None}}

    def export(self) -> dict:
        return {"items": list(self.items.values())}

    def load(self, data: dict) -> None:
        self.items = {item["id"]: item for item in data["items"]}


handlers = Handlers()


@handlers("listItems")
def list_items(request: Request) -> list:
    items = sorted(request.state.items.values(), key=lambda i: i["id"],
                   reverse=request.params.get("order") == "desc")
    return items[: request.params["limit"]]


@handlers("createItem")
def create_item(request: Request) -> Response:
    store = request.state
    with store.lock:
        item = {"id": max(store.items, default=0) + 1, "name": request.body["name"],
                "size": request.body.get("size"), "color": request.body.get("color")}
        store.items[item["id"]] = item
        store.changed()
    return Response.json(item, 201)


@handlers("countItems")
def count_items(request: Request) -> int:
    return len(request.state.items)


@handlers("getItem")
def get_item(request: Request) -> dict:
    item = request.state.items.get(request.params["item_id"])
    if item is None:
        raise ApiError(404, "Item not found")
    return item


@handlers("deleteItem")
def delete_item(request: Request) -> None:
    with request.state.lock:
        request.state.items.pop(request.params["item_id"], None)
        request.state.changed()


@handlers("getFile")
def get_file(request: Request) -> Response:
    return Response.text(request.params["file_path"])


@handlers("upload")
def upload(request: Request) -> Response:
    file = request.body["file"]
    assert isinstance(file, UploadedFile)
    return Response.json({"filename": file.filename, "bytes": len(file.data),
                          "count": request.body.get("count"), "label": request.body.get("label")}, 201)


def authenticate(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer good":
        raise ApiError(401, "Not authenticated")
    return "user"


def tiny_pack(dialect: str = "fastapi", **overrides: t.Any) -> Pack:
    fields = dict(name="tiny", dialect=dialect, prefixes=("/tiny",), handlers=handlers,
                  new_state=lambda context: ItemStore(), authenticate=authenticate,
                  spec_path=TINY_SPEC, redirect_slashes=True)
    fields.update(overrides)
    return Pack(**fields)


def make_server(*packs: Pack, **config: t.Any):
    settings = config.pop("settings", Settings(validate_responses=True, max_body_bytes=4096))
    return build_server(ServerConfig(apis=list(packs) or [tiny_pack()], seed=5, settings=settings, **config))


@pytest.fixture
def fastapi_client() -> t.Iterator[TestClient]:
    with TestClient(make_server(tiny_pack("fastapi"))) as client:
        yield client


@pytest.fixture
def openai_client() -> t.Iterator[TestClient]:
    with TestClient(make_server(tiny_pack("openai"))) as client:
        yield client
