"""InvokeAI's model jobs on the engine clock: the install jobs (`model_installs.InstallJobs`) and the
download queue (`model_downloads.DownloadQueue`) they share with standalone downloads.

`advance(now)` replays every transition due by `now`, in order, and emits the socket.io events
InvokeAI emits for them. Nothing runs in the background: a job only moves when somebody calls
`advance`, and then it moves exactly as far as the clock says, so a frozen clock freezes every job
and a replayed session gets the same ids, times and events.
"""

from __future__ import annotations

import itertools
import random
import threading
import typing as t

from mockserver.engine.clock import Clock
from mockserver.packs.invokeai.model_downloads import JOB_DONE, DownloadQueue, Events, Step
from mockserver.packs.invokeai.model_installs import InstallJobs, JobPace, ModelRegistry
from mockserver.packs.invokeai.model_sources import _Catalogue

Emit = t.Callable[[str, dict], None]


class ModelJobs:
    """One server's model jobs: `installs`, `downloads` and their `pace`, moved together on the
    engine clock; the operations that touch both queues, or emit, are here. Every method takes the
    manager's lock (`lock`) and emits once it is released."""

    def __init__(self, registry: ModelRegistry, catalogue: _Catalogue, rng: random.Random, clock: Clock,
                 emit: Emit, lock: threading.RLock) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.emit = emit
        self.lock = lock
        self.pace = JobPace()
        self.downloads = DownloadQueue(registry, clock, lock)
        self.installs = InstallJobs(registry, self.downloads, self.pace, catalogue, rng, clock, lock)
        self.reset()

    # -- state --------------------------------------------------------------------------------

    def reset(self) -> None:
        self.installs.reset()
        self.downloads.reset()
        self._now = float("-inf")
        self.moves = 0  # transitions applied so far: a caller can tell whether `advance` changed anything

    def durable_records(self) -> dict:
        """The jobs as the manager's export shows them (live: read under the lock)."""
        return {"speed": self.pace.speed, "installs": self.installs.jobs, "next_install_id": self.installs.next_id,
                **self.downloads.durable_records(), "now": self._now if self._now != float("-inf") else None}

    def load(self, data: dict) -> None:
        self.reset()
        self.pace.speed = data.get("speed", self.pace.speed)
        self.installs.load(data)
        self.downloads.load(data)
        now = data.get("now")
        self._now = float(now) if now is not None else float("-inf")

    def _emit_all(self, events: Events) -> None:
        for name, payload in events:
            self.emit(name, payload)

    # -- the clock ------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every job transition due by `now`, oldest first, emitting its events. Idempotent:
        a second call with the same (or an earlier) time changes nothing."""
        events: Events = []
        with self.lock:
            while True:
                step = self._next_step()
                if step is None or step[0] > now:
                    break
                step[1](step[0], events)
                self.moves += 1
            self.downloads.live_bytes(now)
            self.installs.live_bytes()
            self._now = max(now, self._now)
        self._emit_all(events)

    def _next_step(self) -> Step | None:
        """The earliest step due; between steps due at once, installs first, each queue in order."""
        best: tuple[float, int, t.Callable[[float, Events], None]] | None = None
        order = 0
        steps = itertools.chain((step for job in self.installs.jobs for step in self.installs.steps(job)),
                                self.downloads.standalone_steps())
        for when, action in steps:
            order += 1
            if best is None or (when, order) < best[:2]:
                best = (when, order, action)
        return None if best is None else (best[0], best[2])

    # -- making and cancelling jobs ---------------------------------------------------------------

    def install(self, source: str, config: dict | None = None, *, inplace: bool = False,
                access_token: str | None = None) -> dict:
        """`heuristic_import`: a local path, a HuggingFace repo id or a URL becomes an install job."""
        events: Events = []
        with self.lock:
            job = self.installs.create(source, config or {}, inplace=inplace, access_token=access_token,
                                       events=events)
            rendered = self.installs.render(job)
        self._emit_all(events)
        return rendered

    def cancel_install(self, job_id: int) -> None:
        events: Events = []
        with self.lock:
            self.installs.cancel(job_id, events)
        self._emit_all(events)

    def download(self, source: str, dest: str, priority: int = 10, access_token: str | None = None) -> dict:
        with self.lock:
            when = self.pace.schedule(self.clock.now(), remote=True)
            job = self.downloads.new(source, dest, access_token=access_token, when=when, install_id=None,
                                     resolved=self.catalogue.resolve_url(source), priority=priority)
            return self.downloads.render(job)

    def cancel_download(self, job_id: int) -> None:
        events: Events = []
        with self.lock:
            self._cancel_with_install(self.downloads.get(job_id), events)
        self._emit_all(events)

    def cancel_all_downloads(self) -> None:
        events: Events = []
        with self.lock:
            for job in list(self.downloads.jobs.values()):
                self._cancel_with_install(job, events)
        self._emit_all(events)

    def _cancel_with_install(self, job: dict, events: Events) -> None:
        if job["status"] not in ("waiting", "running"):
            return
        at = self.clock.now()
        self.downloads.cancel(job, at, events)
        install = next((j for j in self.installs.jobs if j["id"] == job["_install"]), None)
        if install is not None and install["status"] not in JOB_DONE:
            # a multi-file download stops as a whole, and its install with it
            for part in self.installs.parts(install):
                if part["status"] in ("waiting", "running"):
                    self.downloads.cancel(part, at, events)
            install["status"] = "cancelled"
            events.append(("model_install_cancelled", self.installs.event(install, at)))
