"""Errors in the document's own words: an operation that documents a JSON body for a 4xx status
answers that status with a body of that schema (its example, else generated), its message fields
saying what went wrong. Statuses the operation does not document keep the fallback dialect
(`--spec-dialect`), as before.
"""

from __future__ import annotations

import typing as t
from http import HTTPStatus

from mockserver.engine.dialects import Dialect
from mockserver.engine.http import Response
from mockserver.engine.issues import ApiError, Issue
from mockserver.engine.spec import Operation

_MESSAGE_FIELDS = ("message", "detail", "error_description", "error")
_VALIDATION_STATUSES = (422, 400)


class SpecDialect(Dialect):
    """The fallback dialect, per operation replaced where the document says otherwise."""

    def __init__(self, base: Dialect, error_body: t.Callable[[Operation, int], t.Any]) -> None:
        self.base = base
        self.name = base.name
        self.lax_json = base.lax_json
        self.validation_status = base.validation_status
        self.allow_header_on_405 = base.allow_header_on_405
        self._error_body = error_body
        self._by_operation: dict[int, Dialect] = {}

    def for_operation(self, operation: t.Any) -> Dialect:
        found = self._by_operation.get(id(operation))
        if found is None:
            found = self._by_operation[id(operation)] = _OperationDialect(self.base, operation, self._error_body)
        return found

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        return self.base.validation_error(issues)

    def error(self, error: ApiError) -> Response:
        return self.base.error(error)

    def not_found(self, method: str, path: str) -> Response:
        return self.base.not_found(method, path)

    def method_not_allowed(self, method: str, path: str, allowed: t.Iterable[str]) -> Response:
        return self.base.method_not_allowed(method, path, allowed)


class _OperationDialect(Dialect):
    def __init__(self, base: Dialect, operation: Operation, error_body: t.Callable[[Operation, int], t.Any]) -> None:
        self.base = base
        self.operation = operation
        self.name = base.name
        self.lax_json = base.lax_json
        self.allow_header_on_405 = base.allow_header_on_405
        self._error_body = error_body
        responses = operation.definition.get("responses") or {}
        documented = ([s for s in _VALIDATION_STATUSES if str(s) in responses and error_body(operation, s)] or
                      [s for s in _VALIDATION_STATUSES if error_body(operation, s) is not None])
        self.validation_status = documented[0] if documented else base.validation_status

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        body = self._error_body(self.operation, self.validation_status)
        if body is None:
            return self.base.validation_error(issues)
        message = "; ".join(_describe(issue) for issue in issues) or "Validation Failed"
        return Response.json(_with_message(body, message, self.validation_status), self.validation_status)

    def error(self, error: ApiError) -> Response:
        body = self._error_body(self.operation, error.status) if 400 <= error.status < 500 else None
        if body is None:
            return self.base.error(error)
        return Response.json(_with_message(body, error.message, error.status), error.status, dict(error.headers))

    def unreadable_body(self, position: int, message: str) -> Response:
        return self.error(ApiError(400, f"Request body is not valid JSON: {message}"))

    def unsupported_media_type(self, content_type: str, allowed: t.Iterable[str], body: bytes) -> Response:
        return self.error(ApiError(415, f"Unsupported Media Type: {content_type or 'none'}"))


def _describe(issue: Issue) -> str:
    where = ".".join(str(part) for part in issue.loc)
    from mockserver.engine.dialects import pydantic_message

    return f"{where}: {pydantic_message(issue)}"


def _with_message(body: t.Any, message: str, status: int) -> t.Any:
    """The body saying what went wrong: its message field (`message`, `detail`...: top level, or
    one level down as in `{"error": {...}}`) the message, a `title` the status's phrase (RFC 9457's
    problem details), a numeric `status` or `code` the status. Fields of other types stay as generated."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    worded = False
    for name in _MESSAGE_FIELDS:
        if isinstance(out.get(name), str) and not worded:
            out[name] = message
            worded = True
    if isinstance(out.get("title"), str):
        out["title"] = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else message
        worded = True
    for name in ("status", "code"):
        if isinstance(out.get(name), int) and not isinstance(out[name], bool):
            out[name] = status
        elif name == "status" and isinstance(out.get(name), str):
            out[name] = str(status)  # GitHub's basic-error says "404"
    if not worded:
        for key, value in out.items():
            if isinstance(value, dict) and any(isinstance(value.get(n), str) for n in (*_MESSAGE_FIELDS, "title")):
                out[key] = _with_message(value, message, status)
                break
    return out
