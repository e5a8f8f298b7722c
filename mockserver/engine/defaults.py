"""Filling a request body's absent fields with their schema `default`s, as pydantic does for FastAPI
handlers: handlers, and the answers that echo what was sent, then see the complete objects the real
server's models do. (A pydantic `Optional[...] = None` is `default: null` in the spec.)"""

from __future__ import annotations

import copy
import typing as t

from mockserver.engine.openapi import deref

_MAX_DEPTH = 32


def fill_defaults(value: t.Any, schema: dict[str, t.Any], schemas: dict[str, t.Any]) -> t.Any:
    return _fill(value, schema, schemas, 0)


def _resolve(schema: t.Any, schemas: dict[str, t.Any]) -> dict[str, t.Any]:
    """`schema`, or the component schema its `$ref`s lead to (`{}` when none)."""
    resolved = deref(schema, {"components": {"schemas": schemas}})
    return resolved if isinstance(resolved, dict) else {}


def _fill(value: t.Any, schema: t.Any, schemas: dict[str, t.Any], depth: int) -> t.Any:
    schema = _resolve(schema, schemas)
    if depth > _MAX_DEPTH or value is None:
        return value
    for part in schema.get("allOf", []):
        value = _fill(value, part, schemas, depth + 1)
    branch = _matching_branch(value, schema.get("anyOf", []) + schema.get("oneOf", []), schemas)
    if branch is not None:
        value = _fill(value, branch, schemas, depth + 1)
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name in value:
                value[name] = _fill(value[name], prop, schemas, depth + 1)
                continue
            resolved = _resolve(prop, schemas)
            if "default" in resolved:
                value[name] = copy.deepcopy(resolved["default"])
    elif isinstance(value, list) and "items" in schema:
        value = [_fill(item, schema["items"], schemas, depth + 1) for item in value]
    return value


def _matching_branch(value: t.Any, branches: list[t.Any], schemas: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """The first object (or array) branch for an object (or array) value."""
    wanted = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    if wanted is None:
        return None
    for branch in branches:
        resolved = _resolve(branch, schemas)
        if resolved.get("type") == wanted or (wanted == "object" and "properties" in resolved):
            return resolved
    return None
