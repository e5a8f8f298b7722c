"""`mockserver infer` and the overrides that correct what it infers."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.cli import main

DATA = Path(__file__).parent / "data"


def test_infer_prints_resources_ids_and_roles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", str(DATA / "tracker.yaml")]) == 0
    out = capsys.readouterr().out
    assert "projects: /projects  item /projects/{project_id}" in out
    assert "id: {project_id} -> field 'id' (counter)" in out
    assert "id: {task_id} -> field 'id' (uuid)" in out
    assert "tasks: /projects/{project_id}/tasks  item /projects/{project_id}/tasks/{task_id}  under " \
           "/projects/{project_id}" in out
    assert "create  createProject" in out and "delete  deleteProject" in out
    assert "2 resources; 1 other operations" in out


def test_infer_names_a_bad_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    swagger = tmp_path / "old.json"
    swagger.write_text('{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}')
    assert main(["infer", str(swagger)]) == 2
    assert "Swagger 2.0 is not served" in capsys.readouterr().err


OVERRIDES = """
operations:
  createTask: {role: static}
resources:
  /projects:
    id: slug
    id-field: name
"""


def test_an_override_file_changes_roles_and_id_assignment(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(OVERRIDES)
    assert main(["infer", str(DATA / "tracker.yaml"), "--overrides", str(overrides)]) == 0
    out = capsys.readouterr().out
    assert "id: {project_id} -> field 'name' (slug)" in out
    assert "create  createTask" not in out
    server = build_server(ServerConfig(spec=DATA / "tracker.yaml", seed=1, spec_overrides=overrides))
    with TestClient(server) as client:
        # createTask answers a generated task but keeps nothing
        # projects are keyed by their name now (a slug id taken from the body's id field)
        assert client.post("/v1/projects", json={"name": "Big Plan"}).status_code == 201
        assert list(client.get("/__mock__/packs/tracker/state").json()["collections"]["/projects"]) == ["Big Plan"]
        client.post("/__mock__/reset")
        client.post("/v1/projects", json={"name": "1"})  # a project whose key the task path can name
        created = client.post("/v1/projects/1/tasks", json={"title": "static now"})
        assert created.status_code == 201 and client.get(f"/v1/projects/1/tasks/{created.json()['id']}").status_code == 404
        assert client.get("/v1/projects/1/tasks").json()["tasks"] == []


EXTENDED = """
openapi: 3.0.3
info: {title: ext, version: "1"}
paths:
  /things/{key}:
    put:
      x-mockserver-id-field: key
      parameters: [{name: key, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}}
    get:
      parameters: [{name: key, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}}
  /things/{key}/touch:
    post:
      x-mockserver-role: update
      x-mockserver-resource: /things
      parameters: [{name: key, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}}
components:
  schemas:
    Thing:
      type: object
      properties:
        key: {type: string}
        colour: {type: string}
"""


def test_extensions_in_the_document_name_roles(tmp_path: Path) -> None:
    spec = tmp_path / "ext.yaml"
    spec.write_text(EXTENDED)
    with TestClient(build_server(ServerConfig(spec=spec, seed=1))) as client:
        assert client.put("/things/lamp", json={"colour": "red"}).json() == {"key": "lamp", "colour": "red"}
        assert client.post("/things/lamp/touch", json={"colour": "blue"}).json()["colour"] == "blue"
        assert client.get("/things/lamp").json() == {"key": "lamp", "colour": "blue"}
        assert client.get("/things/door").status_code == 404
