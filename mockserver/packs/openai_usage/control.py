"""The pack's control operations (`specs/control/openai_usage.yaml`)."""

from __future__ import annotations

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.openai_usage.kinds import COSTS, KINDS

handlers = Handlers()


@handlers("getOrganization")
def get_organization(request: Request) -> dict:
    organization = request.state.organization
    return {k: v for k, v in organization.items() if k != "admin_keys"}


@handlers("listAdminKeys")
def list_admin_keys(request: Request) -> list:
    return list(request.state.admin_keys.values())


@handlers("addAdminKey")
def add_admin_key(request: Request) -> Response:
    store = request.state
    value = request.body["value"]
    key = {"id": f"key_admin_{len(store.admin_keys) + 1}", "name": request.body.get("name", ""), "value": value}
    store.add_admin_key(key)
    return Response.json(key, 201)


@handlers("listUsageEvents")
def list_usage_events(request: Request) -> dict:
    params = request.params
    kinds = [params["kind"]] if "kind" in params else [*KINDS, "costs"]
    total, events = request.state.list_events(kinds, params.get("start_time", 0), params.get("end_time"),
                                              params["limit"])
    return {"total": total, "events": events}


@handlers("addUsageEvents")
def add_usage_events(request: Request) -> Response:
    events = request.body["events"]
    for index, event in enumerate(events):
        _check_event(index, event)
    added = request.state.add_events(events)
    return Response.json({"added": added}, 201)


@handlers("clearUsageEvents")
def clear_usage_events(request: Request) -> Response:
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
