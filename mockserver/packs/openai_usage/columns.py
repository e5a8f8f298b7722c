"""Usage kept in numpy columns: sorted runs merged as they grow, and sums per minute, hour and day.

Why numpy rather than an embedded engine (DuckDB): it is already a pinned dependency, a query here
is a handful of vectorised slices and one sort over at most tens of thousands of pre-aggregated
rows, and the columns pickle-free into a few bytes records for the state file. An SQL engine would
add a 40 MB wheel and a per-query planning cost of its own for no fewer rows touched.

Every event is kept as it came (`level` 1, for exports and for the seconds of a bucket that does not
start or end on a minute) and summed into per-minute, per-hour and per-day rows keyed by
(bucket start, combo), a combo being one distinct tuple of the kind's dimensions. A query splits
[start, end) into whole days, hours and minutes plus at most a few edge seconds (`pieces`) and sums
the rows of each piece: the work follows the number of buckets and combos, not of events.

Writes append a run; every four runs of similar size merge into one, so a million events added in
batches of 10,000 spread over about ten runs per level and each event is copied about four times.
"""

from __future__ import annotations

import io
import typing as t
from dataclasses import dataclass

import numpy as np

LEVELS = (86400, 3600, 60)  # pre-aggregated bucket widths, coarsest first; 1 is the events themselves
_COMBO_BITS = 30  # a combo number fits below this in a merge key (time index << bits | combo)
_FAN = 4  # runs merged at once


@dataclass(frozen=True, slots=True)
class Run:
    """Rows sorted by time: `times` (int64 seconds; a bucket's start above level 1), `combos`
    (int32), `counts` (rows x counters, integers, or floats for money). Counters that are 0 in
    every row of a run are left out (events often carry a few of completions' 15): `columns` then
    names the counters kept, out of `width`; `dense()` gives them all."""

    times: np.ndarray
    combos: np.ndarray
    counts: np.ndarray
    columns: tuple[int, ...] | None = None  # None: every counter
    width: int = 0

    def __len__(self) -> int:
        return len(self.times)

    def between(self, lo: int, hi: int) -> "Run":
        first, last = np.searchsorted(self.times, (lo, hi))
        return Run(self.times[first:last], self.combos[first:last], self.counts[first:last], self.columns,
                   self.width)

    def dense(self) -> np.ndarray:
        if self.columns is None:
            return self.counts
        out = np.zeros((len(self), self.width), self.counts.dtype)
        out[:, list(self.columns)] = self.counts
        return out

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        columns = np.arange(self.counts.shape[1]) if self.columns is None else np.array(self.columns, np.int64)
        np.savez(buffer, times=self.times, combos=self.combos, counts=self.counts, columns=columns,
                 width=np.array(self.width if self.columns is not None else self.counts.shape[1]))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Run":
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            width = int(arrays["width"])
            columns = tuple(arrays["columns"].tolist())
            return cls(arrays["times"], arrays["combos"], arrays["counts"],
                       None if columns == tuple(range(width)) else columns, width)


def sorted_run(times: np.ndarray, combos: np.ndarray, counts: np.ndarray) -> Run:
    """A run of events in any order (every counter given); events of the same second keep their order."""
    order = np.argsort(times, kind="stable")
    kept, columns = _without_zero_columns(counts[order])
    return Run(np.ascontiguousarray(times[order], np.int64), combos[order].astype(np.int32), kept, columns,
               counts.shape[1])


def _without_zero_columns(counts: np.ndarray) -> tuple[np.ndarray, tuple[int, ...] | None]:
    used = np.flatnonzero(counts.any(axis=0))
    if len(used) == counts.shape[1]:
        return narrow(counts), None
    return narrow(counts[:, used]), tuple(used.tolist())


def narrow(counts: np.ndarray) -> np.ndarray:
    """Integer counts as int32 when they fit (halves the memory of typical usage), else int64."""
    if counts.dtype.kind not in "iu":
        return np.ascontiguousarray(counts, np.float64)
    if counts.size and (counts.max() > np.iinfo(np.int32).max or counts.min() < np.iinfo(np.int32).min):
        return np.ascontiguousarray(counts, np.int64)
    return np.ascontiguousarray(counts, np.int32)


def wide(counts: np.ndarray) -> np.ndarray:
    """Counts for summing: int64 (exact for any realistic total) or float64."""
    return counts.astype(np.float64 if counts.dtype.kind == "f" else np.int64, copy=False)


def sum_rows(keys: t.Sequence[np.ndarray], counts: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Sum `counts` over rows sharing every key column; returns the distinct key columns and their
    sums, ordered by the keys (first column first)."""
    if not len(counts):
        return [key[:0] for key in keys], wide(counts)
    order = np.lexsort(tuple(reversed(keys))) if len(keys) > 1 else np.argsort(keys[0], kind="stable")
    ordered = [key[order] for key in keys]
    change = np.zeros(len(order), bool)
    change[0] = True
    for key in ordered:
        change[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(change)
    return [key[starts] for key in ordered], _sums(counts[order], starts)


def _sums(ordered: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of the runs of rows beginning at `starts`. Integers: differences of an int64 running
    total (3x faster than reduceat converting int32 rows; exact, wrap-around included, for any
    sum that fits in int64). Floats (money): reduceat, which adds each run on its own."""
    if not len(starts):
        return np.zeros((0, *ordered.shape[1:]), np.float64 if ordered.dtype.kind == "f" else np.int64)
    if ordered.dtype.kind == "f":
        return np.add.reduceat(ordered, starts, axis=0)
    total = np.cumsum(ordered, axis=0, dtype=np.int64)
    ends = np.append(starts[1:], len(ordered)) - 1
    sums = total[ends]
    sums[1:] -= total[ends[:-1]]
    return sums


def rolled_up(run: Run, level: int) -> Run:
    """`run` summed per (bucket of `level` seconds, combo)."""
    return _summed(run.times // level, run.combos, run, level)


def _summed(buckets: np.ndarray, combos: np.ndarray, like: Run, level: int) -> Run:
    """Rows summed per (bucket number, combo), sorted: one int64 key per row, so one sort (a
    merge of sorted runs costs about a pass: the stable sort finds the runs)."""
    if len(combos) and int(combos.max()) >= 1 << _COMBO_BITS:
        raise ValueError(f"more than {1 << _COMBO_BITS} distinct dimension combinations")
    key = (buckets.astype(np.int64) << _COMBO_BITS) | combos
    order = np.argsort(key, kind="stable")
    key = key[order]
    change = np.empty(len(key), bool)
    change[:1] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    distinct = key[starts]
    return Run((distinct >> _COMBO_BITS) * level, (distinct & ((1 << _COMBO_BITS) - 1)).astype(np.int32),
               narrow(_sums(like.counts[order], starts)), like.columns, like.width)


def _same_columns(runs: list[Run]) -> tuple[np.ndarray, tuple[int, ...] | None, int]:
    """The runs' counts, one after the other, over the union of the counters they keep."""
    width = max(run.width or run.counts.shape[1] for run in runs)
    if all(run.columns == runs[0].columns for run in runs):
        return np.concatenate([run.counts for run in runs]), runs[0].columns, width
    union = sorted({column for run in runs for column in (range(width) if run.columns is None else run.columns)})
    parts = []
    for run in runs:
        if run.columns is not None and list(run.columns) == union:
            parts.append(run.counts)
            continue
        part = np.zeros((len(run), len(union)), run.counts.dtype)
        part[:, [union.index(column) for column in (range(width) if run.columns is None else run.columns)]] = run.counts
        parts.append(part)
    return np.concatenate(parts), None if len(union) == width else tuple(union), width


class RunSet:
    """The runs of one level. Level 1 keeps every event; higher levels keep one row per
    (bucket, combo) within a run (a combo may repeat across runs: sums do not mind)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.runs: list[Run] = []
        self.ids: list[int] = []  # a name per run, new on every merge (the state file keeps runs by it)
        self._next_id = 0

    def add(self, run: Run) -> None:
        if not len(run):
            return
        self._append(run if self.level == 1 else rolled_up(run, self.level))
        # Merge the last FAN runs once they are of a size: each row is then copied log_FAN(n) times.
        while len(self.runs) >= _FAN and len(self.runs[-_FAN]) < _FAN * len(self.runs[-1]):
            merged = [self._pop() for _ in range(_FAN)][::-1]
            self._append(self._merge(merged))

    def between(self, lo: int, hi: int) -> list[Run]:
        return [part for part in (run.between(lo, hi) for run in list(self.runs)) if len(part)]

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def _merge(self, runs: list[Run]) -> Run:
        """Runs (oldest first) as one: events of the same second keep their order."""
        times = np.concatenate([run.times for run in runs])
        combos = np.concatenate([run.combos for run in runs])
        merged = Run(times, combos, *_same_columns(runs))
        if self.level == 1:
            order = np.argsort(times, kind="stable")
            return Run(times[order], combos[order], narrow(merged.counts[order]), merged.columns, merged.width)
        return _summed(times // self.level, combos, merged, self.level)

    def _append(self, run: Run) -> None:
        self.runs.append(run)
        self.ids.append(self._next_id)
        self._next_id += 1

    def _pop(self) -> Run:
        self.ids.pop()
        return self.runs.pop()


def pieces(lo: int, hi: int, width: int) -> list[tuple[int, int, int]]:
    """[lo, hi) as (level, start, end) pieces, each aligned to its level, using the levels no
    wider than the bucket width (so each piece's rows fall in one bucket)."""
    return _split(lo, hi, tuple(level for level in LEVELS if level <= width))


def _split(lo: int, hi: int, levels: tuple[int, ...]) -> list[tuple[int, int, int]]:
    if lo >= hi:
        return []
    if not levels:
        return [(1, lo, hi)]
    level, finer = levels[0], levels[1:]
    first, last = -(-lo // level) * level, hi // level * level
    if first >= last:
        return _split(lo, hi, finer)
    return [*_split(lo, first, finer), (level, first, last), *_split(last, hi, finer)]


class Levels:
    """One kind's events at every level."""

    def __init__(self, counters: int, money: bool = False) -> None:
        self.counters = counters
        self.dtype = np.float64 if money else np.int64
        self.events = RunSet(1)
        self.sums = {level: RunSet(level) for level in LEVELS}

    def add(self, run: Run) -> None:
        self.events.add(run)
        for level_runs in self.sums.values():
            level_runs.add(run)

    def rows(self, lo: int, hi: int, width: int) -> Run:
        """Every row (event or sum) in [lo, hi), each within one bucket of `width`."""
        parts = [part for level, start, end in pieces(lo, hi, width)
                 for part in (self.events if level == 1 else self.sums[level]).between(start, end)]
        if not parts:
            return Run(np.empty(0, np.int64), np.empty(0, np.int32), np.empty((0, self.counters), self.dtype))
        if len(parts) == 1:
            return Run(parts[0].times, parts[0].combos, parts[0].dense())
        counts = np.concatenate([wide(part.dense()) for part in parts])
        return Run(np.concatenate([p.times for p in parts]), np.concatenate([p.combos for p in parts]), counts)
