"""The engine's clock: real time by default, settable and freezable so timestamps are reproducible."""

from __future__ import annotations

import math
import threading
import time
import typing as t
from datetime import datetime, timezone

LATEST = 253402300799.0  # 9999-12-31T23:59:59Z, the last instant ISO 8601 and datetime can show
DAY = 86400


def day_start(now: float) -> int:
    """The start (UTC midnight, Unix seconds) of `now`'s day: packs draw seeded history by whole
    days, so that one day's draws serve every reset of that day on a clock running in real time."""
    end = int(now)
    return end - end % DAY


def check_instant(when: float) -> float:
    """`when` as a float, or ValueError if no timestamp shown to a client could express it."""
    when = as_seconds(when)
    if not math.isfinite(when) or not 0 <= when <= LATEST:
        raise ValueError(f"{when!r} is not a Unix time between 1970 and 9999")
    return when


def as_seconds(value: t.Any) -> float:
    """A number of seconds as a float; ValueError for anything else, including an integer too
    large for a float (float() raises OverflowError) and text of thousands of digits."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise ValueError("a number too large for any time") from None
    except TypeError:
        raise ValueError(f"{type(value).__name__} is not a number") from None


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    def set(self, when: float, *, frozen: bool) -> None:
        when = check_instant(when)
        with self._lock:
            if frozen:
                self._frozen_at, self._offset = float(when), 0.0
            else:
                self._frozen_at, self._offset = None, float(when) - time.time()

    def advance(self, seconds: float) -> None:
        seconds = as_seconds(seconds)
        with self._lock:
            check_instant(self.now() + seconds)
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._frozen_at, self._offset = None, 0.0

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def describe(self) -> dict[str, t.Any]:
        now = self.now()
        return {"now": now, "iso": iso(now), "frozen": self.frozen, "offset": self._offset}

    def export(self) -> dict[str, t.Any]:
        return {"frozen_at": self._frozen_at, "offset": self._offset}

    def restore(self, data: dict[str, t.Any]) -> None:
        frozen_at, offset = self.parse_export(data)
        with self._lock:
            self._frozen_at, self._offset = frozen_at, offset

    @staticmethod
    def parse_export(data: dict[str, t.Any]) -> tuple[float | None, float]:
        """(frozen_at, offset) from `export()`, checked as a whole: ValueError if either is off."""
        if not isinstance(data, dict):
            raise ValueError("clock must be an object")
        frozen_at = data.get("frozen_at")
        offset = data.get("offset") or 0.0
        if isinstance(frozen_at, bool) or isinstance(offset, bool):
            raise ValueError("clock values must be numbers")
        try:
            offset = as_seconds(offset)
            frozen_at = None if frozen_at is None else check_instant(frozen_at)
            check_instant(time.time() + offset)
        except (TypeError, ValueError) as error:
            raise ValueError(f"clock: {error}") from None
        return frozen_at, offset


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def parse_instant(value: str | int | float) -> float:
    """Unix seconds, or an ISO 8601 instant (a naive one is taken as UTC); ValueError otherwise."""
    if isinstance(value, (int, float)):
        return as_seconds(value)
    text = value.strip()
    if len(text) > 64:  # no instant is written longer; and float() of megabytes of digits is slow
        raise ValueError(f"{len(text)} characters is too long for an instant")
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
