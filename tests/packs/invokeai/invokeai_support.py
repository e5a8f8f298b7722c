"""Helpers for the InvokeAI pack tests: an in-process server with a frozen clock, and image bytes.

InvokeAI has no auth, so requests go straight through a starlette `TestClient`. Test modules
import this file by its unique name (several test directories have a `conftest` module).
"""

from __future__ import annotations

import io
import json
import typing as t
from pathlib import Path

from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

CLOCK = 1_763_683_200  # 2025-11-21T00:00:00Z, the frozen "now"
SEED = 3
CONTROL = "/__mock__/packs/invokeai"


def make_server(seed: int = SEED, clock: float = CLOCK) -> t.Any:
    return build_server(ServerConfig(apis=["invokeai"], seed=seed, clock_start=clock,
                                     settings=Settings(validate_responses=True)))


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30),
              *, mode: str = "RGB") -> bytes:
    """A real PNG of the given size, made with Pillow."""
    from PIL import Image

    image = Image.new(mode, (width, height), color if mode == "RGB" else (*color, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def upload(client: TestClient, data: bytes | None = None, *, category: str = "general",
           intermediate: bool = False, filename: str = "image.png", content_type: str = "image/png",
           **query: t.Any) -> t.Any:
    """POST /api/v1/images/upload the way the web UI does; returns the response."""
    params = {"image_category": category, "is_intermediate": str(intermediate).lower(), **query}
    files = {"file": (filename, png_bytes() if data is None else data, content_type)}
    return client.post("/api/v1/images/upload", params=params, files=files)


def reset(client: TestClient) -> None:
    """Put the clock at CLOCK and the pack back to its fixtures (defaults only, no uploads).

    The clock goes first: a reset stamps the default workflows with the clock's "now", which
    would otherwise be wherever the previous test left it."""
    client.put("/__mock__/clock", json={"now": CLOCK}).raise_for_status()
    client.post(f"{CONTROL}/reset").raise_for_status()


# -- gallery helpers (images, boards, board_images): appended for the gallery tests ---------------

TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$"  # InvokeAI's `2026-11-22 00:35:18.265`
BOARDS = "/api/v1/boards/"
IMAGES = "/api/v1/images/"


def tick(client: TestClient, seconds: float = 1.0) -> None:
    """Move the frozen clock forward, so rows made next sort after the ones made before."""
    client.post("/__mock__/clock/advance", json={"seconds": seconds}).raise_for_status()


def pattern_png(width: int = 64, height: int = 48, *, mode: str = "RGB", fmt: str = "PNG",
                pnginfo: dict[str, str] | None = None) -> bytes:
    """An image whose every pixel differs from its neighbours, so a re-encode that changes pixels
    shows; `pnginfo` adds PNG text chunks (InvokeAI reads `invokeai_metadata` / `invokeai_graph`)."""
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", (width, height))
    image.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(height) for x in range(width)])
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    if pnginfo:
        info = PngImagePlugin.PngInfo()
        for key, value in pnginfo.items():
            info.add_text(key, value)
        image.save(out, format=fmt, pnginfo=info)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def decoded(data: bytes) -> t.Any:
    """The bytes opened with Pillow (format, size, info and pixels available)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def same_pixels(a: bytes, b: bytes) -> bool:
    first, second = decoded(a), decoded(b)
    return first.size == second.size and first.convert("RGBA").tobytes() == second.convert("RGBA").tobytes()


def upload_form(client: TestClient, data: bytes | None = None, *, form: dict[str, str] | None = None,
                category: str = "general", intermediate: bool = False, filename: str = "image.png",
                content_type: str = "image/png", **query: t.Any) -> t.Any:
    """`upload` with multipart form fields beside the file (`metadata`, `resize_to`)."""
    params = {"image_category": category, "is_intermediate": str(intermediate).lower(), **query}
    files = {"file": (filename, png_bytes() if data is None else data, content_type)}
    return client.post("/api/v1/images/upload", params=params, files=files, data=form or {})


def uploaded(client: TestClient, data: bytes | None = None, **kwargs: t.Any) -> dict:
    """Upload (form fields allowed) and return the ImageDTO; fails the test unless 201."""
    response = upload_form(client, data, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def new_board(client: TestClient, name: str = "Board", **params: t.Any) -> dict:
    response = client.post(BOARDS, params={"board_name": name, **params})
    assert response.status_code == 201, response.text
    return response.json()


def get_board(client: TestClient, board_id: str) -> dict:
    response = client.get(f"{BOARDS}{board_id}")
    assert response.status_code == 200, response.text
    return response.json()


def image_names(client: TestClient, **params: t.Any) -> list[str]:
    response = client.get(f"{IMAGES}names", params=params)
    assert response.status_code == 200, response.text
    return response.json()["image_names"]


def image_dto(client: TestClient, name: str) -> dict:
    response = client.get(f"{IMAGES}i/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def gallery_state(client: TestClient) -> dict:
    """What a client can see of the gallery: every image (with its DTO), every board (archived
    too) and the intermediates count. Two equal snapshots mean nothing visible changed."""
    names = client.get(f"{IMAGES}names").json()
    dtos = client.post(f"{IMAGES}images_by_names", json={"image_names": names["image_names"]}).json()
    boards = client.get(BOARDS, params={"all": "true", "include_archived": "true"}).json()
    intermediates = client.get(f"{IMAGES}intermediates").json()
    return {"names": names, "dtos": dtos, "boards": boards, "intermediates": intermediates}


# -- helpers for the workflow / style preset / app / client state / utilities tests ----------------

TRANSCRIPT = Path(__file__).resolve().parent / "data" / "real-server-transcript.jsonl"


def recorded(seq: int) -> dict:
    """The real server's recorded exchange `seq` from data/real-server-transcript.jsonl."""
    with TRANSCRIPT.open(encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            if entry.get("seq") == seq:
                return entry
    raise KeyError(f"no exchange {seq} in {TRANSCRIPT.name}")



# -- queue helpers (session queue, processor speed, the frozen clock): appended for the queue tests --

QUEUE = "/api/v1/queue/default"
PICKUP = 0.45  # seconds from "free" to "in_progress" on the recorded server (and the mock's realtime)


def set_speed(client: TestClient, speed: str) -> dict:
    """`realtime` (items wait 0.45 s on the engine clock) or `instant` (done before the call answers)."""
    response = client.put(f"{CONTROL}/settings", json={"queue_speed": speed})
    assert response.status_code == 200, response.text
    return response.json()


def advance(client: TestClient, seconds: float) -> None:
    """Move the frozen engine clock; the queue processor catches up on the next request."""
    client.post("/__mock__/clock/advance", json={"seconds": seconds}).raise_for_status()


def node(node_id: str, node_type: str, **fields: t.Any) -> dict:
    return {"id": node_id, "type": node_type, **fields}


def edge(source: str, source_field: str, destination: str, destination_field: str) -> dict:
    return {"source": {"node_id": source, "field": source_field},
            "destination": {"node_id": destination, "field": destination_field}}


def graph(*nodes: dict, edges: t.Sequence[dict] = (), graph_id: str = "g") -> dict:
    return {"id": graph_id, "nodes": {n["id"]: n for n in nodes}, "edges": list(edges)}


def int_graph(value: int = 42) -> dict:
    """Seq 99's graph: one `integer` node."""
    return graph(node("int1", "integer", value=value), graph_id="g-int")


def blank_graph(width: int = 64, height: int = 64, **fields: t.Any) -> dict:
    """Seq 109's graph: one `blank_image` node, which saves a real image."""
    fields = {"mode": "RGB", "color": {"r": 0, "g": 128, "b": 255, "a": 255}, "is_intermediate": False, **fields}
    return graph(node("blank", "blank_image", width=width, height=height, **fields), graph_id="g-img")


def enqueue_raw(client: TestClient, graph_: dict | None, *, prepend: bool | None = None,
                queue_id: str = "default", **batch: t.Any) -> t.Any:
    """POST enqueue_batch; `graph_=None` leaves the graph out. Returns the response."""
    body_batch = dict(batch)
    if graph_ is not None:
        body_batch["graph"] = graph_
    body: dict = {"batch": body_batch}
    if prepend is not None:
        body["prepend"] = prepend
    return client.post(f"/api/v1/queue/{queue_id}/enqueue_batch", json=body)


def enqueue(client: TestClient, graph_: dict, *, prepend: bool | None = None, queue_id: str = "default",
            **batch: t.Any) -> dict:
    """Enqueue a batch (`runs`, `data`, `origin`, `destination`, ...); fails the test unless 200."""
    response = enqueue_raw(client, graph_, prepend=prepend, queue_id=queue_id, **batch)
    assert response.status_code == 200, response.text
    return response.json()


def queue_item(client: TestClient, item_id: int, queue_id: str = "default") -> dict:
    response = client.get(f"/api/v1/queue/{queue_id}/i/{item_id}")
    assert response.status_code == 200, response.text
    return response.json()


def queue_status(client: TestClient, queue_id: str = "default") -> dict:
    response = client.get(f"/api/v1/queue/{queue_id}/status")
    assert response.status_code == 200, response.text
    return response.json()


def run_until_idle(client: TestClient, step: float = 0.25, limit: int = 400) -> None:
    """Advance the frozen clock in steps until nothing is pending or in progress."""
    for _ in range(limit):
        status = queue_status(client)
        if status["queue"]["pending"] == 0 and status["queue"]["in_progress"] == 0:
            return
        if not status["processor"]["is_started"]:
            raise AssertionError("the processor is paused: waiting would never end")
        advance(client, step)
    raise AssertionError("the queue never went idle")


def ok(response: t.Any, status: int = 200) -> t.Any:
    """The answer's JSON, after checking its status (None for an empty body, e.g. a 204)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def scan(client: TestClient, path: str) -> dict[str, bool]:
    """`scan_folder` of a folder of the mock's models directory: path -> is_installed."""
    found = ok(client.get("/api/v2/models/scan_folder", params={"scan_path": path}))
    return {item["path"]: item["is_installed"] for item in found}
