"""Instances: the deployments of a chute that miners run, as records the whole pack reads.

An instance starts inactive and unverified; when its start-up is done (`ready_at`, on the engine
clock) it is active and verified, and its chute is hot. An instance of a private chute that has
been idle for the chute's `shutdown_after_seconds` scales down (goes away); the instances the
fixture world starts with stand for chutes its traffic keeps busy, and stay. `ChutesStore.settle()`
applies both as the clock moves; this module only keeps the records.
"""

from __future__ import annotations

import typing as t
from dataclasses import asdict, dataclass, fields

from mockserver.engine.clock import iso


@dataclass
class Instance:
    instance_id: str
    chute_id: str
    region: str
    gpu_model_name: str
    gpu_count: int
    created_at: float
    ready_at: float | None  # when start-up finishes (engine clock); None: it never does
    active: bool = False
    verified: bool = False
    last_used_at: float | None = None  # the last invocation it served
    scales_down: bool = True  # False for the fixture world's running instances, kept busy by its traffic
    ended_at: float | None = None  # set when it goes away, for whoever still holds it (a log stream)

    @property
    def hot(self) -> bool:
        """Routable: active and verified."""
        return self.active and self.verified

    @property
    def last_verified_at(self) -> str | None:
        return iso(self.ready_at) if self.verified and self.ready_at is not None else None

    def idle_since(self) -> float:
        """Scale-down counts idle time from the end of start-up or the last invocation."""
        return max(self.ready_at if self.ready_at is not None else self.created_at, self.last_used_at or 0.0)

    def summary(self) -> dict:
        """How the chute's `instances` list shows it."""
        return {"instance_id": self.instance_id, "region": self.region, "active": self.active,
                "verified": self.verified, "last_verified_at": self.last_verified_at}

    def warmup_entry(self) -> dict:
        """How `GET /chutes/warmup/{x}?quick=true` shows it."""
        return {"instance_id": self.instance_id, "active": self.active, "gpu_count": self.gpu_count,
                "gpu_model_name": self.gpu_model_name}


class Instances:
    """Every instance, by id, in the order they started."""

    def __init__(self) -> None:
        self._by_id: dict[str, Instance] = {}

    def __iter__(self) -> t.Iterator[Instance]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, instance_id: str) -> Instance | None:
        return self._by_id.get(instance_id)

    def for_chute(self, chute_id: str) -> list[Instance]:
        return [i for i in self._by_id.values() if i.chute_id == chute_id]

    def hot_for(self, chute_id: str) -> list[Instance]:
        """The instances an invocation of this chute may be routed to."""
        return [i for i in self._by_id.values() if i.chute_id == chute_id and i.hot]

    def add(self, instance: Instance) -> Instance:
        self._by_id[instance.instance_id] = instance
        return instance

    def remove(self, instance_id: str, when: float) -> Instance | None:
        instance = self._by_id.pop(instance_id, None)
        if instance is not None:
            instance.ended_at = when
        return instance

    def remove_chute(self, chute_id: str, when: float) -> list[Instance]:
        gone = self.for_chute(chute_id)
        for instance in gone:
            self.remove(instance.instance_id, when)
        return gone

    def touch(self, instance_id: str, now: float) -> None:
        """An invocation was served: the instance is not idle (scale-down starts over). Callers
        hold the store's lock and call `changed()`; `ChutesStore.instance_used` does both."""
        instance = self._by_id.get(instance_id)
        if instance is not None:
            instance.last_used_at = now

    def export(self) -> list[dict]:
        return [asdict(i) for i in self._by_id.values()]

    @classmethod
    def load(cls, rows: t.Iterable[dict]) -> "Instances":
        known = {f.name for f in fields(Instance)}
        loaded = cls()
        for row in rows:
            loaded.add(Instance(**{k: v for k, v in row.items() if k in known}))
        return loaded
