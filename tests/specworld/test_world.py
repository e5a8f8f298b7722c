"""`serve --spec`: a hand-written document served as a stateful world."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

DATA = Path(__file__).parent / "data"
TRACKER = DATA / "tracker.yaml"


def _client(spec: Path = TRACKER, seed: int = 1, **config: t.Any) -> TestClient:
    return TestClient(build_server(ServerConfig(spec=spec, seed=seed, settings=Settings(validate_responses=True),
                                                **config)))


def test_a_created_item_is_read_back_listed_changed_and_deleted() -> None:
    with _client() as client:
        created = client.post("/v1/projects", json={"name": "Apollo", "owner": {"email": "ada@example.com"}})
        assert created.status_code == 201
        project = created.json()
        assert project["id"] == 1 and project["name"] == "Apollo"
        assert project["owner"]["email"] == "ada@example.com"
        assert project["status"] == "active"  # the body's default, stored
        assert project["url"] and project["created_at"]  # generated, schema-valid (validate_responses is on)
        assert client.get("/v1/projects/1").json() == project
        assert client.get("/v1/projects").json() == [project]

        changed = client.patch("/v1/projects/1", json={"status": "archived"})
        assert changed.status_code == 200
        assert changed.json() == {**project, "status": "archived"}
        assert client.get("/v1/projects/1").json()["status"] == "archived"

        assert client.delete("/v1/projects/1").status_code == 204
        missing = client.get("/v1/projects/1")
        assert missing.status_code == 404
        assert set(missing.json()) == {"code", "message"} and missing.json()["message"] == "Not Found"
        assert client.get("/v1/projects").json() == []
        assert client.delete("/v1/projects/1").status_code == 404


def test_ids_count_up_and_lists_page_and_filter_by_fields() -> None:
    with _client() as client:
        for index in range(5):
            body = {"name": f"p{index}", "status": "archived" if index % 2 else "active"}
            assert client.post("/v1/projects", json=body).json()["id"] == index + 1
        assert [p["id"] for p in client.get("/v1/projects", params={"per_page": 2, "page": 2}).json()] == [3, 4]
        assert [p["name"] for p in client.get("/v1/projects", params={"status": "archived"}).json()] == ["p1", "p3"]


def test_nested_items_live_under_their_parent_and_go_with_it() -> None:
    with _client() as client:
        for name in ("a", "b"):
            client.post("/v1/projects", json={"name": name})
        task = client.post("/v1/projects/1/tasks", json={"title": "write"}).json()
        assert len(task["id"]) == 36 and task["title"] == "write"  # a uuid, as the id parameter says
        assert client.get(f"/v1/projects/1/tasks/{task['id']}").json() == task
        assert client.get(f"/v1/projects/2/tasks/{task['id']}").status_code == 404
        listing = client.get("/v1/projects/1/tasks").json()
        assert listing == {"total_count": 1, "tasks": [task]}
        assert client.get("/v1/projects/2/tasks").json() == {"total_count": 0, "tasks": []}
        client.delete("/v1/projects/1")
        assert client.get(f"/v1/projects/1/tasks/{task['id']}").status_code == 404
        # under a project that does not exist there is nothing to list or create
        assert client.get("/v1/projects/1/tasks").status_code == 404
        orphan = client.post("/v1/projects/9/tasks", json={"title": "orphan"})
        assert orphan.status_code == 404 and orphan.json()["message"] == "Not Found"


def test_put_creates_or_replaces_at_the_given_id() -> None:
    with _client() as client:
        client.post("/v1/projects", json={"name": "p"})
        task_id = "0b7f3a52-3c1e-4a43-9a39-4b8d0f4c7f10"
        put = client.put(f"/v1/projects/1/tasks/{task_id}", json={"id": task_id, "title": "t", "done": False})
        assert put.status_code == 200 and put.json()["id"] == task_id
        again = client.put(f"/v1/projects/1/tasks/{task_id}", json={"id": task_id, "title": "t", "done": True})
        assert again.json()["done"] is True
        assert client.get(f"/v1/projects/1/tasks/{task_id}").json()["done"] is True


def test_invalid_requests_get_the_documents_error_schema() -> None:
    with _client() as client:
        refused = client.post("/v1/projects", json={"status": "archived"})
        assert refused.status_code == 422
        assert set(refused.json()) == {"code", "message"}
        assert "name" in refused.json()["message"] and "Field required" in refused.json()["message"]
        # getProject documents no 422: the error schema the rest of the document uses for it
        wrong_type = client.get("/v1/projects/abc")
        assert wrong_type.status_code == 422 and set(wrong_type.json()) == {"code", "message"}
        assert "path.project_id: Input should be a valid integer" in wrong_type.json()["message"]


def test_examples_are_answered_by_their_value() -> None:
    with _client() as client:
        assert client.get("/v1/status").json() == {"healthy": True, "version": "1.4.2"}


def test_the_same_seed_makes_the_same_world() -> None:
    # On one frozen clock: on a running one, two creations a second boundary apart differ in their
    # created_at (a clean checkout's run failed so), whatever the seed.
    start = {"clock_start": 1_767_225_600}
    with _client(**start) as one, _client(**start) as two, _client(seed=2, **start) as other:
        bodies = [c.post("/v1/projects", json={"name": "x"}).json() for c in (one, two, other)]
        assert bodies[0] == bodies[1] != bodies[2]


def test_state_exports_imports_and_resets_through_the_control_plane() -> None:
    with _client() as client:
        client.post("/v1/projects", json={"name": "kept"})
        exported = client.get("/__mock__/packs/tracker/state").json()
        assert list(exported["collections"]["/projects"]) == ["1"]
        client.post("/__mock__/reset")
        assert client.get("/v1/projects").json() == []
        assert client.put("/__mock__/packs/tracker/state", json=exported).status_code == 200
        assert client.get("/v1/projects/1").json()["name"] == "kept"
        assert client.post("/v1/projects", json={"name": "next"}).json()["id"] == 2


def test_journal_and_faults_apply_to_a_world() -> None:
    with _client() as client:
        client.post("/v1/projects", json={"name": "j"})
        entries = client.get("/__mock__/journal").json()["requests"]
        assert [e["operation_id"] for e in entries] == ["createProject"]
        fault = {"pack": "tracker", "operation_id": "getProject", "status": 503, "remaining": 1}
        assert client.post("/__mock__/faults", json=fault).status_code == 201
        assert client.get("/v1/projects/1").status_code == 503
        assert client.get("/v1/projects/1").status_code == 200


def test_the_state_file_keeps_a_world_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "world.db"
    with _client(state_file=state) as client:
        client.post("/v1/projects", json={"name": "durable"})
    with _client(state_file=state) as client:
        assert client.get("/v1/projects/1").json()["name"] == "durable"
        assert client.post("/v1/projects", json={"name": "after"}).json()["id"] == 2


NOTEBOOKS = DATA / "notebooks-3.1.json"


def test_openapi_31_documents_are_served() -> None:
    with _client(NOTEBOOKS) as client:
        created = client.post("/notebooks", json={"name": "Field Notes", "kind": "notebook", "summary": None})
        assert created.status_code == 201
        notebook = created.json()
        assert notebook["slug"] == "field-notes" and notebook["summary"] is None  # a slug from the name
        assert client.get("/notebooks/field-notes").json() == notebook
        assert client.get("/notebooks", params={"kind": "notebook"}).json() == [notebook]
        assert client.delete("/notebooks/field-notes").status_code == 204
        gone = client.get("/notebooks/field-notes")
        assert gone.status_code == 404 and gone.json()["title"] == "Not Found" and gone.json()["status"] == 404


@pytest.mark.parametrize("body", [
    {"name": "x", "kind": "binder"},  # const
    {"name": "x", "kind": "notebook", "pages": 1000},  # exclusiveMaximum as a number
    {"name": "x", "kind": "notebook", "summary": 3},  # type [string, null]
])
def test_openapi_31_keywords_are_enforced(body: dict[str, t.Any]) -> None:
    with _client(NOTEBOOKS) as client:
        refused = client.post("/notebooks", json=body)
        assert refused.status_code == 400, refused.text
        assert set(refused.json()) >= {"type", "title", "status"}


def test_an_edited_referenced_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(tmp_path / "cache"))
    spec = tmp_path / "api.yaml"
    spec.write_text("""
openapi: 3.1.0
info: {title: api, version: "1"}
paths:
  /motd:
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "parts.yaml#/Motd"}}}}
""")
    parts = tmp_path / "parts.yaml"
    for text in ("hello", "changed"):
        parts.write_text(f"Motd: {{type: object, properties: {{text: {{const: {text}}}}}, required: [text]}}\n")
        with TestClient(build_server(ServerConfig(spec=spec, seed=1))) as client:
            assert client.get("/motd").json() == {"text": text}
    assert list((tmp_path / "cache").glob("world-*.pickle"))  # the cache was used, and not stale


def test_creation_times_follow_the_engine_clock() -> None:
    with _client(clock_start=1_767_225_600) as client:  # 2026-01-01T00:00:00Z, frozen
        assert client.post("/v1/projects", json={"name": "dated"}).json()["created_at"] == "2026-01-01T00:00:00Z"
        client.post("/__mock__/clock/advance", json={"seconds": 3600})
        task = client.post("/v1/projects/1/tasks", json={"title": "later"}).json()
        assert task["created_at"] == "2026-01-01T01:00:00Z"
