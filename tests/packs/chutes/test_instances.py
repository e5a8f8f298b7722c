"""Instances as records: what warmup starts, where instances show, when they go away, and
GET /instances/{id}/logs (who may read, the checks in order, the stream's format and pace).

behaviour-lifecycle.md sections 3 (instance logs) and 4 (warmup `?quick=true`). The log stream
never ends while its instance lives, so its 200s are read straight from the ASGI app with a
client that disconnects once it has what it came for (`read_stream`).
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from datetime import datetime, timezone
from urllib.parse import urlencode

import httpx
import pytest
from chutes_support import CLOCK, USERS, chute_id_for, detail, key_of, ok, signed

NO_USER = "Can't find a user with that api key in our db :("
NOT_FOUND = "Instance not found."
FORBIDDEN = "You may only view logs for your own (private) chutes."
BACKFILL = "`backfill` must be between 0 and 10000 (lines of logs)"
BOBS = "bob-private-llm"  # private, shared with alice, cold; shutdown_after_seconds 300
BOBS_ID = chute_id_for("bob", BOBS)
GEMMA = "unsloth/gemma-3-12b-it"  # public, cold
DEEPSEEK = "deepseek-ai/DeepSeek-V3-0324"  # public, two running instances


def quick(api: t.Any, name: str, user: str) -> dict:
    response = api.get(f"/chutes/warmup/{name}", user, params={"quick": "true"})
    assert response.headers["content-type"] == "application/json", response.headers
    return ok(response)


def instances_of(api: t.Any, name: str, user: str) -> list[dict]:
    return ok(api.get(f"/chutes/{name}", user))["instances"]


def started(api: t.Any, name: str = BOBS, user: str = "bob", warmup_seconds: float = 10) -> str:
    """Warm `name` up as `user`; the id of the instance that warmup started."""
    api.warmup_seconds(warmup_seconds)
    [instance] = quick(api, name, user)["instances"]
    return instance["instance_id"]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


# -- the stream, read from the ASGI app --------------------------------------------------------------


def read_stream(server: t.Any, path: str, headers: dict[str, str], *, enough: t.Callable[[list[dict | str]], bool],
                meanwhile: t.Callable[[httpx.AsyncClient], t.Awaitable[None]] | None = None) -> tuple[int, str, list]:
    """GET `path` from the app and read its event stream until `enough(events)`, then disconnect.
    `meanwhile` runs beside the stream with a client of the same app (to move the clock).
    Returns the status, the content type and the events (parsed `data:` payloads, `.` for a
    keepalive)."""
    return asyncio.run(_read_stream(server, path, headers, enough, meanwhile))


async def _read_stream(server: t.Any, path: str, headers: dict[str, str], enough: t.Callable,
                       meanwhile: t.Callable | None) -> tuple[int, str, list]:
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("mock", 80)}
    start: dict = {}
    body = bytearray()
    done = asyncio.Event()
    asked = False

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        body.extend(message.get("body", b""))
        if not message.get("more_body") or enough(_events(bytes(body))):
            done.set()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server), base_url="http://mock") as client:
        side = asyncio.ensure_future(meanwhile(client)) if meanwhile else None
        await asyncio.wait_for(server(scope, receive, send), timeout=60)
        if side is not None:
            await asyncio.wait_for(side, timeout=60)
    content_type = dict(start["headers"]).get(b"content-type", b"").decode()
    return start["status"], content_type, _events(bytes(body))


def _events(body: bytes) -> list:
    """Complete events only: `data: {...}` → the dict, a bare `.` → ".", an error body as text."""
    if not body.startswith((b"data: ", b".")):
        return [body.decode()]
    chunks = body.decode().split("\n\n")[:-1]
    return [json.loads(chunk[len("data: "):]) if chunk.startswith("data: ") else chunk for chunk in chunks]


def logs_path(instance_id: str, **query: t.Any) -> str:
    return f"/instances/{instance_id}/logs" + (f"?{urlencode(query)}" if query else "")


def lines(events: list) -> list[str]:
    return [event["log"] for event in events if isinstance(event, dict) and "log" in event]


# -- instances as records ---------------------------------------------------------------------------


def test_warmup_starts_one_instance_that_shows_wherever_instances_do(api: t.Any) -> None:
    api.warmup_seconds(30)
    cold = quick(api, BOBS, "bob")
    [entry] = cold["instances"]
    assert entry == {"instance_id": entry["instance_id"], "active": False, "gpu_count": 1, "gpu_model_name": "h100"}
    assert cold["instance_count"] == 0 and cold["status"] == "cold"
    assert instances_of(api, BOBS, "bob") == [{"instance_id": entry["instance_id"], "region": instances_of(
        api, BOBS, "bob")[0]["region"], "active": False, "verified": False, "last_verified_at": None}]
    assert instances_of(api, BOBS, "alice")[0]["instance_id"] == entry["instance_id"]  # shared with alice
    row = next(r for r in ok(api.get("/chutes/utilization")) if r["chute_id"] == BOBS_ID)
    assert (row["total_instance_count"], row["active_instance_count"]) == (1, 0)
    assert [i["instance_id"] for i in quick(api, BOBS, "alice")["instances"]] == [entry["instance_id"]]  # no second

    api.advance(30)
    [hot] = instances_of(api, BOBS, "bob")
    assert (hot["active"], hot["verified"], hot["last_verified_at"]) == (True, True, iso(CLOCK + 30))
    status = quick(api, BOBS, "bob")
    assert (status["status"], status["instance_count"], status["bounty"]) == ("hot", 1, None)
    assert status["instances"] == [{**entry, "active": True}]
    row = next(r for r in ok(api.get("/chutes/utilization")) if r["chute_id"] == BOBS_ID)
    assert (row["total_instance_count"], row["active_instance_count"]) == (1, 1)


def test_a_hot_chute_answers_its_running_instances(api: t.Any) -> None:
    status = quick(api, DEEPSEEK, "bob")
    assert (status["status"], status["instance_count"], status["bounty"]) == ("hot", 2, None)
    assert [(i["active"], i["gpu_count"], i["gpu_model_name"]) for i in status["instances"]] == [(True, 8, "h200")] * 2
    assert [i["instance_id"] for i in status["instances"]] == [i["instance_id"] for i in instances_of(api, DEEPSEEK, "bob")]


def test_an_idle_instance_of_a_private_chute_scales_down(api: t.Any) -> None:
    first = started(api)
    api.advance(10)  # hot now, idle from here
    api.advance(299)
    assert [i["instance_id"] for i in instances_of(api, BOBS, "bob")] == [first]
    api.advance(1)  # shutdown_after_seconds (300) of idle time
    chute = ok(api.get(f"/chutes/{BOBS}", "bob"))
    assert chute["instances"] == [] and chute["hot"] is False
    assert detail(api.get(logs_path(first), "bob"), 404) == NOT_FOUND
    again = quick(api, BOBS, "bob")  # cold again: warming starts a new instance
    assert again["status"] == "cold" and [i["instance_id"] for i in again["instances"]] != [first]


def test_an_invocation_keeps_an_instance_up(api: t.Any) -> None:
    instance = started(api)
    api.advance(200)
    api.record_invocation(BOBS_ID, "bob", started_at=CLOCK + 200, duration=5)
    api.advance(300)  # 300 s after readiness, but only 95 s after the invocation ended
    assert [i["instance_id"] for i in instances_of(api, BOBS, "bob")] == [instance]
    api.advance(10)
    assert instances_of(api, BOBS, "bob") == []


def test_public_chutes_and_the_fixture_worlds_instances_stay(api: t.Any) -> None:
    gemma = started(api, GEMMA, "bob", warmup_seconds=0)
    embeddings = instances_of(api, "alice-embeddings", "alice")
    assert embeddings and embeddings[0]["active"]
    api.advance(7 * 86400)
    assert [i["instance_id"] for i in instances_of(api, GEMMA, "bob")] == [gemma]
    assert instances_of(api, "alice-embeddings", "alice") == embeddings


def test_deleting_or_disabling_a_chute_or_resetting_ends_its_instances(api: t.Any) -> None:
    instance = started(api)
    ok(api.delete(f"/chutes/{BOBS_ID}", "bob"))
    assert detail(api.get(logs_path(instance), "bob"), 404) == NOT_FOUND

    api.reset()
    instance = started(api)
    ok(api.put(f"/chutes/{BOBS_ID}", {"disabled": True}, "bob"))
    assert detail(api.get(logs_path(instance), "bob"), 404) == NOT_FOUND

    api.reset()
    instance = started(api)
    api.reset()
    assert detail(api.get(logs_path(instance), "bob"), 404) == NOT_FOUND
    assert instances_of(api, BOBS, "bob") == []


def test_instances_travel_with_the_exported_state(api: t.Any) -> None:
    instance = started(api)
    exported = api.state()
    assert [(i["instance_id"], i["chute_id"], i["ready_at"]) for i in exported["instances"]
            if i["chute_id"] == BOBS_ID] == [(instance, BOBS_ID, CLOCK + 10)]
    api.reset()
    ok(api.client.put("/__mock__/packs/chutes/state", json=exported))
    api.advance(10)
    assert [(i["instance_id"], i["active"]) for i in instances_of(api, BOBS, "bob")] == [(instance, True)]


# -- GET /instances/{id}/logs: who may, and the checks in order --------------------------------------


def test_logs_need_credentials(api: t.Any) -> None:
    instance = started(api)
    assert detail(api.get(logs_path(instance)), 401) == NO_USER
    assert detail(api.get(logs_path("nope")), 401) == NO_USER


def test_logs_of_an_unknown_instance(api: t.Any) -> None:
    assert detail(api.get(logs_path("nope"), "bob"), 404) == NOT_FOUND
    assert detail(api.get(logs_path("nope", backfill=-1), "bob"), 404) == NOT_FOUND  # 404 before 400


def test_logs_of_a_public_chute_or_of_someone_elses_are_403(api: t.Any) -> None:
    deepseek = instances_of(api, DEEPSEEK, "chutes")[0]["instance_id"]
    embeddings = instances_of(api, "alice-embeddings", "alice")[0]["instance_id"]
    assert detail(api.get(logs_path(deepseek), "chutes"), 403) == FORBIDDEN  # its owner, but public
    assert detail(api.get(logs_path(embeddings), "bob"), 403) == FORBIDDEN
    assert detail(api.get(logs_path(embeddings, backfill=20000), "bob"), 403) == FORBIDDEN  # 403 before 400


@pytest.mark.parametrize("backfill", [-1, 10001, 10 ** 30])
def test_backfill_out_of_bounds(api: t.Any, backfill: int) -> None:
    instance = started(api)
    assert detail(api.get(logs_path(instance, backfill=backfill), "bob"), 400) == BACKFILL


def test_backfill_must_be_an_integer(api: t.Any) -> None:
    instance = started(api)
    [problem] = detail(api.get(logs_path(instance, backfill="lots"), "bob"), 422)
    assert problem["loc"] == ["query", "backfill"] and problem["type"] == "int_parsing"


def test_a_hotkey_signs_the_logs_purpose(api: t.Any, server: t.Any) -> None:
    instance = started(api)
    hotkey = USERS["bob"]["hotkey"]
    wrong = api.get(logs_path(instance), headers=signed("bob", purpose="chutes"))
    assert detail(wrong, 401) == f"Invalid request signature for hotkey {hotkey}. Message: {hotkey}:{CLOCK}:logs"
    status, content_type, events = read_stream(server, logs_path(instance), signed("bob", purpose="logs"),
                                               enough=lambda events: len(events) >= 1)
    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    assert events[0] == {"event": "connected", "filename": "current"}


def test_a_key_scoped_to_chutes_may_not_read_instance_logs(api: t.Any) -> None:
    embeddings = instances_of(api, "alice-embeddings", "alice")[0]["instance_id"]
    read_only = {"Authorization": key_of("alice", 1)}
    assert detail(api.get(logs_path(embeddings), headers=read_only), 401) == "Invalid token or user not found"


# -- GET /instances/{id}/logs: the stream ------------------------------------------------------------


def test_the_stream_starts_with_connected_then_the_backfill(api: t.Any, server: t.Any) -> None:
    instance = started(api, warmup_seconds=10)
    api.advance(10)
    status, _, everything = read_stream(server, logs_path(instance, backfill=10000), {"Authorization": key_of("bob")},
                                        enough=lambda events: "." in events)
    assert status == 200 and everything[0] == {"event": "connected", "filename": "current"}
    log = lines(everything)
    assert log[0].endswith(f"starting instance {instance} of chute {BOBS} ({BOBS_ID}) in "
                           f"{instances_of(api, BOBS, 'bob')[0]['region']}")
    assert log[0].startswith("2025-11-21 00:00:00.000 | INFO     | chutes.entrypoint.run - ")
    assert log[-1].startswith("2025-11-21 00:00:10.000 | SUCCESS  | ") and log[-1].endswith("accepting requests on port 8000")
    assert any("vllm.engine - initializing engine for bob-private-llm" in line for line in log)
    assert any("GPU 0: h100, 80 GB" in line for line in log)
    assert everything[len(log) + 1:] == ["."]  # nothing new on a frozen clock: a keepalive

    _, _, last_three = read_stream(server, logs_path(instance, backfill=3), {"Authorization": key_of("alice")},
                                   enough=lambda events: "." in events)
    assert lines(last_three) == log[-3:]  # alice: shared with her
    _, _, none = read_stream(server, logs_path(instance, backfill=0), {"Authorization": key_of("bob")},
                             enough=lambda events: "." in events)
    assert none == [{"event": "connected", "filename": "current"}, "."]


def test_the_stream_follows_the_engine_clock(api: t.Any, server: t.Any) -> None:
    instance = started(api, warmup_seconds=100)

    async def advance(client: httpx.AsyncClient) -> None:
        await asyncio.sleep(0.2)
        assert (await client.post("/__mock__/clock/advance", json={"seconds": 100})).status_code == 200

    _, _, events = read_stream(server, logs_path(instance, backfill=100), {"Authorization": key_of("bob")},
                               enough=lambda events: any("accepting requests" in line for line in lines(events)),
                               meanwhile=advance)
    log = lines(events)
    assert len(log) > 2 and log[0].startswith("2025-11-21 00:00:00.000")  # at once: the first line
    assert log[-1].startswith("2025-11-21 00:01:40.000 | SUCCESS")  # after the clock moved 100 s
    stamps = [line[:23] for line in log]
    assert stamps == sorted(stamps)

    async def a_minute_more(client: httpx.AsyncClient) -> None:
        await asyncio.sleep(0.2)
        assert (await client.post("/__mock__/clock/advance", json={"seconds": 60})).status_code == 200

    _, _, running = read_stream(server, logs_path(instance, backfill=0), {"Authorization": key_of("bob")},
                                enough=lambda events: len(lines(events)) >= 2, meanwhile=a_minute_more)
    assert lines(running) == [
        "2025-11-21 00:02:10.000 | INFO     | chutes.chute.base - up 30s, 0 requests in flight",
        "2025-11-21 00:02:40.000 | DEBUG    | chutes.entrypoint.run - validator health check: ok"]


def test_the_stream_ends_when_its_instance_goes_away(api: t.Any, server: t.Any) -> None:
    instance = started(api, warmup_seconds=0)

    async def scale_down(client: httpx.AsyncClient) -> None:
        await asyncio.sleep(0.2)
        assert (await client.post("/__mock__/clock/advance", json={"seconds": 300})).status_code == 200

    status, _, events = read_stream(server, logs_path(instance), {"Authorization": key_of("bob")},
                                    enough=lambda events: False, meanwhile=scale_down)  # reads to the end
    assert status == 200 and events[0] == {"event": "connected", "filename": "current"}
    assert lines(events)[-1].startswith("2025-11-21 00:05:00.000")  # written up to the moment it went


def test_state_saved_before_instances_were_records_still_loads(api: t.Any) -> None:
    """Older exports kept instances inside each chute; they load as records of that chute."""
    old = {key: value for key, value in api.state().items() if key != "instances"}
    embedded = {"instance_id": "11111111-2222-4333-8444-555555555555", "region": "eu-central", "active": True,
                "verified": True, "last_verified_at": iso(CLOCK), "gpu_model_name": "h100", "gpu_count": 1,
                "ready_at": None}
    for chute in old["chutes"]:
        chute["instances"] = [embedded] if chute["chute_id"] == BOBS_ID else []
    ok(api.client.put("/__mock__/packs/chutes/state", json=old))
    assert [(i["instance_id"], i["active"], i["verified"]) for i in instances_of(api, BOBS, "bob")] == [
        (embedded["instance_id"], True, True)]
    assert instances_of(api, "alice-embeddings", "alice") == []  # what the old export said
    assert quick(api, BOBS, "bob")["status"] == "hot"
