"""Blocking work off the event loop: image decoding and encoding, node execution, archive building.

Every request shares one event loop, so a handler that spends a second in Pillow stalls every
other client for that second. Such work goes to a small pool of worker threads instead (Pillow,
zlib and numpy release the GIL for most of what they do); the handler awaits it and then changes
the store on the loop, under the store's lock, so the store never sees half a change.

The pool is bounded: at most `WORKERS` heavy jobs run at once, the rest wait their turn, so a burst
of big uploads cannot hold more decoded images in memory than that. It is made on first use, not
at import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import typing as t

WORKERS = 4
# Workers run at a lower CPU priority than the event loop's thread: when the machine is busy, the
# kernel gives the CPU to the thread answering requests first, and the heavy work takes what is
# left (it spends most of its time in Pillow, zlib and numpy with the GIL released, so a worker
# holding the GIL is rarely what the loop waits for).
WORKER_NICENESS = 10

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

T = t.TypeVar("T")


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mockserver-work",
                                                          initializer=_lower_priority)
        return _pool


def _lower_priority() -> None:
    """Nice this worker thread (on Linux a thread has a priority of its own); where it cannot be
    done, the worker runs at the process's priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    except (AttributeError, OSError):
        pass


async def off_loop(work: t.Callable[..., T], /, *args: t.Any, **kwargs: t.Any) -> T:
    """`work(*args, **kwargs)` in a worker thread; its result (or its exception) once it is done."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(work, *args, **kwargs))
