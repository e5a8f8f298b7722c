"""Heavy work off the event loop, and its limits: one pixel cap on every route that takes an image
(checked from the file's header, before decoding), nodes run in a worker thread while the server
keeps answering (with the same results and events as run inline), and bounded bulk downloads."""

from __future__ import annotations

import io
import json
import random
import struct
import threading
import typing as t
import zipfile
import zlib

import pytest
from invokeai_support import (
    CONTROL,
    advance,
    blank_graph,
    decoded,
    edge,
    enqueue,
    graph,
    new_board,
    node,
    ok,
    png_bytes,
    queue_item,
    set_speed,
    upload,
    uploaded,
)
from PIL import Image
from starlette.testclient import TestClient

from mockserver.packs.invokeai import imaging
from mockserver.packs.invokeai.runners import registry

IMAGES = "/api/v1/images/"
MODELS = "/api/v2/models"
LORA = "/invokeai/import/loras/pixel-art-xl.safetensors"
BLOCK_TIMEOUT = 60  # seconds a test waits for a worker it is holding: only a deadlock gets near it


def claimed_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height pixels: what a decompression bomb looks like
    before it is decoded (its pixel data is one row of a picture that does not exist)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
            + chunk(b"IEND", b""))


def noise_png(side: int, seed: int) -> bytes:
    """A PNG as large as its pixels (random noise does not compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """The pixel cap lowered to 100×100, so the boundary is cheap to test; it is read at call time."""
    monkeypatch.setattr(imaging, "MAX_IMAGE_PIXELS", 100 * 100)
    return 100 * 100


def installed_model(client: TestClient) -> str:
    ok(client.put(f"{CONTROL}/settings", json={"model_speed": "instant"}))
    ok(client.post(f"{MODELS}/install", params={"source": LORA}, json={}), 201)
    return ok(client.get(f"{MODELS}/"))["models"][0]["key"]


def new_workflow(client: TestClient) -> str:
    workflow = {"name": "w", "author": "", "description": "", "version": "", "contact": "", "tags": "",
                "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"},
                "nodes": [], "edges": []}
    return ok(client.post("/api/v1/workflows/", json={"workflow": workflow}))["workflow_id"]


# -- one pixel cap, every route --------------------------------------------------------------------


def image_routes(client: TestClient, data: bytes) -> dict[str, t.Any]:
    """Send `data` as the image of every route that takes one; their answers by route."""
    key = installed_model(client)
    workflow_id = new_workflow(client)
    preset = ok(client.post("/api/v1/style_presets/", data={"data": json.dumps(
        {"name": "p", "positive_prompt": "a", "negative_prompt": "b", "type": "user"})}))
    form = {"data": json.dumps({"name": "p", "positive_prompt": "a", "negative_prompt": "b", "type": "user"})}
    file = {"image": ("i.png", data, "image/png")}
    return {
        "upload": upload(client, data),
        "model image": client.patch(f"{MODELS}/i/{key}/image", files=file),
        "workflow thumbnail": client.put(f"/api/v1/workflows/i/{workflow_id}/thumbnail", files=file),
        "new style preset": client.post("/api/v1/style_presets/", data=form, files=file),
        "style preset update": client.patch(f"/api/v1/style_presets/i/{preset['id']}", data=form, files=file),
    }


def test_an_image_past_the_cap_is_refused_on_every_route_from_its_header(client: TestClient) -> None:
    """11580×11580 (134 M pixels, a few hundred bytes here): refused with the real server's 415
    for an image it cannot take, naming the size and the limit; nothing is stored."""
    answers = image_routes(client, claimed_png(11580, 11580))
    for route, response in answers.items():
        assert response.status_code == 415, route
        assert response.json() == {"detail": "Failed to read image: 11580x11580 pixels is more than the "
                                             "67108864 pixels the mock decodes"}, route
    assert ok(client.get(f"{IMAGES}names"))["total_count"] == 0
    assert ok(client.get(f"{MODELS}/"))["models"][0]["cover_image"] is None


def test_the_cap_is_the_same_number_on_every_route(client: TestClient, small_cap: int) -> None:
    answers = image_routes(client, png_bytes(101, 100))
    assert {route: response.status_code for route, response in answers.items()} == dict.fromkeys(answers, 415)
    assert "101x100 pixels is more than the 10000 pixels" in answers["upload"].json()["detail"]
    at_the_cap = image_routes(client, png_bytes(100, 100))
    assert [response.status_code for response in at_the_cap.values()] == [201, 200, 200, 200, 200]


def test_a_node_cannot_make_an_image_past_the_cap(client: TestClient, small_cap: int) -> None:
    set_speed(client, "instant")
    item_id = enqueue(client, blank_graph(101, 100))["item_ids"][0]
    item = queue_item(client, item_id)
    assert item["status"] == "failed" and item["error_type"] == "OverflowError"
    assert "101x100" in item["error_message"]
    assert ok(client.get(f"{IMAGES}names"))["total_count"] == 0


def test_a_node_input_past_the_cap_fails_the_node_before_decoding(client: TestClient,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    name = uploaded(client, png_bytes(64, 64))["image_name"]
    monkeypatch.setattr(imaging, "MAX_IMAGE_PIXELS", 32 * 32)  # the gallery image is now too large to load
    set_speed(client, "instant")
    resize = node("resize", "img_resize", image={"image_name": name}, width=16, height=16)
    item = queue_item(client, enqueue(client, graph(resize))["item_ids"][0])
    assert item["status"] == "failed" and item["error_type"] == "OverflowError"
    assert item["error_message"] == f"Image {name}: 64x64 pixels is more than the 1024 pixels the mock decodes"


def test_importing_the_pack_leaves_pillow_settings_alone() -> None:
    """The pytest plugin imports the packs into users' test processes: Pillow's process-wide bomb
    limit stays Pillow's own."""
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)


# -- the same results off the loop -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK"])
def test_previews_are_the_thumbnails_of_the_stored_png(mode: str) -> None:
    """Model images, workflow thumbnails and preset previews are made from the decoded upload
    directly: the same bytes as the thumbnail of the PNG it would be stored as."""
    picture = Image.new("RGB", (700, 300), (10, 200, 30)).convert(mode)
    from_png = imaging.webp_thumbnail(imaging.png_bytes(picture))
    assert imaging.thumbnail_of(picture) == from_png


def sessions_graph() -> dict:
    """Image nodes and numbers: images saved, loaded again, and outputs passed along."""
    return graph(node("blank", "blank_image", width=48, height=32, color={"r": 200, "g": 10, "b": 10, "a": 255}),
                 node("crop", "img_crop", x=4, y=4, width=16, height=16),
                 node("n", "integer", value=5), node("add", "add", b=2),
                 edges=[edge("blank", "image", "crop", "image"), edge("n", "value", "add", "a")])


def run_outcome(client: TestClient, server: t.Any, *, inline: bool) -> dict:
    """Run two items of sessions_graph, paused first so both ways start alike; `inline` runs the
    nodes in the test's thread (the store's synchronous `advance`), else the server's way."""
    set_speed(client, "instant")
    ok(client.put("/api/v1/queue/default/processor/pause"))
    item_ids = enqueue(client, sessions_graph(), runs=2)["item_ids"]
    store = server.runtimes["invokeai"].state
    if inline:
        with store.lock:
            store.queue.resume(store.runtime.clock.now())
            store.advance(store.runtime.clock.now())
    else:
        ok(client.put("/api/v1/queue/default/processor/resume"))
    items = [queue_item(client, item_id) for item_id in sorted(item_ids)]
    names = ok(client.get(f"{IMAGES}names"))["image_names"]
    return {"items": items, "images": {name: client.get(f"{IMAGES}i/{name}/full").content for name in names}}


def test_nodes_run_in_a_worker_give_what_they_give_inline(client: TestClient, server: t.Any) -> None:
    threaded = run_outcome(client, server, inline=False)
    ok(client.post(f"{CONTROL}/reset"))
    inline = run_outcome(client, server, inline=True)
    assert [item["status"] for item in threaded["items"]] == ["completed", "completed"]
    assert threaded == inline


# -- the loop keeps answering while a node runs ----------------------------------------------------


class HeldNodes:
    """Holds every `integer` node in its worker thread until released, to look at the server
    meanwhile."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.running = threading.Event()
        self.release = threading.Event()
        original = registry.run_node

        def held(context: t.Any, node_: dict) -> dict:
            if node_["type"] == "integer":
                self.running.set()
                assert self.release.wait(BLOCK_TIMEOUT)
            return original(context, node_)

        monkeypatch.setattr(registry, "run_node", held)


def in_thread(call: t.Callable[[], t.Any]) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_other_requests_answer_while_a_node_runs(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldNodes(monkeypatch)
    set_speed(client, "instant")
    body = {"batch": {"graph": graph(node("n", "integer", value=7)), "runs": 1}}
    thread, answers = in_thread(lambda: client.post("/api/v1/queue/default/enqueue_batch", json=body))
    assert held.running.wait(BLOCK_TIMEOUT)
    # The enqueue has not answered (instant speed answers once its items ran), yet the server does.
    # (Queue routes would wait for the run: on the engine clock it is over by now.)
    assert ok(client.get("/api/v1/app/version"))["version"] == "6.8.1"
    assert ok(client.get(f"{CONTROL}/summary"))["queue_items"]["in_progress"] == 1
    assert uploaded(client)["width"] == 64
    assert not answers
    held.release.set()
    thread.join(BLOCK_TIMEOUT)
    item = queue_item(client, answers[0].json()["item_ids"][0])
    assert item["status"] == "completed"
    assert [result["value"] for result in item["session"]["results"].values()] == [7]


def test_a_reset_while_a_node_runs_leaves_the_new_state_alone(client: TestClient, server: t.Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The run belongs to the state it started in: it stops before its next node, and neither
    its images nor its events reach the state that replaced it."""
    held = HeldNodes(monkeypatch)
    old = server.runtimes["invokeai"].state
    emitted = recorded_events(monkeypatch, server)
    set_speed(client, "instant")
    chain = graph(node("n", "integer", value=1), node("add", "add", b=1), node("blank", "blank_image", height=8),
                  edges=[edge("n", "value", "add", "a"), edge("add", "value", "blank", "width")])
    thread, _ = in_thread(lambda: client.post("/api/v1/queue/default/enqueue_batch",
                                              json={"batch": {"graph": chain, "runs": 1}}))
    assert held.running.wait(BLOCK_TIMEOUT)
    ok(client.post(f"{CONTROL}/reset"))
    held.release.set()
    thread.join(BLOCK_TIMEOUT)
    assert server.runtimes["invokeai"].state is not old
    assert ok(client.get(f"{CONTROL}/summary"))["images"] == 0
    assert ok(client.get("/api/v1/queue/default/status"))["queue"]["total"] == 0
    started = [data["invocation"]["type"] for name, data in emitted if name == "invocation_started"]
    assert started == ["integer"]  # the first node ran; nothing after the reset
    assert not old.gallery.images


# -- bulk downloads: capped and expired ------------------------------------------------------------


def bulk(client: TestClient, names: list[str]) -> str:
    return ok(client.post(f"{IMAGES}download", json={"image_names": names}), 202)["bulk_download_item_name"]


def recorded_events(monkeypatch: pytest.MonkeyPatch, server: t.Any) -> list[tuple[str, dict]]:
    store = server.runtimes["invokeai"].state.runtime
    seen: list[tuple[str, dict]] = []
    original = store.emit
    monkeypatch.setattr(store, "emit", lambda name, data, room=None: (seen.append((name, data)),
                                                                      original(name, data, room)))
    return seen


def test_bulk_limits_have_defaults_and_are_settings(client: TestClient) -> None:
    settings = ok(client.get(f"{CONTROL}/settings"))
    assert settings["bulk_download_max_bytes"] == 256 * 1024 * 1024
    assert settings["bulk_download_max_archives"] == 16
    assert settings["bulk_download_ttl_seconds"] == 3600
    changed = ok(client.put(f"{CONTROL}/settings", json={"bulk_download_max_archives": 3}))
    assert changed["bulk_download_max_archives"] == 3 and changed["queue_speed"] == settings["queue_speed"]
    ok(client.post(f"{CONTROL}/reset"))
    assert ok(client.get(f"{CONTROL}/settings"))["bulk_download_max_archives"] == 16


def test_an_archive_over_the_byte_cap_fails_as_a_bulk_download_fails(
        client: TestClient, server: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [uploaded(client, noise_png(64, seed))["image_name"] for seed in range(3)]  # ~12 KB each
    size = sum(len(client.get(f"{IMAGES}i/{name}/full").content) for name in names)
    ok(client.put(f"{CONTROL}/settings", json={"bulk_download_max_bytes": size}))  # the entries' headers won't fit
    seen = recorded_events(monkeypatch, server)
    item = bulk(client, names)
    assert [name for name, _ in seen] == ["bulk_download_started", "bulk_download_error"]
    error = seen[1][1]
    assert error["bulk_download_item_name"] == item
    assert error["error"].startswith("Bulk download of ") and f"limit of {size} bytes" in error["error"]
    assert client.get(f"{IMAGES}download/{item}").status_code == 404
    assert zipfile.ZipFile(io.BytesIO(client.get(f"{IMAGES}download/{bulk(client, names[:2])}").content)).namelist()


def test_the_oldest_unfetched_archives_make_room(client: TestClient) -> None:
    name = uploaded(client)["image_name"]
    ok(client.put(f"{CONTROL}/settings", json={"bulk_download_max_archives": 2}))
    first, second, third = bulk(client, [name]), bulk(client, [name]), bulk(client, [name])
    assert client.get(f"{IMAGES}download/{first}").status_code == 404
    assert client.get(f"{IMAGES}download/{second}").status_code == 200
    assert client.get(f"{IMAGES}download/{third}").status_code == 200


def test_held_archives_stay_within_the_byte_cap(client: TestClient, server: t.Any) -> None:
    name = uploaded(client, png_bytes(64, 64))["image_name"]
    one = len(client.get(f"{IMAGES}download/{bulk(client, [name])}").content)
    ok(client.put(f"{CONTROL}/settings", json={"bulk_download_max_bytes": 2 * one + one // 2}))
    made = [bulk(client, [name]) for _ in range(5)]
    assert server.runtimes["invokeai"].state.gallery.bulk_downloads.held_bytes() <= 2 * one + one // 2
    assert [client.get(f"{IMAGES}download/{item}").status_code for item in made] == [404, 404, 404, 200, 200]


def test_an_archive_expires_on_the_engine_clock_or_once_fetched(client: TestClient) -> None:
    name = uploaded(client)["image_name"]
    ok(client.put(f"{CONTROL}/settings", json={"bulk_download_ttl_seconds": 60}))
    kept, expired = bulk(client, [name]), bulk(client, [name])
    advance(client, 59)
    got = client.get(f"{IMAGES}download/{kept}")
    assert got.status_code == 200 and zipfile.ZipFile(io.BytesIO(got.content)).namelist() == [f"general/{name}"]
    assert client.get(f"{IMAGES}download/{kept}").status_code == 404  # served once, as the real server deletes it
    advance(client, 1)
    assert client.get(f"{IMAGES}download/{expired}").status_code == 404


def test_an_archive_keeps_images_deleted_after_it_was_asked_for(client: TestClient) -> None:
    board = new_board(client, "b")
    names = [uploaded(client, board_id=board["board_id"])["image_name"] for _ in range(2)]
    item = ok(client.post(f"{IMAGES}download", json={"board_id": board["board_id"]}), 202)["bulk_download_item_name"]
    ok(client.post(f"{IMAGES}delete", json={"image_names": names}))
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{IMAGES}download/{item}").content))
    assert sorted(archive.namelist()) == sorted(f"general/{name}" for name in names)
    assert decoded(archive.read(f"general/{names[0]}")).size == (64, 48)
