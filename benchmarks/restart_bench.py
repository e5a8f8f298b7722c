"""Restart with 80 MB of state: how long `--state-file` takes to load, and what a write costs.

Builds an InvokeAI state of 5,000 images of 16 KiB each (random bytes, so nothing compresses)
in a state database, then measures:
- one write's commit (a new board; a new 16 KiB image) with that state in the database;
- a restart: `mockserver serve --api invokeai --state-file` until `/__mock__/health` answers,
  against the same start without a state file (the difference is the state's load time).

Run alone: `python benchmarks/restart_bench.py`; `run_bench.py` runs it after the wrk table.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES = 5000
IMAGE_BYTES = 16 * 1024
WRITES = 20


@dataclass
class RestartFigures:
    state_mb: float
    first_commit_s: float
    board_commit_ms: float  # median commit of one new board
    image_commit_ms: float  # median commit of one new 16 KiB image
    rows_per_write: float
    load_in_process_s: float  # the database read into the stores, in process
    start_without_state_s: float
    start_with_state_s: float

    def lines(self) -> list[str]:
        return [
            f"restart with {self.state_mb:.0f} MB of state ({IMAGES} images): ready in {self.start_with_state_s:.2f} s "
            f"(without a state file {self.start_without_state_s:.2f} s; state load in process "
            f"{self.load_in_process_s:.2f} s, goal < 1 s)",
            f"per write with that state: board {self.board_commit_ms:.1f} ms, 16 KiB image "
            f"{self.image_commit_ms:.1f} ms (commit incl. fsync, {self.rows_per_write:.0f} rows written); "
            f"first commit of all of it {self.first_commit_s:.2f} s",
        ]


def build_state(path: Path) -> tuple[float, float, float, float]:
    """The 80 MB state, committed; (first commit s, board commit ms, image commit ms, rows/write)."""
    from mockserver.app import ServerConfig, build_server

    server = build_server(ServerConfig(apis=["invokeai"], seed=1, state_file=path))
    store = server.runtimes["invokeai"].state.gallery
    for _ in range(IMAGES):
        store.add_image(os.urandom(IMAGE_BYTES), 64, 64, category="general", is_intermediate=False)
    started = time.perf_counter()
    server.save_state()
    first = time.perf_counter() - started
    boards, images, rows = [], [], []
    for index in range(WRITES):
        store.add_board(f"bench {index}", False)
        started = time.perf_counter()
        server.save_state()
        boards.append(time.perf_counter() - started)
        rows.append(server.durability.last_stats.rows_written)
        store.add_image(os.urandom(IMAGE_BYTES), 64, 64, category="general", is_intermediate=False)
        started = time.perf_counter()
        server.save_state()
        images.append(time.perf_counter() - started)
    server.durability.close()
    return first, statistics.median(boards) * 1000, statistics.median(images) * 1000, statistics.mean(rows)


def load_in_process(path: Path) -> float:
    from mockserver.app import ServerConfig, build_server

    server = build_server(ServerConfig(apis=["invokeai"], seed=1))
    started = time.perf_counter()
    server.state_file = path
    from mockserver.engine.durability import Durability
    from mockserver.engine.statefile import StateDatabase

    server.durability = Durability(StateDatabase(path), server.runtimes, server.services.clock)
    server.load_state_file()
    elapsed = time.perf_counter() - started
    assert len(server.runtimes["invokeai"].state.gallery.images) >= IMAGES
    server.durability.close()
    return elapsed


def time_to_ready(state_file: Path | None) -> float:
    port = _free_port()
    command = [sys.executable, "-m", "mockserver", "serve", "--api", "invokeai", "--seed", "1", "--port", str(port)]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mockserver exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock__/health", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure() -> RestartFigures:
    with tempfile.TemporaryDirectory(prefix="mockserver-restart-") as directory:
        path = Path(directory) / "state.db"
        first, board_ms, image_ms, rows = build_state(path)
        size = path.stat().st_size + sum(f.stat().st_size for f in path.with_name("state.db.blobs").rglob("*"))
        load = load_in_process(path)
        without = min(time_to_ready(None) for _ in range(2))
        with_state = min(time_to_ready(path) for _ in range(2))
        return RestartFigures(size / 1e6, first, board_ms, image_ms, rows, load, without, with_state)


def main() -> int:
    for line in measure().lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
