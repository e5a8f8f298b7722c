"""The pack's control operations (`specs/control/chutes.yaml`)."""

from __future__ import annotations

import string
import uuid

from mockserver.engine.http import Request, Response
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes import ss58
from mockserver.packs.chutes.render import compute_multiplier
from mockserver.packs.chutes.store import ApiKey, ChutesStore

handlers = Handlers()


def user_view(store: ChutesStore, user: dict) -> dict:
    keys = [vars(k) for k in store.api_keys.values() if k.user_id == user["user_id"]]
    return {**{k: v for k, v in user.items() if k != "created_at"}, "api_keys": keys}


def _user(store: ChutesStore, value: str) -> dict:
    user = store.user_by_name_or_id(value)
    if user is None:
        raise ApiError(404, f"no user {value!r}")
    return user


def _check_hotkey(store: ChutesStore, hotkey: str | None, user_id: str | None = None) -> None:
    if hotkey is None:
        return
    try:
        ss58.decode(hotkey)
    except ValueError as error:
        raise ApiError(400, f"hotkey {hotkey!r} is not an SS58 address: {error}") from None
    owner = store.user_by_hotkey(hotkey)
    if owner is not None and owner["user_id"] != user_id:
        raise ApiError(409, f"hotkey {hotkey} already belongs to {owner['username']}")


def _new_key(store: ChutesStore, user: dict, admin: bool = True, scopes: list | None = None) -> ApiKey:
    secret = "".join(store.rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    value = f"cpk_{store.rng.getrandbits(128):032x}.{uuid.UUID(user['user_id']).hex}.{secret}"
    key = ApiKey(value, user["user_id"], admin, scopes or [])
    store.api_keys[value] = key
    return key


@handlers("listUsers")
def list_users(request: Request[ChutesStore]) -> list:
    store = request.state
    return [user_view(store, u) for u in store.users.values()]


@handlers("addUser")
def add_user(request: Request[ChutesStore]) -> Response:
    store = request.state
    body = request.body
    if store.user_by_name_or_id(body["username"]) is not None:
        raise ApiError(409, f"username {body['username']!r} is taken")
    _check_hotkey(store, body.get("hotkey"))
    with store.lock:
        user = {"user_id": str(uuid.UUID(int=store.rng.getrandbits(128), version=4)),
                "username": body["username"], "hotkey": body.get("hotkey"), "seed": None,
                "balance": body.get("balance", 100), "free_account": body.get("free_account", False),
                "permissions": body.get("permissions", []), "created_at": "2025-01-01T00:00:00Z"}
        store.users[user["user_id"]] = user
        _new_key(store, user)
        store.changed()
    return Response.json(user_view(store, user), 201)


@handlers("updateUser")
def update_user(request: Request[ChutesStore]) -> dict:
    store = request.state
    user = _user(store, request.params["user"])
    _check_hotkey(store, request.body.get("hotkey"), user["user_id"])
    with store.lock:
        user.update(request.body)
        store.changed()
    return user_view(store, user)


@handlers("addApiKey")
def add_api_key(request: Request[ChutesStore]) -> Response:
    store = request.state
    user = _user(store, request.params["user"])
    with store.lock:
        key = _new_key(store, user, request.body.get("admin", True), request.body.get("scopes"))
        store.changed()
    return Response.json(vars(key), 201)


def _chute(store: ChutesStore, chute_id: str) -> dict:
    chute = store.chutes.get(chute_id)
    if chute is None:
        raise ApiError(404, f"no chute {chute_id!r}")
    return chute


@handlers("addInvocation")
def add_invocation(request: Request[ChutesStore]) -> Response:
    store = request.state
    body = request.body
    chute = _chute(store, body["chute_id"])
    user = _user(store, body["user"])
    started = body.get("started_at", store.clock.now())
    invocation_id = str(uuid.UUID(int=store.rng.getrandbits(128), version=4))
    running = store.instances.for_chute(chute["chute_id"])
    instance = running[0].instance_id if running else str(uuid.UUID(int=0))
    with store.lock:
        store.invocations.append({
            "invocation_id": invocation_id, "parent_invocation_id": invocation_id, "chute_id": chute["chute_id"],
            "chute_user_id": chute["user_id"], "user_id": user["user_id"],
            "function_name": chute["cords"][0]["function"] if chute["cords"] else "run",
            "image_id": chute["image_id"], "image_user_id": store.images[chute["image_id"]]["user_id"],
            "instance_id": instance, "miner_uid": 0, "miner_hotkey": "5MinerMock" + "x" * 38,
            "started_at": started, "completed_at": started + body.get("duration", 1.5),
            "error_message": body.get("error_message"), "compute_multiplier": 1.0, "bounty": 0,
            "usd_amount": 0.0, "input_tokens": body.get("input_tokens", 0),
            "output_tokens": body.get("output_tokens", 0), "steps": 0})
        store.invocations.sort(key=lambda i: i["started_at"])
        store.instance_used(instance, started + body.get("duration", 1.5))  # busy: no scale-down yet
        chute["invocation_count"] += 1
        store.changed()
    return Response.json({"invocation_id": invocation_id}, 201)


@handlers("addJob")
def add_job(request: Request[ChutesStore]) -> Response:
    store = request.state
    body = request.body
    chute = _chute(store, body["chute_id"])
    if not any(job.get("name") == body["method"] for job in chute["jobs"]):
        raise ApiError(404, f"chute {chute['name']!r} has no job named {body['method']!r}")
    user = _user(store, body["user"])
    started = body.get("started_at", store.clock.now())
    job_id = str(uuid.UUID(int=store.rng.getrandbits(128), version=4))
    running = store.instances.for_chute(chute["chute_id"])
    instance = running[0].instance_id if running else None
    finished = body.get("status", "complete") not in ("pending", "running")
    with store.lock:
        store.jobs.append({
            "job_id": job_id, "user_id": user["user_id"], "chute_id": chute["chute_id"],
            "version": chute["version"], "chutes_version": chute["chutes_version"], "method": body["method"],
            "miner_uid": 0 if instance else None, "miner_hotkey": "5MinerMock" + "x" * 38 if instance else None,
            "miner_coldkey": "5ColdMock" + "x" * 39 if instance else None, "instance_id": instance,
            "created_at": started, "updated_at": started + body.get("duration", 600) if finished else started,
            "started_at": started, "finished_at": started + body.get("duration", 600) if finished else None,
            "status": body.get("status", "complete"),
            "compute_multiplier": compute_multiplier(chute["node_selector"], store.world["gpus"]),
            "miner_terminated": False})
        store.changed()
    return Response.json({"job_id": job_id}, 201)


SETTINGS: dict[str, type] = {"warmup_seconds": float, "build_queue_seconds": float, "build_seconds": float,
                             "invocation_quota": int}


@handlers("getSettings")
def get_settings(request: Request[ChutesStore]) -> dict:
    return {name: getattr(request.state, name) for name in SETTINGS}


@handlers("updateSettings")
def update_settings(request: Request[ChutesStore]) -> dict:
    store = request.state
    with store.lock:
        for name in SETTINGS:
            if name in request.body:
                setattr(store, name, SETTINGS[name](request.body[name]))
        store.changed()
    return {name: getattr(store, name) for name in SETTINGS}
