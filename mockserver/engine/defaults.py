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


# id(schema) -> (schema, whether a value of it can gain a default anywhere): a body of 10,000
# objects whose schema has no default at all is then left as it is instead of walked field by field.
# Bounded: it keeps the schemas it names alive, and a test session loads specs again and again.
_MAY_FILL: dict[int, tuple[t.Any, bool]] = {}
_MAY_FILL_LIMIT = 20_000


def _may_fill(schema: dict[str, t.Any], schemas: dict[str, t.Any], busy: frozenset[int] = frozenset()) -> bool:
    """Whether some property at or below `schema` (resolved) has a default. A schema met again
    inside itself (a cycle) counts as yes, so no answer is ever wrongly no."""
    key = id(schema)
    cached = _MAY_FILL.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    if key in busy:
        return True
    busy = busy | {key}
    properties = [_resolve(prop, schemas) for prop in (schema.get("properties") or {}).values()]
    parts = [*properties, *(_resolve(part, schemas) for part in
                            [*schema.get("allOf", []), *schema.get("anyOf", []), *schema.get("oneOf", [])])]
    if "items" in schema:
        parts.append(_resolve(schema["items"], schemas))
    found = any("default" in prop for prop in properties) or any(_may_fill(part, schemas, busy) for part in parts)
    if len(_MAY_FILL) >= _MAY_FILL_LIMIT:
        _MAY_FILL.clear()
    _MAY_FILL[key] = (schema, found)
    return found


def _resolve(schema: t.Any, schemas: dict[str, t.Any]) -> dict[str, t.Any]:
    """`schema`, or the component schema its `$ref`s lead to (`{}` when none)."""
    resolved = deref(schema, {"components": {"schemas": schemas}})
    return resolved if isinstance(resolved, dict) else {}


def _fill(value: t.Any, schema: t.Any, schemas: dict[str, t.Any], depth: int) -> t.Any:
    schema = _resolve(schema, schemas)
    if depth > _MAX_DEPTH or value is None or not _may_fill(schema, schemas):
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
