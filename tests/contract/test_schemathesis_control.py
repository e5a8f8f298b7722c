"""Schemathesis over the control plane, in-process (ASGI), responses validated against the specs.

Two specs, one pytest item per operation: the engine's `specs/control.yaml` (under `/__mock__`)
and the OpenAI Usage pack's `specs/control/openai_usage.yaml` (under `/__mock__/packs/openai_usage`).
The app and both schemas are built by the `world` fixture, once per process that runs any of them
(see tests/contract_items.py).

Control operations change the server they run against (reset, state import, faults, the clock), so
every case runs on a server put back the way the next case expects it (see `restored`).
"""

from __future__ import annotations

import contextlib
import typing as t

import pytest
import schemathesis
from contract_items import OperationChoice, constants_extracted, parametrize_operations
from depth import examples
from schemathesis.config import SchemathesisConfig
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings
from mockserver.engine.resources import specs_dir

NOW = 1749988800  # 2025-06-15T12:00:00Z
PACK = "openai_usage"

CONFIG: dict[str, t.Any] = {
    # Reproducible and bounded, as for the API contract tests (30 fuzzed examples per operation, 10 at
    # the quick depth: tests/depth.py).
    "seed": 20250615,
    "generation": {"mode": "all", "max-examples": examples(quick=10, deep=30), "deterministic": True, "database": "none"},
    # Failure reports show requests as sent: nothing here is secret, and the default masking also
    # hides parameters that merely look sensitive (`api_key_ids`), which makes repro commands wrong.
    "output": {"sanitization": {"enabled": False}},
    "checks": {
        # Invalid input to the control plane is a 400 (its own dialect), nothing else.
        "negative_data_rejection": {"expected-statuses": [400]},
        # Schema-valid requests can still be refused for documented reasons the schema cannot
        # state (a pack that is not served, a state that does not load, an event with fields of
        # another kind, ...). `documented_refusals_only` replaces the built-in check, which would
        # count any 400 as a failure and would let any 404 pass.
        "positive_data_acceptance": {"enabled": False},
    },
}



def _record_some_requests(app: t.Any) -> None:
    """A few answered /v1 requests, so the journal has entries for `listRequests` to return."""
    client = TestClient(app)
    for query in ("start_time=1749000000&limit=2", "start_time=1749000000&group_by=model", "start_time=x"):
        client.get(f"/v1/organization/usage/completions?{query}",
                   headers={"Authorization": "Bearer sk-admin-mockserver"})


class World:
    """The app under test (frozen clock; validate_responses: an answer that breaks the spec comes
    back as a 500) and the two specs as schemathesis tests them."""

    def __init__(self) -> None:
        self.app = build_server(ServerConfig(apis=[PACK], seed=3, clock_start=NOW,
                                             settings=Settings(validate_responses=True)))
        config = SchemathesisConfig.from_dict(CONFIG)
        self.control = schemathesis.openapi.from_path(specs_dir() / "control.yaml", config=config)
        self.control.app = self.app
        self.pack_control = schemathesis.openapi.from_path(specs_dir() / "control" / f"{PACK}.yaml", config=config)
        self.pack_control.app = self.app
        _record_some_requests(self.app)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# One item per operation of each spec (see tests/contract_items.py), the schemas taken from `world`.
control_choice, pack_control_choice = OperationChoice(), OperationChoice()
control = schemathesis.pytest.from_fixture("control_schema").include(control_choice.matches)
pack_control = schemathesis.pytest.from_fixture("pack_control_schema").include(pack_control_choice.matches)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "control_operation" in metafunc.fixturenames:
        parametrize_operations(metafunc, "control_operation", "control.yaml")
    if "pack_control_operation" in metafunc.fixturenames:
        parametrize_operations(metafunc, "pack_control_operation", f"control/{PACK}.yaml")


@pytest.fixture
def control_operation(request: pytest.FixtureRequest) -> t.Iterator[str]:
    yield from control_choice.choose(request)


@pytest.fixture
def pack_control_operation(request: pytest.FixtureRequest) -> t.Iterator[str]:
    yield from pack_control_choice.choose(request)


@pytest.fixture
def control_schema(world: World, control_operation: str) -> t.Any:
    return constants_extracted(world.control)


@pytest.fixture
def pack_control_schema(world: World, pack_control_operation: str) -> t.Any:
    return constants_extracted(world.pack_control)


@contextlib.contextmanager
def restored(app: t.Any) -> t.Iterator[None]:
    """Undo what a case may have done to the server that would change how later cases behave.

    - Faults: a generated `POST /faults` can make /v1 requests slow (up to 600 s), fail or drop the
      connection. Faults never apply to the control plane itself, but none may outlive its case.
    - Clock: `PUT /clock`, `DELETE /clock` and `POST /clock/advance` move it; it goes back to the
      frozen NOW, so every case sees the same "now" and one case's clock cannot break the next.
    - The journal is emptied by `resetAll` and `clearJournal`; it is refilled for `listRequests`.
    Pack state (reset/import/events/admin keys) is not restored: every state a case can leave is one
    a client could create, and the checks hold for any of them. (Rebuilding it costs ~0.15 s.)
    """
    try:
        yield
    finally:
        app.services.faults.clear()  # first: refilling the journal goes through /v1
        app.services.clock.set(NOW, frozen=True)
        if not app.services.journal.find(limit=1):
            _record_some_requests(app)


# -- positive cases: a 2xx, or a refusal the spec documents, for the reason it documents ---------

def _body(case: schemathesis.Case) -> t.Any:
    return case.body if isinstance(case.body, dict) else {}


def _unserved_pack(case: schemathesis.Case) -> bool:
    return case.path_parameters.get("pack") != PACK


def _fault_refused(case: schemathesis.Case) -> bool:
    body = _body(case)
    app = case.operation.schema.app  # the server under test
    operation_ids = {op.operation_id for op in app.runtimes[PACK].spec.operations}
    return (body.get("pack") not in (None, PACK)
            or body.get("operation_id") not in (None, *operation_ids)
            or not (body.get("latency_ms") or body.get("status") or body.get("drop")))


def _unparseable_instant(case: schemathesis.Case) -> bool:
    return isinstance(_body(case).get("now"), str)  # numbers are always Unix seconds


# operationId → {a refusal status the spec documents: does this case give the documented reason?}
REFUSALS: dict[str, dict[int, t.Callable[[schemathesis.Case], bool]]] = {
    "resetPack": {404: _unserved_pack},
    "exportPackState": {404: _unserved_pack},
    "getPackSummary": {404: _unserved_pack},
    "importPackState": {404: _unserved_pack, 400: lambda case: not _unserved_pack(case)},  # does not load
    "importState": {400: lambda case: True},  # an arbitrary object that fits `State` need not load
    "addFault": {400: _fault_refused},
    "deleteFault": {404: lambda case: True},  # faults are cleared after every case
    "setClock": {400: _unparseable_instant},
    "addUsageEvents": {400: lambda case: True},  # events with fields of another kind; checked below
}


def documented_refusals_only(ctx: t.Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive or 200 <= response.status_code < 300:
        return
    reason = REFUSALS.get(case.operation.definition.raw.get("operationId"), {}).get(response.status_code)
    assert reason is not None and reason(case), (
        f"schema-valid request refused with {response.status_code}: {response.text[:400]}")
    if case.operation.path == "/events" and response.status_code == 400:
        message = response.json().get("error", {}).get("message", "")
        assert "not a field of" in message or "needs line_item and amount" in message, message


@control.parametrize()
def test_control_plane(case: schemathesis.Case, world: World) -> None:
    with restored(world.app):
        case.call_and_validate(additional_checks=[documented_refusals_only])


@pack_control.parametrize()
def test_openai_usage_pack_control(case: schemathesis.Case, world: World) -> None:
    with restored(world.app):
        case.call_and_validate(additional_checks=[documented_refusals_only])


# -- pinned cases: inputs fuzzing rarely draws, whose effects outlive the request ----------------

def call(schema: t.Any, method: str, path: str, **case: t.Any) -> schemathesis.Response:
    """One request through schemathesis, with the response checks (no 5xx, documented status,
    schema-conformant body) applied."""
    if "body" in case:
        case.setdefault("media_type", "application/json")
    return schema[path][method].Case(**case).call_and_validate()


@pytest.mark.parametrize("now", [253402300800, 1e300, "nan"], ids=["year 10000", "1e300", "'nan'"])
def test_unrepresentable_clock_is_refused_not_stored(now: t.Any, world: World) -> None:
    """`now` fits the schema (a number, a non-empty string) but is no instant the clock can show."""
    with restored(world.app):
        response = call(world.control, "PUT", "/clock", body={"now": now})
        assert response.status_code == 400, response.text
        assert call(world.control, "GET", "/health").status_code == 200  # the clock still reads


def test_failed_state_import_changes_nothing(world: World) -> None:
    """importState: "Nothing changes unless every pack's part loads" — nor when the clock part fails."""
    with restored(world.app):
        call(world.control, "POST", "/reset")  # the seeded history, whatever earlier cases left
        before = call(world.pack_control, "GET", "/events", query={"limit": 1}).json()["total"]
        assert before > 0
        state = call(world.control, "GET", "/state").json()
        state["packs"][PACK] = {"admin_keys": state["packs"][PACK]["admin_keys"], "events": [], "cost_events": []}
        state["clock"] = {"frozen_at": None, "offset": "not a number"}
        assert call(world.control, "PUT", "/state", body=state).status_code == 400
        assert call(world.pack_control, "GET", "/events", query={"limit": 1}).json()["total"] == before
        assert call(world.control, "GET", "/clock").json() == {"now": NOW, "iso": "2025-06-15T12:00:00Z",
                                                         "frozen": True, "offset": 0.0}


def test_state_import_checks_the_clock(world: World) -> None:
    """`clock` is just `{type: object}` in the schema; a clock that is not one must not be loaded."""
    with restored(world.app):
        response = call(world.control, "PUT", "/state", body={"packs": {}, "clock": {"frozen_at": "soon"}})
        assert response.status_code in (200, 400)
        assert call(world.control, "GET", "/clock").status_code == 200
