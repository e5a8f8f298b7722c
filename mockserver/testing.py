"""Test your code against the mock: start a server, point a client at it, check what it sent.

```python
from mockserver.testing import MockServerHandle

with MockServerHandle.start(["openai_usage"], seed=1, clock="2025-06-15T12:00:00Z") as mock:
    client = OpenAI(admin_api_key="sk-admin-mockserver", api_key="unused",
                    base_url=f"{mock.base_url}/v1", http_client=mock.client())
    ...
    [sent] = mock.requests(path="/v1/organization/costs")
    assert sent.query["group_by[]"] == ["line_item"]
```

Two ways to run the server, with the same API:

- **in-process** (default): the ASGI app runs on a private event loop in a background thread of this
  process. `client()` returns an `httpx.Client` whose transport hands each request to that loop, so
  code that accepts an httpx client (the OpenAI SDK's `http_client=`) talks to the mock without a
  socket. Start-up takes a few tenths of a second and nothing outlives the test process.
- **live** (`live=True`): `python -m mockserver serve` on a free 127.0.0.1 port, in its own process
  group, stopped (and the port freed) on `stop()`. Use it when the code under test builds its own
  HTTP client, runs in another process, or is not Python: give it `base_url`.

Why not starlette's `TestClient` or `httpx.ASGITransport` directly: `ASGITransport` is async-only,
and `TestClient` runs each request on a fresh event loop unless kept open as a context manager,
raises the app's exceptions into the caller, sends its own `user-agent`, and turns a dropped
connection (a `drop` fault) into an assertion error. The transport here keeps one loop for the
server's lifetime (as a real server has), runs the app's lifespan, honours the client's read
timeout (so latency faults time out as they would over the network), and reports a dropped
connection as `httpx.RemoteProtocolError`, the error a client sees from a live server.

Every helper (`reset`, `requests`, `fault`, `set_clock`, `state`, ...) goes through the control
plane's HTTP API under `/__mock__/`, so it behaves the same in both modes.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import dataclasses
import datetime as _dt
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import weakref
from urllib.parse import parse_qs

import httpx

__all__ = [
    "ControlPlaneError", "InjectedFault", "MockServerConfig", "MockServerHandle", "RecordedRequest",
    "ServerStartError",
]

log = logging.getLogger("mockserver.testing")

CONTROL = "/__mock__"
IN_PROCESS_BASE_URL = "http://mockserver.invalid"  # never resolves: a request that bypasses client() fails fast
HOST = "127.0.0.1"

Instant = t.Union[str, int, float, _dt.datetime]


class ServerStartError(RuntimeError):
    """The live server exited or did not become healthy in time (the message carries its output)."""


class ControlPlaneError(RuntimeError):
    """A control-plane call was refused (bad fault, unknown pack, state that does not load, ...)."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class MockServerConfig:
    """How to start a mock server (the pytest plugin's `mockserver_config` fixture returns one)."""

    apis: tuple[str, ...] = ("openai_usage",)
    live: bool = False
    seed: int = 0
    clock: Instant | None = None  # freeze the clock here; None: real time
    validate_responses: bool = True  # an answer that breaks the spec becomes a 500 naming the violation
    control_token: str | None = None  # make the control plane require this token (the helpers send it)

    def __post_init__(self) -> None:
        object.__setattr__(self, "apis", _api_names(self.apis))


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One journal entry: what a client sent to a mocked API and the status it got."""

    id: int
    time: float
    pack: str | None  # None when no pack serves the path
    operation_id: str | None  # None when no operation matched (a 404/405, a catch-all)
    method: str
    path: str
    query_string: str
    query: dict[str, list[str]]  # parsed: `{"group_by[]": ["line_item"], "limit": ["7"]}`
    headers: dict[str, str]  # lower-case names; credentials redacted (see `sent_credential`)
    body: t.Any  # JSON bodies parsed, text as text, binary as {"bytes": n}; None when empty
    status: int  # 0 when a fault dropped the connection
    duration_ms: float
    raw: dict = dataclasses.field(repr=False, compare=False)
    unmatched: bool = False  # no operation matched: an unknown path or method


    @classmethod
    def from_json(cls, entry: dict) -> RecordedRequest:
        query_string = entry.get("query") or ""
        return cls(
            id=entry["id"], time=entry["time"], pack=entry["pack"], operation_id=entry.get("operation_id"),
            method=entry["method"], path=entry["path"], query_string=query_string,
            query=parse_qs(query_string, keep_blank_values=True), headers=dict(entry.get("headers") or {}),
            body=entry.get("body"), status=entry["status"], duration_ms=entry.get("duration_ms", 0.0), raw=entry,
            unmatched=entry.get("unmatched", False))

    @property
    def url(self) -> str:
        """Path and query as sent."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    def sent_credential(self, header: str, value: str) -> bool:
        """Whether the request carried `value` in `header`. The journal keeps credentials only as
        fingerprints (`[redacted sha256:…]`), so compare through this rather than `headers`."""
        from mockserver.engine.journal import fingerprint

        recorded = self.headers.get(header.lower())
        return recorded is not None and recorded in (value, fingerprint(value))


class InjectedFault:
    """A fault in force. Leaving `with mock.fault(...):` removes it; so does `remove()` or a reset."""

    def __init__(self, handle: MockServerHandle, spec: dict) -> None:
        self._handle = handle
        self.spec = spec  # as the server reported it: id, pack, operation_id, status, latency_ms, ...
        self.id: int = spec["id"]

    def remove(self) -> None:
        """Take the fault out (no error if it already ran out of `remaining` or was reset away)."""
        try:
            self._handle.control("DELETE", f"faults/{self.id}")
        except ControlPlaneError as error:
            if error.status != 404:
                raise

    def __enter__(self) -> InjectedFault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"InjectedFault({self.spec!r})"


class MockServerHandle:
    """A running mock server and the helpers to drive it. Create with `MockServerHandle.start(...)`."""

    def __init__(self, config: MockServerConfig, base_url: str, backend: _Backend) -> None:
        self.config = config
        self.base_url = base_url  # e.g. `OpenAI(base_url=f"{mock.base_url}/v1", ...)`
        self._backend = backend
        self._clients: list[httpx.Client | httpx.AsyncClient] = []  # closed at stop() or by closing_clients()
        self._control = backend.client(base_url=base_url, timeout=30.0, headers=_token_headers(config))
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start(cls, apis: str | t.Sequence[str] = ("openai_usage",), *, live: bool = False, seed: int = 0,
              clock: Instant | None = None, validate_responses: bool = True,
              control_token: str | None = None, startup_timeout: float = 60.0) -> MockServerHandle:
        """Start a server serving `apis` (names, or one comma-separated string).

        `clock` freezes the engine clock at an instant (Unix seconds, ISO 8601 or a datetime);
        `reset()` puts it back there. `live=True` runs `python -m mockserver serve` on a free port
        instead of in-process. `control_token` makes the control plane require that token (from
        other clients too); the helpers here send it."""
        config = MockServerConfig(apis=_api_names(apis), live=live, seed=seed, clock=clock,
                                  validate_responses=validate_responses, control_token=control_token)
        return cls.from_config(config, startup_timeout=startup_timeout)

    @classmethod
    def from_config(cls, config: MockServerConfig, *, startup_timeout: float = 60.0) -> MockServerHandle:
        backend: _Backend
        if config.live:
            backend = _LiveBackend.start(config, startup_timeout)
            base_url = backend.base_url
        else:
            backend = _InProcessBackend.start(config)
            base_url = IN_PROCESS_BASE_URL
        return cls(config, base_url, backend)

    def stop(self) -> None:
        """Close every client handed out and stop the server (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._close_clients(0)
        self._control.close()
        self._backend.stop()

    def __enter__(self) -> MockServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def live(self) -> bool:
        return self.config.live

    @property
    def pid(self) -> int | None:
        """The live server's process id (None in-process)."""
        return getattr(self._backend, "pid", None)

    def server_output(self) -> str:
        """What the live server printed so far (stderr, then stdout); empty in-process."""
        return self._backend.output()

    def __repr__(self) -> str:
        mode = f"live pid {self.pid}" if self.live else "in-process"
        return f"<MockServerHandle {','.join(self.config.apis)} at {self.base_url} ({mode})>"

    # -- clients ------------------------------------------------------------------------------

    def client(self, **kwargs: t.Any) -> httpx.Client:
        """A new `httpx.Client` for the mock, with `base_url` set: pass it to code under test
        (`OpenAI(http_client=mock.client(), base_url=f"{mock.base_url}/v1")`). Keyword arguments go
        to `httpx.Client`. Closed when the server stops (from the `mock` fixture: when the test ends)."""
        client = self._backend.client(base_url=self.base_url, **kwargs)
        self._clients.append(client)
        return client

    def async_client(self, **kwargs: t.Any) -> httpx.AsyncClient:
        """As `client()`, for async code (`AsyncOpenAI(http_client=mock.async_client(), ...)`)."""
        client = self._backend.async_client(base_url=self.base_url, **kwargs)
        self._clients.append(client)
        return client

    @contextlib.contextmanager
    def closing_clients(self) -> t.Iterator[MockServerHandle]:
        """Close the clients handed out inside the block when it ends (the `mock` fixture wraps
        each test in one, so a test's clients do not outlive it or leave sockets open)."""
        mark = len(self._clients)
        try:
            yield self
        finally:
            self._close_clients(mark)

    def _close_clients(self, mark: int) -> None:
        clients, self._clients[mark:] = self._clients[mark:], []
        for client in clients:
            with contextlib.suppress(Exception):
                if isinstance(client, httpx.AsyncClient):
                    _close_async(client)
                else:
                    client.close()

    # -- control plane ------------------------------------------------------------------------

    def control(self, method: str, path: str, *, json: t.Any = None,
                params: t.Mapping[str, t.Any] | None = None) -> t.Any:
        """Call a control-plane operation; `path` is relative to `/__mock__/`
        (`mock.control("POST", "packs/openai_usage/events", json={"events": [...]})`).
        Returns the parsed JSON answer (None for an empty one); ControlPlaneError on 4xx/5xx."""
        url = f"{CONTROL}/{path.lstrip('/')}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._control.request(method, url, json=json, params=clean or None)
        if response.status_code >= 400:
            raise ControlPlaneError(method, url, response.status_code, _error_message(response))
        if not response.content:
            return None
        return response.json()

    def health(self) -> dict:
        return self.control("GET", "health")

    def reset(self, pack: str | None = None) -> None:
        """Without `pack`: every pack back to its fixtures, the journal and faults cleared, and the
        clock back to where the server started (frozen at `clock`, or real time).
        With `pack`: only that pack's state (the journal, faults and clock are kept)."""
        if pack is not None:
            self.control("POST", f"packs/{pack}/reset")
            return
        # The clock first: a pack seeds its history up to "now" when it is reset.
        self.reset_clock()
        self.control("POST", "reset")

    def requests(self, pack: str | None = None, method: str | None = None, path: str | None = None,
                 status: int | None = None, operation_id: str | None = None, *,
                 since_id: int | None = None, unmatched: bool | None = None,
                 limit: int | None = None) -> list[RecordedRequest]:
        """Requests the mocked APIs received, oldest first. `path` may be a glob
        (`/v1/organization/usage/*`); `unmatched=True` keeps those no operation matched (paths no
        pack serves included); `limit` keeps the newest N."""
        found = self.control("GET", "journal", params={
            "pack": pack, "method": method, "path": path, "status": status, "operation_id": operation_id,
            "since_id": since_id, "unmatched": None if unmatched is None else str(unmatched).lower(),
            "limit": limit})
        return [RecordedRequest.from_json(entry) for entry in found["requests"]]

    def clear_requests(self, pack: str | None = None) -> int:
        """Forget recorded requests (of one pack, or all); returns how many."""
        return self.control("DELETE", "journal", params={"pack": pack})["cleared"]

    def fault(self, operation_id: str | None = None, *, pack: str | None = None, status: int | None = None,
              latency_ms: int = 0, drop: bool = False, remaining: int | None = None,
              message: str | None = None) -> InjectedFault:
        """Put a fault in force now: answer `status` (in the API's own error format), wait
        `latency_ms` first, or `drop` the connection; for `remaining` requests or until removed.
        Without `operation_id`, every operation (of `pack`, or of every pack) is affected.
        Use as a context manager to remove it on exit: `with mock.fault("usage-costs", status=503): ...`"""
        body: dict[str, t.Any] = {"latency_ms": latency_ms, "drop": drop}
        for key, value in (("operation_id", operation_id), ("pack", pack), ("status", status),
                           ("remaining", remaining), ("message", message)):
            if value is not None:
                body[key] = value
        return InjectedFault(self, self.control("POST", "faults", json=body))

    def faults(self) -> list[dict]:
        return self.control("GET", "faults")

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def clock(self) -> dict:
        """`{"now": unix seconds, "iso": ..., "frozen": bool, "offset": seconds}`"""
        return self.control("GET", "clock")

    def set_clock(self, instant: Instant, frozen: bool = True) -> dict:
        """Set the engine clock (Unix seconds, ISO 8601, or a datetime; naive means UTC). Frozen, it
        stands still until set or advanced again; otherwise it runs on from `instant`."""
        return self.control("PUT", "clock", json={"now": _instant_json(instant), "frozen": frozen})

    def advance_clock(self, seconds: float | _dt.timedelta) -> dict:
        if isinstance(seconds, _dt.timedelta):
            seconds = seconds.total_seconds()
        return self.control("POST", "clock/advance", json={"seconds": seconds})

    def reset_clock(self) -> dict:
        """Back to the clock the server started with: frozen at `clock`, or real time."""
        if self.config.clock is None:
            return self.control("DELETE", "clock")
        return self.set_clock(self.config.clock, frozen=True)

    def state(self, pack: str | None = None) -> dict:
        """An export of the whole server's state (or one pack's), loadable with `load_state`."""
        return self.control("GET", f"packs/{pack}/state" if pack else "state")

    def load_state(self, data: dict, pack: str | None = None) -> None:
        """Replace state with an export; nothing changes unless all of it loads."""
        self.control("PUT", f"packs/{pack}/state" if pack else "state", json=data)


# -- helpers ------------------------------------------------------------------------------------


def _api_names(apis: str | t.Iterable[str]) -> tuple[str, ...]:
    values = [apis] if isinstance(apis, str) else list(apis)
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    if not names:
        raise ValueError("no API pack named; give at least one (e.g. 'openai_usage')")
    from mockserver.packs import AVAILABLE

    for name in names:
        if name not in AVAILABLE:
            raise ValueError(f"unknown API pack {name!r}; available: {', '.join(AVAILABLE)}")
    return names


def _instant_json(instant: Instant) -> str | float:
    if isinstance(instant, _dt.datetime):
        return instant.isoformat()
    if isinstance(instant, bool):
        raise TypeError("an instant is Unix seconds, an ISO 8601 string or a datetime")
    return instant


def _token_headers(config: MockServerConfig) -> dict[str, str]:
    if config.control_token is None:
        return {}
    from mockserver.engine.control_access import TOKEN_HEADER

    return {TOKEN_HEADER: config.control_token}


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or response.text)
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase


def _close_async(client: httpx.AsyncClient) -> None:
    """Close an async client from sync code: its transport's connections belong to no loop here."""
    if client.is_closed:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(client.aclose())
    else:  # called inside a running loop (an async test's teardown): schedule it
        asyncio.ensure_future(client.aclose())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- backends -----------------------------------------------------------------------------------


class _Backend(t.Protocol):
    def client(self, **kwargs: t.Any) -> httpx.Client: ...
    def async_client(self, **kwargs: t.Any) -> httpx.AsyncClient: ...
    def output(self) -> str: ...
    def stop(self) -> None: ...


class _InProcessBackend:
    """The ASGI app on a private event loop in a daemon thread; clients reach it through
    `_LoopTransport`, which runs httpx's ASGI bridge on that loop."""

    def __init__(self, app: t.Any) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mockserver-loop", daemon=True)
        self._thread.start()
        self._lifespan: _Lifespan | None = None
        self._stopped = False

    @classmethod
    def start(cls, config: MockServerConfig) -> _InProcessBackend:
        import warnings

        with warnings.catch_warnings():
            # connexion imports starlette's deprecated test client at import time (a
            # StarletteDeprecationWarning, which is a UserWarning, when httpx2 is not installed).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
            from mockserver.app import ServerConfig, build_server
            from mockserver.engine.clock import parse_instant
            from mockserver.engine.control_access import ControlAccess
            from mockserver.engine.pipeline import Settings

        clock_start = None
        if config.clock is not None:
            instant = config.clock
            clock_start = instant.timestamp() if isinstance(instant, _dt.datetime) and instant.tzinfo \
                else parse_instant(_instant_json(instant))
        # In-process clients address the server by its placeholder name, which the control plane
        # accepts as the address the request arrived on (see engine/control_access.py).
        app = build_server(ServerConfig(apis=list(config.apis), seed=config.seed, clock_start=clock_start,
                                        settings=Settings(validate_responses=config.validate_responses),
                                        control=ControlAccess(token=config.control_token)))
        backend = cls(app)
        try:
            backend._lifespan = backend.run(_Lifespan.start(app), timeout=30)
        except BaseException:
            backend.stop()
            raise
        return backend

    def run(self, coroutine: t.Coroutine, timeout: float | None = None) -> t.Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def submit(self, coroutine: t.Coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def client(self, **kwargs: t.Any) -> httpx.Client:
        return httpx.Client(transport=_LoopTransport(self), **kwargs)

    def async_client(self, **kwargs: t.Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=_AsyncLoopTransport(self), **kwargs)

    async def handle(self, request: httpx.Request) -> tuple[int, list, bytes]:
        """One request through the app; (status, headers, body). Runs on the private loop."""
        transport = httpx.ASGITransport(app=self._app, client=(HOST, 50000))
        try:
            response = await transport.handle_async_request(request)
        except ConnectionAbortedError as error:  # a `drop` fault, as the engine signals it in-process
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request) from error
        except Exception:  # a bug in the mock: answered as uvicorn would, and logged
            log.exception("mockserver raised while answering %s %s", request.method, request.url)
            return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
        stream = t.cast(httpx.AsyncByteStream, response.stream)  # an ASGI app's response streams asynchronously
        body = b"".join([chunk async for chunk in stream])
        return response.status_code, response.headers.raw, body

    def output(self) -> str:
        return ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._lifespan is not None:
            with contextlib.suppress(Exception):
                self.run(self._lifespan.shutdown(), timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


def _buffered(request: httpx.Request, body: bytes) -> httpx.Request:
    return httpx.Request(request.method, request.url, headers=request.headers, content=body,
                         extensions=request.extensions)


def _read_timeout(request: httpx.Request) -> float | None:
    return (request.extensions.get("timeout") or {}).get("read")


class _LoopTransport(httpx.BaseTransport):
    def __init__(self, backend: _InProcessBackend) -> None:
        self._backend = backend

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._backend._stopped:
            raise httpx.ConnectError("the in-process mock server is stopped", request=request)
        future = self._backend.submit(self._backend.handle(_buffered(request, request.read())))
        timeout = _read_timeout(request)
        try:
            status, headers, body = future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("timed out waiting for the mock's answer", request=request) from None
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body), request=request)


class _AsyncLoopTransport(httpx.AsyncBaseTransport):
    def __init__(self, backend: _InProcessBackend) -> None:
        self._backend = backend

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._backend._stopped:
            raise httpx.ConnectError("the in-process mock server is stopped", request=request)
        body = await request.aread()
        future = asyncio.wrap_future(self._backend.submit(self._backend.handle(_buffered(request, body))))
        try:
            status, headers, content = await asyncio.wait_for(future, _read_timeout(request))
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the mock's answer", request=request) from None
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request)


class _Lifespan:
    """Drives the app's ASGI lifespan (start-up and shutdown), as uvicorn does."""

    def __init__(self, app: t.Any) -> None:
        self._to_app: asyncio.Queue = asyncio.Queue()
        self._from_app: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                               self._to_app.get, self._from_app.put))

    @classmethod
    async def start(cls, app: t.Any) -> _Lifespan:
        lifespan = cls(app)
        await lifespan._exchange("lifespan.startup")
        return lifespan

    async def shutdown(self) -> None:
        await self._exchange("lifespan.shutdown")
        await self._task

    async def _exchange(self, message: str) -> None:
        await self._to_app.put({"type": message})
        reply = await self._from_app.get()
        if reply["type"] != f"{message}.complete":
            raise RuntimeError(f"mockserver {message} failed: {reply.get('message', reply['type'])}")


class _LiveBackend:
    """`python -m mockserver serve` on a free 127.0.0.1 port, in a process group of its own."""

    _running: t.ClassVar[weakref.WeakSet] = weakref.WeakSet()

    def __init__(self, process: subprocess.Popen, base_url: str, stdout: t.IO[bytes], stderr: t.IO[bytes]) -> None:
        self.process = process
        self.base_url = base_url
        self._stdout = stdout
        self._stderr = stderr
        self._final_output: str | None = None  # kept when the files are closed at stop()
        _LiveBackend._running.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls, config: MockServerConfig, startup_timeout: float, attempts: int = 3) -> _LiveBackend:
        # The port is picked before the server binds it, so another process may take it in
        # between; a start that fails because the address is in use is retried on a new port.
        for attempt in range(attempts):
            try:
                return cls._start_once(config, _free_port(), startup_timeout)
            except ServerStartError as error:
                if "address already in use" in str(error).lower() and attempt + 1 < attempts:
                    continue
                raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_once(cls, config: MockServerConfig, port: int, timeout: float) -> _LiveBackend:
        command = [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port),
                   "--seed", str(config.seed)]
        for api in config.apis:
            command += ["--api", api]
        if config.clock is not None:
            command += ["--clock", str(_instant_json(config.clock))]
        if config.validate_responses:
            command.append("--validate-responses")
        # Files rather than pipes: nobody reads pipes while tests run, and a full pipe would block
        # the server on its next log line.
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"  # type: ignore[attr-defined]
                 else {"start_new_session": True})
        # The token goes by environment, not argv (which `ps` shows); one inherited from the
        # caller's shell is not this server's.
        from mockserver.engine.control_access import TOKEN_ENV

        env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
        if config.control_token is not None:
            env[TOKEN_ENV] = config.control_token
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                   env={**env, "PYTHONUNBUFFERED": "1"}, **group)
        backend = cls(process, f"http://{HOST}:{port}", stdout, stderr)
        try:
            backend._wait_healthy(timeout, _token_headers(config))
        except BaseException:
            backend.stop()
            raise
        return backend

    def _wait_healthy(self, timeout: float, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + timeout
        last_error: object = None
        with self.client(base_url=self.base_url, timeout=2.0, headers=headers) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerStartError(self._describe(
                        f"mockserver exited with status {self.process.returncode} during start-up"))
                try:
                    response = client.get(f"{CONTROL}/health")
                    if response.status_code == 200:
                        return
                    last_error = f"health answered {response.status_code}"
                except httpx.TransportError as error:
                    last_error = error
                time.sleep(0.05)
        raise ServerStartError(self._describe(
            f"mockserver did not become healthy within {timeout:.0f}s (last: {last_error})"))

    def _describe(self, headline: str) -> str:
        return f"{headline}\ncommand: {' '.join(map(str, t.cast(list[str], self.process.args)))}\n{self.output()}"

    def output(self) -> str:
        if self._final_output is not None:
            return self._final_output

        def read(stream: t.IO[bytes]) -> str:
            stream.flush()
            stream.seek(0)
            return stream.read().decode("utf-8", "replace").strip() or "(empty)"
        return f"--- stderr ---\n{read(self._stderr)}\n--- stdout ---\n{read(self._stdout)}"

    # trust_env off: an HTTP(S)_PROXY in the environment must not route 127.0.0.1 through a proxy.
    def client(self, **kwargs: t.Any) -> httpx.Client:
        return httpx.Client(**{"trust_env": False, **kwargs})

    def async_client(self, **kwargs: t.Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**{"trust_env": False, **kwargs})

    def stop(self) -> None:
        """SIGTERM to the whole group (uvicorn shuts down cleanly on it), SIGKILL if it lingers."""
        _LiveBackend._running.discard(self)
        process = self.process
        if os.name == "nt":
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
                if process.poll() is None:
                    process.kill()
                    process.wait(5)
        elif process.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # anything the server left behind in its group
        else:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(5.0)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._final_output is None:
            self._final_output = self.output()  # still readable through server_output() after stop
            self._stdout.close()
            self._stderr.close()


@atexit.register
def _stop_live_servers() -> None:
    """A test run that ends without its finalizers (a crash, os._exit aside) still takes its live
    servers with it."""
    for backend in list(_LiveBackend._running):
        with contextlib.suppress(Exception):
            backend.stop()
