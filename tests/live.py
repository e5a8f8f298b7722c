"""Run a real `mockserver serve` process for a test: `with serve("--api", "openai_usage") as base: ...`.

The server gets a free port on 127.0.0.1 and its own process group, so whatever it starts dies with
it. Start-up waits for `GET /__mock__/health`; if the process exits or never answers, the error
carries its stderr (and stdout), which is where argparse and uvicorn say what went wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TOKEN_ENV = "MOCKSERVER_CONTROL_TOKEN"


class ServerStartError(RuntimeError):
    """`mockserver serve` exited or did not become healthy in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(*args: str, startup_timeout: float = 30.0, attempts: int = 3,
          env: t.Mapping[str, str] | None = None) -> t.Iterator[str]:
    """Start `python -m mockserver serve --host 127.0.0.1 --port <free> *args`; yield its base URL.

    `env` adds to the environment (a control token there is also sent when waiting for health);
    a control token inherited from the shell is not passed on.

    The port is picked before the server binds it, so another process may take it in between; a
    start that fails because the address is in use is retried on a new port.
    """
    with serve_process(*args, startup_timeout=startup_timeout, attempts=attempts, env=env) as (base, _process):
        yield base


@contextlib.contextmanager
def serve_process(*args: str, startup_timeout: float = 30.0, attempts: int = 3,
                  env: t.Mapping[str, str] | None = None) -> t.Iterator[tuple[str, subprocess.Popen]]:
    """As `serve`, yielding the process too, for tests that signal it themselves."""
    for attempt in range(attempts):
        port = free_port()
        try:
            with _running(port, args, startup_timeout, env or {}) as running:
                yield running
                return
        except ServerStartError as error:
            if "address already in use" in str(error).lower() and attempt + 1 < attempts:
                continue
            raise


@contextlib.contextmanager
def _running(port: int, args: t.Sequence[str], startup_timeout: float,
             env: t.Mapping[str, str]) -> t.Iterator[tuple[str, subprocess.Popen]]:
    command = [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), *args]
    base = f"http://{HOST}:{port}"
    environment = {**{k: v for k, v in os.environ.items() if k != TOKEN_ENV}, **env, "PYTHONUNBUFFERED": "1"}
    health_headers = {"X-Mockserver-Token": environment[TOKEN_ENV]} if TOKEN_ENV in environment else {}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        # Files rather than pipes: nobody reads the pipes while tests run, and a full pipe would
        # block the server on its next log line.
        process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                   start_new_session=True, env=environment)
        try:
            _wait_healthy(process, base, startup_timeout, stdout, stderr, health_headers)
            yield base, process
        finally:
            _stop(process)


def _wait_healthy(process: subprocess.Popen, base: str, timeout: float, stdout: t.IO[bytes],
                  stderr: t.IO[bytes], headers: t.Mapping[str, str]) -> None:
    deadline = time.monotonic() + timeout
    last_error: object = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(_describe(f"mockserver exited with status {process.returncode} during start-up",
                                             process, stdout, stderr))
        try:
            request = urllib.request.Request(f"{base}/__mock__/health", headers=dict(headers))
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"health answered {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    _stop(process)
    raise ServerStartError(_describe(f"mockserver did not become healthy within {timeout:.0f}s "
                                     f"(last: {last_error})", process, stdout, stderr))


def _describe(headline: str, process: subprocess.Popen, stdout: t.IO[bytes], stderr: t.IO[bytes]) -> str:
    def read(stream: t.IO[bytes]) -> str:
        stream.flush()
        stream.seek(0)
        return stream.read().decode("utf-8", "replace").strip() or "(empty)"

    command = " ".join(process.args) if isinstance(process.args, list) else str(process.args)
    return f"{headline}\ncommand: {command}\n--- stderr ---\n{read(stderr)}\n--- stdout ---\n{read(stdout)}"


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group (uvicorn shuts down cleanly on it), SIGKILL if it lingers."""
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # anything the server left behind in its group
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue
