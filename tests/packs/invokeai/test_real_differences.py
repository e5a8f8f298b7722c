"""Behaviours measured against a real InvokeAI 6.8.1 that the mock once answered differently.

- Request bodies are validated by pydantic v2 in lax mode: `"30"` is a log level, `0`/`1` and
  `"yes"`/`"off"` are booleans, `"7"` is an integer. A number is never a string.
- A JSON body that is not UTF-8 text: FastAPI's 400 `There was an error parsing the body`.
- A wrong method: 405 `{"detail": "Method Not Allowed"}` without `Allow` (the request falls through
  to the web UI's StaticFiles mount at `/`, which refuses other methods without naming any).
- `scan_folder` of an existing folder holding nothing answers `[]`.
Facts: the real routers and FastAPI's request handling (the 6.8.1 wheel), behaviour.md.
"""

from __future__ import annotations

import typing as t

import pytest
from invokeai_support import BOARDS, ok

APP = "/api/v1/app"
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(("sent", "level"), [('"30"', 30), ('" 40 "', 40), ("30.0", 30), ('"0"', 0)])
def test_a_log_level_given_as_text_or_float_is_taken(client: t.Any, sent: str, level: int) -> None:
    response = client.post(f"{APP}/logging", content=sent, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json() == level and type(response.json()) is int
    assert ok(client.get(f"{APP}/logging")) == level


@pytest.mark.parametrize("sent", ['"31"', '"loud"', '"3e1"', "true"])
def test_a_log_level_that_is_no_level_is_still_422(client: t.Any, sent: str) -> None:
    response = client.post(f"{APP}/logging", content=sent, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "enum"


@pytest.mark.parametrize(("sent", "archived"), [(1, True), (0, False), ("yes", True), ("off", False),
                                                ("true", True), ("F", False)])
def test_a_board_is_archived_with_any_boolean_pydantic_accepts(client: t.Any, sent: t.Any, archived: bool) -> None:
    board = client.post(BOARDS, params={"board_name": "Lax"}).json()
    if not archived:
        client.patch(f"{BOARDS}{board['board_id']}", json={"archived": True})
    response = client.patch(f"{BOARDS}{board['board_id']}", json={"archived": sent})
    assert response.status_code == 201, response.text
    assert response.json()["archived"] is archived
    listed = client.get(BOARDS, params={"all": "1", "include_archived": "1"}).json()
    assert [b["archived"] for b in listed if b["board_id"] == board["board_id"]] == [archived]


@pytest.mark.parametrize("sent", [2, "maybe", 0.5])
def test_a_boolean_pydantic_refuses_is_still_422(client: t.Any, sent: t.Any) -> None:
    board = client.post(BOARDS, params={"board_name": "Strict"}).json()
    response = client.patch(f"{BOARDS}{board['board_id']}", json={"archived": sent})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "archived"]


def test_a_number_is_not_taken_for_a_string(client: t.Any) -> None:
    board = client.post(BOARDS, params={"board_name": "Name"}).json()
    response = client.patch(f"{BOARDS}{board['board_id']}", json={"board_name": 42})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_type"


def test_booleans_in_the_query_take_0_and_1(client: t.Any) -> None:
    client.post(BOARDS, params={"board_name": "Query"})
    assert [b["board_name"] for b in ok(client.get(BOARDS, params={"all": "1"}))] == ["Query"]
    assert client.get(BOARDS, params={"all": "0"}).status_code == 400  # all=false: offset/limit needed


@pytest.mark.parametrize("body", [b'"\xff\xfe\xfd"', b'{"archived": "\xe9"}', b"\xc3\x28"])
def test_a_body_that_is_not_utf8_is_a_400(client: t.Any, body: bytes) -> None:
    board = client.post(BOARDS, params={"board_name": "Bytes"}).json()
    response = client.patch(f"{BOARDS}{board['board_id']}", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}
    assert client.post(f"{APP}/logging", content=body, headers=JSON).status_code == 400


def test_a_body_in_utf16_is_read_as_json_is(client: t.Any) -> None:
    """`json.loads` on bytes detects UTF-16 and UTF-32, as FastAPI's body reading does."""
    response = client.post(f"{APP}/logging", content="30".encode("utf-16"), headers=JSON)
    assert response.status_code == 200 and response.json() == 30


@pytest.mark.parametrize(("method", "path"), [("POST", f"{APP}/version"), ("DELETE", BOARDS),
                                              ("PUT", "/api/v1/workflows/"), ("PATCH", f"{APP}/logging")])
def test_a_405_names_no_allowed_methods(client: t.Any, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert "allow" not in response.headers


@pytest.mark.parametrize("folder", ["/tmp", "/invokeai/import/empty", "/invokeai/nodes", "/invokeai/outputs/images/"])
def test_scanning_an_existing_empty_folder_finds_nothing(client: t.Any, folder: str) -> None:
    response = client.get("/api/v2/models/scan_folder", params={"scan_path": folder})
    assert response.status_code == 200 and response.json() == []


def test_scanning_a_missing_folder_is_still_a_400(client: t.Any) -> None:
    response = client.get("/api/v2/models/scan_folder", params={"scan_path": "/tmp/no-such-folder"})
    assert response.status_code == 400
    assert response.json() == {"detail": "The search path '/tmp/no-such-folder' does not exist or is not directory"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_another_method_on_an_unknown_path_is_a_405(client: t.Any, method: str) -> None:
    """No route takes it, so the StaticFiles mount at `/` does, and refuses the method."""
    response = client.request(method, "/api/v1/does-not-exist")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    assert "allow" not in response.headers


def test_a_get_of_a_path_with_only_other_methods_is_a_404(client: t.Any) -> None:
    response = client.get("/api/v1/images/upload")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert client.head("/api/v1/images/upload").status_code == 404
    assert client.get("/api/v1/does-not-exist").json() == {"detail": "Not Found"}  # seq 154
