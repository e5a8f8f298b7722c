"""The usage endpoints (`/organization/usage/*`) and costs (`/organization/costs`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request, Response, json_bytes
from mockserver.engine.pack import Handlers
from mockserver.packs.openai_usage import query
from mockserver.packs.openai_usage.aggregate import COSTS_LIMITS, LIMITS, Window, check_group_by, page_window
from mockserver.packs.openai_usage.kinds import BY_OPERATION, COSTS, Kind
from mockserver.packs.openai_usage.store import UsageStore

handlers = Handlers()

Results = t.Callable[[UsageStore, Window, query.Filters, tuple[str, ...]], query.Grouped]
# (store, group fields) -> for one group's values -> its result (JSON text) from its sums
Render = t.Callable[[UsageStore, tuple[str, ...]], t.Callable[[tuple], t.Callable[[list], str]]]


def page(request: Request[UsageStore], kind: Kind, limits: tuple[int, int], results: Results,
         render: Render) -> Response:
    params = request.params
    store = request.state
    width = params.get("bucket_width", "1d")
    window = page_window(start=params["start_time"], end=params.get("end_time"), now=store.clock.now(),
                         width_name=width, limit=params.get("limit"), page=params.get("page"),
                         limits=limits)
    filters = _filters(kind, params)
    group = check_group_by(params.get("group_by"), kind.dimensions)

    def compute() -> bytes:
        groups, per_bucket = results(store, window, filters, group)
        for_group = render(store, group)
        makers = [for_group(values) for values in groups]
        # Results are written as JSON text by their group's template: a page may hold tens of
        # thousands of them, and building a dict for each costs more than the sums did.
        buckets = [f'{{"object":"bucket","start_time":{lo},"end_time":{hi},"results":['
                   + ",".join([makers[number](sums) for number, sums in found]) + "]}"
                   for (lo, hi, _, _), found in zip(window.buckets(), per_bucket, strict=True)]
        return b"".join((b'{"object":"page","data":[', ",".join(buckets).encode(), b'],"has_more":',
                         b"true" if window.has_more else b"false", b',"next_page":',
                         json_bytes(window.next_cursor), b"}"))

    return Response(200, store.memoized_page((kind.name, window, filters, group), compute))


def _filters(kind: Kind, params: dict) -> query.Filters:
    found = []
    for param, dimension in kind.filters.items():
        value = params.get(param)
        if value is None:
            continue
        allowed = frozenset(value) if isinstance(value, list) else frozenset([value])
        found.append((dimension, allowed))
    return tuple(found)


def usage_renderer(kind: Kind) -> Render:
    def for_group(store: UsageStore, group: tuple[str, ...]) -> t.Callable[[tuple], t.Callable[[list], str]]:
        def for_values(values: tuple) -> t.Callable[[list], str]:
            grouped = dict(zip(group, values, strict=True))
            # {"object": ..., counters..., dimensions...}: the counters are %d slots (sums of
            # integers), the rest is fixed for the group (a '%' in a value doubled to stay itself).
            counters = ",".join(f'"{name}":%d' for name in kind.counters)
            fixed = json_text({name: grouped.get(name) for name in kind.dimensions})[1:].replace("%", "%%")
            template = f'{{"object":"{kind.object}",{counters},{fixed}'
            return lambda sums: template % tuple(sums)
        return for_values
    return for_group


def json_text(value: t.Any) -> str:
    return json_bytes(value).decode()


def usage_results(kind: Kind) -> Results:
    def results(store: UsageStore, window: Window, filters: query.Filters, group: tuple[str, ...]) -> query.Grouped:
        return query.usage_page(store.logs[kind.name], window, filters, group)
    return results


def cost_results(store: UsageStore, window: Window, filters: query.Filters, group: tuple[str, ...]) -> query.Grouped:
    return query.cost_page(store.logs.values(), store.costs, window, store.prices, filters, group)


def render_costs(store: UsageStore, group: tuple[str, ...]) -> t.Callable[[tuple], t.Callable[[list], str]]:
    by_line_item = "line_item" in group

    def for_values(values: tuple) -> t.Callable[[list], str]:
        fields: dict[str, t.Any] = dict(zip(group, values, strict=True))
        line_item: t.Any = fields.get("line_item")
        unit = store.units.get(line_item) if by_line_item else None

        def render(sums: list) -> str:
            return json_text({
                "object": COSTS.object,
                "amount": {"value": round(sums[0], 10), "currency": "usd"},
                "line_item": line_item,
                "project_id": fields.get("project_id"),
                "api_key_id": fields.get("api_key_id"),
                # A quantity means something only in its unit, and only within one line item.
                "quantity": round(sums[1], 6) if unit else None,
                "quantity_unit": unit,
            })
        return render
    return for_values


def _usage_handler(kind: Kind) -> t.Callable[[Request], Response]:
    renderer, results = usage_renderer(kind), usage_results(kind)

    def handle(request: Request[UsageStore]) -> Response:
        return page(request, kind, LIMITS[request.params.get("bucket_width", "1d")], results, renderer)
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
    return page(request, COSTS, COSTS_LIMITS, cost_results, render_costs)
