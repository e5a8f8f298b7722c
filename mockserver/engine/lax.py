"""Pydantic v2's lax mode for JSON bodies: the conversions a FastAPI server makes before it
validates, so a value the real server accepts is not a 422 here.

From JSON, pydantic's lax mode turns numeric strings into integers and floats (`"30"` for an int or
an enum of ints), integral floats into integers (`30.0`), and `0`/`1` or its words (`"true"`, `"off"`,
`"yes"`...) into booleans. It never turns a number into a string. The engine asks for this only
after a body failed strict validation, so valid bodies pass untouched and at no cost.
"""

from __future__ import annotations

import math
import re
import typing as t

from mockserver.engine.defaults import _resolve
from mockserver.engine.jsonlimits import int_text, is_oversized_int_text

_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_MAX_DEPTH = 64


def _to_int(value: t.Any) -> t.Any:
    if isinstance(value, str) and _INTEGER.match(value):
        # Past 4,300 digits stays text: validation then reports pydantic's `int_parsing_size`.
        return value if is_oversized_int_text(value) else int_text(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _to_float(value: t.Any) -> t.Any:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _to_bool(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return value


def _scalar(value: t.Any, schema: dict[str, t.Any]) -> t.Any:
    kind = schema.get("type")
    enum = schema.get("enum")
    if kind == "integer" or (kind is None and enum and all(type(e) is int for e in enum)):
        return _to_int(value)
    if kind == "number":
        return _to_float(value)
    if kind == "boolean":
        return _to_bool(value)
    return value


_JSON_TYPES = {str: ("string",), bool: ("boolean",), int: ("integer", "number"), float: ("number",),
               dict: ("object",), list: ("array",)}


def _same_type(value: t.Any, schema: dict[str, t.Any]) -> bool:
    kind = schema.get("type")
    if kind is None:
        return isinstance(value, dict) and "properties" in schema
    return kind in _JSON_TYPES.get(type(value), ())


def lax_value(value: t.Any, schema: t.Any, schemas: dict[str, t.Any], depth: int = 0) -> t.Any:
    """`value` with pydantic's lax conversions applied where `schema` asks for another type
    (a new object; the input is not changed)."""
    schema = _resolve(schema, schemas)
    if depth > _MAX_DEPTH or value is None:
        return value
    for part in schema.get("allOf", []):
        value = lax_value(value, part, schemas, depth + 1)
    branches = [_resolve(branch, schemas) for branch in schema.get("anyOf", []) + schema.get("oneOf", [])]
    if branches:
        # Pydantic's smart unions take a member of the value's own type before converting.
        exact = [branch for branch in branches if _same_type(value, branch)]
        for branch in exact or branches:
            converted = lax_value(value, branch, schemas, depth + 1)
            if converted is not value or exact:
                return converted
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, dict) else None
        changed = {}
        for name, item in value.items():
            prop = properties.get(name, extra)
            converted = item if prop is None else lax_value(item, prop, schemas, depth + 1)
            if converted is not item:
                changed[name] = converted
        return {**value, **changed} if changed else value
    if isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return value
        converted = [lax_value(item, items, schemas, depth + 1) for item in value]
        return converted if any(a is not b for a, b in zip(converted, value, strict=True)) else value
    return _scalar(value, schema)
