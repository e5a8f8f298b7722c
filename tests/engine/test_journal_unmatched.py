"""Requests no operation answers are in the journal too (marked unmatched, with what was sent),
and the journal's counts say how many entries matched and how many the bounds pushed out."""

from __future__ import annotations

import typing as t

from starlette.testclient import TestClient

from mockserver.engine.journal import JournalLimits
from mockserver.engine.pack import Pack
from mockserver.engine.pipeline import Settings
from tests.engine.conftest import make_server, tiny_pack

AUTH = {"authorization": "Bearer good"}


def _journal(client: TestClient, **params: t.Any) -> dict[str, t.Any]:
    answer = client.get("/__mock__/journal", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _second_pack() -> Pack:
    return tiny_pack(name="other", prefixes=("/other",))


def test_a_path_no_pack_serves_is_journaled_as_unmatched_with_its_body() -> None:
    with TestClient(make_server(tiny_pack(), _second_pack())) as client:
        answer = client.post("/nowhere/at/all?x=1", json={"sent": "this"})
        assert answer.status_code == 404
        client.get("/tiny/items", headers=AUTH)
        [entry] = _journal(client, unmatched="true")["requests"]
    assert entry["pack"] is None and entry["operation_id"] is None and entry["unmatched"] is True
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == ("POST", "/nowhere/at/all", "x=1", 404)
    assert entry["body"] == {"sent": "this"} and entry["response_body"] == {"detail": "Not Found"}


def test_unknown_paths_and_methods_of_a_pack_are_unmatched_and_served_ones_are_not() -> None:
    with TestClient(make_server(tiny_pack())) as client:
        client.get("/tiny/items", headers=AUTH)
        client.get("/tiny/no-such-thing", headers=AUTH)
        client.patch("/tiny/items", headers=AUTH)
        unmatched = _journal(client, unmatched="true")
        matched = _journal(client, unmatched="false")
    assert [(e["method"], e["path"], e["status"]) for e in unmatched["requests"]] == [
        ("GET", "/tiny/no-such-thing", 404), ("PATCH", "/tiny/items", 405)]
    assert all(e["pack"] == "tiny" for e in unmatched["requests"])
    assert [(e["operation_id"], e["unmatched"]) for e in matched["requests"]] == [("listItems", False)]


def test_total_counts_every_match_whatever_the_limit() -> None:
    with TestClient(make_server(tiny_pack())) as client:
        for _ in range(5):
            client.get("/tiny/items", headers=AUTH)
        journal = _journal(client, limit=2)
    assert journal["total"] == 5 and len(journal["requests"]) == 2
    assert [e["id"] for e in journal["requests"]] == [4, 5]


def test_dropped_counts_what_the_bounds_pushed_out_until_cleared() -> None:
    settings = Settings(validate_responses=True, journal=JournalLimits(max_entries=3))
    with TestClient(make_server(tiny_pack(), settings=settings)) as client:
        for _ in range(7):
            client.get("/tiny/items", headers=AUTH)
        journal = _journal(client)
        assert (journal["total"], journal["dropped"]) == (3, 4)
        counts = client.get("/__mock__/health").json()["journal"]
        assert (counts["entries"], counts["dropped"], counts["max_entries"]) == (3, 4, 3) and counts["bytes"] > 0
        client.delete("/__mock__/journal")
        assert _journal(client)["dropped"] == 0


def test_the_control_plane_itself_is_not_journaled() -> None:
    with TestClient(make_server(tiny_pack())) as client:
        client.get("/__mock__/health")
        client.get("/__mock__/nothing-here")
        assert _journal(client)["total"] == 0


class _FilesBehind:
    """A companion whose root mount serves `/tiny/page.html` and 404s anything else, as a web UI's
    static mount does behind a real server's routes."""

    mounts: dict[str, t.Any] = {}

    def __init__(self, state: t.Any, options: t.Any) -> None:
        self.catch_all = self._files

    async def _files(self, scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
        found = scope["path"] == "/tiny/page.html"
        body = b"<p>page</p>" if found else b'{"detail":"Not Found"}'
        await send({"type": "http.response.start", "status": 200 if found else 404,
                    "headers": [(b"content-type", b"text/html" if found else b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    async def run(self) -> None:
        return None


def test_a_mount_behind_the_routes_has_its_misses_journaled_not_its_files() -> None:
    with TestClient(make_server(tiny_pack(companion=_FilesBehind))) as client:
        assert client.get("/tiny/page.html").text == "<p>page</p>"
        assert client.post("/tiny/api/missing", content=b"sent").status_code == 404
        journal = _journal(client)
    assert [(e["method"], e["path"], e["status"], e["unmatched"]) for e in journal["requests"]] == [
        ("POST", "/tiny/api/missing", 404, True)]
    assert journal["requests"][0]["body"] == "sent" and journal["requests"][0]["response_body"] == {"detail": "Not Found"}


def test_a_chute_invocation_through_the_catch_all_is_matched_an_unknown_path_is_not() -> None:
    from mockserver.app import ServerConfig, build_server

    key = "cpk_bbd0c6d548d393c5f96e75c454fa23d8.7eaf7622ac49569783f9dcc368efc0fc.eosfhypnXLDn8S9wPNWkPLR347A7TPdo"
    chat = {"model": "deepseek-ai/DeepSeek-V3-0324", "messages": [{"role": "user", "content": "hi"}]}
    with TestClient(build_server(ServerConfig(apis=["chutes"], seed=3))) as client:
        assert client.post("/hosts/llm/v1/chat/completions", headers={"authorization": key}, json=chat).status_code == 200
        assert client.post("/hosts/llm/v1/no-such-cord", headers={"authorization": key}, json=chat).status_code == 404
        assert client.get("/nope").status_code == 401
        entries = _journal(client)["requests"]
    assert [(e["path"], e["status"], e["unmatched"]) for e in entries] == [
        ("/v1/chat/completions", 200, False), ("/v1/no-such-cord", 404, True), ("/nope", 401, True)]
