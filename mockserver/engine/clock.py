"""The engine's clock: real time by default, settable and freezable so timestamps are reproducible."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    def set(self, when: float, *, frozen: bool) -> None:
        with self._lock:
            if frozen:
                self._frozen_at, self._offset = float(when), 0.0
            else:
                self._frozen_at, self._offset = None, float(when) - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
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

    def describe(self) -> dict:
        now = self.now()
        return {"now": now, "iso": iso(now), "frozen": self.frozen, "offset": self._offset}

    def export(self) -> dict:
        return {"frozen_at": self._frozen_at, "offset": self._offset}

    def restore(self, data: dict) -> None:
        with self._lock:
            self._frozen_at = data.get("frozen_at")
            self._offset = float(data.get("offset") or 0.0)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def parse_instant(value: str | int | float) -> float:
    """Unix seconds, or an ISO 8601 instant (a naive one is taken as UTC)."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
