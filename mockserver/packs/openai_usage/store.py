"""The organization's usage: events per kind, indexed by time, and the costs they incur.

An event is one recorded piece of usage (a minute's worth of requests from one API key to one
model, say). Aggregates are computed from events on demand; each bucket's result is memoized until
the next write, which keeps repeated and overlapping queries cheap without precomputing anything.
"""

from __future__ import annotations

import bisect
import collections.abc
import typing as t

from mockserver.engine.http import json_bytes
from mockserver.engine.pack import Store
from mockserver.engine.records import EVERY, Rows
from mockserver.packs.openai_usage.kinds import COSTS, KINDS, Kind

_CACHE_LIMIT = 200_000
DAY = 86400


class EventLog:
    """Events of one kind: parallel lists sorted by time."""

    __slots__ = ("kind", "times", "dims", "counts")

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.times: list[int] = []
        self.dims: list[tuple] = []
        self.counts: list[tuple] = []

    def add(self, time: int, dims: tuple, counts: tuple) -> None:
        index = bisect.bisect_right(self.times, time)
        self.times.insert(index, time)
        self.dims.insert(index, dims)
        self.counts.insert(index, counts)

    def extend_sorted(self, rows: t.Iterable[tuple[int, tuple, tuple]]) -> None:
        merged = sorted([*zip(self.times, self.dims, self.counts), *rows], key=lambda row: row[0])
        self.times = [row[0] for row in merged]
        self.dims = [row[1] for row in merged]
        self.counts = [row[2] for row in merged]

    def aggregate(self, lo: int, hi: int, filters: tuple[tuple[int, frozenset], ...],
                  group: tuple[int, ...]) -> dict[tuple, list]:
        """Sums of counters in [lo, hi) per group key."""
        start = bisect.bisect_left(self.times, lo)
        stop = bisect.bisect_left(self.times, hi, start)
        groups: dict[tuple, list] = {}
        dims, counts = self.dims, self.counts
        for index in range(start, stop):
            row = dims[index]
            if filters and not all(row[d] in allowed for d, allowed in filters):
                continue
            key = tuple(row[g] for g in group)
            total = groups.get(key)
            if total is None:
                groups[key] = list(counts[index])
            else:
                for position, value in enumerate(counts[index]):
                    total[position] += value
        return groups

    def to_json(self) -> list[dict]:
        names = self.kind.dimensions + self.kind.counters
        return [{"time": time, **dict(zip(names, dims + counts))}
                for time, dims, counts in zip(self.times, self.dims, self.counts)]

    def __len__(self) -> int:
        return len(self.times)


class UsageStore(Store):
    def __init__(self, organization: dict, prices: dict, clock: t.Any) -> None:
        super().__init__()
        self.clock = clock
        self.organization = organization
        self.prices = prices
        self.admin_keys: dict[str, dict] = {k["value"]: k for k in organization.get("admin_keys", [])}
        self.logs: dict[str, EventLog] = {name: EventLog(kind) for name, kind in KINDS.items()}
        self.costs = EventLog(COSTS)
        self.cost_events: list[dict] = []  # costs added directly, not derived from usage
        self.units: dict[str, str] = {}  # line item → quantity unit
        self._cache: dict[tuple, bytes] = {}
        self._cache_version = -1

    # -- writing ------------------------------------------------------------------------------

    def add_events(self, events: t.Iterable[dict]) -> int:
        """Add usage (any kind) and cost events; returns how many were added."""
        with self.lock:
            usage: dict[str, list] = {name: [] for name in KINDS}
            costs: list = []
            direct: list[dict] = []
            for event in events:
                kind_name = event["kind"]
                if kind_name == "costs":
                    costs.append(self._cost_row(event))
                    direct.append(event)
                    continue
                kind = KINDS[kind_name]
                row = (int(event["time"]), tuple(event.get(d) for d in kind.dimensions),
                       tuple(int(event.get(c) or 0) for c in kind.counters))
                usage[kind_name].append(row)
                costs.extend(self._priced(kind, row))
            for name, rows in usage.items():
                if rows:
                    self.logs[name].extend_sorted(rows)
            if costs:
                self.costs.extend_sorted(costs)
            self.cost_events.extend(direct)
            days = {(name, row[0] // DAY) for name, rows in [*usage.items(), (COSTS.name, costs)] for row in rows}
            self.changed(*(("events", f"{name}/{day}") for name, day in days),
                         ("cost_events", EVERY), ("units", EVERY))
            return sum(len(rows) for rows in usage.values()) + len(direct)

    def clear_events(self) -> None:
        with self.lock:
            self.logs = {name: EventLog(kind) for name, kind in KINDS.items()}
            self.costs = EventLog(COSTS)
            self.cost_events = []
            self.units = {}
            self.changed()

    def add_admin_key(self, key: dict) -> None:
        with self.lock:
            self.admin_keys[key["value"]] = key
            self.changed(("admin_keys", key["value"]))

    def _cost_row(self, event: dict) -> tuple[int, tuple, tuple]:
        line_item = event["line_item"]
        if event.get("quantity_unit"):
            self.units[line_item] = event["quantity_unit"]
        return (int(event["time"]), (event.get("project_id"), event.get("api_key_id"), line_item),
                (float(event["amount"]), float(event.get("quantity") or 0)))

    def _priced(self, kind: Kind, row: tuple[int, tuple, tuple]) -> list[tuple[int, tuple, tuple]]:
        """The cost line items one usage event incurs, from the price table."""
        time, dims, counts = row
        fields = dict(zip(kind.dimensions, dims)) | dict(zip(kind.counters, counts))
        rows = []
        for line_item, quantity, unit, unit_price in price_lines(kind.name, fields, self.prices):
            if quantity <= 0:
                continue
            self.units[line_item] = unit
            rows.append((time, (fields.get("project_id"), fields.get("api_key_id"), line_item),
                         (quantity * unit_price, float(quantity))))
        return rows

    # -- reading ------------------------------------------------------------------------------

    def bucket_json(self, log: EventLog, lo: int, hi: int, first: int, last: int, filters: tuple,
                    group: tuple, render: t.Callable[[tuple, list], dict]) -> bytes:
        """One bucket object, serialized, with its results sorted by group key; memoized until the
        next write. `render` must depend only on the kind and `group`, which are in the memo key."""
        if self._cache_version != self.version or len(self._cache) > _CACHE_LIMIT:
            self._cache = {}
            self._cache_version = self.version
        key = (log.kind.name, lo, hi, first, last, filters, group)
        found = self._cache.get(key)
        if found is None:
            groups = log.aggregate(first, last, filters, group)
            ordered = sorted(groups.items(), key=lambda item: tuple((v is None, str(v)) for v in item[0]))
            found = json_bytes({"object": "bucket", "start_time": lo, "end_time": hi,
                                "results": [render(group_key, sums) for group_key, sums in ordered]})
            self._cache[key] = found
        return found

    # -- export / import ----------------------------------------------------------------------

    def export(self) -> dict:
        events = [{"kind": name, **event} for name, log in self.logs.items() for event in log.to_json()]
        return {"admin_keys": list(self.admin_keys.values()), "events": events,
                "cost_events": list(self.cost_events)}

    def durable_records(self) -> dict:
        """Events as a row per kind and day, in the logs' own compact form: adding events today
        rewrites today's rows, not the history."""
        return {"admin_keys": Rows(self.admin_keys), "events": Rows(_DayRows(self)),
                "cost_events": self.cost_events, "units": Rows(self.units, as_dict=True)}

    def load_records(self, data: dict) -> None:
        """Load `durable_records()` (called on a fresh store): the logs as they were, costs and
        all, without pricing the events again."""
        rows: dict[str, list[tuple[int, tuple, tuple]]] = {}
        for day in data.get("events", []):
            rows.setdefault(day["kind"], []).extend((time, tuple(dims), tuple(counts))
                                                    for time, dims, counts in day["rows"])
        with self.lock:
            self.admin_keys = {k["value"]: k for k in data.get("admin_keys", [])}
            self.logs = {name: EventLog(kind) for name, kind in KINDS.items()}
            self.costs = EventLog(COSTS)
            for name, found in rows.items():
                log = self.costs if name == COSTS.name else self.logs.get(name)
                if log is not None:
                    log.extend_sorted(found)
            self.cost_events = list(data.get("cost_events", []))
            self.units = dict(data.get("units", {}))
            self.changed()

    def summary(self) -> dict:
        """Events by kind rather than the day-rows the state database keeps."""
        return {"admin_keys": len(self.admin_keys), "projects": len(self.organization.get("projects", [])),
                "users": len(self.organization.get("users", [])),
                "usage_events": {name: len(log.times) for name, log in self.logs.items() if log.times},
                "cost_events": len(self.cost_events)}

    def load(self, data: dict) -> None:
        """Replace everything with an export (called on a fresh store)."""
        with self.lock:
            self.admin_keys = {k["value"]: k for k in data.get("admin_keys", [])}
            self.clear_events()
            self.add_events([*data.get("events", []), *data.get("cost_events", [])])


class _DayRows(collections.abc.Mapping):
    """The store's events by "kind/day" (UTC day number), each day as {"kind", "rows": [[time,
    dims, counts], ...]}: what the state database keeps, read from the logs on demand."""

    def __init__(self, store: UsageStore) -> None:
        self._logs = {**{name: log for name, log in store.logs.items()}, COSTS.name: store.costs}

    def __iter__(self) -> t.Iterator[str]:
        for name, log in self._logs.items():
            for day in sorted({time // DAY for time in log.times}):
                yield f"{name}/{day}"

    def __len__(self) -> int:
        return sum(len({time // DAY for time in log.times}) for log in self._logs.values())

    def __getitem__(self, key: str) -> dict:
        name, _, day_text = key.rpartition("/")
        log = self._logs.get(name)
        if log is None or not day_text.lstrip("-").isdigit():
            raise KeyError(key)
        day = int(day_text)
        start = bisect.bisect_left(log.times, day * DAY)
        stop = bisect.bisect_left(log.times, (day + 1) * DAY, start)
        if start == stop:
            raise KeyError(key)
        return {"kind": name, "rows": [[log.times[i], log.dims[i], log.counts[i]] for i in range(start, stop)]}


def price_lines(kind: str, fields: dict, prices: dict) -> list[tuple[str, float, str, float]]:
    """(line item, quantity, unit, price per unit) for one usage event."""
    table = prices.get(kind, {})
    model: t.Any = fields.get("model")  # None for some kinds: the line item then reads "None"
    if kind == "completions":
        model_prices = table.get(model) or table.get("default", {})
        suffix = " | batch" if fields.get("batch") else ""
        discount = prices.get("batch_discount", 0.5) if fields.get("batch") else 1.0
        cached = fields.get("input_cached_tokens", 0)
        return [
            (f"{model}, input{suffix}", fields.get("input_tokens", 0) - cached, "tokens",
             model_prices.get("input", 0) / 1e6 * discount),
            (f"{model}, cached input{suffix}", cached, "tokens",
             model_prices.get("cached_input", 0) / 1e6 * discount),
            (f"{model}, output{suffix}", fields.get("output_tokens", 0), "tokens",
             model_prices.get("output", 0) / 1e6 * discount),
        ]
    if kind in ("embeddings", "moderations"):
        return [(model, fields.get("input_tokens", 0), "tokens", (table.get(model) or 0) / 1e6)]
    if kind == "images":
        size = fields.get("size")
        return [(f"{model}, {size}", fields.get("images", 0), "images", (table.get(model) or {}).get(size, 0))]
    if kind == "audio_speeches":
        return [(model, fields.get("characters", 0), "characters", (table.get(model) or 0) / 1e6)]
    if kind == "audio_transcriptions":
        return [(model, fields.get("seconds", 0), "seconds", (table.get(model) or 0) / 60)]
    if kind == "vector_stores":
        return [("vector store storage", fields.get("usage_bytes", 0), "bytes", table.get("per_gb_day", 0) / 1e9)]
    if kind == "code_interpreter_sessions":
        return [("code interpreter sessions", fields.get("num_sessions", 0), "sessions", table.get("per_session", 0))]
    if kind == "file_search_calls":
        return [("file search tool calls", fields.get("num_requests", 0), "calls", table.get("per_1k_calls", 0) / 1e3)]
    if kind == "web_search_calls":
        level = fields.get("context_level") or "medium"
        return [(f"web search tool calls, {level}", fields.get("num_requests", 0), "calls",
                 (table.get(level) or 0) / 1e3)]
    return []
