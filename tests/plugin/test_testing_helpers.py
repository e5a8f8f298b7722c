"""`mockserver.testing` directly: the handle's helpers in-process, and the live server's lifecycle."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time

import httpx
import pytest

from mockserver.testing import ControlPlaneError, MockServerConfig, MockServerHandle, RecordedRequest, ServerStartError

NOW = 1749988800  # 2025-06-15T12:00:00Z
ADMIN = {"authorization": "Bearer sk-admin-mockserver"}
COSTS = "/v1/organization/costs"


@pytest.fixture(scope="module")
def server() -> MockServerHandle:
    with MockServerHandle.start(["openai_usage", "chutes"], seed=5, clock="2025-06-15T12:00:00Z") as handle:
        yield handle


@pytest.fixture
def mock(server: MockServerHandle) -> MockServerHandle:
    server.reset()
    return server


@pytest.fixture
def http(mock: MockServerHandle) -> httpx.Client:
    return mock.client(headers=ADMIN)


def costs(http: httpx.Client, **params: object) -> httpx.Response:
    return http.get(COSTS, params={"start_time": NOW - 3 * 86400, **params})


def test_journal_entries_are_typed_and_filterable(mock: MockServerHandle, http: httpx.Client) -> None:
    assert costs(http, **{"group_by[]": "line_item", "limit": 2}).status_code == 200
    assert http.get("/v1/organization/usage/embeddings", params={"start_time": NOW - 86400}).status_code == 200
    assert http.get("/v1/organization/nowhere").status_code == 404
    chutes_status = http.get("/chutes/").status_code

    [sent] = mock.requests(path=COSTS)
    assert isinstance(sent, RecordedRequest)
    assert (sent.method, sent.pack, sent.operation_id, sent.status) == ("GET", "openai_usage", "usage-costs", 200)
    assert sent.query == {"start_time": [str(NOW - 3 * 86400)], "group_by[]": ["line_item"], "limit": ["2"]}
    assert sent.url == f"{COSTS}?{sent.query_string}"
    assert sent.sent_credential("Authorization", "Bearer sk-admin-mockserver")
    assert "sk-admin-mockserver" not in sent.headers["authorization"]  # the journal keeps no secrets
    assert sent.body is None and sent.raw["id"] == sent.id

    assert [r.path for r in mock.requests(path="/v1/organization/usage/*")] == ["/v1/organization/usage/embeddings"]
    assert [r.status for r in mock.requests(pack="openai_usage")] == [200, 200, 404]
    assert [r.path for r in mock.requests(status=404)] == ["/v1/organization/nowhere"]
    assert [(r.pack, r.status) for r in mock.requests(method="get", pack="chutes")] == [("chutes", chutes_status)]
    assert len(mock.requests(operation_id="usage-embeddings")) == 1
    everything = mock.requests()
    assert [r.id for r in mock.requests(since_id=everything[1].id)] == [r.id for r in everything[2:]]
    assert mock.requests(limit=1) == everything[-1:]

    assert mock.clear_requests(pack="chutes") == 1
    assert mock.clear_requests() == 3
    assert mock.requests() == []


def test_unmatched_requests_are_found_by_the_helper(mock: MockServerHandle, http: httpx.Client) -> None:
    assert costs(http).status_code == 200
    assert http.get("/v1/organization/nowhere").status_code == 404
    assert http.post("/no/pack/here", json={"x": 1}).status_code in (401, 404)  # Chutes' catch-all answers
    unmatched = mock.requests(unmatched=True)
    assert [(r.path, r.unmatched) for r in unmatched] == [("/v1/organization/nowhere", True), ("/no/pack/here", True)]
    assert [r.operation_id for r in mock.requests(unmatched=False)] == ["usage-costs"]


def test_json_bodies_are_recorded_parsed(mock: MockServerHandle) -> None:
    with mock.client() as client:
        client.post("/chutes/", json={"name": "x"})  # refused (no credentials), recorded all the same
    [sent] = mock.requests(pack="chutes", method="POST")
    assert sent.body == {"name": "x"} and sent.status == 401


def test_a_fault_is_in_force_inside_the_block_only(mock: MockServerHandle, http: httpx.Client) -> None:
    with mock.fault("usage-costs", status=503) as fault:
        assert fault.spec["status"] == 503 and [f["id"] for f in mock.faults()] == [fault.id]
        answer = costs(http)
        assert answer.status_code == 503
        assert answer.json()["error"]["message"]  # in the API's own (OpenAI) error format
        assert http.get("/v1/organization/usage/embeddings", params={"start_time": NOW - 86400}).status_code == 200
    assert mock.faults() == []
    assert costs(http).status_code == 200
    assert [r.status for r in mock.requests(path=COSTS)] == [503, 200]


def test_fault_forms(mock: MockServerHandle, http: httpx.Client) -> None:
    with mock.fault("usage-costs", status=429, remaining=1):
        assert [costs(http).status_code for _ in range(2)] == [429, 200]  # ran out; leaving is harmless
    with mock.fault("usage-costs", drop=True):
        with pytest.raises(httpx.RemoteProtocolError):  # what a client sees from a live server
            costs(http)
    assert mock.requests(path=COSTS)[-1].status == 0
    with mock.fault(pack="openai_usage", latency_ms=1500):
        # The client's read timeout holds in-process too: it gives up before the 1.5 s answer.
        with pytest.raises(httpx.ReadTimeout):
            http.get(COSTS, params={"start_time": NOW - 86400}, timeout=0.2)
    mock.fault("usage-costs", status=500)  # without `with`: in force until removed or reset
    mock.reset()
    assert costs(http).status_code == 200
    with pytest.raises(ControlPlaneError, match="no operation 'no-such-op'") as refused:
        mock.fault("no-such-op", status=500)
    assert refused.value.status == 400


def test_clock(mock: MockServerHandle) -> None:
    assert mock.clock() == {"now": NOW, "iso": "2025-06-15T12:00:00Z", "frozen": True, "offset": 0.0}
    assert mock.set_clock(dt.datetime(2025, 1, 1))["iso"] == "2025-01-01T00:00:00Z"  # naive: UTC
    assert mock.advance_clock(dt.timedelta(hours=1))["iso"] == "2025-01-01T01:00:00Z"
    assert mock.set_clock(NOW + 60)["now"] == NOW + 60
    started = time.monotonic()
    running = mock.set_clock("2030-01-01T00:00:00+02:00", frozen=False)
    # Running from the instant set: at most the time the call took past it (however long that was).
    assert not running["frozen"] and 1893448800 <= running["now"] <= 1893448800 + time.monotonic() - started + 0.01
    assert mock.reset_clock()["now"] == NOW  # back where the server started
    mock.set_clock(0)
    mock.reset()
    assert mock.clock()["now"] == NOW  # reset() puts the clock back too
    with pytest.raises(ControlPlaneError):
        mock.set_clock("not a time")


def test_state_round_trip_and_pack_reset(mock: MockServerHandle, http: httpx.Client) -> None:
    event = {"kind": "completions", "time": NOW - 3600, "project_id": "proj_default",
             "model": "gpt-4o-mini-2024-07-18", "input_tokens": 1234, "num_model_requests": 1}
    mock.control("DELETE", "packs/openai_usage/events")
    assert mock.control("POST", "packs/openai_usage/events", json={"events": [event]}) == {"added": 1}
    saved, saved_pack = mock.state(), mock.state("openai_usage")
    assert set(saved["packs"]) == {"openai_usage", "chutes"}

    def events() -> int:
        return mock.control("GET", "packs/openai_usage/events", params={"limit": 5})["total"]

    assert events() == 1
    costs(http)
    mock.reset("openai_usage")  # one pack: back to its fixtures, the journal kept
    assert events() > 1 and len(mock.requests()) == 1
    mock.load_state(saved)
    assert events() == 1
    mock.reset()
    assert events() > 1 and mock.requests() == []
    mock.load_state(saved_pack, pack="openai_usage")
    assert events() == 1
    with pytest.raises(ControlPlaneError, match="not served"):
        mock.load_state({"packs": {"nope": {}}})
    assert events() == 1  # a failed import changes nothing


def test_async_client(mock: MockServerHandle) -> None:
    async def main() -> list[int]:
        async with mock.async_client(headers=ADMIN) as client:
            answers = await asyncio.gather(*[client.get(COSTS, params={"start_time": NOW - 86400 * n})
                                             for n in range(1, 4)])
            return [answer.status_code for answer in answers]

    assert asyncio.run(main()) == [200, 200, 200]
    assert len(mock.requests(path=COSTS)) == 3


def test_config_checks() -> None:
    assert MockServerConfig(apis="openai_usage, chutes").apis == ("openai_usage", "chutes")
    assert MockServerConfig(apis=["chutes"]).apis == ("chutes",)
    with pytest.raises(ValueError, match="no API pack"):
        MockServerConfig(apis="")
    with pytest.raises(ValueError, match="unknown API pack .no_such_pack.; available: "):
        MockServerHandle.start("no_such_pack")


def test_stopped_in_process_server_refuses_requests() -> None:
    handle = MockServerHandle.start("chutes", seed=1)
    client = handle.client()
    assert client.get("/__mock__/health").json()["packs"][0]["name"] == "chutes"
    handle.stop()
    handle.stop()  # idempotent
    assert client.is_closed
    with pytest.raises(httpx.ConnectError):
        handle._backend.client().get("http://x/__mock__/health")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    """Nothing listens there, and a new server could bind it (as servers do, with SO_REUSEADDR:
    the old server's closed connections may linger in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.live
def test_live_server_starts_serves_and_stops() -> None:
    with MockServerHandle.start("openai_usage", live=True, seed=2, clock=NOW) as mock:
        pid, port = mock.pid, int(mock.base_url.rsplit(":", 1)[1])
        assert mock.base_url.startswith("http://127.0.0.1:") and _alive(pid) and not _port_free(port)
        health = mock.health()
        assert (health["seed"], health["clock"]["now"]) == (2, NOW)
        with httpx.Client(base_url=mock.base_url, headers=ADMIN, trust_env=False) as plain:  # any client, live
            assert costs(plain, **{"group_by[]": "project_id"}).status_code == 200
            with mock.fault("usage-costs", drop=True), pytest.raises(httpx.RemoteProtocolError):
                costs(plain)
        assert [(r.query["group_by[]"], r.status) for r in mock.requests(path=COSTS)[:1]] == [(["project_id"], 200)]
        assert mock.requests(path=COSTS)[-1].status == 0
        mock.set_clock(0)
        mock.reset()
        assert mock.clock()["now"] == NOW and mock.requests() == []
        assert "mockserver on http://127.0.0.1" in mock.server_output()
    assert not _alive(pid)
    assert _port_free(port)
    assert "mockserver on http://127.0.0.1" in mock.server_output()  # kept after the stop


@pytest.mark.live
def test_live_start_failure_carries_the_server_output() -> None:
    with pytest.raises(ServerStartError, match="--clock: not a Unix time or ISO 8601 instant: 'yesterday'") as failed:
        MockServerHandle.start("openai_usage", live=True, clock="yesterday")  # only the server parses it
    assert "exited with status 2" in str(failed.value)


def test_closing_clients_closes_only_the_clients_made_inside(mock: MockServerHandle) -> None:
    outer = mock.client()
    with mock.closing_clients():
        inner, inner_async = mock.client(), mock.async_client()
        assert inner.get("/__mock__/health").status_code == 200
    assert inner.is_closed and inner_async.is_closed and not outer.is_closed
