"""Deep copies of plain data (what a state export, a fixture or a request body holds: dicts, lists,
text, numbers, bytes), made by a pickle round trip.

`copy.deepcopy` walks the value in Python, one call per node; pickle does the same walk in C and
is five to ten times faster on a state export of a few hundred kB (a server's reset and every state
import copy one). The copy is the same: shared references stay shared, and types are kept."""

from __future__ import annotations

import copy
import pickle
import typing as t

T = t.TypeVar("T")


def deep_copy(value: T) -> T:
    """A deep copy of `value`; anything pickle cannot take is copied by `copy.deepcopy`."""
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(value)
    return t.cast(T, pickle.loads(data))  # noqa: S301 - bytes this function just made


class Frozen(t.Generic[T]):
    """A value kept as its pickle, for values that are copied far more often than made (fixtures
    every reset seeds from): `thaw()` is a fresh deep copy, without walking the value again."""

    def __init__(self, value: T) -> None:
        self._data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def thaw(self) -> T:
        return t.cast(T, pickle.loads(self._data))  # noqa: S301 - bytes this object made
