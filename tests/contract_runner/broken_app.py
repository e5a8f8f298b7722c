"""A tiny, deliberately broken ASGI app for the contract runner's tests, and a way to serve it.

It answers what `broken.yaml` (beside this file) documents, except that, on purpose:

- `GET /items/{item_id}` returns `id` as a string (the schema says integer)  -> response_schema_conformance
- `GET /crash` answers 500                                                   -> not_a_server_error
- `GET /teapot` answers 418, which the spec does not document                -> status_code_conformance
- `GET /secret` requires a bearer token per the spec, but never checks it    -> ignored_auth

- `GET /gone/{gone_id}` answers every valid request 404 "x", a text its spec does not document
  -> positive_data_acceptance_documented

`GET /health`, `GET /things/{thing_id}` (404 `No thing <id>` for odd ids, as documented) and
`DELETE /items/{item_id}` are correct. Invalid input (a non-integer or
out-of-range item_id) gets FastAPI's 422, a method a path lacks gets 405 with an `Allow` header,
an unknown path 404. Every request is counted (`BrokenApp.requests`), so a test can tell whether
anything was sent at all. `NotFoundApp` answers every request 404 `{"detail": "x"}`.

Served by uvicorn in a thread on 127.0.0.1 (`serve_broken_app()`): the only network it touches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
import typing as t
from pathlib import Path

import uvicorn

SPEC = Path(__file__).resolve().parent / "broken.yaml"
HOST = "127.0.0.1"
ITEM = re.compile(r"^/items/([^/]+)$")
THING = re.compile(r"^/(things|gone)/([^/]+)$")


class BrokenApp:
    def __init__(self) -> None:
        self.requests = 0
        self.answered: list[tuple[str, int]] = []  # (path, status) of every answer
        self.lock = threading.Lock()
        # Awaited before answering the request it names by count (see `serve_broken_app`'s stop_after).
        self.before_answer: tuple[int, t.Callable[[], t.Awaitable[None]]] | None = None

    async def __call__(self, scope: dict, receive: t.Callable, send: t.Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        with self.lock:
            self.requests += 1
            count = self.requests
        while (await receive()).get("more_body"):  # drain the request body
            pass
        if self.before_answer is not None and self.before_answer[0] == count:
            await self.before_answer[1]()
        status, body, headers = self.answer(scope["method"], scope["path"])
        with self.lock:
            self.answered.append((scope["path"], status))
        content_type = b"text/plain" if isinstance(body, str) else b"application/json"
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), *headers]})
        await send({"type": "http.response.body", "body": payload})

    def answer(self, method: str, path: str) -> tuple[int, t.Any, list]:
        match = ITEM.match(path)
        thing = THING.match(path)
        allowed = {"/health": ["GET"], "/crash": ["GET"], "/teapot": ["GET"], "/secret": ["GET"]}.get(
            path, ["GET", "DELETE"] if match else ["GET"] if thing else None)
        if allowed is None:
            return 404, {"detail": "Not Found"}, []
        if method not in allowed:
            return 405, {"detail": "Method Not Allowed"}, [(b"allow", ", ".join(allowed).encode())]
        if path == "/health":
            return 200, {"status": "ok"}, []
        if path == "/crash":
            return 500, "Internal Server Error", []
        if path == "/teapot":
            return 418, {"detail": "I'm a teapot"}, []
        if path == "/secret":
            return 200, {"secret": "s3cr3t"}, []  # the Authorization header is never looked at
        if thing is not None:
            return self.thing(thing.group(1), thing.group(2))
        raw = match.group(1)
        if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= 1000:
            return 422, {"detail": [{"loc": ["path", "item_id"], "msg": "invalid", "type": "int_parsing"}]}, []
        if method == "DELETE":
            return 200, {"deleted": True}, []
        return 200, {"id": raw, "name": f"item {raw}"}, []  # the defect: `id` is a string


    def thing(self, kind: str, raw: str) -> tuple[int, t.Any, list]:
        if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= 1000:
            return 422, {"detail": [{"loc": ["path", f"{kind}_id"], "msg": "invalid", "type": "int_parsing"}]}, []
        if kind == "gone":
            return 404, {"detail": "x"}, []  # the defect: no documented text
        if int(raw) % 2:
            return 404, {"detail": f"No thing {raw}"}, []
        return 200, {"id": int(raw)}, []


class NotFoundApp(BrokenApp):
    """Answers every request 404 `{"detail": "x"}`."""

    def answer(self, method: str, path: str) -> tuple[int, t.Any, list]:
        return 404, {"detail": "x"}, []


def _stop_listening(server: uvicorn.Server) -> t.Callable[[], t.Awaitable[None]]:
    async def stop() -> None:
        # uvicorn looks at should_exit every 0.1 s, and a client can send many requests meanwhile:
        # the answer waits until the server has stopped listening, so the next request is refused.
        server.should_exit = True
        while any(listener.is_serving() for listener in server.servers):
            await asyncio.sleep(0.005)
    return stop


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_broken_app(kind: type[BrokenApp] = BrokenApp, *,
                     stop_after: int | None = None) -> t.Iterator[tuple[str, BrokenApp]]:
    """Serve a fresh `BrokenApp` (or `kind`) on 127.0.0.1 in a thread; yield (base URL, app).
    With `stop_after`, the server stops listening before it answers that request (its connection
    closes after the answer): every later request is refused, however fast the client."""
    app = kind()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="error", lifespan="on"))
    if stop_after is not None:
        app.before_answer = (stop_after, _stop_listening(server))
    thread = threading.Thread(target=server.run, name="broken-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the broken app did not start")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)
