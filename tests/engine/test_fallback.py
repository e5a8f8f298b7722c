"""`serve --spec`: a user's spec with no pack answers schema-valid, seeded bodies."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings

PETSTORE = Path(__file__).parent / "data" / "petstore.yaml"


def _client(seed: int = 1) -> TestClient:
    return TestClient(build_server(ServerConfig(spec=PETSTORE, seed=seed,
                                                settings=Settings(validate_responses=True))))


def test_generated_bodies_validate_and_are_seeded() -> None:
    with _client() as client, _client() as twin, _client(seed=2) as other:
        response = client.get("/api/pets")
        assert response.status_code == 200  # validate_responses would turn a bad body into a 500
        pets = response.json()
        assert pets and all(isinstance(p["id"], int) and p["name"] for p in pets)
        assert twin.get("/api/pets").json() == pets
        assert other.get("/api/pets").json() != pets


def test_documented_examples_win() -> None:
    with _client() as client:
        response = client.post("/api/pets", json={"name": "Rex"})
        assert response.status_code == 201
        assert response.json() == {"id": 42, "name": "Rex", "tag": "dog"}


def test_requests_are_still_validated() -> None:
    with _client() as client:
        assert client.get("/api/pets", params={"limit": 1000}).status_code == 422
        assert client.post("/api/pets", json={"tag": "x"}).status_code == 422
        assert client.delete("/api/pets/abc").status_code == 422
        assert client.delete("/api/pets/3").status_code == 204
        assert client.get("/api/nothing").status_code == 404


def test_operations_without_an_operation_id_are_served() -> None:
    with _client() as client:
        health = client.get("/__mock__/health").json()
        assert health["packs"][0]["operations"] == 3
        assert client.get("/__mock__/journal").json()["total"] == 0
        client.get("/api/pets")
        assert client.get("/__mock__/journal").json()["requests"][0]["operation_id"] == "GET /pets"


ROOTED = """
openapi: 3.0.3
info: {title: rooted, version: "1"}
paths:
  /things:
    get:
      security: [{token: []}, {key: []}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: array, items: {type: string}}}}}
components:
  securitySchemes:
    token: {type: http, scheme: bearer}
    key: {type: apiKey, in: header, name: X-Key}
"""


def test_a_spec_served_at_the_root_keeps_the_control_plane(tmp_path) -> None:
    spec = tmp_path / "rooted.yaml"
    spec.write_text(ROOTED)
    with TestClient(build_server(ServerConfig(spec=spec, seed=1))) as client:
        assert client.get("/__mock__/health").json()["status"] == "ok"
        assert client.get("/things", headers={"authorization": "Bearer x"}).status_code == 200
        assert client.get("/nothing").status_code == 404


def test_declared_security_needs_credentials(tmp_path) -> None:
    spec = tmp_path / "rooted.yaml"
    spec.write_text(ROOTED)
    with TestClient(build_server(ServerConfig(spec=spec, seed=1))) as client:
        refused = client.get("/things")
        assert refused.status_code == 401 and "token or key" in refused.json()["detail"]
        assert client.get("/things", headers={"authorization": "Basic x"}).status_code == 401
        assert client.get("/things", headers={"x-key": "anything"}).status_code == 200
