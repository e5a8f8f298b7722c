"""The Usage and Costs API as a user of it notices: auth, parameters, pages, state, errors, seeds.

Every test asserts on HTTP responses of an in-process server (see conftest.py) whose responses are
validated against the spec, so a response that breaks the spec shows up as a 500.
"""

from __future__ import annotations

import collections
import typing as t

import pytest
from starlette.testclient import TestClient

CLOCK = 1_763_683_200  # the conftest server's frozen "now" (2025-11-21T00:00:00Z)
MINUTE, HOUR, DAY = 60, 3600, 86400
CONTROL = "/__mock__/packs/openai_usage"
USAGE_KINDS = ("completions", "embeddings", "moderations", "images", "audio_speeches", "audio_transcriptions",
               "vector_stores", "code_interpreter_sessions", "file_search_calls", "web_search_calls")
ALL_PATHS = tuple(f"/v1/organization/usage/{k}" for k in USAGE_KINDS) + ("/v1/organization/costs",)
MISSING_KEY_START = "You didn't provide an API key."


def error_of(response: t.Any, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    return error


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
def test_a_missing_key_is_refused_in_openais_words(api: t.Any, path: str) -> None:
    error = error_of(api.get(path, {"start_time": CLOCK - DAY}, headers={}), 401)
    assert error["message"].startswith(MISSING_KEY_START)
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None and error["code"] is None


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Basic c2stYWRtaW46", "sk-admin-mockserver"])
def test_an_empty_or_non_bearer_authorization_is_a_missing_key(api: t.Any, authorization: str) -> None:
    error = error_of(api.usage("completions", {"start_time": CLOCK - DAY},
                               headers={"Authorization": authorization}), 401)
    assert error["message"].startswith(MISSING_KEY_START)


def test_an_unknown_key_is_refused_and_redacted(api: t.Any) -> None:
    key = "sk-admin-not-a-key-we-know-0123456789abcd"
    error = error_of(api.usage("costs", {"start_time": CLOCK - DAY}, headers={"Authorization": f"Bearer {key}"}),
                     401)
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    message = error["message"]
    assert message.startswith("Incorrect API key provided: ")
    assert key not in message, "the key must not be echoed in full"
    shown = message.removeprefix("Incorrect API key provided: ").split(".")[0]
    assert "*" in shown and shown.endswith(key[-4:]) and len(shown) == len(key)


def test_the_seeded_admin_keys_work(api: t.Any) -> None:
    for key in ("sk-admin-mockserver", "sk-admin-ci-0b9f3c2e5a7d4e1f8c6b"):
        response = api.usage("completions", {"start_time": CLOCK - DAY}, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text


def test_an_admin_key_added_through_the_control_plane_works_until_reset(fresh: t.Any) -> None:
    key = "sk-admin-from-my-env-7f3a9c1e"
    headers = {"Authorization": f"Bearer {key}"}
    assert fresh.usage("completions", {"start_time": CLOCK - DAY}, headers=headers).status_code == 401

    added = fresh.client.post(f"{CONTROL}/admin_keys", json={"value": key, "name": "mine"})
    assert added.status_code == 201, added.text
    assert added.json()["value"] == key and added.json()["name"] == "mine"
    listed = fresh.client.get(f"{CONTROL}/admin_keys")
    assert key in [k["value"] for k in listed.json()]
    for path in ("/v1/organization/usage/completions", "/v1/organization/costs"):
        response = fresh.get(path, {"start_time": CLOCK - DAY}, headers=headers)
        assert response.status_code == 200, response.text

    fresh.reset()
    assert fresh.usage("completions", {"start_time": CLOCK - DAY}, headers=headers).status_code == 401


# -- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
def test_start_time_is_required(api: t.Any, path: str) -> None:
    error = error_of(api.get(path, {"bucket_width": "1d"}), 400)
    assert error["param"] == "start_time"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("param, value", [
    ("start_time", "yesterday"), ("start_time", "1763596800.5"), ("end_time", "soon"), ("limit", "ten"),
    ("limit", "1.5"),
])
def test_integers_must_be_integers(api: t.Any, param: str, value: str) -> None:
    params = {"start_time": CLOCK - DAY, param: value}
    error = error_of(api.usage("completions", params), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("kind, width", [("completions", "2h"), ("completions", "1w"), ("vector_stores", "day"),
                                         ("costs", "1h"), ("costs", "1m")])
def test_bucket_width_outside_its_enum_is_refused(api: t.Any, kind: str, width: str) -> None:
    error = error_of(api.usage(kind, {"start_time": CLOCK - DAY, "bucket_width": width}), 400)
    assert error["param"] == "bucket_width"


@pytest.mark.parametrize("width, maximum", [("1d", 31), ("1h", 168), ("1m", 1440)])
def test_limit_has_a_maximum_per_bucket_width(api: t.Any, width: str, maximum: int) -> None:
    start = CLOCK - 40 * DAY
    page = api.ok("embeddings", {"start_time": start, "bucket_width": width, "limit": maximum})
    assert len(page["data"]) == maximum and page["has_more"] is True

    error = error_of(api.usage("embeddings", {"start_time": start, "bucket_width": width, "limit": maximum + 1}),
                     400)
    assert error["param"] == "limit"
    assert str(maximum) in error["message"]


def test_costs_limit_goes_up_to_180(api: t.Any) -> None:
    page = api.ok("costs", {"start_time": CLOCK - 200 * DAY, "limit": 180})
    assert len(page["data"]) == 180
    error = error_of(api.usage("costs", {"start_time": CLOCK - 200 * DAY, "limit": 181}), 400)
    assert error["param"] == "limit"


@pytest.mark.parametrize("kind", ["completions", "costs"])
def test_limit_zero_is_refused(api: t.Any, kind: str) -> None:
    error = error_of(api.usage(kind, {"start_time": CLOCK - DAY, "limit": 0}), 400)
    assert error["param"] == "limit"


@pytest.mark.parametrize("kind, width, default", [
    ("completions", None, 7), ("completions", "1d", 7), ("images", "1h", 24), ("web_search_calls", "1m", 60),
    ("costs", None, 7), ("costs", "1d", 7),
])
def test_limit_defaults_per_bucket_width(api: t.Any, kind: str, width: str | None, default: int) -> None:
    params: dict[str, t.Any] = {"start_time": CLOCK - 60 * DAY}
    if width:
        params["bucket_width"] = width
    page = api.ok(kind, params)
    assert len(page["data"]) == default
    assert page["has_more"] is True and isinstance(page["next_page"], str)
    expected_width = {"1m": MINUTE, "1h": HOUR, "1d": DAY, None: DAY}[width]
    assert all(b["end_time"] - b["start_time"] == expected_width for b in page["data"])


@pytest.mark.parametrize("cursor", ["xyz", "page_", "page_!!!!", "page_AAAAAAAAAAA=", "cGFnZV8x"])
def test_a_page_cursor_we_did_not_hand_out_is_refused(api: t.Any, cursor: str) -> None:
    error = error_of(api.usage("completions", {"start_time": CLOCK - DAY, "page": cursor}), 400)
    assert error["param"] == "page"


def test_a_cursor_from_another_bucket_width_is_refused(api: t.Any) -> None:
    start = CLOCK - 3 * DAY
    page = api.ok("completions", {"start_time": start, "bucket_width": "1h", "limit": 5})
    error = error_of(api.usage("completions", {"start_time": start, "bucket_width": "1d",
                                               "page": page["next_page"]}), 400)
    assert error["param"] == "page"


@pytest.mark.parametrize("delta", [0, -1, -DAY])
def test_end_time_must_be_after_start_time(api: t.Any, delta: int) -> None:
    start = CLOCK - DAY
    error = error_of(api.usage("completions", {"start_time": start, "end_time": start + delta}), 400)
    assert error["param"] == "end_time"


@pytest.mark.parametrize("kind, bad", [
    ("completions", "bogus"), ("completions", "size"), ("vector_stores", "model"),
    ("embeddings", "batch"), ("costs", "model"), ("images", "context_level"),
])
def test_an_unknown_group_by_field_is_refused(api: t.Any, kind: str, bad: str) -> None:
    error = error_of(api.usage(kind, [("start_time", CLOCK - DAY), ("group_by", bad)]), 400)
    assert error["param"].startswith("group_by")
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("kind, fields, filters", [
    ("completions", ["model", "project_id"], [("models", "gpt-4o-2024-08-06"), ("models", "o3-mini-2025-01-31")]),
    ("images", ["size", "source", "model"], [("sizes", "1024x1024"), ("sizes", "512x512")]),
    ("costs", ["line_item", "project_id"], [("project_ids", "proj_default"), ("project_ids", "proj_search")]),
])
def test_arrays_with_and_without_brackets_are_the_same(api: t.Any, kind: str, fields: list[str],
                                                        filters: list[tuple[str, str]]) -> None:
    base = [("start_time", CLOCK - 5 * DAY)]
    plain = api.usage(kind, base + [("group_by", f) for f in fields] + filters)
    bracketed = api.usage(kind, base + [("group_by[]", f) for f in fields] + [(k + "[]", v) for k, v in filters])
    assert plain.status_code == bracketed.status_code == 200, (plain.text, bracketed.text)
    assert plain.content == bracketed.content
    results = [r for b in plain.json()["data"] for r in b["results"]]
    assert results, "the seeded history has usage in these days"
    assert all(r[f] is not None for r in results for f in fields)


def test_a_single_group_by_value_is_an_array_of_one(api: t.Any) -> None:
    one = api.usage("completions", {"start_time": CLOCK - 2 * DAY, "group_by": "model"})
    bracketed = api.usage("completions", {"start_time": CLOCK - 2 * DAY, "group_by[]": "model"})
    assert one.status_code == bracketed.status_code == 200
    assert one.content == bracketed.content


# -- buckets --------------------------------------------------------------------------------------


def test_buckets_are_aligned_consecutive_and_present_when_empty(empty: t.Any) -> None:
    start = CLOCK - 5 * HOUR + 17 * MINUTE  # not on an hour
    empty.add([
        {"kind": "completions", "time": start - 1, "model": "m", "input_tokens": 1000},  # before the start
        {"kind": "completions", "time": start, "model": "m", "input_tokens": 1, "num_model_requests": 1},
        {"kind": "completions", "time": CLOCK - 2 * HOUR + 5, "model": "m", "input_tokens": 10,
         "num_model_requests": 2},
        {"kind": "completions", "time": CLOCK - 1, "model": "m", "input_tokens": 100},
        {"kind": "completions", "time": CLOCK, "model": "m", "input_tokens": 1000},  # now: excluded
    ])
    page = empty.ok("completions", {"start_time": start, "bucket_width": "1h"})
    buckets = page["data"]
    first = start - start % HOUR
    assert [(b["start_time"], b["end_time"]) for b in buckets] == \
           [(first + i * HOUR, first + (i + 1) * HOUR) for i in range(5)]
    assert page["has_more"] is False and page["next_page"] is None
    tokens = [[r["input_tokens"] for r in b["results"]] for b in buckets]
    assert tokens == [[1], [], [], [10], [100]]
    result = buckets[0]["results"][0]
    assert result["object"] == "organization.usage.completions.result"
    assert result["num_model_requests"] == 1 and result["output_tokens"] == 0
    assert all(result[f] is None for f in ("project_id", "user_id", "api_key_id", "model", "batch",
                                             "service_tier"))


def test_end_time_is_exclusive_and_cuts_the_last_bucket(empty: t.Any) -> None:
    day = CLOCK - 3 * DAY
    empty.add([{"kind": "embeddings", "time": day + h * HOUR, "input_tokens": 1, "num_model_requests": 1}
               for h in range(48)])
    page = empty.ok("embeddings", {"start_time": day, "end_time": day + DAY + 6 * HOUR})
    assert [(b["start_time"], b["end_time"]) for b in page["data"]] == [(day, day + DAY), (day + DAY, day + 2 * DAY)]
    assert [b["results"][0]["input_tokens"] for b in page["data"]] == [24, 6]


def test_one_page_equals_the_pages_of_a_smaller_limit(api: t.Any) -> None:
    params = [("start_time", CLOCK - 3 * DAY + 1234), ("end_time", CLOCK - 7), ("bucket_width", "1h"),
              ("group_by", "model"), ("group_by", "batch")]
    whole = api.ok("completions", params + [("limit", 168)])
    assert whole["has_more"] is False and len(whole["data"]) == 72
    pages, cursor = [], None
    while True:
        page = api.ok("completions", params + [("limit", 10)] + ([("page", cursor)] if cursor else []))
        pages.append(page)
        if not page["has_more"]:
            break
        cursor = page["next_page"]
    assert [len(p["data"]) for p in pages] == [10] * 7 + [2]
    assert [b for p in pages for b in p["data"]] == whole["data"]


def test_pages_of_an_open_ended_query_end_at_now(api: t.Any) -> None:
    start = CLOCK - 2 * DAY
    first = api.ok("costs", {"start_time": start, "limit": 1, "group_by": "line_item"})
    second = api.ok("costs", {"start_time": start, "limit": 1, "group_by": "line_item", "page": first["next_page"]})
    assert second["has_more"] is False and second["next_page"] is None
    whole = api.ok("costs", {"start_time": start, "group_by": "line_item"})
    assert first["data"] + second["data"] == whole["data"]
    assert whole["data"][-1]["end_time"] == CLOCK


def test_an_open_ended_query_ends_at_the_clocks_now(empty: t.Any) -> None:
    empty.add([{"kind": "embeddings", "time": CLOCK - 10, "input_tokens": 1},
               {"kind": "embeddings", "time": CLOCK + 10, "input_tokens": 2}])  # in the future, for now
    params = {"start_time": CLOCK - 2 * HOUR, "bucket_width": "1h"}
    page = empty.ok("embeddings", params)
    assert [[r["input_tokens"] for r in b["results"]] for b in page["data"]] == [[], [1]]
    try:
        advanced = empty.client.post("/__mock__/clock/advance", json={"seconds": 30 * MINUTE})
        assert advanced.status_code == 200, advanced.text
        page = empty.ok("embeddings", params)
        assert [b["start_time"] for b in page["data"]] == [CLOCK - 2 * HOUR, CLOCK - HOUR, CLOCK]
        assert [[r["input_tokens"] for r in b["results"]] for b in page["data"]] == [[], [1], [2]]
    finally:
        restored = empty.client.put("/__mock__/clock", json={"now": CLOCK, "frozen": True})
        assert restored.status_code == 200, restored.text


def test_groups_and_filters_partition_the_totals(api: t.Any) -> None:
    """On the seeded history: grouped results and complementary filters add up to the ungrouped total."""
    base = {"start_time": CLOCK - 10 * DAY, "limit": 10}
    total = api.ok("completions", base)
    by_model = api.ok("completions", {**base, "group_by": "model"})
    batch = api.ok("completions", {**base, "batch": "true"})
    not_batch = api.ok("completions", {**base, "batch": "false"})

    def sums(page: dict) -> list[collections.Counter]:
        out = []
        for bucket in page["data"]:
            counter: collections.Counter = collections.Counter()
            for result in bucket["results"]:
                counter.update({k: v for k, v in result.items() if k.endswith("tokens") or k.startswith("num_")})
            out.append(counter)
        return out

    assert any(b["results"] for b in total["data"])
    assert sums(by_model) == sums(total)
    assert [a + b for a, b in zip(sums(batch), sums(not_batch), strict=True)] == sums(total)
    assert all(len(b["results"]) <= 1 for b in total["data"])


def test_costs_line_items_add_up_to_the_total(api: t.Any) -> None:
    base = {"start_time": CLOCK - 7 * DAY}
    total = api.ok("costs", base)
    items = api.ok("costs", {**base, "group_by": "line_item"})
    for whole, split in zip(total["data"], items["data"], strict=True):
        assert len(whole["results"]) == 1
        assert sum(r["amount"]["value"] for r in split["results"]) == \
               pytest.approx(whole["results"][0]["amount"]["value"], rel=1e-9)
        for result in split["results"]:
            assert result["line_item"] and result["quantity"] is not None and result["quantity_unit"]


# -- state ----------------------------------------------------------------------------------------


def test_events_added_show_up_in_usage_and_costs(empty: t.Any) -> None:
    t0 = CLOCK - DAY + 3 * HOUR
    empty.add([
        {"kind": "completions", "time": t0, "project_id": "proj_x", "api_key_id": "key_x", "user_id": "user-x",
         "model": "gpt-4o-mini-2024-07-18", "batch": False, "service_tier": "default",
         "input_tokens": 2_000_000, "input_cached_tokens": 1_000_000, "output_tokens": 500_000,
         "num_model_requests": 4},
        {"kind": "web_search_calls", "time": t0 + 60, "project_id": "proj_x", "api_key_id": "key_x",
         "model": "gpt-4.1", "context_level": "high", "num_requests": 100, "num_model_requests": 100},
    ])
    params = {"start_time": CLOCK - DAY, "end_time": CLOCK}
    completions = empty.ok("completions", {**params, "group_by": ["project_id", "model"]})
    [result] = completions["data"][0]["results"]
    assert result["project_id"] == "proj_x" and result["model"] == "gpt-4o-mini-2024-07-18"
    assert result["user_id"] is None and result["batch"] is None
    assert (result["input_tokens"], result["input_cached_tokens"], result["output_tokens"],
            result["num_model_requests"]) == (2_000_000, 1_000_000, 500_000, 4)
    web = empty.ok("web_search_calls", {**params, "group_by": "context_level"})
    assert [(r["context_level"], r["num_requests"]) for r in web["data"][0]["results"]] == [("high", 100)]
    assert empty.ok("images", params)["data"][0]["results"] == []

    # 1M * 0.15 + 1M * 0.075 + 0.5M * 0.60 per 1M tokens, and 100 high-context calls at $30 / 1k
    costs = empty.ok("costs", params)
    [total] = costs["data"][0]["results"]
    assert total["amount"] == {"value": pytest.approx(0.525 + 3.0), "currency": "usd"}
    assert (total["line_item"], total["project_id"], total["quantity"], total["quantity_unit"]) == \
           (None, None, None, None)

    items = empty.ok("costs", {**params, "group_by": ["line_item", "project_id"]})
    found = {r["line_item"]: r for r in items["data"][0]["results"]}
    assert len(found) == 4, found  # input, cached input, output, web search calls
    assert all(r["project_id"] == "proj_x" and r["api_key_id"] is None for r in found.values())
    units = sorted((r["quantity"], r["quantity_unit"]) for r in found.values())
    assert units == [(100, "calls"), (500_000, "tokens"), (1_000_000, "tokens"), (1_000_000, "tokens")]
    assert sum(r["amount"]["value"] for r in found.values()) == pytest.approx(3.525)
    assert all("gpt-4o-mini-2024-07-18" in name for name, r in found.items() if r["quantity_unit"] == "tokens")

    filtered = empty.ok("costs", {**params, "project_ids": "proj_other"})
    assert filtered["data"][0]["results"] == []


def test_cost_events_added_directly(empty: t.Any) -> None:
    t0 = CLOCK - DAY + 5
    empty.add([
        {"kind": "costs", "time": t0, "line_item": "support plan", "amount": 12.5, "quantity": 1,
         "quantity_unit": "seats", "project_id": "proj_a"},
        {"kind": "costs", "time": t0 + 1, "line_item": "support plan", "amount": 2.5, "quantity": 1,
         "quantity_unit": "seats", "project_id": "proj_b"},
    ])
    page = empty.ok("costs", {"start_time": CLOCK - DAY, "group_by": "line_item"})
    assert page["data"][0]["results"] == [{
        "object": "organization.costs.result", "amount": {"value": 15.0, "currency": "usd"},
        "line_item": "support plan", "project_id": None, "api_key_id": None, "quantity": 2.0,
        "quantity_unit": "seats"}]


def test_clearing_events_forgets_quantity_units_too(empty: t.Any) -> None:
    """After DELETE /events nothing of the old organization should show, not even a line item's unit."""
    t0 = CLOCK - DAY + 5
    empty.add([{"kind": "costs", "time": t0, "line_item": "consulting", "amount": 1.0, "quantity": 3,
                "quantity_unit": "hours"}])
    empty.clear()
    empty.add([{"kind": "costs", "time": t0, "line_item": "consulting", "amount": 1.0, "quantity": 3}])
    [result] = empty.ok("costs", {"start_time": CLOCK - DAY, "group_by": "line_item"})["data"][0]["results"]
    assert result["quantity_unit"] is None, "a unit recorded before the events were cleared leaked through"


def test_a_quantity_without_a_unit_is_not_reported(empty: t.Any) -> None:
    empty.add([{"kind": "costs", "time": CLOCK - DAY + 5, "line_item": "credit", "amount": 4.0}])
    [result] = empty.ok("costs", {"start_time": CLOCK - DAY, "group_by": "line_item"})["data"][0]["results"]
    assert result["amount"]["value"] == 4.0
    assert result["quantity"] is None and result["quantity_unit"] is None


def test_a_future_start_time_without_end_time_names_start_time(api: t.Any) -> None:
    response = api.usage("completions", {"start_time": CLOCK + 3600})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "start_time"
    # with an end_time, a future range is a valid (empty) question
    page = api.ok("completions", {"start_time": CLOCK + 3600, "end_time": CLOCK + 7200, "bucket_width": "1h"})
    assert [b["results"] for b in page["data"]] == [[]]


def test_control_plane_refuses_fields_of_another_kind(api: t.Any) -> None:
    response = api.client.post(f"{CONTROL}/events", json={"events": [
        {"kind": "vector_stores", "time": CLOCK - 10, "usage_bytes": 5, "model": "gpt-4o"}]})
    assert response.status_code == 400
    assert "model" in response.text


def test_the_seeded_history_is_at_least_90_days_and_reset_restores_it(fresh: t.Any) -> None:
    params = {"start_time": CLOCK - 95 * DAY, "limit": 31, "group_by": "model"}
    kinds = ("completions", "embeddings", "images", "costs")
    before = {kind: fresh.usage(kind, params).content for kind in kinds}
    completions = fresh.ok("completions", params)
    assert all(b["results"] for b in completions["data"][5:31]), "daily usage from 90 days back"
    assert sum(r["num_model_requests"] for b in completions["data"] for r in b["results"]) > 0

    fresh.clear()
    assert all(b["results"] == [] for b in fresh.ok("completions", params)["data"])
    fresh.reset()
    assert {kind: fresh.usage(kind, params).content for kind in kinds} == before


def test_an_exported_state_imports_to_the_same_answers(fresh: t.Any) -> None:
    fresh.add([{"kind": "costs", "time": CLOCK - 100, "line_item": "support plan", "amount": 1.5, "quantity": 3,
                "quantity_unit": "seats"},
               {"kind": "completions", "time": CLOCK - 50, "model": "my-model", "batch": True, "input_tokens": 5}])
    params = [("start_time", CLOCK - 30 * DAY), ("limit", 30), ("group_by", "line_item")]
    before = [fresh.usage("costs", params).content,
              fresh.usage("completions", params[:2] + [("group_by", "model"), ("group_by", "batch")]).content]
    state = fresh.client.get("/__mock__/packs/openai_usage/state")
    assert state.status_code == 200
    fresh.reset()
    loaded = fresh.client.put("/__mock__/packs/openai_usage/state", json=state.json())
    assert loaded.status_code == 200, loaded.text
    after = [fresh.usage("costs", params).content,
             fresh.usage("completions", params[:2] + [("group_by", "model"), ("group_by", "batch")]).content]
    assert after == before


# -- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/organization/usage/nothing", "/v1/organization/usage", "/v1/nothing",
                                  "/v1/organization/costs/extra"])
def test_unknown_paths_are_openai_404s(api: t.Any, path: str) -> None:
    error = error_of(api.get(path, {"start_time": CLOCK - DAY}), 404)
    assert error["message"] == f"Invalid URL (GET {path})"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/v1/organization/usage/completions", "/v1/organization/costs"])
def test_other_methods_are_405(api: t.Any, method: str, path: str) -> None:
    response = api.client.request(method, path, params={"start_time": CLOCK - DAY},
                                  headers={"Authorization": "Bearer sk-admin-mockserver"})
    error = error_of(response, 405)
    assert error["message"] == f"Invalid method for URL ({method} {path})"


# -- seeds ----------------------------------------------------------------------------------------


SNAPSHOT_QUERIES = [
    ("completions", [("start_time", CLOCK - 30 * DAY), ("limit", 30), ("group_by", "model"),
                     ("group_by", "project_id")]),
    ("images", [("start_time", CLOCK - DAY), ("bucket_width", "1h"), ("group_by", "size")]),
    ("file_search_calls", [("start_time", CLOCK - 7 * DAY), ("group_by", "vector_store_id")]),
    ("costs", [("start_time", CLOCK - 30 * DAY), ("limit", 30), ("group_by", "line_item")]),
]


def snapshot(client: TestClient) -> list[bytes]:
    out = []
    for kind, params in SNAPSHOT_QUERIES:
        path = "/v1/organization/costs" if kind == "costs" else f"/v1/organization/usage/{kind}"
        response = client.get(path, params=params, headers={"Authorization": "Bearer sk-admin-mockserver"})
        assert response.status_code == 200, response.text
        out.append(response.content)
    return out


def test_the_same_seed_and_clock_give_the_same_bytes_and_another_seed_does_not(
        fresh: t.Any, server_factory: t.Callable[..., t.Any]) -> None:
    ours = snapshot(fresh.client)
    with TestClient(server_factory(seed=7), base_url="http://mock") as twin:
        assert snapshot(twin) == ours
    with TestClient(server_factory(seed=8), base_url="http://mock") as other:
        theirs = snapshot(other)
    assert all(a != b for a, b in zip(theirs, ours, strict=True))


@pytest.mark.parametrize("bad", [
    {"events": [{"kind": "completions", "time": "noon"}]},
    {"events": [{"kind": "telepathy", "time": 1}]},
    {"events": [{"time": 1}]},
    {"events": "all of them"},
    {"admin_keys": [1, 2]},
])
def test_a_malformed_pack_state_is_refused_and_changes_nothing(fresh: t.Any, bad: dict) -> None:
    params = {"start_time": CLOCK - 3 * DAY}
    before = fresh.usage("completions", params).content
    response = fresh.client.put("/__mock__/packs/openai_usage/state", json=bad)
    assert response.status_code == 400
    assert "state not loaded" in response.json()["error"]["message"]
    assert fresh.usage("completions", params).content == before


def test_costs_filter_by_line_item_as_the_sdk_sends_it(empty: t.Any) -> None:
    t0 = CLOCK - DAY + 5
    empty.add([{"kind": "costs", "time": t0, "line_item": "a", "amount": 1.0},
               {"kind": "costs", "time": t0, "line_item": "b", "amount": 2.0},
               {"kind": "costs", "time": t0, "line_item": "c", "amount": 4.0}])
    page = empty.ok("costs", "start_time=%d&line_items[]=a&line_items[]=c" % (CLOCK - DAY))
    assert page["data"][0]["results"][0]["amount"]["value"] == 5.0


def test_integer_parameters_take_integer_literals_only(api: t.Any) -> None:
    for text in ("1e3", "1.0", "0x10", ""):
        response = api.usage("completions", {"start_time": CLOCK - DAY, "limit": text})
        assert response.status_code == 400, text
        assert response.json()["error"]["param"] == "limit"
