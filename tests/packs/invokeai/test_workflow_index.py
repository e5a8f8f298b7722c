"""The workflow index orders and counts the library exactly as today's sort over every record does
(NULLs first, ties in insertion order both ways), over random creates, renames, opens, deletions
and reloads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.packs.invokeai.workflow_index import ORDERS, WorkflowIndex, category_of, sort_value

CATEGORIES = ("user", "default", "project")
NAMES = ("A", "b", "B", "flow", "Flow 2")
TIMES = (5.0, 6.0, 7.5)

operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.sampled_from(CATEGORIES), st.sampled_from(TIMES)),
    st.tuples(st.just("rename"), st.integers(0, 30), st.sampled_from(NAMES), st.sampled_from(TIMES)),
    st.tuples(st.just("open"), st.integers(0, 30), st.sampled_from(TIMES)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("reload"),),
)
listing = st.tuples(st.one_of(st.none(), st.lists(st.sampled_from(CATEGORIES), max_size=3)),
                    st.sampled_from(ORDERS), st.booleans())


def scan(records: dict[str, dict], categories: list[str] | None, order_by: str, descending: bool) -> list[str]:
    rows = [r for r in records.values() if categories is None or category_of(r) in categories]
    rows.sort(key=lambda record: sort_value(record, order_by), reverse=descending)
    return [r["workflow_id"] for r in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=30), st.lists(listing, min_size=1, max_size=6))
def test_listings_and_counts_answer_as_a_sort_does(operations: list[tuple], listings: list[tuple]) -> None:
    records: dict[str, dict] = {}
    index = WorkflowIndex()
    for number, (kind, *args) in enumerate(operations):
        if kind == "create":
            name, category, when = args
            workflow_id = f"w{number}"
            records[workflow_id] = {"workflow_id": workflow_id, "created_at": when, "updated_at": when,
                                    "opened_at": None, "workflow": {"name": name, "meta": {"category": category}}}
            index.sync(workflow_id, records[workflow_id])
        elif kind == "reload":
            index.rebuild(records)
        elif records:
            workflow_id = list(records)[args[0] % len(records)]
            record = records[workflow_id]
            if kind == "rename":
                record["workflow"]["name"], record["updated_at"] = args[1], args[2]
            elif kind == "open":
                record["opened_at"] = record["updated_at"] = args[1]
            else:
                del records[workflow_id]
            index.sync(workflow_id, records.get(workflow_id))
    for categories, order_by, descending in listings:
        expected = scan(records, categories, order_by, descending)
        ordering = index.ordered(categories, order_by, descending)
        assert ordering.ids() == expected
        assert len(ordering) == len(expected)
        for start, size in ((0, 2), (1, 3), (len(expected) - 1, 5), (len(expected) + 2, 1)):
            assert ordering.page(max(start, 0), size) == expected[max(start, 0):max(start, 0) + size]
    for category in CATEGORIES:
        for opened in (None, True, False):
            assert index.count(category, opened) == sum(
                category_of(r) == category and (opened is None or (r["opened_at"] is not None) == opened)
                for r in records.values())
