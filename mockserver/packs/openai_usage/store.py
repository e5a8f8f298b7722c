"""The organization's usage: events per kind in columns (`eventlog.KindLog`), and costs priced
from them at query time (`query.cost_page`).

A page's answer is memoized as bytes until the next write, so a dashboard polling the same page
costs a dictionary lookup; a new question costs a few vectorised sums over pre-aggregated rows.
"""

from __future__ import annotations

import collections.abc
import typing as t

import numpy as np

from mockserver.engine.pack import Store
from mockserver.engine.records import EVERY, Rows
from mockserver.packs.openai_usage.columns import Run
from mockserver.packs.openai_usage.eventlog import KindLog, Values
from mockserver.packs.openai_usage.kinds import COSTS, KINDS
from mockserver.packs.openai_usage.pricing import price_terms

_CACHE_BYTES = 64 << 20  # pages memoized until the next write, at most this much of them (a page may be MBs)
_END = 1 << 62  # later than any event


class UsageStore(Store):
    def __init__(self, organization: dict, prices: dict, clock: t.Any) -> None:
        super().__init__()
        self.clock = clock
        self.organization = organization
        self.prices = prices
        self.admin_keys: dict[str, dict] = {k["value"]: k for k in organization.get("admin_keys", [])}
        self._fresh_logs()
        self._pages: dict[tuple, bytes] = {}
        self._pages_version = -1
        self._pages_bytes = 0

    def _fresh_logs(self) -> None:
        self.values = Values()
        self.logs: dict[str, KindLog] = {name: KindLog(kind, self.values) for name, kind in KINDS.items()}
        self.costs = KindLog(COSTS, self.values, money=True)  # costs added directly, in columns
        self.cost_events: list[dict] = []  # the same, as given (exports list them)
        self.units: dict[str, str] = {}  # line item → quantity unit
        self._priced_combos = dict.fromkeys(KINDS, 0)  # combos whose line items' units are known

    # -- writing ------------------------------------------------------------------------------

    def add_events(self, events: t.Iterable[dict]) -> int:
        """Add usage (any kind) and cost events; returns how many were added."""
        by_kind: dict[str, list[dict]] = collections.defaultdict(list)
        for event in events:
            by_kind[event["kind"]].append(event)
        with self.lock:
            before = self._run_keys()
            added = 0
            for name, found in by_kind.items():
                if name == COSTS.name:
                    added += self._add_costs(found)
                else:
                    added += self.logs[name].add_rows(found)
            self._note_units()
            self._changed_runs(before, by_kind)
            return added

    def add_columns(self, kind: str, times: np.ndarray, combos: t.Sequence[tuple], combo_of_event: np.ndarray,
                    counts: np.ndarray) -> None:
        """Add events of a usage kind already in columns: `combos` are dimension tuples, each
        event's combo is `combos[combo_of_event[i]]` (the synthetic history uses this)."""
        with self.lock:
            log = self.logs[kind]
            numbers = np.array([log.combo(tuple(combo)) for combo in combos], np.int64)
            before = self._run_keys()
            log.add_columns(np.asarray(times, np.int64), numbers[combo_of_event], counts)
            self._note_units()
            self._changed_runs(before, {kind: []})

    def _add_costs(self, events: list[dict]) -> int:
        rows = []
        for event in events:
            line_item = event["line_item"]
            if event.get("quantity_unit"):
                self.units[line_item] = event["quantity_unit"]
            rows.append({"time": event["time"], "project_id": event.get("project_id"),
                         "api_key_id": event.get("api_key_id"), "line_item": line_item,
                         "amount": float(event["amount"]), "quantity": float(event.get("quantity") or 0)})
        self.costs.add_rows(rows)
        self.cost_events.extend(dict(event) for event in events)  # its own: callers may share theirs
        return len(events)

    def _note_units(self) -> None:
        """The quantity unit of every line item the new combos incur."""
        for name, log in self.logs.items():
            for combo in log.combos[self._priced_combos[name]:]:
                for line in price_terms(name, dict(zip(log.kind.dimensions, combo, strict=True)), self.prices):
                    self.units[line.line_item] = line.unit
            self._priced_combos[name] = len(log.combos)

    def clear_events(self) -> None:
        with self.lock:
            self._fresh_logs()
            self.changed()

    def add_admin_key(self, key: dict) -> None:
        with self.lock:
            self.admin_keys[key["value"]] = key
            self.changed(("admin_keys", key["value"]))

    # -- reading ------------------------------------------------------------------------------

    def memoized_page(self, key: tuple, compute: t.Callable[[], bytes]) -> bytes:
        """A page's bytes, computed once per version of the store."""
        version = self.version
        found = self._pages.get(key) if self._pages_version == version else None
        if found is None:
            found = compute()
            if version != self.version:  # written meanwhile (another thread): not for the new version
                return found
            if self._pages_version != version or self._pages_bytes + len(found) > _CACHE_BYTES:
                self._pages, self._pages_bytes, self._pages_version = {}, 0, version
            self._pages[key] = found
            self._pages_bytes += len(found)
        return found

    def list_events(self, kinds: t.Sequence[str], start: int, end: int | None, limit: int) -> tuple[int, list[dict]]:
        """(how many events of `kinds` lie in [start, end), the first `limit` of them)."""
        stop = _END if end is None else end
        total, events = 0, []
        for name in kinds:
            if name == COSTS.name:
                found = [e for e in self.cost_events if e["time"] >= start and e["time"] < stop]
                total += len(found)
                events.extend(found)
                continue
            log = self.logs[name]
            total += log.count_between(start, stop)
            events.extend({"kind": name, **event} for event in log.events_between(start, stop, limit))
        events.sort(key=lambda e: e["time"])
        return total, events[:limit]

    # -- export / import ----------------------------------------------------------------------

    def export(self) -> dict:
        events = [{"kind": name, **event} for name, log in self.logs.items() for event in log.events_between(0, _END)]
        return {"admin_keys": list(self.admin_keys.values()), "events": events,
                "cost_events": list(self.cost_events)}

    def summary(self) -> dict:
        """Events by kind rather than the column records the state database keeps."""
        return {"admin_keys": len(self.admin_keys), "projects": len(self.organization.get("projects", [])),
                "users": len(self.organization.get("users", [])),
                "usage_events": {name: len(log) for name, log in self.logs.items() if len(log)},
                "cost_events": len(self.cost_events)}

    def load(self, data: dict) -> None:
        """Replace everything with an export (called on a fresh store)."""
        with self.lock:
            self.admin_keys = {k["value"]: k for k in data.get("admin_keys", [])}
            self.clear_events()
            self.add_events([*data.get("events", []), *data.get("cost_events", [])])

    def durable_records(self) -> dict:
        """Each kind's events as a few binary records (its runs, see `columns.RunSet`) and its
        combos as one JSON record: adding events writes the new run and the combos, not the history."""
        return {"admin_keys": Rows(self.admin_keys), "combos": Rows(_Combos(self), as_dict=True),
                "runs": Rows(_RunBlobs(self), as_dict=True), "cost_events": self.cost_events,
                "units": Rows(self.units, as_dict=True)}

    def load_records(self, data: dict) -> None:
        """Load `durable_records()` (called on a fresh store)."""
        with self.lock:
            self.admin_keys = {k["value"]: k for k in data.get("admin_keys", [])}
            self._fresh_logs()
            logs = self._all_logs()
            for name, found in (data.get("combos") or {}).items():
                for combo in found:
                    logs[name].combo(tuple(combo))
            runs = data.get("runs") or {}
            for key in sorted(runs, key=_run_order):
                logs[key.rpartition("/")[0]].add_run(Run.from_bytes(runs[key]))
            self._load_day_rows(data.get("events") or [])
            self.cost_events = list(data.get("cost_events", []))
            self._note_units()
            self.units.update(data.get("units", {}))
            self.changed()

    def _load_day_rows(self, days: list[dict]) -> None:
        """Usage as state files before the columns kept it: rows of [time, dimensions, counters]
        per kind and day (their "costs" rows were derived from usage, or are in cost_events)."""
        for day in days:
            kind = KINDS.get(day["kind"])
            if kind is not None:
                names = kind.dimensions + kind.counters
                self.logs[kind.name].add_rows([{"time": time, **dict(zip(names, [*dims, *counts], strict=True))}
                                               for time, dims, counts in day["rows"]])

    def _all_logs(self) -> dict[str, KindLog]:
        return {**self.logs, COSTS.name: self.costs}

    def _run_keys(self) -> set[str]:
        return {f"{name}/{run_id:010d}" for name, log in self._all_logs().items() for run_id in log.levels.events.ids}

    def _changed_runs(self, before: set[str], kinds: t.Iterable[str]) -> None:
        after = self._run_keys()
        self.changed(*(("runs", key) for key in before ^ after), *(("combos", name) for name in kinds),
                     ("cost_events", EVERY), ("units", EVERY))


def _run_order(key: str) -> tuple[int, str]:
    name, _, number = key.rpartition("/")
    return int(number), name


class _Combos(collections.abc.Mapping):
    """kind → its combos (lists of dimension values, by combo number)."""

    def __init__(self, store: UsageStore) -> None:
        self._logs = store._all_logs()

    def __iter__(self) -> t.Iterator[str]:
        return (name for name, log in self._logs.items() if log.combos)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, name: str) -> list[list]:
        log = self._logs.get(name)
        if log is None or not log.combos:
            raise KeyError(name)
        return [list(combo) for combo in log.combos]


class _RunBlobs(collections.abc.Mapping):
    """"kind/run number" → the run's columns as bytes, serialized when the state file asks."""

    def __init__(self, store: UsageStore) -> None:
        self._runs = {f"{name}/{run_id:010d}": run for name, log in store._all_logs().items()
                      for run_id, run in zip(log.levels.events.ids, log.levels.events.runs, strict=True)}

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __getitem__(self, key: str) -> bytes:
        return self._runs[key].to_bytes()
