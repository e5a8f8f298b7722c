"""Write-ahead durability for `--state-file`: a change is on disk before its answer leaves.

The server holds back the start of every answer to a mutating request (pack APIs and the
control plane) until `Durability.durable()` returns: a commit that began after the request's
change has completed. Commits are grouped: while one is being written, every request finishing
meanwhile joins the next, which is one transaction for all of them. Changes nobody waits for
(the queue runner, the clock, an instance scaling down) are committed every `interval` seconds.

A commit reads each store under its lock only long enough to serialize the records of stores
that changed (`records.capture`); comparing with the disk, writing blob files and the SQLite
transaction happen in the writer thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import typing as t
from dataclasses import dataclass

from mockserver.engine import records
from mockserver.engine.clock import Clock
from mockserver.engine.statefile import CommitStats, PackCapture, StateDatabase

if t.TYPE_CHECKING:
    from mockserver.engine.server import PackRuntime

log = logging.getLogger("mockserver.state")

SERVER = "~server"  # the pseudo-pack holding the clock
GENERATORS = "~generators"  # each pack's section of generator positions


@dataclass
class LoadedState:
    clock: dict[str, t.Any] | None
    packs: dict[str, dict[str, t.Any]]  # pack → durable records (with GENERATORS)


class Durability:
    def __init__(self, database: StateDatabase, runtimes: t.Mapping[str, "PackRuntime"], clock: Clock, *,
                 interval: float = 0.5) -> None:
        self.database = database
        self.runtimes = runtimes
        self.clock = clock
        self.interval = interval
        self.last_stats = CommitStats()
        self._saved: dict[str, tuple[int, int]] = {}  # pack → (id of its store, version) on disk
        self._compare_all: set[str] = set()  # packs whose next commit compares every record
        self._saved_clock: dict[str, t.Any] | None = None
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mockserver-state")
        self._commit_lock = threading.Lock()
        self._batch: asyncio.Future[t.Any] | None = None  # requests waiting for the next commit
        self._draining: asyncio.Task[t.Any] | None = None
        self._closed = False

    # -- what changed -------------------------------------------------------------------------

    def dirty(self) -> bool:
        """Anything changed since the last commit (cheap: versions, not contents)."""
        return (any(self._saved.get(name) != (id(r.state), r.state.version) for name, r in self.runtimes.items())
                or self.clock.export() != self._saved_clock)

    def _capture(self) -> tuple[dict[str, PackCapture], dict[str, tuple[int, int]], dict[str, t.Any], set[str]]:
        """Serialize every store that changed since the last commit, each under its lock."""
        captures: dict[str, PackCapture] = {}
        marks: dict[str, tuple[int, int]] = {}
        complete: set[str] = set()
        for name, runtime in self.runtimes.items():
            store = runtime.state
            with store.lock:
                mark = (id(store), store.version)
                if self._saved.get(name) == mark:
                    continue
                touched = store.take_touched()  # after reading the version: see `changed`
                sections = store.durable_records()
                if not isinstance(sections, dict):
                    raise TypeError(f"{name}: durable_records() must return a dict")
                saved = self._saved.get(name)
                if touched is None or saved is None or saved[0] != id(store) or name in self._compare_all:
                    capture = records.capture(sections)
                    complete.add(name)
                else:
                    capture = records.capture_touched(sections, touched)
                capture[GENERATORS] = records.capture(
                    {GENERATORS: records.Rows({label: _position(g) for label, g in store.generators.items()},
                                              as_dict=True)})[GENERATORS]
            captures[name] = capture
            marks[name] = mark
        clock = self.clock.export()
        if clock != self._saved_clock:
            captures[SERVER] = records.capture({"clock": clock})
            complete.add(SERVER)
        return captures, marks, clock, complete

    # -- committing ---------------------------------------------------------------------------

    def commit(self) -> bool:
        """Capture and write what changed; in any thread. False when nothing had changed."""
        with self._commit_lock:
            captures, marks, clock, complete = self._capture()
            if not captures:
                return False
            try:
                self.last_stats = self.database.write(captures, complete)
            except BaseException:
                self._compare_all.update(marks)  # the names of what changed went with this capture
                raise
            self._compare_all.difference_update(marks)
            self._saved.update(marks)
            self._saved_clock = clock
            return True

    async def durable(self) -> None:
        """Return once every change made before this call is committed (at once when none was).
        A failed commit raises here, for each request that waited for it."""
        if not self.dirty():
            return
        loop = asyncio.get_running_loop()
        if self._batch is None or self._batch.get_loop() is not loop:
            self._batch = loop.create_future()
        batch = self._batch
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        await asyncio.shield(batch)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._batch is not None:
            batch, self._batch = self._batch, None
            try:
                await loop.run_in_executor(self._writer, self.commit)
            except Exception as error:  # noqa: BLE001 - handed to every request in the batch
                log.exception("could not write the state file %s", self.database.path)
                if not batch.done():
                    batch.set_exception(error)
                    batch.exception()  # retrieved here: a batch nobody awaits any more is no error
            else:
                if not batch.done():
                    batch.set_result(None)

    async def commit_periodically(self) -> None:
        """Background changes nobody waits for: the queue runner, model jobs, the clock."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.durable()
            except Exception:  # noqa: BLE001 - logged by _drain; try again next time
                pass

    def start(self) -> None:
        """Serving (again): a server stopped and started in one process reopens its database."""
        if not self.database.is_open:
            self.database.open()
        if self._closed:
            self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mockserver-state")
            self._closed = False

    def close(self) -> None:
        """The last commit (in the calling thread), then close the database."""
        try:
            self.commit()
        finally:
            self._writer.shutdown(wait=True)
            self.database.close()
            self._closed = True

    # -- loading ------------------------------------------------------------------------------

    def open(self) -> LoadedState | None:
        """Open the database; what it holds, or None when it holds nothing yet."""
        self.database.open()
        started = time.perf_counter()
        saved = self.database.read()
        removed = self.database.remove_unreferenced_blobs()
        if removed:
            log.info("state: removed %d blob files no record refers to", removed)
        log.info("state: read %s in %.3f s", self.database.path, time.perf_counter() - started)
        if not saved:
            return None
        clock = (saved.pop(SERVER, None) or {}).get("clock")
        return LoadedState(clock, saved)

    def mark_saved(self, packs: t.Iterable[str], clock: bool) -> None:
        """These packs (and the clock) as served now are what the database holds: right after
        loading them from it. Packs it did not hold are written by the first commit."""
        for name in packs:
            runtime = self.runtimes[name]
            with runtime.state.lock:
                self._saved[name] = (id(runtime.state), runtime.state.version)
                runtime.state.take_touched()  # loading touched everything, all of it on disk
        if clock:
            self._saved_clock = self.clock.export()


def _position(generator: t.Any) -> list[t.Any]:
    version, internal, gauss = generator.getstate()
    return [version, list(internal), gauss]


def restore_generators(store: t.Any, positions: t.Mapping[str, t.Any] | None) -> None:
    for label, position in (positions or {}).items():
        generator = store.generators.get(label)
        if generator is not None:
            version, internal, gauss = position
            generator.setstate((version, tuple(internal), gauss))
