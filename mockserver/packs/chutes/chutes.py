"""The `/chutes` operations: deploy, list, get, update, delete, code, share, warmup, and the views
of the fleet (boosted, affine, utilization, GPU history, rolling updates, miner means)."""

from __future__ import annotations

import ast
import asyncio
import csv
import functools
import io
import re
import typing as t
import uuid

from mockserver.engine.clock import iso
from mockserver.engine.http import Request, Response, json_bytes
from mockserver.engine.issues import ApiError
from mockserver.engine.pack import Handlers
from mockserver.packs.chutes.invocation_window import counts_by_chute
from mockserver.packs.chutes.render import (
    SCHEMA_FIELDS,
    chute_response,
    cord_ref_id,
    cord_summary,
    hourly_usd,
    supported_gpus,
)
from mockserver.packs.chutes.seed import make_chute, version_of
from mockserver.packs.chutes.store import ChutesStore

handlers = Handlers()

NOT_FOUND = "Chute not found, or does not belong to you"
_NAME = re.compile(r"^(?:([a-zA-Z0-9_\.-]+)/)*([a-z0-9][a-z0-9_\.\/-]*)$")
_FILENAME = re.compile(r"^[a-z][a-z0-9_]*\.py$")
_REF_STR = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def _visible_chute(request: Request[ChutesStore], value: str) -> dict:
    store = request.state
    chute = store.get_one(value, request.principal)
    if chute is None or not store.visible(chute, request.principal):
        raise ApiError(404, NOT_FOUND)
    return chute


def _owned_chute(request: Request[ChutesStore], value: str) -> dict:
    chute = request.state.get_one(value, request.principal)
    if chute is None or chute["user_id"] != request.principal["user_id"]:
        raise ApiError(404, NOT_FOUND)
    return chute


# -- sharing ------------------------------------------------------------------------------------

def _share_parties(request: Request[ChutesStore]) -> tuple[dict, dict | None]:
    store = request.state
    caller = request.principal
    wanted = request.body["chute_id_or_name"]
    chute = next((c for c in store.chutes.values() if c["user_id"] == caller["user_id"]
                  and (c["chute_id"] == wanted or c["name"].lower() == wanted.lower())), None)
    if chute is None:
        raise ApiError(404, f"Did not find target chute {wanted}, or it does not belong to you")
    return chute, store.user_by_name_or_id(request.body["user_id_or_name"])


@handlers("share_chute_chutes_share_post")
def share_chute(request: Request[ChutesStore]) -> dict:
    chute, target = _share_parties(request)
    if chute["public"]:
        raise ApiError(400, "Chute is public, no need to share.")
    if target is None:
        raise ApiError(404, "Could not find target user to share with")
    if target["user_id"] == request.principal["user_id"]:
        raise ApiError(400, "Cannot share a chute with yourself")
    store = request.state
    with store.lock:
        store.shares.setdefault((chute["chute_id"], target["user_id"]), request.principal["user_id"])
        store.changed()
    return {"status": f"Successfully shared chute.name='{chute['name']}' with user.username='{target['username']}'"}


@handlers("unshare_chute_chutes_unshare_post")
def unshare_chute(request: Request[ChutesStore]) -> dict:
    chute, target = _share_parties(request)
    if target is None:
        raise ApiError(404, "Could not find target user to share with")
    store = request.state
    with store.lock:
        store.shares.pop((chute["chute_id"], target["user_id"]), None)
        store.changed()
    return {"status": f"Successfully unshared chute.name='{chute['name']}' with "
                      f"user.username='{target['username']}' (if share exists)"}


# -- listing and reading ------------------------------------------------------------------------

@handlers("list_chutes_chutes__get")
def list_chutes(request: Request[ChutesStore]) -> dict:
    store = request.state
    params = request.params
    page, limit, offset = params.get("page", 0), params.get("limit", 25), params.get("offset")
    if page and offset:
        raise ApiError(400, "Cannot specify both page and offset, select <= 1 of these.")
    found = [c for c in store.chutes.values() if _in_scope(store, c, request.principal, params)]
    found.sort(key=lambda c: (-c["invocation_count"], c["created_at"]))
    start = offset if offset else page * limit
    include_schemas = params.get("include_schemas", False)
    items, cord_refs = [], {}
    for chute in found[start:start + limit]:
        item, ref, cords = store.memoized(("list", include_schemas), chute,
                                          functools.partial(_list_entry, store, chute, include_schemas))
        cord_refs[ref] = cords
        items.append(item)
    return {"total": len(found), "page": page, "limit": limit, "items": items, "cord_refs": cord_refs}


def _list_entry(store: ChutesStore, chute: dict, include_schemas: bool) -> tuple[dict, str, list]:
    """A listed chute names its cords by reference; the cords themselves go to `cord_refs`."""
    ref = cord_ref_id(chute["cords"] or [])
    item = {**chute_response(store, chute), "cords": None, "cord_ref_id": ref}
    return item, ref, cord_summary(chute["cords"] or [], include_schemas)


def _in_scope(store: ChutesStore, chute: dict, caller: dict | None, params: dict) -> bool:
    own = caller is not None and chute["user_id"] == caller["user_id"]
    if caller is not None and not params.get("include_public", False):
        if not own:
            return False
    elif not (own or chute["public"] or "affine" in chute["name"].lower()):
        return False
    name = chute["name"].lower()
    if params.get("name") and params["name"].lower() not in name:
        return False
    if params.get("exclude") and params["exclude"].lower() in name:
        return False
    if params.get("slug") and params["slug"].lower() != chute["slug"]:
        return False
    template = params.get("template")
    if template == "other":
        return chute["standard_template"] is None
    if template and chute["standard_template"] != template:
        return False
    image = params.get("image")
    if image and image.lower() not in store.images[chute["image_id"]]["name"].lower():
        return False
    return True


@handlers("get_chute_chutes__chute_id_or_name__get")
def get_chute(request: Request[ChutesStore]) -> dict:
    store = request.state
    chute = _visible_chute(request, request.params["chute_id_or_name"])
    return store.memoized(("get",), chute, lambda: chute_response(store, chute))


@handlers("get_chute_code_chutes_code__chute_id__get")
def get_chute_code(request: Request[ChutesStore]) -> Response:
    chute = _visible_chute(request, request.params["chute_id"])
    return Response.text(chute["code"])


# -- deploying, updating, deleting --------------------------------------------------------------

@handlers("deploy_chute_chutes__post")
def deploy_chute(request: Request[ChutesStore]) -> dict:
    store = request.state
    args, caller = request.body, request.principal
    public = args["public"]
    can_go_public = "public_deploy" in caller.get("permissions", [])
    if public and not can_go_public:
        raise ApiError(400, "Chutes no longer supports public chutes. You can instead deploy the chute as a "
                            "private chute and share it with other users.")
    image = store.image_for(args["image"], caller)
    if image is None:
        raise ApiError(400, "Chute image not found, or does not belong to you")
    if public and not image["public"]:
        raise ApiError(409, "Chute cannot be public when image is not public!")
    version = version_of(image, args["code"])
    with store.lock:
        existing = next((c for c in store.chutes.values() if c["user_id"] == caller["user_id"]
                         and c["name"].lower() == args["name"].lower()), None)
        if existing is not None:
            if existing["version"] == version and existing["public"] == public:
                raise ApiError(409, f"Chute with name={args['name']}, version='{version}' and "
                                    f"public={public} already exists")
            _check_definition(args, store.world["gpus"])
            return chute_response(store, _redeploy(store, existing, args, image, version))
        fee = _deployment_fee(store, caller, args, request.params.get("accept_fee", False))
        _check_definition(args, store.world["gpus"])
        chute = make_chute(store, caller, image, name=args["name"], code=args["code"], public=public,
                           node_selector=_node_selector(args), template=args.get("standard_template"),
                           cords=deployed_cords(args), jobs=args.get("jobs") or [],
                           created_at=store.clock.now(), revision=args.get("revision"), filename=args["filename"],
                           ref_str=args["ref_str"], **_common_fields(args))
        caller["balance"] = round(caller["balance"] - fee, 6)
        store.changed()
    return chute_response(store, chute)


def deployed_cords(args: dict) -> list[dict]:
    """The deploy's cords as the server stores them: an absent input, output or minimal input
    schema is `{}` (the server's default, which the spec states in words)."""
    return [{**{name: {} for name in SCHEMA_FIELDS}, **cord} for cord in args.get("cords") or []]


def _common_fields(args: dict) -> dict:
    """What a deploy sets beyond the code, for a new chute and a rolled-out one alike."""
    return {"tagline": args.get("tagline") or "", "readme": args.get("readme") or "",
            "tool_description": args.get("tool_description"), "logo_id": args.get("logo_id"),
            "concurrency": args.get("concurrency"), "max_instances": args.get("max_instances") or 1,
            "scaling_threshold": args.get("scaling_threshold", 0.75),
            "shutdown_after_seconds": args.get("shutdown_after_seconds") or 300}


def _node_selector(args: dict) -> dict:
    given = args["node_selector"] or {}
    return {"gpu_count": given.get("gpu_count") or 1, "min_vram_gb_per_gpu": given.get("min_vram_gb_per_gpu") or 16,
            "include": given.get("include"), "exclude": given.get("exclude"), "dynamic": given.get("dynamic") or False}


def _check_definition(args: dict, gpus: dict) -> None:
    """The deploy rules that don't depend on state, in the order the real server applies them."""
    if not supported_gpus(_node_selector(args), gpus):
        raise ApiError(400, "No supported GPUs based on node selector!")
    if args.get("standard_template") == "vllm" and not args.get("revision"):
        raise ApiError(400, "Missing required revision parameter for vllm template.")
    if not _NAME.match(args["name"]):
        raise ApiError(400, "Validation failure: Invalid chute name")
    if not _FILENAME.match(args["filename"]):
        raise ApiError(400, "Validation failure: Invalid entrypoint filename")
    if not _REF_STR.match(args["ref_str"]):
        raise ApiError(400, "Validation failure: Invalid reference string")
    try:
        ast.parse(args["code"])
    except (SyntaxError, ValueError):
        raise ApiError(400, "Validation failure: Invalid code") from None
    cords, jobs = args.get("cords") or [], args.get("jobs") or []
    if not cords and not jobs:
        raise ApiError(400, "A chute must define at least one cord() or job() function!")
    if cords and jobs:
        raise ApiError(400, "A chute can have jobs or cords not both.")


def _redeploy(store: ChutesStore, chute: dict, args: dict, image: dict, version: str) -> dict:
    """Same name, same owner, new code: the new version rolls out in place, same chute id."""
    now = store.clock.now()
    store.rolling_updates.append({"chute_id": chute["chute_id"], "old_version": chute["version"],
                                  "new_version": version, "started_at": iso(now).rstrip("Z"), "permitted": {}})
    node_selector = _node_selector(args)
    chute.update(version=version, code=args["code"], image_id=image["image_id"], public=args["public"],
                 node_selector=node_selector, supported_gpus=supported_gpus(node_selector, store.world["gpus"]),
                 cords=deployed_cords(args), jobs=args.get("jobs") or [], updated_at=iso(now),
                 standard_template=args.get("standard_template"), revision=args.get("revision"),
                 filename=args["filename"], ref_str=args["ref_str"], **_common_fields(args))
    store.changed()
    return chute


def _deployment_fee(store: ChutesStore, caller: dict, args: dict, accepted: bool) -> float:
    """The fee a new chute costs this caller (0 for free accounts); 402 unless accepted and covered."""
    if caller.get("free_account"):
        return 0.0
    fee = round(hourly_usd(_node_selector(args), store.world["gpus"]) * store.world["deployment_fee_hours"], 2)
    if not accepted:
        raise ApiError(402, f"DEPLOYMENT FEE NOTICE:\n===\nThere is a deployment fee of ${fee} for this chute, "
                            f"{store.world['deployment_fee_hours']} hours of its node selector's hourly rate. "
                            "To acknowledge and deploy anyway, pass accept_fee=true.")
    if caller["balance"] <= fee:
        raise ApiError(402, f"The deployment fee, based on your node selector, is ${fee}, but you have a "
                            f"balance of {caller['balance']}.\nPlease top up your account with tao @ "
                            f"{store.payment_address(caller)} or via fiat.")
    return fee


@handlers("update_common_attributes_chutes__chute_id_or_name__put")
def update_chute(request: Request[ChutesStore]) -> dict:
    store = request.state
    chute = _owned_chute(request, request.params["chute_id_or_name"])
    body = request.body or {}
    with store.lock:
        for field in ("tagline", "readme", "tool_description"):
            if isinstance(body.get(field), str) and body[field].strip():
                chute[field] = body[field]
        if body.get("logo_id"):
            chute["logo_id"] = body["logo_id"]
        if body.get("disabled") is not None:
            chute["disabled"] = bool(body["disabled"])
            if chute["disabled"] and not chute["public"]:
                store.remove_instances(chute["chute_id"])
                store.bounties.pop(chute["chute_id"], None)
        chute["updated_at"] = iso(store.clock.now())
        store.changed()
    return chute_response(store, chute, with_price=False)


@handlers("delete_chute_chutes__chute_id__delete")
def delete_chute(request: Request[ChutesStore]) -> dict:
    store = request.state
    chute_id = request.params["chute_id"]
    try:
        uuid.UUID(chute_id)
    except ValueError:
        raise ApiError(400, "Must use chute UUID to delete.") from None
    chute = store.chutes.get(chute_id)
    if chute is None or chute["user_id"] != request.principal["user_id"]:
        raise ApiError(404, NOT_FOUND)
    with store.lock:
        del store.chutes[chute_id]
        for key in [k for k in store.shares if k[0] == chute_id]:
            del store.shares[key]
        store.bounties.pop(chute_id, None)
        store.remove_instances(chute_id)
        store.changed()
    return {"chute_id": chute_id, "deleted": True}


@handlers("easy_deploy_vllm_chute_chutes_vllm_post", "easy_deploy_diffusion_chute_chutes_diffusion_post")
def easy_deploy(request: Request[ChutesStore]) -> None:
    raise ApiError(403, "Easy deployment is currently disabled!")


# -- warmup -------------------------------------------------------------------------------------

@handlers("warm_up_chute_chutes_warmup__chute_id_or_name__get")
async def warm_up_chute(request: Request[ChutesStore]) -> Response:
    store = request.state
    chute = _warmup_target(request)
    if chute.get("disabled"):
        raise ApiError(503, "This chute is currently disabled.")
    balance = request.principal.get("balance", 0)
    if balance <= 0 and not request.principal.get("free_account"):
        raise ApiError(402, f"Account balance is ${balance}, please top-up with fiat or send tao to "
                            f"{store.payment_address(request.principal)}")
    store.warm(chute)
    if request.params.get("quick"):
        return Response.json(_warmup_status(store, chute))
    return Response(200, media_type="text/event-stream", headers={"cache-control": "no-cache"},
                    stream=_warmup_events(store, chute))


def _warmup_target(request: Request[ChutesStore]) -> dict:
    store = request.state
    wanted = request.params["chute_id_or_name"]
    caller = request.principal
    matches = [c for c in store.chutes.values() if c["chute_id"] == wanted or c["name"].lower() == wanted.lower()]
    matches.sort(key=lambda c: c["user_id"] != caller["user_id"])
    chute = matches[0] if matches else None
    if chute is None or not store.visible(chute, caller):
        raise ApiError(404, NOT_FOUND)
    return chute


def _warmup_status(store: ChutesStore, chute: dict) -> dict:
    """The `?quick=true` answer: routable instances, the live bounty, every instance record."""
    store.settle()
    chute_id = chute["chute_id"]
    routable = store.instances.hot_for(chute_id)
    return {"chute_id": chute_id, "status": "hot" if routable else "cold", "instance_count": len(routable),
            "bounty": store.bounty_info(chute_id),
            "instances": [i.warmup_entry() for i in store.instances.for_chute(chute_id)]}


async def _warmup_events(store: ChutesStore, chute: dict, limit_seconds: float = 600) -> t.AsyncIterator[bytes]:
    """One event a second until the chute is hot or `limit_seconds` pass. The engine ends the
    stream early when the client goes or the server stops; a reset (the world it watches is gone)
    ends it too."""
    waited = 0.0
    while not store.retired:
        status = _warmup_status(store, chute)
        if status["status"] == "hot":
            log = f"chute is hot, {status['instance_count']} instances available"
            yield b"data: " + json_bytes({"status": "hot", "log": log}) + b"\n\n"
            return
        yield b"data: " + json_bytes({"status": "cold", "log": "waiting for instances ..."}) + b"\n\n"
        if waited >= limit_seconds:
            return
        await asyncio.sleep(1.0)
        waited += 1.0


# -- fleet views --------------------------------------------------------------------------------

@handlers("list_boosted_chutes_chutes_boosted_get")
def list_boosted(request: Request[ChutesStore]) -> list:
    store = request.state
    return [{"chute_id": c["chute_id"], "name": c["name"], "boost": c["boost"],
             "manual_boost": store.manual_boosts.get(c["chute_id"])}
            for c in store.chutes.values()
            if (c["boost"] or 0) > 1 or store.manual_boosts.get(c["chute_id"], 0) > 1]


@handlers("list_available_affine_chutes_chutes_affine_available_get")
def list_affine(request: Request[ChutesStore]) -> list:
    store = request.state
    found = []
    for chute in store.chutes.values():
        owner = store.users[chute["user_id"]]
        if "affine" in chute["name"].lower() and (owner["balance"] > 0 or owner.get("free_account")):
            store.settle()
            found.append({"chute_id": chute["chute_id"], "user_id": owner["user_id"], "name": chute["name"],
                          "hotkey": owner.get("hotkey"),
                          "has_active_instance": any(i.active for i in store.instances.for_chute(chute["chute_id"]))})
    return found


@handlers("list_rolling_updates_chutes_rolling_updates_get")
def list_rolling_updates(request: Request[ChutesStore]) -> list:
    store = request.state
    return [u for u in store.rolling_updates if u["chute_id"] in store.chutes]


@handlers("get_gpu_count_history_chutes_gpu_count_history_get")
def gpu_count_history(request: Request[ChutesStore]) -> list:
    return [{"chute_id": c["chute_id"], "gpu_count": c["node_selector"].get("gpu_count") or 1}
            for c in request.state.chutes.values()]


@handlers("get_chute_utilization_chutes_utilization_get")
def utilization(request: Request[ChutesStore]) -> list:
    store = request.state
    now = store.clock.now()
    rows = []
    store.settle()
    windows = {"5m": 300, "15m": 900, "1h": 3600}
    recent = counts_by_chute(store.invocations, now, windows)  # one pass over the last hour
    for chute in store.chutes.values():
        instances = store.instances.for_chute(chute["chute_id"])
        counted: t.Mapping[str, int] = recent.get(chute["chute_id"], {})
        counts = {window: counted.get(window, 0) for window in windows}
        active = sum(1 for i in instances if i.active)
        busy = round(min(1.0, counts["1h"] / (60.0 * max(active, 1))), 4)
        rows.append({
            "chute_id": chute["chute_id"], "timestamp": iso(now),
            **{f"utilization_{w}": busy for w in ("current", "5m", "15m", "1h")},
            **{f"rate_limit_ratio_{w}": 0.0 for w in counts},
            **{f"total_requests_{w}": float(n) for w, n in counts.items()},
            **{f"completed_requests_{w}": float(n) for w, n in counts.items()},
            **{f"rate_limited_requests_{w}": 0.0 for w in counts},
            "instance_count": len(instances), "action_taken": "no_action",
            "target_count": max(active, 1),
            "name": chute["name"] if chute["public"] else "[private chute]",
            "update_in_progress": any(u["chute_id"] == chute["chute_id"] for u in store.rolling_updates),
            "total_instance_count": len(instances), "active_instance_count": active,
            "scalable": not chute["public"] and active < (chute["max_instances"] or 1), "scale_allowance": 0,
            "avg_busy_ratio": busy, "total_invocations": float(counts["1h"]), "total_rate_limit_errors": 0.0,
        })
    rows.sort(key=lambda r: -r["total_requests_1h"])
    return rows


@handlers("get_chute_miner_mean_index_chutes_miner_means_get")
def miner_means_index(request: Request[ChutesStore]) -> Response:
    store = request.state
    # No auth here, so only what an anonymous caller may see: a private chute stays unnamed.
    vllm = sorted((c for c in store.chutes.values() if c["standard_template"] == "vllm" and store.visible(c, None)),
                  key=lambda c: -c["invocation_count"])
    links = "".join(f'<li><a href="https://api.chutes.ai/chutes/miner_means/{c["chute_id"]}">{c["name"]}</a></li>'
                    for c in vllm)
    return Response.text(f"<html><body><h1>Miner means</h1><ul>{links}</ul></body></html>",
                         media_type="text/html; charset=utf-8")


@handlers("get_chute_miner_means_chutes_miner_means__chute_id___ext__get",
          "get_chute_miner_means_chutes_miner_means__chute_id__get")
def miner_means(request: Request[ChutesStore]) -> Response:
    rows = _miner_means(request.state, request.params["chute_id"])
    ext = request.params.get("ext")
    if ext == "json":
        return Response.json(rows)
    if ext == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["instance_id", "miner_hotkey", "avg_tps", "avg_output_tokens"])
        writer.writerows([r["instance_id"], r["miner_hotkey"], r["avg_tps"], r["avg_output_tokens"]] for r in rows)
        return Response.text(out.getvalue(), media_type="text/csv; charset=utf-8")
    cells = "".join(f"<tr><td>{r['miner_hotkey']}</td><td>{r['instance_id']}</td><td>{r['avg_tps']}</td>"
                    f"<td>{r['avg_output_tokens']}</td></tr>" for r in rows)
    return Response.text(f"<html><body><table><tr><th>miner_hotkey</th><th>instance_id</th><th>avg_tps</th>"
                         f"<th>avg_output_tokens</th></tr>{cells}</table></body></html>",
                         media_type="text/html; charset=utf-8")


def _miner_means(store: ChutesStore, chute_id: str) -> list[dict]:
    chute = store.chutes.get(chute_id)
    if chute is not None and not store.visible(chute, None):
        return []  # a private chute's miners and instances are not for anonymous callers: as unknown
    groups: dict[tuple[str, str], list[dict]] = {}
    for invocation in store.invocations:
        if invocation["chute_id"] == chute_id and invocation["output_tokens"]:
            groups.setdefault((invocation["miner_hotkey"], invocation["instance_id"]), []).append(invocation)
    rows = []
    for (hotkey, instance_id), group in groups.items():
        seconds = sum(i["completed_at"] - i["started_at"] for i in group) or 1.0
        tokens = sum(i["output_tokens"] for i in group)
        rows.append({"miner_hotkey": hotkey, "instance_id": instance_id, "avg_tps": round(tokens / seconds, 3),
                     "avg_output_tokens": round(tokens / len(group), 3)})
    return sorted(rows, key=lambda r: -r["avg_output_tokens"])
