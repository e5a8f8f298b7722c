"""Event streams never hold a real `mockserver serve` up: on SIGTERM it exits while warmup and
instance-log streams are open, whether their clients are still reading or have gone away.

uvicorn waits for every open response before it exits; a warmup stream of a cold chute runs for
up to 600 s and a log stream for as long as its instance lives. Each test gives the process a
generous minute to exit (a bound against hanging forever, not a measure of speed).
"""

from __future__ import annotations

import signal
import subprocess
import typing as t

import httpx
import pytest
import yaml
from live import serve_process

from mockserver.engine.resources import fixtures_dir

pytestmark = pytest.mark.live

SERVE_ARGS = ("--api", "chutes", "--seed", "5", "--validate-responses")
CONTROL = "/__mock__/packs/chutes"
EXIT_WITHIN = 60.0
BOB = next(u for u in yaml.safe_load((fixtures_dir() / "chutes" / "users.yaml").read_text(encoding="utf-8"))["users"]
           if u["username"] == "bob")
AUTH = {"Authorization": BOB["api_keys"][0]["value"]}


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=httpx.Timeout(30.0))


def slow_warmup(base: str) -> None:
    """Cold chutes stay cold for ten minutes: their warmup streams keep running."""
    with client(base) as http:
        assert http.put(f"{CONTROL}/settings", json={"warmup_seconds": 600}).status_code == 200


def first_event(response: httpx.Response) -> tuple[bytes, t.Iterator[bytes]]:
    """The first event, and the iterator over the rest of the stream."""
    assert response.status_code == 200, response.read()
    chunks = response.iter_raw()
    for chunk in chunks:
        if chunk.strip():
            return chunk, chunks
    raise AssertionError("the stream ended before its first event")


def stop_and_wait(process: subprocess.Popen) -> None:
    """SIGTERM, and wait for the exit. After its graceful shutdown uvicorn raises the signal it
    caught once more, so a clean exit is -SIGTERM."""
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mockserver was still running {EXIT_WITHIN:.0f} s after SIGTERM, held up by an open stream")
    assert status in (0, -signal.SIGTERM), status


def log_stream_of_a_started_instance(http: httpx.Client) -> str:
    quick = http.get("/chutes/warmup/bob-private-llm", params={"quick": "true"}, headers=AUTH).json()
    return f"/instances/{quick['instances'][0]['instance_id']}/logs"


def test_sigterm_with_a_warmup_stream_whose_client_went_away() -> None:
    with serve_process(*SERVE_ARGS) as (base, process):
        slow_warmup(base)
        with client(base) as http, http.stream("GET", "/chutes/warmup/bob-private-llm", headers=AUTH) as response:
            assert first_event(response)[0] == b'data: {"status":"cold","log":"waiting for instances ..."}\n\n'
        # The client is gone: its connection is closed, the stream is still cold on the server side.
        stop_and_wait(process)


def test_sigterm_with_a_warmup_stream_still_being_read() -> None:
    with serve_process(*SERVE_ARGS) as (base, process):
        slow_warmup(base)
        with client(base) as http, http.stream("GET", "/chutes/warmup/bob-private-llm", headers=AUTH) as response:
            _, chunks = first_event(response)
            stop_and_wait(process)  # the client is still connected
            rest = b"".join(chunks)  # and what it had not read yet ends cleanly: the server ended the stream
            assert rest.replace(b'data: {"status":"cold","log":"waiting for instances ..."}\n\n', b"") == b""


def test_sigterm_with_instance_log_streams_read_and_abandoned() -> None:
    with serve_process(*SERVE_ARGS) as (base, process):
        slow_warmup(base)
        with client(base) as http:
            path = log_stream_of_a_started_instance(http)
            with http.stream("GET", path, headers=AUTH) as abandoned:
                assert first_event(abandoned)[0] == b'data: {"event": "connected", "filename": "current"}\n\n'
            with client(base) as reader, reader.stream("GET", path, headers=AUTH) as response:
                connected, chunks = first_event(response)
                assert connected.startswith(b'data: {"event": "connected"')
                stop_and_wait(process)  # one client gone, one still connected
                rest = b"".join(chunks)  # the lines and keepalives it had not read, then the end
                assert rest.endswith(b"\n\n")
