"""InvokeAI at scale: the gallery, queue and workflow lists with 100,000 images, 10,000 queue items
and 10,000 workflows, each beside the same request on a small world, in one run.

A mock is started (`mockserver serve --api invokeai`, 127.0.0.1, a free port). Each world is
loaded in one `PUT /__mock__/packs/invokeai/state`: the server's own export with the synthetic
records added, every image sharing one tiny PNG, so seeding costs a JSON parse and not 100,000 PNG
encodings. Then every request is timed on one keep-alive connection, one at a time (the time to
the last byte of the answer, uncompressed), and the median and p95 are reported. The gallery
requests are timed again right after each of a run of new uploads (a real `POST upload`), so an
answer cached until the next write cannot make the figure.

Run alone: `python benchmarks/scale_bench.py [--images N]`; `run_bench.py` runs it after the
wrk table (`--scale-images 0` there skips it).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SMALL = {"images": 200, "queue_items": 50, "workflows": 50}
BOARDS = 20
REPEATS = 41  # timed requests per figure
AFTER_UPLOAD = 15  # uploads, each followed by one timed request
GOAL_MS = 10.0
SEARCH_WORD = "lighthouse"  # in about one prompt in a hundred
WORDS = ("portrait", "forest", "castle", "dragon", "sunset", "river", "city", "robot", "garden", "ocean",
         "mountain", "cat", "dog", "knight", "neon", "desert", "winter", "ship", "temple", "market")


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80\x40\x20" * 8 for _ in range(8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# -- the world --------------------------------------------------------------------------------


def synthetic_images(count: int, board_ids: list[str], start: float, rng: random.Random) -> list[dict]:
    images = []
    for number in range(count):
        when = start + number * 0.5
        words = rng.sample(WORDS, 4) + ([SEARCH_WORD] if rng.random() < 0.01 else [])
        board = rng.choice(board_ids) if board_ids and rng.random() < 0.7 else None
        category = "general" if rng.random() < 0.9 else rng.choice(("user", "mask", "control", "other"))
        metadata = json.dumps({"positive_prompt": " ".join(words), "seed": rng.getrandbits(31),
                               "model": {"name": "dreamshaper_8"}, "steps": 30, "cfg_scale": 7.5})
        images.append({"image_name": f"bench-{number:06d}-{rng.getrandbits(32):08x}.png",
                       "image_origin": "internal", "image_category": category, "width": 8, "height": 8,
                       "created_at": when, "updated_at": when, "is_intermediate": rng.random() < 0.05,
                       "session_id": None, "node_id": None, "starred": rng.random() < 0.1, "board_id": board,
                       "board_added_at": when, "metadata": metadata, "workflow": None, "graph": None})
    return images


def synthetic_workflows(count: int, start: float, rng: random.Random) -> list[dict]:
    rows = []
    for number in range(count):
        when = start + number
        workflow_id = f"bench-workflow-{number:06d}"
        document = {"id": workflow_id, "name": f"{rng.choice(WORDS)} flow {number}", "author": "bench",
                    "description": " ".join(rng.sample(WORDS, 3)), "version": "1.0.0", "contact": "",
                    "tags": ",".join(rng.sample(WORDS, 2)), "notes": "", "exposedFields": [],
                    "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [],
                    "is_published": None}
        opened = when + 5 if rng.random() < 0.5 else None
        rows.append({"workflow_id": workflow_id, "workflow": document, "created_at": when, "updated_at": when,
                     "opened_at": opened, "is_published": None})
    return rows


def synthetic_queue_items(count: int, start: float, rng: random.Random) -> list[dict]:
    items = []
    for number in range(count):
        when = start + number // 4  # a batch of four shares its creation time
        session_id = f"bench-session-{number:06d}"
        graph = {"id": f"bench-graph-{number:06d}", "nodes": {}, "edges": []}
        items.append({
            "item_id": number + 1, "status": "completed", "priority": 0, "batch_id": f"bench-batch-{number // 4}",
            "origin": "canvas", "destination": "gallery" if number % 3 else "canvas", "session_id": session_id,
            "error_type": None, "error_message": None, "error_traceback": None,
            "created_at": when, "updated_at": when + 2, "started_at": when + 1, "completed_at": when + 2,
            "queue_id": "default", "field_values": None, "retried_from_item_id": None,
            "is_api_validation_run": False, "published_workflow_id": None, "credits": None,
            "session": {"id": session_id, "graph": graph,
                        "execution_graph": {"id": f"bench-exec-{number:06d}", "nodes": {}, "edges": []},
                        "executed": [], "executed_history": [], "results": {}, "errors": {},
                        "prepared_source_mapping": {}, "source_prepared_mapping": {}},
            "workflow": None})
    return items


# -- the server -------------------------------------------------------------------------------


class Mock:
    def __init__(self, log_dir: Path, repo: Path = REPO_ROOT) -> None:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        self.log = (log_dir / "scale-mock.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--api", "invokeai", "--host", HOST, "--port",
             str(self.port), "--seed", "1", "--max-body-mb", "2048"],
            cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.request("GET", "/__mock__/health")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the mock did not start") from None
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
                time.sleep(0.2)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            return self._exchange(method, path, body, headers)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a keep-alive connection idle for 5 s (while a world is built here).
            self.connection.close()
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
            return self._exchange(method, path, body, headers)

    def _exchange(self, method: str, path: str, body: bytes | None,
                  headers: dict[str, str] | None) -> tuple[int, bytes]:
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: object = None, status: int = 200) -> object:
        data = None if body is None else json.dumps(body).encode()
        code, answer = self.request(method, path, data, {"Content-Type": "application/json"} if data else None)
        if code != status:
            raise RuntimeError(f"{method} {path}: {code} {answer[:300]!r}")
        return json.loads(answer) if answer else None

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def load_world(mock: Mock, images: int, queue_items: int, workflows: int) -> tuple[list[str], float]:
    """Reset, then put the world in with one state import; (board ids, seconds the import took)."""
    mock.json("POST", "/__mock__/packs/invokeai/reset")
    boards = [mock.json("POST", f"/api/v1/boards/?board_name=bench%20board%20{n:02d}", status=201)["board_id"]
              for n in range(BOARDS)]  # type: ignore[index]
    state: dict = mock.json("GET", "/__mock__/packs/invokeai/state")  # type: ignore[assignment]
    rng = random.Random(7)
    start = time.time() - 400 * 86400
    png = base64.b64encode(tiny_png()).decode()
    added = synthetic_images(images, boards, start, rng)
    state["images"] += added
    state["image_bytes"].update((image["image_name"], png) for image in added)
    state["workflows"] += synthetic_workflows(workflows, start, rng)
    queue = state["queue"]
    queue["items"] = synthetic_queue_items(queue_items, start, rng)
    queue["next_item_id"] = queue_items + 1
    began = time.perf_counter()
    mock.json("PUT", "/__mock__/packs/invokeai/state", state)
    return boards, time.perf_counter() - began


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Figure:
    median_ms: float
    p95_ms: float
    size: int


def timed(mock: Mock, path: str) -> tuple[float, int]:
    began = time.perf_counter()
    status, body = mock.request("GET", path)
    elapsed = (time.perf_counter() - began) * 1000
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
    return elapsed, len(body)


def figure(samples: list[tuple[float, int]]) -> Figure:
    times = sorted(ms for ms, _ in samples)
    return Figure(statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], samples[-1][1])


def upload(mock: Mock, board_id: str, number: int) -> None:
    boundary = f"scalebench{number}"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"new-{number}.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + tiny_png() + f"\r\n--{boundary}--\r\n".encode()
    path = f"/api/v1/images/upload?image_category=general&is_intermediate=false&board_id={board_id}"
    status, answer = mock.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 201:
        raise RuntimeError(f"upload: {status} {answer[:300]!r}")


def requests(board_id: str) -> dict[str, str]:
    gallery = "categories=general&is_intermediate=false"
    return {
        "names, all": f"/api/v1/images/names?{gallery}&starred_first=false&order_dir=DESC",
        "names, board": f"/api/v1/images/names?{gallery}&board_id={board_id}&starred_first=false&order_dir=DESC",
        "names, starred first": f"/api/v1/images/names?{gallery}&starred_first=true&order_dir=DESC",
        "names, search": f"/api/v1/images/names?{gallery}&search_term={SEARCH_WORD}&order_dir=DESC",
        "dtos page (100)": f"/api/v1/images/?{gallery}&limit=100&offset=500",
        "boards, all": "/api/v1/boards/?all=true",
        "queue item ids": "/api/v1/queue/default/item_ids?order_dir=DESC",
        "queue status": "/api/v1/queue/default/status",
        "queue counts by destination": "/api/v1/queue/default/counts_by_destination?destination=gallery",
        "workflows page (by opened)": "/api/v1/workflows/?categories=user&order_by=opened_at&direction=DESC"
                                      "&page=0&per_page=50",
        "workflows page (by name)": "/api/v1/workflows/?categories=user&order_by=name&direction=ASC"
                                    "&page=3&per_page=50",
        "workflow counts by category": "/api/v1/workflows/counts_by_category?categories=user&categories=default",
    }


GALLERY = ("names, all", "names, board", "names, starred first", "names, search", "dtos page (100)", "boards, all")


def measure_world(mock: Mock, board_id: str) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for label, path in requests(board_id).items():
        timed(mock, path)  # warm: the first answer after a load may build what later ones reuse
        figures[label] = figure([timed(mock, path) for _ in range(REPEATS)])
    for label in GALLERY:
        samples = []
        for number in range(AFTER_UPLOAD):
            upload(mock, board_id, number)
            samples.append(timed(mock, requests(board_id)[label]))
        figures[f"{label}, after an upload"] = figure(samples)
    return figures


def run(images: int, queue_items: int, workflows: int, repo: Path = REPO_ROOT) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="mockserver-scale-") as log_dir:
        mock = Mock(Path(log_dir), repo)
        try:
            boards, _ = load_world(mock, **SMALL)
            small = measure_world(mock, boards[0])
            boards, load_s = load_world(mock, images, queue_items, workflows)
            large = measure_world(mock, boards[0])
        finally:
            mock.stop()
    lines = [f"scale: {images:,} images, {queue_items:,} queue items, {workflows:,} workflows "
             f"(loaded by one state import in {load_s:.1f} s) vs {SMALL['images']} / {SMALL['queue_items']} / "
             f"{SMALL['workflows']}; ms per request, one at a time, median (p95); goal < {GOAL_MS:.0f} ms median",
             f"{'request':<42} {'small world':>16} {'large world':>16} {'answer':>10}  goal"]
    for label, big in large.items():
        little = small[label]
        verdict = "ok" if big.median_ms < GOAL_MS else "MISSED"
        lines.append(f"{label:<42} {little.median_ms:7.2f} ({little.p95_ms:6.2f}) {big.median_ms:7.2f} "
                     f"({big.p95_ms:6.2f}) {big.size / 1024:8.0f}KB  {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--queue-items", type=int, default=10_000)
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT,
                        help="serve the mock from this checkout (an older commit, for a before/after figure)")
    args = parser.parse_args(argv)
    for line in run(args.images, args.queue_items, args.workflows, args.repo.resolve()):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
