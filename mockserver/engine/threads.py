"""Blocking work off the event loop: image decoding and encoding, node execution, archive building.

Every request shares one event loop, so a handler that spends a second in Pillow stalls every
other client for that second. Such work goes to a small pool of worker threads instead (Pillow,
zlib and numpy release the GIL for most of what they do); the handler awaits it and then changes
the store on the loop, under the store's lock, so the store never sees half a change.

The pools are bounded: at most `LANES[lane]` heavy jobs of a lane run at once, the rest wait their
turn, so a burst of big uploads cannot hold more decoded images in memory than that. They are
made on first use, not at import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import typing as t

# Worker threads per lane. Two for requests' own work (uploads, previews, archives): the machine
# may have no more cores than that, and measured under load, four workers left the loop thread
# waiting for the CPU (a probe's p99 100 ms, against 12-28 ms with two). Sessions get a lane of
# their own (the queue runs one at a time), so an 8192² node never queues an upload behind it.
LANES = {"work": 2, "sessions": 1}
# Workers run at a lower CPU priority than the event loop's thread: when the machine is busy, the
# kernel gives the CPU to the thread answering requests first, and the heavy work takes what is
# left (it spends most of its time in Pillow, zlib and numpy with the GIL released, so a worker
# holding the GIL is rarely what the loop waits for).
WORKER_NICENESS = 10

_pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()

T = t.TypeVar("T")


def _executor(lane: str) -> concurrent.futures.ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(lane)
        if pool is None:
            pool = _pools[lane] = concurrent.futures.ThreadPoolExecutor(
                max_workers=LANES[lane], thread_name_prefix=f"mockserver-{lane}", initializer=_lower_priority)
        return pool


def _lower_priority() -> None:
    """Nice this worker thread (on Linux a thread has a priority of its own); where it cannot be
    done, the worker runs at the process's priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    except (AttributeError, OSError):
        pass


async def off_loop(work: t.Callable[..., T], /, *args: t.Any, lane: str = "work", **kwargs: t.Any) -> T:
    """`work(*args, **kwargs)` in a worker thread of `lane`; its result (or its exception) once it
    is done."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(lane), functools.partial(work, *args, **kwargs))
