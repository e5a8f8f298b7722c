"""uvicorn, as the mock runs it: told when it starts to stop, and with deadlines for slow clients.

On SIGTERM or Ctrl-C uvicorn stops accepting connections and then waits for every open response
before it exits (and only then sends the lifespan shutdown). The mock's event streams end when
told the server is stopping, so they must be told before that wait, not after it.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`). A client that opens a
connection and sends its request head a byte at a time, or its body slowly, holds a connection, a
parser and buffers for as long as it likes. So the mock adds two deadlines (`Timeouts`):
- the request head (request line and headers) must be complete within `head_seconds` of the
  connection opening or of the previous answer; else the connection is closed (with a 408 when
  part of a head had arrived); and within `head_bytes` (431 past it: header values of any length
  up to that get their normal answer, a 401 for a bad key);
- the request body must be complete within `body_seconds` of the application first asking for
  it; else the answer is a 408 (in the API's error format) and the connection is closed.
Each slow client costs only its own connection: the event loop serves everyone else meanwhile.
"""

from __future__ import annotations

import asyncio
import socket
import typing as t
from dataclasses import dataclass

import uvicorn

from mockserver.engine.http import BodyTimeout

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]


@dataclass(frozen=True)
class Timeouts:
    """Deadlines for slow clients (`mockserver serve --header-timeout/--body-timeout/--keep-alive`)."""

    head_seconds: float = 10.0
    body_seconds: float = 60.0
    keep_alive_seconds: float = 5.0
    head_bytes: int = 1 << 20  # the request line and headers (uvicorn's httptools has no bound)


class Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, on_shutdown: t.Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


def config(app: t.Any, timeouts: Timeouts, **options: t.Any) -> uvicorn.Config:
    """A uvicorn config serving `app` with the deadlines of `timeouts`."""
    guarded = BodyDeadline(app, timeouts.body_seconds) if timeouts.body_seconds > 0 else app
    http: t.Any = options.pop("http", None) or head_deadline_protocol(timeouts.head_seconds, timeouts.head_bytes)
    # uvicorn annotates timeout_keep_alive as int but only hands it to loop.call_later: a float works.
    keep_alive = timeouts.keep_alive_seconds
    return uvicorn.Config(guarded, http=http, timeout_keep_alive=keep_alive, **options)  # type: ignore[arg-type]


# -- the request head ---------------------------------------------------------------------------

_HEAD_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                 b"content-length: 22\r\nconnection: close\r\n\r\nRequest head too slow.")
_HEAD_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   b"content-length: 24\r\nconnection: close\r\n\r\nRequest head too large.\n")


class _HeadDeadline:
    """Mixed into uvicorn's HTTP protocol classes. A request's head is complete when the protocol
    starts a new request cycle for it (both httptools and h11 do so on the last header)."""

    head_seconds: float = 10.0
    head_bytes: int = 1 << 20
    _in_head: bool = False
    transport: asyncio.Transport
    cycle: t.Any
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        self._head_started = True
        waiting = self._in_head
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not self._cycle_before:
            self._in_head = False
            self._disarm_head_deadline()
        elif waiting:
            self._head_size += len(data)
            if self._head_size > self.head_bytes and not self.transport.is_closing():
                self._disarm_head_deadline()
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._cycle_before = self.cycle
        self._head_started = False
        self._head_size = 0
        self._in_head = True
        if self.head_seconds > 0:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        transport = self.transport
        # A new request began (pipelined), or the connection became a WebSocket: not ours to end.
        if transport.is_closing() or self.cycle is not self._cycle_before or transport.get_protocol() is not self:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a (pipelined) request is being answered
        if self._head_started:
            transport.write(_HEAD_TIMEOUT)
        transport.close()


def head_deadline_protocol(head_seconds: float, head_bytes: int = 1 << 20) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, as `http="auto"` picks, else h11) with
    the request-head deadline and size bound."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # httptools is optional in uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]
    return type(f"HeadDeadline{Base.__name__}", (_HeadDeadline, Base),
                {"head_seconds": head_seconds, "head_bytes": head_bytes})


# -- the request body ---------------------------------------------------------------------------

class BodyDeadline:
    """ASGI wrapper: the request body must arrive within `seconds` of the application first
    asking for it. Past that, `receive` raises `BodyTimeout`: the API pipeline answers it with a
    408 in the API's dialect; for any other application (a companion's mount) this answers a plain
    408. Either way the connection is closed. Once the body is in, `receive` is not timed (event
    streams wait on it for the client to go away)."""

    def __init__(self, app: t.Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: t.Any, send: t.Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done
            if body_done:
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        # The pipeline's `drop` fault finds the connection through `receive.__self__` (uvicorn's
        # request cycle); keep it findable.
        timed_receive.__self__ = getattr(receive, "__self__", None)  # type: ignore[attr-defined]

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTimeout as timeout:
            if started:
                raise
            await _send_plain_timeout(send, timeout)


async def _send_plain_timeout(send: t.Any, timeout: BodyTimeout) -> None:
    body = f"Request body not received within {timeout.seconds:g} s.".encode()
    await send({"type": "http.response.start", "status": 408, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
