"""Bucketing and grouping usage the way the API does.

Buckets are aligned to the bucket width in UTC, consecutive, and present even when empty. An event
counts when `start_time <= t < end_time`, so the first and last bucket may cover only part of their
width. Pages are runs of `limit` buckets; the cursor carries where the next page starts and the end
the first page was computed with, so later pages agree with the first.
"""

from __future__ import annotations

import base64
import struct
import typing as t
from dataclasses import dataclass

from mockserver.engine.issues import ApiError

WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, maximum)
COSTS_LIMITS = (7, 180)
_CURSOR = struct.Struct(">qq")


@dataclass(frozen=True, slots=True)
class Window:
    """The buckets of one page."""

    first: int  # start of the page's first bucket
    width: int
    count: int  # buckets on this page
    start: int  # the query's start_time (inclusive)
    end: int  # the query's end_time (exclusive)
    has_more: bool

    def buckets(self) -> t.Iterator[tuple[int, int, int, int]]:
        """(bucket start, bucket end, first counted second, end of counted seconds)."""
        for index in range(self.count):
            lo = self.first + index * self.width
            hi = lo + self.width
            yield lo, hi, max(lo, self.start), min(hi, self.end)

    @property
    def next_cursor(self) -> str | None:
        if not self.has_more:
            return None
        following = self.first + self.count * self.width
        return "page_" + base64.urlsafe_b64encode(_CURSOR.pack(following, self.end)).decode()


def page_window(*, start: int, end: int | None, now: float, width_name: str, limit: int | None,
                page: str | None, limits: tuple[int, int]) -> Window:
    width = WIDTHS[width_name]
    default_limit, max_limit = limits
    if limit is None:
        limit = default_limit
    if limit > max_limit:
        raise ApiError(400, f"Invalid 'limit': integer above maximum value. Expected a value <= {max_limit} "
                            f"for bucket_width={width_name}, but got {limit} instead.",
                       param="limit", code="integer_above_max_value")
    first = start - start % width
    if page is not None:
        first, end = _decode_cursor(page, start, width)
    if end is None:
        end = int(now)
        if end <= start:
            raise ApiError(400, f"Invalid 'start_time': {start} is in the future; give an end_time to "
                                "query a range after now.", param="start_time", code="invalid_value")
    if end <= start:
        raise ApiError(400, f"Invalid 'end_time': {end} must be greater than start_time ({start}).",
                       param="end_time", code="invalid_value")
    total = -(-(end - first) // width) if end > first else 0  # ceil: the last bucket may be partial
    count = max(0, min(limit, total))
    return Window(first, width, count, start, end, has_more=total > count)


def _decode_cursor(page: str, start: int, width: int) -> tuple[int, int]:
    try:
        if not page.startswith("page_"):
            raise ValueError
        following, end = _CURSOR.unpack(base64.urlsafe_b64decode(page[5:].encode()))
    except (ValueError, struct.error, TypeError):
        raise ApiError(400, f"Invalid 'page': '{page}' is not a page cursor returned by this endpoint.",
                       param="page", code="invalid_value") from None
    if following < start - start % width or following % width or end <= following:
        raise ApiError(400, "Invalid 'page': the cursor does not belong to this start_time and bucket_width.",
                       param="page", code="invalid_value")
    return following, end


def check_group_by(group_by: t.Sequence[str] | None, allowed: t.Sequence[str]) -> tuple[str, ...]:
    """The grouping fields in a canonical order (the spec already rejected unknown names)."""
    if not group_by:
        return ()
    wanted = set(group_by)
    return tuple(field for field in allowed if field in wanted)
