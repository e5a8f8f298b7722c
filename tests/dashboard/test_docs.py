"""Each API describes itself where its real server does, and every served spec is browsable under
`/__mock__/docs/`, offline, behind the control plane's access rules."""

from __future__ import annotations

import re
import typing as t

import pytest
import yaml
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.control_access import ControlAccess
from mockserver.engine.resources import specs_dir


def _client(*apis: str, **config: t.Any) -> TestClient:
    return TestClient(build_server(ServerConfig(apis=list(apis), seed=3, **config)), follow_redirects=False)


@pytest.fixture(scope="module")
def chutes() -> t.Iterator[TestClient]:
    with _client("chutes") as client:
        yield client


def _walk(value: t.Any) -> t.Iterator[t.Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child)


def test_chutes_serves_fastapis_document_of_its_operations(chutes: TestClient) -> None:
    answer = chutes.get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    document = answer.json()
    validate(document)  # a valid OpenAPI 3.1 document
    assert document["openapi"] == "3.1.0" and document["info"] == {"title": "FastAPI", "version": "0.1.0"}
    spec = yaml.safe_load((specs_dir() / "chutes.yaml").read_text())
    ids = {op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)}
    served = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert served == ids and "list_chutes_chutes__get" in served
    # FastAPI's 3.1 style: nullable fields are `anyOf [..., {type: null}]`, no 3.0 keywords left
    assert not any(isinstance(node, dict) and "nullable" in node for node in _walk(document))
    assert list(document["components"]) == ["schemas"]


@pytest.mark.parametrize("path, title", [("/docs", "FastAPI - Swagger UI"), ("/redoc", "FastAPI - ReDoc")])
def test_chutes_pages_are_fastapis_pointing_at_the_document(chutes: TestClient, path: str, title: str) -> None:
    answer = chutes.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
    assert f"<title>{title}</title>" in answer.text and "/openapi.json" in answer.text
    # as on the real server, the pages load Swagger UI and ReDoc from the CDN
    assert "https://cdn.jsdelivr.net/npm/" in answer.text


def test_chutes_swagger_page_has_its_oauth2_redirect(chutes: TestClient) -> None:
    assert "window.location.origin + \"/docs/oauth2-redirect\"" in chutes.get("/docs").text
    redirect = chutes.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "swaggerUIRedirectOauth2" in redirect.text


@pytest.mark.parametrize("method, path", [("POST", "/docs"), ("DELETE", "/openapi.json"), ("GET", "/docs/other"),
                                          ("GET", "/openapi.yaml")])
def test_other_requests_near_the_pages_reach_the_catch_all_as_on_the_real_server(
        chutes: TestClient, method: str, path: str) -> None:
    answer = chutes.request(method, path)
    assert (answer.status_code, answer.json()) == (401, {"detail": "Authentication required."})


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/v1/openapi.json", "/v1/docs"])
def test_the_openai_api_describes_nothing(path: str) -> None:
    with _client("openai_usage") as client:
        answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == f"Invalid URL (GET {path})"


def test_served_together_the_root_document_is_invokeais_and_chutes_is_under_mock_docs() -> None:
    with _client("chutes", "invokeai") as client:
        assert client.get("/openapi.json").json()["info"]["title"] == "Invoke - Community Edition"
        assert "Invoke - Community Edition - Swagger UI" in client.get("/docs").text
        assert client.get("/__mock__/docs/chutes/openapi.json").json()["info"]["title"] == "Chutes API (mockserver)"


def _documents(client: TestClient) -> list[str]:
    index = client.get("/__mock__/docs/")
    assert index.status_code == 200
    return re.findall(r'href="/__mock__/docs/([^"]+)/openapi.json"', index.text)


def test_every_spec_and_the_control_plane_are_listed() -> None:
    with _client() as client:
        assert _documents(client) == ["openai_usage", "chutes", "invokeai", "control", "control/openai_usage",
                                      "control/chutes", "control/invokeai"]


@pytest.mark.parametrize("name, spec, server", [
    ("openai_usage", "openai_usage.yaml", "/v1"), ("chutes", "chutes.yaml", "/"),
    ("control", "control.yaml", "/__mock__"), ("control/invokeai", "control/invokeai.yaml", "/__mock__/packs/invokeai")])
def test_each_document_is_the_spec_served_with_this_mock_as_its_server(name: str, spec: str, server: str) -> None:
    with _client() as client:
        document = client.get(f"/__mock__/docs/{name}/openapi.json").json()
        page = client.get(f"/__mock__/docs/{name}")
    source = yaml.safe_load((specs_dir() / spec).read_text())
    assert document["paths"].keys() == source["paths"].keys() and document["info"] == source["info"]
    assert document["servers"] == [{"url": server, "description": "this mock"}]
    assert page.status_code == 200 and f'"urls.primaryName": "{name}"' in page.text


def test_the_docs_pages_load_nothing_from_elsewhere() -> None:
    with _client("openai_usage") as client:
        page = client.get("/__mock__/docs/openai_usage").text
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert loaded and all(url.startswith("/__mock__/") for url in loaded), loaded
        for url in loaded:
            if "/assets/" in url:
                answer = client.get(url)
                assert answer.status_code == 200 and len(answer.content) > 100, url
        assert client.get("/__mock__/docs/assets/swagger-ui.js.map").status_code == 404


def test_a_foreign_host_gets_no_page() -> None:
    with _client("openai_usage") as client:
        for path in ("/__mock__/", "/__mock__/docs/openai_usage", "/__mock__/docs/assets/swagger-ui.css"):
            answer = client.get(path, headers={"host": "evil.example"})
            assert answer.status_code == 403, path


def test_with_a_token_the_pages_load_but_the_data_needs_it() -> None:
    with _client("openai_usage", control=ControlAccess(token="s3cret")) as client:
        assert client.get("/__mock__/").status_code == 200
        assert client.get("/__mock__/docs/openai_usage/openapi.json").status_code == 200
        assert client.get("/__mock__/journal").status_code == 401
        assert client.get("/__mock__/journal", headers={"x-mockserver-token": "s3cret"}).status_code == 200
        assert client.post("/__mock__/reset").status_code == 401


def test_the_dashboard_page_and_its_files() -> None:
    with _client("openai_usage") as client:
        assert client.get("/__mock__").headers["location"] == "/__mock__/"
        page = client.get("/__mock__/")
        assert page.status_code == 200 and "<title>mockserver dashboard</title>" in page.text
        assert page.headers["x-frame-options"] == "DENY" and "default-src 'self'" in page.headers["content-security-policy"]
        for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            asset = client.get(f"/__mock__/ui/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert client.get("/__mock__/ui/other.js").status_code == 404


def test_a_spec_served_without_a_pack_is_browsable_too() -> None:
    from pathlib import Path

    petstore = Path(__file__).parents[1] / "engine" / "data" / "petstore.yaml"
    with TestClient(build_server(ServerConfig(spec=petstore, seed=3))) as client:
        assert _documents(client) == ["petstore", "control"]
        document = client.get("/__mock__/docs/petstore/openapi.json").json()
        assert "/pets" in document["paths"] and document["servers"] == [{"url": "/api", "description": "this mock"}]
        assert client.get("/__mock__/docs/petstore").status_code == 200
