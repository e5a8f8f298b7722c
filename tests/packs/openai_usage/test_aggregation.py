"""Usage and costs buckets, checked against an oracle written here from the API's documented rules.

Hypothesis draws an event set for one usage kind, a query (bucket width, a start that is often not
aligned, an end that is sometimes absent, a limit, filters, group_by), loads the events through the
control plane, follows `next_page` to the end, and compares every bucket with what the rules say it
must hold. Nothing from the pack's aggregation or pricing code is used to compute the expectation.
"""

from __future__ import annotations

import collections
import json
import math
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from depth import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_statistic
from hypothesis import strategies as st

CLOCK = 1_763_683_200  # the frozen "now" of the conftest's server (2025-11-21T00:00:00Z)
MINUTE, HOUR, DAY = 60, 3600, 86400
WIDTHS = {"1m": MINUTE, "1h": HOUR, "1d": DAY}
MAX_LIMIT = {"1m": 1440, "1h": 168, "1d": 31}
MAX_PAGES = 8  # keeps an example to a handful of requests

PRICES = yaml.safe_load((Path(__file__).resolve().parents[3] / "fixtures/openai_usage/prices.yaml")
                        .read_text(encoding="utf-8"))

SETTINGS = settings(max_examples=examples(quick=20, deep=60), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

# -- the kinds, as the spec describes them --------------------------------------------------------

WHO = ("project_id", "user_id", "api_key_id")
WHO_FILTERS = {"project_ids": "project_id", "user_ids": "user_id", "api_key_ids": "api_key_id"}
COMPLETION_COUNTERS = (
    "input_tokens", "output_tokens", "input_cached_tokens", "input_cache_write_tokens",
    "input_uncached_tokens", "input_text_tokens", "output_text_tokens", "input_cached_text_tokens",
    "input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens", "input_image_tokens",
    "input_cached_image_tokens", "output_image_tokens", "num_model_requests",
)


@dataclass(frozen=True)
class KindSpec:
    path: str
    object: str
    dimensions: tuple[str, ...]
    counters: tuple[str, ...]
    filters: dict[str, str]  # query parameter -> dimension
    pools: dict[str, tuple] = field(default_factory=dict)  # dimension -> values events draw from


POOLS = {
    "project_id": ("proj_a", "proj_b", "proj_c"),
    "user_id": ("user-1", "user-2", None),  # None: the event carries no user
    "api_key_id": ("key_1", "key_2", "key_3"),
    "service_tier": ("default", "flex", "priority"),
    "batch": (False, True),
    "vector_store_id": ("vs_a", "vs_b"),
    "context_level": ("low", "medium", "high"),
    "source": ("image.generation", "image.edit", "image.variation"),
    "size": ("256x256", "1024x1024", "1024x1792"),
}

KINDS = {k.path: k for k in (
    KindSpec("completions", "organization.usage.completions.result",
             WHO + ("model", "batch", "service_tier"), COMPLETION_COUNTERS,
             {**WHO_FILTERS, "models": "model", "batch": "batch"},
             {"model": ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "my-fine-tune")}),
    KindSpec("images", "organization.usage.images.result",
             ("source", "size") + WHO + ("model",), ("images", "num_model_requests"),
             {**WHO_FILTERS, "models": "model", "sources": "source", "sizes": "size"},
             {"model": ("dall-e-2", "dall-e-3")}),
    KindSpec("embeddings", "organization.usage.embeddings.result",
             WHO + ("model",), ("input_tokens", "num_model_requests"), {**WHO_FILTERS, "models": "model"},
             {"model": ("text-embedding-3-small", "text-embedding-3-large")}),
    KindSpec("moderations", "organization.usage.moderations.result",
             WHO + ("model",), ("input_tokens", "num_model_requests"), {**WHO_FILTERS, "models": "model"},
             {"model": ("omni-moderation-latest", "text-moderation-latest")}),
    KindSpec("audio_speeches", "organization.usage.audio_speeches.result",
             WHO + ("model",), ("characters", "num_model_requests"), {**WHO_FILTERS, "models": "model"},
             {"model": ("tts-1", "tts-1-hd")}),
    KindSpec("audio_transcriptions", "organization.usage.audio_transcriptions.result",
             WHO + ("model",), ("seconds", "num_model_requests"), {**WHO_FILTERS, "models": "model"},
             {"model": ("whisper-1",)}),
    KindSpec("vector_stores", "organization.usage.vector_stores.result",
             ("project_id",), ("usage_bytes",), {"project_ids": "project_id"}),
    KindSpec("code_interpreter_sessions", "organization.usage.code_interpreter_sessions.result",
             ("project_id",), ("num_sessions",), {"project_ids": "project_id"}),
    KindSpec("file_search_calls", "organization.usage.file_searches.result",
             WHO + ("vector_store_id",), ("num_requests",),
             {**WHO_FILTERS, "vector_store_ids": "vector_store_id"}),
    KindSpec("web_search_calls", "organization.usage.web_searches.result",
             WHO + ("model", "context_level"), ("num_model_requests", "num_requests"),
             {**WHO_FILTERS, "models": "model", "context_levels": "context_level"},
             {"model": ("gpt-4o-search-preview", "gpt-4.1")}),
)}

COSTS_GROUPS = ("project_id", "line_item", "api_key_id")
COSTS_FILTERS = {"project_ids": "project_id", "api_key_ids": "api_key_id"}
ENUM_DIMENSIONS = {"source", "size", "context_level"}
DIRECT_LINE_ITEMS = {"support plan": "seats", "fine-tuning training": "tokens_trained"}


def pool(kind: KindSpec, dimension: str) -> tuple:
    return kind.pools.get(dimension) or POOLS[dimension]


# -- queries and events ---------------------------------------------------------------------------


@dataclass
class Query:
    width: str
    start: int
    end: int | None  # None: the clock's now
    limit: int
    filters: dict[str, t.Any]  # parameter -> list of values (or a bool for `batch`)
    group_by: list[str]

    def params(self) -> list[tuple[str, t.Any]]:
        params: list[tuple[str, t.Any]] = [("start_time", self.start), ("bucket_width", self.width),
                                           ("limit", self.limit)]
        if self.end is not None:
            params.append(("end_time", self.end))
        for name, value in self.filters.items():
            if isinstance(value, bool):
                params.append((name, "true" if value else "false"))
            else:
                params.extend((name, v) for v in value)
        params.extend(("group_by", g) for g in self.group_by)
        return params

    @property
    def effective_end(self) -> int:
        return CLOCK if self.end is None else self.end

    @property
    def bucket_count(self) -> int:
        width = WIDTHS[self.width]
        first = self.start // width * width
        return math.ceil((self.effective_end - first) / width)


Scenario = tuple[KindSpec, Query, list[dict], list[dict]]


@st.composite
def time_range(draw: st.DrawFn, width_name: str) -> tuple[int, int | None]:
    """(start, end): start often unaligned, end sometimes absent; a few hundred buckets at most."""
    width = WIDTHS[width_name]
    span = {"1m": 6 * HOUR, "1h": 2 * DAY, "1d": 5 * DAY}[width_name]
    open_ended = draw(st.booleans())
    earliest = CLOCK - span if open_ended else CLOCK - 3 * DAY
    aligned = draw(st.booleans())
    if aligned:
        start = draw(st.integers(math.ceil(earliest / width), CLOCK // width - 1)) * width
    else:
        start = draw(st.integers(earliest, CLOCK - 1))
    if open_ended:
        return start, None
    end = start + draw(st.one_of(st.integers(1, span), st.sampled_from([width, 2 * width, 3 * width - 1])))
    if draw(st.booleans()):  # sometimes an aligned end
        end = max(start + 1, end - end % width)
    return start, end


@st.composite
def limit_for(draw: st.DrawFn, width_name: str, start: int, end: int, max_limit: int) -> int:
    width = WIDTHS[width_name]
    total = math.ceil((end - start // width * width) / width)
    least = max(1, math.ceil(total / MAX_PAGES))
    return draw(st.one_of(st.integers(least, max(least, min(max_limit, total + 2))), st.just(max_limit)))


@st.composite
def event_time(draw: st.DrawFn, start: int, end: int, width: int) -> int:
    """Mostly near the queried range and its edges, sometimes anywhere within a few days."""
    first = start - start % width
    return draw(st.one_of(
        st.integers(start, end - 1),
        st.integers(start, min(end - 1, start + 3 * width)),
        st.integers(max(0, first - width), end + width),
        st.sampled_from([start - 1, start, start + 1, first, first - 1, end - 1, end, end + 1]),
        st.integers(CLOCK - 4 * DAY, CLOCK + 2 * HOUR),  # includes events after "now"
    ))


@st.composite
def usage_event(draw: st.DrawFn, kind: KindSpec, times: st.SearchStrategy[int]) -> dict:
    event: dict[str, t.Any] = {"kind": kind.path, "time": draw(times)}
    for dimension in kind.dimensions:
        value = draw(st.sampled_from(pool(kind, dimension)))
        if value is not None:
            event[dimension] = value
    # A few drawn numbers spread over the counters (completions has 15); a counter left out counts 0.
    values = draw(st.tuples(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 50)))
    left_out = draw(st.integers(0, 2 ** len(kind.counters) - 1)) if draw(st.integers(0, 3)) == 0 else 0
    for index, counter in enumerate(kind.counters):
        if not left_out >> index & 1:
            event[counter] = values[index % 3] + index
    if kind.path == "completions":  # cached tokens are part of the input tokens
        event["input_cached_tokens"] = min(event.get("input_cached_tokens", 0), event.get("input_tokens", 0))
    return event


@st.composite
def filters_for(draw: st.DrawFn, kind_filters: dict[str, str], pools: t.Callable[[str], tuple]) -> dict:
    chosen: dict[str, t.Any] = {}
    for parameter, dimension in kind_filters.items():
        if not draw(st.integers(0, 4)) == 0:  # each filter present one time in five
            continue
        if parameter == "batch":
            chosen[parameter] = draw(st.booleans())
            continue
        values = [v for v in pools(dimension) if v is not None]
        if dimension not in ENUM_DIMENSIONS:  # the spec rejects values outside an enum
            values.append("not-there")
        chosen[parameter] = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
    return chosen


@st.composite
def usage_scenarios(draw: st.DrawFn) -> Scenario:
    """A kind, a query, and its events in two batches (added with a query in between)."""
    kind = KINDS[draw(st.sampled_from(sorted(KINDS)))]
    width_name = draw(st.sampled_from(sorted(WIDTHS)))
    start, end = draw(time_range(width_name))
    effective_end = CLOCK if end is None else end
    limit = draw(limit_for(width_name, start, effective_end, MAX_LIMIT[width_name]))
    filters = draw(filters_for(kind.filters, lambda d: pool(kind, d)))
    group_by = draw(st.lists(st.sampled_from(kind.dimensions), unique=True, max_size=len(kind.dimensions)))
    times = event_time(start, effective_end, WIDTHS[width_name])
    events = draw(st.lists(usage_event(kind, times), min_size=1, max_size=25))
    split = draw(st.integers(0, len(events)))
    return kind, Query(width_name, start, end, limit, filters, group_by), events[:split], events[split:]


# -- the oracle -----------------------------------------------------------------------------------


def windows(query: Query) -> list[tuple[int, int, int, int]]:
    """(bucket start, bucket end, first counted second, end of counted seconds), per the rules."""
    width = WIDTHS[query.width]
    end = query.effective_end
    lo = query.start - query.start % width
    out = []
    while lo < end:
        out.append((lo, lo + width, max(lo, query.start), min(lo + width, end)))
        lo += width
    return out


def passes(event: dict, filters: dict[str, t.Any], filter_dims: dict[str, str]) -> bool:
    for parameter, wanted in filters.items():
        value = event.get(filter_dims[parameter])
        if isinstance(wanted, bool):
            if value is not wanted:
                return False
        elif value not in wanted:
            return False
    return True


def expected_usage(kind: KindSpec, query: Query, events: list[dict]) -> list[dict]:
    buckets = []
    for lo, hi, first, last in windows(query):
        groups: dict[tuple, dict] = {}
        for event in events:
            if not (first <= event["time"] < last) or not passes(event, query.filters, kind.filters):
                continue
            key = tuple(event.get(g) for g in query.group_by)
            sums = groups.setdefault(key, dict.fromkeys(kind.counters, 0))
            for counter in kind.counters:
                sums[counter] += event.get(counter, 0)
        results = [{"object": kind.object, **dict.fromkeys(kind.dimensions), **dict(zip(query.group_by, key, strict=True)),
                    **sums} for key, sums in groups.items()]
        buckets.append({"object": "bucket", "start_time": lo, "end_time": hi, "results": results})
    return buckets


def canonical(result: dict) -> str:
    return json.dumps(result, sort_keys=True)


def fetch_all(api: t.Any, path: str, query: Query) -> tuple[list[dict], list[bytes]]:
    """Every bucket, following next_page; also each page's raw body."""
    buckets: list[dict] = []
    bodies: list[bytes] = []
    cursor = None
    for _ in range(MAX_PAGES + 2):
        params = query.params() + ([("page", cursor)] if cursor else [])
        response = api.usage(path, params)
        assert response.status_code == 200, response.text
        page = response.json()
        bodies.append(response.content)
        assert page["object"] == "page"
        assert len(page["data"]) <= query.limit
        buckets.extend(page["data"])
        if not page["has_more"]:
            assert page["next_page"] is None
            return buckets, bodies
        assert len(page["data"]) == query.limit, "a page with more to come is a full page"
        cursor = page["next_page"]
        assert isinstance(cursor, str) and cursor
    raise AssertionError(f"more than {MAX_PAGES + 2} pages for {query}")


# -- usage ----------------------------------------------------------------------------------------


def check_usage(api: t.Any, kind: KindSpec, query: Query, events: list[dict]) -> list[bytes]:
    got, bodies = fetch_all(api, kind.path, query)
    expected = expected_usage(kind, query, events)

    assert [(b["start_time"], b["end_time"]) for b in got] == \
           [(b["start_time"], b["end_time"]) for b in expected], "buckets aligned, consecutive, to the end"
    assert len(got) == query.bucket_count
    for bucket, want in zip(got, expected, strict=True):
        assert bucket["object"] == "bucket"
        assert set(bucket) == {"object", "start_time", "end_time", "results"}
        assert collections.Counter(map(canonical, bucket["results"])) == \
               collections.Counter(map(canonical, want["results"])), \
               f"bucket {bucket['start_time']}: {bucket['results']} != {want['results']}"
        if not query.group_by:
            assert len(bucket["results"]) <= 1
    return bodies


@SETTINGS
@given(scenario=usage_scenarios())
def test_usage_buckets_match_the_rules(api: t.Any, scenario: Scenario) -> None:
    kind, query, before, after = scenario
    api.clear()
    api.add(before)
    check_usage(api, kind, query, before)  # answers are memoized: the next write must show anyway
    api.add(after)
    bodies = check_usage(api, kind, query, before + after)

    counted = any(b["results"] for b in expected_usage(kind, query, before + after))
    note_statistic(f"pages: {min(len(bodies), 3)}{'+' if len(bodies) > 3 else ''}")  # --hypothesis-show-statistics
    note_statistic(f"counted results: {'some' if counted else 'none'}")

    # The same query again gives byte-identical pages (a deterministic order of results).
    again = api.usage(kind.path, query.params())
    assert again.status_code == 200
    assert again.content == bodies[0]


# -- costs ----------------------------------------------------------------------------------------


def priced(event: dict) -> tuple[float, dict[str, float]]:
    """(amount in USD, quantity per unit) of one event, from prices.yaml."""
    kind = event["kind"]
    if kind == "costs":
        return event["amount"], {event["quantity_unit"]: event["quantity"]}
    table = PRICES[kind]
    if kind == "completions":
        price = table.get(event.get("model")) or table["default"]
        discount = PRICES["batch_discount"] if event.get("batch") else 1.0
        tokens_in, cached = event.get("input_tokens", 0), event.get("input_cached_tokens", 0)
        tokens_out = event.get("output_tokens", 0)
        amount = ((tokens_in - cached) * price["input"] + cached * price["cached_input"]
                  + tokens_out * price["output"]) / 1e6 * discount
        return amount, {"tokens": tokens_in + tokens_out}
    if kind == "images":
        return event.get("images", 0) * table[event["model"]].get(event["size"], 0.0), \
            {"images": event.get("images", 0)}
    if kind in ("embeddings", "moderations"):
        return event.get("input_tokens", 0) * table[event["model"]] / 1e6, {"tokens": event.get("input_tokens", 0)}
    if kind == "audio_speeches":
        return event.get("characters", 0) * table[event["model"]] / 1e6, {"characters": event.get("characters", 0)}
    if kind == "audio_transcriptions":  # priced per minute
        return event.get("seconds", 0) * table[event["model"]] / 60, {"seconds": event.get("seconds", 0)}
    if kind == "vector_stores":
        return event.get("usage_bytes", 0) * table["per_gb_day"] / 1e9, {"bytes": event.get("usage_bytes", 0)}
    if kind == "code_interpreter_sessions":
        return event.get("num_sessions", 0) * table["per_session"], {"sessions": event.get("num_sessions", 0)}
    if kind == "file_search_calls":
        return event.get("num_requests", 0) * table["per_1k_calls"] / 1e3, {"calls": event.get("num_requests", 0)}
    if kind == "web_search_calls":
        level = event.get("context_level") or "medium"
        return event.get("num_requests", 0) * table[level] / 1e3, {"calls": event.get("num_requests", 0)}
    raise AssertionError(kind)


COSTED_KINDS = tuple(sorted(KINDS))


@st.composite
def cost_event(draw: st.DrawFn, times: st.SearchStrategy[int]) -> dict:
    kind_name = draw(st.sampled_from((*COSTED_KINDS, "costs")))
    if kind_name != "costs":
        return draw(usage_event(KINDS[kind_name], times))
    line_item = draw(st.sampled_from(sorted(DIRECT_LINE_ITEMS)))
    event = {"kind": "costs", "time": draw(times), "line_item": line_item,
             "amount": draw(st.integers(0, 10_000)) / 100, "quantity": float(draw(st.integers(0, 50))),
             "quantity_unit": DIRECT_LINE_ITEMS[line_item]}
    for dimension in ("project_id", "api_key_id"):
        event[dimension] = draw(st.sampled_from(POOLS[dimension]))
    return event


@st.composite
def cost_scenarios(draw: st.DrawFn) -> tuple[Query, list[dict], list[dict]]:
    start, end = draw(time_range("1d"))
    effective_end = CLOCK if end is None else end
    limit = draw(limit_for("1d", start, effective_end, 180))
    filters = draw(filters_for(COSTS_FILTERS, lambda d: POOLS[d]))
    group_by = draw(st.lists(st.sampled_from(COSTS_GROUPS), unique=True, max_size=3))
    events = draw(st.lists(cost_event(event_time(start, effective_end, DAY)), min_size=1, max_size=25))
    split = draw(st.integers(0, len(events)))
    return Query("1d", start, end, limit, filters, group_by), events[:split], events[split:]


def approx(value: float) -> t.Any:
    return pytest.approx(value, rel=1e-9, abs=1e-7)


@settings(SETTINGS, max_examples=examples(quick=15, deep=40))
@given(scenario=cost_scenarios())
def test_costs_are_usage_priced_by_the_price_table(api: t.Any,
                                                   scenario: tuple[Query, list[dict], list[dict]]) -> None:
    query, before, after = scenario
    api.clear()
    api.add(before)
    fetch_all(api, "costs", query)  # memoized until the next write
    api.add(after)
    events = before + after

    got, bodies = fetch_all(api, "costs", query)
    assert [(b["start_time"], b["end_time"]) for b in got] == [(lo, hi) for lo, hi, _, _ in windows(query)]

    by_line_item = "line_item" in query.group_by
    who = [g for g in query.group_by if g != "line_item"]
    for bucket, (lo, _, first, last) in zip(got, windows(query), strict=True):
        amounts: dict[tuple, float] = collections.defaultdict(float)
        quantities: dict[tuple, float] = collections.defaultdict(float)
        for event in events:
            if first <= event["time"] < last and passes(event, query.filters, COSTS_FILTERS):
                key = tuple(event.get(g) for g in who)
                amount, per_unit = priced(event)
                amounts[key] += amount
                for unit, quantity in per_unit.items():
                    quantities[key + (unit,)] += quantity

        got_amounts: dict[tuple, float] = collections.defaultdict(float)
        got_quantities: dict[tuple, float] = collections.defaultdict(float)
        seen = set()
        for result in bucket["results"]:
            assert result["object"] == "organization.costs.result"
            assert result["amount"]["currency"] == "usd"
            assert set(result) == {"object", "amount", "line_item", "project_id", "api_key_id", "quantity",
                                   "quantity_unit"}
            for name in COSTS_GROUPS:
                if name not in query.group_by:
                    assert result[name] is None, f"{name} not grouped by must be null: {result}"
            group_key = tuple(result[g] for g in query.group_by)
            assert group_key not in seen, f"group {group_key} twice in bucket {lo}"
            seen.add(group_key)
            key = tuple(result[g] for g in who)
            got_amounts[key] += result["amount"]["value"]
            if by_line_item:
                assert isinstance(result["line_item"], str)
                assert isinstance(result["quantity"], (int, float))
                got_quantities[key + (result["quantity_unit"],)] += result["quantity"]
            else:
                assert result["quantity"] is None and result["quantity_unit"] is None
        if not query.group_by:
            assert len(bucket["results"]) <= 1

        for key in set(amounts) | set(got_amounts):
            assert got_amounts[key] == approx(amounts[key]), f"bucket {lo}, group {key}"
        if by_line_item:
            for key in set(quantities) | set(got_quantities):
                assert got_quantities[key] == approx(quantities[key]), f"bucket {lo}, quantity {key}"

    again = api.usage("costs", query.params())
    assert again.status_code == 200
    assert again.content == bodies[0]


def test_costs_follow_a_known_bill(api: t.Any) -> None:
    """A hand-priced example, so a wrong price table is caught even where both sides agree on rules."""
    api.clear()
    day = CLOCK - DAY
    api.add([
        {"kind": "completions", "time": day + 10, "project_id": "proj_a", "model": "gpt-4o-2024-08-06",
         "batch": False, "input_tokens": 1_000_000, "input_cached_tokens": 200_000, "output_tokens": 100_000},
        {"kind": "completions", "time": day + 20, "project_id": "proj_a", "model": "gpt-4o-2024-08-06",
         "batch": True, "input_tokens": 1_000_000, "output_tokens": 1_000_000},
        {"kind": "images", "time": day + 30, "project_id": "proj_b", "model": "dall-e-3", "size": "1024x1792",
         "images": 10},
    ])
    # 0.8M * 2.50 + 0.2M * 1.25 + 0.1M * 10 = 3.25; batch: (2.50 + 10) / 2 = 6.25; images: 10 * 0.08
    page = api.ok("costs", {"start_time": day, "end_time": CLOCK})
    assert [r["amount"]["value"] for r in page["data"][0]["results"]] == [approx(3.25 + 6.25 + 0.8)]
    page = api.ok("costs", [("start_time", day), ("end_time", CLOCK), ("group_by", "project_id")])
    assert sorted((r["project_id"], round(r["amount"]["value"], 9)) for r in page["data"][0]["results"]) == \
           [("proj_a", 9.5), ("proj_b", 0.8)]
