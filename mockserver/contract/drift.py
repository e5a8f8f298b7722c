"""`mockserver drift`: how far a hand-written spec has drifted from an upstream OpenAPI document.

Layered so that each part can be read (and tested) alone:

    load        a document from a file or URL: JSON or YAML, OpenAPI 3.0 or 3.1
    normalise   a document -> `Api`: operations keyed by method + path template, `$ref`s
                followed, 3.0's `nullable` and 3.1's `null` type spelled one way
    compare     two `Api`s -> [`Difference`]       (`compare(ours, upstream)` does both steps)
    allow-list  explains differences that are deliberate; unmatched entries are stale
    report      the text table and the JSON result

Each difference has a stable, greppable location ("where"), e.g.
`parameter query.limit: maximum`, `requestBody application/json: required`,
`response 200 application/json: property next_page type`. Descriptions, examples and `x-*`
extensions are never compared.
"""

from __future__ import annotations

import json
import re
import sys
import typing as t
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import urlparse

import yaml

from mockserver.engine.openapi import HTTP_METHODS, RefCycle, follow

ABSENT = "absent"  # an operation, parameter, property, response or content type one side lacks
UNSET = "none"  # a facet (bound, enum, default) one side does not state

_BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
           "minLength", "maxLength", "pattern", "minItems", "maxItems")


class DriftError(Exception):
    """Bad input: a document that cannot be read, or a malformed allow-list. Exit status 2."""


# ================================================================================= load

def load_document(source: str | Path) -> dict:
    """An OpenAPI 3.x document from a file path or an http(s) URL, as JSON or YAML."""
    text = _read(str(source))
    document = _parse(text, str(source))
    version = document.get("openapi") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("3."):
        raise DriftError(f"{source}: not an OpenAPI 3.x document (no `openapi: 3.x` field)")
    if not isinstance(document.get("paths", {}), Mapping):
        raise DriftError(f"{source}: `paths` is not a mapping")
    return document


def _read(source: str) -> str:
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=30) as answer:  # noqa: S310 (http(s) only)
                return answer.read().decode("utf-8")
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DriftError(f"{source}: cannot read: {error}") from error


def _parse(text: str, source: str) -> t.Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML flow style can start with `{` too
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as error:
        raise DriftError(f"{source}: neither JSON nor YAML: {error}") from error


# ================================================================================= normalise

class Document:
    """One document's raw tree and the resolution of its local `$ref`s (engine/openapi.py's)."""

    def __init__(self, raw: Mapping) -> None:
        self.raw = raw

    def deref(self, node: t.Any, seen: frozenset[str] = frozenset()) -> tuple[t.Any, frozenset[str]]:
        """Follow `$ref`s until a node that is not one. Keys beside a `$ref` override the target's
        (3.1 allows them). `seen` is the chain of references followed so far; meeting one of them
        again raises `RefCycle`. A reference into another document is compared by its address."""
        return follow(node, self.raw, seen, missing=_unresolved, siblings=True)

    def node(self, raw: t.Any) -> Mapping:
        """A non-schema object (parameter, request body, response, path item), `$ref` followed."""
        try:
            node, _ = self.deref(raw)
        except RefCycle:
            return {}
        return node if isinstance(node, Mapping) else {}


def _unresolved(ref: str) -> dict:
    return {"$unresolved": ref}


@dataclass(frozen=True)
class Schema:
    """A schema as the comparison sees it: references followed, `allOf` merged, `anyOf`/`oneOf`
    with one non-null member collapsed, and nullability taken out of the type (3.0 `nullable`,
    3.1 `type: [X, "null"]`, `anyOf: [X, {type: "null"}]` and a `null` enum value all mean the same).

    `items` and `properties` stay raw and are normalised on demand, so a large document costs only
    what is compared. `seen` (the chain of references that led here) goes down through `items`,
    where a recursive schema would otherwise never end; property descent starts afresh, and the
    comparison descends into properties only once."""

    doc: Document = field(repr=False, compare=False)
    types: frozenset[str]
    nullable: bool
    enum: tuple[str, ...] | None  # each value as canonical JSON, sorted; null taken out
    bounds: Mapping[str, t.Any]
    default: t.Any
    properties: Mapping[str, t.Any]
    required: frozenset[str]
    raw_items: t.Any
    seen: frozenset[str] = field(repr=False, compare=False)

    @classmethod
    def of(cls, doc: Document, raw: t.Any, seen: frozenset[str] = frozenset()) -> Schema:
        flat, seen = _flatten(doc, raw, seen)
        types, enum, properties = _types(flat), flat.get("enum"), flat.get("properties")
        return cls(
            doc=doc, types=types, nullable=bool(flat.get("$nullable")) or not types,  # any: null too
            enum=tuple(sorted({_canonical(v) for v in enum})) if isinstance(enum, list) else None,
            bounds=_bounds(flat), default=flat.get("default"),
            properties=properties if isinstance(properties, Mapping) else {},
            required=frozenset(r for r in flat.get("required") or () if isinstance(r, str)),
            raw_items=flat.get("items") if "array" in types else None, seen=seen)

    def items(self) -> Schema | None:
        return None if self.raw_items is None else Schema.of(self.doc, self.raw_items, self.seen)

    def member(self, name: str) -> Schema:
        """The schema of property `name`."""
        return Schema.of(self.doc, self.properties[name])

    @property
    def is_object(self) -> bool:
        return bool(self.properties) or self.types == {"object"}


_ANYTHING = Schema(doc=Document({}), types=frozenset(), nullable=True, enum=None, bounds={}, default=None,
                   properties={}, required=frozenset(), raw_items=None, seen=frozenset())  # no schema given

_STRUCTURE = {"type", "properties", "items", "enum", "$union", "$recursive", "$unresolved",
              "additionalProperties"}


def _flatten(doc: Document, raw: t.Any, seen: frozenset[str]) -> tuple[dict, frozenset[str]]:
    """`raw` with references followed and compositions merged, nullability in `$nullable`."""
    try:
        node, seen = doc.deref(raw, seen)
    except RefCycle as cycle:
        return {"$recursive": cycle.ref}, seen
    if not isinstance(node, Mapping):
        return {}, seen  # `true`, `{}`-like or malformed: anything goes
    node = dict(node)
    nullable = node.pop("nullable", False) is True
    nullable |= _take_null_type(node)
    nullable |= _take_null_enum(node)
    if isinstance(node.get("allOf"), list):
        node = _merge_all_of(node, [_flatten(doc, m, seen)[0] for m in node.pop("allOf")])
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            members = [_flatten(doc, m, seen)[0] for m in node.pop(key)]
            others = [m for m in members if not _is_null(m)]
            nullable |= len(others) < len(members) or any(m.get("$nullable") for m in others)
            if len(others) == 1:
                node = {**others[0], **node}
            elif others:
                node["$union"] = others
    if nullable:
        node["$nullable"] = True
    return node, seen


def _take_null_type(node: dict) -> bool:
    kind = node.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        if len(rest) == 1:
            node["type"] = rest[0]
        elif rest:
            node["type"] = rest
        else:
            del node["type"]
        return "null" in kind
    if kind == "null":
        del node["type"]
        return True
    return False


def _take_null_enum(node: dict) -> bool:
    if "const" in node:
        node.setdefault("enum", [node.pop("const")])
    enum = node.get("enum")
    if isinstance(enum, list) and None in enum:
        rest = [v for v in enum if v is not None]
        if rest:
            node["enum"] = rest
        else:
            del node["enum"]
        return True
    return False


def _merge_all_of(node: dict, members: list[dict]) -> dict:
    """`allOf` as one schema: properties and required lists united, other keywords from the first
    member that has them, the node's own keywords winning."""
    merged: dict = {}
    properties: dict = {}
    required: list = []
    for member in members:
        properties.update(member.get("properties") or {})
        required.extend(member.get("required") or ())
        for key, value in member.items():
            if key != "$nullable":
                merged.setdefault(key, value)
    merged.update(node)
    if properties or node.get("properties"):
        merged["properties"] = {**properties, **(node.get("properties") or {})}
    if required or node.get("required"):
        merged["required"] = [*required, *(node.get("required") or ())]
    if members and all(m.get("$nullable") for m in members):
        merged["$nullable"] = True
    return merged


def _is_null(flat: dict) -> bool:
    return bool(flat.get("$nullable")) and not (flat.keys() & _STRUCTURE)


def _types(flat: Mapping) -> frozenset[str]:
    if "$recursive" in flat:
        return frozenset({"recursive"})
    if "$unresolved" in flat:
        return frozenset({f"unresolved {flat['$unresolved']}"})
    kind = flat.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(k for k in kind if isinstance(k, str))
    if "$union" in flat:
        return frozenset().union(*(_types(member) for member in flat["$union"]))
    if "properties" in flat:
        return frozenset({"object"})
    if "items" in flat:
        return frozenset({"array"})
    if isinstance(flat.get("enum"), list):
        return frozenset(_json_type(v) for v in flat["enum"])
    return frozenset()


def _json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "any")


def _bounds(flat: Mapping) -> dict[str, t.Any]:
    """Bounds in the 3.1 spelling: 3.0's boolean `exclusiveMinimum: true` moves `minimum` there."""
    bounds = {key: flat[key] for key in _BOUNDS if key in flat and flat[key] is not None}
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bounds.get(exclusive) is True and inclusive in bounds:
            bounds[exclusive] = bounds.pop(inclusive)
        elif isinstance(bounds.get(exclusive), bool):
            del bounds[exclusive]
    return bounds


def _canonical(value: t.Any) -> str:
    """One spelling per JSON value: sorted keys, `1.0` as `1`, `true` distinct from `1`."""
    def tidy(v: t.Any) -> t.Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, Mapping):
            return {str(k): tidy(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [tidy(x) for x in v]
        return v
    return json.dumps(tidy(value), sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # query, path, header, cookie
    required: bool
    schema: Schema


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # as written in the document, relative to its base path
    operation_id: str | None
    parameters: dict[tuple[str, str], Parameter]  # (location, name; header names lower-cased)
    body_required: bool | None  # None: no request body
    body: dict[str, Schema | None]  # content type -> schema
    responses: dict[str, dict[str, Schema | None]]  # status -> content type -> schema
    security: frozenset[tuple[str, ...]]  # alternatives, each the schemes it needs together

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{([^}]*)\}", self.path)


@dataclass(frozen=True)
class Api:
    base_path: str
    operations: dict[tuple[str, str], Operation]  # (METHOD, path template with `{}` for names)


def normalise(raw: Mapping) -> Api:
    """A document as operations keyed by method and path template (parameter names blanked)."""
    doc = Document(raw)
    operations: dict[tuple[str, str], Operation] = {}
    for path, item in (raw.get("paths") or {}).items():
        item = doc.node(item)
        for method in HTTP_METHODS:
            if isinstance(item.get(method), Mapping):
                operation = _operation(doc, str(path), method, item, item[method])
                key = (operation.method, _template(operation.path))
                operations[key if key not in operations else (operation.method, operation.path)] = operation
    return Api(base_path=_base_path(raw), operations=operations)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _base_path(raw: Mapping) -> str:
    servers = raw.get("servers") or [{}]
    server = servers[0] if isinstance(servers[0], Mapping) else {}
    url = str(server.get("url", "/"))
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str((variable or {}).get("default", "")))
    return urlparse(url).path.rstrip("/")


def _operation(doc: Document, path: str, method: str, item: Mapping, raw: Mapping) -> Operation:
    body = doc.node(raw.get("requestBody")) if "requestBody" in raw else None
    security = raw.get("security", doc.raw.get("security", []))
    return Operation(
        method=method.upper(), path=path,
        operation_id=raw.get("operationId") if isinstance(raw.get("operationId"), str) else None,
        parameters=_parameters(doc, [*(item.get("parameters") or ()), *(raw.get("parameters") or ())]),
        body_required=None if body is None else body.get("required") is True,
        body=_content(doc, body.get("content")) if body is not None else {},
        responses={str(status): _content(doc, doc.node(response).get("content"))
                   for status, response in (raw.get("responses") or {}).items()},
        security=_security(doc, security))


def _parameters(doc: Document, raws: list) -> dict[tuple[str, str], Parameter]:
    """Path-item parameters first, the operation's overriding them (same location and name)."""
    parameters = {}
    for raw in raws:
        node = doc.node(raw)
        name, location = node.get("name"), node.get("in")
        if not isinstance(name, str) or not isinstance(location, str):
            continue
        schema = node.get("schema")
        if schema is None and isinstance(node.get("content"), Mapping) and node["content"]:
            schema = (next(iter(node["content"].values())) or {}).get("schema")
        parameters[_parameter_key(location, name)] = Parameter(
            name=name, location=location, required=node.get("required") is True,
            schema=Schema.of(doc, schema if schema is not None else {}))
    return parameters


def _parameter_key(location: str, name: str) -> tuple[str, str]:
    return location, name.lower() if location == "header" else name


def _content(doc: Document, content: t.Any) -> dict[str, Schema | None]:
    if not isinstance(content, Mapping):
        return {}
    return {_media_type(media): Schema.of(doc, spec["schema"]) if isinstance(spec, Mapping)
            and "schema" in spec else None for media, spec in content.items()}


def _media_type(media: str) -> str:
    return str(media).split(";")[0].strip().lower()


def _security(doc: Document, requirements: t.Any) -> frozenset[tuple[str, ...]]:
    """Security as what a client must send, not the schemes' names: `http bearer`,
    `header x-api-key`. `[]` and `[{}]` both mean anonymous access: the empty tuple."""
    schemes = ((doc.raw.get("components") or {}).get("securitySchemes")) or {}
    alternatives = set()
    for requirement in requirements if isinstance(requirements, list) else []:
        names = requirement.keys() if isinstance(requirement, Mapping) else ()
        alternatives.add(tuple(sorted(_scheme(doc, schemes, name) for name in names)))
    return frozenset(alternatives or {()})


def _scheme(doc: Document, schemes: Mapping, name: str) -> str:
    scheme = doc.node(schemes.get(name))
    kind = scheme.get("type")
    if kind == "http":
        return f"http {str(scheme.get('scheme', '')).lower()}"
    if kind == "apiKey":
        where = scheme.get("in", "")
        key = str(scheme.get("name", ""))
        return f"{where} {key.lower() if where == 'header' else key}"
    return str(kind) if kind else f"undefined scheme {name}"


# ================================================================================= compare

@dataclass(frozen=True)
class Difference:
    operation: str  # "GET /organization/costs" (our path; upstream's if we lack it), or "*"
    operation_id: str | None  # ours, else upstream's
    aspect: str  # server, operation, operationId, security, parameter, requestBody, response
    where: str  # a stable location, e.g. "parameter query.limit: maximum"
    ours: str
    upstream: str


def compare(ours: Mapping, upstream: Mapping) -> list[Difference]:
    """Every difference between two OpenAPI documents (raw, as loaded), ours first."""
    return compare_apis(normalise(ours), normalise(upstream))


def compare_apis(ours: Api, upstream: Api) -> list[Difference]:
    differences = []
    if ours.base_path != upstream.base_path:
        differences.append(Difference("*", None, "server", "server base path",
                                      ours.base_path or "/", upstream.base_path or "/"))
    for key, operation in ours.operations.items():
        theirs = upstream.operations.get(key)
        if theirs is None:
            differences.append(_presence(operation, _id_or_present(operation), ABSENT))
        else:
            differences.extend(compare_operations(operation, theirs))
    for key, theirs in upstream.operations.items():
        if key not in ours.operations:
            differences.append(_presence(theirs, ABSENT, _id_or_present(theirs)))
    return differences


def _id_or_present(operation: Operation) -> str:
    return operation.operation_id or "present"


def _presence(operation: Operation, ours: str, upstream: str) -> Difference:
    return Difference(operation.label, operation.operation_id, "operation", "operation", ours, upstream)


def compare_operations(ours: Operation, upstream: Operation) -> list[Difference]:
    """The differences of one operation both documents have."""
    def found(aspect: str, where: str, mine: str, theirs: str) -> Difference:
        return Difference(ours.label, ours.operation_id or upstream.operation_id, aspect, where, mine, theirs)

    differences = []
    if ours.operation_id != upstream.operation_id:
        differences.append(found("operationId", "operationId", ours.operation_id or UNSET,
                                 upstream.operation_id or UNSET))
    if ours.security != upstream.security:
        differences.append(found("security", "security", _security_text(ours.security - upstream.security),
                                 _security_text(upstream.security - ours.security)))
    for aspect, changes in (("parameter", _parameter_changes(ours, upstream)),
                            ("requestBody", _body_changes(ours, upstream)),
                            ("response", _response_changes(ours, upstream))):
        differences.extend(found(aspect, where, mine, theirs) for where, mine, theirs in changes)
    return differences


Change = tuple[str, str, str]  # where, ours, upstream


def _security_text(alternatives: t.AbstractSet[tuple[str, ...]]) -> str:
    """Each side shows the alternatives only it accepts: `http bearer | anonymous`."""
    return " | ".join(sorted(" + ".join(schemes) or "anonymous" for schemes in alternatives)) or "-"


def _parameter_changes(ours: Operation, upstream: Operation) -> t.Iterator[Change]:
    theirs = dict(upstream.parameters)
    for mine_name, their_name in zip(ours.path_parameters, upstream.path_parameters, strict=False):
        if mine_name != their_name and ("path", their_name) in theirs:
            theirs[("path", mine_name)] = theirs.pop(("path", their_name))
            yield f"parameter path.{mine_name}: name", mine_name, their_name
    for key, mine in ours.parameters.items():
        where = f"parameter {mine.location}.{mine.name}"
        if key not in theirs:
            yield where, _parameter_summary(mine), ABSENT
            continue
        other = theirs[key]
        if mine.required != other.required:
            yield f"{where}: required", _canonical(mine.required), _canonical(other.required)
        yield from _facet_changes(f"{where}: ", facets(mine.schema), facets(other.schema))
    for key, other in theirs.items():
        if key not in ours.parameters:
            yield f"parameter {other.location}.{other.name}", ABSENT, _parameter_summary(other)


def _parameter_summary(parameter: Parameter) -> str:
    return f"{type_label(parameter.schema, nullable=True)}, {'required' if parameter.required else 'optional'}"


def _body_changes(ours: Operation, upstream: Operation) -> t.Iterator[Change]:
    if (ours.body_required is None) != (upstream.body_required is None):
        yield "requestBody", _media_summary(ours.body if ours.body_required is not None else None), \
            _media_summary(upstream.body if upstream.body_required is not None else None)
        return
    if ours.body_required != upstream.body_required:
        yield "requestBody: required", _canonical(ours.body_required), _canonical(upstream.body_required)
    yield from _content_changes("requestBody", ours.body, upstream.body, full=True)


def _response_changes(ours: Operation, upstream: Operation) -> t.Iterator[Change]:
    for status in _union_keys(ours.responses, upstream.responses):
        mine, theirs = ours.responses.get(status), upstream.responses.get(status)
        if mine is None or theirs is None:
            yield f"response {status}", _media_summary(mine), _media_summary(theirs)
        else:
            yield from _content_changes(f"response {status}", mine, theirs, full=False)


def _media_summary(content: Mapping[str, t.Any] | None) -> str:
    """A response or request body by its content types; None: there is none."""
    if content is None:
        return ABSENT
    return ", ".join(content) or "no content"


def _content_changes(where: str, ours: Mapping[str, Schema | None], upstream: Mapping[str, Schema | None],
                     full: bool) -> t.Iterator[Change]:
    for media in _union_keys(ours, upstream):
        if media not in upstream:
            yield f"{where} {media}", "present", ABSENT
        elif media not in ours:
            yield f"{where} {media}", ABSENT, "present"
        else:
            yield from _payload_changes(f"{where} {media}: ", ours[media] or _ANYTHING,
                                        upstream[media] or _ANYTHING, full)


def _payload_changes(prefix: str, ours: Schema, upstream: Schema, full: bool) -> t.Iterator[Change]:
    """A body or response schema: its own facets, then, when both sides are objects, their
    top-level properties (for arrays of objects, the items' properties: `items property ...`).
    Enums, bounds and defaults only when `full` (request bodies)."""
    yield from _facet_changes(prefix, facets(ours, full), facets(upstream, full))
    mine_items, their_items = ours.items(), upstream.items()
    if mine_items and their_items and mine_items.is_object and their_items.is_object:
        yield from _object_changes(f"{prefix}items ", mine_items, their_items, full)
    if ours.is_object and upstream.is_object:
        yield from _object_changes(prefix, ours, upstream, full)


def _object_changes(prefix: str, ours: Schema, upstream: Schema, full: bool) -> t.Iterator[Change]:
    if ours.required != upstream.required:
        yield f"{prefix}required", _names(ours.required - upstream.required), \
            _names(upstream.required - ours.required)
    for name in _union_keys(ours.properties, upstream.properties):
        where = f"{prefix}property {name}"
        if name not in upstream.properties:
            yield where, type_label(ours.member(name), nullable=True), ABSENT
        elif name not in ours.properties:
            yield where, ABSENT, type_label(upstream.member(name), nullable=True)
        else:
            yield from _facet_changes(f"{where} ", facets(ours.member(name), full),
                                      facets(upstream.member(name), full))


def _names(names: t.Iterable[str]) -> str:
    """For required lists, each side shows what only it requires."""
    return ", ".join(sorted(names)) or "-"


def facets(schema: Schema, full: bool = True) -> dict[str, str]:
    """What is compared of one schema, as display text: type and nullability always; enum,
    bounds and default when `full`; the same of array items under `items ...`."""
    found = {"type": " | ".join(sorted(schema.types)) or "any", "nullable": _canonical(schema.nullable)}
    if full:
        if schema.enum is not None:
            found["enum"] = "[" + ", ".join(schema.enum) + "]"
        found.update((bound, _canonical(value)) for bound, value in schema.bounds.items())
        if schema.default is not None:
            found["default"] = _canonical(schema.default)
    item = schema.items()
    if item is not None:
        found.update((f"items {name}", value) for name, value in facets(item, full).items())
    return found


def _facet_changes(prefix: str, ours: Mapping[str, str], upstream: Mapping[str, str]) -> t.Iterator[Change]:
    for name in _union_keys(ours, upstream):
        mine, theirs = ours.get(name, UNSET), upstream.get(name, UNSET)
        if mine != theirs:
            yield f"{prefix}{name}", mine, theirs


def type_label(schema: Schema, nullable: bool = False) -> str:
    """`string`, `array<integer>`, `integer | string`; with `nullable`, `| null` when it is."""
    label = " | ".join(sorted(schema.types)) or "any"
    item = schema.items()
    if schema.types == {"array"} and item is not None:
        label = f"array<{type_label(item, nullable=True)}>"
    return f"{label} | null" if nullable and schema.nullable and schema.types else label


def _union_keys(first: t.Iterable[str], second: t.Iterable[str]) -> list[str]:
    """Keys of both, in first-seen order."""
    return list(dict.fromkeys([*first, *second]))


# ================================================================================= allow-list

@dataclass(frozen=True)
class AllowEntry:
    """One explained difference. `operation` is `*`, an operationId or `METHOD /path` (either may
    be a glob: `usage-*`, `GET /chutes/*`); `where` is a glob on the location string."""

    operation: str
    where: str
    reason: str
    number: int  # 1-based position in the file

    def matches(self, difference: Difference) -> bool:
        return self._operation_matches(difference) and fnmatchcase(difference.where, self.where)

    def _operation_matches(self, difference: Difference) -> bool:
        if self.operation == "*" or fnmatchcase(difference.operation_id or "", self.operation):
            return True
        method, _, path = self.operation.partition(" ")
        return bool(path) and fnmatchcase(difference.operation, f"{method.upper()} {path.strip()}")


def load_allow_list(path: Path) -> list[AllowEntry]:
    """Entries from a YAML file: a list, or a mapping whose `allow` key holds the list. Every entry
    needs `operation`, `where` and a non-empty `reason`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DriftError(f"{path}: cannot read the allow-list: {error}") from error
    except yaml.YAMLError as error:
        raise DriftError(f"{path}: the allow-list is not YAML: {error}") from error
    if isinstance(raw, Mapping) and set(raw) == {"allow"}:
        raw = raw["allow"]
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DriftError(f"{path}: the allow-list must be a list of entries (or `allow:` with one)")
    return [_allow_entry(path, number, entry) for number, entry in enumerate(raw, start=1)]


def _allow_entry(path: Path, number: int, entry: t.Any) -> AllowEntry:
    def fail(problem: str) -> DriftError:
        return DriftError(f"{path}: entry {number}: {problem}")

    if not isinstance(entry, Mapping):
        raise fail("not a mapping of operation, where and reason")
    unknown = set(entry) - {"operation", "where", "reason"}
    if unknown:
        raise fail(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise fail("no reason given; every allowed difference needs one")
    for key in ("operation", "where"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise fail(f"no `{key}` given (use \"*\" for any)")
    return AllowEntry(operation=entry["operation"].strip(), where=entry["where"].strip(),
                      reason=" ".join(reason.split()), number=number)


@dataclass
class Verdict:
    unexplained: list[Difference]
    allowed: list[tuple[Difference, AllowEntry]]
    stale: list[AllowEntry]


def judge(differences: t.Iterable[Difference], entries: t.Sequence[AllowEntry]) -> Verdict:
    """Split differences into unexplained and allowed (by the first matching entry); entries that
    matched nothing are stale."""
    verdict = Verdict(unexplained=[], allowed=[], stale=[])
    used: set[int] = set()
    for difference in differences:
        matching = [entry for entry in entries if entry.matches(difference)]
        used.update(entry.number for entry in matching)
        if matching:
            verdict.allowed.append((difference, matching[0]))
        else:
            verdict.unexplained.append(difference)
    verdict.stale = [entry for entry in entries if entry.number not in used]
    return verdict


# ================================================================================= report

# Column names and the widest a cell may be (longer values are cut with `…`; JSON has them whole).
_COLUMNS = (("operation", 80), ("aspect", 11), ("where", 80), ("ours", 80), ("upstream", 80))


def render_text(verdict: Verdict, counts: Mapping[str, int], header: str) -> str:
    lines = [header, ""]
    if verdict.unexplained:
        lines.append(f"Unexplained differences ({len(verdict.unexplained)}):")
        lines.extend(_table([_row(d) for d in verdict.unexplained]))
    else:
        lines.append("No unexplained differences.")
    if verdict.allowed:
        lines += ["", f"Allowed differences ({len(verdict.allowed)}), by allow-list entry:"]
        lines.extend(_grouped_table(verdict.allowed))
    if verdict.stale:
        lines += ["", f"warning: {len(verdict.stale)} stale allow-list entries (they matched no difference):"]
        lines.extend(f"  entry {e.number}: operation {e.operation!r}, where {e.where!r}: {e.reason}"
                     for e in verdict.stale)
    lines += ["", _summary(verdict, counts)]
    return "\n".join(lines) + "\n"


def _summary(verdict: Verdict, counts: Mapping[str, int]) -> str:
    return (f"drift: {len(verdict.unexplained)} unexplained, {len(verdict.allowed)} allowed, "
            f"{len(verdict.stale)} stale allow-list entries; operations: {counts['ours']} ours, "
            f"{counts['upstream']} upstream, {counts['matched']} matched")


def _row(difference: Difference) -> list[str]:
    return [difference.operation, difference.aspect, difference.where, difference.ours, difference.upstream]


def _table(rows: list[list[str]], widths: list[int] | None = None) -> list[str]:
    widths = widths or _widths(rows)
    rule = "  ".join("-" * w for w in widths)
    head = "  ".join(name.ljust(w) for (name, _), w in zip(_COLUMNS, widths, strict=True))
    return [head.rstrip(), rule, *(_line(row, widths) for row in rows)]


def _widths(rows: list[list[str]]) -> list[int]:
    return [min(limit, max([len(name), *(len(row[i]) for row in rows)]))
            for i, (name, limit) in enumerate(_COLUMNS)]


def _line(row: list[str], widths: list[int]) -> str:
    cells = [cell if len(cell) <= w else cell[: w - 1] + "…" for cell, w in zip(row, widths, strict=True)]
    return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def _grouped_table(allowed: list[tuple[Difference, AllowEntry]]) -> list[str]:
    widths = _widths([_row(d) for d, _ in allowed])
    groups: dict[int, list[Difference]] = {}
    entries: dict[int, AllowEntry] = {}
    for difference, entry in allowed:
        groups.setdefault(entry.number, []).append(difference)
        entries[entry.number] = entry
    lines = _table([], widths)
    for number, differences in groups.items():
        entry = entries[number]
        lines.append(f"[allowed, entry {number}: {entry.reason}]")
        lines.extend(_line(_row(d), widths) for d in differences)
    return lines


def result_canonical(verdict: Verdict, counts: Mapping[str, int], sources: Mapping[str, str | None]) -> dict:
    return {
        **sources,
        "summary": {"unexplained": len(verdict.unexplained), "allowed": len(verdict.allowed),
                    "stale": len(verdict.stale), "operations": dict(counts)},
        "unexplained": [asdict(d) for d in verdict.unexplained],
        "allowed": [{**asdict(d), "allowed": True, "reason": e.reason, "allow_entry": e.number}
                    for d, e in verdict.allowed],
        "stale": [{"entry": e.number, "operation": e.operation, "where": e.where, "reason": e.reason}
                  for e in verdict.stale],
    }


# ================================================================================= command

def spec_path(api: str | None, spec: Path | None) -> Path:
    """`--spec` if given, else `specs/<api>.yaml`."""
    if spec is not None:
        return spec
    from mockserver.engine.resources import specs_dir

    path = specs_dir() / f"{api}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in specs_dir().glob("*.yaml"))
        raise DriftError(f"no spec for API {api!r} ({path}); known: {', '.join(known)}")
    return path


def default_allow_list(spec: Path) -> Path:
    """`specs/openai_usage.yaml` -> `specs/openai_usage.drift-allow.yaml`."""
    return spec.with_name(f"{spec.stem}.drift-allow.yaml")


def run(*, api: str | None, upstream: str, spec: Path | None = None, allow: Path | None = None,
        json_file: Path | None = None, out: t.TextIO | None = None) -> int:
    """The `drift` command: 0 when every difference is explained, 1 otherwise."""
    out = out or sys.stdout
    ours_path = spec_path(api, spec)
    if allow is None and default_allow_list(ours_path).is_file():
        allow = default_allow_list(ours_path)
    entries = load_allow_list(allow) if allow is not None else []
    ours, theirs = normalise(load_document(ours_path)), normalise(load_document(upstream))
    verdict = judge(compare_apis(ours, theirs), entries)
    counts = {"ours": len(ours.operations), "upstream": len(theirs.operations),
              "matched": len(ours.operations.keys() & theirs.operations.keys())}
    header = (f"drift {api or ours_path.stem}: {ours_path} vs {upstream}\n"
              f"allow-list: {allow if allow is not None else 'none'} ({len(entries)} entries)")
    out.write(render_text(verdict, counts, header))
    if json_file is not None:
        sources = {"api": api or ours_path.stem, "ours": str(ours_path), "upstream": str(upstream),
                   "allow_list": str(allow) if allow is not None else None}
        json_file.write_text(json.dumps(result_canonical(verdict, counts, sources), indent=2) + "\n",
                             encoding="utf-8")
    return 1 if verdict.unexplained else 0
