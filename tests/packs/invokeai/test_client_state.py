"""`/api/v1/client_state/{queue_id}`: the web UI's key/value store.

Facts: behaviour.md "Client state", transcript seq 89-94 and 193, openapi-v6.8.json. The store
InvokeAI 6.8 keeps is one row (`client_state`, `id CHECK(id = 1)`, migration 21; 6.8's
`ClientStatePersistenceSqlite` takes `queue_id` and does not use it): every queue id reads and
writes the same keys, and `delete` on any queue id clears them all.
"""

from __future__ import annotations

import json
import typing as t

import pytest
from invokeai_support import recorded

CS = "/api/v1/client_state"


def get(client: t.Any, key: str, queue: str = "default") -> t.Any:
    response = client.get(f"{CS}/{queue}/get_by_key", params={"key": key})
    assert response.status_code == 200, response.text
    return response.json()


def put(client: t.Any, key: str, value: str, queue: str = "default") -> t.Any:
    response = client.post(f"{CS}/{queue}/set_by_key", params={"key": key}, json=value)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_missing_key_is_null(client: t.Any) -> None:
    response = client.get(f"{CS}/default/get_by_key", params={"key": "k1"})
    assert response.status_code == 200 and response.json() is None  # seq 89


def test_set_echoes_the_string_and_get_returns_it(client: t.Any) -> None:
    real = recorded(90)
    response = client.post(f"{CS}/default/set_by_key", params={"key": "k1"}, json=real["request"]["json"])
    assert response.status_code == 200 and response.json() == '{"a": 1}'  # seq 90
    assert get(client, "k1") == '{"a": 1}'  # seq 91: a string, not the object
    assert isinstance(get(client, "k1"), str)


def test_a_text_plain_body_is_stored_as_is(client: t.Any) -> None:
    response = client.post(f"{CS}/default/set_by_key", params={"key": "k2"}, content=b"hello",
                           headers={"content-type": "text/plain"})
    assert response.status_code == 200 and response.json() == "hello"  # seq 92
    assert get(client, "k2") == "hello"


def test_setting_again_replaces_the_value(client: t.Any) -> None:
    put(client, "k", "one")
    assert put(client, "k", "two") == "two"
    assert get(client, "k") == "two"


def test_keys_are_independent(client: t.Any) -> None:
    put(client, "a", "1")
    put(client, "b", "2")
    assert (get(client, "a"), get(client, "b"), get(client, "c")) == ("1", "2", None)


def test_large_and_unicode_values_round_trip(client: t.Any) -> None:
    value = json.dumps({"gallery": {"selection": list(range(500))}, "name": "café ✓"})
    assert put(client, "big", value) == value
    assert get(client, "big") == value
    assert put(client, "empty", "") == ""
    assert get(client, "empty") == ""


def test_delete_answers_null_and_clears_every_key(client: t.Any) -> None:
    put(client, "k1", '{"a": 1}')
    put(client, "k2", "hello")
    response = client.post(f"{CS}/default/delete")
    assert response.status_code == 200 and response.json() is None  # seq 93
    assert get(client, "k1") is None and get(client, "k2") is None  # seq 94
    assert put(client, "k1", "again") == "again"  # usable after a delete
    assert get(client, "k1") == "again"


def test_delete_with_nothing_stored_is_fine(client: t.Any) -> None:
    response = client.post(f"{CS}/default/delete")
    assert response.status_code == 200 and response.json() is None


def test_the_queue_id_does_not_partition_the_store(client: t.Any) -> None:
    """6.8 keeps one client state, whatever queue id the path names."""
    put(client, "k1", "from default", queue="default")
    assert get(client, "k1", queue="other") == "from default"
    put(client, "k1", "from other", queue="other")
    assert get(client, "k1", queue="default") == "from other"
    client.post(f"{CS}/other/delete").raise_for_status()
    assert get(client, "k1", queue="default") is None


def test_reset_clears_client_state(client: t.Any) -> None:
    from invokeai_support import reset

    put(client, "k", "v")
    reset(client)
    assert get(client, "k") is None


@pytest.mark.parametrize("path", ["get_by_key", "set_by_key"])
def test_the_key_parameter_is_required(client: t.Any, path: str) -> None:
    if path == "get_by_key":
        response = client.get(f"{CS}/default/get_by_key")
    else:
        response = client.post(f"{CS}/default/set_by_key", json="v")
    assert response.status_code == 422
    assert response.json() == recorded(193)["response"]["json"]  # missing ["query", "key"]


def test_set_needs_a_body(client: t.Any) -> None:
    response = client.post(f"{CS}/default/set_by_key", params={"key": "k"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing" and error["loc"] == ["body"]
    assert get(client, "k") is None


def test_a_json_value_that_is_not_a_string_is_422(client: t.Any) -> None:
    response = client.post(f"{CS}/default/set_by_key", params={"key": "k"}, json={"a": 1})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "string_type" and error["loc"] == ["body"]
    assert get(client, "k") is None


def test_wrong_method_is_405_and_a_get_of_a_post_route_404(client: t.Any) -> None:
    """Both fall through to the web UI's StaticFiles mount: 405 for other methods, 404 for a GET."""
    response = client.put(f"{CS}/default/delete")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    response = client.get(f"{CS}/default/delete")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
