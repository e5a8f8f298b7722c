"""The session queue's items in the order `get_queue_item_ids` lists them, and their status counts
per destination, kept as items come and go, so neither answer walks 10,000 items.

The SessionQueue tells it of each item made (`add`), deleted (`remove`) and of every status count
step (`count`, from the queue's own counting); `rebuild` after a state load. An item's queue,
creation time, id and destination never change, so they place it for good.
"""

from __future__ import annotations

import collections
import typing as t

from sortedcontainers import SortedList


class _Ordered:
    """One queue's (created_at, item_id) keys ascending, beside the ids in the order DESC lists
    them (newest first, ties by id), each kept as a plain list a query copies at C speed."""

    __slots__ = ("ascending", "descending", "ids_up", "ids_down")

    def __init__(self) -> None:
        self.ascending: SortedList = SortedList()
        self.descending: SortedList = SortedList()  # (-created_at, item_id)
        self.ids_up: list[int] = []
        self.ids_down: list[int] = []

    def add(self, created: float, item_id: int) -> None:
        for keys, ids, key in ((self.ascending, self.ids_up, (created, item_id)),
                               (self.descending, self.ids_down, (-created, item_id))):
            at = keys.bisect_left(key)
            keys.add(key)
            ids.insert(at, item_id)

    def remove(self, created: float, item_id: int) -> None:
        for keys, ids, key in ((self.ascending, self.ids_up, (created, item_id)),
                               (self.descending, self.ids_down, (-created, item_id))):
            at = keys.index(key)
            del keys[at]
            del ids[at]


class QueueIndex:
    def __init__(self) -> None:
        self._queues: dict[str, _Ordered] = collections.defaultdict(_Ordered)
        self._destinations: dict[tuple[str, t.Any], collections.Counter] = collections.defaultdict(
            collections.Counter)

    def rebuild(self, items: t.Iterable[dict]) -> None:
        self.__init__()  # type: ignore[misc]
        for item in items:
            self.add(item)
            self.count(item, +1)

    def add(self, item: dict) -> None:
        self._queues[item["queue_id"]].add(item["created_at"], item["item_id"])

    def remove(self, item: dict) -> None:
        self._queues[item["queue_id"]].remove(item["created_at"], item["item_id"])

    def count(self, item: dict, step: int) -> None:
        """Follow one step of the queue's status counting (-1 for the old status, +1 the new)."""
        self._destinations[(item["queue_id"], item["destination"])][item["status"]] += step

    def item_ids(self, queue_id: str, descending: bool) -> list[int]:
        """ORDER BY created_at: a batch's items share their creation time and keep id order."""
        ordered = self._queues.get(queue_id)
        if ordered is None:
            return []
        return (ordered.ids_down if descending else ordered.ids_up)[:]

    def destination_counts(self, queue_id: str, destination: t.Any) -> collections.Counter:
        return self._destinations.get((queue_id, destination), collections.Counter())
