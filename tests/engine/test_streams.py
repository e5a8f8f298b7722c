"""Streamed answers end when their generator does, when the client disconnects, or when the
server begins to shut down, and their generator is closed each time (engine/streams.py)."""

from __future__ import annotations

import asyncio
import threading
import typing as t

from mockserver.engine.http import Response
from mockserver.engine.streams import Shutdown


class Endless:
    """An event stream that would run forever; records whether it was closed."""

    def __init__(self) -> None:
        self.closed = False
        self.sent = 0

    async def events(self) -> t.AsyncIterator[bytes]:
        try:
            while True:
                self.sent += 1
                yield b"data: tick\n\n"
                await asyncio.sleep(0.01)
        finally:
            self.closed = True


def run(response: Response, receive: t.Callable[[], t.Awaitable[dict]] | None,
        shutdown: Shutdown | None = None) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> None:
        await asyncio.wait_for(response.send(send, receive=receive, shutdown=shutdown), timeout=30)

    asyncio.run(main())
    return sent


def test_a_finite_stream_is_sent_whole_and_ended() -> None:
    async def three() -> t.AsyncIterator[bytes]:
        for n in range(3):
            yield f"data: {n}\n\n".encode()

    async def never_disconnects() -> dict:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    sent = run(Response(200, media_type="text/event-stream", stream=three()), never_disconnects)
    assert [m.get("body") for m in sent[1:]] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert sent[-1].get("more_body", False) is False


def test_a_client_that_disconnects_ends_the_stream() -> None:
    endless = Endless()
    calls = 0

    async def receive() -> dict:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(0.1)
        return {"type": "http.disconnect"}

    run(Response(200, media_type="text/event-stream", stream=endless.events()), receive)
    assert endless.closed and endless.sent >= 1


def test_a_shutdown_ends_the_stream_even_with_the_client_still_there() -> None:
    endless = Endless()
    shutdown = Shutdown()

    async def still_there() -> dict:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    timer = threading.Timer(0.1, shutdown.begin)  # from another thread, as a signal handler may
    timer.start()
    sent = run(Response(200, media_type="text/event-stream", stream=endless.events()), still_there, shutdown)
    timer.join()
    assert endless.closed and shutdown.started
    assert sent[-1] == {"type": "http.response.body", "body": b""}  # the client sees the end


def test_a_stream_asked_for_after_shutdown_began_ends_at_once() -> None:
    endless = Endless()
    shutdown = Shutdown()
    shutdown.begin()
    run(Response(200, media_type="text/event-stream", stream=endless.events()), None, shutdown)
    assert endless.closed and endless.sent <= 1
