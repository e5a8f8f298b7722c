"""What an InvokeAI server has while it runs, beside its gallery and library: the ids it hands out
and the time it stamps (seeded and on the engine clock, so a replayed session gets the same), the
socket.io outbox, the log level, the invocation cache and the app's read-only configuration.

`StorePart` is the base of the store's parts (`gallery.Gallery`, `library.Library`): each works
under the store's lock, reports its changes to the store, and takes ids and times from here.
"""

from __future__ import annotations

import collections
import functools
import random
import typing as t
import uuid
from datetime import datetime, timezone

from mockserver.engine.clock import Clock
from mockserver.engine.pack import Store
from mockserver.engine.records import EVERY

LOG_LEVELS = (0, 10, 20, 30, 40, 50)
# What a change confined to the session queue touches, for `Store.changed`: the state database then
# reads the queue and not every image.
QUEUE_SECTIONS = (("queue", ""), ("queue_items", EVERY))

Event = tuple[str, dict, str | None]  # (name, data, room) for socket.io


@functools.lru_cache(maxsize=65536)
def timestamp(when: float) -> str:
    """InvokeAI's SQLite timestamp: `2026-11-22 00:35:19.686` (UTC, milliseconds). Memoized: a
    listing formats the same few times over and over, and strftime is most of its cost."""
    moment = datetime.fromtimestamp(when, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class Runtime:
    """Ids, time, events, log level and invocation cache of one InvokeAI server."""

    def __init__(self, rng: random.Random, prompt_rng: random.Random, clock: Clock, app: dict) -> None:
        self.rng = rng  # ids
        self.prompt_rng = prompt_rng  # random prompts and random nodes: ids stay put when they run
        self.clock = clock
        self.app = app  # version, config, app_deps, runtime_config: fixtures, read-only
        self.outbox: collections.deque[Event] = collections.deque(maxlen=10000)
        self.log_level = int(app.get("log_level", 20))
        self.cache: dict[str, t.Any] = {"enabled": bool(app.get("invocation_cache_enabled", True)),
                                        "max_size": int(app.get("invocation_cache_max_size", 512)),
                                        "hits": 0, "misses": 0, "entries": {}}
        self._tick = 0.0

    # -- ids and times ------------------------------------------------------------------------

    def new_id(self) -> str:
        """A UUID4 drawn from the seeded generator, so a replayed session gets the same ids."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> float:
        """The clock, nudged forward a millisecond per write when frozen: rows made in one frozen
        instant would otherwise tie on `created_at` and lose the order they were made in."""
        now = self.clock.now()
        self._tick = max(now, self._tick + 0.001)
        return self._tick

    # -- events -------------------------------------------------------------------------------

    def emit(self, event: str, data: dict, room: str | None = None) -> None:
        """Queue a socket.io event; the pack's companion delivers it (`events.py`)."""
        self.outbox.append((event, {"timestamp": int(self.clock.now()), **data}, room))

    def take_events(self) -> list[Event]:
        events = list(self.outbox)
        self.outbox.clear()
        return events

    # -- state file ---------------------------------------------------------------------------

    def cache_settings(self) -> dict:
        """The cache as the state file keeps it: switches and counters, not the entries."""
        return {k: v for k, v in self.cache.items() if k != "entries"}

    def load(self, data: dict) -> None:
        self.log_level = int(data.get("log_level", self.log_level))
        self.cache = {**self.cache, **data.get("cache", {}), "entries": {}}


class StorePart:
    """A part of the InvokeAI store: it works under the store's lock, tells the store what it
    changed (`Store.changed`, which the state file follows) and takes ids and times from the
    runtime."""

    def __init__(self, store: Store, runtime: Runtime) -> None:
        self.lock = store.lock
        self.runtime = runtime
        self._store = store

    def changed(self, *touched: tuple[str, t.Any]) -> None:
        self._store.changed(*touched)

    def new_id(self) -> str:
        return self.runtime.new_id()

    def now(self) -> float:
        return self.runtime.now()
