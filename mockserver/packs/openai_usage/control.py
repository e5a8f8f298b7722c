"""The pack's control operations (`specs/control/openai_usage.yaml`)."""

from __future__ import annotations

import typing as t

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.openai_usage.kinds import COSTS, KINDS

if t.TYPE_CHECKING:
    from mockserver.packs.openai_usage.store import UsageStore

handlers = Handlers()


@handlers("getOrganization")
def get_organization(request: Request[UsageStore]) -> dict:
    organization = request.state.organization
    return {k: v for k, v in organization.items() if k != "admin_keys"}


@handlers("listAdminKeys")
def list_admin_keys(request: Request[UsageStore]) -> list:
    return list(request.state.admin_keys.values())


@handlers("addAdminKey")
def add_admin_key(request: Request[UsageStore]) -> Response:
    store = request.state
    value = request.body["value"]
    key = {"id": f"key_admin_{len(store.admin_keys) + 1}", "name": request.body.get("name", ""), "value": value}
    store.add_admin_key(key)
    return Response.json(key, 201)


@handlers("listUsageEvents")
def list_usage_events(request: Request[UsageStore]) -> dict:
    params = request.params
    store = request.state
    kinds = [params["kind"]] if "kind" in params else [*KINDS, "costs"]
    start, end = params.get("start_time", 0), params.get("end_time")
    events: list[dict] = []
    for kind in kinds:
        source = store.cost_events if kind == "costs" else (
            {"kind": kind, **e} for e in store.logs[kind].to_json())
        events.extend(e for e in source if e["time"] >= start and (end is None or e["time"] < end))
    events.sort(key=lambda e: e["time"])
    return {"total": len(events), "events": events[: params["limit"]]}


@handlers("addUsageEvents")
def add_usage_events(request: Request[UsageStore]) -> Response:
    events = request.body["events"]
    for index, event in enumerate(events):
        _check_event(index, event)
    added = request.state.add_events(events)
    return Response.json({"added": added}, 201)


@handlers("clearUsageEvents")
def clear_usage_events(request: Request[UsageStore]) -> Response:
    request.state.clear_events()
    return Response.empty(204)


def _check_event(index: int, event: dict) -> None:
    """The schema admits every field of every kind; an event may carry only its own kind's."""
    kind = COSTS if event["kind"] == "costs" else KINDS[event["kind"]]
    allowed = {"kind", "time", *kind.dimensions}
    allowed |= {"amount", "quantity", "quantity_unit"} if kind is COSTS else set(kind.counters)
    stray = sorted(set(event) - allowed)
    if stray:
        raise ApiError(400, f"events[{index}]: {', '.join(stray)} not a field of {event['kind']} events")
    if kind is COSTS and ("line_item" not in event or "amount" not in event):
        raise ApiError(400, f"events[{index}]: a costs event needs line_item and amount")
