"""The official `openai` SDK (3.x, `client.admin.organization.usage`) against a live `mockserver serve`.

One server for the module: seed 11, clock frozen, responses validated against the spec (a response
that breaks the spec would come back as a 500 and fail the call). Every usage operation and costs is
called with `group_by` and filters, every page is followed through `next_page`, and the figures must
agree with each other: grouped totals equal ungrouped totals over the same range, a filter keeps
exactly the groups it names, and the bucket width does not change a range's total.
"""

from __future__ import annotations

import importlib
import math
import typing as t
from dataclasses import dataclass, field

import httpx
import pytest
from lazy import lazy_module

openai = lazy_module("openai")  # imported when a test runs, not at collection (tests/lazy.py)

pytestmark = pytest.mark.live

CLOCK = "2025-06-15T12:00:00Z"
NOW = 1749988800  # CLOCK in Unix seconds
SERVE_ARGS = ("--api", "openai_usage", "--seed", "11", "--clock", CLOCK, "--validate-responses")
ADMIN_KEY = "sk-admin-mockserver"
DAY, HOUR, MINUTE = 86400, 3600, 60

# An unaligned range (10 days and a bit, ending 2h17m before "now"), so the first and last buckets
# are partial; limit 3 with 1d buckets spreads it over several pages.
START = NOW - 10 * DAY - 5 * HOUR - 7 * MINUTE
END = NOW - 2 * HOUR - 17 * MINUTE
LIMIT = 3


@dataclass(frozen=True)
class Kind:
    name: str  # the SDK method and the path segment
    result_class: str  # the SDK model a result must parse into
    counters: tuple[str, ...]  # summed per bucket
    group_by: tuple[str, ...]  # every grouping field the spec allows
    filters: dict[str, list] = field(default_factory=dict)  # SDK keyword → values
    filtered: dict[str, set] = field(default_factory=dict)  # result field → values the filter keeps


_COMPLETION_COUNTERS = (
    "input_tokens", "output_tokens", "input_cached_tokens", "input_cache_write_tokens",
    "input_uncached_tokens", "input_text_tokens", "output_text_tokens", "input_cached_text_tokens",
    "input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens", "input_image_tokens",
    "input_cached_image_tokens", "output_image_tokens", "num_model_requests",
)
_WHO = ("project_id", "user_id", "api_key_id")

KINDS = [
    Kind("completions", "DataResultOrganizationUsageCompletionsResult", _COMPLETION_COUNTERS,
         _WHO + ("model", "batch", "service_tier"),
         {"models": ["gpt-4o-2024-08-06", "o3-mini-2025-01-31"], "batch": False},
         {"model": {"gpt-4o-2024-08-06", "o3-mini-2025-01-31"}, "batch": {False}}),
    Kind("embeddings", "DataResultOrganizationUsageEmbeddingsResult", ("input_tokens", "num_model_requests"),
         _WHO + ("model",), {"models": ["text-embedding-3-small", "text-embedding-3-large"]},
         {"model": {"text-embedding-3-small", "text-embedding-3-large"}}),
    Kind("moderations", "DataResultOrganizationUsageModerationsResult", ("input_tokens", "num_model_requests"),
         _WHO + ("model",), {"user_ids": ["user-alice", "user-bob", "user-carol"]},
         {"user_id": {"user-alice", "user-bob", "user-carol"}}),
    Kind("images", "DataResultOrganizationUsageImagesResult", ("images", "num_model_requests"),
         _WHO + ("model", "size", "source"),
         {"sources": ["image.generation"], "sizes": ["1024x1024", "256x256"]},
         {"source": {"image.generation"}, "size": {"1024x1024", "256x256"}}),
    Kind("audio_speeches", "DataResultOrganizationUsageAudioSpeechesResult", ("characters", "num_model_requests"),
         _WHO + ("model",), {"api_key_ids": ["key_default_alice", "key_support_prod", "key_studio_erin"]},
         {"api_key_id": {"key_default_alice", "key_support_prod", "key_studio_erin"}}),
    Kind("audio_transcriptions", "DataResultOrganizationUsageAudioTranscriptionsResult",
         ("seconds", "num_model_requests"), _WHO + ("model",),
         {"project_ids": ["proj_default", "proj_search"]}, {"project_id": {"proj_default", "proj_search"}}),
    Kind("vector_stores", "DataResultOrganizationUsageVectorStoresResult", ("usage_bytes",), ("project_id",),
         {"project_ids": ["proj_default", "proj_support_bot"]},
         {"project_id": {"proj_default", "proj_support_bot"}}),
    Kind("code_interpreter_sessions", "DataResultOrganizationUsageCodeInterpreterSessionsResult",
         ("num_sessions",), ("project_id",), {"project_ids": ["proj_studio", "proj_search"]},
         {"project_id": {"proj_studio", "proj_search"}}),
    Kind("file_search_calls", "DataResultOrganizationUsageFileSearchesResult", ("num_requests",),
         _WHO + ("vector_store_id",), {"vector_store_ids": ["vs_docs_main", "vs_support_kb"]},
         {"vector_store_id": {"vs_docs_main", "vs_support_kb"}}),
    Kind("web_search_calls", "DataResultOrganizationUsageWebSearchesResult",
         ("num_model_requests", "num_requests"), _WHO + ("model", "context_level"),
         {"context_levels": ["low", "high"], "models": ["gpt-4o-2024-08-06"]},
         {"context_level": {"low", "high"}, "model": {"gpt-4o-2024-08-06"}}),
]
COSTS = Kind("costs", "DataResultOrganizationCostsResult", ("amount",), ("project_id", "line_item", "api_key_id"),
             {"project_ids": ["proj_default", "proj_studio"]}, {"project_id": {"proj_default", "proj_studio"}})
ALL_KINDS = [*KINDS, COSTS]


@pytest.fixture(scope="module")
def client(live_server: str) -> openai.OpenAI:
    # max_retries=0: a failure should show the mock's first answer, not a retried one.
    return openai.OpenAI(admin_api_key=ADMIN_KEY, api_key="unused", base_url=f"{live_server}/v1", max_retries=0)


# -- helpers ------------------------------------------------------------------------------------


def response_module(kind: Kind) -> t.Any:
    return importlib.import_module(f"openai.types.admin.organization.usage_{kind.name}_response")


def fetch_all(client: openai.OpenAI, kind: Kind, **params: t.Any) -> list[t.Any]:
    """Every page of one query, following `next_page` with the same parameters."""
    method = getattr(client.admin.organization.usage, kind.name)
    module = response_module(kind)
    page_class = getattr(module, next(n for n in module.__all__ if n.startswith("Usage")))
    result_class = getattr(module, kind.result_class)
    pages = [method(**params)]
    while pages[-1].has_more:
        assert pages[-1].next_page, "has_more without a next_page cursor"
        assert len(pages) < 100, "pagination does not end"
        pages.append(method(**params, page=pages[-1].next_page))
    assert pages[-1].next_page is None
    for page in pages:
        assert isinstance(page, page_class), type(page)
        assert page.object == "page"
        for bucket in page.data:
            assert isinstance(bucket, module.Data), type(bucket)
            assert bucket.object == "bucket"
            assert isinstance(bucket.start_time, int) and isinstance(bucket.end_time, int)
            for result in bucket.results:
                assert isinstance(result, result_class), (type(result).__name__, result)
    return pages


def buckets_of(pages: list[t.Any]) -> list[t.Any]:
    return [bucket for page in pages for bucket in page.data]


def check_buckets(pages: list[t.Any], *, start: int, end: int, width: int, limit: int) -> None:
    """Aligned to the width in UTC, consecutive across pages, covering [start, end), `limit` a page."""
    buckets = buckets_of(pages)
    first = start - start % width
    expected = math.ceil((end - first) / width)
    assert len(buckets) == expected
    assert [len(page.data) for page in pages] == [limit] * (len(pages) - 1) + [expected - limit * (len(pages) - 1)]
    for index, bucket in enumerate(buckets):
        assert bucket.start_time == first + index * width, index
        assert bucket.end_time == bucket.start_time + width, index
        assert bucket.start_time % width == 0
    assert buckets[0].start_time <= start < buckets[0].end_time
    assert buckets[-1].start_time < end <= buckets[-1].end_time


def value(result: t.Any, counter: str) -> float:
    if counter == "amount":
        return result.amount.value
    number = getattr(result, counter)
    assert isinstance(number, int) and not isinstance(number, bool), (counter, number)
    return number


def totals(pages: list[t.Any], kind: Kind, keep: t.Callable[[t.Any], bool] = lambda result: True) -> dict:
    sums = dict.fromkeys(kind.counters, 0)
    for bucket in buckets_of(pages):
        for result in bucket.results:
            if keep(result):
                for counter in kind.counters:
                    sums[counter] += value(result, counter)
    return sums


def assert_totals_equal(kind: Kind, actual: dict, expected: dict) -> None:
    if kind is COSTS:  # each amount is rounded to 10 decimals, so sums differ in the last places
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-6)
    else:  # token and request counts are exact
        assert actual == expected


def check_results(pages: list[t.Any], kind: Kind, group: tuple[str, ...]) -> None:
    """Grouping fields are filled in (one result per distinct group) when grouped by, null otherwise.

    A grouped field may still be null for usage that has no such dimension (code interpreter and
    vector store costs belong to a project, not to an API key), but not for all of it."""
    dimensions = set(kind.group_by)
    seen: dict[str, set] = {name: set() for name in group}
    for bucket in buckets_of(pages):
        keys = [tuple(getattr(result, name) for name in group) for result in bucket.results]
        assert len(keys) == len(set(keys)), f"duplicate groups in bucket {bucket.start_time}: {keys}"
        if not group:
            assert len(bucket.results) <= 1
        for result in bucket.results:
            for name in dimensions - set(group):
                assert getattr(result, name) is None, (name, result)
            for name in group:
                seen[name].add(getattr(result, name))
    for name, values in seen.items():
        assert values - {None}, f"grouped by {name}, but no result says which {name} it is"


# -- every operation ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=[k.name for k in ALL_KINDS])
def test_grouped_and_filtered_pages_add_up(client: openai.OpenAI, kind: Kind) -> None:
    window = {"start_time": START, "end_time": END, "bucket_width": "1d", "limit": LIMIT}
    group = list(kind.group_by)

    plain = fetch_all(client, kind, **window)
    grouped = fetch_all(client, kind, **window, group_by=group)
    for pages in (plain, grouped):
        assert len(pages) > 1  # the point is to follow next_page
        check_buckets(pages, start=START, end=END, width=DAY, limit=LIMIT)
    check_results(plain, kind, ())
    check_results(grouped, kind, tuple(kind.group_by))

    total = totals(plain, kind)
    assert total[kind.counters[0]] > 0, "the seeded history should give this range some usage"
    assert_totals_equal(kind, totals(grouped, kind), total)

    # Filters: the filtered totals are exactly the unfiltered groups that match, grouped or not.
    filtered_plain = fetch_all(client, kind, **window, **kind.filters)
    filtered_grouped = fetch_all(client, kind, **window, **kind.filters, group_by=group)
    check_buckets(filtered_grouped, start=START, end=END, width=DAY, limit=LIMIT)
    check_results(filtered_grouped, kind, tuple(kind.group_by))
    for bucket in buckets_of(filtered_grouped):
        for result in bucket.results:
            for name, allowed in kind.filtered.items():
                assert getattr(result, name) in allowed, (name, result)

    def matches(result: t.Any) -> bool:
        return all(getattr(result, name) in allowed for name, allowed in kind.filtered.items())

    expected = totals(grouped, kind, keep=matches)
    assert 0 < expected[kind.counters[0]] < total[kind.counters[0]], "the filter should keep some, not all"
    assert_totals_equal(kind, totals(filtered_plain, kind), expected)
    assert_totals_equal(kind, totals(filtered_grouped, kind), expected)


def test_costs_line_items_carry_quantities(client: openai.OpenAI) -> None:
    pages = fetch_all(client, COSTS, start_time=START, end_time=END, group_by=["line_item"], limit=LIMIT)
    results = [result for bucket in buckets_of(pages) for result in bucket.results]
    assert results
    for result in results:
        assert result.line_item
        assert result.amount.currency == "usd" and result.amount.value >= 0
        assert result.quantity is not None and result.quantity >= 0
        assert result.quantity_unit


@pytest.mark.parametrize(("width", "seconds", "limit", "span"), [
    ("1h", HOUR, 24, 2 * DAY + 3 * HOUR),
    ("1m", MINUTE, 60, 6 * HOUR + 11 * MINUTE),  # 18-30 completions a day: hours, so some fall inside
], ids=["1h", "1m"])
def test_bucket_width_does_not_change_totals(client: openai.OpenAI, width: str, seconds: int, limit: int,
                                             span: int) -> None:
    kind = KINDS[0]  # completions: the busiest kind
    start, end = END - span, END
    fine = fetch_all(client, kind, start_time=start, end_time=end, bucket_width=width, limit=limit,
                     group_by=["model"])
    check_buckets(fine, start=start, end=end, width=seconds, limit=limit)
    daily = fetch_all(client, kind, start_time=start, end_time=end, bucket_width="1d", limit=7)
    total = totals(daily, kind)
    assert total["num_model_requests"] > 0
    assert totals(fine, kind) == total


# -- errors as the SDK raises them --------------------------------------------------------------


def test_wrong_admin_key_raises_authentication_error(live_server: str) -> None:
    wrong = openai.OpenAI(admin_api_key="sk-admin-not-a-real-key", api_key="unused", base_url=f"{live_server}/v1",
                   max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.admin.organization.usage.completions(start_time=START)
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert raised.value.body["code"] == "invalid_api_key"
    assert "sk-admin-not-a-real-key" not in raised.value.body["message"]  # keys are shown redacted


@pytest.mark.parametrize(("kind", "params"), [
    ("completions", {"bucket_width": "1d", "limit": 32}),  # 1d allows at most 31 buckets
    ("embeddings", {"bucket_width": "1h", "limit": 169}),  # 1h: at most 168
    ("images", {"bucket_width": "1m", "limit": 1441}),  # 1m: at most 1440 (also the schema's maximum)
    ("costs", {"limit": 181}),  # costs: at most 180
], ids=["1d", "1h", "1m", "costs"])
def test_limit_over_the_maximum_raises_bad_request(client: openai.OpenAI, kind: str, params: dict) -> None:
    method = getattr(client.admin.organization.usage, kind)
    with pytest.raises(openai.BadRequestError) as raised:
        method(start_time=START, **params)
    error = raised.value
    assert error.status_code == 400
    assert error.param == "limit" and error.body["param"] == "limit"
    assert error.body["type"] == "invalid_request_error"
    assert error.code == "integer_above_max_value"
    assert str(params["limit"]) in error.body["message"]


def test_foreign_page_cursor_raises_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.admin.organization.usage.moderations(start_time=START, page="not-a-cursor")
    assert raised.value.param == "page"


def test_sdk_sends_bracket_arrays(client: openai.OpenAI, live_server: str) -> None:
    """The SDK writes arrays as `group_by[]=a&group_by[]=b`; the mock must read them as arrays."""
    page = client.admin.organization.usage.embeddings(
        start_time=START, end_time=END, group_by=["model", "project_id"],
        models=["text-embedding-3-small", "text-embedding-3-large"], limit=LIMIT)
    assert {result.model for bucket in page.data for result in bucket.results} <= {
        "text-embedding-3-small", "text-embedding-3-large"}
    journal = httpx.get(f"{live_server}/__mock__/journal",
                        params={"operation_id": "usage-embeddings", "limit": 1}).json()
    query = httpx.QueryParams(journal["requests"][-1]["query"])
    assert query.get_list("group_by[]") == ["model", "project_id"]
    assert query.get_list("models[]") == ["text-embedding-3-small", "text-embedding-3-large"]


@pytest.mark.parametrize(("kind", "width", "limit"), [
    ("completions", "1d", 31), ("embeddings", "1h", 168), ("images", "1m", 1440), ("costs", None, 180),
], ids=["1d", "1h", "1m", "costs"])
def test_limit_at_the_maximum_is_accepted(client: openai.OpenAI, kind: str, width: str | None, limit: int) -> None:
    method = getattr(client.admin.organization.usage, kind)
    params = {"bucket_width": width} if width else {}
    page = method(start_time=NOW - 200 * DAY, end_time=NOW, limit=limit, **params)
    assert len(page.data) == limit and page.has_more
