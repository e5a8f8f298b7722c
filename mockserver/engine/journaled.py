"""Journaling requests that no `ApiApp` answers: another ASGI app's answer (a pack's web UI mount)
or the server's own 404 for paths no pack serves. Both are recorded as unmatched."""

from __future__ import annotations

import time
import typing as t

from mockserver.engine.http import BodyTimeout, header_dict
from mockserver.engine.journal import Journal
from mockserver.engine.streams import Receive, Send

ASGIApp = t.Callable[[dict[str, t.Any], Receive, Send], t.Awaitable[None]]


async def journaled(app: ASGIApp, scope: dict[str, t.Any], receive: Receive, send: Send, *,
                    journal: Journal, pack: str | None,
                    keep: t.Callable[[int], bool] = lambda status: True) -> None:
    """Serve `scope` with `app`, and record the exchange (as unmatched) when `keep(status)`.
    Bodies are captured as they pass, up to the journal's cap. The request body's first part (up
    to the cap) is read before `app` runs and handed to it again, since an app that answers
    without reading the body (a static mount) would otherwise leave nothing to show."""
    started = time.perf_counter()
    cap = journal.limits.body_bytes
    request = _Captured(cap)
    answer = _Captured(cap)
    status = 0
    media_type = ""
    peeked = await _peek(receive, cap)
    for message in peeked:
        request.add(message.get("body", b""))

    async def watched_receive() -> dict[str, t.Any]:
        if peeked:
            return peeked.pop(0)
        message = await receive()
        if message["type"] == "http.request":
            request.add(message.get("body", b""))
        return message

    async def watched_send(message: dict[str, t.Any]) -> None:
        nonlocal status, media_type
        if message["type"] == "http.response.start":
            status = message["status"]
            media_type = header_dict(message.get("headers", [])).get("content-type", "")
        elif message["type"] == "http.response.body":
            answer.add(message.get("body", b""))
        await send(message)

    try:
        await app(scope, watched_receive, watched_send)
    finally:
        if keep(status):
            headers = header_dict(scope.get("headers", []))
            journal.record(
                time=time.time(), pack=pack, operation_id=None, method=scope["method"], path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"), headers=headers, body=request.kept,
                content_type=headers.get("content-type", ""), status=status,
                duration_ms=(time.perf_counter() - started) * 1000, response_body=answer.kept,
                response_type=media_type, unmatched=True, body_size=request.size, response_size=answer.size)


async def _peek(receive: Receive, cap: int) -> list[dict[str, t.Any]]:
    """The request's first messages, until the body ends or `cap` bytes are in."""
    messages: list[dict[str, t.Any]] = []
    size = 0
    while size < cap:
        try:
            message = await receive()
        except BodyTimeout:  # a slow client: the app's own read meets the timeout and answers it
            break
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
        size += len(message.get("body", b""))
    return messages


class _Captured:
    """The first `cap` bytes of a body passing through, and its whole length."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.size = 0
        self._parts: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        room = self.cap - (self.size if self.size < self.cap else self.cap)
        if room > 0 and chunk:
            self._parts.append(chunk[:room])
        self.size += len(chunk)

    @property
    def kept(self) -> bytes:
        return b"".join(self._parts)
