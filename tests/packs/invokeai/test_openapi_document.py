"""`GET /openapi.json` (and `/docs`, `/redoc`): the document InvokeAI's web UI builds its node
templates from, compared with the real 6.8.1 document (tests/drift/data/invokeai.upstream.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from node_templates import parse_field_type, templates
from starlette.testclient import TestClient

UPSTREAM = Path(__file__).resolve().parents[2] / "drift" / "data" / "invokeai.upstream.json"


@pytest.fixture(scope="module")
def upstream() -> dict:
    return json.loads(UPSTREAM.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def served(module_client: TestClient) -> dict:
    response = module_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_the_ui_builds_the_same_node_templates_as_from_the_real_document(served: dict, upstream: dict) -> None:
    real = templates(upstream)
    mock = templates(served)
    assert len(real) == 211
    assert sorted(mock) == sorted(real)
    different = [kind for kind in real if mock[kind] != real[kind]]
    assert different == []


def test_every_invocation_and_output_schema_is_the_real_one(served: dict, upstream: dict) -> None:
    real = upstream["components"]["schemas"]
    mock = served["components"]["schemas"]
    node_schemas = [name for name, schema in real.items() if schema.get("class") in ("invocation", "output")]
    assert len(node_schemas) == 211 + 76
    assert [name for name in node_schemas if mock.get(name) != real[name]] == []


def test_every_invocation_type_of_the_real_document_has_the_same_fields(served: dict, upstream: dict) -> None:
    def fields(document: dict) -> dict[str, list[str]]:
        return {schema["properties"]["type"]["default"]: list(schema["properties"])
                for schema in document["components"]["schemas"].values() if schema.get("class") == "invocation"}

    assert fields(served) == fields(upstream)


def test_the_graph_lists_every_invocation_as_the_real_document_does(served: dict, upstream: dict) -> None:
    def union(document: dict) -> list:
        return document["components"]["schemas"]["Graph"]["properties"]["nodes"]["additionalProperties"]["oneOf"]

    assert union(served) == union(upstream)
    results = served["components"]["schemas"]["GraphExecutionState"]["properties"]["results"]
    assert results["additionalProperties"] == \
        upstream["components"]["schemas"]["GraphExecutionState"]["properties"]["results"]["additionalProperties"]
    assert served["components"]["schemas"]["InvocationOutputMap"]["properties"] == \
        upstream["components"]["schemas"]["InvocationOutputMap"]["properties"]


def test_the_document_has_every_schema_and_operation_of_the_real_one(served: dict, upstream: dict) -> None:
    assert served["openapi"].startswith("3.1")
    assert served["info"] == upstream["info"]
    assert set(upstream["components"]["schemas"]) <= set(served["components"]["schemas"])
    for path, item in upstream["paths"].items():
        assert {method: operation["operationId"] for method, operation in item.items()} == \
            {method: operation["operationId"] for method, operation in served["paths"][path].items()}, path


def test_every_reference_resolves(served: dict) -> None:
    refs = set(re.findall(r'"(#/components/[^"]+)"', json.dumps(served)))
    assert refs - {f"#/components/schemas/{name}" for name in served["components"]["schemas"]} == set()
    assert list(served["components"]) == ["schemas"]  # as FastAPI writes it


def test_each_operation_has_the_real_parameters(served: dict, upstream: dict) -> None:
    different = []
    for path, item in upstream["paths"].items():
        for method, operation in item.items():
            mine = served["paths"][path][method]
            if sorted((p["name"], p["in"]) for p in mine.get("parameters", [])) != \
                    sorted((p["name"], p["in"]) for p in operation.get("parameters", [])):
                different.append((method, path))
            assert set(operation.get("requestBody", {}).get("content", {})) <= \
                set(mine.get("requestBody", {}).get("content", {})), (method, path)
            assert set(operation["responses"]) <= set(mine["responses"]), (method, path)
    # The real route reads the workflow's id from the body and leaves its path parameter
    # undeclared; OpenAPI requires it declared, so the spec (and this document) declares it.
    assert different == [("patch", "/api/v1/workflows/i/{workflow_id}")]


def test_nullable_fields_are_written_as_the_real_document_writes_them(served: dict, upstream: dict) -> None:
    """The UI reads 3.1 documents: no `nullable`, no `allOf` wrapped around one reference."""
    text = json.dumps(served)
    assert '"nullable"' not in text
    board = served["components"]["schemas"]["BoardDTO"]["properties"]["cover_image_name"]
    assert {"type": "null"} in board["anyOf"]


def test_field_types_parse_as_the_ui_parses_them() -> None:
    assert parse_field_type({"anyOf": [{"$ref": "#/components/schemas/ImageField"}, {"type": "null"}]}) == \
        {"name": "ImageField", "cardinality": "SINGLE"}
    assert parse_field_type({"anyOf": [{"type": "integer"}, {"items": {"type": "integer"}, "type": "array"}]}) == \
        {"name": "IntegerField", "cardinality": "SINGLE_OR_COLLECTION"}
    assert parse_field_type({"type": "string", "enum": ["a"]})["name"] == "EnumField"


def test_gzip_for_clients_that_ask(module_client: TestClient, served: dict) -> None:
    raw = module_client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.json() == served  # httpx unpacks it
    plain = module_client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == served


@pytest.mark.parametrize("path, title", [("/docs", "Swagger UI"), ("/redoc", "Redoc")])
def test_docs_pages_point_at_the_document(module_client: TestClient, path: str, title: str) -> None:
    response = module_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"<title>Invoke - Community Edition - {title}</title>" in response.text
    assert "/openapi.json" in response.text


def test_other_methods_are_refused_as_fastapi_refuses_them(module_client: TestClient) -> None:
    response = module_client.post("/openapi.json", json={})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    head = module_client.head("/openapi.json")
    assert head.status_code == 200 and head.content == b""
