"""The session queue over time: items go pending → in_progress → completed / failed / canceled on the
engine clock, the processor pauses and resumes, failures and retries, images reaching the gallery,
and the recorded queue session (transcript seq 95-139) played through in order.

Facts: behaviour.md "Queue", transcript seq 95-139 (the recorded session: 1 integer item, a 4-item
batch, a blank_image item, a failing model item, 3 items enqueued while paused, retry, prune,
clear), `real-server-socketio-events.jsonl` (one item at a time, in ascending item id, each picked
up about 0.45 s after the processor is free), InvokeAI's `session_queue_sqlite.py` (what each
cancel and delete counts). The pack runs at `realtime` speed by default: an item starts 0.45 s
(engine clock) after the processor is free and takes 5 ms per node; the clock is frozen, so nothing
moves until a test advances it.
"""

from __future__ import annotations

import itertools
import json
import re
import typing as t

import pytest
from invokeai_support import (
    PICKUP,
    QUEUE,
    advance,
    blank_graph,
    decoded,
    edge,
    enqueue,
    enqueue_raw,
    graph,
    int_graph,
    new_board,
    node,
    ok,
    queue_item,
    queue_status,
    recorded,
    run_until_idle,
    set_speed,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
ADD_GRAPH_NODES = ("a", "b", "sum", "s")



def scrub(value: t.Any) -> t.Any:
    """Ids (UUIDs, in values and keys) and timestamps replaced by markers, so a mock answer can be
    compared with the recorded one field by field. A session's `executed` is a set on the real
    server (seq 101 lists the prepared id first, seq 129's item 8 the source id): compared sorted."""
    if isinstance(value, dict):
        scrubbed = {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(scrubbed.get("executed"), list) and "executed_history" in scrubbed:
            scrubbed["executed"] = sorted(scrubbed["executed"])
        return scrubbed
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        if TIME.match(value):
            return "<time>"
        return UUID.sub("<uuid>", value)
    return value


def recorded_json(seq: int) -> t.Any:
    return recorded(seq)["response"]["json"]


def send_recorded(client: t.Any, seq: int) -> t.Any:
    """The recorded request of `seq`, sent as it was (method, path, query, JSON body)."""
    request = recorded(seq)["request"]
    kwargs: dict = {"params": request.get("query")}
    if "json" in request:
        kwargs["json"] = request["json"]
    return client.request(request["method"], request["path"], **kwargs)


def by_source(session: dict, section: str) -> dict:
    """A session's per-node dict (`results`, `errors`, execution graph nodes) keyed by the graph's
    own node ids instead of the prepared ids."""
    mapping = session["prepared_source_mapping"]
    return {mapping[prepared]: value for prepared, value in session[section].items()}


def executed_nodes(session: dict) -> dict:
    """The execution graph's nodes (inputs filled from the edges) by source node id, without ids."""
    mapping = session["prepared_source_mapping"]
    return {mapping[prepared]: {k: v for k, v in value.items() if k != "id"}
            for prepared, value in session["execution_graph"]["nodes"].items()}


def item_state(client: t.Any, item_id: int) -> str:
    return queue_item(client, item_id)["status"]


def parsed(stamp: str) -> float:
    """Seconds (with milliseconds) of an InvokeAI timestamp, for ordering and gaps."""
    from datetime import datetime, timezone

    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def chain(length: int) -> dict:
    """A graph of `length` nodes (integer, then adds), so an item runs `length` × 5 ms."""
    nodes = [node("n0", "integer", value=1)]
    edges = []
    for index in range(1, length):
        nodes.append(node(f"n{index}", "add", b=1))
        edges.append(edge(f"n{index - 1}", "value", f"n{index}", "a"))
    return graph(*nodes, edges=edges, graph_id="chain")


# ================================================================ the recorded session, in order


class Expectations:
    """Collects mismatches instead of stopping at the first, so one run of the recorded session
    reports every step that differs (the session goes on: later steps do not depend on the values)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def equal(self, label: str, actual: t.Any, expected: t.Any) -> None:
        if actual != expected:
            self.problems.append(f"{label}:\n  mock: {json.dumps(actual)[:600]}\n  real: {json.dumps(expected)[:600]}")

    def true(self, label: str, condition: bool) -> None:
        if not condition:
            self.problems.append(label)

    def same_as_recorded(self, seq: int, answer: t.Any, *, scrubbed: bool = True) -> None:
        expected = recorded_json(seq)
        if scrubbed:
            self.equal(f"seq {seq}", scrub(answer), scrub(expected))
        else:
            self.equal(f"seq {seq}", answer, expected)


def test_recorded_queue_session_plays_through(client: t.Any) -> None:
    """Seq 95-139 sent in recorded order to a fresh mock: every answer matches the recording once
    ids and times are left out (the mock's item ids line up with the real server's)."""
    expect = Expectations()

    # 95-98: an empty queue
    for seq in (95, 96, 97, 98):
        expect.same_as_recorded(seq, ok(send_recorded(client, seq)), scrubbed=False)

    # 99-102: one integer node
    first = ok(send_recorded(client, 99))
    expect.same_as_recorded(99, first)
    assert first["item_ids"] == [1]
    expect.equal("seq 100: item 1 is pending first", item_state(client, 1), "pending")
    run_until_idle(client)
    expect.same_as_recorded(101, queue_item(client, 1))
    batch_one = first["batch"]["batch_id"]
    status = ok(client.get(f"{QUEUE}/b/{batch_one}/status"))
    expect.equal("seq 102", status, {**recorded_json(102), "batch_id": batch_one})

    # 103-108: data [1, 10] x runs 2 -> 4 items, ids descending in the answer, run ascending
    added = ok(send_recorded(client, 103))
    expect.same_as_recorded(103, added)
    assert added["item_ids"] == [5, 4, 3, 2]
    run_until_idle(client)
    items = {item_id: queue_item(client, item_id) for item_id in (2, 3, 4, 5)}
    expect.equal("seq 104-107 statuses", [item["status"] for item in items.values()], ["completed"] * 4)
    starts = [parsed(items[item_id]["started_at"]) for item_id in (2, 3, 4, 5)]
    expect.true("items 2-5 start one after the other, ascending", starts == sorted(starts) and len(set(starts)) == 4)
    last, real_last = items[5], recorded_json(108)
    expect.equal("seq 108 field_values", last["field_values"], real_last["field_values"])
    expect.equal("seq 108 session graph", last["session"]["graph"], real_last["session"]["graph"])
    expect.equal("seq 108 executed_history", last["session"]["executed_history"],
                 real_last["session"]["executed_history"])
    expect.equal("seq 108 executed (as a set)", scrub(last["session"])["executed"],
                 scrub(real_last["session"])["executed"])
    expect.equal("seq 108 results by node", by_source(last["session"], "results"),
                 by_source(real_last["session"], "results"))
    expect.equal("seq 108 sum", by_source(last["session"], "results")["sum"]["value"], 13)
    # the add node ran with a=10, b=3 filled in from the edges
    expect.equal("seq 108 execution graph nodes", executed_nodes(last["session"]), executed_nodes(real_last["session"]))
    expect.equal("field values of items 2-5",
                 [fv["value"] for item_id in (2, 3, 4, 5) for fv in items[item_id]["field_values"]], [1, 10, 1, 10])

    # 109-113: blank_image saves a real image into the gallery
    expect.same_as_recorded(109, ok(send_recorded(client, 109)))
    run_until_idle(client)
    six = queue_item(client, 6)
    expect.same_as_recorded(111, six)
    names = ok(send_recorded(client, 112))
    expect.same_as_recorded(112, names)
    image_name = by_source(six["session"], "results")["blank"]["image"]["image_name"]
    expect.equal("seq 112 names the image item 6 saved", names["image_names"], [image_name])
    listed = ok(send_recorded(client, 113))
    expect.same_as_recorded(113, listed)
    expect.equal("seq 113 session_id", listed["items"][0]["session_id"], six["session_id"])
    expect.equal("seq 113 node_id is the prepared (execution graph) node id", listed["items"][0]["node_id"],
                 six["session"]["source_prepared_mapping"]["blank"][0])

    # 114-116: a model that is not installed fails the item
    expect.same_as_recorded(114, ok(send_recorded(client, 114)))
    run_until_idle(client)
    seven, real_seven = queue_item(client, 7), recorded_json(116)
    expect.equal("seq 116 (traceback aside)", scrub({k: v for k, v in seven.items() if k != "error_traceback"}),
                 scrub({k: v for k, v in real_seven.items() if k != "error_traceback"}))
    expect.true("seq 116 traceback", seven.get("error_traceback", "").startswith("Traceback (most recent call last):\n")
                and seven["error_traceback"].endswith("Exception: Unknown model does-not-exist\n"))

    # 117-124: paused, 3 items stay pending, one is cancelled
    expect.same_as_recorded(117, ok(send_recorded(client, 117)), scrubbed=False)
    paused = ok(send_recorded(client, 118))
    expect.same_as_recorded(118, paused)
    assert paused["item_ids"] == [10, 9, 8]
    advance(client, 5)
    expect.same_as_recorded(119, ok(send_recorded(client, 119)), scrubbed=False)
    for seq in (120, 121):
        expect.same_as_recorded(seq, ok(send_recorded(client, seq)))
    expect.same_as_recorded(122, ok(send_recorded(client, 122)), scrubbed=False)
    expect.same_as_recorded(123, ok(send_recorded(client, 123)))
    expect.same_as_recorded(124, ok(send_recorded(client, 124)), scrubbed=False)

    # 125-129: resume; 8 then 9 run, 10 stays cancelled
    expect.same_as_recorded(125, ok(send_recorded(client, 125)), scrubbed=False)
    run_until_idle(client)
    eight, nine = queue_item(client, 8), queue_item(client, 9)
    expect.equal("seq 126-127", [eight["status"], nine["status"]], ["completed", "completed"])
    expect.true("item 8 finishes before item 9 starts", parsed(eight["completed_at"]) <= parsed(nine["started_at"]))
    expect.same_as_recorded(128, ok(send_recorded(client, 128)), scrubbed=False)
    listing, real_listing = ok(send_recorded(client, 129)), recorded_json(129)
    expect.equal("seq 129 item ids", [item["item_id"] for item in listing], [item["item_id"] for item in real_listing])
    # A length difference is reported by the ids check above; the items both have are compared.
    for mine, real in zip(listing, real_listing, strict=False):
        keep = [k for k in real if k not in ("session", "error_traceback")]
        expect.equal(f"seq 129 item {real['item_id']} keys", sorted(mine), sorted(real))
        expect.equal(f"seq 129 item {real['item_id']}", scrub({k: mine.get(k) for k in keep}),
                     scrub({k: real[k] for k in keep}))
        if len(real["session"]["graph"]["nodes"]) == 1:  # one-node sessions compare whole
            expect.equal(f"seq 129 item {real['item_id']} session", scrub(mine["session"]), scrub(real["session"]))

    # 130: retry the failed item -> item 11, which fails again
    expect.same_as_recorded(130, ok(send_recorded(client, 130)), scrubbed=False)
    run_until_idle(client)
    eleven = queue_item(client, 11)
    expect.equal("item 11", [eleven["status"], eleven.get("retried_from_item_id"), eleven.get("error_message")],
                 ["failed", 7, "Unknown model does-not-exist"])

    # 131-139: nothing left to cancel, delete one, prune the rest, clear
    answer = ok(client.put(f"{QUEUE}/cancel_by_batch_ids", json={"batch_ids": [batch_one]}))
    expect.same_as_recorded(131, answer, scrubbed=False)
    for seq in range(132, 140):
        expect.same_as_recorded(seq, ok(send_recorded(client, seq)), scrubbed=False)
    expect.equal("item ids after clear", ok(client.get(f"{QUEUE}/item_ids")), {"item_ids": [], "total_count": 0})

    assert not expect.problems, "\n".join(expect.problems)


# ================================================================ timing on the frozen clock


def test_item_waits_for_pickup_then_runs_for_its_nodes(client: t.Any) -> None:
    """Realtime: pending until 0.45 s have passed on the engine clock, then in_progress for 5 ms a
    node (6 nodes: 30 ms), then completed; `current` and the status name the item only while it runs."""
    assert ok(client.get("/__mock__/packs/invokeai/settings"))["queue_speed"] == "realtime"
    batch = enqueue(client, chain(6), origin="tests", destination="gallery")
    item_id = batch["item_ids"][0]
    created = parsed(queue_item(client, item_id)["created_at"])

    advance(client, PICKUP - 0.01)
    item = queue_item(client, item_id)
    assert item["status"] == "pending" and "started_at" not in item
    assert ok(client.get(f"{QUEUE}/current")) is None
    assert ok(client.get(f"{QUEUE}/next"))["item_id"] == item_id
    status = queue_status(client)
    assert status["queue"]["pending"] == 1 and status["queue"]["item_id"] is None
    assert status["processor"] == {"is_started": True, "is_processing": False}

    advance(client, 0.02)  # 0.46 s: picked up, 30 ms of nodes still to go
    item = queue_item(client, item_id)
    assert item["status"] == "in_progress" and "completed_at" not in item
    # As recorded (seq 101: created 21.493, started 21.499, in progress ~0.48 s after enqueue): the
    # item is stamped when the processor takes it and shows as in progress once its session is ready.
    assert parsed(item["started_at"]) == pytest.approx(created + 0.006, abs=0.002)
    current = ok(client.get(f"{QUEUE}/current"))
    assert current["item_id"] == item_id and current["status"] == "in_progress"
    assert current["completed_at"] is None and current["error_type"] is None  # nulls included here
    assert ok(client.get(f"{QUEUE}/next")) is None
    status = queue_status(client)
    assert status["queue"] == {"queue_id": "default", "item_id": item_id, "batch_id": batch["batch"]["batch_id"],
                                    "session_id": item["session_id"], "pending": 0, "in_progress": 1,
                                    "completed": 0, "failed": 0, "canceled": 0, "total": 1}
    assert status["processor"] == {"is_started": True, "is_processing": True}
    assert ok(client.get(f"{QUEUE}/b/{batch['batch']['batch_id']}/status"))["in_progress"] == 1
    assert ok(client.get(f"{QUEUE}/counts_by_destination", params={"destination": "gallery"}))["in_progress"] == 1

    advance(client, 0.04)  # 0.50 s: done
    item = queue_item(client, item_id)
    assert item["status"] == "completed"
    # started_at is the moment it was taken: the 0.45 s of preparation plus 30 ms of nodes follow.
    assert parsed(item["completed_at"]) - parsed(item["started_at"]) == pytest.approx(PICKUP - 0.006 + 0.030, abs=0.002)
    assert by_source(item["session"], "results")["n5"]["value"] == 6
    assert ok(client.get(f"{QUEUE}/current")) is None
    status = queue_status(client)
    assert status["queue"]["item_id"] is None and status["queue"]["completed"] == 1
    assert status["processor"]["is_processing"] is False
    assert ok(client.get(f"{QUEUE}/b/{batch['batch']['batch_id']}/status")) == {
        "queue_id": "default", "batch_id": batch["batch"]["batch_id"], "origin": "tests", "destination": "gallery",
        "pending": 0, "in_progress": 0, "completed": 1, "failed": 0, "canceled": 0, "total": 1}
    assert ok(client.get(f"{QUEUE}/counts_by_destination", params={"destination": "gallery"})) == {
        "queue_id": "default", "destination": "gallery",
        "pending": 0, "in_progress": 0, "completed": 1, "failed": 0, "canceled": 0, "total": 1}


def test_items_run_one_at_a_time_in_ascending_id(client: t.Any) -> None:
    """A 3-item batch: each item is taken as soon as the one before finished (started_at a few ms
    later, as recorded) and shows as in progress 0.45 s after that."""
    batch = enqueue(client, int_graph(), runs=3)
    assert batch["item_ids"] == [3, 2, 1]
    advance(client, 0.5)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["completed", "pending", "pending"]
    advance(client, 0.46)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["completed", "completed", "pending"]
    advance(client, 0.46)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["completed", "completed", "completed"]
    items = [queue_item(client, i) for i in (1, 2, 3)]
    for before, after in itertools.pairwise(items):
        gap = parsed(after["started_at"]) - parsed(before["completed_at"])
        assert gap == pytest.approx(0.006, abs=0.002)
        assert parsed(after["completed_at"]) - parsed(before["completed_at"]) == pytest.approx(PICKUP + 0.005, abs=0.003)


def test_instant_speed_finishes_before_the_answer(client: t.Any) -> None:
    assert set_speed(client, "instant")["queue_speed"] == "instant"
    batch = enqueue(client, int_graph(), runs=3)
    assert [item_state(client, i) for i in batch["item_ids"]] == ["completed"] * 3
    assert queue_status(client)["queue"]["completed"] == 3
    assert ok(client.get(f"{QUEUE}/current")) is None


def test_switching_to_instant_runs_what_is_waiting(client: t.Any) -> None:
    enqueue(client, int_graph(), runs=2)
    assert queue_status(client)["queue"]["pending"] == 2
    set_speed(client, "instant")
    assert queue_status(client)["queue"]["completed"] == 2


# ================================================================ pause, cancel, resume


def test_pause_enqueue_cancel_resume(client: t.Any) -> None:
    """Seq 117-128 in miniature: paused items stay pending however long; a pending item cancelled
    has no start time; after resume the others complete in ascending item id."""
    assert ok(client.put(f"{QUEUE}/processor/pause")) == {"is_started": False, "is_processing": False}
    batch = enqueue(client, int_graph(), runs=3)
    assert batch["item_ids"] == [3, 2, 1]
    advance(client, 10)
    status = queue_status(client)
    assert status["processor"] == {"is_started": False, "is_processing": False}
    assert status["queue"]["pending"] == 3 and status["queue"]["completed"] == 0
    assert ok(client.get(f"{QUEUE}/next"))["item_id"] == 1  # next still answers while paused

    canceled = ok(client.put(f"{QUEUE}/i/2/cancel"))
    assert canceled["status"] == "canceled"
    assert canceled["started_at"] is None and TIME.match(canceled["completed_at"])
    assert canceled["completed_at"] == canceled["updated_at"]
    assert queue_status(client)["queue"]["canceled"] == 1

    assert ok(client.put(f"{QUEUE}/processor/resume")) == {"is_started": True, "is_processing": False}
    advance(client, 0.5)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["completed", "canceled", "pending"]
    advance(client, 0.5)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["completed", "canceled", "completed"]
    first, third = queue_item(client, 1), queue_item(client, 3)
    assert parsed(first["completed_at"]) < parsed(third["started_at"])
    assert "started_at" not in queue_item(client, 2)  # still never started (null left out on this route)


def test_pausing_lets_the_running_item_finish(client: t.Any) -> None:
    enqueue(client, chain(6), runs=2)
    advance(client, 0.46)
    assert item_state(client, 1) == "in_progress"
    assert ok(client.put(f"{QUEUE}/processor/pause")) == {"is_started": False, "is_processing": True}
    advance(client, 5)
    assert [item_state(client, i) for i in (1, 2)] == ["completed", "pending"]
    assert ok(client.put(f"{QUEUE}/processor/resume"))["is_started"] is True
    run_until_idle(client)
    assert item_state(client, 2) == "completed"


def test_resume_when_running_changes_nothing(client: t.Any) -> None:
    assert ok(client.put(f"{QUEUE}/processor/resume")) == {"is_started": True, "is_processing": False}
    enqueue(client, int_graph())
    assert ok(client.put(f"{QUEUE}/processor/resume")) == {"is_started": True, "is_processing": False}
    advance(client, 0.5)
    assert item_state(client, 1) == "completed"


def test_prepended_batch_is_processed_first(client: t.Any) -> None:
    ok(client.put(f"{QUEUE}/processor/pause"))
    back = enqueue(client, int_graph(1), runs=2)
    front = enqueue(client, int_graph(2), prepend=True)
    assert back["priority"] == 0 and front["priority"] == 1
    assert front["item_ids"] == [3]
    ok(client.put(f"{QUEUE}/processor/resume"))
    advance(client, 0.5)
    assert [item_state(client, i) for i in (1, 2, 3)] == ["pending", "pending", "completed"]
    run_until_idle(client)
    starts = {i: parsed(queue_item(client, i)["started_at"]) for i in (1, 2, 3)}
    assert starts[3] < starts[1] < starts[2]


def test_cancel_the_running_item(client: t.Any) -> None:
    """Cancelling the current item stops it and frees the processor for the next one."""
    enqueue(client, chain(6), runs=2)
    advance(client, 0.46)
    canceled = ok(client.put(f"{QUEUE}/i/1/cancel"))
    assert canceled["status"] == "canceled" and canceled["started_at"] is not None
    assert ok(client.get(f"{QUEUE}/current")) is None
    assert queue_status(client)["queue"]["item_id"] is None
    advance(client, 1)
    assert [item_state(client, i) for i in (1, 2)] == ["canceled", "completed"]


def test_cancelling_a_finished_item_leaves_it_finished(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph())
    answer = ok(client.put(f"{QUEUE}/i/1/cancel"))
    assert answer["status"] == "completed" and answer["item_id"] == 1
    assert queue_status(client)["queue"]["canceled"] == 0


# ================================================================ bulk cancel / delete with a current item


def running_first_of(client: t.Any, **batch: t.Any) -> dict:
    """Enqueue a 3-item batch of 6-node items and advance until item 1 is running."""
    result = enqueue(client, chain(6), runs=3, **batch)
    advance(client, 0.46)
    assert item_state(client, 1) == "in_progress"
    return result


def test_cancel_all_except_current_spares_the_running_item(client: t.Any) -> None:
    running_first_of(client)
    assert ok(client.put(f"{QUEUE}/cancel_all_except_current")) == {"canceled": 2}
    assert [item_state(client, i) for i in (1, 2, 3)] == ["in_progress", "canceled", "canceled"]
    advance(client, 0.1)
    assert item_state(client, 1) == "completed"


def test_delete_all_except_current_spares_the_running_item(client: t.Any) -> None:
    running_first_of(client)
    assert ok(client.put(f"{QUEUE}/delete_all_except_current")) == {"deleted": 2}
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [1], "total_count": 1}
    assert client.get(f"{QUEUE}/i/2").status_code == 404
    advance(client, 0.1)
    assert item_state(client, 1) == "completed"


def test_cancel_by_batch_ids_cancels_the_running_item_but_counts_the_pending(client: t.Any) -> None:
    """InvokeAI's cancel_by_batch_ids counts the pending items it cancels and cancels the current
    item of those batches separately (session_queue_sqlite.py: "We will cancel the current item
    separately below - skip it here")."""
    batch = running_first_of(client)
    other = enqueue(client, int_graph(), runs=1)
    answer = ok(client.put(f"{QUEUE}/cancel_by_batch_ids", json={"batch_ids": [batch["batch"]["batch_id"]]}))
    assert [item_state(client, i) for i in (1, 2, 3, 4)] == ["canceled", "canceled", "canceled", "pending"]
    assert answer == {"canceled": 2}
    run_until_idle(client)
    assert item_state(client, other["item_ids"][0]) == "completed"


def test_cancel_by_destination_cancels_the_running_item_but_counts_the_pending(client: t.Any) -> None:
    running_first_of(client, destination="canvas")
    enqueue(client, int_graph(), destination="gallery")
    answer = ok(client.put(f"{QUEUE}/cancel_by_destination", params={"destination": "canvas"}))
    assert [item_state(client, i) for i in (1, 2, 3, 4)] == ["canceled", "canceled", "canceled", "pending"]
    assert answer == {"canceled": 2}


def test_delete_by_destination_removes_the_running_item_too(client: t.Any) -> None:
    running_first_of(client, destination="canvas")
    enqueue(client, int_graph(), destination="gallery")
    assert ok(client.delete(f"{QUEUE}/d/canvas")) == {"deleted": 3}
    assert ok(client.get(f"{QUEUE}/item_ids")) == {"item_ids": [4], "total_count": 1}
    assert ok(client.get(f"{QUEUE}/current")) is None
    run_until_idle(client)
    assert item_state(client, 4) == "completed"


def test_clear_removes_everything_including_the_running_item(client: t.Any) -> None:
    running_first_of(client)
    assert ok(client.put(f"{QUEUE}/clear")) == {"deleted": 3}
    status = queue_status(client)
    assert status["queue"]["total"] == 0 and status["queue"]["item_id"] is None
    advance(client, 2)
    assert queue_status(client)["queue"]["total"] == 0


def test_deleting_the_running_item_frees_the_processor(client: t.Any) -> None:
    running_first_of(client)
    assert client.delete(f"{QUEUE}/i/1").status_code == 200
    assert ok(client.get(f"{QUEUE}/current")) is None
    run_until_idle(client)
    assert [item_state(client, i) for i in (2, 3)] == ["completed", "completed"]


# ================================================================ failures and retries


def missing_model_graph(key: str = "does-not-exist") -> dict:
    """Seq 114's graph: a main model loader naming a model that is not installed."""
    return graph(node("loader", "main_model_loader",
                      model={"key": key, "hash": "x", "name": "fake", "base": "sd-1", "type": "main"}),
                 graph_id="g-model")


def test_missing_model_fails_like_the_real_server(client: t.Any) -> None:
    enqueue(client, missing_model_graph())
    advance(client, 0.44)
    assert item_state(client, 1) == "pending"
    advance(client, 0.1)
    item = queue_item(client, 1)
    assert item["status"] == "failed"
    assert item["error_type"] == "Exception"
    assert item["error_message"] == "Unknown model does-not-exist"
    assert item["error_traceback"].startswith("Traceback (most recent call last):\n")
    assert item["error_traceback"].rstrip().endswith("Exception: Unknown model does-not-exist")
    assert by_source(item["session"], "errors") == {"loader": "Exception: Unknown model does-not-exist"}
    assert item["session"]["results"] == {} and item["session"]["executed"] == []
    assert TIME.match(item["started_at"]) and TIME.match(item["completed_at"])
    status = queue_status(client)
    assert status["queue"]["failed"] == 1 and status["queue"]["item_id"] is None
    listed = ok(client.get(f"{QUEUE}/list_all"))[0]
    assert listed["error_message"] == "Unknown model does-not-exist" and listed["retried_from_item_id"] is None


def test_a_failing_node_stops_the_session_after_the_nodes_before_it(client: t.Any) -> None:
    """Nodes before the failing one keep their results; nodes after it never run."""
    g = graph(node("x", "integer", value=7), node("zero", "integer", value=0), node("q", "div"),
              node("after", "add", b=1),
              edges=[edge("x", "value", "q", "a"), edge("zero", "value", "q", "b"), edge("q", "value", "after", "a")])
    set_speed(client, "instant")
    enqueue(client, g)
    item = queue_item(client, 1)
    assert item["status"] == "failed"
    assert item["error_type"] == "ZeroDivisionError"
    assert set(by_source(item["session"], "results")) == {"x", "zero"}
    assert set(by_source(item["session"], "errors")) == {"q"}
    assert "after" not in item["session"]["executed_history"]


def test_a_node_missing_a_needed_input_fails_as_the_real_server_does(client: t.Any) -> None:
    """The schema shows `image` optional (so enqueue takes it); running the node finds it missing."""
    set_speed(client, "instant")
    enqueue(client, graph(node("blur", "img_blur")))
    item = queue_item(client, 1)
    assert item["status"] == "failed" and item["error_type"] == "MissingInputException"
    assert item["error_message"] == "Node img_blur missing value or connection for field image"


def test_retry_makes_new_items_from_failed_and_canceled_ones(client: t.Any) -> None:
    set_speed(client, "instant")
    failing = missing_model_graph()
    failing["nodes"]["n"] = node("n", "integer", value=0)
    failed = enqueue(client, failing, origin="tests", destination="gallery",
                     data=[[{"node_path": "n", "field_name": "value", "items": [5]}]])
    done = enqueue(client, int_graph())
    ok(client.put(f"{QUEUE}/processor/pause"))
    pending = enqueue(client, int_graph(), runs=2)
    ok(client.put(f"{QUEUE}/i/{pending['item_ids'][0]}/cancel"))  # item 4 canceled, item 3 pending
    assert [item_state(client, i) for i in (1, 2, 3, 4)] == ["failed", "completed", "pending", "canceled"]

    answer = ok(client.put(f"{QUEUE}/retry_items_by_id", json=[1, 2, 3, 4]))
    assert answer == {"queue_id": "default", "retried_item_ids": [1, 4]}  # completed / pending ones: not retried
    assert ok(client.get(f"{QUEUE}/item_ids"))["total_count"] == 6
    retried = {item["retried_from_item_id"]: item for item in ok(client.get(f"{QUEUE}/list_all"))
               if item["retried_from_item_id"] is not None}
    assert set(retried) == {1, 4}
    original = queue_item(client, 1)
    again = retried[1]
    assert again["item_id"] > 4 and again["status"] == "pending"
    assert again["batch_id"] == failed["batch"]["batch_id"]
    assert again["origin"] == "tests" and again["destination"] == "gallery"
    assert again["field_values"] == original["field_values"]
    assert again["session"]["graph"] == next(i for i in ok(client.get(f"{QUEUE}/list_all"))
                                             if i["item_id"] == 1)["session"]["graph"]
    assert again["session_id"] != original["session_id"]
    assert again["session"]["results"] == {} and again["session"]["errors"] == {}  # a fresh session
    assert again["started_at"] is None and again["error_type"] is None
    assert retried[4]["session"]["graph"]["nodes"]["int1"]["value"] == 42
    assert done["item_ids"] == [2]

    ok(client.put(f"{QUEUE}/processor/resume"))
    assert item_state(client, again["item_id"]) == "failed"
    assert item_state(client, retried[4]["item_id"]) == "completed"
    assert queue_item(client, 1)["status"] == "failed"  # the original stays as it was


def test_retrying_a_retry_points_back_at_the_original(client: t.Any) -> None:
    """InvokeAI keeps `retried_from_item_id` on the first item of the chain."""
    set_speed(client, "instant")
    enqueue(client, missing_model_graph())
    assert ok(client.put(f"{QUEUE}/retry_items_by_id", json=[1]))["retried_item_ids"] == [1]
    assert queue_item(client, 2)["retried_from_item_id"] == 1 and item_state(client, 2) == "failed"
    assert ok(client.put(f"{QUEUE}/retry_items_by_id", json=[2]))["retried_item_ids"] == [2]
    third = queue_item(client, 3)
    assert third["status"] == "failed"
    assert third["retried_from_item_id"] == 1


def test_retry_with_nothing_retryable(client: t.Any) -> None:
    set_speed(client, "instant")
    enqueue(client, int_graph())
    assert ok(client.put(f"{QUEUE}/retry_items_by_id", json=[1])) == {"queue_id": "default", "retried_item_ids": []}
    assert ok(client.put(f"{QUEUE}/retry_items_by_id", json=[])) == {"queue_id": "default", "retried_item_ids": []}
    assert ok(client.get(f"{QUEUE}/item_ids"))["total_count"] == 1


# ================================================================ images into the gallery


def test_blank_image_lands_in_the_gallery(client: t.Any) -> None:
    """Behaviour.md: blank_image saves a real image (origin internal, category general,
    has_workflow true, with session_id and node_id)."""
    batch = enqueue(client, blank_graph(48, 32, color={"r": 10, "g": 200, "b": 30, "a": 255}))
    assert ok(client.get("/api/v1/images/names"))["image_names"] == []  # nothing until it runs
    advance(client, 0.5)
    item = queue_item(client, batch["item_ids"][0])
    assert item["status"] == "completed"
    result = by_source(item["session"], "results")["blank"]
    assert result["width"] == 48 and result["height"] == 32 and result["type"] == "image_output"
    name = result["image"]["image_name"]
    assert ok(client.get("/api/v1/images/names"))["image_names"] == [name]

    dto = ok(client.get(f"/api/v1/images/i/{name}"))
    assert dto["image_origin"] == "internal" and dto["image_category"] == "general"
    assert dto["width"] == 48 and dto["height"] == 32
    assert dto["session_id"] == item["session_id"]
    assert dto["has_workflow"] is True and dto["is_intermediate"] is False and dto["board_id"] is None
    assert parsed(item["started_at"]) <= parsed(dto["created_at"]) <= parsed(item["completed_at"])

    full = client.get(f"/api/v1/images/i/{name}/full")
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    picture = decoded(full.content)
    assert picture.size == (48, 32)
    assert picture.convert("RGB").getpixel((5, 5)) == (10, 200, 30)
    saved = ok(client.get(f"/api/v1/images/i/{name}/workflow"))
    assert json.loads(saved["graph"])["nodes"]["blank"]["type"] == "blank_image"
    # the real server names the execution graph's (prepared) node, as seq 111 / 113 show
    assert dto["node_id"] == item["session"]["source_prepared_mapping"]["blank"][0]


def test_image_nodes_respect_board_and_intermediate(client: t.Any) -> None:
    board = new_board(client, "Queue output")
    set_speed(client, "instant")
    enqueue(client, blank_graph(16, 16, board={"board_id": board["board_id"]}))
    enqueue(client, graph(node("tmp", "blank_image", width=8, height=8, is_intermediate=True)))
    boards_images = ok(client.get(f"/api/v1/boards/{board['board_id']}/image_names"))
    assert len(boards_images) == 1
    assert ok(client.get(f"/api/v1/images/i/{boards_images[0]}"))["board_id"] == board["board_id"]
    assert ok(client.get("/api/v1/images/intermediates")) == 1
    assert ok(client.get("/api/v1/images/names", params={"is_intermediate": "false"}))["total_count"] == 1


def test_image_pipeline_across_nodes(client: t.Any) -> None:
    """blank_image → img_resize → img_crop: each node saves its image, the last one the right size."""
    g = graph(node("blank", "blank_image", width=64, height=64, is_intermediate=True),
              node("resize", "img_resize", width=40, height=30, is_intermediate=True),
              node("crop", "img_crop", x=5, y=5, width=20, height=10),
              edges=[edge("blank", "image", "resize", "image"), edge("resize", "image", "crop", "image")])
    set_speed(client, "instant")
    enqueue(client, g)
    item = queue_item(client, 1)
    assert item["status"] == "completed", item.get("error_message")
    results = by_source(item["session"], "results")
    assert (results["resize"]["width"], results["resize"]["height"]) == (40, 30)
    assert (results["crop"]["width"], results["crop"]["height"]) == (20, 10)
    names = ok(client.get("/api/v1/images/names", params={"is_intermediate": "false"}))["image_names"]
    assert names == [results["crop"]["image"]["image_name"]]
    assert decoded(client.get(f"/api/v1/images/i/{names[0]}/full").content).size == (20, 10)
    assert ok(client.get("/api/v1/images/intermediates")) == 2


def test_workflow_of_the_batch_is_saved_with_the_image(client: t.Any) -> None:
    workflow = {"name": "queue test", "author": "tester", "description": "", "version": "1.0.0", "contact": "",
                "tags": "", "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"},
                "nodes": [], "edges": [], "form": None}
    set_speed(client, "instant")
    enqueue(client, blank_graph(8, 8), workflow=workflow)
    item = ok(client.get(f"{QUEUE}/list_all"))[0]
    assert item["workflow"] is not None
    name = by_source(item["session"], "results")["blank"]["image"]["image_name"]
    saved = ok(client.get(f"/api/v1/images/i/{name}/workflow"))
    assert json.loads(saved["workflow"])["name"] == "queue test"
    assert ok(client.get(f"/api/v1/images/i/{name}"))["has_workflow"] is True


def test_batch_data_changes_what_each_item_draws(client: t.Any) -> None:
    """Batch data sets a node field per item: widths 8, 16, 24 give three images of those widths."""
    set_speed(client, "instant")
    result = enqueue(client, blank_graph(8, 8),
                     data=[[{"node_path": "blank", "field_name": "width", "items": [8, 16, 24]}]])
    assert result["enqueued"] == 3
    widths = []
    for item_id in sorted(result["item_ids"]):
        item = queue_item(client, item_id)
        name = by_source(item["session"], "results")["blank"]["image"]["image_name"]
        widths.append(ok(client.get(f"/api/v1/images/i/{name}"))["width"])
    assert widths == [8, 16, 24]


# ================================================================ generation with an installed model

MODELS = "/api/v2/models"
CHECKPOINT = "/invokeai/import/checkpoints/dreamshaper_8.safetensors"  # an SD 1.5 main model (test_models.py)


def install_main_model(client: t.Any) -> dict:
    """Install the SD 1.5 checkpoint through the model manager's own API; returns its record."""
    assert ok(client.get(f"{MODELS}/")) == {"models": []}
    response = client.post(f"{MODELS}/install", params={"source": CHECKPOINT}, json={})
    assert response.status_code == 201, response.text
    advance(client, 10)
    job = ok(client.get(f"{MODELS}/install/{response.json()['id']}"))
    assert job["status"] == "completed", job
    return job["config_out"]


def text_to_image(model: dict, *, prompt: str, seed: int, width: int, height: int) -> dict:
    """The linear SD 1.5 graph the web UI builds: loader → prompts → noise → denoise → decode."""
    identifier = {key: model[key] for key in ("key", "hash", "name", "base", "type")}
    return graph(
        node("loader", "main_model_loader", model=identifier),
        node("positive", "compel", prompt=prompt),
        node("negative", "compel", prompt=""),
        node("noise", "noise", seed=seed, width=width, height=height),
        node("denoise", "denoise_latents", steps=20, cfg_scale=7.5, scheduler="euler"),
        node("decode", "l2i"),
        edges=[edge("loader", "clip", "positive", "clip"), edge("loader", "clip", "negative", "clip"),
               edge("loader", "unet", "denoise", "unet"),
               edge("positive", "conditioning", "denoise", "positive_conditioning"),
               edge("negative", "conditioning", "denoise", "negative_conditioning"),
               edge("noise", "noise", "denoise", "noise"),
               edge("denoise", "latents", "decode", "latents"), edge("loader", "vae", "decode", "vae")],
        graph_id="sd1-t2i")


def test_text_to_image_with_an_installed_model(client: t.Any) -> None:
    model = install_main_model(client)
    assert model["base"] == "sd-1" and model["type"] == "main"
    batch = enqueue(client, text_to_image(model, prompt="a lighthouse at dusk", seed=123, width=512, height=384),
                    origin="tests", destination="gallery")
    run_until_idle(client)
    item = queue_item(client, batch["item_ids"][0])
    assert item["status"] == "completed", item.get("error_message")
    assert item["session"]["executed_history"] == ["loader", "positive", "negative", "noise", "denoise", "decode"]
    results = by_source(item["session"], "results")
    assert results["loader"]["type"] == "model_loader_output"
    assert results["loader"]["unet"]["unet"]["key"] == model["key"]
    assert results["noise"]["width"] == 512 and results["noise"]["height"] == 384
    assert results["denoise"]["type"] == "latents_output"
    image = results["decode"]
    assert (image["width"], image["height"], image["type"]) == (512, 384, "image_output")

    name = image["image"]["image_name"]
    assert ok(client.get("/api/v1/images/names"))["image_names"] == [name]
    dto = ok(client.get(f"/api/v1/images/i/{name}"))
    assert (dto["width"], dto["height"]) == (512, 384)
    assert dto["image_origin"] == "internal" and dto["image_category"] == "general"
    assert dto["session_id"] == item["session_id"]
    picture = decoded(client.get(f"/api/v1/images/i/{name}/full").content).convert("RGB")
    assert picture.size == (512, 384)
    assert len(set(picture.getdata())) > 50  # a picture, not a flat fill
    # the real server names the execution graph's (prepared) node, as seq 111 / 113 show
    assert dto["node_id"] == item["session"]["source_prepared_mapping"]["decode"][0]


def test_generation_is_repeatable_by_seed_and_prompt(client: t.Any) -> None:
    model = install_main_model(client)
    set_speed(client, "instant")

    def generate(prompt: str, seed: int) -> bytes:
        g = text_to_image(model, prompt=prompt, seed=seed, width=256, height=256)
        for key in g["nodes"]:
            g["nodes"][key]["use_cache"] = False  # every run really runs
        item = queue_item(client, enqueue(client, g)["item_ids"][0])
        assert item["status"] == "completed", item.get("error_message")
        name = by_source(item["session"], "results")["decode"]["image"]["image_name"]
        return decoded(client.get(f"/api/v1/images/i/{name}/full").content).convert("RGB").tobytes()

    first = generate("a red fox", 1)
    assert generate("a red fox", 1) == first
    assert generate("a red fox", 2) != first
    assert generate("a blue whale", 1) != first


def test_noise_sizes_must_be_multiples_of_eight(client: t.Any) -> None:
    """The noise node's width and height are `multiple_of=8` fields: the real server refuses
    other sizes at enqueue, field by field."""
    model = install_main_model(client)
    response = enqueue_raw(client, text_to_image(model, prompt="x", seed=5, width=300, height=203))
    assert response.status_code == 422
    assert [(issue["type"], issue["loc"][-3:], issue["ctx"]) for issue in response.json()["detail"]] == [
        ("multiple_of", ["noise", "noise", "width"], {"multiple_of": 8}),
        ("multiple_of", ["noise", "noise", "height"], {"multiple_of": 8})]


def test_a_model_removed_after_enqueue_fails_the_item(client: t.Any) -> None:
    model = install_main_model(client)
    ok(client.put(f"{QUEUE}/processor/pause"))
    enqueue(client, text_to_image(model, prompt="x", seed=5, width=64, height=64))
    assert client.delete(f"{MODELS}/i/{model['key']}").status_code in (200, 204)
    ok(client.put(f"{QUEUE}/processor/resume"))
    run_until_idle(client)
    item = queue_item(client, 1)
    assert item["status"] == "failed"
    assert item["error_type"] == "Exception" and item["error_message"] == f"Unknown model {model['key']}"
    assert ok(client.get("/api/v1/images/names"))["total_count"] == 0
