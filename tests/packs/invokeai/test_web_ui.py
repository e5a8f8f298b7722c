"""`--invokeai-ui DIR`: a UI bundle folder served at `/` the way invokeai-web serves its frontend.

The bundle here is a tiny stand-in folder (index.html, an asset, a locale); the real 6.8.1 bundle is
driven by a browser in `tests/clients/test_invokeai_web_ui.py`.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from invokeai_support import CLOCK, SEED
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.cli import main
from mockserver.engine.pipeline import Settings

NO_CACHE = "max-age=0, no-cache, no-store, , must-revalidate"  # invokeai-web's header, as it sends it
INDEX = b"<!DOCTYPE html><html><body><div id='root'></div></body></html>"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("ui")
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "locales").mkdir()
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "index-abc.js").write_text("console.log('ui')")
    (dist / "locales" / "en.json").write_text('{"common": {"hello": "Hello"}}')
    (tmp_path / "secret.txt").write_text("outside the bundle")
    (dist / "assets" / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return dist


@pytest.fixture(scope="module")
def ui(bundle: Path) -> t.Iterator[TestClient]:
    """One server with the bundle for the module (serving files changes no state)."""
    with _client(bundle) as client:
        yield client


def _client(bundle: Path | None, apis: t.Sequence[str] = ("invokeai",)) -> TestClient:
    server = build_server(ServerConfig(apis=list(apis), seed=SEED, clock_start=CLOCK,
                                       settings=Settings(validate_responses=True),
                                       pack_options={"invokeai_ui": bundle}))
    return TestClient(server, base_url="http://mock")


def test_the_root_answers_index_html_without_caching(ui: TestClient) -> None:
    client = ui
    response = client.get("/")
    assert response.status_code == 200 and response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == NO_CACHE
    assert response.headers["pragma"] == "no-cache" and response.headers["expires"] == "0"
    assert client.get("/index.html").content == INDEX


def test_assets_and_locales_are_served_as_files(ui: TestClient) -> None:
    client = ui
    script = client.get("/assets/index-abc.js")
    assert script.status_code == 200 and script.text == "console.log('ui')"
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == NO_CACHE
    assert client.get("/locales/en.json").json() == {"common": {"hello": "Hello"}}
    again = client.get("/assets/index-abc.js", headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304


def test_the_api_keeps_its_routes_and_answers(ui: TestClient) -> None:
    client = ui
    assert client.get("/api/v1/app/version").json()["version"] == "6.8.1"
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_unknown_paths_are_404_with_no_single_page_fallback(ui: TestClient) -> None:
    client = ui
    for path in ("/gallery", "/assets/missing.js", "/static/docs/invoke-favicon-docs.svg"):
        response = client.get(path)
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}, path


def test_other_methods_are_405_without_allow_as_the_root_mount_answers(ui: TestClient) -> None:
    client = ui
    for method, path in (("POST", "/"), ("DELETE", "/api/v1/app/version"), ("PUT", "/assets/index-abc.js")):
        response = client.request(method, path)
        assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
        assert "allow" not in response.headers


def test_the_root_with_a_query_string_redirects_to_the_root(ui: TestClient) -> None:
    client = ui
    response = client.get("/?__theme=dark", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/"


def test_paths_out_of_the_folder_are_refused(ui: TestClient) -> None:
    # Straight to the ASGI app: HTTP clients remove dot segments before sending, a raw request need not
    # (and the server decodes `%2e%2e` into the `..` the app sees).
    server = ui.app
    assert _asgi_get(server, "/assets/index-abc.js")[0] == 200
    for path in ("/../secret.txt", "/assets/../../secret.txt", "/assets/escape.txt"):
        status, body = _asgi_get(server, path)
        assert status == 404 and b"outside" not in body, path


def _asgi_get(app: t.Any, path: str) -> tuple[int, bytes]:
    import asyncio

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "root_path": "", "scheme": "http", "server": ("mock", 80), "http_version": "1.1"}
    sent: list[dict] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if requests:
            return requests.pop()
        while not sent or sent[-1].get("more_body", True) and sent[-1]["type"] != "http.response.body":
            await asyncio.sleep(0.001)  # the app listens for a disconnect while it answers
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_served_beside_other_packs_the_ui_still_has_the_root(bundle: Path) -> None:
    with _client(bundle, apis=("invokeai", "openai_usage")) as client:
        assert client.get("/").content == INDEX
        assert client.get("/v1/organization/costs").status_code != 404  # the other pack keeps its paths


def test_without_the_option_the_root_is_the_apis_404() -> None:
    with _client(None) as client:
        response = client.get("/")
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_the_command_line_refuses_a_folder_without_index_html(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--api", "invokeai", "--invokeai-ui", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not an InvokeAI UI bundle (no index.html)" in capsys.readouterr().err


def test_the_option_needs_the_invokeai_pack(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--api", "chutes", "--invokeai-ui", str(bundle)]) == 2
    assert "--invokeai-ui needs the invokeai pack" in capsys.readouterr().err
