"""`/api/v1/queue/{queue_id}`: the 22 session-queue operations one at a time, and the invocation
cache the queue's nodes go through.

Facts: behaviour.md "Queue" and "Errors", transcript seq 95-139 and 186-192, upstream
openapi-v6.8.json (operation shapes), InvokeAI's `session_queue_sqlite.py` (list_all ordered by
priority then item id, item_ids by created_at, what each cancel / delete / prune counts, retry).
Most tests pause the processor or use `instant` speed so items stay put or finish at once; the
timing itself is covered in test_queue_lifecycle.py.

The operations: enqueue_batch, list_all_queue_items, get_queue_item_ids, get_queue_items_by_item_ids,
resume, pause, cancel_all_except_current, delete_all_except_current, cancel_by_batch_ids,
cancel_by_destination, retry_items_by_id, clear, prune, get_current_queue_item, get_next_queue_item,
get_queue_status, get_batch_status, get_queue_item, delete_queue_item, cancel_queue_item,
counts_by_destination, delete_by_destination.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from invokeai_support import (
    QUEUE,
    advance,
    blank_graph,
    edge,
    enqueue,
    enqueue_raw,
    graph,
    int_graph,
    node,
    ok,
    queue_item,
    queue_status,
    recorded,
    set_speed,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
COUNTS = ("pending", "in_progress", "completed", "failed", "canceled", "total")
CACHE = "/api/v1/app/invocation_cache"



def recorded_json(seq: int) -> t.Any:
    return recorded(seq)["response"]["json"]


def pause(client: t.Any) -> None:
    ok(client.put(f"{QUEUE}/processor/pause"))


def resume(client: t.Any) -> None:
    ok(client.put(f"{QUEUE}/processor/resume"))


def statuses(client: t.Any) -> dict[int, str]:
    return {item["item_id"]: item["status"] for item in ok(client.get(f"{QUEUE}/list_all"))}


def counts(answer: dict) -> dict:
    return {key: answer[key] for key in COUNTS}


def zero_counts(**changes: int) -> dict:
    return {**dict.fromkeys(COUNTS, 0), **changes}


def add_graph() -> dict:
    """Seq 103's graph: a + b -> sum, and a string node on the side."""
    return graph(node("a", "integer", value=2), node("b", "integer", value=3), node("sum", "add"),
                 node("s", "string", value="hello"),
                 edges=[edge("a", "value", "sum", "a"), edge("b", "value", "sum", "b")], graph_id="g-add")


def source_results(item: dict) -> dict:
    session = item["session"]
    return {session["prepared_source_mapping"][key]: value for key, value in session["results"].items()}


def assert_nothing_enqueued(client: t.Any) -> None:
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [], "total_count": 0}
    assert counts(queue_status(client)["queue"]) == zero_counts()


# ================================================================ an empty queue


def test_empty_queue_answers_as_recorded(client: t.Any) -> None:
    assert ok(client.get(f"{QUEUE}/status")) == recorded_json(95)
    assert ok(client.get(f"{QUEUE}/list_all")) == recorded_json(96) == []
    assert ok(client.get(f"{QUEUE}/current")) is recorded_json(97) is None
    assert ok(client.get(f"{QUEUE}/next")) is recorded_json(98) is None
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [], "total_count": 0}
    assert ok(client.get(f"{QUEUE}/counts_by_destination", params={"destination": "gallery"})) == {
        "queue_id": "default", "destination": "gallery", **zero_counts()}
    assert ok(client.get(f"{QUEUE}/b/no-such-batch/status")) == {
        "queue_id": "default", "batch_id": "no-such-batch", "origin": None, "destination": None, **zero_counts()}
    assert ok(client.put(f"{QUEUE}/prune")) == {"deleted": 0}
    assert ok(client.put(f"{QUEUE}/clear")) == {"deleted": 0}


# ================================================================ enqueue_batch


@pytest.mark.parametrize("seq", [99, 103, 109, 114, 118])
def test_enqueue_echoes_the_batch_as_recorded(client: t.Any, seq: int) -> None:
    """The answer echoes the batch with every node's defaults filled in (`is_intermediate`,
    `use_cache`, a blank_image's `board` and `metadata`, a model's `submodel_type`)."""
    request = recorded(seq)["request"]
    answer = ok(client.post(request["path"], json=request["json"]))
    expected = recorded_json(seq)
    assert UUID_RE.match(answer["batch"]["batch_id"])
    assert {**answer, "batch": {**answer["batch"], "batch_id": "-"}, "item_ids": "-"} == \
        {**expected, "batch": {**expected["batch"], "batch_id": "-"}, "item_ids": "-"}
    assert answer["item_ids"] == list(range(expected["enqueued"], 0, -1))
    assert queue_status(client)["queue"]["pending"] == expected["enqueued"]


def test_enqueue_keeps_a_given_batch_id_and_queue_id(client: t.Any) -> None:
    answer = enqueue(client, int_graph(), batch_id="my-batch", queue_id="other")
    assert answer["queue_id"] == "other" and answer["batch"]["batch_id"] == "my-batch"
    assert ok(client.get("/api/v1/queue/other/b/my-batch/status"))["total"] == 1
    assert queue_item(client, answer["item_ids"][0], "other")["queue_id"] == "other"
    # another queue's items are not this queue's
    assert queue_status(client)["queue"]["total"] == 0
    assert ok(client.get(f"{QUEUE}/list_all")) == []


def test_batch_data_times_runs_expands_into_items(client: t.Any) -> None:
    """Seq 103 / 108: data [1, 10] x runs 2 -> 4 items; item_ids descending in the answer; each item
    carries its field value; the last item's a = 10 so its sum is 13."""
    set_speed(client, "instant")
    answer = enqueue(client, add_graph(), runs=2, data=[[{"node_path": "a", "field_name": "value", "items": [1, 10]}]])
    assert (answer["enqueued"], answer["requested"], answer["item_ids"]) == (4, 4, [4, 3, 2, 1])
    items = [queue_item(client, item_id) for item_id in (1, 2, 3, 4)]
    assert [item["field_values"] for item in items] == [
        [{"node_path": "a", "field_name": "value", "value": value}] for value in (1, 10, 1, 10)]
    assert [item["session"]["graph"]["nodes"]["a"]["value"] for item in items] == [1, 10, 1, 10]
    assert [source_results(item)["sum"]["value"] for item in items] == [4, 13, 4, 13]
    assert all(item["status"] == "completed" for item in items)
    assert len({item["session_id"] for item in items}) == 4
    assert {item["batch_id"] for item in items} == {answer["batch"]["batch_id"]}
    # the batch echo keeps the graph as sent (defaults filled), not any item's values
    assert answer["batch"]["graph"]["nodes"]["a"]["value"] == 2


def test_groups_multiply_and_items_in_a_group_zip(client: t.Any) -> None:
    """The outer list is a product of groups; inside a group the data lists are zipped."""
    pause(client)
    data = [
        [{"node_path": "a", "field_name": "value", "items": [1, 2]},
         {"node_path": "s", "field_name": "value", "items": ["one", "two"]}],
        [{"node_path": "b", "field_name": "value", "items": [10, 20, 30]}],
    ]
    answer = enqueue(client, add_graph(), data=data)
    assert (answer["enqueued"], answer["requested"]) == (6, 6)
    combos = []
    for item_id in range(1, 7):
        values = {fv["node_path"]: fv["value"] for fv in queue_item(client, item_id)["field_values"]}
        combos.append((values["a"], values["s"], values["b"]))
    assert sorted(combos) == sorted((a, s, b) for (a, s) in ((1, "one"), (2, "two")) for b in (10, 20, 30))
    assert answer["batch"]["data"] == data


def test_zipped_items_of_unequal_length_are_refused(client: t.Any) -> None:
    data = [[{"node_path": "a", "field_name": "value", "items": [1, 2]},
             {"node_path": "b", "field_name": "value", "items": [3]}]]
    response = enqueue_raw(client, add_graph(), data=data)
    assert response.status_code == 422, response.text
    issue = response.json()["detail"][0]
    assert issue["type"] == "value_error"
    assert issue["loc"] == ["body", "batch", "data"]
    assert issue["msg"] == "Value error, Zipped batch items must all have the same length"
    assert_nothing_enqueued(client)


def test_batch_data_for_a_node_not_in_the_graph_is_refused(client: t.Any) -> None:
    response = enqueue_raw(client, add_graph(), data=[[{"node_path": "zzz", "field_name": "value", "items": [1]}]])
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "value_error"
    assert_nothing_enqueued(client)


@pytest.mark.parametrize("seq", [189, 190, 191, 192])
def test_enqueue_422_as_recorded(client: t.Any, seq: int) -> None:
    """Unknown node type (union_tag_invalid with the 211 expected tags), missing graph, runs=0,
    edge to a node that does not exist: the real server's detail, exactly; nothing enqueued."""
    request = recorded(seq)["request"]
    response = client.post(request["path"], json=request["json"])
    assert response.status_code == 422, response.text
    assert response.json() == recorded_json(seq)
    assert_nothing_enqueued(client)


def test_unknown_node_type_names_the_tag_and_the_expected_ones(client: t.Any) -> None:
    response = enqueue_raw(client, graph(node("ok", "integer"), node("n", "no_such_node")))
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["type"] == "union_tag_invalid" and issue["loc"] == ["body", "batch", "graph", "nodes", "n"]
    assert issue["ctx"]["discriminator"] == "'type'" and issue["ctx"]["tag"] == "no_such_node"
    expected = issue["ctx"]["expected_tags"].split(", ")
    assert len(expected) == 211 and "'blank_image'" in expected and "'main_model_loader'" in expected
    assert issue["msg"] == (f"Input tag 'no_such_node' found using 'type' does not match any of the expected "
                            f"tags: {issue['ctx']['expected_tags']}")
    assert issue["input"] == {"id": "n", "type": "no_such_node"}
    assert_nothing_enqueued(client)


@pytest.mark.parametrize(("edges", "message"), [
    ([edge("a", "value", "sum", "zzz")], "Edge destination field zzz does not exist in node sum"),
    ([edge("a", "nope", "sum", "a")], "Edge source field nope does not exist in node a"),
    ([edge("ghost", "value", "sum", "a")], "Edge source node ghost does not exist in the graph"),
])
def test_edges_that_do_not_fit_the_graph_are_refused(client: t.Any, edges: list, message: str) -> None:
    g = graph(node("a", "integer", value=1), node("sum", "add"), edges=edges)
    response = enqueue_raw(client, g)
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["type"] == "value_error" and issue["loc"] == ["body", "batch", "graph"]
    assert issue["msg"] == f"Value error, {message}"
    assert issue["input"] == g
    assert_nothing_enqueued(client)


def test_a_cyclic_graph_is_refused(client: t.Any) -> None:
    g = graph(node("x", "add"), node("y", "add"), edges=[edge("x", "value", "y", "a"), edge("y", "value", "x", "a")])
    response = enqueue_raw(client, g)
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["type"] == "value_error" and issue["loc"] == ["body", "batch", "graph"]
    assert issue["msg"] == "Value error, Graph contains cycles"  # InvokeAI's CyclicalGraphError text
    assert_nothing_enqueued(client)


@pytest.mark.parametrize("body", [
    {},
    {"batch": {"graph": {"id": "g", "nodes": {}, "edges": []}, "runs": "many"}},
    {"batch": {"graph": {"id": "g", "nodes": {}, "edges": []}}, "prepend": "perhaps"},
    {"batch": {"graph": "not a graph"}},
])
def test_malformed_enqueue_bodies_are_refused(client: t.Any, body: dict) -> None:
    response = client.post(f"{QUEUE}/enqueue_batch", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list) and response.json()["detail"]
    assert_nothing_enqueued(client)


def test_prepend_takes_the_highest_pending_priority_plus_one(client: t.Any) -> None:
    pause(client)
    assert enqueue(client, int_graph(1), runs=2)["priority"] == 0
    assert enqueue(client, int_graph(2), prepend=True)["priority"] == 1
    assert enqueue(client, int_graph(3), prepend=True)["priority"] == 2
    assert enqueue(client, int_graph(4), prepend=False)["priority"] == 0
    assert ok(client.get(f"{QUEUE}/next"))["item_id"] == 4
    listed = ok(client.get(f"{QUEUE}/list_all"))
    assert [(item["item_id"], item["priority"]) for item in listed] == [(4, 2), (3, 1), (1, 0), (2, 0), (5, 0)]


# ================================================================ reading items


def test_get_queue_item_leaves_out_nulls_the_other_routes_keep_them(client: t.Any) -> None:
    """Seq 120 (GET i/{id}: null fields left out) against seq 121 / 123 / 129 (cancel, items_by_ids,
    list_all: every field, nulls included); current and next answer the full item too."""
    pause(client)
    six_nodes = graph(node("n0", "integer", value=1), *(node(f"n{i}", "add") for i in range(1, 6)),
                      edges=[edge(f"n{i - 1}", "value", f"n{i}", "a") for i in range(1, 6)])
    enqueue(client, six_nodes, runs=2)
    single = queue_item(client, 1)
    assert set(single) == set(recorded_json(120))
    assert "origin" not in single and "started_at" not in single and "error_type" not in single
    full_keys = set(recorded_json(129)[0])
    listed = ok(client.get(f"{QUEUE}/list_all"))[0]
    assert set(listed) == full_keys
    assert listed["origin"] is None and listed["started_at"] is None and listed["workflow"] is None
    assert set(ok(client.post(f"{QUEUE}/items_by_ids", json={"item_ids": [1]}))[0]) == set(recorded_json(123)[0])
    assert set(ok(client.get(f"{QUEUE}/next"))) == full_keys
    assert set(ok(client.put(f"{QUEUE}/i/2/cancel"))) == set(recorded_json(121))
    resume(client)
    advance(client, 0.46)  # item 1 (6 nodes, 30 ms) is running
    current = ok(client.get(f"{QUEUE}/current"))
    assert current["item_id"] == 1 and set(current) == full_keys
    assert current["completed_at"] is None and current["error_message"] is None


def test_pending_item_shape(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), origin="tests", destination="gallery")
    item = queue_item(client, 1)
    assert item["status"] == "pending" and item["priority"] == 0 and item["queue_id"] == "default"
    assert item["origin"] == "tests" and item["destination"] == "gallery"
    assert item["created_at"] == item["updated_at"]
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$", item["created_at"])
    assert item["created_at"].startswith("2025-11-21 00:00:")  # the frozen clock
    assert item["session_id"] == item["session"]["id"]
    assert item["session"]["graph"]["nodes"]["int1"] == {"id": "int1", "is_intermediate": False, "use_cache": True,
                                                         "value": 42, "type": "integer"}
    assert item["session"]["execution_graph"]["nodes"] == {} and item["session"]["results"] == {}
    assert item["is_api_validation_run"] is False and item["field_values"] == []


def test_unknown_item_is_404_everywhere_it_is_named(client: t.Any) -> None:
    """Seq 186 (get) and 188 (cancel): the same 404 text."""
    for seq, method, path in ((186, "GET", f"{QUEUE}/i/999999"), (188, "PUT", f"{QUEUE}/i/999999/cancel")):
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == recorded_json(seq) == {
            "detail": "Queue item with id 999999 not found in queue default"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"{QUEUE}/i/abc"), ("PUT", f"{QUEUE}/i/abc/cancel"), ("DELETE", f"{QUEUE}/i/abc"),
])
def test_non_integer_item_id_is_422(client: t.Any, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 422
    assert response.json() == recorded_json(187)


def test_item_ids_newest_batch_first_and_ascending_inside(client: t.Any) -> None:
    """Seq 122's order: created_at DESC, a batch's items (one creation time) in ascending item id."""
    pause(client)
    enqueue(client, int_graph())                      # 1
    enqueue(client, add_graph(), runs=2,              # 2-5
            data=[[{"node_path": "a", "field_name": "value", "items": [1, 10]}]])
    enqueue(client, blank_graph())                    # 6
    advance(client, 1)
    enqueue(client, int_graph(), runs=3)              # 7-9
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [7, 8, 9, 6, 2, 3, 4, 5, 1], "total_count": 9}
    assert ok(client.get(f"{QUEUE}/item_ids", params={"order_dir": "ASC"})) == {
        "item_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9], "total_count": 9}
    response = client.get(f"{QUEUE}/item_ids", params={"order_dir": "sideways"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "enum"


def test_items_by_ids_keeps_the_requested_order(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=4)
    answer = ok(client.post(f"{QUEUE}/items_by_ids", json={"item_ids": [3, 1, 4, 2]}))
    assert [item["item_id"] for item in answer] == [3, 1, 4, 2]
    assert ok(client.post(f"{QUEUE}/items_by_ids", json={"item_ids": []})) == []
    assert client.post(f"{QUEUE}/items_by_ids", json={}).status_code == 422


def test_list_all_orders_by_priority_then_id_and_filters_by_destination(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=2, destination="canvas")
    enqueue(client, int_graph(), destination="gallery", prepend=True)
    enqueue(client, int_graph(), destination="gallery")
    assert [item["item_id"] for item in ok(client.get(f"{QUEUE}/list_all"))] == [3, 1, 2, 4]
    canvas = ok(client.get(f"{QUEUE}/list_all", params={"destination": "canvas"}))
    assert [item["item_id"] for item in canvas] == [1, 2]
    assert all(item["destination"] == "canvas" for item in canvas)
    assert ok(client.get(f"{QUEUE}/list_all", params={"destination": "nowhere"})) == []


def test_next_is_the_first_pending_by_priority(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=2)
    assert ok(client.get(f"{QUEUE}/next"))["item_id"] == 1
    ok(client.put(f"{QUEUE}/i/1/cancel"))
    assert ok(client.get(f"{QUEUE}/next"))["item_id"] == 2
    ok(client.put(f"{QUEUE}/i/2/cancel"))
    assert ok(client.get(f"{QUEUE}/next")) is None
    assert ok(client.get(f"{QUEUE}/current")) is None


# ================================================================ status and counts


def test_status_batch_status_and_counts_by_destination_count_every_state(client: t.Any) -> None:
    set_speed(client, "instant")
    done = enqueue(client, int_graph(), runs=2, destination="gallery", origin="tests")
    failed = enqueue(client, graph(node("m", "main_model_loader", model={"key": "gone", "hash": "x", "name": "x",
                                                                        "base": "sd-1", "type": "main"})),
                     destination="canvas")
    pause(client)
    waiting = enqueue(client, int_graph(), runs=3, destination="gallery", origin="tests")
    ok(client.put(f"{QUEUE}/i/{waiting['item_ids'][0]}/cancel"))

    status = queue_status(client)
    assert counts(status["queue"]) == zero_counts(pending=2, completed=2, failed=1, canceled=1, total=6)
    assert status["processor"] == {"is_started": False, "is_processing": False}
    assert status["queue"]["item_id"] is None

    assert ok(client.get(f"{QUEUE}/b/{waiting['batch']['batch_id']}/status")) == {
        "queue_id": "default", "batch_id": waiting["batch"]["batch_id"], "origin": "tests", "destination": "gallery",
        **zero_counts(pending=2, canceled=1, total=3)}
    assert counts(ok(client.get(f"{QUEUE}/b/{done['batch']['batch_id']}/status"))) == zero_counts(completed=2, total=2)
    assert counts(ok(client.get(f"{QUEUE}/b/{failed['batch']['batch_id']}/status"))) == zero_counts(failed=1, total=1)

    assert ok(client.get(f"{QUEUE}/counts_by_destination", params={"destination": "gallery"})) == {
        "queue_id": "default", "destination": "gallery", **zero_counts(pending=2, completed=2, canceled=1, total=5)}
    assert counts(ok(client.get(f"{QUEUE}/counts_by_destination", params={"destination": "canvas"}))) == \
        zero_counts(failed=1, total=1)
    missing = client.get(f"{QUEUE}/counts_by_destination")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["type"] == "missing"
    assert missing.json()["detail"][0]["loc"] == ["query", "destination"]


# ================================================================ pause / resume


def test_pause_and_resume_answer_the_processor_status(client: t.Any) -> None:
    assert ok(client.put(f"{QUEUE}/processor/pause")) == recorded_json(117) == {"is_started": False,
                                                                                  "is_processing": False}
    assert queue_status(client)["processor"]["is_started"] is False
    assert ok(client.put(f"{QUEUE}/processor/pause"))["is_started"] is False  # twice: still paused
    assert ok(client.put(f"{QUEUE}/processor/resume")) == recorded_json(125) == {"is_started": True,
                                                                                   "is_processing": False}
    assert queue_status(client)["processor"]["is_started"] is True


# ================================================================ cancelling


def test_cancel_a_pending_item(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=2)
    advance(client, 1)
    answer = ok(client.put(f"{QUEUE}/i/2/cancel"))
    assert answer["item_id"] == 2 and answer["status"] == "canceled"
    assert answer["started_at"] is None and answer["completed_at"] == answer["updated_at"]
    assert answer["completed_at"] > answer["created_at"]
    assert answer["error_type"] is None and answer["session"]["results"] == {}
    assert statuses(client) == {1: "pending", 2: "canceled"}
    resume(client)
    advance(client, 2)
    assert statuses(client) == {1: "completed", 2: "canceled"}


def test_cancel_by_batch_ids(client: t.Any) -> None:
    pause(client)
    first = enqueue(client, int_graph(), runs=2)
    second = enqueue(client, int_graph(), runs=2)
    third = enqueue(client, int_graph())
    answer = ok(client.put(f"{QUEUE}/cancel_by_batch_ids",
                           json={"batch_ids": [first["batch"]["batch_id"], third["batch"]["batch_id"], "unknown"]}))
    assert answer == {"canceled": 3}
    assert statuses(client) == {1: "canceled", 2: "canceled", 3: "pending", 4: "pending", 5: "canceled"}
    # already-finished items are not cancelled again, nor counted (seq 131)
    assert ok(client.put(f"{QUEUE}/cancel_by_batch_ids", json={"batch_ids": [first["batch"]["batch_id"]]})) == \
        {"canceled": 0}
    assert second["item_ids"] == [4, 3]
    assert client.put(f"{QUEUE}/cancel_by_batch_ids", json={}).status_code == 422


def test_cancel_by_destination(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=2, destination="canvas")
    enqueue(client, int_graph(), destination="gallery")
    assert ok(client.put(f"{QUEUE}/cancel_by_destination", params={"destination": "canvas"})) == {"canceled": 2}
    assert statuses(client) == {1: "canceled", 2: "canceled", 3: "pending"}
    assert ok(client.put(f"{QUEUE}/cancel_by_destination", params={"destination": "canvas"})) == {"canceled": 0}
    missing = client.put(f"{QUEUE}/cancel_by_destination")
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "destination"]


def test_cancel_all_except_current_cancels_every_pending_item(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph())
    pause(client)
    enqueue(client, int_graph(), runs=3)
    assert ok(client.put(f"{QUEUE}/cancel_all_except_current")) == {"canceled": 3}
    assert statuses(client) == {1: "completed", 2: "canceled", 3: "canceled", 4: "canceled"}
    assert ok(client.put(f"{QUEUE}/cancel_all_except_current")) == {"canceled": 0}


# ================================================================ deleting


def test_delete_one_item(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=3)
    response = client.delete(f"{QUEUE}/i/2")
    assert response.status_code == 200 and response.json() is None
    assert client.get(f"{QUEUE}/i/2").status_code == 404
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [1, 3], "total_count": 2}
    assert queue_status(client)["queue"]["total"] == 2


def test_delete_all_except_current_deletes_every_pending_item(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph())
    pause(client)
    enqueue(client, int_graph(), runs=3)
    ok(client.put(f"{QUEUE}/i/4/cancel"))
    assert ok(client.put(f"{QUEUE}/delete_all_except_current")) == {"deleted": 2}
    assert statuses(client) == {1: "completed", 4: "canceled"}


def test_delete_by_destination_deletes_items_in_every_state(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph(), destination="canvas")
    enqueue(client, int_graph(), destination="gallery")
    pause(client)
    enqueue(client, int_graph(), runs=2, destination="canvas")
    ok(client.put(f"{QUEUE}/i/4/cancel"))
    assert ok(client.delete(f"{QUEUE}/d/canvas")) == {"deleted": 3}
    assert statuses(client) == {2: "completed"}
    assert ok(client.delete(f"{QUEUE}/d/canvas")) == {"deleted": 0}


def test_prune_deletes_the_finished_items(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph(), runs=2)
    enqueue(client, graph(node("m", "main_model_loader", model={"key": "gone", "hash": "x", "name": "x",
                                                                 "base": "sd-1", "type": "main"})))
    pause(client)
    enqueue(client, int_graph(), runs=2)
    ok(client.put(f"{QUEUE}/i/5/cancel"))
    assert statuses(client) == {1: "completed", 2: "completed", 3: "failed", 4: "pending", 5: "canceled"}
    assert ok(client.put(f"{QUEUE}/prune")) == {"deleted": 4}
    assert statuses(client) == {4: "pending"}
    assert counts(queue_status(client)["queue"]) == zero_counts(pending=1, total=1)
    assert ok(client.put(f"{QUEUE}/prune")) == {"deleted": 0}


def test_clear_deletes_everything(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph(), runs=2)
    pause(client)
    enqueue(client, int_graph(), runs=3)
    assert ok(client.put(f"{QUEUE}/clear")) == {"deleted": 5}
    assert ok(client.get(f"{QUEUE}/list_all")) == []
    assert counts(queue_status(client)["queue"]) == zero_counts()
    assert queue_status(client)["processor"]["is_started"] is False  # clearing does not resume


def test_operations_on_one_queue_leave_another_alone(client: t.Any) -> None:
    pause(client)
    enqueue(client, int_graph(), runs=2)
    enqueue(client, int_graph(), queue_id="other")
    assert ok(client.put("/api/v1/queue/other/cancel_all_except_current")) == {"canceled": 1}
    assert ok(client.put("/api/v1/queue/other/clear")) == {"deleted": 1}
    assert counts(queue_status(client)["queue"]) == zero_counts(pending=2, total=2)


# ================================================================ the invocation cache


def cache_status(client: t.Any) -> dict:
    return ok(client.get(f"{CACHE}/status"))


def test_identical_nodes_hit_the_invocation_cache(client: t.Any) -> None:
    set_speed(client, "instant")
    assert cache_status(client) == {"size": 0, "hits": 0, "misses": 0, "enabled": True, "max_size": 512}
    enqueue(client, int_graph(7))
    assert cache_status(client) == {"size": 1, "hits": 0, "misses": 1, "enabled": True,
                                                        "max_size": 512}
    enqueue(client, int_graph(7))
    assert (cache_status(client)["size"], cache_status(client)["hits"], cache_status(client)["misses"]) == (1, 1, 1)
    assert source_results(queue_item(client, 2)) == source_results(queue_item(client, 1))
    enqueue(client, int_graph(8))  # different inputs: a miss
    status = cache_status(client)
    assert (status["size"], status["hits"], status["misses"]) == (2, 1, 2)


def test_nodes_with_use_cache_off_skip_the_cache(client: t.Any) -> None:
    set_speed(client, "instant")
    g = graph(node("int1", "integer", value=5, use_cache=False))
    enqueue(client, g)
    enqueue(client, g)
    status = cache_status(client)
    assert (status["size"], status["hits"], status["misses"]) == (0, 0, 0)
    assert queue_item(client, 2)["status"] == "completed"


def test_a_cached_image_node_reuses_the_saved_image(client: t.Any) -> None:
    """A cache hit returns the stored output: the same image, no second save."""
    set_speed(client, "instant")
    enqueue(client, blank_graph(16, 16))
    enqueue(client, blank_graph(16, 16))
    first, second = (source_results(queue_item(client, i))["blank"]["image"]["image_name"] for i in (1, 2))
    assert first == second
    assert ok(client.get("/api/v1/images/names"))["image_names"] == [first]
    assert cache_status(client)["hits"] == 1


def test_disabled_cache_neither_counts_nor_stores(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph(7))
    before = cache_status(client)
    assert client.put(f"{CACHE}/disable").json() is None
    enqueue(client, int_graph(7))
    enqueue(client, int_graph(9))
    assert cache_status(client) == {**before, "enabled": False}
    assert queue_item(client, 3)["status"] == "completed"
    assert client.put(f"{CACHE}/enable").json() is None
    enqueue(client, int_graph(7))
    assert cache_status(client)["hits"] == before["hits"] + 1


def test_clearing_the_cache_zeroes_it_and_forgets_the_entries(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph(7))
    enqueue(client, int_graph(7))
    assert cache_status(client)["hits"] == 1
    assert client.delete(CACHE).json() is None
    assert cache_status(client) == {"size": 0, "hits": 0, "misses": 0, "enabled": True, "max_size": 512}
    enqueue(client, int_graph(7))
    status = cache_status(client)
    assert (status["size"], status["hits"], status["misses"]) == (1, 0, 1)


def test_random_nodes_are_never_served_from_the_cache(client: t.Any) -> None:
    set_speed(client, "instant")
    g = graph(node("r", "rand_int", low=0, high=1_000_000))
    for _ in range(5):
        enqueue(client, g)
    values = {source_results(queue_item(client, i))["r"]["value"] for i in range(1, 6)}
    assert len(values) > 1 and all(0 <= value < 1_000_000 for value in values)
    assert cache_status(client)["hits"] == 0


@pytest.mark.parametrize("node_type", ["rand_int", "rand_float", "random_range", "save_image", "dynamic_prompt"])
def test_nodes_that_never_cache_say_so_in_the_echo(client: t.Any, node_type: str) -> None:
    """openapi-v6.8.json gives these invocations `use_cache` default false; the enqueue echo fills
    node defaults, so it shows `use_cache: false` unless the client set it."""
    pause(client)
    answer = enqueue(client, graph(node("n", node_type)))
    assert answer["batch"]["graph"]["nodes"]["n"]["use_cache"] is False
    explicit = enqueue(client, graph(node("n", node_type, use_cache=True)))
    assert explicit["batch"]["graph"]["nodes"]["n"]["use_cache"] is True


def test_save_image_saves_a_new_image_every_run(client: t.Any) -> None:
    """save_image is never served from the cache (use_cache defaults to false), so running the same
    graph twice saves two images."""
    from invokeai_support import uploaded

    source = uploaded(client)["image_name"]
    set_speed(client, "instant")
    g = graph(node("save", "save_image", image={"image_name": source}))
    enqueue(client, g)
    enqueue(client, g)
    saved = [source_results(queue_item(client, i))["save"]["image"]["image_name"] for i in (1, 2)]
    assert saved[0] != saved[1] and source not in saved
    assert ok(client.get("/api/v1/images/names"))["total_count"] == 3


def test_counts_stay_right_through_every_kind_of_change(client: t.Any) -> None:
    """The status counts are kept as items change (not recounted per request): after enqueues,
    runs, cancels, deletes and retries they still equal a count of the items themselves."""
    set_speed(client, "instant")
    enqueue(client, int_graph(), runs=3)
    client.put(f"{QUEUE}/processor/pause").raise_for_status()
    paused = enqueue(client, int_graph(), runs=3)
    client.put(f"{QUEUE}/i/{paused['item_ids'][0]}/cancel").raise_for_status()
    client.delete(f"{QUEUE}/i/{paused['item_ids'][1]}").raise_for_status()
    client.put(f"{QUEUE}/retry_items_by_id", json=[paused["item_ids"][0]]).raise_for_status()
    client.put(f"{QUEUE}/processor/resume").raise_for_status()
    items = client.get(f"{QUEUE}/list_all").json()
    counted = {status: sum(item["status"] == status for item in items)
               for status in ("pending", "in_progress", "completed", "failed", "canceled")}
    status = client.get(f"{QUEUE}/status").json()["queue"]
    assert {key: status[key] for key in counted} == counted and status["total"] == len(items)
    batch = client.get(f"{QUEUE}/b/{paused['batch']['batch_id']}/status").json()
    in_batch = [item for item in items if item["batch_id"] == paused["batch"]["batch_id"]]
    assert batch["total"] == len(in_batch) and batch["canceled"] == 1 and batch["completed"] == len(in_batch) - 1
