"""`GET /instances/{instance_id}/logs`: an instance's log, as the chute's log server streams it.

The real API proxies the instance's own log server (`chutes/entrypoint/logger.py` in the chutes
package): a `connected` event, the last `backfill` lines, then new lines as they are written,
each as `data: {"log": "<line>"}` and a blank line, and a bare `.` line while nothing happens.

The mock's instances write a deterministic log on the engine clock: their start-up (image, GPUs,
entrypoint, model, cords, verification) spread over the start-up time, then a line every
`PERIOD` seconds while they run. Advancing the clock writes the lines of the time that passed.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.instances import Instance
from mockserver.packs.chutes.store import ChutesStore

handlers = Handlers()

PERIOD = 30.0  # seconds between a running instance's periodic lines
POLL_SECONDS = 1.0  # how often the stream looks for new lines, as the log server does
LIVE_BURST = 1000  # at most this many lines per poll after a big clock jump (the newest)
MAX_BACKFILL = 10000
NOMINAL_START_UP = 180.0  # spreads the start-up of an instance that never becomes ready


@dataclass(frozen=True)
class InstanceLog:
    """Line `i` of an instance's log and the engine time it is written: the start-up lines
    (`startup`, in time order), then periodic lines every `PERIOD` seconds after `ready_at`."""

    startup: tuple[tuple[float, str], ...]
    ready_at: float | None

    def count_until(self, now: float) -> int:
        """How many lines are written by `now`."""
        written = bisect.bisect_right([when for when, _ in self.startup], now)
        if self.ready_at is not None and now >= self.ready_at:
            written += math.floor((now - self.ready_at) / PERIOD)
        return written

    def line(self, index: int) -> str:
        if index < len(self.startup):
            return self.startup[index][1]
        periodic = index - len(self.startup)
        assert self.ready_at is not None, "only a ready instance writes periodic lines"
        when = self.ready_at + PERIOD * (periodic + 1)
        if periodic % 2:
            return _line(when, "DEBUG", "chutes.entrypoint.run", "validator health check: ok")
        uptime = int(when - self.ready_at)
        return _line(when, "INFO", "chutes.chute.base", f"up {uptime}s, 0 requests in flight")


def instance_log(store: ChutesStore, instance: Instance) -> InstanceLog:
    chute = store.chutes[instance.chute_id]
    start = instance.created_at
    span = (instance.ready_at - start) if instance.ready_at is not None else NOMINAL_START_UP
    steps = [(fraction, text) for fraction, text in _startup_steps(store, chute, instance)
             if fraction < 1.0 or instance.ready_at is not None]
    startup = tuple((start + fraction * span, _line(start + fraction * span, level, source, message))
                    for fraction, (level, source, message) in steps)
    return InstanceLog(startup, instance.ready_at)


def _startup_steps(store: ChutesStore, chute: dict, instance: Instance) -> list[tuple[float, tuple[str, str, str]]]:
    """(fraction of the start-up time, (level, source, message)) for each start-up line."""
    image = store.images[chute["image_id"]]
    owner = store.users[image["user_id"]]["username"]
    vram = store.world["gpus"].get(instance.gpu_model_name, {}).get("vram", "?")
    run = "chutes.entrypoint.run"
    steps: list[tuple[float, tuple[str, str, str]]] = [
        (0.0, ("INFO", run, f"starting instance {instance.instance_id} of chute {chute['name']} "
                            f"({chute['chute_id']}) in {instance.region}")),
        (0.02, ("INFO", run, f"image {owner}/{image['name']}:{image['tag']}, chutes {chute['chutes_version']}, "
                             f"chute version {chute['version']}")),
    ]
    steps += [(0.05 + 0.01 * gpu, ("INFO", run, f"GPU {gpu}: {instance.gpu_model_name}, {vram} GB, verified"))
              for gpu in range(instance.gpu_count)]
    steps.append((0.15, ("INFO", run, f"loading {chute['ref_str']} from {chute['filename']}")))
    template = chute["standard_template"]
    if template == "vllm":
        steps += [(0.25, ("INFO", "vllm.engine", f"initializing engine for {chute['name']} (revision "
                                                 f"{chute['revision']}, tensor_parallel_size={instance.gpu_count})")),
                  (0.6, ("INFO", "vllm.engine", "model weights loaded")),
                  (0.8, ("INFO", "vllm.engine", "KV cache allocated, CUDA graphs captured"))]
    elif template == "diffusion":
        steps += [(0.3, ("INFO", "diffusers", f"loading pipeline {chute['name']}")),
                  (0.7, ("INFO", "diffusers", "pipeline on cuda:0"))]
    for cord in chute["cords"] or []:
        public = f", public {cord.get('public_api_method')} {cord['public_api_path']}" if cord.get("public_api_path") else ""
        steps.append((0.9, ("INFO", "chutes.chute.base",
                            f"cord {cord.get('function')}: {cord.get('method', 'POST')} {cord.get('path')}{public}")))
    steps += [(0.95, ("INFO", run, "waiting for validator verification")),
              (1.0, ("SUCCESS", run, "instance verified, accepting requests on port 8000"))]
    return steps


def _line(when: float, level: str, source: str, message: str) -> str:
    stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{stamp} | {level:<8} | {source} - {message}"


def _event(payload: dict) -> bytes:
    # The log server writes json.dumps' default spacing.
    return f"data: {json.dumps(payload)}\n\n".encode()


async def log_events(store: ChutesStore, instance: Instance, backfill: int) -> t.AsyncIterator[bytes]:
    """The instance's log stream: connected, the backfill, then lines as the engine clock writes
    them, until the instance goes away (scale-down, deletion, reset). The engine also ends it
    when the client disconnects or the server stops."""
    log = instance_log(store, instance)
    yield _event({"event": "connected", "filename": "current"})
    sent = log.count_until(store.clock.now())
    for index in range(max(0, sent - backfill), sent):
        yield _event({"log": log.line(index)})
    while not store.retired:
        await asyncio.sleep(POLL_SECONDS)
        store.settle()
        ended_at = instance.ended_at
        written = log.count_until(store.clock.now() if ended_at is None else ended_at)
        for index in range(max(sent, written - LIVE_BURST), written):
            yield _event({"log": log.line(index)})
        if ended_at is not None:
            return  # what it wrote until it went away, then the connection closes
        if written <= sent:
            yield b".\n\n"
        sent = max(sent, written)


@handlers("stream_logs_instances__instance_id__logs_get")
def stream_logs(request: Request[ChutesStore]) -> Response:
    store = request.state
    store.settle()
    instance = store.instances.get(request.params["instance_id"])
    if instance is None:
        raise ApiError(404, "Instance not found.")
    if not _may_read_logs(store, store.chutes[instance.chute_id], request.principal):
        raise ApiError(403, "You may only view logs for your own (private) chutes.")
    backfill = request.params.get("backfill", 100)
    if not 0 <= backfill <= MAX_BACKFILL:
        raise ApiError(400, f"`backfill` must be between 0 and {MAX_BACKFILL} (lines of logs)")
    return Response(200, media_type="text/event-stream; charset=utf-8",
                    headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
                    stream=log_events(store, instance, backfill))


def _may_read_logs(store: ChutesStore, chute: dict, caller: dict) -> bool:
    """Application logs of private chutes only, for their owner and the users they are shared with."""
    if chute["public"]:
        return False
    return chute["user_id"] == caller["user_id"] or (chute["chute_id"], caller["user_id"]) in store.shares
