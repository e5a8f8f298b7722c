"""One API's request pipeline: route → auth → validate → fault → handler → check → journal.

Built once per API from its compiled operations; at request time it does only what the request
needs. Every failure is rendered in the API's dialect; only a bug in the mock itself gives a 500.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import time
import typing as t
from dataclasses import dataclass, field

from mockserver.engine.bodies import BodyUnreadable, UnsupportedMediaType
from mockserver.engine.dialects import Dialect
from mockserver.engine.faults import Fault, Faults
from mockserver.engine.http import BodyTimeout, ClientGone, Request, Response, StateT, header_dict, read_body
from mockserver.engine.issues import ApiError, Issue, RequestInvalid
from mockserver.engine.journal import Journal, JournalLimits
from mockserver.engine.journaled import journaled
from mockserver.engine.jsonlimits import DEFAULT_MAX_DEPTH
from mockserver.engine.params import MISSING
from mockserver.engine.routing import Match, MethodNotAllowed, Redirect, Router
from mockserver.engine.spec import Operation
from mockserver.engine.streams import AsgiApp, Receive, Send, Shutdown

log = logging.getLogger("mockserver")


@dataclass
class Settings:
    validate_responses: bool = False  # check every answer against the spec (tests turn it on)
    max_body_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = DEFAULT_MAX_DEPTH  # deeper request JSON is refused (see engine/jsonlimits.py)
    journal: JournalLimits = field(default_factory=JournalLimits)

    def for_state_documents(self) -> "Settings":
        """The control plane's: a state export nests what clients stored (at most
        `max_json_depth` deep) in up to a dozen levels of its own, and must import again."""
        return dataclasses.replace(self, max_json_depth=self.max_json_depth + STATE_NESTING)


STATE_NESTING = 32


class ApiApp(t.Generic[StateT]):
    """ASGI app for one API (a pack, or the control plane), typed by the state its handlers see:
    `state` gives it for each request (a pack's current store, or the server itself)."""

    def __init__(self, name: str, operations: list[Operation], dialect: Dialect, *,
                 state: t.Callable[[], StateT], settings: Settings,
                 authenticate: t.Callable[[Request[StateT]], t.Any] | None = None,
                 journal: Journal | None = None, faults: Faults | None = None,
                 redirect_slashes: bool = False, fallback: "ApiApp[t.Any] | None" = None,
                 unmatched: t.Callable[[Request[StateT]], t.Any] | None = None,
                 unmatched_methods: frozenset[str] = frozenset(), shutdown: Shutdown | None = None) -> None:
        self.name = name
        self.operations = operations
        self.dialect = dialect
        self.router = Router(operations, redirect_slashes=redirect_slashes)
        self.settings = settings
        self._state = state
        self._authenticate = authenticate
        self._journal = journal
        self._faults = faults
        self._fallback = fallback
        self._unmatched = unmatched
        self._unmatched_methods = unmatched_methods
        self._shutdown = shutdown  # ends open event streams when the server stops
        self._is_async = {id(op): inspect.iscoroutinefunction(op.handler) for op in operations}
        # An ASGI app behind every operation (a companion's root mount): it answers whatever no
        # operation matches, before the dialect's 404/405 and the pack's `unmatched`.
        self.mounted_behind: AsgiApp | None = None

    async def __call__(self, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        found = self.router.match(method, path)
        if not isinstance(found, Match) and self.mounted_behind is not None:
            await self._behind(self.mounted_behind, scope, receive, send)
            return
        if not isinstance(found, Match) and self._fallback is not None and found is None:
            await self._fallback(scope, receive, send)
            return
        raw_headers = scope["headers"]
        request: Request[StateT] = Request(method, path, scope.get("query_string", b"").decode("latin-1"),
                          header_dict(raw_headers), client=scope.get("client"),
                          max_json_depth=self.settings.max_json_depth)
        response, drop = await self._respond(found, request, receive)
        if self._journal is not None:
            self._journal.record(
                time=time.time(), pack=self.name, operation_id=request.operation_id, method=method,
                path=path, query=request.query_string, headers=request.headers, body=request.raw_body,
                content_type=request.headers.get("content-type", ""),
                status=0 if drop else response.status,
                duration_ms=(time.perf_counter() - started) * 1000,
                response_body=b"" if drop or response.stream is not None else response.body,
                response_type=response.media_type or "", unmatched=request.operation is None and request.route is None)
        if drop:
            await _drop_connection(receive, send)
        else:
            await response.send(send, head=method == "HEAD", receive=receive, shutdown=self._shutdown)

    async def _behind(self, app: AsgiApp, scope: dict[str, t.Any], receive: Receive, send: Send) -> None:
        """What the mount behind the routes answers; its misses (a 4xx or 5xx: an API path no
        operation has) are journaled as unmatched, the files it serves are not (a web UI's
        hundreds of assets would push the API calls out of the journal)."""
        if self._journal is None:
            await app(scope, receive, send)
            return
        await journaled(app, scope, receive, send, journal=self._journal, pack=self.name,
                        keep=lambda status: status >= 400)

    async def _respond(self, found: Match | MethodNotAllowed | Redirect | None, request: Request[StateT],
                       receive: Receive) -> tuple[Response, bool]:
        if (found is None or isinstance(found, MethodNotAllowed)) and self._unmatched is not None:
            if request.method in self._unmatched_methods:
                return await self._catch_all(request, receive), False
            # The catch-all route matched the path but not this method: the first route whose path
            # matched says which methods it allows, as Starlette answers.
            allowed = found.allowed if found is not None else self._unmatched_methods
            return self.dialect.method_not_allowed(request.method, request.path, allowed), False
        if found is None:
            return self.dialect.not_found(request.method, request.path), False
        if isinstance(found, MethodNotAllowed):
            return self.dialect.method_not_allowed(request.method, request.path, found.allowed), False
        if isinstance(found, Redirect):
            location = found.location + (f"?{request.query_string}" if request.query_string else "")
            return Response.empty(307, {"location": location}), False
        operation = found.operation
        request.operation = operation
        dialect = self.dialect.for_operation(operation)  # a spec world words errors per operation
        request.path_params = found.path_params
        refused = await self._take_body(request, receive)
        if refused is not None:
            return refused, False
        request.content_type = request.headers.get("content-type", "")
        try:
            request.state = self._state()
            if operation.secured and self._authenticate is not None:
                request.principal = self._authenticate(request)
            self._validate(operation, request)
            fault = self._faults.take(self.name, operation.operation_id) if self._faults else None
            if fault is not None:
                injected = await self._inject(fault)
                if injected is not None:
                    return injected
            response = await self._call_handler(operation, request)
        except ApiError as error:
            return dialect.error(error), False
        except RequestInvalid as invalid:
            return dialect.validation_error(invalid.issues), False
        except UnsupportedMediaType as error:
            return dialect.unsupported_media_type(error.content_type, error.allowed, request.raw_body), False
        except BodyUnreadable as error:
            return dialect.unreadable_body(error.position, error.message), False
        except Exception:
            log.exception("handler for %s failed", operation.operation_id)
            return dialect.internal_error(), False
        if self.settings.validate_responses:
            response = self._checked(operation, response)
        return response, False

    async def _take_body(self, request: Request[StateT], receive: Receive) -> Response | None:
        """Read the body into the request; the answer instead when it cannot be had whole (too
        large, too slow, or the client left)."""
        try:
            body = await read_body(receive, self.settings.max_body_bytes)
        except BodyTimeout as timeout:
            return self.dialect.request_timeout(timeout.seconds)
        except ClientGone:  # nobody will read this answer; the journal shows what happened
            return self.dialect.error(ApiError(400, "The client disconnected before its body was complete"))
        if body is None:
            return self.dialect.payload_too_large(self.settings.max_body_bytes)
        request.raw_body = body
        return None

    async def _catch_all(self, request: Request[StateT], receive: Receive) -> Response:
        refused = await self._take_body(request, receive)
        if refused is not None:
            return refused
        try:
            request.state = self._state()
            assert self._unmatched is not None  # only routed here when the pack has a catch-all
            result = self._unmatched(request)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            return self.dialect.error(error)
        except Exception:
            log.exception("catch-all for %s %s failed", request.method, request.path)
            return self.dialect.internal_error()
        return result if isinstance(result, Response) else Response.json(result)

    def _validate(self, operation: Operation, request: Request[StateT]) -> None:
        issues: list[Issue] = []
        params = request.params
        for decoder in operation.parameters:
            location = decoder.location
            if location == "query":
                raw = request.query.get(decoder.name)
            elif location == "path":
                value = request.path_params.get(decoder.name)
                raw = None if value is None else [value]
            elif location == "header":
                value = request.headers.get(decoder.name.lower())
                raw = None if value is None else [value]
            else:
                value = _cookie(request.headers.get("cookie", ""), decoder.name)
                raw = None if value is None else [value]
            value = decoder.decode(raw, issues)
            if value is not MISSING:
                params[decoder.name] = value
        if operation.body is not None:
            try:
                request.body = operation.body.decode(request.raw_body, request.content_type,
                                                     lax=self.dialect.lax_json,
                                                     max_depth=self.settings.max_json_depth)
            except RequestInvalid as invalid:
                issues.extend(invalid.issues)
        if issues:
            raise RequestInvalid(issues)

    async def _inject(self, fault: Fault) -> tuple[Response, bool] | None:
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.drop:
            return Response.empty(0), True
        if fault.status is not None:
            message = fault.message or f"Injected fault: status {fault.status}"
            return self.dialect.error(ApiError(fault.status, message)), False
        return None

    async def _call_handler(self, operation: Operation, request: Request[StateT]) -> Response:
        result = operation.handler(request)
        if self._is_async[id(operation)]:
            result = await result
        if isinstance(result, Response):
            return result
        if result is None and operation.success_status == 204:
            return Response.empty(204)
        return Response.json(result, operation.success_status)

    def _checked(self, operation: Operation, response: Response) -> Response:
        """Strict mode: an answer that breaks the spec is the mock's bug, so say so loudly."""
        if not operation.documents(response.status):
            problem = "a status its spec does not document"
        elif response.stream is not None or not response.media_type or "json" not in response.media_type:
            return response
        else:
            validator = operation.response_validator(response.status, response.media_type)
            body = json.loads(response.body) if response.body else None  # big integers stay ints
            issues = validator.issues(body, ("response",)) if validator is not None else []
            if not issues:
                return response
            problem = f"a body that breaks its spec: {issues[:3]}"
        text = f"mockserver: {operation.operation_id} answered {response.status}, {problem}"
        log.error(text)
        return Response.text(text, 500, headers={"x-mockserver-invalid-response": "1"})


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without an answer. uvicorn's receive is a bound method of the request
    cycle, which holds the transport; elsewhere (in-process test clients) start a response and
    abort it, which a client sees as a broken connection too."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.close()
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionAbortedError("fault injection dropped the connection")
