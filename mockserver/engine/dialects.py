"""Error dialects: how each emulated API words an error.

Validation and framework errors (bad parameters, bad JSON, unknown path, wrong method, oversized
body) are produced by the engine, but a client must see them exactly as the real server would
write them, so each pack names the dialect it speaks.
"""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Response
from mockserver.engine.issues import ApiError, Issue

_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": "Field required",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_type": "Input should be a valid integer",
    "int_parsing_size": "Unable to parse input string as an integer, exceeded maximum size",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "float_type": "Input should be a valid number",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
    "bool_type": "Input should be a valid boolean",
    "string_type": "Input should be a valid string",
    "list_type": "Input should be a valid list",
    "dict_type": "Input should be a valid dictionary",
    "model_attributes_type": "Input should be a valid dictionary or object to extract fields from",
    "greater_than_equal": "Input should be greater than or equal to {ge}",
    "greater_than": "Input should be greater than {gt}",
    "less_than_equal": "Input should be less than or equal to {le}",
    "less_than": "Input should be less than {lt}",
    "multiple_of": "Input should be a multiple of {multiple_of}",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "enum": "Input should be {expected}",
    "literal_error": "Input should be {expected}",
    "model_type": "Input should be a valid dictionary or instance of {class_name}",
    "finite_number": "Input should be a finite number",
    "none_required": "Input should be None",
    "json_invalid": "JSON decode error",
    "extra_forbidden": "Extra inputs are not permitted",
    "value_error": "Value error, {error}",
    "uuid_parsing": "Input should be a valid UUID, {error}",
    "union_tag_invalid": "Input tag '{tag}' found using {discriminator} does not match any of the expected tags: "
                         "{expected_tags}",
    "union_tag_not_found": "Unable to extract tag using discriminator {discriminator}",
}


def pydantic_message(issue: Issue) -> str:
    ctx = issue.ctx or {}
    if issue.kind in ("string_too_short", "string_too_long"):
        bound = ctx.get("min_length", ctx.get("max_length"))
        which = "least" if issue.kind == "string_too_short" else "most"
        return f"String should have at {which} {bound} character{'' if bound == 1 else 's'}"
    if issue.kind in ("too_short", "too_long"):
        bound = ctx.get("min_length", ctx.get("max_length"))
        which = "least" if issue.kind == "too_short" else "most"
        return (f"List should have at {which} {bound} item{'' if bound == 1 else 's'} "
                f"after validation, not {ctx.get('actual_length')}")
    template = _PYDANTIC_MESSAGES.get(issue.kind, issue.kind.replace("_", " "))
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


class Dialect:
    """Base dialect; subclasses override what their API words differently."""

    name = "base"
    validation_status = 400
    lax_json = False  # convert JSON body values as pydantic's lax mode does before refusing them
    allow_header_on_405 = True

    def for_operation(self, operation: t.Any) -> "Dialect":
        """The dialect errors of this matched operation are worded in (one per API here; a
        `serve --spec` world answers in each operation's documented error schema)."""
        return self

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        raise NotImplementedError

    def error(self, error: ApiError) -> Response:
        raise NotImplementedError

    def not_found(self, method: str, path: str) -> Response:
        return self.error(ApiError(404, "Not Found"))

    def method_not_allowed(self, method: str, path: str, allowed: t.Iterable[str]) -> Response:
        response = self.error(ApiError(405, "Method Not Allowed"))
        if self.allow_header_on_405:
            response.headers["allow"] = ", ".join(sorted(allowed))
        return response

    def unreadable_body(self, position: int, message: str) -> Response:
        """A JSON body that is not UTF-8 (or -16/-32) text."""
        return self.validation_error([Issue("json_invalid", ("body", position), {}, {"error": message})])

    def payload_too_large(self, limit: int) -> Response:
        return self.error(ApiError(413, f"Request body exceeds the limit of {limit} bytes"))

    def request_timeout(self, seconds: float) -> Response:
        """A body that did not arrive in time; the connection is closed after this answer."""
        return self.error(ApiError(408, f"Request body not received within {seconds:g} s",
                                   headers={"connection": "close"}))

    def unsupported_media_type(self, content_type: str, allowed: t.Iterable[str], body: bytes) -> Response:
        return self.error(ApiError(415, f"Unsupported Media Type: {content_type or 'none'}"))

    def internal_error(self) -> Response:
        return Response.text("Internal Server Error", 500)


class FastAPIDialect(Dialect):
    """FastAPI + pydantic v2, as Chutes and InvokeAI answer."""

    name = "fastapi"
    validation_status = 422
    lax_json = True  # pydantic v2 validates request bodies in lax mode

    def unreadable_body(self, position: int, message: str) -> Response:
        # FastAPI turns any failure to read the body other than a JSONDecodeError into this 400.
        return self.error(ApiError(400, "There was an error parsing the body"))

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        return Response.json({"detail": [self.issue_body(issue) for issue in issues]}, 422)

    @staticmethod
    def issue_body(issue: Issue) -> dict[str, t.Any]:
        body = {"type": issue.kind, "loc": list(issue.loc), "msg": pydantic_message(issue),
                "input": issue.input}
        if issue.ctx and issue.kind not in ("missing",):
            body["ctx"] = {k: v for k, v in issue.ctx.items() if k != "actual_length"} or None
            if issue.kind == "value_error":
                body["ctx"] = {"error": {}}  # the exception object, which FastAPI's encoder shows as {}
            if body["ctx"] is None:
                del body["ctx"]
        return body

    def error(self, error: ApiError) -> Response:
        detail = error.fields.get("detail", error.message)
        return Response.json({"detail": detail}, error.status, dict(error.headers))

    def unsupported_media_type(self, content_type: str, allowed: t.Iterable[str], body: bytes) -> Response:
        # FastAPI doesn't refuse a content type: it hands the raw text to the model, which fails.
        text = body.decode("utf-8", "replace")
        return self.validation_error([Issue("model_attributes_type", ("body",), text)])


class FastAPIStaticMountDialect(FastAPIDialect):
    """A FastAPI app with a catch-all `StaticFiles` mount at `/` (InvokeAI serves its web UI so).
    Starlette hands a request no route takes in full (unknown path, or known path and another
    method) to the mount: it refuses any method but GET/HEAD with a 405 naming no methods, and
    answers a GET/HEAD of a file it does not have with a 404."""

    name = "fastapi+static"
    allow_header_on_405 = False
    _STATIC_METHODS = frozenset({"GET", "HEAD"})

    def not_found(self, method: str, path: str) -> Response:
        if method.upper() in self._STATIC_METHODS:
            return super().not_found(method, path)
        return self.error(ApiError(405, "Method Not Allowed"))

    def method_not_allowed(self, method: str, path: str, allowed: t.Iterable[str]) -> Response:
        if method.upper() in self._STATIC_METHODS:
            return self.not_found(method, path)
        return self.error(ApiError(405, "Method Not Allowed"))


class OpenAIDialect(Dialect):
    """OpenAI: `{"error": {"message", "type", "param", "code"}}`, bad requests are 400."""

    name = "openai"
    validation_status = 400

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        # OpenAI reports the first problem only.
        issue = issues[0]
        message, code = self.describe(issue)
        return self.error(ApiError(400, message, param=issue.param, code=code))

    def error(self, error: ApiError) -> Response:
        status = error.status
        default_type = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {
            "message": error.message,
            "type": error.fields.get("type", default_type),
            "param": error.fields.get("param"),
            "code": error.fields.get("code"),
        }}
        return Response.json(body, status, dict(error.headers))

    def not_found(self, method: str, path: str) -> Response:
        return self.error(ApiError(404, f"Invalid URL ({method} {path})"))

    def method_not_allowed(self, method: str, path: str, allowed: t.Iterable[str]) -> Response:
        response = self.error(ApiError(405, f"Invalid method for URL ({method} {path})"))
        response.headers["allow"] = ", ".join(sorted(allowed))
        return response

    def internal_error(self) -> Response:
        return self.error(ApiError(
            500, "The server had an error while processing your request. Sorry about that!"))

    @staticmethod
    def describe(issue: Issue) -> tuple[str, str | None]:
        """OpenAI's wording for one issue, and its `code`."""
        name = issue.param or "body"
        ctx = issue.ctx or {}
        got = issue.input
        kind = issue.kind
        if kind == "missing":
            return f"Missing required parameter: '{name}'.", "missing_required_parameter"
        if kind.endswith("_parsing") or kind.endswith("_type"):
            expected = {"int": "an integer", "float": "a number", "bool": "a boolean",
                        "string": "a string", "list": "an array", "dict": "an object",
                        "model": "an object"}.get(kind.split("_")[0], "a valid value")
            return (f"Invalid type for '{name}': expected {expected}, but got {_shown(got)} instead.",
                    "invalid_type")
        if kind == "enum":
            return (f"Invalid value: {_shown(got)}. Supported values are: {_openai_list(ctx)}.",
                    "invalid_value")
        if kind in ("greater_than_equal", "greater_than"):
            bound = ctx.get("ge", ctx.get("gt"))
            op = ">=" if kind == "greater_than_equal" else ">"
            return (f"Invalid '{name}': integer below minimum value. Expected a value {op} {bound}, "
                    f"but got {got} instead.", "integer_below_min_value")
        if kind in ("less_than_equal", "less_than"):
            bound = ctx.get("le", ctx.get("lt"))
            op = "<=" if kind == "less_than_equal" else "<"
            return (f"Invalid '{name}': integer above maximum value. Expected a value {op} {bound}, "
                    f"but got {got} instead.", "integer_above_max_value")
        if kind == "json_invalid":
            return ("We could not parse the JSON body of your request. (HINT: This likely means you "
                    "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                    "but what was sent was not valid JSON.)", None)
        return f"Invalid value for '{name}': {pydantic_message(issue)}.", "invalid_value"


def _shown(value: t.Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _openai_list(ctx: dict[str, t.Any]) -> str:
    # pydantic's "'a', 'b' or 'c'" becomes OpenAI's "'a', 'b', and 'c'".
    text = ctx.get("expected", "")
    head, sep, tail = text.rpartition(" or ")
    return f"{head}, and {tail}" if sep else text


class ControlDialect(Dialect):
    """The control plane's own: `{"error": {"status", "message", "issues"}}`."""

    name = "control"
    validation_status = 400

    def validation_error(self, issues: t.Sequence[Issue]) -> Response:
        body = {"error": {"status": 400, "message": "Invalid request",
                          "issues": [FastAPIDialect.issue_body(issue) for issue in issues]}}
        return Response.json(body, 400)

    def error(self, error: ApiError) -> Response:
        return Response.json({"error": {"status": error.status, "message": error.message}},
                             error.status, dict(error.headers))


DIALECTS: dict[str, Dialect] = {d.name: d for d in (FastAPIDialect(), FastAPIStaticMountDialect(), OpenAIDialect(),
                                                    ControlDialect())}
