"""The request journal: what clients sent and what they got, for tests to verify (as WireMock's)."""

from __future__ import annotations

import fnmatch
import itertools
import threading
import typing as t
from collections import deque
from dataclasses import dataclass

import orjson

_BODY_LIMIT = 64 * 1024


@dataclass(slots=True)
class Entry:
    id: int
    time: float
    pack: str
    operation_id: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    content_type: str
    status: int
    duration_ms: float

    def to_json(self) -> dict:
        return {
            "id": self.id, "time": self.time, "pack": self.pack, "operation_id": self.operation_id,
            "method": self.method, "path": self.path, "query": self.query,
            "headers": self.headers, "body": _body_view(self.body, self.content_type),
            "status": self.status, "duration_ms": round(self.duration_ms, 3),
        }


def _body_view(body: bytes, content_type: str) -> t.Any:
    """JSON bodies as JSON, text as text, anything else described by its size."""
    if not body:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        text = body[:_BODY_LIMIT].decode("utf-8")
    except UnicodeDecodeError:
        return {"bytes": len(body)}
    return text


class Journal:
    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.enabled = True

    def record(self, **fields: t.Any) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries.append(Entry(id=next(self._ids), **fields))

    def clear(self, pack: str | None = None) -> int:
        with self._lock:
            before = len(self._entries)
            if pack is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.pack != pack]
                self._entries.clear()
                self._entries.extend(kept)
            return before - len(self._entries)

    def find(self, *, pack: str | None = None, method: str | None = None, path: str | None = None,
             status: int | None = None, operation_id: str | None = None, since_id: int | None = None,
             limit: int | None = None) -> list[Entry]:
        """Matching entries, oldest first; `path` may be a glob (`/v1/organization/*`);
        `limit` keeps the newest."""
        with self._lock:
            entries = list(self._entries)
        method = method.upper() if method else None
        found = [
            e for e in entries
            if (pack is None or e.pack == pack) and (method is None or e.method == method)
            and (status is None or e.status == status)
            and (operation_id is None or e.operation_id == operation_id)
            and (since_id is None or e.id > since_id)
            and (path is None or e.path == path or fnmatch.fnmatchcase(e.path, path))
        ]
        return found[-limit:] if limit else found
