"""Handlers of the control plane (`specs/control.yaml`). `request.state` is the server itself
(`engine.server.MockServer`), seen through `ControlledServer`: what these handlers need of it."""

from __future__ import annotations

import time
import typing as t

from mockserver.engine.clock import parse_instant
from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers

if t.TYPE_CHECKING:
    from mockserver.engine.pack import Store
    from mockserver.engine.server import Services
    from mockserver.engine.spec import LoadedSpec

handlers = Handlers()


class ServedPack(t.Protocol):
    """What the control plane needs of a served pack (`engine.server.PackRuntime`)."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> LoadedSpec: ...

    @property
    def state(self) -> Store: ...

    def reset(self) -> None: ...

    def export(self) -> dict[str, t.Any]: ...

    def load(self, data: dict[str, t.Any]) -> None: ...


class ControlledServer(t.Protocol):
    """What the control plane needs of the server it controls (`engine.server.MockServer`)."""

    @property
    def runtimes(self) -> t.Mapping[str, ServedPack]: ...

    @property
    def services(self) -> Services: ...

    def describe(self) -> list[dict[str, t.Any]]: ...

    def export_state(self) -> dict[str, t.Any]: ...

    def import_state(self, data: dict[str, t.Any]) -> None: ...


@handlers("getHealth")
def get_health(request: Request[ControlledServer]) -> dict[str, t.Any]:
    server = request.state
    journal = server.services.journal
    return {"status": "ok", "packs": server.describe(), "seed": server.services.seed,
            "clock": server.services.clock.describe(),
            "uptime_seconds": round(time.time() - server.services.started_at, 3),
            "journal": {"entries": len(journal), "bytes": journal.size_bytes, "dropped": journal.dropped,
                        "max_entries": journal.limits.max_entries, "max_bytes": journal.limits.max_bytes}}


@handlers("listPacks")
def list_packs(request: Request[ControlledServer]) -> list[dict[str, t.Any]]:
    return request.state.describe()


@handlers("resetAll")
def reset_all(request: Request[ControlledServer]) -> dict[str, t.Any]:
    server = request.state
    for runtime in server.runtimes.values():
        runtime.reset()
    server.services.journal.clear()
    server.services.faults.clear()
    return {"packs": list(server.runtimes)}


@handlers("resetPack")
def reset_pack(request: Request[ControlledServer]) -> dict[str, t.Any]:
    runtime = _runtime(request)
    runtime.reset()
    return {"packs": [runtime.name]}


@handlers("exportState")
def export_state(request: Request[ControlledServer]) -> dict[str, t.Any]:
    return request.state.export_state()


@handlers("importState")
def import_state(request: Request[ControlledServer]) -> dict[str, t.Any]:
    _load(request.state.import_state, request.body)
    return {"packs": sorted(request.body["packs"])}


@handlers("exportPackState")
def export_pack_state(request: Request[ControlledServer]) -> dict[str, t.Any]:
    return _runtime(request).export()


@handlers("importPackState")
def import_pack_state(request: Request[ControlledServer]) -> dict[str, t.Any]:
    runtime = _runtime(request)
    _load(runtime.load, request.body)
    return {"packs": [runtime.name]}


@handlers("getPackSummary")
def get_pack_summary(request: Request[ControlledServer]) -> dict[str, t.Any]:
    state = _runtime(request).state
    with state.lock:
        return state.summary()


@handlers("listRequests")
def list_requests(request: Request[ControlledServer]) -> dict[str, t.Any]:
    journal = request.state.services.journal
    filters = dict(request.params)
    limit = filters.pop("limit", None)
    found = journal.find(**filters)
    shown = found[-limit:] if limit else found
    # `total` counts every match, `limit` or not; `dropped` says how many older entries the
    # journal's bounds pushed out, which no filter can find any more.
    return {"total": len(found), "dropped": journal.dropped, "requests": [entry.to_json() for entry in shown]}


@handlers("clearJournal")
def clear_journal(request: Request[ControlledServer]) -> dict[str, t.Any]:
    return {"cleared": request.state.services.journal.clear(request.params.get("pack"))}


@handlers("listFaults")
def list_faults(request: Request[ControlledServer]) -> list[t.Any]:
    return [fault.to_json() for fault in request.state.services.faults.list()]


@handlers("addFault")
def add_fault(request: Request[ControlledServer]) -> Response:
    server = request.state
    fields = {k: v for k, v in request.body.items()}
    pack = fields.get("pack")
    if pack is not None and pack not in server.runtimes:
        raise ApiError(400, f"pack {pack!r} is not served; served: {', '.join(server.runtimes)}")
    operation_id = fields.get("operation_id")
    if operation_id is not None and not _operation_exists(server, pack, operation_id):
        raise ApiError(400, f"no operation {operation_id!r} in {pack or 'any served pack'}")
    if not (fields.get("latency_ms") or fields.get("status") or fields.get("drop")):
        raise ApiError(400, "a fault needs latency_ms, status or drop")
    fault = server.services.faults.add(**fields)
    return Response.json(fault.to_json(), 201)


@handlers("clearFaults")
def clear_faults(request: Request[ControlledServer]) -> Response:
    request.state.services.faults.clear()
    return Response.empty(204)


@handlers("deleteFault")
def delete_fault(request: Request[ControlledServer]) -> Response:
    if not request.state.services.faults.remove(request.params["fault_id"]):
        raise ApiError(404, f"no fault {request.params['fault_id']}")
    return Response.empty(204)


@handlers("getClock")
def get_clock(request: Request[ControlledServer]) -> dict[str, t.Any]:
    return request.state.services.clock.describe()


@handlers("setClock")
def set_clock(request: Request[ControlledServer]) -> dict[str, t.Any]:
    clock = request.state.services.clock
    try:
        clock.set(parse_instant(request.body["now"]), frozen=request.body.get("frozen", True))
    except (ValueError, OverflowError) as error:
        raise ApiError(400, f"now: not a Unix time or ISO 8601 instant ({error}): {request.body['now']!r}") from None
    return clock.describe()


@handlers("resetClock")
def reset_clock(request: Request[ControlledServer]) -> dict[str, t.Any]:
    clock = request.state.services.clock
    clock.reset()
    return clock.describe()


@handlers("advanceClock")
def advance_clock(request: Request[ControlledServer]) -> dict[str, t.Any]:
    clock = request.state.services.clock
    try:
        clock.advance(request.body["seconds"])
    except ValueError as error:
        raise ApiError(400, f"seconds: the clock would leave the range it can show ({error})") from None
    return clock.describe()


def _load(load: t.Callable[[dict[str, t.Any]], None], data: dict[str, t.Any]) -> None:
    """Imports are staged and swapped in only when complete, so any failure leaves state as it was;
    whatever the malformed input broke, the client gets a 400 that says what."""
    try:
        load(data)
    except Exception as error:  # noqa: BLE001 - the message goes back to the client
        raise ApiError(400, f"state not loaded: {type(error).__name__}: {error}") from None


def _runtime(request: Request[ControlledServer]) -> ServedPack:
    server = request.state
    name = request.params["pack"]
    if name not in server.runtimes:
        raise ApiError(404, f"pack {name!r} is not served; served: {', '.join(server.runtimes)}")
    return server.runtimes[name]


def _operation_exists(server: ControlledServer, pack: str | None, operation_id: str) -> bool:
    runtimes = [server.runtimes[pack]] if pack else list(server.runtimes.values())
    return any(op.operation_id == operation_id for r in runtimes for op in r.spec.operations)
