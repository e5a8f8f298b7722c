"""The usage endpoints (`/organization/usage/*`) and costs (`/organization/costs`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request, Response, json_bytes
from mockserver.engine.pack import Handlers
from mockserver.packs.openai_usage.aggregate import COSTS_LIMITS, LIMITS, check_group_by, page_window
from mockserver.packs.openai_usage.kinds import BY_OPERATION, COSTS, Kind
from mockserver.packs.openai_usage.store import EventLog, UsageStore

handlers = Handlers()


def page(request: Request[UsageStore], kind: Kind, log: EventLog, limits: tuple[int, int],
         render: t.Callable[[tuple[str, ...]], t.Callable[[tuple, list], dict]]) -> Response:
    params = request.params
    store = request.state
    width = params.get("bucket_width", "1d")
    window = page_window(start=params["start_time"], end=params.get("end_time"), now=store.clock.now(),
                         width_name=width, limit=params.get("limit"), page=params.get("page"),
                         limits=limits)
    filters = _filters(kind, params)
    group = check_group_by(params.get("group_by"), kind.dimensions)
    group_index = tuple(kind.dimensions.index(field) for field in group)
    renderer = render(group)
    buckets = [store.bucket_json(log, lo, hi, first, last, filters, group_index, renderer)
               for lo, hi, first, last in window.buckets()]
    # Buckets are memoized as JSON, so the page is assembled from bytes rather than re-serialized.
    body = b"".join((b'{"object":"page","data":[', b",".join(buckets), b'],"has_more":',
                     b"true" if window.has_more else b"false", b',"next_page":',
                     json_bytes(window.next_cursor), b"}"))
    return Response(200, body)


def _filters(kind: Kind, params: dict) -> tuple[tuple[int, frozenset], ...]:
    found = []
    for param, dimension in kind.filters.items():
        value = params.get(param)
        if value is None:
            continue
        allowed = frozenset(value) if isinstance(value, list) else frozenset([value])
        found.append((kind.dimensions.index(dimension), allowed))
    return tuple(found)


def usage_renderer(kind: Kind) -> t.Callable[[tuple[str, ...]], t.Callable[[tuple, list], dict]]:
    blanks = dict.fromkeys(kind.dimensions)

    def for_group(group: tuple[str, ...]) -> t.Callable[[tuple, list], dict]:
        def render(key: tuple, sums: list) -> dict:
            return {"object": kind.object, **dict(zip(kind.counters, sums, strict=True)), **blanks, **dict(zip(group, key, strict=True))}
        return render
    return for_group


def costs_renderer(store: UsageStore) -> t.Callable[[tuple[str, ...]], t.Callable[[tuple, list], dict]]:
    def for_group(group: tuple[str, ...]) -> t.Callable[[tuple, list], dict]:
        by_line_item = "line_item" in group

        def render(key: tuple, sums: list) -> dict:
            fields: dict[str, t.Any] = dict(zip(group, key, strict=True))
            line_item: t.Any = fields.get("line_item")
            unit = store.units.get(line_item) if by_line_item else None
            return {
                "object": COSTS.object,
                "amount": {"value": round(sums[0], 10), "currency": "usd"},
                "line_item": line_item,
                "project_id": fields.get("project_id"),
                "api_key_id": fields.get("api_key_id"),
                # A quantity means something only in its unit, and only within one line item.
                "quantity": round(sums[1], 6) if unit else None,
                "quantity_unit": unit,
            }
        return render
    return for_group


def _usage_handler(kind: Kind) -> t.Callable[[Request[UsageStore]], Response]:
    renderer = usage_renderer(kind)

    def handle(request: Request[UsageStore]) -> Response:
        return page(request, kind, request.state.logs[kind.name], LIMITS[request.params.get("bucket_width", "1d")],
                    renderer)
    handle.__name__ = kind.name
    handle.__doc__ = f"GET /organization/usage/{kind.name}"
    return handle


def all_handlers() -> Handlers:
    """The pack's handlers: one per usage kind, made here when the pack is built, and the costs'."""
    built = Handlers()
    built.include(handlers)
    for operation_id, kind in BY_OPERATION.items():
        if kind is not COSTS:
            built(operation_id)(_usage_handler(kind))
    return built


@handlers(COSTS.operation_id)
def costs(request: Request[UsageStore]) -> Response:
    """GET /organization/costs: line items per day, from usage priced by the fixtures' table."""
    store = request.state
    return page(request, COSTS, store.costs, COSTS_LIMITS, costs_renderer(store))
