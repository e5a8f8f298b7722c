"""A page of buckets as vectorised sums over the columns: usage per group, and costs priced from it.

Both return, per bucket of the window, its results in the API's order: groups sorted by their
values (None last, then by text), field by field in the kind's dimension order.
"""

from __future__ import annotations

import typing as t

import numpy as np

from mockserver.packs.openai_usage.aggregate import Window
from mockserver.packs.openai_usage.columns import Run, sum_rows
from mockserver.packs.openai_usage.eventlog import KindLog, Values
from mockserver.packs.openai_usage.kinds import COSTS
from mockserver.packs.openai_usage.pricing import price_terms

Filters = tuple[tuple[str, frozenset], ...]  # (dimension, allowed values)
# The groups' values, and per bucket its results in the API's order as (group number, sums).
Grouped = tuple[list[tuple], list[list[tuple[int, list]]]]


def counted(window: Window) -> tuple[int, int]:
    """The seconds a page counts: its buckets, cut to [start_time, end_time)."""
    return max(window.first, window.start), min(window.first + window.count * window.width, window.end)


def usage_page(log: KindLog, window: Window, filters: Filters, group: tuple[str, ...]) -> Grouped:
    lo, hi = counted(window)
    rows = log.levels.rows(lo, hi, window.width)
    codes = log.codes()
    rows = _kept(rows, _combo_filter(log, codes, filters))
    groups, group_of_combo = _combo_groups(log, codes, group)
    key = (rows.times - window.first) // window.width * max(1, len(groups)) + group_of_combo[rows.combos]
    (distinct,), sums = sum_rows([key], rows.counts)
    per_bucket: list[list[tuple[int, list]]] = [[] for _ in range(window.count)]
    buckets, numbers = np.divmod(distinct, max(1, len(groups)))
    for bucket, number, row in zip(buckets.tolist(), numbers.tolist(), sums.tolist(), strict=True):
        per_bucket[bucket].append((number, row))
    return groups, per_bucket


def _combo_groups(log: KindLog, codes: np.ndarray, group: tuple[str, ...]) -> tuple[list[tuple], np.ndarray]:
    """The groups' values in the API's order, and each combo's group number: worked out over the
    combos (hundreds), not the rows."""
    if not group:
        return [()], np.zeros(len(log.combos), np.int64)
    columns = [log.kind.dimensions.index(name) for name in group]
    ranks = np.column_stack([log.values.ranks(codes[:, column])[codes[:, column]] for column in columns])
    ordered, group_of_combo = np.unique(ranks, axis=0, return_inverse=True)
    first_combo = np.zeros(len(ordered), np.int64)
    first_combo[group_of_combo.reshape(-1)[::-1]] = np.arange(len(log.combos))[::-1]
    groups = [tuple(log.values.values[code] for code in codes[combo, columns].tolist())
              for combo in first_combo.tolist()]
    return groups, group_of_combo.reshape(-1)


def cost_page(usage: t.Iterable[KindLog], direct: KindLog, window: Window, prices: dict, filters: Filters,
              group: tuple[str, ...]) -> Grouped:
    """Costs per group: usage priced per (bucket, combo) by each combo's line items, plus the
    costs added directly. A line item shows where its quantity is positive, a direct cost always."""
    parts = [part for log in usage if len(log) for part in [_priced(log, window, prices, filters)] if part]
    if len(direct):
        parts.append(_direct(direct, window, filters))
    line_filter = dict(filters).get("line_item")
    values = direct.values
    fields = {"project_id": 1, "api_key_id": 2, "line_item": 3}
    if not parts:
        return [], [[] for _ in range(window.count)]
    table = np.concatenate([part[0] for part in parts])  # bucket, project, api key, line item (codes)
    money = np.concatenate([part[1] for part in parts])  # amount, quantity
    if line_filter is not None:
        allowed = [code for code in map(values.known, line_filter) if code is not None]
        keep = np.isin(table[:, 3], allowed)
        table, money = table[keep], money[keep]
    columns = [fields[name] for name in group]
    ranks = [values.ranks(table[:, column]) if len(table) else np.zeros(len(values.values), np.int64)
             for column in columns]
    keys = [table[:, 0], *(rank[table[:, column]] for rank, column in zip(ranks, columns, strict=True))]
    distinct, sums = sum_rows(keys, money)
    return _by_bucket(window.count, distinct, [table[:, column] for column in columns], ranks, values,
                      sums.tolist())


def _by_bucket(count: int, distinct: list[np.ndarray], codes: list[np.ndarray], ranks: list[np.ndarray],
               values: Values, sums: list[list]) -> Grouped:
    """Rows (bucket, group ranks..., sums) as results per bucket: (group number, sums), the group
    numbers indexing the groups' values."""
    out: list[list[tuple[int, list]]] = [[] for _ in range(count)]
    if len(distinct) > 1:
        found = np.unique(np.column_stack(distinct[1:]), axis=0, return_inverse=True)
        group_ranks, number_of_row = found[0], found[1].reshape(-1)
        unrank = [_unranked(column_codes, rank, values) for column_codes, rank in zip(codes, ranks, strict=True)]
        groups = [tuple(table[r] for table, r in zip(unrank, ranked, strict=True)) for ranked in group_ranks.tolist()]
        numbers = number_of_row.tolist()
    else:
        groups, numbers = [()], [0] * len(distinct[0])
    for bucket, number, row in zip(distinct[0].tolist(), numbers, sums, strict=True):
        out[bucket].append((number, row))
    return groups, out


def _unranked(codes: np.ndarray, rank: np.ndarray, values: Values) -> dict[int, t.Any]:
    return {int(rank[code]): values.values[code] for code in np.unique(codes).tolist()}


def _combo_filter(log: KindLog, codes: np.ndarray, filters: Filters) -> np.ndarray | None:
    """Which combos pass every filter (None: no filter given)."""
    keep: np.ndarray | None = None
    for name, allowed in filters:
        wanted = [code for code in map(log.values.known, allowed) if code is not None]
        passes = np.isin(codes[:, log.kind.dimensions.index(name)], wanted)
        keep = passes if keep is None else keep & passes
    return keep


def _kept(rows: Run, combo_ok: np.ndarray | None) -> Run:
    if combo_ok is None:
        return rows
    mask = combo_ok[rows.combos]
    return Run(rows.times[mask], rows.combos[mask], rows.counts[mask])


def _cost_codes(log: KindLog) -> np.ndarray:
    """combos x (project, api key): their codes, the code of None where the kind lacks the field."""
    codes = log.codes()
    none = log.values.code(None)
    out = np.full((len(log.combos), 2), none, np.int64)
    for position, name in enumerate(("project_id", "api_key_id")):
        if name in log.kind.dimensions:
            out[:, position] = codes[:, log.kind.dimensions.index(name)]
    return out


class _Lines(t.NamedTuple):
    first: np.ndarray  # per combo: its first line
    number: np.ndarray  # per combo: how many lines
    item: np.ndarray  # per line: the line item's code
    terms: np.ndarray  # lines x counters: the quantity's signed counters
    price: np.ndarray  # per line: USD per unit


def combo_lines(log: KindLog, prices: dict) -> _Lines:
    counters = log.kind.counters
    items: list[int] = []
    terms: list[list[int]] = []
    unit_prices: list[float] = []
    starts, counts = [], []
    for combo in log.combos:
        lines = price_terms(log.kind.name, dict(zip(log.kind.dimensions, combo, strict=True)), prices)
        starts.append(len(items))
        counts.append(len(lines))
        for line in lines:
            items.append(log.values.code(line.line_item))
            terms.append([line.quantity.get(name, 0) for name in counters])
            unit_prices.append(line.unit_price)
    return _Lines(np.array(starts, np.int64), np.array(counts, np.int64), np.array(items, np.int64),
                  np.array(terms, np.int64).reshape(len(items), len(counters)), np.array(unit_prices, np.float64))


def _priced(log: KindLog, window: Window, prices: dict, filters: Filters) -> tuple[np.ndarray, np.ndarray] | None:
    lo, hi = counted(window)
    rows = log.levels.rows(lo, hi, window.width)  # first: the combos are added before their events
    cost_codes = log.cached("cost_codes", lambda: _cost_codes(log))
    rows = _kept(rows, _cost_filter(log.values, cost_codes, filters))
    if not len(rows):
        return None
    (bucket, combo), sums = sum_rows([(rows.times - window.first) // window.width, rows.combos], rows.counts)
    lines = log.cached("lines", lambda: combo_lines(log, prices))
    per_row = lines.number[combo]
    row = np.repeat(np.arange(len(combo)), per_row)
    line = lines.first[combo][row] + (np.arange(len(row)) - np.repeat(np.cumsum(per_row) - per_row, per_row))
    quantity = np.einsum("ij,ij->i", sums[row], lines.terms[line])
    shown = quantity > 0
    row, line, quantity = row[shown], line[shown], quantity[shown]
    codes = cost_codes[combo[row]]
    table = np.column_stack((bucket[row], codes[:, 0], codes[:, 1], lines.item[line]))
    return table, np.column_stack((quantity * lines.price[line], quantity.astype(np.float64)))


def _direct(log: KindLog, window: Window, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = counted(window)
    rows = log.levels.rows(lo, hi, window.width)
    codes = log.codes()
    rows = _kept(rows, _cost_filter(log.values, codes[:, :2], filters))
    (bucket, combo), sums = sum_rows([(rows.times - window.first) // window.width, rows.combos], rows.counts)
    table = np.column_stack((bucket, codes[combo]))  # COSTS.dimensions: project, api key, line item
    assert COSTS.dimensions == ("project_id", "api_key_id", "line_item")
    return table.reshape(len(bucket), 4), sums.reshape(len(bucket), 2)


def _cost_filter(values: Values, codes: np.ndarray, filters: Filters) -> np.ndarray | None:
    keep: np.ndarray | None = None
    for name, allowed in filters:
        if name not in ("project_id", "api_key_id"):
            continue
        wanted = [code for code in map(values.known, allowed) if code is not None]
        passes = np.isin(codes[:, 0 if name == "project_id" else 1], wanted)
        keep = passes if keep is None else keep & passes
    return keep
