"""Turning the strings of a query, path, header or form into typed, validated values."""

from __future__ import annotations

import math
import re
import typing as t

from mockserver.engine.issues import Issue
from mockserver.engine.jsonlimits import IntTooLong, int_text
from mockserver.engine.schema import SchemaValidator

MISSING: t.Any = object()

_INTEGER = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


class CoercionError(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def _to_int(text: str) -> int:
    # Integer literals only: "1e3" or "1.0" are refused, as pydantic refuses them; past 4,300
    # digits pydantic says `int_parsing_size` (and int() would raise).
    if not _INTEGER.match(text.strip()):
        raise CoercionError("int_parsing")
    try:
        return int_text(text)
    except IntTooLong:
        raise CoercionError("int_parsing_size") from None


def _to_float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise CoercionError("float_parsing") from None
    if not math.isfinite(number):
        raise CoercionError("finite_number")
    return number


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CoercionError("bool_parsing")


_COERCERS: dict[str, t.Callable[[str], t.Any]] = {
    "integer": _to_int, "number": _to_float, "boolean": _to_bool,
}


def coercer_for(schema: dict[str, t.Any]) -> t.Callable[[str], t.Any]:
    """String → value for a scalar schema (strings and unknown types are kept as text)."""
    enum = schema.get("enum")
    if "type" not in schema and enum and all(type(value) is int for value in enum):
        return _to_int  # an enum of integers (an IntEnum in pydantic) takes integer text
    return _COERCERS.get(schema.get("type", "string"), str)


class ParameterDecoder:
    """One declared parameter: finds its raw value(s), coerces, validates, applies the default."""

    __slots__ = ("name", "location", "required", "default", "is_array", "explode", "delimiter",
                 "schema", "_coerce", "_validator", "_loc")

    def __init__(self, definition: dict[str, t.Any]) -> None:
        schema = definition.get("schema", {}) or {}
        self.schema = schema
        self.name: str = definition["name"]
        self.location: str = definition["in"]
        self.required: bool = bool(definition.get("required", self.location == "path"))
        self.default = schema.get("default", MISSING)
        self.is_array = schema.get("type") == "array"
        style = definition.get("style", "simple" if self.location in ("path", "header") else "form")
        self.explode = definition.get("explode", style == "form")
        self.delimiter = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        item_schema = schema.get("items", {}) if self.is_array else schema
        self._coerce = coercer_for(item_schema or {})
        self._validator = SchemaValidator(schema) if schema else None
        self._loc = (self.location, self.name)

    def decode(self, raw: list[str] | None, issues: list[Issue]) -> t.Any:
        if not raw:
            if self.required:
                issues.append(Issue("missing", self._loc, None))
            return MISSING if self.default is MISSING else self.default
        if self.is_array:
            texts = raw if self.explode else raw[-1].split(self.delimiter)
            value = []
            for index, text in enumerate(texts):
                try:
                    value.append(self._coerce(text))
                except CoercionError as error:
                    issues.append(Issue(error.kind, self._loc + (index,), text))
                    return MISSING
        else:
            text = raw[-1]
            try:
                value = self._coerce(text)
            except CoercionError as error:
                issues.append(Issue(error.kind, self._loc, text))
                return MISSING
        if self._validator is not None and not self._validator.is_valid(value):
            issues.extend(self._validator.issues(value, self._loc))
            return MISSING
        return value
