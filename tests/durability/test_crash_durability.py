"""`kill -9` during concurrent writes: every acknowledged write is there after the restart, and
nothing acknowledged was overwritten by a later write (ids never repeat), with and without `--seed`.

Each cycle starts `mockserver serve --state-file`, checks everything acknowledged so far, lets four
writer threads create InvokeAI boards and workflows and Chutes users (through the control plane)
while recording every 2xx, and kills the process with SIGKILL at a random moment.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from depth import examples
from live import REPO, free_port

CYCLES = examples(quick=2, deep=4)  # kill-and-restart cycles per test (each kills at a random moment)
WRITERS = 4


@dataclass
class Acknowledged:
    """What the server answered 2xx to: id → the name it was created with, per kind."""

    boards: dict[str, str] = field(default_factory=dict)
    workflows: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)  # an id acknowledged twice
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, identifier: str, name: str) -> None:
        with self.lock:
            table = getattr(self, kind)
            if identifier in table:
                self.repeated.append(f"{kind} {identifier}: {table[identifier]} then {name}")
            table[identifier] = name

    def count(self) -> int:
        return len(self.boards) + len(self.workflows) + len(self.users)


def _start(state_file: Path, seed: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "mockserver", "serve", "--api", "invokeai,chutes", "--host", "127.0.0.1",
               "--port", str(port), "--state-file", str(state_file)]
    if seed is not None:
        command += ["--seed", str(seed)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mockserver exited at start: {process.stderr.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/__mock__/health", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("mockserver did not start")


def _call(method: str, url: str, body: t.Any = None) -> tuple[int, t.Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def _workflow(name: str) -> dict:
    return {"workflow": {"name": name, "author": "", "description": "", "version": "1.0.0", "contact": "",
                         "tags": "", "notes": "", "exposedFields": [], "nodes": [], "edges": [], "form": None,
                         "meta": {"version": "3.0.0", "category": "user"}}}


def _write(base: str, acknowledged: Acknowledged, stop: threading.Event, writer: int, cycle: str) -> None:
    """Create things until the server is gone; record each acknowledged one."""
    for number in range(10**9):
        if stop.is_set():
            return
        name = f"w{writer}-{cycle}-{number}"
        kind = ("boards", "workflows", "users")[number % 3]
        try:
            if kind == "boards":
                status, answer = _call("POST", f"{base}/api/v1/boards/?{urllib.parse.urlencode({'board_name': name})}")
                identifier = answer and answer.get("board_id")
            elif kind == "workflows":
                status, answer = _call("POST", f"{base}/api/v1/workflows/", _workflow(name))
                identifier = answer and answer.get("workflow_id")
            else:
                status, answer = _call("POST", f"{base}/__mock__/packs/chutes/users", {"username": name})
                identifier = answer and answer.get("user_id")
        except (OSError, ValueError, http.client.HTTPException):
            return  # killed: this answer never came (or came cut short), so it was never acknowledged
        assert 200 <= status < 300, f"{kind} {name}: {status}"
        acknowledged.add(kind, identifier, name)


def _check(base: str, acknowledged: Acknowledged) -> None:
    _, boards = _call("GET", f"{base}/api/v1/boards/?all=true")
    saved_boards = {b["board_id"]: b["board_name"] for b in boards}
    _, users = _call("GET", f"{base}/__mock__/packs/chutes/users")
    saved_users = {u["user_id"]: u["username"] for u in users}
    lost = [f"board {i} {n}" for i, n in acknowledged.boards.items() if saved_boards.get(i) != n]
    lost += [f"user {i} {n}" for i, n in acknowledged.users.items() if saved_users.get(i) != n]
    for identifier, name in acknowledged.workflows.items():
        status, answer = _call("GET", f"{base}/api/v1/workflows/i/{identifier}")
        if status != 200 or answer["workflow"]["name"] != name:
            lost.append(f"workflow {identifier} {name}")
    assert not lost, f"{len(lost)} of {acknowledged.count()} acknowledged writes lost or overwritten: {lost[:10]}"
    assert not acknowledged.repeated, f"ids handed out twice: {acknowledged.repeated[:10]}"


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.parametrize("seed", [1, None], ids=["seeded", "unseeded"])
def test_no_acknowledged_write_is_lost_when_the_server_is_killed(tmp_path: Path, seed: int | None) -> None:
    state_file = tmp_path / "state.json"
    acknowledged = Acknowledged()
    chance = random.Random(seed)
    for cycle in range(CYCLES):
        process, base = _start(state_file, seed)
        try:
            _check(base, acknowledged)
            stop = threading.Event()
            writers = [threading.Thread(target=_write, args=(base, acknowledged, stop, n, f"c{cycle}"))
                       for n in range(WRITERS)]
            before = acknowledged.count()
            for writer in writers:
                writer.start()
            time.sleep(chance.uniform(0.5, 2.0))
            while acknowledged.count() == before and all(w.is_alive() for w in writers):
                time.sleep(0.05)  # kill only once something was acknowledged in this cycle
            _kill(process)
            stop.set()
            for writer in writers:
                writer.join(timeout=60)
        finally:
            if process.poll() is None:
                _kill(process)
    process, base = _start(state_file, seed)
    try:
        _check(base, acknowledged)
        assert acknowledged.count() > CYCLES
    finally:
        _kill(process)
