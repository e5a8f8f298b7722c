"""Streamed answers (event streams) that end when nobody is listening any more.

A streamed answer runs until its generator ends, its client disconnects, or the server begins to
shut down. The last two matter because uvicorn waits for every open response before it exits, and
because a client that went away cannot be written to: a stream that ignored both would keep the
process alive, and keep working for no one, for as long as it meant to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import typing as t

Send = t.Callable[[dict[str, t.Any]], t.Awaitable[None]]
Receive = t.Callable[[], t.Awaitable[dict[str, t.Any]]]
AsgiApp = t.Callable[[dict[str, t.Any], Receive, Send], t.Awaitable[None]]


class Shutdown:
    """Set once, when the server starts shutting down; open streams wait on it.

    Waiters are futures of whichever event loop they run on, so one server may be driven by
    several loops over its life (test clients each bring their own); `begin()` may be called from
    any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._waiters: set[asyncio.Future[t.Any]] = set()

    @property
    def started(self) -> bool:
        return self._started

    def begin(self) -> None:
        with self._lock:
            self._started = True
            waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            loop = waiter.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, waiter)

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._started:
                return
            self._waiters.add(waiter)
        try:
            await waiter
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def _resolve(waiter: asyncio.Future[t.Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def send_stream(stream: t.AsyncIterator[bytes], send: Send, receive: Receive | None,
                      shutdown: Shutdown | None) -> None:
    """Send `stream` as the response body until it ends, the client disconnects (`receive` says
    `http.disconnect`) or `shutdown` begins; then close the generator and end the body."""
    pump = asyncio.ensure_future(_pump(stream, send))
    stoppers = [asyncio.ensure_future(_disconnected(receive))] if receive is not None else []
    if shutdown is not None:
        stoppers.append(asyncio.ensure_future(shutdown.wait()))
    try:
        await asyncio.wait([pump, *stoppers], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, *stoppers):
            task.cancel()
        for task in (pump, *stoppers):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    # A client that is gone is not written to (uvicorn drops it); one still there sees the end.
    await send({"type": "http.response.body", "body": b""})


async def _pump(stream: t.AsyncIterator[bytes], send: Send) -> None:
    async for chunk in stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
