"""InvokeAI's model install jobs and download queue, on the engine clock.

Install and download jobs move on the engine clock: `advance(now)` replays every transition due by `now`,
in order, and emits the socket.io events InvokeAI emits for them. Nothing runs in the background:
a job only moves when somebody calls `advance`, and then it moves exactly as far as the clock says,
so a frozen clock freezes every job and a replayed session gets the same ids, times and events.

Status progressions follow upstream's installer (facts from invoke-ai/InvokeAI
`services/model_install`, `services/download`): a remote install goes waiting → downloading (its
download parts run in the shared download queue) → downloads_done → running → completed (or error);
a local one goes waiting → running → completed. Job ids count from 0 in both queues, as upstream's.
"""

from __future__ import annotations

import copy
import posixpath
import random
import string
import threading
import typing as t
from datetime import datetime, timezone

from mockserver.packs.invokeai import model_files
from mockserver.packs.invokeai.model_configs import RECORD_CHANGE_FIELDS
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

JOB_DONE = ("completed", "error", "cancelled")


def _iso(when: float) -> str:
    """upstream's `get_iso_timestamp()`: naive UTC `datetime.isoformat()`."""
    return datetime.fromtimestamp(when, tz=timezone.utc).replace(tzinfo=None).isoformat()


def _traceback(kind: str, message: str, where: str) -> str:
    return ("Traceback (most recent call last):\n"
            f'  File "/opt/invokeai/invokeai/app/services/{where}", in run\n'
            f"{kind}: {message}\n")


class ModelJobs:
    """The install and download queues of `ModelManager`, mixed into it: jobs are made, moved on the
    engine clock, cancelled, listed and pruned here. They work on the manager's state (`installs`,
    `downloads`, `pruned_parts`, the job ids, `files`, `records`, `speed`, `clock`, `catalogue`,
    `hf_token`, `_lock`, `emit`), and a finished install registers its model through the manager's
    `_build_record` and `render`."""

    # The manager's state these methods work on (set in `ModelManager.__init__` and `load`).
    rng: random.Random
    clock: t.Any
    emit: t.Callable[[str, dict], None]
    speed: str
    _lock: threading.RLock
    _now: float
    moves: int
    catalogue: _Catalogue
    models_dir: str
    records: dict[str, dict]
    installs: list[dict]
    downloads: dict[int, dict]
    pruned_parts: dict[int, dict]
    next_install_id: int
    next_download_id: int
    hf_token: str | None
    files: dict[str, dict]

    def render(self, record: dict, *, cover: bool = True) -> dict:
        raise NotImplementedError  # ModelManager's

    def _build_record(self, info: dict, *, name: str, path: str, size: int, source: str, source_type: str,
                      description: str | None = None, hash_: str | None = None, key: str | None = None,
                      source_api_response: str | None = None, overrides: dict | None = None) -> dict:
        raise NotImplementedError  # ModelManager's

    # -- the clock ------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every job transition due by `now`, oldest first, emitting its events. Idempotent:
        a second call with the same (or an earlier) time changes nothing."""
        events: list[tuple[str, dict]] = []
        with self._lock:
            while True:
                step = self._next_step()
                if step is None or step[0] > now:
                    break
                step[1](step[0], events)
                self.moves += 1
            self._live_bytes(now)
            self._now = max(now, self._now)
        for name, payload in events:
            self.emit(name, payload)

    def _next_step(self) -> tuple[float, t.Callable[[float, list], None]] | None:
        best: tuple[float, int, t.Callable[[float, list], None]] | None = None
        order = 0
        for job in self.installs:
            for when, action in self._install_steps(job):
                order += 1
                if best is None or (when, order) < best[:2]:
                    best = (when, order, action)
        for job in self.downloads.values():
            if job["_install"] is None:
                for when, action in self._download_steps(job):
                    order += 1
                    if best is None or (when, order) < best[:2]:
                        best = (when, order, action)
        return None if best is None else (best[0], best[2])

    def _live_bytes(self, now: float) -> None:
        """Bytes downloaded so far, in proportion to the time elapsed in the download window."""
        for job in self.downloads.values():
            if job["status"] != "running" or job["_end"] <= job["_start"]:
                continue
            fraction = min(max((now - job["_start"]) / (job["_end"] - job["_start"]), 0.0), 1.0)
            job["bytes"] = max(job["bytes"], int(job["total_bytes"] * fraction))
        for job in self.installs:
            if job["status"] == "downloading":
                parts = [self.downloads[i] for i in job["_parts"] if i in self.downloads]
                job["bytes"] = sum(part["bytes"] for part in parts)

    def _schedule(self, now: float, remote: bool) -> dict:
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
    # -- installs ------------------------------------------------------------------------------

    def install(self, source: str, config: dict | None = None, *, inplace: bool = False,
                access_token: str | None = None) -> dict:
        """`heuristic_import`: a local path, a HuggingFace repo id or a URL becomes an install job."""
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self._import(source, config or {}, inplace=inplace, access_token=access_token, events=events)
            rendered = self.render_install(job)
        for name, payload in events:
            self.emit(name, payload)
        return rendered

    def _import(self, source: str, config: dict, *, inplace: bool, access_token: str | None,
                events: list) -> dict:
        src = _guess_source(self.files, source)
        if src["type"] == "local":
            src["inplace"] = bool(inplace)
        else:
            src["access_token"] = access_token
        for active in self.installs:  # one active job per source (sources compare as their text)
            if _source_text(active["source"]) == _source_text(src) and active["status"] not in JOB_DONE:
                return active
        now = self.clock.now()
        failure: _Failure | None = None
        parts: list[dict] = []
        metadata: dict | None = None
        if src["type"] == "local":
            node = self.files.get(src["path"])
            plan = {"kind": "dir" if model_files.is_dir(self.files, src["path"]) else "file",
                    "model": node.get("model") if node else None, "layout": None}
        else:
            try:
                parts, metadata, plan = self.catalogue.remote_plan(src)
            except _Failure as error:
                failure, plan = error, {"kind": "file", "model": None, "layout": None}
            if failure is None and not parts:
                raise ModelError(409, f"{_source_text(src)}: No downloadable files found")
        job: dict[str, t.Any] = {
            "id": self.next_install_id, "status": "waiting", "error_reason": None,
            "config_in": {field: config.get(field) for field in RECORD_CHANGE_FIELDS}, "config_out": None,
            "inplace": src.get("inplace", False), "source": src, "local_path": src.get("path", ""), "bytes": 0,
            "total_bytes": 0, "source_metadata": metadata, "download_parts": [], "error": None,
            "error_traceback": None,
            "_parts": [], "_plan": plan, "_when": None, "_step": 0,
        }
        self.next_install_id += 1
        self.installs.append(job)
        if src["type"] == "local":
            job["_when"] = self._schedule(now, remote=False)
            return job
        job["local_path"] = posixpath.join(self.models_dir, self._tmpdir_name())
        if failure is not None:
            # An unknown repo fails at once (the real server's route lets UnknownMetadataException
            # escape as a 500); the job shows the failure the way every failed install does.
            self._fail_install(job, failure, now, events, where="model_install/model_install_default.py")
            return job
        job["_when"] = when = self._schedule(now, remote=True)
        if src["type"] == "hf" and not src["access_token"] and self.hf_token:
            src["access_token"] = self.hf_token  # upstream adds the stored HuggingFace token
        job["total_bytes"] = sum(p["size"] for p in parts)
        for part in parts:
            into_dir = part["path"] == "."
            dest = job["local_path"] if into_dir else posixpath.join(job["local_path"], part["path"])
            download = self._new_download(part["url"], dest, access_token=src.get("access_token"), when=when,
                                          install_id=job["id"], resolved=part["resolved"], into_dir=into_dir)
            job["_parts"].append(download["id"])
        return job

    def _tmpdir_name(self) -> str:
        alphabet = string.ascii_lowercase + string.digits + "_"
        return "tmpinstall_" + "".join(self.rng.choice(alphabet) for _ in range(8))

    def _new_download(self, url: str, dest: str, *, access_token: str | None, when: dict, install_id: int | None,
                      resolved: dict | None, priority: int = 10, into_dir: bool = False) -> dict:
        job = {"id": self.next_download_id, "dest": dest, "download_path": None, "status": "waiting", "bytes": 0,
               "total_bytes": 0, "error_type": None, "error": None, "source": url, "access_token": access_token,
               "priority": priority, "job_started": None, "job_ended": None, "content_type": None,
               "_start": when["start"], "_end": when["end_download"], "_steps": when["steps"], "_step": 0,
               "_install": install_id, "_resolved": resolved, "_into_dir": into_dir}
        self.next_download_id += 1
        self.downloads[job["id"]] = job
        return job

    # -- install steps ---------------------------------------------------------------------------

    def _install_steps(self, job: dict) -> list[tuple[float, t.Callable[[float, list], None]]]:
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

    def _parts(self, job: dict) -> list[dict]:
        """An install's download jobs; pruning the download queue does not take them from it."""
        return [self.downloads.get(i) or self.pruned_parts[i] for i in job["_parts"]
                if i in self.downloads or i in self.pruned_parts]

    def _start_parts(self, job: dict, at: float, events: list) -> None:
        parts = self._parts(job)
        for part in parts:
            failure = self._download_failure(part)
            if failure is not None:
                self._fail_download(part, failure, at, events)
                for other in parts:
                    if other["status"] in ("waiting", "running"):
                        self._cancel_download(other, at, events)
                kind, _, reason = failure[0].partition("(")
                self._fail_install(job, _Failure(kind, reason.rstrip(")")), at, events,
                                   where="download/download_default.py")
                return
        for part in parts:
            self._start_download(part, at, events)
        job["status"] = "downloading"
        job["local_path"] = posixpath.join(job["local_path"], job["_plan"]["top"])
        job["bytes"] = 0
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_started", self._install_progress_event(job, at)))

    def _progress_parts(self, job: dict, step: int, at: float, events: list) -> None:
        parts = self._parts(job)
        job["_step"] = step
        for part in parts:
            part["_step"] = step
            part["bytes"] = part["total_bytes"] * step // part["_steps"]
            # upstream reports a file's progress per chunk read: small files arrive in one
            if part["total_bytes"] > DOWNLOAD_CHUNK or step >= part["_steps"]:
                events.append(("download_progress", self._download_event(part, at)))
        job["bytes"] = sum(p["bytes"] for p in parts)
        job["total_bytes"] = sum(p["total_bytes"] for p in parts)
        events.append(("model_install_download_progress", self._install_progress_event(job, at)))
        if step >= job["_when"]["steps"]:
            for part in parts:
                self._complete_download(part, at, events, materialize=False)
            job["status"] = "downloads_done"
            events.append(("model_install_downloads_complete", self._install_event(job, at)))

    def _run(self, job: dict, at: float, events: list) -> None:
        size = (model_files.size_of(self.files, job["local_path"]) if job["source"]["type"] == "local"
                else job["_plan"].get("size", 0))
        job["total_bytes"] = job["bytes"] = size
        job["status"] = "running"
        job["config_in"]["source"] = _source_text(job["source"])
        job["config_in"]["source_type"] = {"local": "path", "hf": "hf_repo_id", "url": "url"}[job["source"]["type"]]
        if job["_plan"].get("metadata_api"):
            job["config_in"]["source_api_response"] = job["_plan"]["metadata_api"]
        events.append(("model_install_started", self._install_event(job, at)))

    def _register(self, job: dict, at: float, events: list) -> None:
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
        self.records[record["config"]["key"]] = record
        job["config_out"] = self.render(record, cover=False)
        job["status"] = "completed"
        events.append(("model_install_complete", {**self._install_event(job, at), "key": record["config"]["key"],
                                                  "total_bytes": job["total_bytes"]}))

    def _register_model(self, job: dict) -> dict:
        plan, src, config_in = job["_plan"], job["source"], job["config_in"]
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
            absolute = posixpath.join(self.models_dir, merged["base"], merged["type"], filename)
        relative = absolute[len(self.models_dir) + 1:] if absolute.startswith(self.models_dir + "/") else absolute
        if any(r["config"]["path"] == relative for r in self.records.values()):
            if not is_file and not job["inplace"]:
                raise _Failure("DuplicateModelException",
                               f"A model named {basename} is already installed at {absolute}")
            raise _Failure("DuplicateModelException", f"A model with path '{relative}' is already installed")
        if config_in.get("key") and config_in["key"] in self.records:
            raise _Failure("DuplicateModelException", f"A model with key '{config_in['key']}' is already installed")
        size = model_files.size_of(self.files, local_path) if src["type"] == "local" else plan.get("size", 0)
        record = self._build_record(info, name=name, path=relative, size=size, source=_source_text(src),
                                    source_type=config_in["source_type"], description=config_in.get("description"),
                                    hash_=config_in.get("hash"), key=config_in.get("key"),
                                    source_api_response=config_in.get("source_api_response"), overrides=config_in)
        if not job["inplace"]:
            if src["type"] == "local":
                if is_file:
                    model_files.place(self.files, absolute, size, info)
                else:
                    prefix = local_path + "/"
                    layout = [(p[len(prefix):], n["size"]) for p, n in self.files.items()
                              if p.startswith(prefix) and n["kind"] == "file"]
                    model_files.place(self.files, absolute, 0, info, layout)
            else:
                model_files.place(self.files, absolute, size, info, None if is_file else plan["layout"])
        return record

    def _fail_install(self, job: dict, failure: _Failure, at: float, events: list, *, where: str) -> None:
        job["status"] = "error"
        job["error_reason"] = failure.kind
        job["error"] = failure.message
        job["error_traceback"] = _traceback(failure.kind, failure.message, where)
        events.append(("model_install_error", {**self._install_event(job, at), "error_type": failure.kind,
                                               "error": failure.message}))

    def cancel_install(self, job_id: int) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self._install(job_id, status=415)
            # upstream's `job.cancel()` marks the job whatever its status, a finished one included
            # (its model stays installed); only a job still under way has anything to stop.
            if job["status"] not in JOB_DONE:
                at = self.clock.now()
                for part in self._parts(job):
                    if part["status"] in ("waiting", "running"):
                        self._cancel_download(part, at, events)
                events.append(("model_install_cancelled", self._install_event(job, at)))
            job["status"] = "cancelled"
        for name, payload in events:
            self.emit(name, payload)

    def _install(self, job_id: int, *, status: int = 404) -> dict:
        for job in self.installs:
            if job["id"] == job_id:
                return job
        raise ModelError(status, f"No job with id {job_id} known")

    def install_job(self, job_id: int) -> dict:
        with self._lock:
            return self.render_install(self._install(job_id))

    def install_jobs(self) -> list[dict]:
        with self._lock:
            return [self.render_install(job) for job in self.installs]

    def prune_installs(self) -> None:
        with self._lock:
            self.installs = [job for job in self.installs if job["status"] not in JOB_DONE]
            kept = {i for job in self.installs for i in job["_parts"]}
            self.pruned_parts = {i: part for i, part in self.pruned_parts.items() if i in kept}

    def render_install(self, job: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}
        out["download_parts"] = [self.render_download(part) for part in self._parts(job)]
        return out

    def _install_event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "id": job["id"], "source": copy.deepcopy(job["source"])}

    def _install_progress_event(self, job: dict, at: float) -> dict:
        parts = [{"url": p["source"], "local_path": str(p["download_path"]), "bytes": p["bytes"],
                  "total_bytes": p["total_bytes"]} for p in self._parts(job)]
        return {**self._install_event(job, at), "local_path": job["local_path"], "bytes": job["bytes"],
                "total_bytes": job["total_bytes"], "parts": parts}

    # -- downloads -----------------------------------------------------------------------------

    def download(self, source: str, dest: str, priority: int = 10, access_token: str | None = None) -> dict:
        with self._lock:
            when = self._schedule(self.clock.now(), remote=True)
            job = self._new_download(source, dest, access_token=access_token, when=when, install_id=None,
                                     resolved=self.catalogue.resolve_url(source), priority=priority)
            return self.render_download(job)

    def _download_steps(self, job: dict) -> list[tuple[float, t.Callable[[float, list], None]]]:
        if job["status"] == "waiting":
            return [(job["_start"], lambda at, ev: self._begin_standalone(job, at, ev))]
        if job["status"] == "running":
            step = job["_step"] + 1
            at = job["_start"] + (job["_end"] - job["_start"]) * step / job["_steps"]
            return [(at, lambda at, ev: self._step_standalone(job, step, at, ev))]
        return []

    def _begin_standalone(self, job: dict, at: float, events: list) -> None:
        failure = self._download_failure(job)
        if failure is not None:
            self._fail_download(job, failure, at, events)
            return
        self._start_download(job, at, events)

    def _step_standalone(self, job: dict, step: int, at: float, events: list) -> None:
        job["_step"] = step
        job["bytes"] = job["total_bytes"] * step // job["_steps"]
        events.append(("download_progress", self._download_event(job, at)))
        if step >= job["_steps"]:
            self._complete_download(job, at, events, materialize=True)

    def _target_path(self, job: dict) -> str:
        """Where a download lands: `dest` itself, or the file's name inside `dest` when `dest` is a
        directory (for an install's parts, the installer decides which)."""
        dest = posixpath.normpath(job["dest"])
        into_dir = job["_into_dir"] if job["_install"] is not None else model_files.is_dir(self.files, dest)
        if not into_dir:
            return dest
        resolved = job["_resolved"] or {}
        return posixpath.join(dest, resolved.get("filename") or posixpath.basename(job["source"].split("?")[0]))

    def _download_failure(self, job: dict) -> tuple[str, str] | None:
        """Why a download fails when it starts, as (error_type, message) — or None."""
        resolved = job["_resolved"]
        if resolved is None:
            return ("HTTPError(Not Found)", "Not Found")
        if resolved.get("gated") and not (job["access_token"] or self.hf_token):
            return ("HTTPError(Unauthorized)", "Unauthorized")
        if job["_install"] is None:
            target = self._target_path(job)
            if target in self.files:
                message = f"[Errno 17] File {target} exists"
                return (f"OSError({message})", message)
        return None

    def _start_download(self, job: dict, at: float, events: list) -> None:
        resolved = job["_resolved"]
        job["status"] = "running"
        job["job_started"] = _iso(at)
        job["content_type"] = resolved.get("content_type", "application/octet-stream")
        job["total_bytes"] = resolved["size"]
        job["download_path"] = self._target_path(job)
        events.append(("download_started", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"]}))

    def _complete_download(self, job: dict, at: float, events: list, *, materialize: bool) -> None:
        job["bytes"] = job["total_bytes"]
        job["status"] = "completed"
        job["job_ended"] = _iso(at)
        if materialize:
            model_files.place(self.files, job["download_path"], job["total_bytes"],
                              (job["_resolved"] or {}).get("model"))
        events.append(("download_complete", {"timestamp": int(at), "source": job["source"],
                                             "download_path": job["download_path"],
                                             "total_bytes": job["total_bytes"]}))

    def _fail_download(self, job: dict, failure: tuple[str, str], at: float, events: list) -> None:
        error_type, message = failure
        job["status"] = "error"
        job["error_type"] = error_type
        job["error"] = _traceback(error_type.split("(", 1)[0], message, "download/download_default.py")
        job["job_started"] = job["job_started"] or _iso(at)
        job["job_ended"] = _iso(at)
        events.append(("download_error", {"timestamp": int(at), "source": job["source"], "error_type": error_type,
                                          "error": job["error"]}))

    def _cancel_download(self, job: dict, at: float, events: list) -> None:
        job["status"] = "cancelled"
        job["job_ended"] = _iso(at)
        events.append(("download_cancelled", {"timestamp": int(at), "source": job["source"]}))

    def _download_event(self, job: dict, at: float) -> dict:
        return {"timestamp": int(at), "source": job["source"], "download_path": job["download_path"],
                "current_bytes": job["bytes"], "total_bytes": job["total_bytes"]}

    def render_download(self, job: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in job.items() if not k.startswith("_")}

    def download_job(self, job_id: int) -> dict:
        with self._lock:
            job = self.downloads.get(job_id)
            if job is None:
                raise ModelError(404, "Unrecognized job")
            return self.render_download(job)

    def download_jobs(self) -> list[dict]:
        with self._lock:
            return [self.render_download(job) for job in self.downloads.values()]

    def cancel_download(self, job_id: int) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            job = self.downloads.get(job_id)
            if job is None:
                raise ModelError(404, "Unrecognized job")
            self._cancel_with_install(job, events)
        for name, payload in events:
            self.emit(name, payload)

    def cancel_all_downloads(self) -> None:
        events: list[tuple[str, dict]] = []
        with self._lock:
            for job in list(self.downloads.values()):
                self._cancel_with_install(job, events)
        for name, payload in events:
            self.emit(name, payload)

    def _cancel_with_install(self, job: dict, events: list) -> None:
        if job["status"] not in ("waiting", "running"):
            return
        at = self.clock.now()
        self._cancel_download(job, at, events)
        install = next((j for j in self.installs if j["id"] == job["_install"]), None)
        if install is not None and install["status"] not in JOB_DONE:
            # a multi-file download stops as a whole, and its install with it
            for part in self._parts(install):
                if part["status"] in ("waiting", "running"):
                    self._cancel_download(part, at, events)
            install["status"] = "cancelled"
            events.append(("model_install_cancelled", self._install_event(install, at)))

    def prune_downloads(self) -> None:
        with self._lock:
            for i, job in self.downloads.items():
                if job["status"] in JOB_DONE and job["_install"] is not None:
                    self.pruned_parts[i] = job
            self.downloads = {i: job for i, job in self.downloads.items() if job["status"] not in JOB_DONE}
