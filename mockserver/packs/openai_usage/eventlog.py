"""One kind's events in columns: the distinct dimension tuples ("combos") it has seen, and its
events and sums at every level (`columns.Levels`)."""

from __future__ import annotations

import itertools
import operator
import typing as t

import numpy as np

from mockserver.packs.openai_usage.columns import Levels, Run, sorted_run
from mockserver.packs.openai_usage.kinds import Kind


class Values:
    """Dimension values (strings, booleans, None) as small integers, shared by every kind so that
    project and API key ids compare across kinds (costs group them together)."""

    def __init__(self) -> None:
        self.values: list[t.Any] = []
        self._codes: dict[tuple[type, t.Any], int] = {}

    def code(self, value: t.Any) -> int:
        key = (type(value), value)  # True and 1 are equal as dict keys; as values they are not
        found = self._codes.get(key)
        if found is None:
            found = self._codes[key] = len(self.values)
            self.values.append(value)
        return found

    def known(self, value: t.Any) -> int | None:
        return self._codes.get((type(value), value))

    def ranks(self, codes: np.ndarray) -> np.ndarray:
        """A lookup from code to its place in the API's result order (None last, then by text)."""
        present = np.unique(codes)
        ordered = sorted(present.tolist(), key=lambda code: (self.values[code] is None, str(self.values[code])))
        lookup = np.zeros(len(self.values), np.int64)
        lookup[ordered] = np.arange(len(ordered))
        return lookup


class KindLog:
    """Events of one kind (usage, or costs added directly)."""

    def __init__(self, kind: Kind, values: Values, *, money: bool = False) -> None:
        self.kind = kind
        self.values = values
        self.money = money
        self.combos: list[tuple] = []  # dimension values, by combo number
        self._numbers: dict[tuple, int] = {}
        self._codes: np.ndarray | None = None
        self.levels = Levels(len(kind.counters), money)
        self.derived: dict[str, tuple[int, t.Any]] = {}  # what queries compute from the combos, by name

    def combo(self, dimensions: tuple) -> int:
        number = self._numbers.get(dimensions)
        if number is None:
            number = self._numbers[dimensions] = len(self.combos)
            self.combos.append(dimensions)
            self._codes = None
        return number

    def codes(self) -> np.ndarray:
        """combos x dimensions: each combo's values as `Values` codes."""
        if self._codes is None or len(self._codes) != len(self.combos):
            width = len(self.kind.dimensions)
            self._codes = np.array([[self.values.code(v) for v in combo] for combo in self.combos],
                                   np.int64).reshape(len(self.combos), width)
        return self._codes

    def cached(self, name: str, build: t.Callable[[], t.Any]) -> t.Any:
        """`build()` memoized until a new combo appears."""
        stamp, value = self.derived.get(name, (-1, None))
        if stamp != len(self.combos):
            value = build()
            self.derived[name] = (len(self.combos), value)
        return value

    def add_rows(self, events: t.Sequence[dict]) -> int:
        """Events (dicts of this kind) in columns; a missing counter is 0, a missing dimension None.
        Each field is read for every event in one `map` (no interpreter step per event)."""
        if not events:
            return 0
        times = list(map(operator.itemgetter("time"), events))
        keys = list(zip(*(map(dict.get, events, itertools.repeat(name)) for name in self.kind.dimensions), strict=True))
        numbers = {key: self.combo(key) for key in dict.fromkeys(keys)}
        combos = list(map(numbers.__getitem__, keys))
        counts = np.empty((len(events), len(self.kind.counters)), np.float64 if self.money else np.int64)
        for column, name in enumerate(self.kind.counters):
            counts[:, column] = list(map(dict.get, events, itertools.repeat(name), itertools.repeat(0)))
        self.add_columns(np.array(times, np.int64), np.array(combos, np.int64), counts)
        return len(events)

    def add_columns(self, times: np.ndarray, combos: np.ndarray, counts: np.ndarray) -> None:
        self.levels.add(sorted_run(times, combos, counts))

    def add_run(self, run: Run) -> None:
        self.levels.add(run)

    def __len__(self) -> int:
        return len(self.levels.events)

    # -- events as dicts (exports and the control plane's listing) -----------------------------

    def count_between(self, lo: int, hi: int) -> int:
        return sum(len(run) for run in self.levels.events.between(lo, hi))

    def events_between(self, lo: int, hi: int, limit: int | None = None) -> list[dict]:
        """The events in [lo, hi), oldest first (same second: in the order they were added)."""
        parts = self.levels.events.between(lo, hi)
        parts = [Run(p.times[:limit], p.combos[:limit], Run(p.times[:limit], p.combos[:limit], p.counts[:limit],
                                                              p.columns, p.width).dense()) for p in parts]
        if not parts:
            return []
        times = np.concatenate([p.times for p in parts])
        order = np.argsort(times, kind="stable")[:limit]
        combos = np.concatenate([p.combos for p in parts])[order].tolist()
        counts = np.concatenate([p.counts.astype(np.float64 if self.money else np.int64) for p in parts])[order]
        names = self.kind.dimensions + self.kind.counters
        return [{"time": time, **dict(zip(names, self.combos[combo] + tuple(row), strict=True))}
                for time, combo, row in zip(times[order].tolist(), combos, counts.tolist(), strict=True)]
