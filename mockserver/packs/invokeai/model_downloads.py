"""InvokeAI's download queue (`/api/v1/download_queue`), on the engine clock: standalone downloads,
and the download parts of remote model installs (which `model_jobs.ModelJobs` moves with their
install). A job goes waiting → running → completed (or error, cancelled); ids count from 0, as
upstream's. Facts from invoke-ai/InvokeAI `services/download`.
"""

from __future__ import annotations

import copy
import posixpath
import threading
import typing as t
from datetime import datetime, timezone

from mockserver.engine.clock import Clock
from mockserver.packs.invokeai import model_files
from mockserver.packs.invokeai.model_errors import ModelError

JOB_DONE = ("completed", "error", "cancelled")

Events = list[tuple[str, dict]]  # (socket.io event, payload), emitted once the lock is released
Step = tuple[float, t.Callable[[float, Events], None]]  # (when it is due, what it does)


class ModelDisk(t.Protocol):
    """What downloads need of the model manager: its virtual disk, which they write into, and the
    HuggingFace token that opens gated repositories."""

    files: dict[str, dict]
    hf_token: str | None


def iso_time(when: float) -> str:
    """upstream's `get_iso_timestamp()`: naive UTC `datetime.isoformat()`."""
    return datetime.fromtimestamp(when, tz=timezone.utc).replace(tzinfo=None).isoformat()


def traceback_text(kind: str, message: str, where: str) -> str:
    return ("Traceback (most recent call last):\n"
            f'  File "/opt/invokeai/invokeai/app/services/{where}", in run\n'
            f"{kind}: {message}\n")


class DownloadQueue:
    """The download jobs, by id, and the parts of installs pruned from the queue (an install
    still lists them). Callers hold the manager's lock."""

    def __init__(self, disk: ModelDisk, clock: Clock, lock: threading.RLock) -> None:
        self.disk = disk
        self.clock = clock
        self.lock = lock
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[int, dict] = {}
        self.pruned_parts: dict[int, dict] = {}  # an install's download jobs pruned from the queue
        self.next_id = 0

    def load(self, data: dict) -> None:
        self.jobs = {int(d["id"]): d for d in data.get("downloads", [])}
        self.pruned_parts = {int(d["id"]): d for d in data.get("pruned_parts", [])}
        self.next_id = int(data.get("next_download_id", len(self.jobs)))

    def durable_records(self) -> dict:
        return {"downloads": list(self.jobs.values()), "pruned_parts": list(self.pruned_parts.values()),
                "next_download_id": self.next_id}

    def new(self, url: str, dest: str, *, access_token: str | None, when: dict, install_id: int | None,
            resolved: dict | None, priority: int = 10, into_dir: bool = False) -> dict:
        job = {"id": self.next_id, "dest": dest, "download_path": None, "status": "waiting", "bytes": 0,
               "total_bytes": 0, "error_type": None, "error": None, "source": url, "access_token": access_token,
               "priority": priority, "job_started": None, "job_ended": None, "content_type": None,
               "_start": when["start"], "_end": when["end_download"], "_steps": when["steps"], "_step": 0,
               "_install": install_id, "_resolved": resolved, "_into_dir": into_dir}
        self.next_id += 1
        self.jobs[job["id"]] = job
        return job

    def parts(self, ids: list[int]) -> list[dict]:
        """An install's download jobs; pruning the download queue does not take them from it."""
        return [self.jobs.get(i) or self.pruned_parts[i] for i in ids
                if i in self.jobs or i in self.pruned_parts]

    def live_bytes(self, now: float) -> None:
        """Bytes downloaded so far, in proportion to the time elapsed in the download window."""
        for job in self.jobs.values():
            if job["status"] != "running" or job["_end"] <= job["_start"]:
                continue
            fraction = min(max((now - job["_start"]) / (job["_end"] - job["_start"]), 0.0), 1.0)
            job["bytes"] = max(job["bytes"], int(job["total_bytes"] * fraction))

    # -- standalone downloads, step by step ----------------------------------------------------

    def standalone_steps(self) -> t.Iterator[Step]:
        """The next step of each download that is no install's part, in queue order."""
        for job in self.jobs.values():
            if job["_install"] is None:
                yield from self._download_steps(job)

    def _download_steps(self, job: dict) -> list[Step]:
        if job["status"] == "waiting":
            return [(job["_start"], lambda at, ev: self._begin_standalone(job, at, ev))]
        if job["status"] == "running":
            step = job["_step"] + 1
            at = job["_start"] + (job["_end"] - job["_start"]) * step / job["_steps"]
            return [(at, lambda at, ev: self._step_standalone(job, step, at, ev))]
        return []

    def _begin_standalone(self, job: dict, at: float, events: Events) -> None:
        failure = self.failure(job)
        if failure is not None:
            self.fail(job, failure, at, events)
            return
        self.start(job, at, events)

    def _step_standalone(self, job: dict, step: int, at: float, events: Events) -> None:
        job["_step"] = step
        job["bytes"] = job["total_bytes"] * step // job["_steps"]
        events.append(("download_progress", self.progress_event(job, at)))
        if step >= job["_steps"]:
            self.complete(job, at, events, materialize=True)

    # -- transitions -----------------------------------------------------------------------------

    def _target_path(self, job: dict) -> str:
        """Where a download lands: `dest` itself, or the file's name inside `dest` when `dest` is a
        directory (for an install's parts, the installer decides which)."""
        dest = posixpath.normpath(job["dest"])
        into_dir = job["_into_dir"] if job["_install"] is not None else model_files.is_dir(self.disk.files, dest)
        if not into_dir:
            return dest
        resolved = job["_resolved"] or {}
        return posixpath.join(dest, resolved.get("filename") or posixpath.basename(job["source"].split("?")[0]))

    def failure(self, job: dict) -> tuple[str, str] | None:
        """Why a download fails when it starts, as (error_type, message) — or None."""
        resolved = job["_resolved"]
        if resolved is None:
            return ("HTTPError(Not Found)", "Not Found")
        if resolved.get("gated") and not (job["access_token"] or self.disk.hf_token):
            return ("HTTPError(Unauthorized)", "Unauthorized")
        if job["_install"] is None:
            target = self._target_path(job)
            if target in self.disk.files:
                message = f"[Errno 17] File {target} exists"
                return (f"OSError({message})", message)
        return None

    def start(self, job: dict, at: float, events: Events) -> None:
        resolved = job["_resolved"]
        job["status"] = "running"
        job["job_started"] = iso_time(at)
        job["content_type"] = resolved.get("content_type", "application/octet-stream")
        job["total_bytes"] = resolved["size"]
        job["download_path"] = self._target_path(job)
        events.append(("download_started", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"]}))

    def complete(self, job: dict, at: float, events: Events, *, materialize: bool) -> None:
        job["bytes"] = job["total_bytes"]
        job["status"] = "completed"
        job["job_ended"] = iso_time(at)
        if materialize:
            model_files.place(self.disk.files, job["download_path"], job["total_bytes"],
                              (job["_resolved"] or {}).get("model"))
        events.append(("download_complete", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"],
                                             "total_bytes": job["total_bytes"]}))

    def fail(self, job: dict, failure: tuple[str, str], at: float, events: Events) -> None:
        error_type, message = failure
        job["status"] = "error"
        job["error_type"] = error_type
        job["error"] = traceback_text(error_type.split("(", 1)[0], message, "download/download_default.py")
        job["job_started"] = job["job_started"] or iso_time(at)
        job["job_ended"] = iso_time(at)
        events.append(("download_error", {"timestamp": int(at), "source": job["source"], "error_type": error_type,
                                          "error": job["error"]}))

    def cancel(self, job: dict, at: float, events: Events) -> None:
        job["status"] = "cancelled"
        job["job_ended"] = iso_time(at)
        events.append(("download_cancelled", {"timestamp": int(at), "source": job["source"]}))

    def progress_event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "source": job["source"], "download_path": job["download_path"],
                "current_bytes": job["bytes"], "total_bytes": job["total_bytes"]}

    # -- the API's view ---------------------------------------------------------------------------

    def render(self, job: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}

    def get(self, job_id: int) -> dict:
        job = self.jobs.get(job_id)
        if job is None:
            raise ModelError(404, "Unrecognized job")
        return job

    def download_job(self, job_id: int) -> dict:
        with self.lock:
            return self.render(self.get(job_id))

    def download_jobs(self) -> list[dict]:
        with self.lock:
            return [self.render(job) for job in self.jobs.values()]

    def prune_downloads(self) -> None:
        with self.lock:
            for i, job in self.jobs.items():
                if job["status"] in JOB_DONE and job["_install"] is not None:
                    self.pruned_parts[i] = job
            self.jobs = {i: job for i, job in self.jobs.items() if job["status"] not in JOB_DONE}
