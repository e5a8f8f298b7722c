"""Time windows over the Chutes store's invocations, which are kept in start order (seeding, the
billing path and the control plane all keep them so, and a state load sorts them): a window is
found by bisection, so the last hour of a long history costs what the last hour holds, not what
the history holds."""

from __future__ import annotations

import bisect
import collections
import typing as t


def _start(invocation: dict) -> float:
    return invocation["started_at"]


def since(invocations: list[dict], start: float) -> list[dict]:
    """The invocations started at or after `start`, in start order."""
    return invocations[bisect.bisect_left(invocations, start, key=_start):]


def between(invocations: list[dict], low: float, high: float) -> list[dict]:
    """The invocations started in [low, high), in start order."""
    return invocations[bisect.bisect_left(invocations, low, key=_start):bisect.bisect_left(invocations, high,
                                                                                         key=_start)]


def counts_by_chute(invocations: list[dict], now: float,
                    windows: t.Mapping[str, float]) -> dict[str, collections.Counter]:
    """Per chute, how many invocations started in each window (seconds) ending just before `now`."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for invocation in between(invocations, now - max(windows.values(), default=0), now):
        started = invocation["started_at"]
        counter = counts[invocation["chute_id"]]
        for window, seconds in windows.items():
            if now - seconds <= started:
                counter[window] += 1
    return counts
