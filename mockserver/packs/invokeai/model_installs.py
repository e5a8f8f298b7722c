"""InvokeAI's model install jobs (`/api/v2/models/install`), on the engine clock; `model_jobs.ModelJobs`
moves them with the download queue they share (`model_downloads.DownloadQueue`).

Status progressions follow upstream's installer (facts from invoke-ai/InvokeAI
`services/model_install`): a remote install goes waiting → downloading (its download parts run in the
shared download queue) → downloads_done → running → completed (or error); a local one goes
waiting → running → completed. Job ids count from 0, as upstream's.
"""

from __future__ import annotations

import copy
import posixpath
import random
import string
import threading
import typing as t

from mockserver.engine.clock import Clock
from mockserver.packs.invokeai import model_files
from mockserver.packs.invokeai.model_configs import RECORD_CHANGE_FIELDS
from mockserver.packs.invokeai.model_downloads import JOB_DONE, DownloadQueue, Events, ModelDisk, Step, traceback_text
from mockserver.packs.invokeai.model_errors import ModelError, _Failure
from mockserver.packs.invokeai.model_sources import _Catalogue, _guess_source, _source_text

# -- timing on the engine clock (seconds) --------------------------------------------------------
# "realtime": a job waits a moment, downloads over DOWNLOAD_SECONDS (bytes in proportion to the
# elapsed time, a progress event every tenth), then probes and registers. "instant": every step is
# due the moment the job is made, so it completes at the next `advance`.
WAIT_SECONDS = 0.2
DOWNLOAD_SECONDS = 3.0
SETTLE_SECONDS = 0.3
REGISTER_SECONDS = 0.5
PROGRESS_STEPS = 10
DOWNLOAD_CHUNK = 100_000  # upstream's DOWNLOAD_CHUNK_SIZE


class JobPace:
    """How fast model jobs run: `realtime` (the timing above) or `instant`."""

    def __init__(self) -> None:
        self.speed = "realtime"

    def schedule(self, now: float, remote: bool) -> dict:
        """When a job made `now` starts, finishes downloading, runs and ends; `steps`: its progress steps."""
        if self.speed == "instant":
            return {"start": now, "end_download": now, "run": now, "end": now, "steps": 1}
        if not remote:
            run = now + WAIT_SECONDS
            return {"start": run, "end_download": run, "run": run, "end": run + REGISTER_SECONDS,
                    "steps": PROGRESS_STEPS}
        start = now + WAIT_SECONDS
        done = start + DOWNLOAD_SECONDS
        run = done + SETTLE_SECONDS
        return {"start": start, "end_download": done, "run": run, "end": run + REGISTER_SECONDS,
                "steps": PROGRESS_STEPS}


class ModelRegistry(ModelDisk, t.Protocol):
    """What install jobs need of the model manager: its records and models directory, beside the
    disk, and how it renders a record and builds one for what an install found."""

    models_dir: str
    records: dict[str, dict]

    def render(self, record: dict, *, cover: bool = True) -> dict: ...

    def build_record(self, info: dict, *, name: str, path: str, size: int, source: str, source_type: str,
                     description: str | None = None, hash_: str | None = None, key: str | None = None,
                     source_api_response: str | None = None, overrides: dict | None = None) -> dict: ...


class InstallJobs:
    """The install jobs, oldest first: made (`create`), moved a step at a time (`steps`), failed,
    cancelled, listed and pruned. Nothing here emits: transitions append their socket.io events to
    the list they are given (`model_jobs.ModelJobs` emits them once the lock is released). A finished
    install registers its model with the manager (`registry`)."""

    def __init__(self, registry: ModelRegistry, downloads: DownloadQueue, pace: JobPace, catalogue: _Catalogue,
                 rng: random.Random, clock: Clock, lock: threading.RLock) -> None:
        self.registry = registry
        self.downloads = downloads
        self.pace = pace
        self.catalogue = catalogue  # the virtual web the remote sources are "downloaded" from
        self.rng = rng  # the temporary folders' names
        self.clock = clock
        self.lock = lock
        self.reset()

    def reset(self) -> None:
        self.jobs: list[dict] = []
        self.next_id = 0

    def load(self, data: dict) -> None:
        self.jobs = list(data.get("installs", []))
        self.next_id = int(data.get("next_install_id", len(self.jobs)))

    def live_bytes(self) -> None:
        """A downloading install's bytes: its parts' so far."""
        for job in self.jobs:
            if job["status"] == "downloading":
                parts = [self.downloads.jobs[i] for i in job["_parts"] if i in self.downloads.jobs]
                job["bytes"] = sum(part["bytes"] for part in parts)

    def create(self, source: str, config: dict, *, inplace: bool, access_token: str | None,
                events: Events) -> dict:
        src = _guess_source(self.registry.files, source)
        if src["type"] == "local":
            src["inplace"] = bool(inplace)
        else:
            src["access_token"] = access_token
        for active in self.jobs:  # one active job per source (sources compare as their text)
            if _source_text(active["source"]) == _source_text(src) and active["status"] not in JOB_DONE:
                return active
        now = self.clock.now()
        failure: _Failure | None = None
        parts: list[dict] = []
        metadata: dict | None = None
        if src["type"] == "local":
            node = self.registry.files.get(src["path"])
            plan = {"kind": "dir" if model_files.is_dir(self.registry.files, src["path"]) else "file",
                    "model": node.get("model") if node else None, "layout": None}
        else:
            try:
                parts, metadata, plan = self.catalogue.remote_plan(src)
            except _Failure as error:
                failure, plan = error, {"kind": "file", "model": None, "layout": None}
            if failure is None and not parts:
                raise ModelError(409, f"{_source_text(src)}: No downloadable files found")
        job: dict[str, t.Any] = {
            "id": self.next_id, "status": "waiting", "error_reason": None,
            "config_in": {field: config.get(field) for field in RECORD_CHANGE_FIELDS}, "config_out": None,
            "inplace": src.get("inplace", False), "source": src, "local_path": src.get("path", ""), "bytes": 0,
            "total_bytes": 0, "source_metadata": metadata, "download_parts": [], "error": None,
            "error_traceback": None,
            "_parts": [], "_plan": plan, "_when": None, "_step": 0,
        }
        self.next_id += 1
        self.jobs.append(job)
        if src["type"] == "local":
            job["_when"] = self.pace.schedule(now, remote=False)
            return job
        job["local_path"] = posixpath.join(self.registry.models_dir, self._tmpdir_name())
        if failure is not None:
            # An unknown repo fails at once (the real server's route lets UnknownMetadataException
            # escape as a 500); the job shows the failure the way every failed install does.
            self._fail_install(job, failure, now, events, where="model_install/model_install_default.py")
            return job
        job["_when"] = when = self.pace.schedule(now, remote=True)
        if src["type"] == "hf" and not src["access_token"] and self.registry.hf_token:
            src["access_token"] = self.registry.hf_token  # upstream adds the stored HuggingFace token
        job["total_bytes"] = sum(p["size"] for p in parts)
        for part in parts:
            into_dir = part["path"] == "."
            dest = job["local_path"] if into_dir else posixpath.join(job["local_path"], part["path"])
            download = self.downloads.new(part["url"], dest, access_token=src.get("access_token"), when=when,
                                          install_id=job["id"], resolved=part["resolved"], into_dir=into_dir)
            job["_parts"].append(download["id"])
        return job

    def _tmpdir_name(self) -> str:
        alphabet = string.ascii_lowercase + string.digits + "_"
        return "tmpinstall_" + "".join(self.rng.choice(alphabet) for _ in range(8))

    # -- install steps ---------------------------------------------------------------------------

    def steps(self, job: dict) -> list[Step]:
        status, when = job["status"], job["_when"]
        if status in JOB_DONE or when is None:
            return []
        remote = bool(job["_parts"])
        if status == "waiting":
            if remote:
                return [(when["start"], lambda at, ev: self._start_parts(job, at, ev))]
            return [(when["run"], lambda at, ev: self._run(job, at, ev))]
        if status == "downloading":
            step = job["_step"] + 1
            at = when["start"] + (when["end_download"] - when["start"]) * step / when["steps"]
            return [(at, lambda at, ev: self._progress_parts(job, step, at, ev))]
        if status == "downloads_done":
            return [(when["run"], lambda at, ev: self._run(job, at, ev))]
        if status == "running":
            return [(when["end"], lambda at, ev: self._register(job, at, ev))]
        return []

    def parts(self, job: dict) -> list[dict]:
        """An install's download jobs (pruning the download queue does not take them from it)."""
        return self.downloads.parts(job["_parts"])

    def _start_parts(self, job: dict, at: float, events: Events) -> None:
        parts = self.parts(job)
        for part in parts:
            failure = self.downloads.failure(part)
            if failure is not None:
                self.downloads.fail(part, failure, at, events)
                for other in parts:
                    if other["status"] in ("waiting", "running"):
                        self.downloads.cancel(other, at, events)
                kind, _, reason = failure[0].partition("(")
                self._fail_install(job, _Failure(kind, reason.rstrip(")")), at, events,
                                   where="download/download_default.py")
                return
        for part in parts:
            self.downloads.start(part, at, events)
        job["status"] = "downloading"
        job["local_path"] = posixpath.join(job["local_path"], job["_plan"]["top"])
        job["bytes"] = 0
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_started", self.progress_event(job, at)))

    def _progress_parts(self, job: dict, step: int, at: float, events: Events) -> None:
        parts = self.parts(job)
        job["_step"] = step
        for part in parts:
            part["_step"] = step
            part["bytes"] = part["total_bytes"] * step // part["_steps"]
            # upstream reports a file's progress per chunk read: small files arrive in one
            if part["total_bytes"] > DOWNLOAD_CHUNK or step >= part["_steps"]:
                events.append(("download_progress", self.downloads.progress_event(part, at)))
        job["bytes"] = sum(p["bytes"] for p in parts)
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_progress", self.progress_event(job, at)))
        if step >= job["_when"]["steps"]:
            for part in parts:
                self.downloads.complete(part, at, events, materialize=False)
            job["status"] = "downloads_done"
            events.append(("model_install_downloads_complete", self.event(job, at)))

    def _run(self, job: dict, at: float, events: Events) -> None:
        size = (model_files.size_of(self.registry.files, job["local_path"]) if job["source"]["type"] == "local"
                else job["_plan"].get("size", 0))
        job["total_bytes"] = job["bytes"] = size
        job["status"] = "running"
        job["config_in"]["source"] = _source_text(job["source"])
        job["config_in"]["source_type"] = {"local": "path", "hf": "hf_repo_id", "url": "url"}[job["source"]["type"]]
        if job["_plan"].get("metadata_api"):
            job["config_in"]["source_api_response"] = job["_plan"]["metadata_api"]
        events.append(("model_install_started", self.event(job, at)))

    def _register(self, job: dict, at: float, events: Events) -> None:
        try:
            record = self._register_model(job)
        except ModelError as refused:  # the client's config does not fit the model's config class
            failure = _Failure("ValidationError", refused.detail)
            self._fail_install(job, failure, at, events, where="model_install/model_install_default.py")
            return
        except _Failure as failure:
            self._fail_install(job, failure, at, events, where="model_install/model_install_default.py")
            return
        record["updated_at"] = at
        self.registry.records[record["config"]["key"]] = record
        job["config_out"] = self.registry.render(record, cover=False)
        job["status"] = "completed"
        events.append(("model_install_complete", {**self.event(job, at), "key": record["config"]["key"],
                                                  "total_bytes": job["total_bytes"]}))

    def _register_model(self, job: dict) -> dict:
        plan, src, config_in = job["_plan"], job["source"], job["config_in"]
        files, models_dir = self.registry.files, self.registry.models_dir
        local_path = job["local_path"]
        info = plan.get("model")
        if not info:
            raise _Failure("InvalidModelConfigException", f"Unable to determine model type for {local_path}")
        basename = posixpath.basename(local_path)
        is_file = plan["kind"] == "file"
        stem, suffix = posixpath.splitext(basename) if is_file else (basename, "")
        name = config_in.get("name") or stem
        merged = {**info, **{k: v for k, v in config_in.items() if v is not None and k in ("base", "type")}}
        if job["inplace"]:
            absolute = local_path
        else:
            filename = (name + suffix) if config_in.get("name") else basename
            absolute = posixpath.join(models_dir, merged["base"], merged["type"], filename)
        relative = absolute[len(models_dir) + 1:] if absolute.startswith(models_dir + "/") else absolute
        if any(r["config"]["path"] == relative for r in self.registry.records.values()):
            if not is_file and not job["inplace"]:
                raise _Failure("DuplicateModelException",
                               f"A model named {basename} is already installed at {absolute}")
            raise _Failure("DuplicateModelException", f"A model with path '{relative}' is already installed")
        if config_in.get("key") and config_in["key"] in self.registry.records:
            raise _Failure("DuplicateModelException", f"A model with key '{config_in['key']}' is already installed")
        size = model_files.size_of(files, local_path) if src["type"] == "local" else plan.get("size", 0)
        record = self.registry.build_record(
            info, name=name, path=relative, size=size, source=_source_text(src), source_type=config_in["source_type"],
            description=config_in.get("description"), hash_=config_in.get("hash"), key=config_in.get("key"),
            source_api_response=config_in.get("source_api_response"), overrides=config_in)
        if not job["inplace"]:
            if src["type"] == "local":
                if is_file:
                    model_files.place(files, absolute, size, info)
                else:
                    prefix = local_path + "/"
                    layout = [(p[len(prefix):], n["size"]) for p, n in files.items()
                              if p.startswith(prefix) and n["kind"] == "file"]
                    model_files.place(files, absolute, 0, info, layout)
            else:
                model_files.place(files, absolute, size, info, None if is_file else plan["layout"])
        return record

    def _fail_install(self, job: dict, failure: _Failure, at: float, events: Events, *, where: str) -> None:
        job["status"] = "error"
        job["error_reason"] = failure.kind
        job["error"] = failure.message
        job["error_traceback"] = traceback_text(failure.kind, failure.message, where)
        events.append(("model_install_error", {**self.event(job, at), "error_type": failure.kind,
                                               "error": failure.message}))

    def cancel(self, job_id: int, events: Events) -> None:
        job = self.get(job_id, status=415)
        # upstream's `job.cancel()` marks the job whatever its status, a finished one included
        # (its model stays installed); only a job still under way has anything to stop.
        if job["status"] not in JOB_DONE:
            at = self.clock.now()
            for part in self.parts(job):
                if part["status"] in ("waiting", "running"):
                    self.downloads.cancel(part, at, events)
            events.append(("model_install_cancelled", self.event(job, at)))
        job["status"] = "cancelled"

    def get(self, job_id: int, *, status: int = 404) -> dict:
        for job in self.jobs:
            if job["id"] == job_id:
                return job
        raise ModelError(status, f"No job with id {job_id} known")

    def install_job(self, job_id: int) -> dict:
        with self.lock:
            return self.render(self.get(job_id))

    def install_jobs(self) -> list[dict]:
        with self.lock:
            return [self.render(job) for job in self.jobs]

    def prune_installs(self) -> None:
        with self.lock:
            self.jobs = [job for job in self.jobs if job["status"] not in JOB_DONE]
            kept = {i for job in self.jobs for i in job["_parts"]}
            self.downloads.pruned_parts = {i: part for i, part in self.downloads.pruned_parts.items() if i in kept}

    def render(self, job: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}
        out["download_parts"] = [self.downloads.render(part) for part in self.parts(job)]
        return out

    def event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "id": job["id"], "source": copy.deepcopy(job["source"])}

    def progress_event(self, job: dict, at: float) -> dict:
        parts = [{"url": p["source"], "local_path": str(p["download_path"]), "bytes": p["bytes"],
                  "total_bytes": p["total_bytes"]} for p in self.parts(job)]
        return {**self.event(job, at), "local_path": job["local_path"], "bytes": job["bytes"],
                "total_bytes": job["total_bytes"], "parts": parts}

