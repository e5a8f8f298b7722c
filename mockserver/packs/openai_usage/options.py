"""The pack's `mockserver serve` options, apart from the pack so that listing them imports nothing heavy."""

from __future__ import annotations

from mockserver.engine.pack import PackOption

MAX_EVENTS = 50_000_000


def event_count(text: str) -> int:
    """The `--openai-usage-events` value: how many events the seeded history holds."""
    try:
        count = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{text}: not a whole number of events") from None
    if not 0 <= count <= MAX_EVENTS:
        raise ValueError(f"{text}: give between 0 and {MAX_EVENTS:,} events")
    return count


EVENTS_OPTION = PackOption(
    flag="--openai-usage-events", metavar="N", parse=event_count,
    help="seed N usage events (every kind, over the history's 120 days, seeded by --seed) instead "
         "of the fixture's few thousand: a large organization for dashboards and benchmarks")
