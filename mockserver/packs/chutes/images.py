"""The `/images` operations: list, get, delete, build (multipart upload) and build logs.

A build is planned on the engine clock when the image is created: `pending build` for the pack's
`build_queue_seconds`, then `building` for `build_seconds`, then `built and pushed`. Its log lines
are spread over the building phase, so a client reading the log while it builds gets them as an
event stream, as the real server relays its forge's Redis stream; once built, the whole log is
plain text.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import typing as t
from dataclasses import dataclass

from mockserver.engine.clock import DAY
from mockserver.engine.http import Request, Response, json_bytes
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.render import image_response, image_status
from mockserver.packs.chutes.seed import new_image
from mockserver.packs.chutes.store import ChutesStore, image_id_for

handlers = Handlers()

NOT_FOUND = "Image not found, or does not belong to you"
IMAGE_CHANGES_PER_DAY = 24
MIN_BALANCE = 50.0
STREAM_POLLS = 900  # a stream whose build never ends (a frozen clock) closes after this many idle seconds
_STREAM_ID = re.compile(r"^(\d+)(?:-(\d+))?$")


# -- reading ------------------------------------------------------------------------------------

@handlers("list_images_images__get")
def list_images(request: Request[ChutesStore]) -> dict:
    store = request.state
    params, caller = request.params, request.principal
    page, limit = params.get("page"), params.get("limit")
    name, tag = (params.get("name") or "").strip().lower(), (params.get("tag") or "").strip().lower()
    found = [i for i in store.images.values()
             if (i["user_id"] == caller["user_id"] or (params.get("include_public") and i["public"]))
             and name in i["name"].lower() and tag in i["tag"].lower()]
    found.sort(key=lambda i: -i["created_at"])
    size = limit or 25
    start = (page or 0) * size
    now = store.clock.now()
    return {"total": len(found), "page": page, "limit": limit, "cord_refs": None,
            "items": [image_response(i, store.users[i["user_id"]], now) for i in found[start:start + size]]}


@handlers("get_image_images__image_id_or_name__get")
def get_image(request: Request[ChutesStore]) -> dict:
    store = request.state
    image = store.image_for(request.params["image_id_or_name"], request.principal)
    if image is None:
        raise ApiError(404, NOT_FOUND)
    return image_response(image, store.users[image["user_id"]], store.clock.now())


@handlers("delete_image_images__image_id_or_name__delete")
def delete_image(request: Request[ChutesStore]) -> dict:
    store = request.state
    caller = request.principal
    image = store.image_for(request.params["image_id_or_name"], caller)
    if image is None or image["user_id"] != caller["user_id"]:
        raise ApiError(404, NOT_FOUND)
    image_id = image["image_id"]
    with store.lock:
        if any(c["image_id"] == image_id for c in store.chutes.values()):
            raise ApiError(409, "Image is in use by one or more chutes")
        del store.images[image_id]
        store.image_history.append({"user_id": caller["user_id"], "image_id": image_id, "action": "delete",
                                    "at": store.clock.now()})
        store.changed()
    return {"image_id": image_id, "deleted": True}


# -- building -----------------------------------------------------------------------------------

@handlers("create_image_images__post")
def create_image(request: Request[ChutesStore]) -> Response:
    store = request.state
    form, caller = request.body, request.principal
    if form["username"] != caller["username"]:
        raise ApiError(401, "Cannot make images for users other than yourself!")
    now = store.clock.now()
    with store.lock:
        _check_rate(store, caller, now)
        if "unlimited_dev" not in caller.get("permissions", []) and caller["balance"] < MIN_BALANCE:
            raise ApiError(402, "You must have a balance of >= $50 to create images.")
        name, tag = form["name"], form["tag"]
        image_id = image_id_for(caller["username"], name, tag)
        if image_id in store.images or any(i["user_id"] == caller["user_id"] and i["name"] == name
                                           and i["tag"] == tag for i in store.images.values()):
            raise ApiError(409, f"Image with name={name!r} and tag={tag!r} aready exists")  # sic
        logo_id = form["logo_id"] if form["logo_id"] not in ("", "__none__") else None
        image = new_image(caller, name=name, tag=tag, public=form["public"], readme=form["readme"],
                          logo_id=logo_id, dockerfile=form["dockerfile"], created_at=now,
                          queue_seconds=store.build_queue_seconds, build_seconds=store.build_seconds,
                          chutes_version=store.world.get("chutes_version"))
        store.images[image["image_id"]] = image
        store.image_history.append({"user_id": caller["user_id"], "image_id": image["image_id"],
                                    "action": "create", "at": now})
        store.changed()
    return Response.json(_image_row(image, caller, now), 202)


def _check_rate(store: ChutesStore, caller: dict, now: float) -> None:
    # Only the last day counts, so only the last day is kept: the history stays bounded.
    store.image_history = [h for h in store.image_history if now - h["at"] < DAY]
    recent = sum(1 for h in store.image_history if h["user_id"] == caller["user_id"])
    if recent >= IMAGE_CHANGES_PER_DAY:
        raise ApiError(429, f"You many only update/create {IMAGE_CHANGES_PER_DAY} imagehistorys per 24 hours.")


def _image_row(image: dict, owner: dict, now: float) -> dict:
    """The new database row, as the real server answers a build request (the CLI reads `image_id`)."""
    response = image_response(image, owner, now)
    return {**{k: v for k, v in response.items() if k not in ("user", "logo")},
            "user_id": image["user_id"], "chutes_version": image.get("chutes_version")}


# -- build logs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogEntry:
    at: float  # when the forge wrote it, on the engine clock
    ms: int
    seq: int
    log_type: str | None  # None: the stream's closing DONE
    text: str

    @property
    def next_offset(self) -> str:
        """What the client sends back as `offset` to read on after this entry."""
        return f"{self.ms}-{self.seq + 1}"


def build_log(store: ChutesStore, image: dict) -> list[LogEntry]:
    """The forge's output for this image's Dockerfile, spread over its building phase, then DONE."""
    owner = store.users.get(image["user_id"], {"username": "unknown"})
    lines = _forge_lines(image, owner["username"])
    start, end = image["build_started_at"], image["build_completed_at"]
    entries: list[LogEntry] = []
    for index, (log_type, text) in enumerate([*lines, (None, "DONE")]):
        at = end if log_type is None else start + (end - start) * index / len(lines)
        ms = int(at * 1000)
        seq = entries[-1].seq + 1 if entries and entries[-1].ms == ms else 0
        entries.append(LogEntry(at, ms, seq, log_type, text))
    return entries


def _forge_lines(image: dict, username: str) -> list[tuple[str, str]]:
    steps = [line for line in image["dockerfile"].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reference = f"{username.lower()}/{image['name']}:{image['tag']}"
    lines = [("stdout", f"Building image {reference} ({image['image_id']})")]
    for number, step in enumerate(steps, 1):
        lines.append(("stdout", f"STEP {number}/{len(steps)}: {step.strip()}"))
        if step.lstrip().upper().startswith("RUN") and "pip" in step:
            lines.append(("stderr", "WARNING: Running pip as the 'root' user can result in broken permissions."))
        digest = hashlib.sha256(f"{image['image_id']}:{number}:{step}".encode()).hexdigest()
        lines.append(("stdout", f"--> {digest[:12]}"))
    digest = hashlib.sha256(image["dockerfile"].encode()).hexdigest()
    lines += [("stdout", f"COMMIT {reference}"), ("stdout", f"Successfully tagged {reference}"),
              ("stdout", f"Pushed {reference} sha256:{digest}")]
    return lines


@handlers("stream_build_logs_images__image_id__logs_get")
def stream_build_logs(request: Request[ChutesStore]) -> Response:
    store = request.state
    image_id, caller = request.params["image_id"], request.principal
    image = store.images.get(image_id)
    if image is None or not (image["public"] or (caller is not None and image["user_id"] == caller["user_id"])):
        raise ApiError(404, NOT_FOUND)
    entries = build_log(store, image)
    if image_status(image, store.clock.now()) == "built and pushed":
        text = "".join(f"{e.text}\n" for e in entries if e.log_type is not None)
        return Response.text(text, headers={"content-disposition": f'inline; filename="{image_id}.log"'})
    return Response(200, media_type="text/event-stream",
                    headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
                    stream=_log_events(store, entries, request.params.get("offset")))


async def _log_events(store: ChutesStore, entries: list[LogEntry], offset: str | None) -> t.AsyncIterator[bytes]:
    """Like an XRANGE from `offset` repeated once a second: new lines as `data:` events, `.` while
    none came, `DONE` when the build has finished. An offset that is no stream id ends the stream
    with the error Redis gives."""
    start = _parse_offset(offset)
    if start is None:
        yield b"data: ERROR: Invalid stream ID specified as stream command argument"
        return
    for _ in range(STREAM_POLLS):
        now = store.clock.now()
        fresh = [e for e in entries if (e.ms, e.seq) >= start and e.at <= now]
        if not fresh:
            yield b".\n"
            await asyncio.sleep(1.0)
            continue
        for entry in fresh:
            if entry.log_type is None:
                yield b"DONE\n"
                return
            event = {"log": {"log_type": entry.log_type, "log": entry.text}, "offset": entry.next_offset}
            yield b"data: " + json_bytes(event) + b"\n"
            start = (entry.ms, entry.seq + 1)


def _parse_offset(offset: str | None) -> tuple[int, int] | None:
    if not offset or offset == "-":
        return (0, 0)
    match = _STREAM_ID.match(offset)
    if match is None or any(len(part or "") > 20 for part in match.groups()):
        return None  # Redis stream ids are two 64-bit numbers (and int() refuses thousands of digits)
    ms, seq = int(match.group(1)), int(match.group(2) or 0)
    return (ms, seq) if ms < 2**64 and seq < 2**64 else None
