"""The server around the packs: dispatch, the control plane, state, faults, the clock."""

from __future__ import annotations

import asyncio
import time
import typing as t
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mockserver.engine import statefile
from mockserver.engine.http import Response
from mockserver.engine.server import PrefixConflict
from tests.engine.conftest import make_server, tiny_pack

AUTH = {"authorization": "Bearer good"}


def test_two_packs_claiming_the_same_path_refuse_to_start() -> None:
    with pytest.raises(PrefixConflict, match="both claim"):
        make_server(tiny_pack(name="one"), tiny_pack(name="two", prefixes=("/tiny/items",)))
    with pytest.raises(PrefixConflict, match="control plane"):
        make_server(tiny_pack(prefixes=("/__mock__/x",)))


def test_packs_at_different_prefixes_share_one_port() -> None:
    server = make_server(tiny_pack(name="one"), tiny_pack(name="two", dialect="openai", prefixes=("/other",)))
    with TestClient(server) as client:
        assert client.get("/tiny/items/count").json() == 1
        # "two" owns /other: unknown paths there answer in its (OpenAI) dialect
        assert client.get("/other/x").json()["error"]["message"] == "Invalid URL (GET /other/x)"
        assert {p["name"] for p in client.get("/__mock__/packs").json()} == {"one", "two"}


def test_unknown_path_outside_every_pack_is_404(fastapi_client: TestClient) -> None:
    response = fastapi_client.get("/elsewhere")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_health_describes_packs(fastapi_client: TestClient) -> None:
    health = fastapi_client.get("/__mock__/health").json()
    assert health["status"] == "ok" and health["seed"] == 5
    assert health["packs"][0]["name"] == "tiny" and health["packs"][0]["operations"] == 7


def test_reset_restores_fixtures_and_clears_journal(fastapi_client: TestClient) -> None:
    fastapi_client.post("/tiny/items", json={"name": "second"}, headers=AUTH)
    assert fastapi_client.get("/tiny/items/count").json() == 2
    assert fastapi_client.post("/__mock__/packs/tiny/reset").json() == {"packs": ["tiny"]}
    assert fastapi_client.get("/tiny/items/count").json() == 1
    fastapi_client.post("/__mock__/reset")
    assert fastapi_client.get("/__mock__/journal").json()["total"] == 0
    assert fastapi_client.post("/__mock__/packs/nope/reset").status_code == 404


def test_state_export_import_round_trip(fastapi_client: TestClient) -> None:
    fastapi_client.post("/tiny/items", json={"name": "kept"}, headers=AUTH)
    exported = fastapi_client.get("/__mock__/state").json()
    fastapi_client.post("/__mock__/reset")
    assert fastapi_client.get("/tiny/items/count").json() == 1
    assert fastapi_client.put("/__mock__/state", json=exported).status_code == 200
    assert [i["name"] for i in fastapi_client.get("/tiny/items").json()] == ["first", "kept"]


def test_a_bad_import_changes_nothing(fastapi_client: TestClient) -> None:
    fastapi_client.post("/tiny/items", json={"name": "kept"}, headers=AUTH)
    response = fastapi_client.put("/__mock__/state", json={"packs": {"tiny": {"wrong": []}}})
    assert response.status_code == 400 and "not loaded" in response.json()["error"]["message"]
    response = fastapi_client.put("/__mock__/state", json={"packs": {"ghost": {}}})
    assert response.status_code == 400
    assert fastapi_client.get("/tiny/items/count").json() == 2


def test_journal_records_and_filters(fastapi_client: TestClient) -> None:
    fastapi_client.post("/tiny/items", json={"name": "journaled"}, headers=AUTH)
    fastapi_client.get("/tiny/items/1")
    fastapi_client.get("/tiny/items/2000")
    journal = fastapi_client.get("/__mock__/journal", params={"method": "POST"}).json()
    assert journal["total"] == 1
    entry = journal["requests"][0]
    assert entry["body"] == {"name": "journaled"} and entry["status"] == 201
    assert entry["operation_id"] == "createItem" and entry["pack"] == "tiny"
    assert fastapi_client.get("/__mock__/journal", params={"status": 404}).json()["requests"][0]["path"] == "/tiny/items/2000"
    assert fastapi_client.get("/__mock__/journal", params={"path": "/tiny/items/*"}).json()["total"] == 2
    assert fastapi_client.get("/__mock__/journal", params={"limit": 1}).json()["requests"][0]["path"] == "/tiny/items/2000"
    assert fastapi_client.delete("/__mock__/journal").json() == {"cleared": 3}


def test_forced_status_fault_speaks_the_dialect(fastapi_client: TestClient, openai_client: TestClient) -> None:
    fault = fastapi_client.post("/__mock__/faults", json={"operation_id": "getItem", "status": 503, "remaining": 1}).json()
    assert fault["id"] >= 1
    response = fastapi_client.get("/tiny/items/1")
    assert response.status_code == 503 and response.json() == {"detail": "Injected fault: status 503"}
    assert fastapi_client.get("/tiny/items/1").status_code == 200  # `remaining` ran out
    openai_client.post("/__mock__/faults", json={"pack": "tiny", "status": 429, "message": "Rate limit reached"})
    error = openai_client.get("/tiny/items/count").json()["error"]
    assert error["message"] == "Rate limit reached" and error["type"] == "invalid_request_error"


def test_latency_fault_delays_only_its_operation(fastapi_client: TestClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits the server asks the event loop for, not wall-clock time, which a loaded machine stretches."""
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float, *args: t.Any, **kwargs: t.Any) -> t.Any:
        waits.append(delay)
        return await real_sleep(delay, *args, **kwargs)

    fastapi_client.post("/__mock__/faults", json={"operation_id": "countItems", "latency_ms": 300})
    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    assert fastapi_client.get("/tiny/items/count").status_code == 200
    assert 0.3 in waits
    waits.clear()
    assert fastapi_client.get("/tiny/items/1").status_code == 200
    assert 0.3 not in waits


def test_drop_fault_breaks_the_connection(fastapi_client: TestClient) -> None:
    fastapi_client.post("/__mock__/faults", json={"operation_id": "getItem", "drop": True})
    with pytest.raises(ConnectionAbortedError):  # what the test client makes of a closed connection
        fastapi_client.get("/tiny/items/1")
    assert fastapi_client.get("/__mock__/journal", params={"status": 0}).json()["total"] == 1


def test_fault_requests_are_checked(fastapi_client: TestClient) -> None:
    assert fastapi_client.post("/__mock__/faults", json={"operation_id": "noSuchOp", "status": 500}).status_code == 400
    assert fastapi_client.post("/__mock__/faults", json={"pack": "ghost", "status": 500}).status_code == 400
    assert fastapi_client.post("/__mock__/faults", json={"pack": "tiny"}).status_code == 400
    assert fastapi_client.post("/__mock__/faults", json={"status": 1000}).status_code == 400
    fault = fastapi_client.post("/__mock__/faults", json={"status": 500}).json()
    assert fastapi_client.delete(f"/__mock__/faults/{fault['id']}").status_code == 204
    assert fastapi_client.delete(f"/__mock__/faults/{fault['id']}").status_code == 404
    assert fastapi_client.get("/__mock__/faults").json() == []


def test_clock_can_be_frozen_advanced_and_released(fastapi_client: TestClient) -> None:
    clock = fastapi_client.put("/__mock__/clock", json={"now": "2025-01-01T00:00:00Z"}).json()
    assert clock == {"now": 1735689600.0, "iso": "2025-01-01T00:00:00Z", "frozen": True, "offset": 0.0}
    assert fastapi_client.post("/__mock__/clock/advance", json={"seconds": 90}).json()["now"] == 1735689690.0
    assert fastapi_client.put("/__mock__/clock", json={"now": "yesterday"}).status_code == 400
    before = time.time()
    released = fastapi_client.delete("/__mock__/clock").json()
    # Real time again: read between the two readings of ours (no bound on how long that took).
    assert not released["frozen"] and before - 0.01 <= released["now"] <= time.time() + 0.01


def test_control_plane_rejects_bad_input_in_its_own_format(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/__mock__/clock/advance", json={"seconds": "soon"})
    assert response.status_code == 400
    assert response.json()["error"]["issues"][0]["loc"] == ["body", "seconds"]


def test_state_file_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TestClient(make_server(tiny_pack(), state_file=path)) as client:
        client.post("/tiny/items", json={"name": "persisted"}, headers=AUTH)
        # committed before the 201 left, not at shutdown
        database = statefile.StateDatabase(path)
        database.open()
        assert database.read()["tiny"]["items"][-1]["name"] == "persisted"
        database.close()
    with TestClient(make_server(tiny_pack(), state_file=path)) as client:
        assert client.get("/tiny/items/count").json() == 2


def test_a_file_that_is_not_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a mockserver state file"):
        make_server(tiny_pack(), state_file=path)


def test_cors_preflight_and_headers(fastapi_client: TestClient) -> None:
    response = fastapi_client.options("/tiny/items", headers={
        "origin": "http://ui", "access-control-request-method": "POST", "access-control-request-headers": "authorization"})
    assert response.status_code == 204 and response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "authorization"  # `*` would not cover it
    response = fastapi_client.get("/tiny/items/1", headers={"origin": "http://ui"})
    assert response.headers["access-control-allow-origin"] == "*" and response.headers["vary"] == "Origin"
    # The control plane is no API for pages: no grants, and another origin is refused.
    response = fastapi_client.get("/__mock__/health", headers={"origin": "http://ui"})
    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers


def test_concurrent_writes_lose_nothing() -> None:
    import asyncio

    server = make_server(tiny_pack())

    async def create_many() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server), base_url="http://t") as client:
            await asyncio.gather(*(client.post("/tiny/items", json={"name": f"n{i:03}"}, headers=AUTH)
                                   for i in range(200)))
    asyncio.run(create_many())
    assert len(server.runtimes["tiny"].state.items) == 201


def _pack_answering(count_answer: object):
    from mockserver.engine.pack import Handlers
    from tests.engine.conftest import handlers as tiny_handlers

    handlers = Handlers()
    for operation_id, function in tiny_handlers._by_id.items():
        if operation_id != "countItems":
            handlers(operation_id)(function)
    handlers("countItems")(lambda request: count_answer)
    return tiny_pack(handlers=handlers)


def test_strict_mode_names_an_answer_that_breaks_the_spec() -> None:
    from mockserver.engine.http import Response
    with TestClient(make_server(_pack_answering("many"))) as client:
        response = client.get("/tiny/items/count")
        assert response.status_code == 500 and "breaks its spec" in response.text
    with TestClient(make_server(_pack_answering(Response.json(3, 418)))) as client:
        response = client.get("/tiny/items/count")
        assert response.status_code == 500 and "does not document" in response.text


class EchoCompanion:
    """A companion that counts its ticks and serves a websocket echo and a plain HTTP answer."""

    instances: list["EchoCompanion"] = []

    def __init__(self, state: t.Callable[[], t.Any], options: t.Mapping[str, t.Any]) -> None:
        self.state = state
        self.ticks = 0
        self.stopped = False
        self.mounts = {"/ws/echo": self.app}
        EchoCompanion.instances.append(self)

    async def run(self) -> None:
        try:
            while True:
                self.ticks += 1
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.stopped = True
            raise

    async def app(self, scope: dict, receive: t.Any, send: t.Any) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            message = await receive()
            await send({"type": "websocket.send", "text": f"echo {message['text']} {len(self.state().items)}"})
            await send({"type": "websocket.close", "code": 1000})
        else:
            await Response.text("companion here").send(send)


def test_a_companion_gets_its_mounts_and_runs_while_the_server_does() -> None:
    EchoCompanion.instances.clear()
    server = make_server(tiny_pack(companion=EchoCompanion))
    (companion,) = EchoCompanion.instances
    with TestClient(server) as client:
        assert client.get("/ws/echo/anything").text == "companion here"  # beside the pack's own paths
        assert client.get("/tiny/nowhere").status_code == 404
        with client.websocket_connect("/ws/echo") as socket:
            socket.send_text("hi")
            assert socket.receive_text() == "echo hi 1"  # it reads the pack's current state (one item)
        deadline = time.time() + 2
        while companion.ticks < 3 and time.time() < deadline:
            time.sleep(0.01)
        assert companion.ticks >= 3
    assert companion.stopped  # cancelled at shutdown


def test_websockets_elsewhere_are_closed() -> None:
    with TestClient(make_server(tiny_pack())) as client:
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect("/ws/nothing") as socket:
                socket.receive_text()


class RootCompanion:
    """A companion with a pack option, mounting an app behind the pack's routes (as a UI bundle is)."""

    def __init__(self, state: t.Callable[[], t.Any], options: t.Mapping[str, t.Any]) -> None:
        self.options = dict(options)
        self.mounts: dict[str, t.Any] = {}
        self.catch_all = self.app if options.get("greeting") is not None else None

    async def run(self) -> None:
        return None

    async def app(self, scope: dict, receive: t.Any, send: t.Any) -> None:
        await Response.text(f"{self.options['greeting']} {scope['method']} {scope['path']}").send(send)


def _root_pack(**overrides: t.Any) -> t.Any:
    from mockserver.engine.pack import PackOption

    return tiny_pack(companion=RootCompanion, options=(PackOption("--greeting", "say hello", parse=str),),
                     **overrides)


def test_a_companion_mounted_behind_the_routes_answers_what_no_operation_matches() -> None:
    with TestClient(make_server(_root_pack(), pack_options={"greeting": "hi"})) as client:
        assert client.get("/tiny/items/count").json() == 1  # operations first
        assert client.get("/").text == "hi GET /"
        assert client.get("/tiny/nowhere").text == "hi GET /tiny/nowhere"  # instead of the pack's 404
        assert client.put("/tiny/items").text == "hi PUT /tiny/items"  # instead of its 405
    # beside another pack, paths neither owns go to it too; the other pack keeps its own
    other = tiny_pack(name="other", dialect="openai", prefixes=("/other",))
    with TestClient(make_server(other, _root_pack(), pack_options={"greeting": "yo"})) as client:
        assert client.get("/assets/app.js").text == "yo GET /assets/app.js"
        assert client.get("/other/x").json()["error"]["message"] == "Invalid URL (GET /other/x)"


def test_without_the_option_the_companion_mounts_nothing_behind() -> None:
    with TestClient(make_server(_root_pack())) as client:
        response = client.get("/tiny/nowhere")
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
