"""The handlers of a spec world: create, read, list, update and delete inferred resources; any
other operation answers its example or a generated body, as Prism does."""

from __future__ import annotations

import re
import typing as t
import uuid

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.specworld.bodies import Bodies, fresh, object_properties
from mockserver.specworld.infer import Inference, Resource
from mockserver.specworld.store import WorldStore

Handler = t.Callable[[Request[t.Any]], Response]
_PARAM = re.compile(r"{([^}/]+)}")
_PAGE_SIZES = ("per_page", "page_size", "limit", "pageSize", "perPage")
_TOTALS = ("total_count", "total", "count", "totalCount")
_NOT_FILTERS = frozenset({"page", "per_page", "page_size", "limit", "offset", "sort", "direction", "order",
                          "since", "before", "after", "cursor", "q", "pageSize", "perPage"})


class World:
    def __init__(self, bodies: Bodies, inference: Inference) -> None:
        self.bodies = bodies
        self.inference = inference

    def handler(self, name: str, method: str, template: str, operation: dict[str, t.Any]) -> Handler:
        role, resource = self.inference.roles.get(name, ("static", None))
        if resource is None or role == "static":
            return self._static(name, operation)
        status = _success_status(operation)
        make = {"create": self._create, "read": self._read, "list": self._list,
                "update": self._update, "delete": self._delete}[role]
        handler = make(name, operation, resource, status, method)
        if resource.parent is None:
            return handler

        def under_parent(request: Request[WorldStore]) -> Response:
            _require_parents(request, resource)
            return handler(request)
        return under_parent

    # ------------------------------------------------------------------------ static

    def _static(self, name: str, operation: dict[str, t.Any]) -> Handler:
        status = _success_status(operation)
        answered: list[tuple[str | None, t.Any]] = []  # the body depends only on (seed, operation): made once

        def answer(request: Request[t.Any]) -> Response:
            if not answered:
                media_type, media = self.bodies.media(operation, status)
                answered.append((media_type, None if media_type is None else
                                 self.bodies.example_or_generated(media, name)))
            media_type, body = answered[0]
            if media_type is None:
                return Response.empty(status)
            return _respond(media_type, body, status)
        return answer

    # ------------------------------------------------------------------------ resources

    def _create(self, name: str, operation: dict[str, t.Any], resource: Resource, status: int,
                method: str) -> Handler:
        def create(request: Request[WorldStore]) -> Response:
            store = request.state
            collection = _concrete(resource.collection, request)
            key, record = self._new_record(store, resource, collection, operation, status, request.body)
            store.put(collection, key, record)
            return self._record_answer(operation, status, record)
        return create

    def _read(self, name: str, operation: dict[str, t.Any], resource: Resource, status: int,
              method: str) -> Handler:
        def read(request: Request[WorldStore]) -> Response:
            record = _existing(request, resource)
            return self._record_answer(operation, status, record)
        return read

    def _update(self, name: str, operation: dict[str, t.Any], resource: Resource, status: int,
                method: str) -> Handler:
        def update(request: Request[WorldStore]) -> Response:
            store = request.state
            collection = _concrete(resource.collection, request)
            key = request.path_params[resource.id_param]
            with store.lock:
                record = store.get(collection, key)
                if record is None:
                    if method != "put":
                        raise ApiError(404, "Not Found")
                    key, record = self._new_record(store, resource, collection, operation, status, request.body,
                                                   key=key)
                else:
                    _, media = self.bodies.media(operation, status)
                    fields = object_properties((media or {}).get("schema"))
                    record = {**record, **_timestamps(fields, store.clock.now(), _UPDATED),
                              **self._stored_fields(operation, status, request.body, resource)}
                store.put(collection, key, record)
            return self._record_answer(operation, status, record)
        return update

    def _delete(self, name: str, operation: dict[str, t.Any], resource: Resource, status: int,
                method: str) -> Handler:
        def delete(request: Request[WorldStore]) -> Response:
            _existing(request, resource)
            request.state.remove(_concrete(resource.collection, request), request.path_params[resource.id_param])
            media_type, media = self.bodies.media(operation, status)
            if media_type is None:
                return Response.empty(status)
            return _respond(media_type, self.bodies.example_or_generated(media, name), status)
        return delete

    def _list(self, name: str, operation: dict[str, t.Any], resource: Resource, status: int,
              method: str) -> Handler:
        declared = {p.get("name") for p in _parameters(operation, self.bodies.raw) if p.get("in") == "query"}

        def list_(request: Request[WorldStore]) -> Response:
            records = list(request.state.records(_concrete(resource.collection, request)).values())
            records = _filtered(records, request, declared)
            page = _paged(records, request.params)
            media_type, media = self.bodies.media(operation, status)
            if media_type is None:
                return Response.empty(status)
            return _respond(media_type, self._listing(media, page, len(records), name), status)
        return list_

    # ------------------------------------------------------------------------ records

    def _new_record(self, store: WorldStore, resource: Resource, collection: str, operation: dict[str, t.Any],
                    status: int, body: t.Any, *, key: str | None = None) -> tuple[str, dict[str, t.Any]]:
        with store.lock:
            if key is None:
                key = self._assigned_key(store, resource, collection, body)
            _, media = self.bodies.media(operation, status)
            generated = self.bodies.generated(media, f"{collection}/{key}") if media is not None else {}
            record = generated if isinstance(generated, dict) else {}
            fields = object_properties((media or {}).get("schema"))
            record.update(_timestamps(fields, store.clock.now(), _CREATED + _UPDATED))
            record.update(self._stored_fields(operation, status, body, resource))
            id_schema = fields.get(resource.id_field) or {}
            record[resource.id_field] = int(key) if id_schema.get("type") in ("integer", "number") and \
                key.lstrip("-").isdigit() else key
            return key, record

    def _assigned_key(self, store: WorldStore, resource: Resource, collection: str, body: t.Any) -> str:
        given = body.get(resource.id_field) if isinstance(body, dict) else None
        if resource.id_kind == "body" and given is not None:
            return str(given)
        if resource.id_kind == "uuid":
            return str(uuid.UUID(int=store.rng.getrandbits(128), version=4))
        if resource.id_kind == "slug":
            if isinstance(given, str) and given:
                return given
            for name in ("slug", "name", "title", "login", "key"):
                if isinstance(body, dict) and isinstance(body.get(name), str) and body[name]:
                    return _slug(body[name]) or str(store.next_number(collection))
        return str(store.next_number(collection))

    def _stored_fields(self, operation: dict[str, t.Any], status: int, body: t.Any,
                       resource: Resource) -> dict[str, t.Any]:
        """The request body's fields the record's schema has, where their values fit it (a body's
        `assignees: ["octocat"]` does not fit a record's list of user objects, so it is not kept)."""
        if not isinstance(body, dict):
            return {}
        _, media = self.bodies.media(operation, status)
        fields = object_properties((media or {}).get("schema"))
        return {name: fresh(value) for name, value in body.items()
                if name in fields and name != resource.id_field and self.bodies.fits(fields[name], value)}

    def _record_answer(self, operation: dict[str, t.Any], status: int, record: dict[str, t.Any]) -> Response:
        media_type, _ = self.bodies.media(operation, status)
        if media_type is None:
            return Response.empty(status)
        return _respond(media_type, record, status)

    def _listing(self, media: t.Any, page: list[dict[str, t.Any]], total: int, key: str) -> t.Any:
        schema = media.get("schema") if isinstance(media, dict) else None
        if not isinstance(schema, dict) or schema.get("type") == "array" or "items" in schema:
            return page
        envelope = self.bodies.generated(media, key)
        if not isinstance(envelope, dict):
            return page
        fields = object_properties(schema)
        lists = [name for name, sub in fields.items() if isinstance(sub, dict) and
                 (sub.get("type") == "array" or "items" in sub)]
        if not lists:
            return page
        envelope[next((n for n in ("items", "data", "results", "records") if n in lists), lists[0])] = page
        for name in _TOTALS:
            if isinstance(envelope.get(name), int):
                envelope[name] = total
        return envelope


def _existing(request: Request[WorldStore], resource: Resource) -> dict[str, t.Any]:
    record = request.state.get(_concrete(resource.collection, request), request.path_params[resource.id_param])
    if record is None:
        raise ApiError(404, "Not Found")
    return record


_CREATED = ("created_at", "createdAt", "created", "creation_time", "date_created")
_UPDATED = ("updated_at", "updatedAt", "updated", "modified_at", "modified", "last_modified")


def _timestamps(fields: dict[str, t.Any], now: float, names: tuple[str, ...]) -> dict[str, t.Any]:
    """Creation and update times of a record, from the engine's clock: ISO 8601 for date-time
    strings, Unix seconds for integers (`created: 1700000000`, as OpenAI's and Stripe's say)."""
    from mockserver.engine.clock import iso

    out: dict[str, t.Any] = {}
    for name in names:
        schema = fields.get(name)
        if not isinstance(schema, dict):
            continue
        if schema.get("type") == "string" and schema.get("format") == "date-time":
            out[name] = iso(int(now))
        elif schema.get("type") == "integer":
            out[name] = int(now)
    return out


def _require_parents(request: Request[WorldStore], resource: Resource) -> None:
    """A nested collection answers 404 while its parent item does not exist."""
    parent = resource.parent
    while parent is not None:
        key = request.path_params.get(parent.id_param)
        if key is None or request.state.get(_concrete(parent.collection, request), key) is None:
            raise ApiError(404, "Not Found")
        parent = parent.parent


def _concrete(template: str, request: Request[t.Any]) -> str:
    """The collection's path with this request's values: each parent has its own records."""
    return _PARAM.sub(lambda m: request.path_params.get(m.group(1), m.group(0)), template)


def _filtered(records: list[dict[str, t.Any]], request: Request[t.Any], declared: set[t.Any]) -> list[dict[str, t.Any]]:
    """Query parameters the client sent that name a scalar field of the records filter them."""
    for name, values in request.query.items():
        if name in _NOT_FILTERS or name not in declared or not values:
            continue
        wanted = values[-1]
        if wanted.lower() in ("all", "*", ""):
            continue
        records = [r for r in records if name not in r or isinstance(r[name], (dict, list)) or
                   _text(r[name]) == wanted.lower()]
    return records


def _text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _paged(records: list[dict[str, t.Any]], params: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    size = next((params[n] for n in _PAGE_SIZES if isinstance(params.get(n), int) and params[n] > 0), None)
    if size is None:
        return records
    if isinstance(params.get("offset"), int):
        start = max(params["offset"], 0)
    else:
        page = params.get("page")
        start = (page - 1) * size if isinstance(page, int) and page > 0 else 0
    return records[start:start + size]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _respond(media_type: str, body: t.Any, status: int) -> Response:
    if "json" in media_type:
        response = Response.json(body, status)
        response.media_type = media_type
        return response
    return Response.text(body if isinstance(body, str) else str(body), status, media_type=media_type)


def _success_status(operation: dict[str, t.Any]) -> int:
    responses = operation.get("responses") or {}
    codes = sorted(int(code) for code in map(str, responses) if code.isdigit() and 200 <= int(code) < 300)
    return codes[0] if codes else 200


def _parameters(operation: dict[str, t.Any], raw: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    from mockserver.engine.openapi import deref

    return [deref(p, raw) for p in operation.get("parameters") or []]
