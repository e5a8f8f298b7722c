"""A large history: the seeded synthetic one (`--openai-usage-events N`), events added in many
batches (runs merged, sums per minute/hour/day), the state file keeping them as column records.
Answers are checked against the oracle of test_aggregation.py, which sums the listed events itself.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver.app import ServerConfig, build_server
from mockserver.engine.pipeline import Settings
from mockserver.packs.openai_usage.options import event_count
from tests.packs.openai_usage.conftest import CLOCK, CONTROL, UsageApi
from tests.packs.openai_usage.test_aggregation import DAY, HOUR, KINDS, Query, check_usage

EVENTS = 6_000


def usage_server(events: int | None = EVENTS, seed: int = 3, state_file: Path | None = None) -> t.Any:
    options = {} if events is None else {"openai_usage_events": events}
    return build_server(ServerConfig(apis=["openai_usage"], seed=seed, clock_start=CLOCK, state_file=state_file,
                                     settings=Settings(validate_responses=True), pack_options=options))


@pytest.fixture(scope="module")
def big() -> t.Iterator[UsageApi]:
    with TestClient(usage_server(), base_url="http://mock") as client:
        yield UsageApi(client)


def all_events(api: UsageApi, kind: str) -> list[dict]:
    listed = api.client.get(f"{CONTROL}/events", params={"kind": kind, "limit": 100_000}).json()
    assert listed["total"] == len(listed["events"])
    return [{k: v for k, v in event.items() if v is not None} for event in listed["events"]]


QUERIES = [  # (kind, query): unaligned edges, every width, filters and groups
    ("completions", Query("1d", CLOCK - 30 * DAY - 1234, None, 31, {}, ["model", "project_id"])),
    ("completions", Query("1h", CLOCK - 3 * DAY + 59, CLOCK - DAY - 61, 168,
                          {"models": ["gpt-4o-2024-08-06", "o3-mini-2025-01-31"], "batch": True}, ["api_key_id"])),
    ("completions", Query("1m", CLOCK - 5 * HOUR - 7, CLOCK - 3 * HOUR + 13, 1440, {}, [])),
    ("images", Query("1d", CLOCK - 100 * DAY + 17, CLOCK - 70 * DAY, 31, {"sizes": ["1024x1024"]}, ["source", "model"])),
    ("embeddings", Query("1h", CLOCK - 2 * DAY, None, 168, {"project_ids": ["proj_search"]}, ["user_id", "model"])),
    ("web_search_calls", Query("1d", CLOCK - 40 * DAY + 3600, None, 31, {"context_levels": ["high"]}, ["model"])),
]


@pytest.mark.parametrize(("kind", "query"), QUERIES, ids=lambda value: str(value)[:40])
def test_a_synthetic_history_answers_as_the_oracle_sums_its_events(big: UsageApi, kind: str, query: Query) -> None:
    events = [{"kind": kind, **event} for event in all_events(big, kind)]
    assert len(events) > 100, "the synthetic history gives every kind its share"
    check_usage(big, KINDS[kind], query, events)


def test_the_synthetic_history_holds_n_events_over_the_history_days(big: UsageApi) -> None:
    listed = big.client.get(f"{CONTROL}/events", params={"limit": 1}).json()
    assert listed["total"] == EVENTS
    times = [e["time"] for kind in ("completions", "vector_stores") for e in all_events(big, kind)]
    assert min(times) >= CLOCK - 120 * DAY and max(times) < CLOCK


def test_the_synthetic_history_depends_on_the_seed_only() -> None:
    params = {"start_time": CLOCK - 30 * DAY, "limit": 30, "group_by": "line_item"}

    def costs(seed: int) -> bytes:
        with TestClient(usage_server(seed=seed), base_url="http://mock") as client:
            return UsageApi(client).usage("costs", params).content

    first = costs(3)
    assert costs(3) == first
    assert costs(4) != first


def test_reset_draws_the_synthetic_history_again(big: UsageApi) -> None:
    before = big.usage("completions", {"start_time": CLOCK - 7 * DAY}).content
    big.clear()
    assert big.client.get(f"{CONTROL}/events", params={"limit": 1}).json()["total"] == 0
    big.reset()
    assert big.client.get(f"{CONTROL}/events", params={"limit": 1}).json()["total"] == EVENTS
    assert big.usage("completions", {"start_time": CLOCK - 7 * DAY}).content == before


@pytest.mark.parametrize("text", ["-1", "many", "1.5", "99999999999"])
def test_an_unusable_event_count_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        event_count(text)


def batch(index: int, size: int) -> list[dict]:
    """Completion events of one batch, spread over the last two days, repeating combos."""
    return [{"kind": "completions", "time": CLOCK - 2 * DAY + (index * 7919 + n * 104_729) % (2 * DAY),
             "project_id": f"proj_{n % 3}", "api_key_id": f"key_{n % 5}", "model": ("gpt-4o", "o1")[n % 2],
             "batch": n % 7 == 0, "input_tokens": n * 13 + index, "input_cached_tokens": n,
             "output_tokens": n % 97, "num_model_requests": 1 + n % 4} for n in range(size)]


BATCHED = [
    ("completions", Query("1m", CLOCK - DAY - 59, CLOCK - DAY + 3 * HOUR + 1, 1440, {}, ["model"])),
    ("completions", Query("1h", CLOCK - 2 * DAY + 1, None, 168, {"project_ids": ["proj_1"]}, ["batch", "api_key_id"])),
    ("completions", Query("1d", CLOCK - 3 * DAY + 11, None, 31, {}, [])),
]


def test_events_added_in_many_batches_then_saved_and_loaded_answer_as_the_oracle(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    events: list[dict] = []
    with TestClient(usage_server(events=None, state_file=path), base_url="http://mock") as client:
        api = UsageApi(client)
        api.clear()
        for index in range(12):  # uneven batches: runs of several sizes merge along the way
            added = batch(index, 50 + 40 * (index % 4))
            api.add(added)
            events.extend(added)
        pages = {str(query): check_usage(api, KINDS[kind], query, events) for kind, query in BATCHED}
        costs = api.usage("costs", {"start_time": CLOCK - 3 * DAY, "group_by": ["line_item", "project_id"]}).content
        listed = all_events(api, "completions")
    with TestClient(usage_server(events=None, state_file=path), base_url="http://mock") as client:
        api = UsageApi(client)
        assert all_events(api, "completions") == listed
        for kind, query in BATCHED:
            assert check_usage(api, KINDS[kind], query, events) == pages[str(query)]
        assert api.usage("costs", {"start_time": CLOCK - 3 * DAY, "group_by": ["line_item", "project_id"]}).content \
            == costs


def test_batches_that_leave_counters_out_merge_with_batches_that_give_them(empty: UsageApi) -> None:
    """Runs keep only the counters some event of theirs has; merged runs line their counters up."""
    events: list[dict] = []
    for index in range(9):  # nine batches: runs merge four at a time at every level
        added = [{"kind": "completions", "time": CLOCK - 2 * HOUR + index * 60 + n, "model": "gpt-4o"}
                 for n in range(3)]  # every counter left out: a run without any counter column
        if index % 2:
            added[0]["input_tokens"] = 5 + index
        if index % 3 == 0:
            added[1]["num_model_requests"] = 2
        empty.add(added)
        events.extend(added)
    for width in ("1m", "1h", "1d"):
        check_usage(empty, KINDS["completions"], Query(width, CLOCK - 3 * HOUR + 1, None, 1440 if width == "1m"
                                                       else 168 if width == "1h" else 31, {}, ["model"]), events)
    counters = dict.fromkeys(KINDS["completions"].counters, 0)  # listed with every counter
    assert all_events(empty, "completions") == [{**counters, **event} for event in events]  # added in time order


def test_a_state_file_from_before_the_columns_loads_its_day_rows(api: UsageApi) -> None:
    """Its usage was a row per kind and day of [time, dimensions, counters]; costs rows were derived."""
    kind = KINDS["embeddings"]
    store = api.client.app.runtimes["openai_usage"].new_store()
    store.load_records({"admin_keys": [{"id": "k", "name": "", "value": "sk-admin-old-state"}], "cost_events": [],
                        "units": {}, "events": [
                            {"kind": "embeddings", "rows": [[CLOCK - 50, ["proj_a", None, "key_1", "m"], [30, 2]]]},
                            {"kind": "costs", "rows": [[CLOCK - 50, ["proj_a", "key_1", "m"], [0.5, 30.0]]]}]})
    assert store.list_events(["embeddings", "costs"], 0, None, 10) == (1, [{
        "kind": "embeddings", "time": CLOCK - 50, **dict(zip(kind.dimensions, ["proj_a", None, "key_1", "m"], strict=True)),
        **dict(zip(kind.counters, [30, 2], strict=True))}])
    assert list(store.admin_keys) == ["sk-admin-old-state"]
