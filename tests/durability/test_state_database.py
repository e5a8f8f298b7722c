"""The state database behind `--state-file`: rows, blobs, partial failures, generator positions,
acknowledged means saved, and loading an old JSON state file."""

from __future__ import annotations

import hashlib
import io
import os
import typing as t
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine import records, statefile
from mockserver.engine.pipeline import Settings
from mockserver.engine.records import Rows
from mockserver.engine.statefile import StateDatabase

AUTH = {"authorization": "Bearer good"}


def _database(path: Path) -> StateDatabase:
    database = StateDatabase(path)
    database.open()
    return database


def _saved(path: Path) -> dict:
    database = _database(path)
    try:
        return database.read()
    finally:
        database.close()


def _blob_files(path: Path) -> list[Path]:
    return sorted(p for p in path.with_name(path.name + ".blobs").rglob("*") if p.is_file())


# -- the database on its own ---------------------------------------------------------------------


def test_sections_come_back_as_they_were_written_in_order(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    users = {"u2": {"id": "u2"}, "u1": {"id": "u1", "deep": [{"x": 1}]}}  # not in key order
    database = _database(path)
    database.write({"p": records.capture({
        "users": Rows(users), "by_name": Rows({"b": 2, "a": 1}, as_dict=True),
        "events": [{"n": 3}, {"n": 1}], "level": 20, "settings": {"a": None}, "png": b"\x89PNG"})},
        complete={"p"})
    database.close()
    saved = _saved(path)["p"]
    assert saved["users"] == [{"id": "u2"}, {"id": "u1", "deep": [{"x": 1}]}]
    assert list(saved["by_name"].items()) == [("b", 2), ("a", 1)]
    assert saved["events"] == [{"n": 3}, {"n": 1}]
    assert (saved["level"], saved["settings"], saved["png"]) == (20, {"a": None}, b"\x89PNG")


def test_a_commit_writes_only_the_records_that_changed(tmp_path: Path) -> None:
    database = _database(tmp_path / "state.db")
    images = {f"i{n}": {"name": f"i{n}", "starred": False} for n in range(500)}
    assert database.write({"p": records.capture({"images": Rows(images)})}, {"p"}).rows_written == 500
    images["i7"]["starred"] = True
    images["new"] = {"name": "new"}
    stats = database.write({"p": records.capture({"images": Rows(images)})}, {"p"})
    assert (stats.rows_written, stats.rows_deleted) == (2, 0)
    del images["i3"]
    assert database.write({"p": records.capture({"images": Rows(images)})}, {"p"}).rows_deleted == 1
    database.close()
    assert [i["name"] for i in _saved(tmp_path / "state.db")["p"]["images"]][-2:] == ["i499", "new"]


def test_blobs_are_files_named_by_their_content_and_go_when_nothing_refers_to_them(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    database = _database(path)
    picture = os.urandom(4096)
    blobs = {"a": picture, "b": picture}  # the same bytes twice: one file
    database.write({"p": records.capture({"bytes": Rows(blobs, as_dict=True)})}, {"p"})
    digest = hashlib.sha256(picture).hexdigest()
    assert [f.name for f in _blob_files(path)] == [digest]
    assert _blob_files(path)[0].read_bytes() == picture
    assert picture not in path.read_bytes()  # not inside the database, base64 or raw
    del blobs["a"]
    database.write({"p": records.capture({"bytes": Rows(blobs, as_dict=True)})}, {"p"})
    assert len(_blob_files(path)) == 1  # "b" still refers to it
    del blobs["b"]
    database.write({"p": records.capture({"bytes": Rows(blobs, as_dict=True)})}, {"p"})
    assert _blob_files(path) == []
    database.close()


def test_blob_files_left_behind_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    database = _database(path)
    database.write({"p": records.capture({"bytes": Rows({"a": b"kept"}, as_dict=True)})}, {"p"})
    database.close()
    stray = path.with_name("state.db.blobs") / "ff" / ("ff" * 32)
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"written for a commit that never happened")
    database = _database(path)
    assert database.read()["p"]["bytes"] == {"a": b"kept"}
    assert database.remove_unreferenced_blobs() == 1 and not stray.exists()
    database.close()


def test_one_record_that_cannot_be_saved_does_not_stop_the_others(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    database = _database(path)
    deep: t.Any = "bottom"
    for _ in range(100_000):  # deeper than any JSON encoder goes
        deep = {"form": deep}
    workflows = {"ok": {"id": "ok"}, "bad": {"id": "bad", "form": deep}, "odd": {"id": "odd", "x": object()}}
    history = [{"n": 1}, {"n": 2, "form": deep}, {"n": 3}]
    database.write({"p": records.capture({"workflows": Rows(workflows), "history": history, "level": 1})}, {"p"})
    workflows["later"] = {"id": "later"}
    history.append({"n": 4})
    database.write({"p": records.capture({"workflows": Rows(workflows), "history": history, "level": 2})}, {"p"})
    database.close()
    saved = _saved(path)["p"]
    assert [w["id"] for w in saved["workflows"]] == ["ok", "later"] and saved["level"] == 2
    assert saved["history"] == [{"n": 1}, {"n": 3}, {"n": 4}]


def test_records_nested_deeper_than_orjson_goes_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    nested: t.Any = 1
    for _ in range(400):  # orjson stops at 254
        nested = [nested]
    database = _database(path)
    database.write({"p": records.capture({"form": nested})}, {"p"})
    database.close()
    assert _saved(path)["p"]["form"] == nested


def test_something_else_at_the_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"\x00\x01 not a database")
    with pytest.raises(statefile.NotAStateFile, match="not a mockserver state file"):
        StateDatabase(path).kind()


# -- the server with --state-file ----------------------------------------------------------------


def _invokeai(path: Path | None, seed: int | None = 1, apis: tuple[str, ...] = ("invokeai",),
              settings: Settings | None = None) -> t.Any:
    return build_server(ServerConfig(apis=list(apis), seed=seed, state_file=path, settings=settings or Settings()))


def _board(client: TestClient, name: str) -> str:
    response = client.post("/api/v1/boards/", params={"board_name": name})
    assert response.status_code == 201, response.text
    return response.json()["board_id"]


def _workflow(client: TestClient, name: str) -> str:
    workflow = {"name": name, "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "",
                "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"},
                "nodes": [], "edges": [], "form": None}
    response = client.post("/api/v1/workflows/", json={"workflow": workflow})
    assert response.status_code == 200, response.text
    return response.json()["workflow_id"]


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def test_a_seeded_server_never_hands_out_an_id_twice_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with TestClient(_invokeai(path, apis=("invokeai", "chutes"))) as client:
        board_a = _board(client, "a")
        workflow_a = _workflow(client, "wa")
        user_a = client.post("/__mock__/packs/chutes/users", json={"username": "durable_a"}).json()["user_id"]
    with TestClient(_invokeai(path, apis=("invokeai", "chutes"))) as client:
        board_b = _board(client, "b")
        workflow_b = _workflow(client, "wb")
        user_b = client.post("/__mock__/packs/chutes/users", json={"username": "durable_b"}).json()["user_id"]
        assert (board_b, workflow_b, user_b) != (board_a, workflow_a, user_a)
        assert board_a != board_b and workflow_a != workflow_b and user_a != user_b
        boards = {b["board_id"]: b["board_name"] for b in client.get("/api/v1/boards/", params={"all": True}).json()}
        assert boards == {board_a: "a", board_b: "b"}
        assert client.get(f"/api/v1/workflows/i/{workflow_a}").json()["workflow"]["name"] == "wa"
        names = {u["username"] for u in client.get("/__mock__/packs/chutes/users").json()}
        assert {"durable_a", "durable_b"} <= names


def test_an_answered_write_is_already_in_the_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TestClient(_invokeai(path)) as client:
        board = _board(client, "saved before the answer")
        response = client.post("/api/v1/images/upload", params={"image_category": "general", "is_intermediate": False,
                                                                "board_id": board},
                               files={"file": ("a.png", _png(), "image/png")})
        assert response.status_code == 201
        name = response.json()["image_name"]
        # another reader of the database, while the server still runs
        saved = _saved(path)["invokeai"]
        assert any(b["board_id"] == board for b in saved["boards"])
        assert [i["board_id"] for i in saved["images"] if i["image_name"] == name] == [board]
        assert saved["image_bytes"][name] == client.get(f"/api/v1/images/i/{name}/full").content


def test_images_survive_a_restart_as_files(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TestClient(_invokeai(path, seed=None)) as client:
        upload = client.post("/api/v1/images/upload", params={"image_category": "general", "is_intermediate": False},
                             files={"file": ("a.png", _png(), "image/png")}).json()
        original = client.get(f"/api/v1/images/i/{upload['image_name']}/full").content
    assert hashlib.sha256(original).hexdigest() in [f.name for f in _blob_files(path)]
    with TestClient(_invokeai(path, seed=None)) as client:
        assert client.get(f"/api/v1/images/i/{upload['image_name']}/full").content == original
        client.delete(f"/api/v1/images/i/{upload['image_name']}")
    assert hashlib.sha256(original).hexdigest() not in [f.name for f in _blob_files(path)]


def test_a_write_that_cannot_be_saved_is_not_acknowledged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    with TestClient(_invokeai(path, apis=("invokeai", "chutes"))) as client:
        def disk_full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(StateDatabase, "write", disk_full)
        response = client.post("/api/v1/boards/", params={"board_name": "lost"})
        assert response.status_code == 503
        assert "could not be saved" in response.json()["detail"]  # InvokeAI's own error shape
        control = client.post("/__mock__/packs/chutes/users", json={"username": "durable_c"})
        assert control.status_code == 503 and "could not be saved" in control.json()["error"]["message"]
        assert client.get("/api/v1/app/version").status_code == 200  # reads do not wait
        monkeypatch.undo()
        assert client.post("/api/v1/boards/", params={"board_name": "kept"}).status_code == 201
    names = {b["board_name"] for b in _saved(path)["invokeai"]["boards"]}
    assert "kept" in names  # the failed commit's changes went with the next one


def test_state_imported_through_the_control_plane_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TestClient(_invokeai(path)) as client:
        _board(client, "from export")
        exported = client.get("/__mock__/state").json()
        client.post("/__mock__/reset")
        assert client.get("/api/v1/boards/", params={"all": True}).json() == []
        assert client.put("/__mock__/state", json=exported).status_code == 200
        _board(client, "after the import")  # the generators moved past the export's ids
    with TestClient(_invokeai(path)) as client:
        names = {b["board_name"] for b in client.get("/api/v1/boards/", params={"all": True}).json()}
        assert names == {"from export", "after the import"}


def test_a_json_state_file_from_before_the_database_is_loaded_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TestClient(_invokeai(None)) as client:  # type: ignore[arg-type]
        _board(client, "old")
        exported = client.get("/__mock__/state").json()
    path.write_bytes(orjson.dumps(exported))
    with TestClient(_invokeai(path)) as client:
        assert [b["board_name"] for b in client.get("/api/v1/boards/", params={"all": True}).json()] == ["old"]
        _board(client, "new")  # same seed: were the generators not moved on, this would replace "old"
    assert path.read_bytes().startswith(statefile.SQLITE_MAGIC)
    assert orjson.loads(path.with_name("state.json.v1.json").read_bytes()) == exported
    with TestClient(_invokeai(path)) as client:
        assert {b["board_name"] for b in client.get("/api/v1/boards/", params={"all": True}).json()} == {"old", "new"}


def _live(store: t.Any) -> dict:
    """The store as a commit comparing every record would save it."""
    with store.lock:
        captured = records.capture(store.durable_records())
    return {name: records.rebuild(section.kind, [(row.key, row.payload if row.kind == records.BLOB
                                                   else records.parse(row.payload)) for row in section.rows])
            for name, section in captured.items()}


def test_each_answer_leaves_the_database_holding_exactly_the_served_state(tmp_path: Path) -> None:
    """Many kinds of change, most saved by commits that read only what they touched: after each
    answer, the database holds what a commit reading everything would have saved."""
    path = tmp_path / "state.db"
    server = build_server(ServerConfig(apis=["invokeai"], seed=3, state_file=path, clock_start=1_750_000_000))
    store = lambda: server.runtimes["invokeai"].state  # noqa: E731 - replaced by reset and import

    def saved_is_served() -> None:
        saved = _saved(path)["invokeai"]
        saved.pop("~generators")
        assert saved == _live(store())

    with TestClient(server) as client:
        assert client.put("/__mock__/packs/invokeai/settings", json={"queue_speed": "instant"}).status_code == 200
        board = _board(client, "first")
        kept = _board(client, "second")
        client.patch(f"/api/v1/boards/{board}", json={"board_name": "renamed"})
        saved_is_served()
        names = []
        for _ in range(3):
            answer = client.post("/api/v1/images/upload", files={"file": ("a.png", _png(), "image/png")},
                                 params={"image_category": "general", "is_intermediate": False, "board_id": board})
            names.append(answer.json()["image_name"])
        saved_is_served()
        client.post("/api/v1/images/star", json={"image_names": names[:2]})
        saved_is_served()
        client.patch(f"/api/v1/images/i/{names[2]}", json={"starred": True, "image_category": "user"})
        saved_is_served()
        client.post("/api/v1/images/delete", json={"image_names": [names[1]]})
        saved_is_served()
        workflow = _workflow(client, "flow")
        _workflow(client, "doomed")
        client.delete(f"/api/v1/workflows/i/{_workflow(client, 'gone')}")
        client.put(f"/api/v1/workflows/i/{workflow}/opened_at")
        saved_is_served()
        batch = {"batch": {"graph": {"id": "g", "nodes": {"blank": {
            "id": "blank", "type": "blank_image", "width": 16, "height": 16, "mode": "RGB",
            "color": {"r": 1, "g": 2, "b": 3, "a": 255}, "is_intermediate": False}}, "edges": []}, "runs": 2}}
        assert client.post("/api/v1/queue/default/enqueue_batch", json=batch).status_code == 200
        saved_is_served()
        client.put("/api/v1/queue/default/processor/pause")
        saved_is_served()
        client.post("/api/v1/client_state/default/set_by_key", params={"key": "k"}, json="v")
        client.delete(f"/api/v1/boards/{kept}")
        saved_is_served()
        served = client.get("/__mock__/state").json()
        server.durability.commit = lambda: False  # type: ignore[method-assign]  # no last commit
    with TestClient(build_server(ServerConfig(apis=["invokeai"], seed=3, state_file=path,
                                              clock_start=1_750_000_000))) as client:
        restored = client.get("/__mock__/state").json()
    assert restored["packs"] == served["packs"]
    origins = sorted(image["image_origin"] for image in served["packs"]["invokeai"]["images"])
    assert origins[:2] == ["external", "external"] and "internal" in origins  # uploads and the queue's


def test_a_server_stopped_and_started_again_in_one_process_keeps_saving(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    server = _invokeai(path)
    with TestClient(server) as client:
        _board(client, "before")
    with TestClient(server) as client:
        _board(client, "after")
        assert {b["board_name"] for b in _saved(path)["invokeai"]["boards"]} == {"before", "after"}


def test_changes_no_request_waits_for_are_saved_by_the_periodic_commit(tmp_path: Path) -> None:
    import time

    path = tmp_path / "state.db"
    server = _invokeai(path)
    with TestClient(server):
        # as the queue runner would
        server.runtimes["invokeai"].state.gallery.add_board("made in the background", False)
        for _ in range(600):
            if any(b["board_name"] == "made in the background"
                   for b in _saved(path).get("invokeai", {}).get("boards", [])):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the background change never reached the database")


def test_usage_events_are_saved_by_day_and_come_back_with_their_costs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    def usage_server() -> t.Any:
        return build_server(ServerConfig(apis=["openai_usage"], seed=2, state_file=path, clock_start=1_750_000_000))

    server = usage_server()
    events = {"events": [
        {"kind": "completions", "time": 1_749_990_000, "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 50},
        {"kind": "costs", "time": 1_749_990_100, "line_item": "fine-tuning", "amount": 1.25,
         "quantity_unit": "hours", "quantity": 0.5}]}
    with TestClient(server) as client:
        server.save_state()  # the seeded history, written whole once
        assert client.post("/__mock__/packs/openai_usage/events", json=events).status_code == 201
        stats = server.durability.last_stats
        # that day's usage and cost rows, the direct cost events, the units, the id generators
        assert 0 < stats.rows_written < 20
        served = client.get("/__mock__/state").json()
    with TestClient(usage_server()) as client:
        assert client.get("/__mock__/state").json()["packs"] == served["packs"]


def test_a_deeply_nested_workflow_is_saved_and_does_not_stop_later_saves(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    form: t.Any = "x"
    for _ in range(300):  # orjson, which the old state file used, stops at 254
        form = {"f": form}
    workflow = {"name": "deep", "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "",
                "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"},
                "nodes": [], "edges": [], "form": form}
    # Past the default depth limit (128): a server told to accept deeper JSON must still save it.
    deeper = Settings(max_json_depth=400)
    with TestClient(_invokeai(path, settings=deeper)) as client:
        deep = client.post("/api/v1/workflows/", json={"workflow": workflow}).json()["workflow_id"]
        _board(client, "after")
    with TestClient(_invokeai(path, settings=deeper)) as client:
        assert client.get(f"/api/v1/workflows/i/{deep}").json()["workflow"]["form"] == form
        assert [b["board_name"] for b in client.get("/api/v1/boards/", params={"all": True}).json()] == ["after"]
