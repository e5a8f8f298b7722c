"""What a document's paths say about its resources, with the user's overrides on top.

A collection is a path whose POST creates, or whose GET lists, what the same path plus one path
parameter (the item path) reads, changes and deletes: `POST /repos/{owner}/{repo}/issues`,
`GET /repos/{owner}/{repo}/issues`, `GET|PATCH|DELETE /repos/{owner}/{repo}/issues/{issue_number}`.
The collection's own path parameters name its parent, so each concrete collection path
(`/repos/octo/hello/issues`) holds its own records and counters.

Overrides, from an override file or the document's `x-mockserver-*` extensions, win:
- on an operation: `x-mockserver-role` (create, read, list, update, delete, static) and
  `x-mockserver-resource` (the collection's path template);
- on a collection (override file `resources:` keyed by collection template, or on its create
  operation): `id-field` (the record field holding the id) and `id` (counter, uuid, slug, body).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from mockserver.engine.openapi import deref, follow, operations

ROLES = ("create", "read", "list", "update", "delete", "static")
ID_KINDS = ("counter", "uuid", "slug", "body")
_PARAM = re.compile(r"^{([^}/]+)}$")


@dataclass
class Resource:
    collection: str  # path template of the collection, as the document writes it
    item: str  # path template of one item
    id_param: str  # the item path's last parameter
    id_field: str  # the record field holding that id
    id_kind: str  # how a created record gets its id: one of ID_KINDS
    operations: dict[str, str] = field(default_factory=dict)  # operation name -> role
    parent: Resource | None = None  # the resource whose item path this collection is under

    @property
    def name(self) -> str:
        statics = [s for s in self.collection.split("/") if s and not _PARAM.match(s)]
        return statics[-1] if statics else self.collection


@dataclass
class Inference:
    resources: list[Resource]
    roles: dict[str, tuple[str, Resource | None]]  # operation name -> (role, its resource)

    def describe(self) -> str:
        """What `mockserver infer` prints."""
        lines = []
        for resource in self.resources:
            under = f"  under {resource.parent.item}" if resource.parent else ""
            lines.append(f"{resource.name}: {resource.collection}  item {resource.item}{under}")
            lines.append(f"  id: {{{resource.id_param}}} -> field {resource.id_field!r} ({resource.id_kind})")
            for name, role in sorted(resource.operations.items(), key=lambda item: ROLES.index(item[1])):
                lines.append(f"  {role:<7} {name}")
        static = sum(1 for role, _ in self.roles.values() if role == "static")
        lines.append(f"{len(self.resources)} resources; {static} other operations answer examples "
                     "or generated bodies")
        return "\n".join(lines)


Namer = t.Callable[[str, str, dict[str, t.Any]], str]


def infer(raw: dict[str, t.Any], name_of: Namer, overrides: dict[str, t.Any] | None = None) -> Inference:
    overrides = overrides or {}
    op_overrides: dict[str, t.Any] = overrides.get("operations") or {}
    res_overrides: dict[str, t.Any] = overrides.get("resources") or {}
    found: dict[str, list[tuple[str, str, dict[str, t.Any]]]] = {}
    for template, method, operation in operations(raw):
        found.setdefault(template, []).append((method, name_of(method, template, operation), operation))
    items = _item_index(found)
    resources: dict[str, Resource] = {}
    roles: dict[str, tuple[str, Resource | None]] = {}
    for template, entries in found.items():
        for method, name, operation in entries:
            role, collection = _role(template, method, items, operation, op_overrides.get(name) or {})
            resource = None
            if role != "static" and collection is not None:
                forced = bool((op_overrides.get(name) or {}).get("role") or operation.get("x-mockserver-role"))
                resource = resources.get(collection) or _new_resource(raw, collection, found, items, res_overrides,
                                                                      forced)
                if resource is None:
                    role = "static"
                else:
                    resources[collection] = resource
                    resource.operations[name] = role
            roles[name] = (role, resource)
    _link_parents(resources)
    return Inference(list(resources.values()), roles)


def _link_parents(resources: dict[str, Resource]) -> None:
    """`/projects/{project_id}/tasks` lives under the item `/projects/{project_id}`: its tasks
    exist only while that project does."""
    for resource in resources.values():
        under = [other for other in resources.values()
                 if other is not resource and resource.collection.startswith(other.item + "/")]
        resource.parent = max(under, key=lambda other: len(other.item), default=None)


def _role(template: str, method: str, items: dict[str, str], operation: dict[str, t.Any],
          override: dict[str, t.Any]) -> tuple[str, str | None]:
    role = override.get("role") or operation.get("x-mockserver-role")
    collection = override.get("resource") or operation.get("x-mockserver-resource")
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"{method.upper()} {template}: x-mockserver-role {role!r} is not one of {ROLES}")
        return role, collection or (_parent(template) if role in ("read", "update", "delete") else template)
    if collection is not None:
        role = _role_by_shape(template, method, collection)
        return role, collection
    parent = _parent(template)
    if parent is not None and items.get(parent) == template:
        return {"get": "read", "put": "update", "patch": "update", "delete": "delete"}.get(method, "static"), parent
    if template in items:
        return {"post": "create", "get": "list"}.get(method, "static"), template
    return "static", None


def _role_by_shape(template: str, method: str, collection: str) -> str:
    if template == collection:
        return {"post": "create", "get": "list"}.get(method, "static")
    return {"get": "read", "put": "update", "patch": "update", "delete": "delete"}.get(method, "static")


def _parent(template: str) -> str | None:
    head, _, last = template.rstrip("/").rpartition("/")
    return head if _PARAM.match(last) and head else None


def _item_index(found: dict[str, t.Any]) -> dict[str, str]:
    """collection template -> its item template: one more path parameter, which a GET reads (a
    path that is only deleted, say, is not enough to call what lives there a resource)."""
    index: dict[str, str] = {}
    for template, entries in found.items():
        parent = _parent(template)
        if parent is not None and parent not in index and any(m == "get" for m, _, _ in entries):
            index[parent] = template
    return index


def _new_resource(raw: dict[str, t.Any], collection: str, found: dict[str, t.Any], items: dict[str, str],
                  res_overrides: dict[str, t.Any], forced: bool) -> Resource | None:
    """A resource when something can create its items (a POST to the collection, a PUT to an
    item) or an override says so: what nothing creates (GitHub's `/users/{username}`) keeps
    answering examples rather than 404 for ever."""
    item = items.get(collection)
    if item is None:
        return None
    creatable = any(m == "post" for m, _, _ in found.get(collection, [])) or any(m == "put" for m, _, _ in found[item])
    if not (creatable or forced or collection in res_overrides):
        return None
    id_param = t.cast(re.Match[str], _PARAM.match(item.rsplit("/", 1)[1])).group(1)
    entries = found[item] + found.get(collection, [])  # the item's GET reads the record: first
    extensions: dict[str, t.Any] = {}
    for _, _, operation in entries:
        extensions.update({k[len("x-mockserver-"):]: v for k, v in operation.items()
                           if k in ("x-mockserver-id-field", "x-mockserver-id")})
    extensions.update(res_overrides.get(collection) or {})
    fields = _record_fields(raw, entries)
    id_field = extensions.get("id-field") or _id_field(id_param, fields)
    id_kind = extensions.get("id") or _id_kind(raw, item, found[item], id_param, fields.get(id_field))
    if id_kind not in ID_KINDS:
        raise ValueError(f"{collection}: id {id_kind!r} is not one of {ID_KINDS}")
    return Resource(collection, item, id_param, id_field, id_kind)


def _record_fields(raw: dict[str, t.Any], entries: list[tuple[str, str, dict[str, t.Any]]]) -> dict[str, t.Any]:
    """The properties of the record the item path reads (its GET's success body)."""
    for _, _, operation in sorted(entries, key=lambda e: e[0] != "get"):
        schema = success_schema(operation, raw)
        if schema is not None:
            props = properties(schema, raw)
            if props:
                return props
    return {}


def success_schema(operation: dict[str, t.Any], raw: dict[str, t.Any]) -> t.Any:
    responses = operation.get("responses") or {}
    for code in sorted(c for c in map(str, responses) if c.startswith("2")):
        content = deref(responses[code], raw).get("content") or {}
        media = next((m for ct, m in content.items() if "json" in ct), None)
        if isinstance(media, dict) and "schema" in media:
            return media["schema"]
    return None


def properties(schema: t.Any, raw: dict[str, t.Any], depth: int = 0) -> dict[str, t.Any]:
    """An object schema's properties, `allOf` parts merged, references followed (not resolved)."""
    try:
        schema = follow(schema, raw)[0]
    except Exception:  # noqa: BLE001 - a reference cycle: no properties to speak of
        return {}
    if not isinstance(schema, dict) or depth > 8:
        return {}
    out = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        out.update(properties(part, raw, depth + 1))
    return out


def _id_field(id_param: str, fields: dict[str, t.Any]) -> str:
    """`issue_number` -> `number`, `petId` -> `id`, `name` -> `name`, else `id`."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", id_param).lower()
    candidates = [id_param, snake]
    if "_" in snake:
        candidates.append(snake.split("_", 1)[1])
        candidates.append(snake.rsplit("_", 1)[1])
    candidates.append("id")
    return next((name for name in candidates if name in fields), "id" if not fields else candidates[-1])


def _id_kind(raw: dict[str, t.Any], item: str, item_entries: list[tuple[str, str, dict[str, t.Any]]],
             id_param: str, field_schema: t.Any) -> str:
    schema: dict[str, t.Any] = {}
    shared = raw["paths"][item].get("parameters") or []
    for parameters in [shared, *(operation.get("parameters") or [] for _, _, operation in item_entries)]:
        for parameter in parameters:
            parameter = deref(parameter, raw)
            if parameter.get("name") == id_param and parameter.get("in") == "path":
                schema = deref(parameter.get("schema") or {}, raw)
    if not schema and field_schema is not None:
        schema = deref(field_schema, raw)
    if schema.get("type") in ("integer", "number"):
        return "counter"
    if schema.get("format") == "uuid":
        return "uuid"
    return "slug"
