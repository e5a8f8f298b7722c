"""Sessions run as InvokeAI's GraphExecutionState runs them: an `iterate` expands everything it
feeds into one prepared node per item (nested iterators: the full product), a `collect` gathers
the items back into its `collection`, and the session's mappings, results and history say so."""

from __future__ import annotations

import typing as t

from invokeai_support import edge, enqueue, graph, node, ok, set_speed

QUEUE = "/api/v1/queue/default"


def run(client: t.Any, g: dict) -> dict:
    set_speed(client, "instant")
    item_id = enqueue(client, g)["item_ids"][0]
    # the list route keeps null fields, as a client sees them in `items_by_ids`
    return ok(client.post(f"{QUEUE}/items_by_ids", json={"item_ids": [item_id]}))[0]


def prepared(session: dict, source: str) -> list[str]:
    return session["source_prepared_mapping"].get(source, [])


def outputs(session: dict, source: str, field: str) -> list:
    return [session["results"][p][field] for p in prepared(session, source)]


def add_ten_to_each() -> dict:
    return graph(node("numbers", "range", start=0, stop=3, step=1), node("each", "iterate"),
                 node("plus", "add", b=10), node("gather", "collect"),
                 edges=[edge("numbers", "collection", "each", "collection"), edge("each", "item", "plus", "a"),
                        edge("plus", "value", "gather", "item")])


def test_iterate_runs_what_it_feeds_once_per_item_and_collect_gathers_them(client: t.Any) -> None:
    item = run(client, add_ten_to_each())
    assert item["status"] == "completed"
    session = item["session"]
    assert [len(prepared(session, key)) for key in ("numbers", "each", "plus", "gather")] == [1, 3, 3, 1]
    assert outputs(session, "each", "item") == [0, 1, 2]
    assert outputs(session, "each", "index") == [0, 1, 2] and outputs(session, "each", "total") == [3, 3, 3]
    assert sorted(outputs(session, "plus", "value")) == [10, 11, 12]
    gathered = session["results"][prepared(session, "gather")[0]]
    assert gathered["type"] == "collect_output" and sorted(gathered["collection"]) == [10, 11, 12]
    # the executed collect node shows the list in `collection`, its `item` untouched
    collector = session["execution_graph"]["nodes"][prepared(session, "gather")[0]]
    assert sorted(collector["collection"]) == [10, 11, 12] and collector["item"] is None
    assert session["executed_history"] == ["numbers", "each", "plus", "gather"]
    assert {session["prepared_source_mapping"][p] for p in prepared(session, "plus")} == {"plus"}


def test_each_iteration_gets_its_own_prepared_iterator_with_its_index(client: t.Any) -> None:
    session = run(client, add_ten_to_each())["session"]
    iterators = [session["execution_graph"]["nodes"][p] for p in prepared(session, "each")]
    assert [n["index"] for n in iterators] == [0, 1, 2]
    assert all(n["collection"] == [0, 1, 2] for n in iterators)
    # each `plus` copy reads the iterator copy of its own iteration
    for plus in prepared(session, "plus"):
        feeding = [e["source"]["node_id"] for e in session["execution_graph"]["edges"]
                   if e["destination"]["node_id"] == plus]
        assert len(feeding) == 1 and session["results"][plus]["value"] == session["results"][feeding[0]]["item"] + 10


def test_two_independent_iterators_make_the_full_product(client: t.Any) -> None:
    g = graph(node("tens", "integer_collection", collection=[10, 20, 30]), node("ones", "range", start=1, stop=3),
              node("each_ten", "iterate"), node("each_one", "iterate"), node("sum", "add"), node("all", "collect"),
              edges=[edge("tens", "collection", "each_ten", "collection"),
                     edge("ones", "collection", "each_one", "collection"),
                     edge("each_ten", "item", "sum", "a"), edge("each_one", "item", "sum", "b"),
                     edge("sum", "value", "all", "item")])
    item = run(client, g)
    assert item["status"] == "completed"
    session = item["session"]
    assert len(prepared(session, "sum")) == 6
    gathered = session["results"][prepared(session, "all")[0]]["collection"]
    assert sorted(gathered) == [11, 12, 21, 22, 31, 32]


def test_an_iterator_fed_per_item_of_another_makes_the_product_of_both(client: t.Any) -> None:
    """The inner collection is made once per outer item and the inner iterator expands within each
    (2 outer × 2 inner = 4 copies); what follows the inner iterator is prepared for every (outer
    copy, inner copy) pair, 2 × 4 = 8, as the real executor's product over both iterators makes it."""
    g = graph(node("starts", "integer_collection", collection=[0, 100]), node("outer", "iterate"),
              node("span", "range_of_size", size=2, step=1), node("inner", "iterate"), node("double", "mul", b=2),
              node("all", "collect"),
              edges=[edge("starts", "collection", "outer", "collection"), edge("outer", "item", "span", "start"),
                     edge("span", "collection", "inner", "collection"), edge("inner", "item", "double", "a"),
                     edge("double", "value", "all", "item")])
    item = run(client, g)
    assert item["status"] == "completed"
    session = item["session"]
    assert [len(prepared(session, key)) for key in ("outer", "span", "inner", "double", "all")] == [2, 2, 4, 8, 1]
    assert sorted(outputs(session, "inner", "item")) == [0, 1, 100, 101]
    assert sorted(session["results"][prepared(session, "all")[0]]["collection"]) == [0, 0, 2, 2, 200, 200, 202, 202]


def test_collect_keeps_a_list_item_as_one_entry(client: t.Any) -> None:
    g = graph(node("a", "integer_collection", collection=[1, 2]), node("b", "integer_collection", collection=[3]),
              node("gather", "collect"),
              edges=[edge("a", "collection", "gather", "item"), edge("b", "collection", "gather", "item")])
    session = run(client, g)["session"]
    assert session["results"][prepared(session, "gather")[0]]["collection"] == [[1, 2], [3]]


def test_an_empty_iteration_runs_nothing_after_it(client: t.Any) -> None:
    """As on the real server: no prepared copies, and nothing later in the graph gets prepared."""
    g = graph(node("none", "integer_collection", collection=[]), node("each", "iterate"), node("plus", "add", b=1),
              node("gather", "collect"), node("lone", "integer", value=5),
              edges=[edge("none", "collection", "each", "collection"), edge("each", "item", "plus", "a"),
                     edge("plus", "value", "gather", "item")])
    item = run(client, g)
    assert item["status"] == "completed"
    session = item["session"]
    assert prepared(session, "each") == [] and prepared(session, "plus") == [] and prepared(session, "gather") == []
    assert "none" in session["executed_history"]


def test_events_name_each_prepared_node_and_its_source(client: t.Any, server: t.Any) -> None:
    store = server.runtimes["invokeai"].state.runtime
    seen: list[tuple[str, dict]] = []
    original = store.emit
    store.emit = lambda name, data, room=None: (seen.append((name, data)), original(name, data, room))[1]
    try:
        session = run(client, add_ten_to_each())["session"]
    finally:
        store.emit = original
    started = [data for name, data in seen if name == "invocation_started"]
    # the real pick: every iterator copy first (by index), then what each feeds, depth first
    assert [data["invocation_source_id"] for data in started] == \
        ["numbers", "each", "each", "each", "plus", "plus", "plus", "gather"]
    assert [data["invocation_source_id"] for data in started].count("plus") == 3
    assert {data["invocation"]["id"] for data in started if data["invocation_source_id"] == "plus"} == \
        set(prepared(session, "plus"))
    completed = [data for name, data in seen if name == "invocation_complete"]
    assert len(completed) == len(started) == 8


def test_a_value_an_edge_brings_is_checked_against_the_field_before_the_node_starts(client: t.Any,
                                                                                     server: t.Any) -> None:
    store = server.runtimes["invokeai"].state.runtime
    seen: list[str] = []
    original = store.emit
    store.emit = lambda name, data, room=None: (seen.append((name, data.get("invocation_source_id"))),
                                                original(name, data, room))[1]
    try:
        item = run(client, graph(node("size", "integer", value=300), node("n", "noise"),
                                 edges=[edge("size", "value", "n", "width")]))
    finally:
        store.emit = original
    assert item["status"] == "failed" and item["error_type"] == "NodeInputError"
    noise_id = prepared(item["session"], "n")[0]
    assert item["error_message"] == f"Node {noise_id} has invalid incoming input for width"  # not a multiple of 8
    assert ("invocation_started", "n") not in seen and ("invocation_error", "n") in seen


def test_a_value_an_edge_brings_is_coerced_as_pydantic_assigns_it(client: t.Any) -> None:
    item = run(client, graph(node("three", "integer", value=3), node("half", "float_math", operation="DIV", b=2),
                             edges=[edge("three", "value", "half", "a")]))
    session = item["session"]
    assert session["execution_graph"]["nodes"][prepared(session, "half")[0]]["a"] == 3.0
    assert outputs(session, "half", "value") == [1.5]


def test_a_node_validator_refuses_what_an_edge_brings(client: t.Any) -> None:
    item = run(client, graph(node("zero", "integer", value=0), node("m", "integer_math", operation="MOD", a=5),
                             edges=[edge("zero", "value", "m", "b")]))
    assert item["status"] == "failed" and item["error_type"] == "NodeInputError"
    assert item["error_message"].endswith("has invalid incoming input for b")
