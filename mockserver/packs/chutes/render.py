"""How chutes, images and users look on the wire, and what a chute costs to run.

Prices follow the node selector: the cheapest GPU that satisfies it, times the GPU count. The
real server prices from live GPU markets; the mock's table is `fixtures/chutes/world.yaml`.
"""

from __future__ import annotations

import json
import typing as t
import uuid

from mockserver.engine.clock import iso

SCHEMA_FIELDS = ("input_schema", "minimal_input_schema", "output_schema")


def supported_gpus(node_selector: dict, gpus: dict) -> list[str]:
    minimum = node_selector.get("min_vram_gb_per_gpu") or 16
    include = node_selector.get("include")
    exclude = set(node_selector.get("exclude") or [])
    return sorted(name for name, gpu in gpus.items()
                  if gpu["vram"] >= minimum and (not include or name in include) and name not in exclude)


def hourly_usd(node_selector: dict, gpus: dict) -> float:
    names = supported_gpus(node_selector, gpus)
    if not names:
        return 0.0
    return round((node_selector.get("gpu_count") or 1) * min(gpus[n]["usd_per_hour"] for n in names), 6)


def compute_multiplier(node_selector: dict, gpus: dict) -> float:
    # Relative to one A100-hour, the unit the mock's price table is anchored on.
    return round(hourly_usd(node_selector, gpus) / gpus["a100"]["usd_per_hour"], 4)


def estimated_price(chute: dict, world: dict) -> dict:
    hour = hourly_usd(chute["node_selector"], world["gpus"])
    tao = world["tao_usd"]
    price: dict[str, t.Any] = {
        "usd": {"hour": hour, "second": round(hour / 3600, 10)},
        "tao": {"hour": round(hour / tao, 10), "second": round(hour / 3600 / tao, 12)},
    }
    if chute.get("standard_template") == "vllm":
        per_million = round(hour / 20, 6)  # an hour of GPU time ≈ 20M tokens for the mock
        price["per_million_tokens"] = {
            "input": {"usd": per_million, "tao": round(per_million / tao, 10)},
            "output": {"usd": per_million * 4, "tao": round(per_million * 4 / tao, 10)},
        }
    elif chute.get("standard_template") == "diffusion":
        step = round(hour / 3600 / 2, 10)  # two steps a second
        price["per_step"] = {"usd": step, "tao": round(step / tao, 14)}
    return price


def user_response(user: dict) -> dict:
    return {"username": user["username"], "user_id": user["user_id"], "logo_id": None,
            "created_at": user["created_at"], "logo": None}


def image_status(image: dict, now: float) -> str:
    """Where a build is on the clock: queued, building, then built and pushed."""
    if now < image["build_started_at"]:
        return "pending build"
    if now < image["build_completed_at"]:
        return "building"
    return "built and pushed"


def image_response(image: dict, owner: dict, now: float) -> dict:
    started, completed = image["build_started_at"], image["build_completed_at"]
    logo_id = image.get("logo_id")
    return {"image_id": image["image_id"], "name": image["name"], "readme": image.get("readme") or "",
            "tag": image["tag"], "public": image["public"], "status": image_status(image, now),
            "created_at": iso(image["created_at"]), "build_started_at": iso(started) if now >= started else None,
            "build_completed_at": iso(completed) if now >= completed else None, "user": user_response(owner),
            "logo_id": logo_id, "patch_version": image.get("patch_version"),
            # The real ImageResponse joins host and path without the slash.
            "logo": f"https://logos.chutes.ailogos/{logo_id}.webp" if logo_id else None}


def chute_response(store: t.Any, chute: dict, *, with_price: bool = True) -> dict:
    gpus = store.world["gpus"]
    store.settle()
    image = store.images[chute["image_id"]]
    multiplier = compute_multiplier(chute["node_selector"], gpus)
    node_selector = {**chute["node_selector"], "compute_multiplier": multiplier,
                     "supported_gpus": chute["supported_gpus"]}
    instances = [i.summary() for i in store.instances.for_chute(chute["chute_id"])]
    public_chute = chute["public"]
    return {
        "chute_id": chute["chute_id"], "name": chute["name"], "tagline": chute["tagline"],
        "readme": chute["readme"], "public": public_chute, "version": chute["version"],
        "tool_description": chute["tool_description"], "slug": chute["slug"],
        "standard_template": chute["standard_template"], "cords": chute["cords"], "jobs": chute["jobs"],
        "cord_ref_id": None, "created_at": chute["created_at"], "updated_at": chute["updated_at"],
        "image": image_response(image, store.users[image["user_id"]], store.clock.now()),
        "user": user_response(store.users[chute["user_id"]]),
        "supported_gpus": chute["supported_gpus"], "node_selector": node_selector,
        "invocation_count": chute["invocation_count"],
        "current_estimated_price": estimated_price(chute, store.world) if with_price else None,
        "instances": instances, "logo_id": chute["logo_id"], "openrouter": chute.get("openrouter", False),
        "chutes_version": chute["chutes_version"], "revision": chute["revision"],
        "concurrency": chute["concurrency"], "boost": chute["boost"],
        "max_instances": None if public_chute else chute["max_instances"],
        "scaling_threshold": None if public_chute else chute["scaling_threshold"],
        "shutdown_after_seconds": None if public_chute else chute["shutdown_after_seconds"],
        "preemptible": chute.get("preemptible", False),
        "logo": f"https://logos.chutes.ai/logos/{chute['logo_id']}.webp" if chute["logo_id"] else None,
        "hot": any(i["active"] and i["verified"] for i in instances),
        "effective_compute_multiplier": round(multiplier * (chute["boost"] or 1.0), 4),
        "compute_multiplier_factors": {"base": multiplier, "boost": chute["boost"] or 1.0},
        "bounty": store.bounty_amount(chute["chute_id"]),
    }


def cord_ref_id(cords: list) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(cords)))


def cord_summary(cords: list, include_schemas: bool) -> list:
    if include_schemas:
        return cords
    return [{k: v for k, v in cord.items() if k not in SCHEMA_FIELDS} for cord in cords]
