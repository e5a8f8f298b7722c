"""The pack's control operations (`specs/control/openai_usage.yaml`)."""

from __future__ import annotations

import functools

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
    fields = _fields_by_kind()
    for index, event in enumerate(events):
        if not fields[event["kind"]].issuperset(event):  # one C-level check per event; details on failure
            _check_event(index, event)
        elif event["kind"] == "costs":
            _check_event(index, event)
    added = request.state.add_events(events)
    return Response.json({"added": added}, 201)


@handlers("clearUsageEvents")
def clear_usage_events(request: Request) -> Response:
    request.state.clear_events()
    return Response.empty(204)


@functools.cache
def _fields_by_kind() -> dict[str, frozenset[str]]:
    """The fields an event of each kind may carry."""
    fields = {name: frozenset({"kind", "time", *kind.dimensions, *kind.counters}) for name, kind in KINDS.items()}
    fields[COSTS.name] = frozenset({"kind", "time", *COSTS.dimensions, "amount", "quantity", "quantity_unit"})
    return fields


def _check_event(index: int, event: dict) -> None:
    """The schema admits every field of every kind; an event may carry only its own kind's."""
    kind = COSTS if event["kind"] == "costs" else KINDS[event["kind"]]
    allowed = _fields_by_kind()[kind.name]
    stray = sorted(set(event) - allowed)
    if stray:
        raise ApiError(400, f"events[{index}]: {', '.join(stray)} not a field of {event['kind']} events")
    if kind is COSTS and ("line_item" not in event or "amount" not in event):
        raise ApiError(400, f"events[{index}]: a costs event needs line_item and amount")
