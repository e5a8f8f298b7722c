"""The queue index lists item ids and counts statuses per destination exactly as a walk over every
item does, over random sequences of enqueues (batches sharing a creation time), status changes,
deletions and reloads."""

from __future__ import annotations

import collections

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.packs.invokeai.queue_index import QueueIndex

QUEUES = ("default", "other")
DESTINATIONS = ("gallery", "canvas", None)
STATUSES = ("pending", "in_progress", "completed", "failed", "canceled")

operation = st.one_of(
    st.tuples(st.just("enqueue"), st.sampled_from(QUEUES), st.sampled_from(DESTINATIONS), st.integers(1, 4),
              st.sampled_from((10.0, 11.0, 12.5))),
    st.tuples(st.just("status"), st.integers(0, 50), st.sampled_from(STATUSES)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("reload"),),
)


def scan_ids(items: dict[int, dict], queue_id: str, descending: bool) -> list[int]:
    rows = sorted((item for item in items.values() if item["queue_id"] == queue_id), key=lambda item: item["item_id"])
    rows.sort(key=lambda item: item["created_at"], reverse=descending)
    return [item["item_id"] for item in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=40))
def test_ids_and_counts_answer_as_a_walk_does(operations: list[tuple]) -> None:
    items: dict[int, dict] = {}
    index = QueueIndex()
    next_id = 1
    for kind, *args in operations:
        if kind == "enqueue":
            queue_id, destination, count, created = args
            for _ in range(count):
                item = {"item_id": next_id, "queue_id": queue_id, "destination": destination,
                        "created_at": created, "status": "pending"}
                items[next_id] = item
                next_id += 1
                index.add(item)
                index.count(item, +1)
        elif kind == "reload":
            index.rebuild(items.values())
        elif items:
            item = list(items.values())[args[0] % len(items)]
            if kind == "status":
                index.count(item, -1)
                item["status"] = args[1]
                index.count(item, +1)
            else:
                del items[item["item_id"]]
                index.remove(item)
                index.count(item, -1)
    for queue_id in (*QUEUES, "nowhere"):
        for descending in (True, False):
            assert index.item_ids(queue_id, descending) == scan_ids(items, queue_id, descending)
        for destination in DESTINATIONS:
            expected = collections.Counter(item["status"] for item in items.values()
                                           if item["queue_id"] == queue_id and item["destination"] == destination)
            counted = index.destination_counts(queue_id, destination)
            assert {status: counted[status] for status in STATUSES} == {s: expected[s] for s in STATUSES}
