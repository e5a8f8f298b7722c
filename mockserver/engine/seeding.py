"""Seeded generation done once: the same generator state and inputs give the same data, so a
pack's reset can take a copy of what an earlier reset generated instead of drawing it again.

Packs seed days of history on every reset (Chutes' invocations, OpenAI's usage events): thousands
of records drawn one `random` call at a time, tens of milliseconds of Python, repeated by every
test that starts from the fixtures. Unpickling a kept copy takes a fraction of that.
"""

from __future__ import annotations

import collections
import pickle
import random
import threading
import typing as t

from mockserver.engine.copies import Frozen

T = t.TypeVar("T")

_KEPT = 8  # distinct (state, inputs) pairs remembered; a test suite uses one or two per pack
_replays: collections.OrderedDict[tuple[t.Any, bytes, bool], tuple[t.Any, t.Any]] = collections.OrderedDict()
_lock = threading.Lock()


def replayed(rng: random.Random, inputs: t.Any, generate: t.Callable[[random.Random], T], *,
             shared: bool = False) -> T:
    """`generate(rng)`, or a new copy of what it returned before from the same generator state and
    the same `inputs` (everything else `generate` reads; picklable), with `rng` left where
    `generate` left it, since the store's generators are part of its state. With `shared`, the
    value itself, the same object every time: for a caller that only reads it (no copy to make)."""
    key = (rng.getstate(), pickle.dumps(inputs, pickle.HIGHEST_PROTOCOL), shared)
    with _lock:
        kept = _replays.get(key)
        if kept is not None:
            _replays.move_to_end(key)
    if kept is None:
        value: t.Any = generate(rng)
        kept = (value if shared else Frozen(value), rng.getstate())
        with _lock:
            _replays[key] = kept
            while len(_replays) > _KEPT:
                _replays.popitem(last=False)
    else:
        rng.setstate(kept[1])
    if shared:
        return t.cast(T, kept[0])
    return t.cast("Frozen[T]", kept[0]).thaw()
