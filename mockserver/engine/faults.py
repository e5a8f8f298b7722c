"""Fault injection: make an operation (or a whole pack) slow, fail, or drop the connection."""

from __future__ import annotations

import itertools
import threading
import typing as t
from dataclasses import asdict, dataclass


@dataclass
class Fault:
    id: int
    pack: str | None = None  # None: every pack
    operation_id: str | None = None  # None: every operation of the pack(s)
    latency_ms: int = 0
    status: int | None = None  # answer this status instead of calling the handler
    message: str | None = None  # the error text, rendered in the pack's dialect
    drop: bool = False  # close the connection without answering
    remaining: int | None = None  # how many more requests it applies to; None: until removed

    def matches(self, pack: str, operation_id: str | None) -> bool:
        return ((self.pack is None or self.pack == pack)
                and (self.operation_id is None or self.operation_id == operation_id))

    def to_json(self) -> dict[str, t.Any]:
        return asdict(self)


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, **fields: t.Any) -> Fault:
        with self._lock:
            fault = Fault(id=next(self._ids), **fields)
            self._faults.append(fault)
            return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) < before

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, pack: str, operation_id: str | None) -> Fault | None:
        """The first fault that applies to this request, counting it against `remaining`."""
        if not self._faults:  # the common case, without taking the lock
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(pack, operation_id):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
