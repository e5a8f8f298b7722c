"""The workflow library in the orders `list_workflows` sorts by, per category, and its counts per
category, kept as records change, so a page of 10,000 workflows is a slice and not a sort.

Each record sits in two sorted lists per (category | any category, order_by): keys
`(value, seq, id)` for ASC and `(value, -seq, id)` read backwards for DESC, so records with equal
values keep their insertion order both ways, as today's stable sort keeps them. Values sort as
SQLite does, NULLs first. The handlers call `sync(workflow_id, record)` after each write (None:
deleted) and the library (`library.py`) `rebuild` when it loads a state.
"""

from __future__ import annotations

import collections
import itertools
import typing as t
from dataclasses import dataclass

from mockserver.packs.invokeai.gallery_index import ANY, SortedNames

ORDERS = ("created_at", "updated_at", "opened_at", "name")


def category_of(record: dict) -> str:
    return record["workflow"].get("meta", {}).get("category", "user")


def sort_value(record: dict, order_by: str) -> tuple[bool, t.Any]:
    value = record["workflow"]["name"] if order_by == "name" else record[order_by]
    return (value is not None, value if value is not None else 0)  # SQLite puts NULLs first


@dataclass(frozen=True)
class _Entry:
    category: str
    opened: bool
    values: tuple[tuple[bool, t.Any], ...]  # by ORDERS
    seq: int


class Ordering:
    """One listing's ids: ascending names, read backwards for DESC."""

    def __init__(self, names: list[str], backwards: bool) -> None:
        self._names, self._backwards = names, backwards

    def __len__(self) -> int:
        return len(self._names)

    def ids(self) -> list[str]:
        return self._names[::-1] if self._backwards else self._names[:]

    def page(self, start: int, size: int) -> list[str]:
        if not self._backwards:
            return self._names[start:start + size]
        end = len(self._names) - start
        return self._names[max(end - size, 0):max(end, 0)][::-1]


class WorkflowIndex:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._parts: dict[tuple[t.Any, str, bool], SortedNames] = {}  # (category, order_by, DESC?)
        self._counts: collections.Counter = collections.Counter()  # (category, opened) → records
        self._next_seq = 0

    def rebuild(self, records: t.Mapping[str, dict]) -> None:
        self.__init__()  # type: ignore[misc]
        for workflow_id, record in records.items():
            self.sync(workflow_id, record)

    def sync(self, workflow_id: str, record: dict | None) -> None:
        """Bring the index in line with `record` as it is now (None: it was deleted)."""
        old = self._entries.pop(workflow_id, None)
        if old is not None:
            self._place(workflow_id, old, remove=True)
        if record is None:
            return
        seq = old.seq if old is not None else self._next_seq
        self._next_seq = max(self._next_seq, seq + 1)
        entry = _Entry(category_of(record), record["opened_at"] is not None,
                       tuple(sort_value(record, order_by) for order_by in ORDERS), seq)
        self._entries[workflow_id] = entry
        self._place(workflow_id, entry, remove=False)

    def _place(self, workflow_id: str, entry: _Entry, *, remove: bool) -> None:
        self._counts[(entry.category, entry.opened)] += -1 if remove else 1
        for category, (order_by, value), descending in itertools.product(
                (ANY, entry.category), zip(ORDERS, entry.values, strict=True), (False, True)):
            key = (value, -entry.seq if descending else entry.seq, workflow_id)
            part = self._parts.get((category, order_by, descending))
            if remove:
                assert part is not None
                part.remove(key)
            else:
                if part is None:
                    part = self._parts[(category, order_by, descending)] = SortedNames()
                part.add(key)

    def ordered(self, categories: t.Sequence[str] | None, order_by: str, descending: bool) -> Ordering:
        """The ids of the records in `categories` (None: all), in the listing's order."""
        wanted: list[t.Any] = [ANY] if categories is None else list(dict.fromkeys(categories))
        found = [part for category in wanted if (part := self._parts.get((category, order_by, descending)))]
        if len(found) == 1:
            return Ordering(found[0].names, descending)
        keys = sorted(itertools.chain.from_iterable(part.keys for part in found))
        return Ordering([key[2] for key in keys], descending)

    def count(self, category: str, has_been_opened: bool | None) -> int:
        opened = (True, False) if has_been_opened is None else (has_been_opened,)
        return sum(self._counts[(category, flag)] for flag in opened)
