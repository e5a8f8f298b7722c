"""The one model of an OpenAPI document every part of mockserver reads specs through: the HTTP
methods of a path item, local `$ref` resolution, and the translation of OpenAPI 3.0 schemas to JSON
Schema draft 4. The engine, `serve --spec`, `mockserver drift` and `mockserver contract` all use
these, so a reference or a keyword means the same thing to each of them.

Pure Python and cheap to import: no validator is compiled here (engine/schema.py does that).
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping
from urllib.parse import unquote

# The operations a Path Item Object may hold, in the order OpenAPI lists them.
HTTP_METHODS: tuple[str, ...] = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Keywords of OpenAPI's Schema Object that JSON Schema draft 4 does not have (or means otherwise).
OPENAPI_ONLY = frozenset({"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs",
                          "example", "deprecated"})


# ================================================================================= references

class RefCycle(Exception):
    """A chain of references that comes back to one of its own references."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


def operations(raw: Mapping[str, t.Any]) -> t.Iterator[tuple[str, str, dict[str, t.Any]]]:
    """Every operation of a document as (path template, lower-case method, operation object)."""
    for template, item in (raw.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield template, method, operation


def lookup(root: t.Any, ref: str) -> tuple[bool, t.Any]:
    """The node a local reference points at, as (found, node). The reference is a URI fragment
    holding a JSON pointer (RFC 6901): percent-decoded, then `~1` is `/` and `~0` is `~`; a token
    indexes a list by its position. A reference into another document is not found."""
    if not ref.startswith("#"):
        return False, None
    fragment = unquote(ref[1:])
    if fragment == "":
        return True, root
    if not fragment.startswith("/"):
        return False, None  # a plain-name fragment ($id anchors): not used by OpenAPI 3.0
    node = root
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def follow(node: t.Any, root: t.Any, seen: frozenset[str] = frozenset(), *,
           missing: t.Callable[[str], t.Any] = lambda ref: {},
           siblings: bool = False) -> tuple[t.Any, frozenset[str]]:
    """Follow `$ref`s from `node` until a node that is not one; returns it with the chain of
    references followed (`seen` included). Meeting a reference of the chain again raises
    `RefCycle`; a reference that points nowhere gives `missing(ref)`.

    `siblings`: keys beside a `$ref` override the target's (OpenAPI 3.1 lets a reference carry
    them). Off, they are ignored, as OpenAPI 3.0 prescribes."""
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str):
            return {}, seen
        if ref in seen:
            raise RefCycle(ref)
        seen = seen | {ref}
        found, target = lookup(root, ref)
        if not found:
            target = missing(ref)
        extra = {key: value for key, value in node.items() if key != "$ref"} if siblings else None
        node = {**target, **extra} if extra and isinstance(target, Mapping) else target
    return node, seen


def deref(node: t.Any, root: t.Any) -> t.Any:
    """`node`, or what its chain of references ends at: `{}` for a reference that points nowhere
    or a chain that loops (request bodies, responses and parameters may be references)."""
    try:
        return follow(node, root)[0]
    except RefCycle:
        return {}


class Resolver:
    """Local `$ref`s replaced by their targets, recursively, memoized across every call on one
    document. Each target is resolved once and shared by every reference to it, so a recursive
    schema becomes a cyclic structure (which the example generator and `to_json_schema` walk
    safely) instead of being cut at some depth. A reference that points nowhere, or only at
    itself, becomes `{}`. A big document is resolved piece by piece as it is asked for."""

    def __init__(self, root: t.Any) -> None:
        self.root = root
        self._done: dict[str, t.Any] = {}

    def __call__(self, node: t.Any) -> t.Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: self(item) for key, item in node.items()}
        if ref in self._done:
            return self._done[ref]
        try:
            target = follow(node, self.root)[0]
        except RefCycle:
            target = {}
        if not isinstance(target, Mapping):
            self._done[ref] = self(target)
            return self._done[ref]
        shell: dict[str, t.Any] = {}
        self._done[ref] = shell  # before descending: a reference back to here gets this very dict
        shell.update((key, self(item)) for key, item in target.items())
        return shell


def resolve_all(value: t.Any, root: t.Any) -> t.Any:
    """`value` with every local `$ref` replaced by its target (see `Resolver`)."""
    return Resolver(root)(value)


# ================================================================================= schemas

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SUBSCHEMA_ONE = ("items", "not", "additionalProperties", "additionalItems")
_SUBSCHEMA_LISTS = ("allOf", "oneOf", "anyOf")


class Bound(t.NamedTuple):
    value: float
    exclusive: bool


def lower_bound(schema: Mapping[str, t.Any]) -> Bound | None:
    return _bound(schema, "minimum", "exclusiveMinimum", max)


def upper_bound(schema: Mapping[str, t.Any]) -> Bound | None:
    return _bound(schema, "maximum", "exclusiveMaximum", min)


def _bound(schema: Mapping[str, t.Any], inclusive_key: str, exclusive_key: str,
           tighter: t.Callable[..., t.Any]) -> Bound | None:
    """OpenAPI 3.0's boolean `exclusiveMinimum` qualifies `minimum`; 3.1's numeric one is a bound
    of its own. Both are accepted, as documents in the wild mix them."""
    value = schema.get(inclusive_key)
    flag = schema.get(exclusive_key)
    candidates: list[Bound] = []
    if _is_number(value):
        candidates.append(Bound(value, flag is True))
    if _is_number(flag):
        candidates.append(Bound(flag, True))
    if not candidates:
        return None
    best = tighter(b.value for b in candidates)
    return Bound(best, any(b.exclusive for b in candidates if b.value == best))


def _is_number(value: object) -> t.TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def to_json_schema(schema: t.Any, *, direction: str | None = None) -> t.Any:
    """Translate an OpenAPI 3.0 Schema Object to JSON Schema draft 4.

    - OpenAPI's own keywords and `x-` extensions go (only where they are keywords: a property
      may be called `example`);
    - `nullable: true` admits null (into `type`, and into an `enum`);
    - bounds are draft 4's (a 3.1-style numeric `exclusiveMinimum` becomes `minimum` + `true`);
    - `direction` "request" leaves readOnly properties out of `required`, "response" writeOnly
      ones, as OpenAPI prescribes (None: neither);
    - `$ref`s are kept as they are (resolve them against the translated document), and a schema
      that contains itself (a resolved recursive schema) becomes a `$ref` into `definitions`.
    """
    hidden_flag = {"request": "readOnly", "response": "writeOnly"}.get(direction or "")
    names: dict[int, str] = {}
    done: dict[int, t.Any] = {}
    active: set[int] = set()
    definitions: dict[str, t.Any] = {}

    def convert(node: t.Any) -> t.Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        key = id(node)
        if key in active:
            name = names.setdefault(key, f"s{len(names)}")
            return {"$ref": f"#/definitions/{name}"}
        if key in done:
            return done[key]
        active.add(key)
        out = _translate_keywords(node, convert, hidden_flag)
        active.discard(key)
        done[key] = out
        if key in names:
            definitions[names[key]] = out
        return out

    top = convert(schema)
    if definitions:
        return {"definitions": definitions, "allOf": [top]}
    return top


def _translate_keywords(node: Mapping[str, t.Any], convert: t.Callable[[t.Any], t.Any],
                        hidden_flag: str | None) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    for key, value in node.items():
        if key in OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_ONE or (key in _SUBSCHEMA_LISTS and isinstance(value, list)):
            out[key] = convert(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            continue  # below: draft 4 needs them boolean and next to their bound
        else:
            out[key] = value  # enum, default, const...: values, not schemas
    for inclusive_key, exclusive_key, bound in (("minimum", "exclusiveMinimum", lower_bound),
                                                ("maximum", "exclusiveMaximum", upper_bound)):
        found = bound(node)
        if found is not None:
            out[inclusive_key] = found.value
            if found.exclusive:
                out[exclusive_key] = True
    if hidden_flag and isinstance(node.get("properties"), Mapping) and isinstance(node.get("required"), list):
        hidden = {name for name, prop in node["properties"].items()
                  if isinstance(prop, Mapping) and prop.get(hidden_flag)}
        out["required"] = [name for name in node["required"] if name not in hidden]
        if not out["required"]:
            del out["required"]
    if node.get("nullable"):
        return _allow_null(out)
    return out


def _allow_null(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    if isinstance(schema.get("type"), str):
        schema = {**schema, "type": [schema["type"], "null"]}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [{"type": "null"}, schema]}
