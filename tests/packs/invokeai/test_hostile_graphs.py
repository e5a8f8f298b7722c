"""Graphs a client can enqueue that would stall the server or store a value nothing can write:
each fails its node with the error the real node ends in, and the server and its state stay fine."""

from __future__ import annotations

import pytest
from invokeai_support import enqueue, enqueue_raw, graph, int_graph, node, ok, run_until_idle
from starlette.testclient import TestClient

BIG = int("9" * 4000)  # a valid JSON integer, under CPython's 4,300-digit limit
INT_TOO_LONG = "Exceeds the limit (4300 digits) for integer string conversion"


def _run(client: TestClient, graph_: dict) -> dict:
    enqueue(client, graph_)
    run_until_idle(client)
    [item] = ok(client.get("/api/v1/queue/default/list_all"))
    return item


@pytest.mark.parametrize(("fields", "error_type", "message"), [
    ({"operation": "EXP", "a": BIG, "b": BIG}, "ValueError", INT_TOO_LONG),  # would never finish
    ({"operation": "EXP", "a": 10, "b": 5000}, "ValueError", INT_TOO_LONG),
    ({"operation": "MUL", "a": BIG, "b": BIG}, "ValueError", INT_TOO_LONG),
])
def test_integer_math_past_the_digit_limit_fails_the_node(client: TestClient, fields: dict, error_type: str,
                                                          message: str) -> None:
    item = _run(client, graph(node("m", "integer_math", **fields)))
    assert item["status"] == "failed" and item["error_type"] == error_type and message in item["error_message"]
    assert client.get("/__mock__/state").status_code == 200  # nothing unwritable was stored


def test_integer_math_within_the_limit_still_computes(client: TestClient) -> None:
    item = _run(client, graph(node("m", "integer_math", operation="EXP", a=2, b=4000)))
    assert item["status"] == "completed"
    result = ok(client.get(f"/api/v1/queue/default/i/{item['item_id']}"))["session"]["results"]
    assert [output["value"] for output in result.values()] == [2**4000]


@pytest.mark.parametrize("graph_node", [
    node("r", "range", start=0, stop=BIG, step=1),
    node("r", "range_of_size", start=0, size=BIG, step=1),
    node("r", "range", start=0, stop=100_001, step=1),
])
def test_a_collection_too_large_to_hold_fails_the_node(client: TestClient, graph_node: dict) -> None:
    item = _run(client, graph(graph_node))
    assert item["status"] == "failed" and item["error_type"] == "MemoryError"


def test_a_huge_integer_value_passes_through(client: TestClient) -> None:
    assert _run(client, int_graph(BIG))["status"] == "completed"
    assert client.get("/__mock__/state").status_code == 200


@pytest.mark.parametrize(("graph_node", "kind"), [
    (node("i", "integer", value="9" * 5000), "int_parsing_size"),
    (node("i", "integer", value="1" + "0" * 5000 + ".0"), "int_parsing_size"),
    (node("f", "float", value=BIG), "float_type"),
    (node("m", "float_math", operation="ADD", a=BIG, b=1), "float_type"),
])
def test_node_fields_past_any_number_are_refused_at_enqueue(client: TestClient, graph_node: dict, kind: str) -> None:
    response = enqueue_raw(client, graph(graph_node))
    assert response.status_code == 422, response.text[:300]
    assert [issue["type"] for issue in response.json()["detail"]] == [kind]
