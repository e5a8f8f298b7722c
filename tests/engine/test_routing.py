"""Routing: declaration order, typed path parameters, slashes inside parameters, redirects."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_static_route_declared_after_template_still_wins_when_declared_first(fastapi_client: TestClient) -> None:
    # /items/count is declared before /items/{item_id}: it must not be read as an item id.
    assert fastapi_client.get("/tiny/items/count").json() == 1


def test_path_parameter_is_typed(fastapi_client: TestClient) -> None:
    assert fastapi_client.get("/tiny/items/1").json()["name"] == "first"
    response = fastapi_client.get("/tiny/items/abc")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_format_path_parameters_take_slashes(fastapi_client: TestClient) -> None:
    response = fastapi_client.get("/tiny/files/alice/models/v1.txt")
    assert response.text == "alice/models/v1.txt"


def test_missing_trailing_slash_redirects_like_fastapi(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/uploads?x=1", files={"file": ("a.png", b"png")}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/tiny/uploads/?x=1"


def test_multipart_fields_are_typed_and_files_kept(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/uploads/", files={"file": ("a.png", b"\x89PNG....")},
                                   data={"count": "3", "label": "hello"})
    assert response.status_code == 201
    assert response.json() == {"filename": "a.png", "bytes": 8, "count": 3, "label": "hello"}
    response = fastapi_client.post("/tiny/uploads/", files={"file": ("a.png", b"x")}, data={"count": "zero"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "count"]
    response = fastapi_client.post("/tiny/uploads/", data={"label": "no file"}, files={"other": ("b", b"")})
    assert response.json()["detail"][0] == {"type": "missing", "loc": ["body", "file"], "msg": "Field required",
                                            "input": None}


def test_header_parameters_are_validated(fastapi_client: TestClient) -> None:
    response = fastapi_client.get("/tiny/items", headers={"x-trace": "not-hex"})
    assert response.json()["detail"][0]["loc"] == ["header", "X-Trace"]
    assert fastapi_client.get("/tiny/items", headers={"x-trace": "0123abcd"}).status_code == 200


def test_array_parameters_accept_brackets_and_repeats(fastapi_client: TestClient) -> None:
    assert fastapi_client.get("/tiny/items?tags[]=a&tags[]=b").status_code == 200
    assert fastapi_client.get("/tiny/items?tags=a&tags=b&starred=true").status_code == 200


def test_defaults_are_applied(fastapi_client: TestClient) -> None:
    for n in range(15):
        fastapi_client.post("/tiny/items", json={"name": f"item{n}"}, headers={"authorization": "Bearer good"})
    assert len(fastapi_client.get("/tiny/items").json()) == 10
