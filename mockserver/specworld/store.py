"""The records of a spec world: one ordered map of records per concrete collection path
(`/repos/octo/hello/issues`), and the id counters of each."""

from __future__ import annotations

import random
import typing as t

from mockserver.engine.clock import Clock
from mockserver.engine.pack import Store


class WorldStore(Store):
    def __init__(self, rng: random.Random, clock: Clock) -> None:
        super().__init__()
        self.rng = rng  # uuids of created records
        self.clock = clock  # the engine's: creation and update times follow /__mock__/clock
        self.collections: dict[str, dict[str, dict[str, t.Any]]] = {}
        self.counters: dict[str, int] = {}

    def records(self, collection: str) -> dict[str, dict[str, t.Any]]:
        return self.collections.get(collection, {})

    def get(self, collection: str, key: str) -> dict[str, t.Any] | None:
        return self.collections.get(collection, {}).get(key)

    def put(self, collection: str, key: str, record: dict[str, t.Any]) -> None:
        with self.lock:
            self.collections.setdefault(collection, {})[key] = record
            self.changed()

    def remove(self, collection: str, key: str) -> None:
        """The record and every collection nested under it (its comments, its labels...)."""
        with self.lock:
            self.collections.get(collection, {}).pop(key, None)
            below = f"{collection}/{key}/"
            for nested in [c for c in self.collections if c.startswith(below)]:
                del self.collections[nested]
                self.counters.pop(nested, None)
            self.changed()

    def next_number(self, collection: str) -> int:
        """The collection's next free number (ids given by clients are skipped over)."""
        with self.lock:
            number = self.counters.get(collection, 0) + 1
            taken = self.collections.get(collection, {})
            while str(number) in taken:
                number += 1
            self.counters[collection] = number
            return number

    def export(self) -> dict[str, t.Any]:
        return {"collections": {name: dict(records) for name, records in self.collections.items()},
                "counters": dict(self.counters)}

    def load(self, data: dict[str, t.Any]) -> None:
        collections = data.get("collections") or {}
        counters = data.get("counters") or {}
        if not isinstance(collections, dict) or not isinstance(counters, dict):
            raise ValueError("a spec world's state has 'collections' and 'counters' objects")
        with self.lock:
            self.collections = {str(name): {str(k): v for k, v in dict(records).items()}
                                for name, records in collections.items()}
            self.counters = {str(name): int(value) for name, value in counters.items()}
            self.changed()
