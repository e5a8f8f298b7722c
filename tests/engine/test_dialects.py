"""Validation and framework errors come out in the mounted API's own format."""

from __future__ import annotations

from starlette.testclient import TestClient

AUTH = {"authorization": "Bearer good"}


def test_fastapi_query_errors_list_every_problem(fastapi_client: TestClient) -> None:
    response = fastapi_client.get("/tiny/items", params={"limit": "x", "order": "sideways"})
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"type": "int_parsing", "loc": ["query", "limit"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
        {"type": "enum", "loc": ["query", "order"], "msg": "Input should be 'asc' or 'desc'",
         "input": "sideways", "ctx": {"expected": "'asc' or 'desc'"}},
    ]}


def test_fastapi_bounds_and_array_items(fastapi_client: TestClient) -> None:
    response = fastapi_client.get("/tiny/items?limit=0&tags=ok&tags=toolong")
    detail = response.json()["detail"]
    assert response.status_code == 422
    assert {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1",
            "input": 0, "ctx": {"ge": 1}} in detail
    assert {"type": "string_too_long", "loc": ["query", "tags", 1], "msg": "String should have at most 5 characters",
            "input": "toolong", "ctx": {"max_length": 5}} in detail


def test_fastapi_body_errors(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/items", json={"name": "ab", "size": 101, "extra": 1}, headers=AUTH)
    assert response.status_code == 422
    kinds = {(d["type"], tuple(d["loc"])) for d in response.json()["detail"]}
    assert kinds == {("string_too_short", ("body", "name")), ("less_than_equal", ("body", "size")),
                     ("extra_forbidden", ("body", "extra"))}


def test_fastapi_missing_body_and_field(fastapi_client: TestClient) -> None:
    assert fastapi_client.post("/tiny/items", headers=AUTH).json() == {
        "detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]}
    detail = fastapi_client.post("/tiny/items", json={"size": 3}, headers=AUTH).json()["detail"]
    assert detail == [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": None}]


def test_fastapi_bad_json_names_the_position(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/items", content=b'{"name": ', headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["type"] == "json_invalid" and issue["loc"][0] == "body" and isinstance(issue["loc"][1], int)
    assert issue["msg"] == "JSON decode error"


def test_nested_nullable_reference_reports_the_inner_field(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/items", json={"name": "abc", "parent": {"name": "x"}}, headers=AUTH)
    assert response.json()["detail"] == [{
        "type": "string_too_short", "loc": ["body", "parent", "name"],
        "msg": "String should have at least 3 characters", "input": "x", "ctx": {"min_length": 3}}]


def test_fastapi_unknown_path_wrong_method_and_big_body(fastapi_client: TestClient) -> None:
    assert fastapi_client.get("/tiny/nope").json() == {"detail": "Not Found"}
    response = fastapi_client.patch("/tiny/items")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == "GET, POST"
    response = fastapi_client.post("/tiny/items", content=b"x" * 5000, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 413 and "detail" in response.json()


def test_fastapi_wrong_content_type(fastapi_client: TestClient, openai_client: TestClient) -> None:
    # FastAPI refuses no content type: the raw text reaches the model, which is not a dictionary.
    response = fastapi_client.post("/tiny/items", content=b"name=abc", headers={**AUTH, "content-type": "text/csv"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{
        "type": "model_attributes_type", "loc": ["body"], "input": "name=abc",
        "msg": "Input should be a valid dictionary or object to extract fields from"}]}
    response = openai_client.post("/tiny/items", content=b"name=abc", headers={**AUTH, "content-type": "text/csv"})
    assert response.status_code == 415 and response.json()["error"]["message"].startswith("Unsupported Media Type")


def test_bodies_get_their_schema_defaults_and_keep_big_integers(fastapi_client: TestClient) -> None:
    raw = b'{"name": "huge", "size": 7, "parent": {"name": "abc"}}'
    created = fastapi_client.post("/tiny/items", content=raw, headers={**AUTH, "content-type": "application/json"})
    assert created.status_code == 201
    response = fastapi_client.post("/tiny/items", content=b'{"name": "big", "size": 18446744073709551616}',
                                   headers={**AUTH, "content-type": "application/json"})
    # 2**64 is an integer (not a float, as orjson would read it) and above the maximum of 100
    assert response.json()["detail"][0]["type"] == "less_than_equal"


def test_openai_dialect_reports_the_first_problem(openai_client: TestClient) -> None:
    response = openai_client.get("/tiny/items", params={"limit": "x", "order": "sideways"})
    assert response.status_code == 400
    assert response.json() == {"error": {
        "message": "Invalid type for 'limit': expected an integer, but got 'x' instead.",
        "type": "invalid_request_error", "param": "limit", "code": "invalid_type"}}


def test_openai_dialect_enum_bounds_and_missing(openai_client: TestClient) -> None:
    error = openai_client.get("/tiny/items", params={"order": "sideways"}).json()["error"]
    assert error["message"] == "Invalid value: 'sideways'. Supported values are: 'asc', and 'desc'."
    assert error["param"] == "order"
    error = openai_client.get("/tiny/items", params={"limit": 51}).json()["error"]
    assert error["code"] == "integer_above_max_value" and "<= 50" in error["message"]
    error = openai_client.post("/tiny/items", json={}, headers=AUTH).json()["error"]
    assert error == {"message": "Missing required parameter: 'name'.", "type": "invalid_request_error",
                     "param": "name", "code": "missing_required_parameter"}


def test_openai_dialect_framework_errors(openai_client: TestClient) -> None:
    response = openai_client.get("/tiny/nope")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /tiny/nope)"
    response = openai_client.put("/tiny/items")
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"
    response = openai_client.post("/tiny/items", content=b"{oops", headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    assert "could not parse the JSON body" in response.json()["error"]["message"]


def test_auth_runs_before_body_validation(fastapi_client: TestClient) -> None:
    response = fastapi_client.post("/tiny/items", json={"name": 1})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_handler_errors_use_the_dialect(fastapi_client: TestClient, openai_client: TestClient) -> None:
    assert fastapi_client.get("/tiny/items/99").json() == {"detail": "Item not found"}
    assert openai_client.get("/tiny/items/99").json()["error"]["message"] == "Item not found"
