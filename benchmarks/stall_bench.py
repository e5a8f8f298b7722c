"""Stall test: does heavy work on one request freeze the others?

Starts the mock (InvokeAI only, `--seed 1 --state-file` in a temporary folder, so state saves run
too) and a probe that sends a cheap `GET /api/v1/app/version` every few milliseconds on its own
connection, in its own process, and records how long each answer took. The probe runs through
phases: idle, then each kind of heavy work alone, then all of it at once:

- uploads: 3 MB PNGs (noise, so the file is as big as its pixels), each deleted after its upload;
- model image: `PATCH /api/v2/models/i/{key}/image` with a 6000x6000 RGBA picture (a small file that
  decodes to 144 MB), and an 11580x11580 one that must be refused before decoding;
- nodes: `blank_image` 8192x8192 sessions (queue speed `instant`: the enqueue answers once it ran);
- bulk downloads: zips of a board holding 12 of the 3 MB images, built and fetched;
- every phase changes state, so the state file is written while it runs (`--no-state-file` leaves
  it out, to tell its stalls from the rest).

The goal: probe p99 <= 50 ms and max <= 200 ms in every phase. Run it alone with
`python benchmarks/stall_bench.py` (or `make bench`, which runs it after the Prism comparison).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
PROBE_PATH = "/api/v1/app/version"
PROBE_INTERVAL_S = 0.005
GOAL_P99_MS = 50.0
GOAL_MAX_MS = 200.0
BOARD_IMAGES = 12
MODEL_SOURCE = "/invokeai/import/checkpoints/dreamshaper_8.safetensors"
PHASES = ("idle", "uploads", "model_image", "nodes", "bulk_downloads", "everything")


# -- the probe (a separate process: the load threads here must not delay its clock) --------------

def probe(port: int, seconds: float) -> list[float]:
    """Latencies in milliseconds of a cheap GET sent every PROBE_INTERVAL_S for `seconds`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.perf_counter()
        conn.request("GET", PROBE_PATH)
        response = conn.getresponse()
        response.read()
        took = time.perf_counter() - began
        if response.status != 200:
            raise SystemExit(f"probe: {PROBE_PATH} answered {response.status}")
        latencies.append(took * 1000)
        time.sleep(max(0.0, PROBE_INTERVAL_S - took))
    return latencies


def run_probe(port: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--probe-port", str(port), "--probe-seconds", str(seconds)],
                            stdout=subprocess.PIPE, text=True)


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"samples": len(ordered), "p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1),
            "max_ms": round(ordered[-1], 1)}


# -- talking to the mock ----------------------------------------------------------------------------

class Client:
    """One keep-alive connection; JSON and multipart requests."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=300)

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
             expect: tuple[int, ...] = (200,)) -> t.Any:
        headers = {"content-type": content_type} if content_type else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:300]!r}")
        if response.getheader("content-type", "").startswith("application/json"):
            return json.loads(data)
        return data

    def json(self, method: str, path: str, value: t.Any, expect: tuple[int, ...] = (200,)) -> t.Any:
        return self.call(method, path, json.dumps(value).encode(), "application/json", expect)

    def upload(self, path: str, field: str, data: bytes, expect: tuple[int, ...] = (201,)) -> t.Any:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"i.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.call(path.split(" ")[0], path.split(" ")[1], body, f"multipart/form-data; boundary={boundary}",
                         expect)


UPLOAD = "POST /api/v1/images/upload?image_category=general&is_intermediate=false"


def noise_png(side: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def solid_png(side: int, mode: str = "RGBA") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (side, side), (40, 90, 160, 255)).save(out, format="PNG")
    return out.getvalue()


class Workload:
    """The heavy requests, one kind per function; each loops until `stop` is set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.upload_png = noise_png(1000)  # ~3 MB
        self.model_png = solid_png(6000)
        self.bomb_png = solid_png(11580)
        setup = Client(port)
        setup.json("PUT", "/__mock__/packs/invokeai/settings", {"queue_speed": "instant", "model_speed": "instant"})
        setup.call("POST", f"/api/v2/models/install?source={MODEL_SOURCE}", b"{}", "application/json", (201,))
        models = setup.call("GET", "/api/v2/models/")["models"]
        self.model_key = models[0]["key"]
        self.board_id = setup.call("POST", "/api/v1/boards/?board_name=stall", b"", None, (201,))["board_id"]
        for _ in range(BOARD_IMAGES):
            setup.upload(f"{UPLOAD}&board_id={self.board_id}", "file", self.upload_png)
        self.counts: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def uploads(self, stop: threading.Event) -> None:
        client = Client(self.port)
        while not stop.is_set():
            image = client.upload(UPLOAD, "file", self.upload_png)
            client.call("DELETE", f"/api/v1/images/i/{image['image_name']}")
            self._count("uploads")

    def model_image(self, stop: threading.Event) -> None:
        client = Client(self.port)
        path = f"PATCH /api/v2/models/i/{self.model_key}/image"
        while not stop.is_set():
            client.upload(path, "image", self.model_png, (200,))
            client.upload(path, "image", self.bomb_png, (415,))  # past the pixel cap: refused from its header
            self._count("model_image")

    def nodes(self, stop: threading.Event) -> None:
        client = Client(self.port)
        node = {"id": "blank", "type": "blank_image", "width": 8192, "height": 8192, "mode": "RGB",
                "color": {"r": 0, "g": 128, "b": 255, "a": 255}, "is_intermediate": True,
                "use_cache": False}  # else the invocation cache answers every run after the first
        batch = {"batch": {"graph": {"id": "g", "nodes": {"blank": node}, "edges": []}, "runs": 1}}
        while not stop.is_set():
            client.json("POST", "/api/v1/queue/default/enqueue_batch", batch)
            client.call("DELETE", "/api/v1/images/intermediates")
            self._count("nodes")

    def bulk_downloads(self, stop: threading.Event) -> None:
        client = Client(self.port)
        while not stop.is_set():
            started = client.json("POST", "/api/v1/images/download", {"board_id": self.board_id}, (202,))
            client.call("GET", f"/api/v1/images/download/{started['bulk_download_item_name']}")
            self._count("bulk_downloads")

    def phase(self, name: str) -> list[t.Callable[[threading.Event], None]]:
        kinds = {"idle": [], "uploads": [self.uploads], "model_image": [self.model_image], "nodes": [self.nodes],
                 "bulk_downloads": [self.bulk_downloads]}
        return kinds[name] if name in kinds else [self.uploads, self.model_image, self.nodes, self.bulk_downloads]


def measure_phase(workload: Workload, port: int, name: str, seconds: float) -> dict[str, t.Any]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: t.Callable[[threading.Event], None]) -> None:
        try:
            work(stop)
        except BaseException as error:  # reported with the phase, after the probe is done
            errors.append(error)
            stop.set()

    workload.counts = {}
    threads = [threading.Thread(target=guarded, args=(work,), daemon=True) for work in workload.phase(name)]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if threads else 0)  # let the heavy requests begin before the probe does
    prober = run_probe(port, seconds)
    out, _ = prober.communicate()
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    if prober.returncode != 0:
        raise RuntimeError(f"the probe failed in phase {name}")
    if errors:
        raise RuntimeError(f"phase {name}: {errors[0]!r}")
    result = {"phase": name, **summary(json.loads(out)), "work_done": dict(workload.counts)}
    result["goal_met"] = result["p99_ms"] <= GOAL_P99_MS and result["max_ms"] <= GOAL_MAX_MS
    return result


# -- the server --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_mock(folder: Path, state_file: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    saving = ["--state-file", str(folder / "state.json")] if state_file else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    log = open(folder / "mock.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--api", "invokeai", "--host", HOST,
                               "--port", str(port), "--seed", "1", "--quiet", *saving],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            Client(port).call("GET", "/__mock__/health")
            return server, port
        except (OSError, RuntimeError, http.client.HTTPException):
            if server.poll() is not None:
                raise RuntimeError(f"the mock exited: see {folder / 'mock.log'}") from None
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the mock did not start in 60 s")


def run(seconds: float, phases: t.Sequence[str], json_out: Path | None = None,
        state_file: bool = True) -> list[dict[str, t.Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="mockserver-stall-") as folder:
        server, port = start_mock(Path(folder), state_file)
        try:
            workload = Workload(port)
            for name in phases:
                results.append(measure_phase(workload, port, name, seconds))
                row = results[-1]
                print(f"  {name:<15} p50 {row['p50_ms']:>7.1f} ms  p99 {row['p99_ms']:>7.1f} ms  "
                      f"max {row['max_ms']:>7.1f} ms  ({row['samples']} probes; done: {row['work_done']})"
                      f"{'' if row['goal_met'] else '  over the goal'}", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    if json_out is not None:
        json_out.write_text(json.dumps({"goal": {"p99_ms": GOAL_P99_MS, "max_ms": GOAL_MAX_MS}, "phases": results},
                                       indent=2), encoding="utf-8")
    met = all(row["goal_met"] for row in results)
    print(f"stall goal (p99 <= {GOAL_P99_MS:.0f} ms, max <= {GOAL_MAX_MS:.0f} ms in every phase): "
          f"{'met' if met else 'NOT met'}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds the probe runs per phase (default 8)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--no-state-file", action="store_true",
                        help="serve without --state-file (tells the stalls of saving from the rest)")
    parser.add_argument("--probe-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--probe-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_port:
        print(json.dumps(probe(args.probe_port, args.probe_seconds)))
        return 0
    phases = [name for name in args.phases.split(",") if name]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases: {', '.join(unknown)}")
    print(f"stall test: a probe GET {PROBE_PATH} every {PROBE_INTERVAL_S * 1000:.0f} ms, {args.seconds:g} s per phase"
          f"{'' if args.no_state_file else ', with --state-file'}", flush=True)
    run(args.seconds, phases, args.json, state_file=not args.no_state_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
