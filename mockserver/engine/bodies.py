"""Request bodies: picking the declared media type, decoding it, validating it."""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

from mockserver.engine import jsonlimits
from mockserver.engine.defaults import fill_defaults
from mockserver.engine.issues import Issue, RequestInvalid
from mockserver.engine.jsonlimits import DEFAULT_MAX_DEPTH
from mockserver.engine.lax import lax_value
from mockserver.engine.params import CoercionError, coercer_for
from mockserver.engine.schema import SchemaValidator


@dataclass(slots=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes

    def __len__(self) -> int:
        return len(self.data)


class BodyUnreadable(Exception):
    """A JSON body the parser fails on other than by a syntax error: bytes that are not text in
    any encoding JSON allows, or an integer longer than Python reads (FastAPI answers both with
    its 400)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


class UnsupportedMediaType(Exception):
    def __init__(self, content_type: str, allowed: t.Sequence[str]) -> None:
        self.content_type = content_type
        self.allowed = allowed


def media_kind(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base == "application/json" or base.endswith("+json"):
        return "json"
    if base == "multipart/form-data":
        return "multipart"
    if base == "application/x-www-form-urlencoded":
        return "form"
    if base.startswith("text/"):
        return "text"
    return "binary"


class BodyDecoder:
    """The request body of one operation."""

    def __init__(self, request_body: dict[str, t.Any], components: dict[str, t.Any]) -> None:
        self.components = components
        self.required = bool(request_body.get("required", False))
        self.media: dict[str, tuple[str, dict[str, t.Any], SchemaValidator | None]] = {}
        for content_type, media in (request_body.get("content") or {}).items():
            schema = (media or {}).get("schema")
            validator = SchemaValidator(schema, components) if schema else None
            self.media[content_type.lower()] = (media_kind(content_type), schema or {}, validator)
        self.default_type = next(iter(self.media), "application/json")
        self.field_wise = _is_field_wise(self.media.get(self.default_type, ("", {}, None))[:2])

    def decode(self, raw: bytes, content_type: str, *, lax: bool = False,
               max_depth: int = DEFAULT_MAX_DEPTH) -> t.Any:
        """The decoded body (None when absent and optional); raises RequestInvalid,
        UnsupportedMediaType or BodyUnreadable. `lax`: convert JSON values the way pydantic's lax
        mode does before refusing them. `max_depth`: JSON nested deeper is refused unparsed."""
        if not raw:
            if self.required:
                raise RequestInvalid(self._missing())
            return None
        declared = self._declared(content_type)
        kind, schema, validator = self.media[declared]
        actual = media_kind(content_type) if content_type else kind
        if kind in _FORM_KINDS and actual in _FORM_KINDS:
            kind = actual  # a form is a form: FastAPI reads either encoding for form fields
        if kind == "json":
            value = decode_json(raw, max_depth)
        else:
            value = _DECODERS[kind](raw, content_type or declared, self._resolved(schema))
        if validator is not None and not validator.is_valid(_for_validation(value)):
            # Lax conversion leaves what it cannot convert as sent, so the issues of the converted
            # body are pydantic's: only the values lax mode refuses, with the input as sent.
            value = lax_value(value, schema, self.components) if lax and kind == "json" else value
            issues = validator.issues(_for_validation(value), ("body",))
            if issues:
                raise RequestInvalid(issues)
        if kind == "json" and schema:
            value = fill_defaults(value, schema, self.components)
        return value

    def _resolved(self, schema: dict[str, t.Any]) -> dict[str, t.Any]:
        """The schema itself for a `$ref` to a component (form fields are typed by its properties)."""
        ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
        prefix = "#/components/schemas/"
        if ref.startswith(prefix):
            resolved: dict[str, t.Any] = self.components.get(ref[len(prefix):], schema)
            return resolved
        return schema

    def _missing(self) -> list[Issue]:
        """No body at all. FastAPI reports a body of separate fields (forms, and the `Body_*`
        models it makes for several body parameters) field by field; a single model as a whole."""
        _, schema, validator = self.media[self.default_type]
        if self.field_wise and validator is not None:
            issues = validator.issues({}, ("body",))
            if issues:
                return issues
        return [Issue("missing", ("body",), None)]

    def _declared(self, content_type: str) -> str:
        base = content_type.split(";", 1)[0].strip().lower()
        if media_kind(base) in _FORM_KINDS:
            for declared, (kind, _, _) in self.media.items():
                if kind in _FORM_KINDS:
                    return declared if base not in self.media else base
        if not base:
            # FastAPI reads a body without Content-Type as JSON; most clients that forget the
            # header mean JSON too.
            return "application/json" if "application/json" in self.media else self.default_type
        if base in self.media:
            return base
        major = base.split("/", 1)[0]
        for declared in self.media:
            if declared in ("*/*", f"{major}/*"):
                return declared
        if media_kind(base) == "json":
            for declared, (kind, _, _) in self.media.items():
                if kind == "json":
                    return declared
        raise UnsupportedMediaType(content_type, list(self.media))


_FORM_KINDS = ("form", "multipart")


def _is_field_wise(media: tuple[t.Any, ...]) -> bool:
    kind, schema = media
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    return kind in _FORM_KINDS or ref.rsplit("/", 1)[-1].startswith("Body_")


def decode_json(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> t.Any:
    """A JSON body as FastAPI reads it, with the mock's depth bound (see `jsonlimits`)."""
    # The standard parser, as FastAPI uses: integers of any size stay integers (orjson would turn
    # those past 64 bits into floats), and the error texts are the ones FastAPI reports.
    try:
        return jsonlimits.loads(raw, max_depth)
    except UnicodeDecodeError as error:
        raise BodyUnreadable(error.start, str(error)) from None
    except json.JSONDecodeError as error:
        position = getattr(error, "pos", getattr(error, "start", 0))
        message = getattr(error, "msg", None) or str(error)
        raise RequestInvalid([Issue("json_invalid", ("body", position), {}, {"error": message})]) from None
    except jsonlimits.JsonTooDeep as error:
        # The real servers parse any depth their stack allows and break later (a stored value too
        # deep to save); refusing it up front, as a decode error, is the mock's own choice.
        raise RequestInvalid([Issue("json_invalid", ("body", error.position), {}, {"error": str(error)})]) from None
    except ValueError as error:  # an integer of more than 4,300 digits: json.loads's int() refuses it
        raise BodyUnreadable(0, str(error)) from None


def _decode_text(raw: bytes, content_type: str, schema: dict[str, t.Any]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestInvalid([Issue("string_unicode", ("body",), None)]) from None


def _decode_binary(raw: bytes, content_type: str, schema: dict[str, t.Any]) -> bytes:
    return raw


def _decode_form(raw: bytes, content_type: str, schema: dict[str, t.Any]) -> dict[str, t.Any]:
    from urllib.parse import parse_qsl
    fields: dict[str, list[t.Any]] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        fields.setdefault(key, []).append(value)
    return _typed_fields(fields, schema)


def _decode_multipart(raw: bytes, content_type: str, schema: dict[str, t.Any]) -> dict[str, t.Any]:
    fields = _parse_multipart(raw, content_type)
    return _typed_fields(fields, schema)


def _typed_fields(fields: dict[str, list[t.Any]], schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """Form fields are text; give them the types their schema properties declare."""
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    typed: dict[str, t.Any] = {}
    issues: list[Issue] = []
    for name, values in fields.items():
        prop = properties.get(name, {}) or {}
        if prop.get("type") == "array":
            coerce = coercer_for(prop.get("items", {}) or {})
            typed[name] = [_coerce_field(coerce, v, ("body", name, i), issues) for i, v in enumerate(values)]
        else:
            typed[name] = _coerce_field(coercer_for(prop), values[-1], ("body", name), issues)
    if issues:
        raise RequestInvalid(issues)
    return typed


def _coerce_field(coerce: t.Callable[[str], t.Any], value: t.Any, loc: tuple[t.Any, ...], issues: list[Issue]) -> t.Any:
    if isinstance(value, UploadedFile) or coerce is str:
        return value
    try:
        return coerce(value)
    except CoercionError as error:
        issues.append(Issue(error.kind, loc, value))
        return value


def _parse_multipart(raw: bytes, content_type: str) -> dict[str, list[t.Any]]:
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestInvalid([Issue("value_error", ("body",), None,
                                    {"error": "multipart body without a boundary"})])
    fields: dict[str, list[t.Any]] = {}
    part: dict[str, t.Any] = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, data=bytearray(), header_name=b"", header_value=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["header_name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part["header_value"] += data[start:end]

    def on_header_end() -> None:
        part["headers"][part["header_name"].lower()] = part["header_value"]
        part["header_name"] = part["header_value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["data"] += data[start:end]

    def on_part_end() -> None:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if filename is not None:
            ctype = part["headers"].get(b"content-type", b"application/octet-stream").decode("latin-1")
            value: t.Any = UploadedFile(filename.decode("utf-8", "replace"), ctype, bytes(part["data"]))
        else:
            value = bytes(part["data"]).decode("utf-8", "replace")
        fields.setdefault(name, []).append(value)

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(raw)
        parser.finalize()
    except Exception as error:  # the parser raises its own error types for malformed input
        raise RequestInvalid([Issue("value_error", ("body",), None,
                                    {"error": f"malformed multipart body: {error}"})]) from None
    return fields


def _for_validation(value: t.Any) -> t.Any:
    """Files become placeholder strings so `format: binary` string properties validate."""
    if isinstance(value, dict) and any(isinstance(v, UploadedFile) for v in value.values()):
        return {k: ("<file>" if isinstance(v, UploadedFile) else v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


_DECODERS: dict[str, t.Callable[[bytes, str, dict[str, t.Any]], t.Any]] = {
    "text": _decode_text, "binary": _decode_binary,
    "form": _decode_form, "multipart": _decode_multipart,
}
