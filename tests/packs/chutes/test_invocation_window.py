"""Invocation windows found by bisection answer what a walk over every invocation answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.packs.chutes.invocation_window import between, counts_by_chute, since

WINDOWS = {"5m": 300, "15m": 900, "1h": 3600}
invocations = st.lists(st.tuples(st.sampled_from(("c1", "c2", "c3")), st.integers(0, 8000).map(float)),
                       max_size=60).map(lambda rows: sorted(({"chute_id": chute, "started_at": started, "n": number}
                                                             for number, (chute, started) in enumerate(rows)),
                                                            key=lambda i: i["started_at"]))


@settings(max_examples=200, deadline=None)
@given(invocations, st.integers(0, 9000).map(float), st.integers(0, 4000).map(float))
def test_windows_answer_as_a_walk_does(rows: list[dict], now: float, width: float) -> None:
    assert since(rows, now - width) == [i for i in rows if i["started_at"] >= now - width]
    assert between(rows, now - width, now) == [i for i in rows if now - width <= i["started_at"] < now]
    counted = counts_by_chute(rows, now, WINDOWS)
    for chute in ("c1", "c2", "c3"):
        expected = {window: sum(1 for i in rows if i["chute_id"] == chute and now - seconds <= i["started_at"] < now)
                    for window, seconds in WINDOWS.items()}
        assert {window: counted.get(chute, {}).get(window, 0) for window in WINDOWS} == expected
