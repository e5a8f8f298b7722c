"""The request and response objects handlers see, and the ASGI plumbing to send responses.

Deliberately smaller than starlette's: a mock answers tens of thousands of requests a second on a
laptop, and every attribute access on the hot path counts.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

import orjson

from mockserver.engine import jsonlimits
from mockserver.engine.streams import Receive, Send, Shutdown, send_stream

if t.TYPE_CHECKING:
    from mockserver.engine.spec import Operation

StateT = t.TypeVar("StateT")


def json_bytes(value: t.Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers past 64 bits, which a client may send and have echoed back
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    media_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: t.AsyncIterator[bytes] | None = None  # for event streams; `body` is ignored then

    @classmethod
    def json(cls, value: t.Any, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json_bytes(value), "application/json", headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200, media_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> "Response":
        return cls(status, text.encode(), media_type, headers or {})

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, b"", None, headers or {})

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in self.headers.items()]
        if self.media_type is not None and "content-type" not in {k.lower() for k in self.headers}:
            headers.append((b"content-type", self.media_type.encode("latin-1")))
        if self.stream is None:
            headers.append((b"content-length", str(len(self.body)).encode()))
        return headers

    async def send(self, send: Send, *, head: bool = False, receive: Receive | None = None,
                   shutdown: Shutdown | None = None) -> None:
        """Send the answer. A stream runs until it ends, the client disconnects (seen on
        `receive`) or the server shuts down (`shutdown`)."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers()})
        if self.stream is None:
            await send({"type": "http.response.body", "body": b"" if head else self.body})
            return
        await send_stream(self.stream, send, receive, shutdown)


@dataclass(slots=True)
class Request(t.Generic[StateT]):
    """One incoming request, after routing. `params` and `body` are filled by validation.

    Typed by its pack's state, so a handler declares `request: Request[InvokeStore]` once and
    `request.state` is that store (the pipeline sets it before any handler runs).
    """

    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-cased names; the last value wins
    raw_body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    params: dict[str, t.Any] = field(default_factory=dict)
    body: t.Any = None
    content_type: str = ""
    principal: t.Any = None  # whatever the pack's authenticator returned (each pack's own record shape)
    state: StateT = t.cast(t.Any, None)  # the pack's store
    operation: Operation | None = None  # the compiled operation (its definition carries vendor extensions)
    client: tuple[str, int] | None = None
    max_json_depth: int = jsonlimits.DEFAULT_MAX_DEPTH  # for JSON a handler parses itself (`parse_json`)
    # What served a request no spec operation matched, when a pack's catch-all route found one (a
    # Chutes cord): the journal then does not count it as unmatched.
    route: str | None = None

    _query: dict[str, list[str]] | None = None

    @property
    def operation_id(self) -> str | None:
        return self.operation.operation_id if self.operation is not None else None

    def parse_json(self, data: bytes | str) -> t.Any:
        """JSON a handler reads itself (a form field, an uploaded file, an undeclared body), under
        the server's depth bound: ValueError (JSONDecodeError, `jsonlimits.JsonTooDeep`, an
        integer too long) when it does not read."""
        return jsonlimits.loads(data, self.max_json_depth)

    @property
    def query(self) -> dict[str, list[str]]:
        """Query values by name; `name[]` (as the OpenAI SDK sends arrays) counts as `name`."""
        if self._query is None:
            self._query = parse_query(self.query_string)
        return self._query


def parse_query(query_string: str) -> dict[str, list[str]]:
    """Like `parse_qsl(keep_blank_values=True)`, but only unquotes what needs it (it is on every
    request's path)."""
    values: dict[str, list[str]] = {}
    if not query_string:
        return values
    for pair in query_string.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if key.endswith("[]"):
            key = key[:-2]
        values.setdefault(key, []).append(value)
    return values


def header_dict(raw: t.Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


class BodyTimeout(Exception):
    """The client did not send its whole body in time (raised by the server's `receive`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body not received within {seconds:g} s")
        self.seconds = seconds


class ClientGone(Exception):
    """The client disconnected before its body was complete: there is no request to answer."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than `limit` bytes. Raises ClientGone
    when the client leaves before the body is complete (a part of a body is never handled), and
    lets the server's BodyTimeout through."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
